package main

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/internal/testenv"
	"github.com/shiptrack/shiptrack/internal/testutil"
	"github.com/shiptrack/shiptrack/store/storetest"
	"github.com/shiptrack/shiptrack/webhook"
)

const sysAdminToken = "a-sys-token"

// TestWebhooksSystem runs the service as main wires it (SQLite with the
// in-process queue; PostgreSQL with Redis): an admin subscribes a local
// receiver, a status change through the write API reaches it signed, and
// the delivery shows in the endpoint's list.
func TestWebhooksSystem(t *testing.T) {
	t.Parallel()
	for _, d := range webhookSetups {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			testWebhooksSystem(t, webhookEnv(t, d, nil))
		})
	}
}

// webhookSetups are the two ways the service runs: SQLite with the
// in-process queue, PostgreSQL with the Redis queue.
var webhookSetups = []string{"sqlite", "postgres+redis"}

// webhookEnv is the environment of a service on a new database of setup
// (and a Redis prefix of the test's own) with the write and admin tokens
// and private webhook addresses allowed, plus extra.
func webhookEnv(t *testing.T, setup string, extra map[string]string) map[string]string {
	t.Helper()
	e := map[string]string{
		"SHIPTRACK_WEATHER_PROVIDER":       "off",
		"SHIPTRACK_API_RATE_LIMIT":         "0",
		"SHIPTRACK_API_WRITE_TOKENS":       sysWriteToken,
		"SHIPTRACK_API_ADMIN_TOKENS":       sysAdminToken,
		"SHIPTRACK_WEBHOOKS_ALLOW_PRIVATE": "true",
	}
	if setup == "sqlite" {
		e["SHIPTRACK_DATABASE_URL"] = storetest.URL(t, "sqlite")
	} else {
		e["SHIPTRACK_DATABASE_URL"] = storetest.URL(t, "postgres")
		e["SHIPTRACK_REDIS_URL"] = testenv.Redis(t)
		e["SHIPTRACK_REDIS_PREFIX"] = testutil.RedisPrefix(t, testutil.Redis(t))
	}
	maps.Copy(e, extra)
	return e
}

// sysEndpoint is the answer to POST /webhooks.
type sysEndpoint struct {
	ID     uint64 `json:"id"`
	Secret string `json:"secret"`
}

// subscribe registers url for the statuses (none: all).
func (c sysClient) subscribe(url string, statuses ...string) sysEndpoint {
	c.t.Helper()
	var ep sysEndpoint
	c.want(c.do("POST", "/webhooks", sysAdminToken, map[string]any{"url": url, "statuses": statuses}), 201, &ep)
	return ep
}

// sysDelivery is one row of GET /webhooks/{id}/deliveries.
type sysDelivery struct {
	ID             string  `json:"id"`
	Status         string  `json:"status"`
	State          string  `json:"state"`
	Attempts       int     `json:"attempts"`
	NextAttemptAt  *string `json:"next_attempt_at"`
	FirstAttemptAt *string `json:"first_attempt_at"`
	LastStatusCode int     `json:"last_status_code"`
	LastError      string  `json:"last_error"`
	LastDurationMs int64   `json:"last_duration_ms"`
}

// deliveries lists an endpoint's latest 100 deliveries, newest first.
func (c sysClient) deliveries(ep sysEndpoint) []sysDelivery {
	c.t.Helper()
	var page struct {
		Deliveries []sysDelivery `json:"deliveries"`
	}
	c.want(c.do("GET", "/webhooks/"+jsonID(ep.ID)+"/deliveries?limit=100", sysAdminToken, nil), 200, &page)
	return page.Deliveries
}

// hookBody is what a receiver reads of a delivery.
type hookBody struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Shipment struct {
		TrackingNumber string `json:"tracking_number"`
	} `json:"shipment"`
}

func parseHook(t *testing.T, r testutil.Request) hookBody {
	t.Helper()
	var b hookBody
	if err := json.Unmarshal(r.Body, &b); err != nil || b.ID == "" || b.ID != r.Header.Get(webhook.HeaderDelivery) {
		t.Fatalf("delivery body %s (header id %q): %v", r.Body, r.Header.Get(webhook.HeaderDelivery), err)
	}
	return b
}

func testWebhooksSystem(t *testing.T, e map[string]string) {
	var (
		mu     sync.Mutex
		got    []*http.Request
		bodies [][]byte
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		mu.Unlock()
	}))
	t.Cleanup(rcv.Close)
	base, _ := startService(t, e, nil)
	c := sysClient{t, base}
	a := sysAdminToken

	c.wantProblem(c.do("POST", "/webhooks", sysWriteToken, map[string]any{"url": rcv.URL}), 403)
	c.wantProblem(c.do("POST", "/webhooks", a, map[string]any{"url": base + "/hook"}), 400, "url") // the service itself
	var ep struct {
		ID     uint64 `json:"id"`
		Secret string `json:"secret"`
	}
	c.want(c.do("POST", "/webhooks", a, map[string]any{"url": rcv.URL + "/hook", "statuses": []string{"delivered"}}), 201, &ep)
	if ep.Secret == "" {
		t.Fatal("no secret in the creation's answer")
	}
	day := time.Now().UTC().Truncate(time.Second).Add(time.Minute) // after the seed's import events
	c.want(c.do("POST", "/shipment/DHL/TN12345678/events", sysWriteToken, ev("w1", day, "transit")), 201, nil)
	c.want(c.do("POST", "/shipment/DHL/TN12345678/events", sysWriteToken, ev("w2", day.Add(time.Hour), "delivered")), 201, nil)
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no delivery arrived")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // a second would arrive by now
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1 (the filter takes delivered only)", len(got))
	}
	r, body := got[0], bodies[0]
	if err := webhook.Verify(ep.Secret, r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), time.Minute); err != nil {
		t.Errorf("signature: %v", err)
	}
	if !strings.Contains(string(body), `"status":"delivered"`) || !strings.Contains(string(body), `"tracking_number":"TN12345678"`) {
		t.Errorf("body %s", body)
	}
	var page struct {
		Deliveries []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"deliveries"`
	}
	c.want(c.do("GET", "/webhooks/"+jsonID(ep.ID)+"/deliveries", a, nil), 200, &page)
	if len(page.Deliveries) != 1 || page.Deliveries[0].ID != r.Header.Get(webhook.HeaderDelivery) || page.Deliveries[0].State != "delivered" {
		t.Errorf("deliveries %+v", page.Deliveries)
	}
}

func jsonID(id uint64) string { return strconv.FormatUint(id, 10) }

// TestWebhookPolicyListenAddress: the service's own address is refused,
// also when it listens on every interface, but another host on the same
// port is not.
func TestWebhookPolicyListenAddress(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig()
	cfg.Listen = ":8080"
	ctx := t.Context()
	p := webhookPolicy(cfg, "[::]:8080")
	if err := p.CheckURL(ctx, "https://93.184.215.14:8080/hook", nil); err != nil {
		t.Errorf("another host on the listen port: %v", err)
	}
	cfg.Webhooks.AllowPrivate = true
	p = webhookPolicy(cfg, "[::]:8080")
	for _, u := range []string{"http://127.0.0.1:8080/h", "http://[::1]:8080/h", "http://localhost:8080/h"} {
		if err := p.CheckURL(ctx, u, nil); err == nil {
			t.Errorf("%s: allowed, but it is this service", u)
		}
	}
	if err := p.CheckURL(ctx, "http://127.0.0.1:9090/h", nil); err != nil {
		t.Errorf("another local port with allow_private: %v", err)
	}
}
