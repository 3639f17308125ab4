package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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
	rc := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { _ = rc.Close() })
	prefix := "shiptrack-test-limits:" + rand.Text() // base32: no glob characters
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys, err := rc.Keys(ctx, prefix+":*").Result()
		if err != nil {
			t.Errorf("list test keys: %v", err)
		}
		if len(keys) > 0 {
			rc.Del(ctx, keys...)
		}
	})
	e := map[string]string{
		"SHIPTRACK_DATABASE_URL":          storetest.URL(t, "postgres"),
		"SHIPTRACK_REDIS_URL":             "redis://127.0.0.1:6379/0",
		"SHIPTRACK_REDIS_PREFIX":          prefix,
		"SHIPTRACK_WEATHER_PROVIDER":      "off",
		"SHIPTRACK_LOG_LEVEL":             "error",
		"SHIPTRACK_API_RATE_LIMIT":        "0.001",
		"SHIPTRACK_API_RATE_BURST":        "10",
		"SHIPTRACK_API_TOKENS":            "replica-token",
		"SHIPTRACK_API_TOKEN_FAIL_LIMIT":  "5",
		"SHIPTRACK_API_TOKEN_FAIL_WINDOW": "1h",
	}
	var replicas []string
	for range 3 { // one after another: the first seeds the database
		replicas = append(replicas, startServe(t, maps.Clone(e)))
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
		got := map[int]int{}
		for i := range tt.requests {
			status, h, body := limitsGet(t, replicas[i%len(replicas)]+tt.path, tt.token)
			got[status]++
			if status == http.StatusTooManyRequests {
				var p struct {
					Status int `json:"status"`
				}
				if !strings.HasPrefix(h.Get("Content-Type"), "application/problem+json") || json.Unmarshal(body, &p) != nil || p.Status != 429 {
					t.Errorf("%s: 429 is not problem+json: %s %s", tt.name, h.Get("Content-Type"), body)
				}
				if h.Get("Retry-After") == "" {
					t.Errorf("%s: 429 without Retry-After", tt.name)
				}
			}
		}
		if !maps.Equal(got, tt.want) {
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

func limitsGet(t *testing.T, u, token string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
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
