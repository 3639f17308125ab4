package jobs

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shiptrack/shiptrack/internal/testutil"
	"github.com/shiptrack/shiptrack/weather/weathertest"
)

// leaksKey reports whether s holds 4 or more leading characters of the
// fake's key, in any case.
func leaksKey(s string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(weathertest.Key[:4]))
}

// TestRefusalKeepsTheKeyOut: a provider refusing the key and echoing it
// altered (upper case, cut short): the public status says only "provider
// refused the key", and neither the log nor the stored last_error holds
// any part of the key (issue 19, item 7).
func TestRefusalKeepsTheKeyOut(t *testing.T) {
	t.Parallel()
	st, _ := seededStore(t, "sqlite")
	srv := weathertest.NewServer(t)
	srv.SetMode(weathertest.EchoKey)
	var logs testutil.SyncBuffer
	r := startRefresher(t, Config{Store: st, Queue: NewMemoryQueue(), Provider: weatherAPI(t, srv), Workers: 1,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	testutil.Eventually(t, 20*time.Second, "refusal noticed", func() bool { return r.Status(context.Background()).Failed > 0 })
	s := r.Status(context.Background())
	if !s.Refusing || s.RefusedReason != "provider refused the key" {
		t.Errorf("status %+v; want refused_reason %q", s, "provider refused the key")
	}
	if leaksKey(logs.String()) {
		t.Errorf("log holds part of the key:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "2006") {
		t.Errorf("log lacks the provider's details:\n%s", logs.String())
	}
	loc, err := st.WeatherOf(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if leaksKey(loc.LastError) {
		t.Errorf("last_error holds part of the key: %s", loc.LastError)
	}
}

// TestRunFailureReasonIsPublic: a tick that fails on a queue that is down
// (Redis refusing connections) or on a closed database shows a short
// reason in the status, not the driver's text with addresses; the log has
// the details (issue 19, item 7).
func TestRunFailureReasonIsPublic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, want string
		setup      func(t *testing.T) Config
	}{
		{"redis down", reasonQueue, func(t *testing.T) Config {
			st, _ := seededStore(t, "sqlite")
			rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
			t.Cleanup(func() { _ = rc.Close() })
			return Config{Store: st, Queue: NewRedisQueue(rc, "shiptrack-test-public-reason", RedisOptions{})}
		}},
		{"database closed", "database error", func(t *testing.T) Config {
			st, _ := seededStore(t, "sqlite")
			_ = st.Close()
			return Config{Store: st, Queue: NewMemoryQueue()}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.setup(t)
			var logs testutil.SyncBuffer
			cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			cfg.Provider = weatherAPI(t, weathertest.NewServer(t))
			r, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.RunOnce(context.Background()); err == nil {
				t.Fatal("RunOnce succeeded")
			}
			if got := r.Status(context.Background()).LastError; got != tc.want {
				t.Errorf("last_error = %q, want %q", got, tc.want)
			}
			if !strings.Contains(logs.String(), "weather refresh run failed") {
				t.Errorf("log lacks the failure:\n%s", logs.String())
			}
		})
	}
}
