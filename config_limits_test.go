package main

import (
	"strings"
	"testing"
	"time"
)

// TestConfigLimits: the checks across settings at the end of loadConfig,
// each at its edge (issue 19: the interval floor and weather.rate > 0 had
// no test; item 1: write_timeout at most the HTTP drain).
func TestConfigLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string // "" = accepted
	}{
		{"interval 59s", map[string]string{"SHIPTRACK_WEATHER_INTERVAL": "59s"}, "weather.interval"},
		{"interval 1m", map[string]string{"SHIPTRACK_WEATHER_INTERVAL": "1m"}, ""},
		{"rate 0", map[string]string{"SHIPTRACK_WEATHER_RATE": "0"}, "weather.rate"},
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
