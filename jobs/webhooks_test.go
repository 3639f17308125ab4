package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/internal/testutil"
	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/store/storetest"
	"github.com/shiptrack/shiptrack/webhook"
)

// received is one request a test receiver got.
type received struct {
	at     time.Time
	header http.Header
	body   []byte
}

// receiver is a real HTTP endpoint that records every request and
// answers as answer says (call number from 1).
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(n int, w http.ResponseWriter)
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter)) *receiver {
	r := &receiver{answer: answer}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{time.Now(), req.Header.Clone(), b})
		n := len(r.got)
		r.mu.Unlock()
		if r.answer != nil {
			r.answer(n, w)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// waitFor polls cond until it holds or the test's patience runs out.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type hookEnv struct {
	st *store.Store
	r  *Refresher
}

// forEachHookEnv runs fn on SQLite with the in-process queue and on
// PostgreSQL with the Redis queue, each with a running dispatcher.
func forEachHookEnv(t *testing.T, pauseAfter int, fn func(t *testing.T, e hookEnv)) {
	forEachHookEnvWith(t, func(c *Config) { c.Webhooks.PauseAfter = pauseAfter }, fn)
}

// forEachHookEnvWith is forEachHookEnv with the configuration changed by
// tune before the dispatcher starts.
func forEachHookEnvWith(t *testing.T, tune func(*Config), fn func(t *testing.T, e hookEnv)) {
	for _, name := range []string{"sqlite+memory", "postgres+redis"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var (
				st *store.Store
				q  Queue
			)
			if name == "sqlite+memory" {
				st = storetest.Open(t, "sqlite")
				mq := NewMemoryQueue()
				t.Cleanup(func() { _ = mq.Close() })
				q = mq
			} else {
				st = storetest.Open(t, "postgres")
				client := testutil.Redis(t)
				q = newQueueTestRedisQueue(t, client, testutil.RedisPrefix(t, client), RedisOptions{})
			}
			cfg := Config{Store: st, Queue: q, Workers: 4, Webhooks: &WebhookConfig{
				Store: st,
				Shipment: func(ctx context.Context, carrier, tn string) (json.RawMessage, error) {
					sh, err := st.Get(ctx, carrier, tn)
					if err != nil {
						return nil, err
					}
					return api.ShipmentBody(sh, time.Now(), 0)
				},
				Client:    webhook.Policy{AllowPrivate: true}.Client(2 * time.Second),
				Schedule:  webhook.Schedule{First: 100 * time.Millisecond, Max: 400 * time.Millisecond, Period: time.Minute},
				PollEvery: 50 * time.Millisecond,
			}}
			tune(&cfg)
			r, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Stop(context.Background()) })
			fn(t, hookEnv{st, r})
		})
	}
}

func (e hookEnv) shipment(t *testing.T, carrier, tn string) {
	t.Helper()
	if _, err := e.st.Put(context.Background(), shipment.ShipmentInput{TrackingNumber: tn, Carrier: carrier,
		SenderAddress: "Street 1, 10115 Berlin, Germany", ReceiverAddress: "Street 10, 75001 Paris, France"}); err != nil {
		t.Fatal(err)
	}
}

var eventSeq sync.Map

// status records an event that gives the shipment the status text.
func (e hookEnv) status(t *testing.T, carrier, tn, text string) {
	t.Helper()
	n, _ := eventSeq.LoadOrStore(t.Name()+tn, new(int))
	seq := n.(*int)
	*seq++
	if _, err := e.st.AppendEvents(context.Background(), []shipment.EventInput{{Carrier: carrier, TrackingNumber: tn,
		Event: shipment.Event{EventID: fmt.Sprintf("e%d", *seq), OccurredAt: time.Date(2026, 1, 1, 0, 0, *seq, 0, time.UTC), StatusText: text}}}); err != nil {
		t.Fatal(err)
	}
}

// statusChanges makes n shipments, named prefix0 and on, and changes
// the status of each once.
func (e hookEnv) statusChanges(t *testing.T, prefix string, n int) {
	t.Helper()
	for i := range n {
		tn := prefix + strconv.Itoa(i)
		e.shipment(t, "DHL", tn)
		e.status(t, "DHL", tn, "transit")
	}
}

// newHungReceiver is a receiver that answers nothing for 3 s, or until
// the test ends.
func newHungReceiver(t *testing.T) *receiver {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return newReceiver(t, func(int, http.ResponseWriter) {
		select {
		case <-release:
		case <-time.After(3 * time.Second):
		}
	})
}

func (e hookEnv) endpoint(t *testing.T, url string, statuses ...string) webhook.Endpoint {
	t.Helper()
	ep, err := e.st.CreateWebhook(context.Background(), url, statuses, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

func (e hookEnv) deliveries(t *testing.T, ep uint64) []webhook.Delivery {
	t.Helper()
	ds, err := e.st.WebhookDeliveries(context.Background(), ep, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

type deliveryBody struct {
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	CreatedAt      string          `json:"created_at"`
	PreviousStatus string          `json:"previous_status"`
	Status         string          `json:"status"`
	Shipment       api.LookupJSON  `json:"shipment"`
	Raw            json.RawMessage `json:"-"`
}

// pythonSignature signs as the README describes, with Python's hmac.
func pythonSignature(t *testing.T, secret, ts string, body []byte) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed to check the signature independently")
	}
	cmd := exec.Command(py, "-c", `import hmac, hashlib, sys
secret, ts, body = sys.argv[1], sys.argv[2], sys.stdin.buffer.read()
print("v1=" + hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest())`, secret, ts)
	cmd.Stdin = strings.NewReader(string(body))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// TestWebhookDeliverySigned: a status change reaches the endpoint once,
// with the documented body and headers, signed so that webhook.Verify
// and Python's hmac agree.
func TestWebhookDeliverySigned(t *testing.T) {
	t.Parallel()
	forEachHookEnv(t, 0, func(t *testing.T, e hookEnv) {
		rcv := newReceiver(t, nil)
		ep := e.endpoint(t, rcv.srv.URL+"/hook")
		e.shipment(t, "DHL", "TN1")
		e.status(t, "DHL", "TN1", "delivered")
		waitFor(t, "the delivery", 10*time.Second, func() bool { return len(rcv.requests()) == 1 })
		got := rcv.requests()[0]
		ts, sig := got.header.Get(webhook.HeaderTimestamp), got.header.Get(webhook.HeaderSignature)
		if err := webhook.Verify(ep.Secret, ts, sig, got.body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("webhook.Verify: %v (%s)", err, sig)
		}
		if py := pythonSignature(t, ep.Secret, ts, got.body); py != sig {
			t.Errorf("signature %s, Python's hmac says %s", sig, py)
		}
		var b deliveryBody
		if err := json.Unmarshal(got.body, &b); err != nil {
			t.Fatal(err)
		}
		if b.ID == "" || b.ID != got.header.Get(webhook.HeaderDelivery) || b.Type != "shipment.status_changed" ||
			b.PreviousStatus != "pending" || b.Status != "delivered" || b.Shipment.Status != "delivered" ||
			b.Shipment.TrackingNumber != "TN1" || len(b.Shipment.Events) != 1 {
			t.Errorf("body: %s", got.body)
		}
		if _, err := time.Parse(time.RFC3339, b.CreatedAt); err != nil || !strings.HasSuffix(b.CreatedAt, "Z") {
			t.Errorf("created_at %q", b.CreatedAt)
		}
		waitFor(t, "the delivery recorded", 5*time.Second, func() bool {
			ds := e.deliveries(t, ep.ID)
			return len(ds) == 1 && ds[0].State == webhook.StateDelivered && ds[0].Attempts == 1 && ds[0].LastStatusCode == 200
		})
		time.Sleep(300 * time.Millisecond)
		if n := len(rcv.requests()); n != 1 {
			t.Errorf("%d requests for one change", n)
		}
	})
}

// TestWebhookRetries: a 500 is retried with the same delivery id; a 429's
// Retry-After is honoured; a 410 is not retried.
func TestWebhookRetries(t *testing.T) {
	t.Parallel()
	forEachHookEnv(t, 0, func(t *testing.T, e hookEnv) {
		flaky := newReceiver(t, func(n int, w http.ResponseWriter) {
			if n == 1 {
				w.WriteHeader(http.StatusInternalServerError)
			}
		})
		limited := newReceiver(t, func(n int, w http.ResponseWriter) {
			if n == 1 {
				w.Header().Set("Retry-After", "2")
				w.WriteHeader(http.StatusTooManyRequests)
			}
		})
		gone := newReceiver(t, func(n int, w http.ResponseWriter) { w.WriteHeader(http.StatusGone) })
		epFlaky, epLimited, epGone := e.endpoint(t, flaky.srv.URL), e.endpoint(t, limited.srv.URL), e.endpoint(t, gone.srv.URL)
		e.shipment(t, "DHL", "TN1")
		e.status(t, "DHL", "TN1", "transit")
		waitFor(t, "the retries", 15*time.Second, func() bool {
			return len(flaky.requests()) == 2 && len(limited.requests()) == 2 && len(gone.requests()) == 1
		})
		f := flaky.requests()
		if f[0].header.Get(webhook.HeaderDelivery) != f[1].header.Get(webhook.HeaderDelivery) {
			t.Error("a retry has another delivery id")
		}
		l := limited.requests()
		if gap := l[1].at.Sub(l[0].at); gap < 2*time.Second {
			t.Errorf("retried %v after a 429 with Retry-After: 2", gap)
		}
		waitFor(t, "the outcomes recorded", 5*time.Second, func() bool {
			a, b, c := e.deliveries(t, epFlaky.ID), e.deliveries(t, epLimited.ID), e.deliveries(t, epGone.ID)
			return a[0].State == webhook.StateDelivered && a[0].Attempts == 2 &&
				b[0].State == webhook.StateDelivered && b[0].Attempts == 2 &&
				c[0].State == webhook.StateFailed && c[0].Attempts == 1 && c[0].LastStatusCode == 410
		})
		time.Sleep(500 * time.Millisecond)
		if n := len(gone.requests()); n != 1 {
			t.Errorf("a 410 was tried %d times", n)
		}
	})
}

// TestWebhookOrder: several status changes of one shipment reach an
// endpoint in the order of the events, even when the first attempt of
// each fails, while another shipment's go on beside them.
func TestWebhookOrder(t *testing.T) {
	t.Parallel()
	forEachHookEnv(t, 0, func(t *testing.T, e hookEnv) {
		var mu sync.Mutex
		seen := map[string]bool{}
		rcv := newReceiver(t, nil)
		rcv.answer = func(n int, w http.ResponseWriter) {
			// Fail every delivery's first attempt.
			got := rcv.requests()
			id := got[n-1].header.Get(webhook.HeaderDelivery)
			mu.Lock()
			defer mu.Unlock()
			if !seen[id] {
				seen[id] = true
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}
		e.endpoint(t, rcv.srv.URL)
		e.shipment(t, "DHL", "TN1")
		e.shipment(t, "DHL", "TN2")
		texts := []string{"scanned", "transit", "delivery", "delivered", "exception", "delivered"}
		for _, text := range texts {
			e.status(t, "DHL", "TN1", text)
			e.status(t, "DHL", "TN2", text)
		}
		waitFor(t, "every delivery", 30*time.Second, func() bool {
			mu.Lock()
			n := len(seen)
			mu.Unlock()
			return n == 2*len(texts) && len(rcv.requests()) == 4*len(texts)
		})
		want := []string{"info_received", "in_transit", "out_for_delivery", "delivered", "exception", "delivered"}
		for _, tn := range []string{"TN1", "TN2"} {
			var order []string
			for _, r := range rcv.requests() {
				var b deliveryBody
				if err := json.Unmarshal(r.body, &b); err != nil {
					t.Fatal(err)
				}
				if b.Shipment.TrackingNumber == tn && (len(order) == 0 || order[len(order)-1] != b.Status+"@"+b.ID) {
					order = append(order, b.Status+"@"+b.ID)
				}
			}
			var statuses []string
			for _, o := range order {
				statuses = append(statuses, strings.Split(o, "@")[0])
			}
			if !slices.Equal(statuses, want) {
				t.Errorf("%s arrived as %v, want %v", tn, statuses, want)
			}
		}
	})
}

// TestWebhookPause: an endpoint failing PauseAfter times in a row is
// paused with the reason, and tried no more.
func TestWebhookPause(t *testing.T) {
	t.Parallel()
	forEachHookEnv(t, 3, func(t *testing.T, e hookEnv) {
		rcv := newReceiver(t, func(n int, w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) })
		ep := e.endpoint(t, rcv.srv.URL)
		e.shipment(t, "DHL", "TN1")
		e.status(t, "DHL", "TN1", "transit")
		waitFor(t, "the pause", 15*time.Second, func() bool {
			eps, err := e.st.Webhooks(context.Background())
			return err == nil && eps[0].PausedAt != nil
		})
		eps, _ := e.st.Webhooks(context.Background())
		if !strings.Contains(eps[0].PauseReason, "3 consecutive") || !strings.Contains(eps[0].PauseReason, "502") {
			t.Errorf("pause reason %q", eps[0].PauseReason)
		}
		n := len(rcv.requests())
		if n != 3 {
			t.Errorf("%d attempts before the pause, want 3", n)
		}
		e.status(t, "DHL", "TN1", "delivered") // no row for a paused endpoint
		time.Sleep(time.Second)
		if m := len(rcv.requests()); m != n {
			t.Errorf("a paused endpoint got %d more requests", m-n)
		}
		if ds := e.deliveries(t, ep.ID); len(ds) != 1 || ds[0].State != webhook.StatePending {
			t.Errorf("deliveries of the paused endpoint: %+v", ds)
		}
	})
}

// TestWebhookRotation: after a rotation both secrets sign, so a receiver
// still holding the old one verifies, and so does one with the new.
func TestWebhookRotation(t *testing.T) {
	t.Parallel()
	forEachHookEnv(t, 0, func(t *testing.T, e hookEnv) {
		rcv := newReceiver(t, nil)
		old := e.endpoint(t, rcv.srv.URL)
		rotated, err := e.st.RotateWebhookSecret(context.Background(), old.ID, webhook.RotationOverlap)
		if err != nil || rotated.Secret == old.Secret {
			t.Fatalf("rotate: %v", err)
		}
		e.shipment(t, "DHL", "TN1")
		e.status(t, "DHL", "TN1", "transit")
		waitFor(t, "the delivery", 10*time.Second, func() bool { return len(rcv.requests()) == 1 })
		got := rcv.requests()[0]
		ts, sig := got.header.Get(webhook.HeaderTimestamp), got.header.Get(webhook.HeaderSignature)
		if strings.Count(sig, "v1=") != 2 {
			t.Errorf("signature header %q, want two values during the overlap", sig)
		}
		for _, s := range []string{old.Secret, rotated.Secret} {
			if err := webhook.Verify(s, ts, sig, got.body, time.Now(), 5*time.Minute); err != nil {
				t.Errorf("verify: %v", err)
			}
		}
		if !strings.Contains(sig, pythonSignature(t, old.Secret, ts, got.body)) {
			t.Error("Python's hmac with the old secret finds no matching value")
		}
	})
}

// TestWebhookSlowEndpoint: a hung endpoint holds at most its share of the
// workers; a healthy one is still served promptly.
func TestWebhookSlowEndpoint(t *testing.T) {
	t.Parallel()
	forEachHookEnv(t, 0, func(t *testing.T, e hookEnv) {
		hung, ok := newHungReceiver(t), newReceiver(t, nil)
		e.endpoint(t, hung.srv.URL)
		e.endpoint(t, ok.srv.URL)
		e.statusChanges(t, "TN", 8)
		start := time.Now()
		waitFor(t, "the healthy endpoint's deliveries", 10*time.Second, func() bool { return len(ok.requests()) == 8 })
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("the healthy endpoint waited %v behind the hung one", d)
		}
	})
}

// TestJobFormatCompatible: an item written before jobs had a kind is a
// weather job; a webhook job names its kind and delivery.
func TestJobFormatCompatible(t *testing.T) {
	t.Parallel()
	var old Job
	if err := json.Unmarshal([]byte(`{"location_id":7,"enqueued_at":"2026-12-01T10:00:00Z"}`), &old); err != nil ||
		old.Kind != KindWeather || old.LocationID != 7 {
		t.Fatalf("old item: %+v %v", old, err)
	}
	b, _ := json.Marshal(Job{LocationID: 7})
	if strings.Contains(string(b), "kind") || strings.Contains(string(b), "delivery_id") {
		t.Errorf("a weather job is written as %s, not as before", b)
	}
	b, _ = json.Marshal(Job{Kind: KindWebhook, DeliveryID: 9})
	var back Job
	if json.Unmarshal(b, &back) != nil || back.Kind != KindWebhook || back.DeliveryID != 9 {
		t.Errorf("webhook job %s read back as %+v", b, back)
	}
}

// TestWebhookStopReleasesClaim: a worker stopped in the middle of an
// attempt records no attempt (not the endpoint's failure) and gives the
// delivery back, so the next sweep, on another replica or after the
// restart, sends it at once instead of after the claim's lease.
func TestWebhookStopReleasesClaim(t *testing.T) {
	t.Parallel()
	forEachHookEnv(t, 0, func(t *testing.T, e hookEnv) {
		release := make(chan struct{})
		hung := newReceiver(t, func(int, http.ResponseWriter) { <-release })
		t.Cleanup(func() { close(release) })
		ep := e.endpoint(t, hung.srv.URL)
		e.shipment(t, "DHL", "TN1")
		e.status(t, "DHL", "TN1", "transit")
		waitFor(t, "the attempt", 10*time.Second, func() bool { return len(hung.requests()) == 1 })
		if err := e.r.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		ds := e.deliveries(t, ep.ID)
		if len(ds) != 1 || ds[0].State != webhook.StatePending || ds[0].Attempts != 0 {
			t.Fatalf("after the stop: %+v", ds)
		}
		now := time.Now()
		ids, err := e.st.ClaimDueDeliveries(context.Background(), now, now.Add(time.Minute), 10)
		if err != nil || len(ids) != 1 || ids[0] != ds[0].ID {
			t.Errorf("claim after the stop: %v %v; want the delivery, given back", ids, err)
		}
	})
}
