package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/webhook"
)

// TestWebhookQueueAndStatus: the pending deliveries are counted by
// endpoint state and where they stand (due, in flight, waiting for a
// retry, with the next retry and the oldest), the paused endpoints are
// listed with their reason, and the deliveries that ended in the last
// 24 hours and the latest attempt are read back.
func TestWebhookQueueAndStatus(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		putShipment(t, s, "DHL", "TN1")
		putShipment(t, s, "DHL", "TN2")
		putShipment(t, s, "DHL", "TN3")
		active, _ := s.CreateWebhook(ctx, "https://example.com/a", nil, nil)
		now := time.Now().Add(time.Second)
		empty, err := s.WebhookStatus(ctx, now)
		if err != nil || len(empty.Queue.Pending) != 0 || empty.Queue.Endpoints[webhook.EndpointActive] != 1 ||
			empty.LastAttemptAt != nil || len(empty.Paused) != 0 || !empty.Queue.NextRetry.IsZero() {
			t.Fatalf("before any delivery: %+v %v", empty, err)
		}
		// Three deliveries to the active endpoint, one per shipment.
		mustAppend(t, s, ev("DHL", "TN1", "a", t0, "scanned"), ev("DHL", "TN2", "b", t0, "scanned"), ev("DHL", "TN3", "c", t0, "scanned"))
		ids, err := s.ClaimDueDeliveries(ctx, now, now.Add(time.Minute), 10)
		if err != nil || len(ids) != 3 {
			t.Fatalf("claimed %v %v", ids, err)
		}
		retryAt := now.Add(10 * time.Minute)
		attempts := []store.Attempt{
			{At: now, StatusCode: 200, State: webhook.StateDelivered},
			{At: now, StatusCode: 503, Err: "answered 503", State: webhook.StatePending, Next: retryAt},
		}
		for i, a := range attempts {
			if err := s.RecordAttempt(ctx, ids[i], a); err != nil {
				t.Fatal(err)
			}
		}
		// ids[2] stays claimed: in flight.
		q, err := s.WebhookQueue(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		key := func(state string) webhook.QueueKey {
			return webhook.QueueKey{Endpoint: webhook.EndpointActive, State: state}
		}
		if q.Pending[key(webhook.QueueInFlight)] != 1 || q.Pending[key(webhook.QueueWaiting)] != 1 || q.Pending[key(webhook.QueueDue)] != 0 {
			t.Errorf("pending %v, want one in flight and one waiting", q.Pending)
		}
		if !q.NextRetry.Equal(retryAt.Truncate(time.Second).Add(time.Second)) && !q.NextRetry.Equal(retryAt.Truncate(time.Second)) {
			t.Errorf("next retry %v, want %v", q.NextRetry, retryAt)
		}
		if o := q.OldestPending[webhook.EndpointActive]; o.IsZero() || now.Sub(o) > time.Minute || o.After(now) {
			t.Errorf("oldest pending %v (now %v)", o, now)
		}
		// Its lease over, the in-flight one is due; later, the retry too.
		later := now.Add(time.Hour)
		if q, _ := s.WebhookQueue(ctx, later); q.Pending[key(webhook.QueueDue)] != 2 || len(q.Pending) != 1 {
			t.Errorf("an hour later: %v, want two due", q.Pending)
		}
		// A failure that pauses the endpoint: its pending ones count as the
		// paused endpoint's.
		if err := s.RecordAttempt(ctx, ids[2], store.Attempt{At: now, Err: "dial tcp: connection refused", State: webhook.StateFailed, PauseAfter: 2}); err != nil {
			t.Fatal(err)
		}
		st, err := s.WebhookStatus(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if st.Queue.Endpoints[webhook.EndpointPaused] != 1 || st.Queue.Endpoints[webhook.EndpointActive] != 0 {
			t.Errorf("endpoints %v, want one paused", st.Queue.Endpoints)
		}
		if st.Queue.Pending[webhook.QueueKey{Endpoint: webhook.EndpointPaused, State: webhook.QueueWaiting}] != 1 || !st.Queue.NextRetry.IsZero() {
			t.Errorf("pending %v next retry %v, want the waiting one under paused, no active retry", st.Queue.Pending, st.Queue.NextRetry)
		}
		if len(st.Paused) != 1 || st.Paused[0].ID != active.ID || st.Paused[0].PausedAt == nil || st.Paused[0].PauseReason == "" {
			t.Errorf("paused %+v", st.Paused)
		}
		if st.Delivered24h != 1 || st.Failed24h != 1 {
			t.Errorf("last 24 h: %d delivered, %d failed; want 1 and 1", st.Delivered24h, st.Failed24h)
		}
		if st.LastAttemptAt == nil || !st.LastAttemptAt.Equal(now.Truncate(time.Second)) {
			t.Errorf("last attempt %v, want %v", st.LastAttemptAt, now.Truncate(time.Second))
		}
		// A day later the outcomes have left the window; the last attempt stays.
		if st, _ := s.WebhookStatus(ctx, now.Add(25*time.Hour)); st.Delivered24h != 0 || st.Failed24h != 0 || st.LastAttemptAt == nil {
			t.Errorf("a day later: %+v", st)
		}
	})
}
