package api_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/redis/go-redis/v9"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/api/redislimit"
	"github.com/shiptrack/shiptrack/internal/testutil"
)

// limitTestOptions waits for a live Redis far longer than the default, so
// a stall of the busy test machine does not make a replica count alone and
// spoil an exact count.
var limitTestOptions = redislimit.Options{Timeout: 5 * time.Second}

// limitsUnderTest are the two places counts live: this process, and Redis
// (a new prefix per call).
func limitsUnderTest(t *testing.T) map[string]func(t *testing.T) api.Limits {
	t.Helper()
	return map[string]func(t *testing.T) api.Limits{
		"memory": func(*testing.T) api.Limits { return api.MemoryLimits{} },
		"redis": func(t *testing.T) api.Limits {
			rc := testutil.Redis(t)
			return redislimit.New(rc, testutil.RedisPrefix(t, rc), limitTestOptions)
		},
	}
}

// TestLimiter is the behaviour both stores share. Every is an hour, so no
// allowance comes back while the test runs.
func TestLimiter(t *testing.T) {
	t.Parallel()
	const every = time.Hour
	for name, mk := range limitsUnderTest(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			lim := mk(t).Limiter("test", api.Limit{Every: every, Burst: 3})
			for range 10 {
				if ex, _ := lim.Exhausted(ctx, "a"); ex {
					t.Fatal("a new client is exhausted")
				}
			}
			var allowed int
			var wait time.Duration
			for range 5 {
				ok, w := lim.Allow(ctx, "a")
				if ok {
					allowed++
				} else {
					wait = w
				}
			}
			if allowed != 3 {
				t.Errorf("allowed %d of 5, want the burst of 3 (asking if exhausted must spend nothing)", allowed)
			}
			if wait <= 0 || wait > every {
				t.Errorf("retry after %v when denied, want in (0, %v]", wait, every)
			}
			ex, w := lim.Exhausted(ctx, "a")
			if !ex || w <= 0 || w > every {
				t.Errorf("Exhausted after the burst = %v, %v; want true, in (0, %v]", ex, w, every)
			}
			if ok, _ := lim.Allow(ctx, "b"); !ok {
				t.Error("another client shares the first one's allowance")
			}
			if ok, _ := mk(t).Limiter("other", api.Limit{Every: every, Burst: 1}).Allow(ctx, "a"); !ok {
				t.Error("another kind of event shares the allowance")
			}
		})
	}
}

// TestRedisLimitsShared: three replicas, each with its own client, on one
// Redis and prefix, asked round-robin by one client: one burst in all, not
// three. With MemoryLimits (per process, as before Redis counted) the same
// loop allows 3 × 5.
func TestRedisLimitsShared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	prefix := testutil.RedisPrefix(t, testutil.Redis(t))
	var replicas []api.RateLimiter
	for range 3 {
		replicas = append(replicas, redislimit.New(testutil.Redis(t), prefix, limitTestOptions).
			Limiter("lookups", api.Limit{Every: time.Hour, Burst: 5}))
	}
	allowed := 0
	for i := range 30 {
		if ok, _ := replicas[i%3].Allow(ctx, "203.0.113.7"); ok {
			allowed++
		}
	}
	if allowed != 5 {
		t.Errorf("3 replicas allowed %d of 30, want 5 (one burst)", allowed)
	}
	// The counts sit under the configured prefix, and nowhere else.
	rc := testutil.Redis(t)
	if keys, _ := testutil.RedisKeys(ctx, rc, prefix+":*"); len(keys) != 1 || keys[0] != prefix+":ratelimit:lookups:203.0.113.7" {
		t.Errorf("keys under the prefix: %v, want [%s:ratelimit:lookups:203.0.113.7]", keys, prefix)
	}
	if keys, _ := testutil.RedisKeys(ctx, rc, "rate:"+prefix+"*"); len(keys) != 0 {
		t.Errorf("keys outside the prefix: %v", keys)
	}
	// Another prefix (another deployment, another test) counts apart.
	other := redislimit.New(rc, testutil.RedisPrefix(t, rc), limitTestOptions).
		Limiter("lookups", api.Limit{Every: time.Hour, Burst: 5})
	if ok, _ := other.Allow(ctx, "203.0.113.7"); !ok {
		t.Error("another prefix shares the allowance")
	}
}

// deadRedis is a client for a port where nothing listens.
func deadRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 250 * time.Millisecond})
	t.Cleanup(func() { _ = rc.Close() })
	return rc, addr
}

// TestRedisLimitsDown: with Redis unreachable, lookups are neither refused
// nor 500: each replica falls back to its own limit, logs the switch once
// and counts every fallback; when Redis comes up, counts are shared again.
func TestRedisLimitsDown(t *testing.T) {
	t.Parallel()
	rc, addr := deadRedis(t)
	var logs testutil.SyncBuffer
	reg := metrics.NewSet()
	prefix := "shiptrack-test:" + rand.Text() // a throwaway Redis: nothing to clean
	limits := redislimit.New(rc, prefix, redislimit.Options{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Metrics: reg, RetryAfter: 10 * time.Millisecond,
		Timeout: limitTestOptions.Timeout,
	})
	srv := httptest.NewServer(api.New(api.Config{Shipments: oneShipment(nil), RateLimit: 0.001, RateBurst: 3, Limits: limits}))
	defer srv.Close()
	var got []int
	for range 5 {
		got = append(got, do(t, "GET", srv.URL+"/shipment/DHL/TN1", "", "").status)
	}
	if fmt.Sprint(got) != "[200 200 200 429 429]" {
		t.Errorf("statuses with Redis down %v, want the local limit: [200 200 200 429 429]", got)
	}
	if n := strings.Count(logs.String(), "Redis unavailable"); n != 1 {
		t.Errorf("%d \"Redis unavailable\" log lines, want 1:\n%s", n, logs.String())
	}
	for _, m := range []string{"shiptrack_rate_limit_fallbacks_total", "shiptrack_rate_limit_redis_errors_total"} {
		if v := counterValue(t, reg, m); v < 1 {
			t.Errorf("%s = %v after Redis failed, want at least 1", m, v)
		}
	}

	// Redis comes up on that address: the limiter's background probe
	// finds it, with no request needed, and says so.
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skipf("redis-server not on PATH: %v", err)
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lim := limits.Limiter("lookups", api.Limit{Every: time.Hour, Burst: 2})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "Redis answers again") {
		if time.Now().After(deadline) {
			t.Fatalf("limiter did not go back to Redis:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Shared again: a second replica on the same Redis and prefix sees
	// the first's spending.
	rc2 := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rc2.Close() })
	second := redislimit.New(rc2, prefix, limitTestOptions).Limiter("lookups", api.Limit{Every: time.Hour, Burst: 2})
	ctx := context.Background()
	a, _ := lim.Allow(ctx, "203.0.113.8")
	b, _ := lim.Allow(ctx, "203.0.113.8")
	c, _ := second.Allow(ctx, "203.0.113.8")
	if !a || !b || c {
		t.Errorf("after Redis came back: first replica %v %v, second %v; want true true false (one shared burst of 2)", a, b, c)
	}
}

func counterValue(t *testing.T, set *metrics.Set, name string) float64 {
	t.Helper()
	var b strings.Builder
	set.WritePrometheus(&b)
	for line := range strings.Lines(b.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestTokenFailureLimit: every 401 counts against the client; past the
// limit it gets 429 problem+json with Retry-After, even with a good token,
// while other clients and good tokens before that are unaffected.
func TestTokenFailureLimit(t *testing.T) {
	t.Parallel()
	for name, mk := range limitsUnderTest(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(api.New(api.Config{
				Shipments: oneShipment(nil), Tokens: []string{"good-token"}, TrustProxy: true,
				TokenFailLimit: 3, TokenFailWindow: time.Hour, Limits: mk(t),
			}))
			defer srv.Close()
			list := func(client, token, path string) response {
				t.Helper()
				req, _ := http.NewRequest("GET", srv.URL+path, nil)
				req.Header.Set("X-Forwarded-For", client)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				return doReq(t, req)
			}
			steps := []struct {
				client, token, path string
				status              int
			}{
				{"203.0.113.1", "wrong-1", "/shipment/", 401},
				{"203.0.113.1", "", "/shipment/", 401},
				{"203.0.113.1", "good-token", "/shipment/", 200}, // a success spends nothing
				{"203.0.113.1", "good-token", "/shipment/", 200},
				{"203.0.113.1", "wrong-3", "/shipment", 401}, // both list routes share one count
				{"203.0.113.1", "wrong-4", "/shipment/", 429},
				{"203.0.113.1", "good-token", "/shipment/", 429}, // even a good token now
				{"203.0.113.1", "good-token", "/shipment", 429},
				{"203.0.113.2", "good-token", "/shipment/", 200}, // another client
				{"203.0.113.2", "wrong", "/shipment/", 401},
			}
			for i, st := range steps {
				r := list(st.client, st.token, st.path)
				if r.status != st.status {
					t.Fatalf("step %d (%s %q %s): status %d, want %d: %s", i, st.client, st.token, st.path, r.status, st.status, r.body)
				}
				if st.status == 429 {
					assertProblem(t, r, 429)
					if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
						t.Errorf("step %d: 429 with Retry-After %q", i, ra)
					}
				}
			}
			// Lookups stay public and are not touched by the token count.
			if r := do(t, "GET", srv.URL+"/shipment/DHL/TN1", "", ""); r.status != 200 {
				t.Errorf("lookup after the token limit = %d", r.status)
			}
		})
	}
}

func doReq(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}
