package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shiptrack/shiptrack/internal/defaults"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/webhook"
)

// Webhook deliveries (issue 16) share the weather's queue and worker
// pool. The outbox rows are the schedule: every PollEvery the dispatcher
// claims the due ones (store.ClaimDueDeliveries, a conditional UPDATE, so
// replicas sharing the database take each once) and pushes one job per
// delivery; a worker sends it with webhook.Send and records the attempt,
// which either ends it (delivered, or failed: a 4xx other than 408 and
// 429, or the retry period over) or schedules the next attempt
// (webhook.Schedule). A claim is a lease: a delivery whose job was lost
// with its process is claimed again when the lease runs out. The lease
// is the last resort: with the in-process queue (one process by design)
// the first sweep after a start gives back every claim, which can only
// be the previous process's; with Redis a dead consumer's jobs return to
// the queue once its heartbeat lapses (Recover, run by the weather sweep,
// or on its own when weather is off); and a worker stopped in the middle
// of an attempt releases its claim.

// WebhookStore is what the deliveries need from the database.
type WebhookStore interface {
	ClaimDueDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int, skip ...uint64) ([]uint64, error)
	DeliveryToSend(ctx context.Context, id uint64, now time.Time) (store.OutgoingDelivery, bool, error)
	RecordAttempt(ctx context.Context, id uint64, a store.Attempt) error
	ReleaseDelivery(ctx context.Context, id uint64) error
	ReleaseClaims(ctx context.Context) (int64, error)
	// WebhookQueue is read for the queue gauges (webhook_metrics.go).
	WebhookQueue(ctx context.Context, now time.Time) (webhook.QueueStats, error)
}

// DefaultWebhookTimeout bounds one delivery attempt: a hung receiver
// holds a worker this long at most.
const DefaultWebhookTimeout = 10 * time.Second

// WebhookConfig switches deliveries on (Config.Webhooks).
type WebhookConfig struct {
	Store WebhookStore
	// Shipment renders a shipment as a lookup returns it: the body's
	// "shipment", read when the delivery is sent.
	Shipment func(ctx context.Context, carrier, trackingNumber string) (json.RawMessage, error)
	// Client sends; default webhook.Policy{}.Client(DefaultWebhookTimeout).
	Client *http.Client
	// Schedule of retries; default webhook.DefaultSchedule.
	Schedule webhook.Schedule
	// PauseAfter consecutive failed attempts pause an endpoint; default
	// webhook.PauseAfter.
	PauseAfter int
	// PollEvery is how often due deliveries are claimed (default 1s).
	PollEvery time.Duration
	// Lease is how long a claim holds a delivery (default 2m, well above
	// an attempt's timeout).
	Lease time.Duration
	// Batch is the most deliveries claimed at once (default 200).
	Batch int
	// PerEndpoint caps one endpoint's attempts in flight in this process
	// (default half the workers, at least 1): a slow or hung endpoint
	// keeps at most that share of the pool.
	PerEndpoint int
}

// webhooks is the dispatcher's state.
type webhooks struct {
	cfg WebhookConfig
	mu  sync.Mutex
	// inFlight counts each endpoint's attempts running in this process.
	inFlight map[uint64]int
	// releaseAll makes the next sweep give back every claim first (set at
	// start with the in-process queue).
	releaseAll atomic.Bool
	// parked holds, per endpoint, the deliveries claimed here that came
	// off the queue while the endpoint had all its slots busy, oldest
	// first: a worker that finishes an attempt to that endpoint sends the
	// next one, so a busy endpoint costs no other worker more than a
	// read, and nothing goes back to the database to be claimed again.
	parked map[uint64][]parkedDelivery
}

type parkedDelivery struct {
	id      uint64
	claimed time.Time // when its job was queued, i.e. claimed
}

func newWebhooks(cfg WebhookConfig, workers int) *webhooks {
	if cfg.Client == nil {
		cfg.Client = webhook.Policy{}.Client(DefaultWebhookTimeout)
	}
	if cfg.Schedule == (webhook.Schedule{}) {
		cfg.Schedule = webhook.DefaultSchedule
	}
	cfg.PauseAfter = defaults.Positive(cfg.PauseAfter, webhook.PauseAfter)
	cfg.PollEvery = defaults.Positive(cfg.PollEvery, time.Second)
	cfg.Lease = defaults.Positive(cfg.Lease, 2*time.Minute)
	cfg.Batch = defaults.Positive(cfg.Batch, 200)
	cfg.PerEndpoint = defaults.Positive(cfg.PerEndpoint, max(1, workers/2))
	return &webhooks{cfg: cfg, inFlight: make(map[uint64]int), parked: make(map[uint64][]parkedDelivery)}
}

// maxFullBatches bounds the full claims one sweep makes back to back, and
// maxBatchGrowth how many batches one claim may take.
const (
	maxFullBatches = 20
	maxBatchGrowth = 8
)

// sweepWebhooks claims the due deliveries and queues them, batch after
// batch while batches come back full (at most maxFullBatches). While an
// endpoint has a batch's worth parked here it is left out of the claims;
// the sweep then polls again every PollEvery/20 until PollEvery is over,
// so that the endpoint is fed again as soon as its parked deliveries run
// low, not a PollEvery later.
func (r *Refresher) sweepWebhooks(ctx context.Context) {
	w := r.hooks
	if w.releaseAll.Load() {
		n, err := w.cfg.Store.ReleaseClaims(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("could not release the previous process's webhook claims; the next sweep retries", "error", err)
			}
			return
		}
		w.releaseAll.Store(false)
		if n > 0 {
			r.log.Info("released webhook claims of the previous process", "deliveries", n)
		}
	}
	until := time.Now().Add(w.cfg.PollEvery)
	// A claim reads every due delivery to pick the oldest, so after a
	// full batch the next claims take twice as many, up to maxBatchGrowth
	// batches: a backlog costs fewer reads of itself.
	limit := w.cfg.Batch
	for full := 0; full < maxFullBatches; {
		now := r.cfg.Now()
		// Endpoints with enough work waiting here are left to other
		// replicas and later polls: claimed now, their deliveries would
		// only wait here longer (or, being the oldest due, crowd out
		// every other endpoint's).
		skip := w.saturated()
		ids, err := w.cfg.Store.ClaimDueDeliveries(ctx, now, now.Add(w.cfg.Lease), limit, skip...)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("webhook sweep failed; the next one retries", "error", err)
			}
			return
		}
		if len(ids) > 0 {
			jobs := make([]Job, len(ids))
			for i, id := range ids {
				jobs[i] = Job{Kind: KindWebhook, DeliveryID: id}
			}
			if err := r.cfg.Queue.Push(ctx, jobs...); err != nil {
				// The claims run out and the deliveries are claimed again.
				r.log.Warn("could not queue webhook deliveries; they are retried when their claim runs out", "error", err)
				return
			}
		}
		if len(ids) == limit {
			full++
			limit = min(2*limit, maxBatchGrowth*w.cfg.Batch)
			continue
		}
		if len(skip) == 0 || !time.Now().Before(until) || !sleep(ctx, w.cfg.PollEvery/20) {
			return
		}
	}
}

// payload is a delivery's body.
type payload struct {
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	CreatedAt      string          `json:"created_at"`
	PreviousStatus string          `json:"previous_status"`
	Status         string          `json:"status"`
	Shipment       json.RawMessage `json:"shipment"`
}

// deliver runs one delivery job and acks it: the data, not the queue,
// keeps what is left to do.
func (r *Refresher) deliver(ctx context.Context, d Delivery) {
	w := r.hooks
	id := d.Job().DeliveryID
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := d.Ack(sctx); err != nil && !errors.Is(err, ErrLost) {
			r.log.Warn("could not settle webhook job", "delivery", id, "error", err)
		}
	}()
	if w == nil {
		return // deliveries are off here; the claim runs out for a replica that has them on
	}
	now := r.cfg.Now()
	od, ok, err := w.cfg.Store.DeliveryToSend(ctx, id, now)
	if err != nil {
		r.log.Warn("webhook delivery unreadable; retried when its claim runs out", "delivery", id, "error", err)
		return
	}
	if !ok {
		return // delivered, failed, deleted or paused meanwhile
	}
	if !w.enter(od.EndpointID, parkedDelivery{id, d.Job().EnqueuedAt}) {
		return // parked: a worker sending to the endpoint takes it
	}
	// This worker holds one of the endpoint's slots; it sends the
	// deliveries parked for the endpoint after this one.
	for {
		r.attempt(ctx, od, now)
		if od, ok = r.nextParked(ctx, od.EndpointID); !ok {
			return
		}
		now = r.cfg.Now()
	}
}

// nextParked hands the caller's slot on the endpoint to the oldest
// delivery parked for it that is still to send, or frees the slot (ok
// false). A delivery parked longer than half its lease, or any while
// shutting down, goes back to the database (ReleaseDelivery) instead:
// sent that late, its claim could run out during the attempt and another
// replica send it too.
func (r *Refresher) nextParked(ctx context.Context, endpoint uint64) (store.OutgoingDelivery, bool) {
	w := r.hooks
	for {
		p, ok := w.handOn(endpoint)
		if !ok {
			return store.OutgoingDelivery{}, false
		}
		if ctx.Err() != nil || time.Since(p.claimed) > w.cfg.Lease/2 {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = w.cfg.Store.ReleaseDelivery(sctx, p.id)
			cancel()
			continue
		}
		od, ok, err := w.cfg.Store.DeliveryToSend(ctx, p.id, r.cfg.Now())
		if err != nil {
			r.log.Warn("webhook delivery unreadable; retried when its claim runs out", "delivery", p.id, "error", err)
			continue
		}
		if ok {
			return od, true
		}
	}
}

// attempt sends one delivery and records the outcome.
func (r *Refresher) attempt(ctx context.Context, od store.OutgoingDelivery, now time.Time) {
	w := r.hooks
	id := od.ID
	sh, err := w.cfg.Shipment(ctx, od.Carrier, od.TrackingNumber)
	if err != nil {
		r.log.Warn("webhook delivery: shipment unreadable; retried when its claim runs out", "delivery", od.DeliveryID, "error", err)
		return
	}
	body, err := json.Marshal(payload{ID: od.DeliveryID, Type: od.Type, CreatedAt: od.CreatedAt.UTC().Format(time.RFC3339),
		PreviousStatus: od.PreviousStatus, Status: od.Status, Shipment: sh})
	if err != nil {
		r.log.Error("webhook delivery: encode", "delivery", od.DeliveryID, "error", err)
		return
	}
	var previous []string
	if od.PreviousSecret != "" {
		previous = append(previous, od.PreviousSecret)
	}
	res := webhook.Send(ctx, w.cfg.Client, od.URL, od.Secret, od.DeliveryID, body, now, previous...)
	if ctx.Err() != nil {
		// Shutting down: not the endpoint's failure. Given back, so the
		// next sweep (another replica's, or the next start's) sends it
		// rather than waiting out the lease.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := w.cfg.Store.ReleaseDelivery(rctx, id); err != nil {
			r.log.Warn("could not release a webhook delivery cut by the shutdown; it is sent when its claim runs out", "delivery", od.DeliveryID, "error", err)
		}
		return
	}
	a := store.Attempt{At: now, StatusCode: res.StatusCode, Duration: res.Duration, Err: res.Err, PauseAfter: w.cfg.PauseAfter,
		FailuresClear: od.EndpointFailures == 0}
	switch {
	case res.OK():
		a.State = webhook.StateDelivered
	case !res.Retry:
		a.State = webhook.StateFailed
	default:
		first := now
		if od.FirstAttemptAt != nil {
			first = *od.FirstAttemptAt
		}
		// From the answer, not from when the attempt began: a
		// Retry-After counts from when the receiver said it.
		next, more := w.cfg.Schedule.Next(first, r.cfg.Now(), od.Attempts+1, res.RetryAfter)
		if more {
			a.State, a.Next = webhook.StatePending, next
		} else {
			a.State = webhook.StateFailed
			a.Err += " (retry period over)"
		}
	}
	r.countAttempt(res, a.State)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.cfg.Store.RecordAttempt(sctx, id, a); err != nil {
		r.log.Warn("could not record a webhook attempt; it may be sent again", "delivery", od.DeliveryID, "error", err)
	}
	// The URL is the subscriber's and may hold a token: not logged.
	r.log.Debug("webhook attempt", "delivery", od.DeliveryID, "endpoint", od.EndpointID, "status_code", res.StatusCode,
		"state", a.State, "duration_ms", res.Duration.Milliseconds())
}

// pollEvery is the sweep's period (0 when deliveries are off).
func (w *webhooks) pollEvery() time.Duration {
	if w == nil {
		return 0
	}
	return w.cfg.PollEvery
}

// enter takes one of the endpoint's slots, or parks p for a worker that
// holds one (false).
func (w *webhooks) enter(endpoint uint64, p parkedDelivery) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inFlight[endpoint] >= w.cfg.PerEndpoint {
		w.parked[endpoint] = append(w.parked[endpoint], p)
		return false
	}
	w.inFlight[endpoint]++
	return true
}

// handOn passes the caller's slot on the endpoint to its oldest parked
// delivery, or frees it when none is parked (false).
func (w *webhooks) handOn(endpoint uint64) (parkedDelivery, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if q := w.parked[endpoint]; len(q) > 0 {
		p := q[0]
		if len(q) == 1 {
			delete(w.parked, endpoint)
		} else {
			w.parked[endpoint] = q[1:]
		}
		return p, true
	}
	if w.inFlight[endpoint]--; w.inFlight[endpoint] <= 0 {
		delete(w.inFlight, endpoint)
	}
	return parkedDelivery{}, false
}

// saturated lists the endpoints with at least a batch of deliveries
// parked here.
func (w *webhooks) saturated() []uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []uint64
	for ep, q := range w.parked {
		if len(q) >= w.cfg.Batch {
			out = append(out, ep)
		}
	}
	return out
}
