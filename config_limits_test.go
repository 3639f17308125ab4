package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/internal/testutil"
)

// TestConfigLimits: the checks across settings at the end of loadConfig,
// each at its edge (issue 19: the interval floor and weather.rate > 0 had
// no test; item 1: write_timeout at most the HTTP drain).
func TestConfigLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string // "" = accepted; else a part of the error (a setting is named as it was given: its variable here)
	}{
		{"interval 59s", map[string]string{"SHIPTRACK_WEATHER_INTERVAL": "59s"}, "SHIPTRACK_WEATHER_INTERVAL: must be at least 1m"},
		{"interval 1m", map[string]string{"SHIPTRACK_WEATHER_INTERVAL": "1m"}, ""},
		{"rate 0", map[string]string{"SHIPTRACK_WEATHER_RATE": "0"}, "SHIPTRACK_WEATHER_RATE: must be above 0"},
		{"rate 0.1", map[string]string{"SHIPTRACK_WEATHER_RATE": "0.1"}, ""},
		{"write timeout past the drain", map[string]string{"SHIPTRACK_HTTP_SHUTDOWN_TIMEOUT": "15s", "SHIPTRACK_HTTP_WRITE_TIMEOUT": "11s"}, "http.write_timeout"},
		{"write timeout 30s with the default shutdown", map[string]string{"SHIPTRACK_HTTP_WRITE_TIMEOUT": "30s"}, "http.write_timeout"},
		{"write timeout equal to the drain", map[string]string{"SHIPTRACK_HTTP_SHUTDOWN_TIMEOUT": "15s", "SHIPTRACK_HTTP_WRITE_TIMEOUT": "10s"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig("", env(tt.env))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

// TestShutdownShares: the drain and the job stop split shutdown_timeout
// without overlap or remainder.
func TestShutdownShares(t *testing.T) {
	t.Parallel()
	for _, total := range []time.Duration{18 * time.Second, 6 * time.Second, time.Second, 7 * time.Nanosecond} {
		var c config
		c.HTTP.ShutdownTimeout = total
		drain, jobs := c.shutdownShares()
		if drain+jobs != total || jobs <= 0 && total >= 3 || drain < 2*jobs {
			t.Errorf("shutdown_timeout %v: drain %v, jobs %v", total, drain, jobs)
		}
	}
}

// TestStartupErrorsHideThePassword: a database or Redis URL that fails at
// start-up is reported without its password (issue 19, item 6).
func TestStartupErrorsHideThePassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		env      map[string]string
		password string
	}{
		{"redis bad escape", map[string]string{"SHIPTRACK_REDIS_URL": "redis://:pa%ZZss@127.0.0.1:6379/0"}, "pa%ZZss"},
		{"redis stray percent", map[string]string{"SHIPTRACK_REDIS_URL": "redis://u:hunter22%@127.0.0.1:6379/0"}, "hunter22"},
		{"postgres password parameter", map[string]string{"SHIPTRACK_DATABASE_URL": "postgres://127.0.0.1:5432/postgres?user=u&password=hunter22secret&sslmode=bogus"}, "hunter22secret"},
		{"postgres stray percent", map[string]string{"SHIPTRACK_DATABASE_URL": "postgres://u:hunter22%@127.0.0.1:5432/postgres"}, "hunter22"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := map[string]string{"SHIPTRACK_DATABASE_URL": "sqlite:" + t.TempDir() + "/x.db", "SHIPTRACK_WEATHER_PROVIDER": "off"}
			for k, v := range tt.env {
				e[k] = v
			}
			var stderr testutil.SyncBuffer
			err := run(t.Context(), []string{"serve"}, env(e), io.Discard, &stderr)
			if err == nil {
				t.Fatal("serve started")
			}
			if out := err.Error() + stderr.String(); strings.Contains(out, tt.password) {
				t.Errorf("start-up error shows the password: %v\n%s", err, stderr.String())
			}
		})
	}
}
