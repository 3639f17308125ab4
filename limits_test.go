package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/internal/testenv"
	"github.com/shiptrack/shiptrack/internal/testutil"
	"github.com/shiptrack/shiptrack/store/storetest"
)

// TestLimitsAcrossReplicas runs 3 replicas of serve on one PostgreSQL
// database and one Redis (one key prefix), as behind a load balancer, and
// hammers them round-robin from one client. The lookup limit and the
// failed-token limit hold once for the client, not once per replica. The
// allowances refill one per 1000 s and one per hour, so nothing comes back
// while the test runs: the counts are exact.
func TestLimitsAcrossReplicas(t *testing.T) {
	t.Parallel()
	rc := testutil.Redis(t)
	prefix := testutil.RedisPrefix(t, rc)
	e := map[string]string{
		"SHIPTRACK_DATABASE_URL":          storetest.URL(t, "postgres"),
		"SHIPTRACK_REDIS_URL":             testenv.RedisURL(),
		"SHIPTRACK_REDIS_PREFIX":          prefix,
		"SHIPTRACK_WEATHER_PROVIDER":      "off",
		"SHIPTRACK_LOG_LEVEL":             "error",
		"SHIPTRACK_API_RATE_LIMIT":        "0.001",
		"SHIPTRACK_API_RATE_BURST":        "10",
		"SHIPTRACK_API_TOKENS":            "replica-token",
		"SHIPTRACK_API_TOKEN_FAIL_LIMIT":  "5",
		"SHIPTRACK_API_TOKEN_FAIL_WINDOW": "1h",
		// Far above the default, so that a stall of the busy test machine
		// does not make a replica count alone and spoil the exact counts.
		"SHIPTRACK_API_LIMIT_REDIS_TIMEOUT": "5s",
	}
	var replicas []string
	for range 3 { // one after another: the first seeds the database
		base, _ := startService(t, e, nil)
		replicas = append(replicas, base)
	}

	tests := []struct {
		name, path, token string
		requests          int
		// want is the count of each status over all replicas.
		want map[int]int
	}{
		{"lookups", "/shipment/DHL/TN12345678", "", 60, map[int]int{200: 10, 429: 50}},
		{"failed token attempts", "/shipment/", "guess", 30, map[int]int{401: 5, 429: 25}},
		{"good token after them", "/shipment/", "replica-token", 3, map[int]int{429: 3}},
	}
	for _, tt := range tests {
		if got := hammer(t, replicas, "", tt.path, tt.token, tt.requests); !maps.Equal(got, tt.want) {
			t.Errorf("%s: %d requests round-robin over 3 replicas answered %v, want %v (one limit, not one per replica)",
				tt.name, tt.requests, got, tt.want)
		}
	}
	// Redis answered every decision: no replica fell back to its own count.
	for _, base := range replicas {
		_, _, metrics := limitsGet(t, base+"/metrics", "")
		if !strings.Contains(string(metrics), "shiptrack_rate_limit_fallbacks_total 0") {
			t.Errorf("%s/metrics: want shiptrack_rate_limit_fallbacks_total 0", base)
		}
	}
}

// hammer sends n GETs round-robin over the replicas from one client and
// counts the statuses; every 429 must be problem+json with Retry-After.
// client, when set, is the X-Forwarded-For address (for replicas that
// trust the proxy); otherwise the client is 127.0.0.1.
func hammer(t *testing.T, replicas []string, client, path, token string, n int) map[int]int {
	t.Helper()
	got := map[int]int{}
	for i := range n {
		status, h, body := limitsGetFrom(t, replicas[i%len(replicas)]+path, client, token)
		got[status]++
		if status == http.StatusTooManyRequests {
			var p struct {
				Status int `json:"status"`
			}
			if !strings.HasPrefix(h.Get("Content-Type"), "application/problem+json") || json.Unmarshal(body, &p) != nil || p.Status != 429 {
				t.Errorf("GET %s: 429 is not problem+json: %s %s", path, h.Get("Content-Type"), body)
			}
			if h.Get("Retry-After") == "" {
				t.Errorf("GET %s: 429 without Retry-After", path)
			}
		}
	}
	return got
}

func limitsGet(t *testing.T, u, token string) (int, http.Header, []byte) {
	t.Helper()
	return limitsGetFrom(t, u, "", token)
}

func limitsGetFrom(t *testing.T, u, client, token string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if client != "" {
		req.Header.Set("X-Forwarded-For", client)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// TestFaultRedisDownLimits kills the Redis that 3 replicas count in, then
// freezes it: no lookup becomes a 500 or an error, and each replica falls
// back to its own count (so a client gets at most 3 × the limit, as
// without Redis), logging the switch once. When Redis is back (empty, as
// after a crash without persistence) the replicas share one count again.
// Each phase is a new client (X-Forwarded-For through a trusted proxy), so
// the counts of one phase do not spill into the next.
func TestFaultRedisDownLimits(t *testing.T) {
	t.Parallel()
	rs := startThrowawayRedis(t)
	e := map[string]string{
		"SHIPTRACK_DATABASE_URL":          storetest.URL(t, "postgres"),
		"SHIPTRACK_REDIS_URL":             rs.URL(),
		"SHIPTRACK_REDIS_PREFIX":          "fault-limits",
		"SHIPTRACK_WEATHER_PROVIDER":      "off",
		"SHIPTRACK_API_TRUST_PROXY":       "true",
		"SHIPTRACK_API_RATE_LIMIT":        "0.001",
		"SHIPTRACK_API_RATE_BURST":        "4",
		"SHIPTRACK_API_TOKENS":            "replica-token",
		"SHIPTRACK_API_TOKEN_FAIL_LIMIT":  "3",
		"SHIPTRACK_API_TOKEN_FAIL_WINDOW": "1h",
		// Above the default (250ms) so a stall of the busy test machine
		// does not count as Redis failing; the frozen phase waits it out
		// once per replica.
		"SHIPTRACK_API_LIMIT_REDIS_TIMEOUT": "2s",
	}
	var replicas []string
	logs := make([]*testutil.SyncBuffer, 3)
	for i := range logs {
		logs[i] = &testutil.SyncBuffer{}
		log := slog.New(slog.NewJSONHandler(logs[i], &slog.HandlerOptions{Level: slog.LevelInfo}))
		base, _ := startService(t, e, log)
		replicas = append(replicas, base)
	}
	const lookup = "/shipment/DHL/TN12345678"
	phase := func(name, client, path, token string, n int, want map[int]int) {
		t.Helper()
		start := time.Now()
		got := hammer(t, replicas, client, path, token, n)
		t.Logf("%s: %d requests round-robin in %v: %v", name, n, time.Since(start).Round(time.Millisecond), got)
		if !maps.Equal(got, want) {
			t.Errorf("%s: %d requests round-robin answered %v, want %v (never 500)", name, n, got, want)
		}
	}
	phase("Redis up", "203.0.113.1", lookup, "", 30, map[int]int{200: 4, 429: 26})

	rs.Kill()
	// Each replica counts alone now: 4 lookups each, 3 failed attempts each.
	phase("Redis killed, lookups", "203.0.113.2", lookup, "", 30, map[int]int{200: 12, 429: 18})
	phase("Redis killed, failed token attempts", "203.0.113.2", "/shipment/", "guess", 15, map[int]int{401: 9, 429: 6})
	for i, l := range logs {
		if n := strings.Count(l.String(), "Redis unavailable"); n != 1 {
			t.Errorf("replica %d logged \"Redis unavailable\" %d times, want once:\n%s", i, n, l.String())
		}
		_, _, metrics := limitsGet(t, replicas[i]+"/metrics", "")
		if strings.Contains(string(metrics), "shiptrack_rate_limit_fallbacks_total 0") ||
			!strings.Contains(string(metrics), "shiptrack_rate_limit_fallbacks_total") {
			t.Errorf("replica %d: shiptrack_rate_limit_fallbacks_total not above 0 after Redis died", i)
		}
	}

	rs.Start(t)
	// Each replica probes Redis once a second while it is down.
	for i := range replicas {
		testutil.Eventually(t, 15*time.Second, fmt.Sprintf("replica %d back on Redis", i), func() bool {
			return strings.Contains(logs[i].String(), "Redis answers again")
		})
	}
	phase("Redis restarted", "203.0.113.4", lookup, "", 30, map[int]int{200: 4, 429: 26})

	// Frozen: connections stay open but nothing answers; the first decision
	// on each replica waits api.limit_redis_timeout, then the replica
	// counts alone without waiting while it probes Redis in the background.
	_ = rs.proc.cmd.Process.Signal(syscall.SIGSTOP)
	phase("Redis frozen", "203.0.113.5", lookup, "", 30, map[int]int{200: 12, 429: 18})
	_ = rs.proc.cmd.Process.Signal(syscall.SIGCONT)
}
