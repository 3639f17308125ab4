package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/api"
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
type sysDelivery = api.DeliveryJSON

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

// TestWebhookReceiverFailures runs the service as main wires it (both
// setups) against receivers that hang, close the connection mid-reply,
// answer 429 with Retry-After, redirect to another host, or answer 410 or
// 400, beside a healthy one, every endpoint subscribed to the same status
// changes. Each outcome shows in GET /webhooks/{id}/deliveries (state,
// status code, error, next attempt) and in what the receiver saw; the
// hung endpoint holds at most its share of the workers, so the healthy
// one's deliveries are not held up behind it.
func TestWebhookReceiverFailures(t *testing.T) {
	t.Parallel()
	for _, setup := range webhookSetups {
		t.Run(setup, func(t *testing.T) {
			t.Parallel()
			testWebhookReceiverFailures(t, setup)
		})
	}
}

func testWebhookReceiverFailures(t *testing.T, setup string) {
	// Long enough that a hung endpoint holding every worker would show.
	const timeout = 5 * time.Second
	e := webhookEnv(t, setup, map[string]string{"SHIPTRACK_WEBHOOKS_TIMEOUT": timeout.String()})
	elsewhere := testutil.NewReceiver(t, nil)
	answer := func(code int, header ...string) func(int, http.ResponseWriter, *http.Request) {
		return func(_ int, w http.ResponseWriter, _ *http.Request) {
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], header[i+1])
			}
			w.WriteHeader(code)
		}
	}
	type receiver struct {
		name string
		rcv  *testutil.Receiver
		ep   sysEndpoint
		// check is the recorded delivery's expected outcome.
		check func(d sysDelivery) bool
	}
	// next is the wait from the first attempt to the next one.
	next := func(d sysDelivery) time.Duration {
		if d.NextAttemptAt == nil || d.FirstAttemptAt == nil {
			return -1
		}
		n, err1 := time.Parse(time.RFC3339, *d.NextAttemptAt)
		f, err2 := time.Parse(time.RFC3339, *d.FirstAttemptAt)
		if err1 != nil || err2 != nil {
			return -1
		}
		return n.Sub(f)
	}
	// The first retry of the default schedule: 30 s, jittered by a
	// quarter, the times in whole seconds, counted from the attempt's end
	// (a hung attempt's ends at the timeout).
	retried := func(d sysDelivery) bool {
		took := time.Duration(d.LastDurationMs) * time.Millisecond
		return next(d) >= 22*time.Second && next(d) <= 39*time.Second+took
	}
	failed := func(d sysDelivery) bool { return d.State == "failed" && d.NextAttemptAt == nil }
	rs := []*receiver{
		{name: "hung", rcv: testutil.NewReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }),
			check: func(d sysDelivery) bool {
				return d.State == "pending" && d.LastStatusCode == 0 && strings.Contains(d.LastError, "Timeout") &&
					d.LastDurationMs >= timeout.Milliseconds()-100 && retried(d)
			}},
		{name: "closes mid-reply", rcv: testutil.NewReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = buf.WriteString("HTTP/1.1 200 O")
			_ = buf.Flush()
			_ = conn.Close()
		}), check: func(d sysDelivery) bool {
			return d.State == "pending" && d.LastStatusCode == 0 && strings.Contains(d.LastError, "EOF") && retried(d)
		}},
		{name: "429", rcv: testutil.NewReceiver(t, answer(http.StatusTooManyRequests, "Retry-After", "120")),
			check: func(d sysDelivery) bool {
				// From the answer, rounded up to the second: up to 2 s
				// past the first attempt's truncated start.
				return d.State == "pending" && d.LastStatusCode == 429 && next(d) >= 120*time.Second && next(d) <= 122*time.Second
			}},
		{name: "redirect", rcv: testutil.NewReceiver(t, answer(http.StatusFound,
			"Location", strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1)+"/moved")),
			check: func(d sysDelivery) bool { return failed(d) && strings.Contains(d.LastError, "redirect") }},
		{name: "410", rcv: testutil.NewReceiver(t, answer(http.StatusGone)),
			check: func(d sysDelivery) bool {
				return failed(d) && d.LastStatusCode == 410 && strings.Contains(d.LastError, "410")
			}},
		{name: "400", rcv: testutil.NewReceiver(t, answer(http.StatusBadRequest)),
			check: func(d sysDelivery) bool { return failed(d) && d.LastStatusCode == 400 }},
		{name: "healthy", rcv: testutil.NewReceiver(t, nil),
			check: func(d sysDelivery) bool {
				return d.State == "delivered" && d.LastStatusCode == 200 && d.NextAttemptAt == nil
			}},
	}
	base, _ := startService(t, e, nil)
	c := sysClient{t, base}
	for _, r := range rs {
		r.ep = c.subscribe(r.rcv.URL)
	}
	tns := make([]string, 6)
	for i := range tns {
		tns[i] = fmt.Sprintf("TNFAIL%04d", i)
		c.want(c.do("PUT", "/shipment/DHL/"+tns[i], sysWriteToken, putBody("Street 3, 80331 Munich, Germany")), 201, nil)
	}
	day := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	var batch []any
	for _, tn := range tns {
		batch = append(batch, batchItem("DHL", tn, ev(tn+"-1", day, "inbound-scan")))
	}
	c.want(c.do("POST", "/events", sysWriteToken, batch), 201, nil)
	written := time.Now()

	healthy := rs[len(rs)-1].rcv
	testutil.Eventually(t, 15*time.Second, "the healthy endpoint's deliveries", func() bool { return len(healthy.Requests()) == len(tns) })
	// The hung endpoint's six deliveries hold its share (half of the 4
	// workers) for the timeout each; had they every worker, the healthy
	// endpoint's last ones would wait for the first hung attempts to time
	// out.
	h := healthy.Requests()
	took := h[len(h)-1].At.Sub(rs[0].rcv.Requests()[0].At)
	t.Logf("the healthy endpoint had its %d deliveries %v after the write, %v after the hung one's first (%v timeout)",
		len(tns), h[len(h)-1].At.Sub(written).Round(time.Millisecond), took.Round(time.Millisecond), timeout)
	if took >= timeout-time.Second {
		t.Errorf("the healthy endpoint's last delivery came %v after the hung endpoint's first, held up behind it", took)
	}
	for _, r := range rs {
		var ds []sysDelivery
		ok := func() bool {
			ds = c.deliveries(r.ep)
			return len(ds) == len(tns) && !slices.ContainsFunc(ds, func(d sysDelivery) bool { return d.Attempts != 1 || !r.check(d) })
		}
		for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				for _, d := range ds {
					t.Errorf("%s: delivery %s recorded as %s after %d attempts, code %d, error %q, %d ms, next attempt %v after the first",
						r.name, d.ID, d.State, d.Attempts, d.LastStatusCode, d.LastError, d.LastDurationMs, next(d))
				}
				break
			}
		}
	}
	time.Sleep(time.Second) // a wrong retry would come by now
	for _, r := range rs {
		a := arrivals(t, r.rcv.Requests())
		if len(a.times) != len(tns) || slices.ContainsFunc(slices.Collect(maps.Values(a.times)), func(n int) bool { return n != 1 }) {
			t.Errorf("%s: the receiver saw %v, want each of %d deliveries once", r.name, a.times, len(tns))
		}
	}
	if n := len(elsewhere.Requests()); n != 0 {
		t.Errorf("the redirect was followed to another host (%d requests)", n)
	}
}
