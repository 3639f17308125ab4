package jobs

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/webhook"
)

// releaseCounter counts the deliveries given back to the database.
type releaseCounter struct {
	WebhookStore
	n atomic.Int64
}

func (c *releaseCounter) ReleaseDelivery(ctx context.Context, id uint64) error {
	c.n.Add(1)
	return c.WebhookStore.ReleaseDelivery(ctx, id)
}

// TestWebhookBusyEndpointParks: deliveries that come off the queue while
// their endpoint has every slot busy wait in the process for a worker
// sending to it, instead of going back to the database to be claimed
// again; each is sent once.
func TestWebhookBusyEndpointParks(t *testing.T) {
	t.Parallel()
	forEachHookEnvWith(t, func(c *Config) {
		c.Webhooks.Store, c.Webhooks.PerEndpoint = &releaseCounter{WebhookStore: c.Webhooks.Store}, 1
	}, func(t *testing.T, e hookEnv) {
		counter := e.r.hooks.cfg.Store.(*releaseCounter)
		slow := newReceiver(t, func(int, http.ResponseWriter) { time.Sleep(20 * time.Millisecond) })
		e.endpoint(t, slow.srv.URL)
		const n = 12
		e.statusChanges(t, "TN", n)
		waitFor(t, "every delivery", 15*time.Second, func() bool { return len(slow.requests()) >= n })
		time.Sleep(200 * time.Millisecond) // a duplicate would arrive meanwhile
		ids := map[string]bool{}
		for _, r := range slow.requests() {
			ids[r.header.Get(webhook.HeaderDelivery)] = true
		}
		if got := len(slow.requests()); got != n || len(ids) != n {
			t.Errorf("%d requests, %d distinct deliveries; want %d of each", got, len(ids), n)
		}
		if r := counter.n.Load(); r != 0 {
			t.Errorf("%d deliveries went back to the database; want them parked", r)
		}
	})
}

// TestWebhookHungBacklog: an endpoint that never answers, with a backlog
// of many batches claimed ahead of everything else, does not hold back
// another endpoint's deliveries: its deliveries parked here keep it out
// of the claims, so the healthy endpoint's are claimed at once.
func TestWebhookHungBacklog(t *testing.T) {
	t.Parallel()
	forEachHookEnvWith(t, func(c *Config) { c.Webhooks.Batch, c.Webhooks.PerEndpoint = 5, 2 }, func(t *testing.T, e hookEnv) {
		hung, ok := newHungReceiver(t), newReceiver(t, nil)
		e.endpoint(t, hung.srv.URL)
		e.statusChanges(t, "H", 400) // 80 batches
		e.endpoint(t, ok.srv.URL)
		e.statusChanges(t, "OK", 8)
		start := time.Now()
		waitFor(t, "the healthy endpoint's deliveries", 15*time.Second, func() bool { return len(ok.requests()) == 8 })
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("the healthy endpoint waited %v behind the hung one's backlog", d)
		}
	})
}
