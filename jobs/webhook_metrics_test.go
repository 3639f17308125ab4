package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/store/storetest"
	"github.com/shiptrack/shiptrack/webhook"
)

// queueReads is a WebhookStore whose queue the test sets and whose reads
// it counts; the rest is the (unused) store's.
type queueReads struct {
	*store.Store
	mu    sync.Mutex
	reads int
	q     webhook.QueueStats
	err   error
}

func (f *queueReads) WebhookQueue(context.Context, time.Time) (webhook.QueueStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return f.q, f.err
}

// TestWebhookMetricsFakeClock: every gauge of a scrape comes from one
// read of the queue, which serves the scrapes of the next 2 s (on a fake
// clock); the values are the queue's; a failed read shows as -1; the
// attempt counters count by outcome and failure reason.
func TestWebhookMetricsFakeClock(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	st := storetest.Open(t, "sqlite") // for the weather gauges of the same set
	fake := &queueReads{Store: st, q: webhook.QueueStats{
		Pending:       map[webhook.QueueKey]int64{{Endpoint: webhook.EndpointActive, State: webhook.QueueWaiting}: 7},
		Endpoints:     map[string]int64{webhook.EndpointActive: 2, webhook.EndpointPaused: 1},
		OldestPending: map[string]time.Time{webhook.EndpointActive: now.Add(-90 * time.Second)},
	}}
	set := metrics.NewSet()
	r, err := New(Config{Store: st, Queue: NewMemoryQueue(), Metrics: set, Now: clock, Webhooks: &WebhookConfig{Store: fake,
		Shipment: func(context.Context, string, string) (json.RawMessage, error) { return nil, nil }}})
	if err != nil {
		t.Fatal(err)
	}
	scrape := func() string {
		var b bytes.Buffer
		set.WritePrometheus(&b)
		return b.String()
	}
	want := func(page string, lines ...string) {
		t.Helper()
		for _, l := range lines {
			if !strings.Contains(page, "\n"+l+"\n") {
				t.Errorf("scrape lacks %q", l)
			}
		}
	}
	page := scrape()
	want(page, `shiptrack_webhook_pending_deliveries{endpoint_state="active",state="waiting"} 7`,
		`shiptrack_webhook_pending_deliveries{endpoint_state="active",state="due"} 0`,
		`shiptrack_webhook_pending_deliveries{endpoint_state="paused",state="in_flight"} 0`,
		`shiptrack_webhook_endpoints{state="active"} 2`, `shiptrack_webhook_endpoints{state="paused"} 1`,
		`shiptrack_webhook_oldest_pending_age_seconds{endpoint_state="active"} 90`,
		`shiptrack_webhook_oldest_pending_age_seconds{endpoint_state="paused"} 0`,
		`shiptrack_webhook_attempts_total{outcome="delivered"} 0`, `shiptrack_webhook_failures_total{reason="timeout"} 0`)
	if fake.reads != 1 {
		t.Fatalf("one scrape read the queue %d times, want once", fake.reads)
	}
	fake.mu.Lock()
	fake.q.Pending = map[webhook.QueueKey]int64{{Endpoint: webhook.EndpointActive, State: webhook.QueueDue}: 3}
	fake.mu.Unlock()
	advance(time.Second)
	want(scrape(), `shiptrack_webhook_pending_deliveries{endpoint_state="active",state="waiting"} 7`)
	if fake.reads != 1 {
		t.Fatalf("a scrape 1 s later read the queue again (%d reads)", fake.reads)
	}
	advance(time.Second)
	want(scrape(), `shiptrack_webhook_pending_deliveries{endpoint_state="active",state="due"} 3`,
		`shiptrack_webhook_pending_deliveries{endpoint_state="active",state="waiting"} 0`,
		`shiptrack_webhook_oldest_pending_age_seconds{endpoint_state="active"} 92`)
	if fake.reads != 2 {
		t.Fatalf("2 s later: %d reads, want 2", fake.reads)
	}
	fake.mu.Lock()
	fake.err = errors.New("database down")
	fake.mu.Unlock()
	advance(2 * time.Second)
	want(scrape(), `shiptrack_webhook_pending_deliveries{endpoint_state="active",state="due"} -1`, `shiptrack_webhook_endpoints{state="active"} -1`)

	for _, a := range []struct {
		res   webhook.Result
		state string
	}{
		{webhook.Result{StatusCode: 204, Duration: 20 * time.Millisecond}, webhook.StateDelivered},
		{webhook.Result{StatusCode: 429, Duration: time.Millisecond, Retry: true}, webhook.StatePending},
		{webhook.Result{Err: `Post "http://h/": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, Duration: 10 * time.Second, Retry: true}, webhook.StatePending},
		{webhook.Result{Err: "dial tcp 127.0.0.1:9: connect: connection refused", Retry: true}, webhook.StateFailed},
		{webhook.Result{StatusCode: 410}, webhook.StateFailed},
		{webhook.Result{StatusCode: 502, Retry: true}, webhook.StatePending},
		{webhook.Result{StatusCode: 304}, webhook.StateFailed},
	} {
		r.countAttempt(a.res, a.state)
	}
	want(scrape(), `shiptrack_webhook_attempts_total{outcome="delivered"} 1`, `shiptrack_webhook_attempts_total{outcome="retry"} 3`,
		`shiptrack_webhook_attempts_total{outcome="failed"} 3`, `shiptrack_webhook_failures_total{reason="http_429"} 1`,
		`shiptrack_webhook_failures_total{reason="timeout"} 1`, `shiptrack_webhook_failures_total{reason="connection"} 1`,
		`shiptrack_webhook_failures_total{reason="http_4xx"} 1`, `shiptrack_webhook_failures_total{reason="http_5xx"} 1`,
		`shiptrack_webhook_failures_total{reason="http_other"} 1`, `shiptrack_webhook_attempt_duration_seconds_count 7`)
}
