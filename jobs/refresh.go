// Package jobs keeps the weather of every receiver location fresh: a gocron
// scheduler pushes one refresh job per due location onto a queue (Redis or
// in-process), and a pool of goroutines consumes the jobs, calls the
// weather provider and writes the result through the store.
//
// The scheduler only triggers. The schedule itself lives in the data, so
// that replicas and restarts agree on it:
//
//   - A refresh window opens every Interval (store.AdvanceWindow, on a grid
//     shared by every replica). Every place whose weather was fetched
//     before the current window began is due: so each place is fetched
//     once per window, every window.
//   - A worker calls the provider only after winning the store's
//     conditional claim on the place, which refuses a place already
//     fetched in the current window: duplicate jobs, restarts and replicas
//     sharing a database cost no extra calls.
//   - A temporary failure schedules a retry in the data (exponential
//     backoff with jitter, Retry-After honoured); the tick that finds it
//     due queues it, on whichever replica ticks first.
package jobs

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/go-co-op/gocron/v2"
	"golang.org/x/time/rate"

	"github.com/shiptrack/shiptrack/internal/defaults"
	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/weather"
)

// Store is what the weather jobs need from the database.
type Store interface {
	AdvanceWindow(ctx context.Context, now time.Time, interval time.Duration) (store.Window, error)
	CurrentWindow(ctx context.Context) (store.Window, error)
	QueueNew(ctx context.Context, now time.Time) ([]uint64, error)
	QueueDue(ctx context.Context, windowStart, now time.Time, all bool) ([]uint64, error)
	UnmarkQueued(ctx context.Context, ids []uint64) error
	RetryStats(ctx context.Context, windowStart time.Time) (int64, time.Time, error)
	Location(ctx context.Context, id uint64) (shipment.Location, error)
	WeatherOf(ctx context.Context, locationID uint64) (shipment.Weather, error)
	ClaimWeather(ctx context.Context, locationID uint64, owner string, now, staleBefore, leaseUntil time.Time) (store.ClaimResult, error)
	SaveWeather(ctx context.Context, owner string, w shipment.Weather) error
	SaveWeatherError(ctx context.Context, locationID uint64, owner string, f store.Failure) error
	ReleaseClaim(ctx context.Context, locationID uint64, owner string) error
	TakeBudget(ctx context.Context, day time.Time, provider string, limit int64) (bool, error)
	OldestWeather(ctx context.Context) (time.Time, bool, error)
}

// Recoverer is a queue that can hand back the jobs of consumers that died
// holding them (the Redis queue).
type Recoverer interface {
	Recover(ctx context.Context) (int, error)
}

// Defaults of the settings shiptrack's config exposes (weather.workers,
// weather.rate, weather.claim_lease; the interval is
// weather.DefaultInterval): the only place these values are written. A
// zero field of Config takes them (library and test use).
const (
	DefaultWorkers = 4
	DefaultRate    = 5.0
	DefaultLease   = 2 * time.Minute
)

// Config holds a Refresher's dependencies and settings.
type Config struct {
	Store    Store
	Queue    Queue
	Provider weather.Provider // nil turns fetching off; jobs are then left in the queue
	Logger   *slog.Logger
	// Interval is the length of a refresh window: every place is fetched
	// once per window (default weather.DefaultInterval).
	Interval time.Duration
	// Workers is the number of consuming goroutines (default DefaultWorkers).
	Workers int
	// Rate caps provider requests per second in this process (default DefaultRate).
	Rate float64
	// DailyBudget caps provider calls per UTC day across every process
	// sharing the database; 0 means no cap.
	DailyBudget int64
	// Owner names this process in claims; default host-pid-random.
	Owner string
	// Lease bounds how long a claim blocks others if its holder dies
	// (default DefaultLease; must exceed a provider call with its retries).
	Lease time.Duration
	// SweepEvery is how often the data is checked between windows: newly
	// imported places and due retries are queued, and a window that should
	// have opened (a missed tick) opens (default 30s, at most Interval/4).
	SweepEvery time.Duration
	// RetryBase is the delay before the first retry after a temporary
	// failure; it doubles with each further failure up to RetryMax, and is
	// jittered (half fixed, half random). Defaults: 30s and Interval/4
	// capped at 30m, the base no longer than the cap.
	RetryBase, RetryMax time.Duration
	// PermanentBackoff holds back a location the provider does not know
	// (default 24h).
	PermanentBackoff time.Duration
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// Metrics, when set, receives the pipeline's metrics: provider calls
	// by outcome, queue depth and the age of the oldest weather.
	Metrics *metrics.Set
	// Webhooks, when set, delivers webhooks through the same queue and
	// workers (webhooks.go), with or without a weather provider.
	Webhooks *WebhookConfig
}

// Refresher runs the scheduler and the worker pool.
type Refresher struct {
	cfg     Config
	log     *slog.Logger
	limiter *rate.Limiter
	hooks   *webhooks // nil: deliveries off

	mu     sync.Mutex
	status Status
	window store.Window // the newest window this process has seen
	// windowJob is set once the window-aligned tick is scheduled.
	windowJob bool
	// queueAll makes the first tick queue every due place, queued or not:
	// an in-process queue lost its jobs with the previous process.
	queueAll atomic.Bool

	sched  gocron.Scheduler
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// stopOnce starts the stop once; stopped closes when the scheduler and
	// every worker have stopped, schedErr is the scheduler's.
	stopOnce sync.Once
	stopped  chan struct{}
	schedErr error
}

// Status is the refresh window's state; its type lives in weather so that
// the API can serve it without depending on the jobs.
type Status = weather.RefreshStatus

// New checks cfg and fills in defaults.
func New(cfg Config) (*Refresher, error) {
	if cfg.Store == nil || cfg.Queue == nil {
		return nil, errors.New("jobs: Store and Queue are required")
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	cfg.Interval = defaults.Positive(cfg.Interval, weather.DefaultInterval)
	cfg.Workers = defaults.Positive(cfg.Workers, DefaultWorkers)
	cfg.Rate = defaults.Positive(cfg.Rate, DefaultRate)
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		cfg.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	cfg.Lease = defaults.Positive(cfg.Lease, DefaultLease)
	cfg.SweepEvery = defaults.Positive(cfg.SweepEvery, min(30*time.Second, cfg.Interval/4))
	cfg.RetryMax = defaults.Positive(cfg.RetryMax, min(cfg.Interval/4, 30*time.Minute))
	cfg.RetryBase = min(defaults.Positive(cfg.RetryBase, 30*time.Second), cfg.RetryMax)
	cfg.PermanentBackoff = defaults.Positive(cfg.PermanentBackoff, 24*time.Hour)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Refresher{
		cfg: cfg, log: cfg.Logger.With("component", "weather"),
		limiter: rate.NewLimiter(rate.Limit(cfg.Rate), 1),
	}
	if cfg.Webhooks != nil {
		if cfg.Webhooks.Store == nil || cfg.Webhooks.Shipment == nil {
			return nil, errors.New("jobs: Webhooks needs Store and Shipment")
		}
		r.hooks = newWebhooks(*cfg.Webhooks, cfg.Workers)
	}
	r.status.Provider = "off"
	if cfg.Provider != nil {
		r.status.Provider = cfg.Provider.Name()
	}
	r.status.Interval = cfg.Interval.String()
	if cfg.Metrics != nil {
		if err := r.registerMetrics(cfg.Metrics); err != nil {
			return nil, err
		}
		if r.hooks != nil {
			if err := r.registerWebhookMetrics(cfg.Metrics); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// registerMetrics adds the pipeline's gauges to set. A set that has them
// already (a second Refresher) is an error, not the library's panic.
func (r *Refresher) registerMetrics(set *metrics.Set) error {
	if slices.Contains(set.ListMetricNames(), "shiptrack_weather_queue_depth") {
		return errors.New("jobs: metrics: the weather metrics are already registered in this set")
	}
	gauge := func(name string, f func(ctx context.Context) float64) {
		set.NewGauge("shiptrack_weather_"+name, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return f(ctx)
		})
	}
	// Refresh jobs waiting in the queue (-1 when the queue is down).
	gauge("queue_depth", func(ctx context.Context) float64 {
		n, err := r.cfg.Queue.Len(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	// Age of the least recently fetched location's weather (0 before any
	// fetch, -1 when the database is down).
	gauge("oldest_age_seconds", func(ctx context.Context) float64 {
		t, ok, err := r.cfg.Store.OldestWeather(ctx)
		switch {
		case err != nil:
			return -1
		case !ok:
			return 0
		}
		return r.cfg.Now().Sub(t).Seconds()
	})
	return nil
}

// countFetch counts one weather provider call by provider and outcome
// (ok, error, not_found, refused): shiptrack_weather_fetches_total. Both
// labels are names from this code, with nothing to escape.
func (r *Refresher) countFetch(outcome string) {
	if r.cfg.Metrics == nil {
		return
	}
	r.cfg.Metrics.GetOrCreateCounter(`shiptrack_weather_fetches_total{outcome="` + outcome +
		`",provider="` + r.cfg.Provider.Name() + `"}`).Inc()
}

// Start runs the scheduler and the worker pool until Stop. A tick runs at
// once and then every SweepEvery; once the current window is known, a
// tick also runs at the start of every window, so a window opens on time
// rather than at the next sweep.
func (r *Refresher) Start(ctx context.Context) error {
	if r.cfg.Provider == nil && r.hooks == nil {
		return nil // weather and webhooks off: queue nothing that nobody would consume
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	s, err := gocron.NewScheduler(gocron.WithLocation(time.UTC))
	if err != nil {
		cancel()
		return fmt.Errorf("jobs: scheduler: %w", err)
	}
	rec, recoverable := r.cfg.Queue.(Recoverer)
	if !recoverable {
		r.queueAll.Store(true)
		if r.hooks != nil {
			r.hooks.releaseAll.Store(true)
		}
	}
	r.mu.Lock()
	r.sched = s
	r.mu.Unlock()
	// Each runs at once, then every period, never two runs of one at once.
	type periodic struct {
		on     bool
		name   string
		period time.Duration
		task   func()
	}
	for _, p := range []periodic{
		{r.cfg.Provider != nil, "weather-sweep", r.cfg.SweepEvery, func() { _, _ = r.tick(ctx) }},
		// The weather sweep returns dead consumers' jobs; without it
		// their webhook jobs would wait for their claims to run out.
		{r.cfg.Provider == nil && recoverable, "queue-recover", r.cfg.SweepEvery, func() { _ = r.recoverJobs(ctx, rec) }},
		{r.hooks != nil, "webhook-sweep", r.hooks.pollEvery(), func() { r.sweepWebhooks(ctx) }},
	} {
		if !p.on {
			continue
		}
		_, err = s.NewJob(gocron.DurationJob(p.period), gocron.NewTask(p.task),
			gocron.WithStartAt(gocron.WithStartImmediately()),
			gocron.WithSingletonMode(gocron.LimitModeReschedule),
			gocron.WithName(p.name))
		if err != nil {
			cancel()
			return fmt.Errorf("jobs: schedule: %w", err)
		}
	}
	s.Start()
	for range r.cfg.Workers {
		r.wg.Go(func() { r.work(ctx) })
	}
	return nil
}

// scheduleWindows adds the tick at the start of every window, aligned on
// the shared grid that w belongs to. It runs once per process.
func (r *Refresher) scheduleWindows(ctx context.Context, w store.Window) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sched == nil || r.windowJob || w.Start.IsZero() {
		return
	}
	// The grid is in the store's time (Now); the scheduler runs on the
	// real clock.
	at := time.Now().Add(w.Start.Add(r.cfg.Interval).Sub(r.cfg.Now()))
	if !at.After(time.Now()) {
		at = time.Now().Add(time.Second)
	}
	_, err := r.sched.NewJob(gocron.DurationJob(r.cfg.Interval),
		gocron.NewTask(func() { _, _ = r.tick(ctx) }),
		gocron.WithStartAt(gocron.WithStartDateTime(at)),
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
		gocron.WithName("weather-window"))
	if err != nil {
		r.log.Warn("could not schedule the window tick; windows open at the next sweep", "error", err)
		return
	}
	r.windowJob = true
}

// Stop cancels the running tick and the workers and stops the scheduler:
// a worker in the middle of a job finishes its write or puts the job back
// on the queue. It returns when all have stopped, or with an error when
// ctx is done first; the caller must then Wait before closing the queue
// or the database, which the workers still use to settle their jobs.
func (r *Refresher) Stop(ctx context.Context) error {
	r.stopOnce.Do(func() {
		r.stopped = make(chan struct{})
		// Cancelled first, so a tick blocked on Redis or the database ends
		// now rather than holding up the scheduler's shutdown.
		if r.cancel != nil {
			r.cancel()
		}
		go func() {
			defer close(r.stopped)
			if r.sched != nil {
				r.schedErr = r.sched.Shutdown()
			}
			r.wg.Wait()
		}()
	})
	select {
	case <-r.stopped:
	case <-ctx.Done():
		return fmt.Errorf("jobs: stop: %w", ctx.Err())
	}
	if r.schedErr != nil {
		return fmt.Errorf("jobs: stop scheduler: %w", r.schedErr)
	}
	return nil
}

// Wait returns once a Stop has finished: the scheduler and every worker
// have stopped. It does not wait forever: after Stop cancels them, a
// worker's remaining steps (release the claim, record the outcome, settle
// the job) each have their own 5 s bound.
func (r *Refresher) Wait() {
	_ = r.Stop(context.Background()) // only waits; the first Stop reported any error
}

// RunOnce is one tick: it returns the jobs of dead consumers to the
// queue, opens a new window when one is due, and queues every place due
// and not queued yet: new places, places not fetched in the current
// window, and retries whose time has come. It returns the number of jobs
// queued.
func (r *Refresher) RunOnce(ctx context.Context) (int, error) { return r.tick(ctx) }

func (r *Refresher) tick(ctx context.Context) (int, error) {
	if rec, ok := r.cfg.Queue.(Recoverer); ok {
		if err := r.recoverJobs(ctx, rec); err != nil {
			return 0, r.runFailed(err, reasonQueue)
		}
	}
	now := r.cfg.Now()
	w, err := r.cfg.Store.AdvanceWindow(ctx, now, r.cfg.Interval)
	if err != nil {
		return 0, r.runFailed(err, reasonStore(err))
	}
	r.observe(w)
	r.scheduleWindows(ctx, w)
	ids, err := r.cfg.Store.QueueNew(ctx, now)
	if err != nil {
		return 0, r.runFailed(err, reasonStore(err))
	}
	all := r.queueAll.Load()
	due, err := r.cfg.Store.QueueDue(ctx, w.Start, now, all)
	reason := reasonStore(err)
	if err == nil {
		ids = appendNew(ids, due)
		err, reason = r.push(ctx, ids), reasonQueue
	}
	if err != nil {
		if uerr := r.cfg.Store.UnmarkQueued(context.WithoutCancel(ctx), ids); uerr != nil {
			r.log.Warn("could not unmark unqueued places; the next window queues them", "error", uerr)
		}
		return 0, r.runFailed(err, reason)
	}
	r.queueAll.Store(false)
	r.count(func(s *Status) { s.LastQueued += len(ids); s.LastError = "" })
	if len(ids) > 0 {
		r.log.InfoContext(ctx, "weather refresh queued", "locations", len(ids), "window", w.Start)
	}
	return len(ids), nil
}

// recoverJobs returns the jobs of dead consumers to the queue.
func (r *Refresher) recoverJobs(ctx context.Context, rec Recoverer) error {
	n, err := rec.Recover(ctx)
	if err != nil {
		if r.cfg.Provider == nil && ctx.Err() == nil { // else the tick reports it
			r.log.Warn("could not return jobs of stopped workers; the next sweep retries", "error", err)
		}
		return err
	}
	if n > 0 {
		r.log.InfoContext(ctx, "returned jobs of stopped workers to the queue", "jobs", n)
	}
	return nil
}

// observe notes the current window; a new one starts this process's
// counts afresh and ends a refusal, so the provider is tried again.
func (r *Refresher) observe(w store.Window) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w.Seq == r.window.Seq {
		return
	}
	r.window = w
	st := &r.status
	st.LastRunAt = w.Start.UTC().Truncate(time.Second) // RFC 3339 without fractions in JSON
	st.NextRunAt = w.Start.Add(r.cfg.Interval).UTC().Truncate(time.Second)
	st.LastQueued, st.Fetched, st.Failed, st.Skipped = 0, 0, 0, 0
	st.Refusing, st.RefusedReason, st.BudgetExhausted = false, "", false
}

// appendNew appends the ids of more that ids lacks.
func appendNew(ids, more []uint64) []uint64 {
	seen := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	for _, id := range more {
		if !seen[id] {
			ids = append(ids, id)
		}
	}
	return ids
}

// push queues one job per place.
func (r *Refresher) push(ctx context.Context, ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	jobs := make([]Job, len(ids))
	for i, id := range ids {
		jobs[i] = Job{LocationID: id}
	}
	return r.cfg.Queue.Push(ctx, jobs...)
}

// runFailed logs a failed tick in full; the public status gets only the
// short reason (no addresses, no driver text).
func (r *Refresher) runFailed(err error, reason string) error {
	r.log.Error("weather refresh run failed; the next run retries", "error", err)
	r.mu.Lock()
	r.status.LastError = reason
	r.mu.Unlock()
	return err
}

// Public reasons a tick failed, for Status.LastError.
const (
	reasonQueue = "job queue unavailable"
	reasonDB    = "database unavailable"
)

func reasonStore(err error) string {
	if err == nil || errors.Is(err, shipment.ErrUnavailable) {
		return reasonDB
	}
	return "database error"
}

// Status returns the current window's figures, the queue depth and the
// retries waiting.
func (r *Refresher) Status(ctx context.Context) Status {
	r.mu.Lock()
	st := r.status
	r.mu.Unlock()
	n, err := r.cfg.Queue.Len(ctx)
	if err != nil {
		n = -1
	}
	st.QueueDepth = n
	st.RetryWaiting = -1
	if w, err := r.cfg.Store.CurrentWindow(ctx); err == nil {
		if waiting, next, err := r.cfg.Store.RetryStats(ctx, w.Start); err == nil {
			st.RetryWaiting = waiting
			if waiting > 0 {
				next = next.UTC().Truncate(time.Second)
				st.NextRetryAt = &next
			}
		}
	}
	return st
}

// refusing reports whether the provider refused us in the current window.
func (r *Refresher) refusing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status.Refusing
}

// work consumes jobs until ctx is cancelled. A queue that is down pauses
// the worker with a growing delay; nothing is lost because jobs stay in
// Redis and the next run re-queues whatever is still due.
func (r *Refresher) work(ctx context.Context) {
	backoff := time.Second
	for {
		d, err := r.cfg.Queue.Pop(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return
			}
			r.log.Warn("weather jobs paused: queue unavailable", "error", err, "retry_in", backoff.String())
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, 30*time.Second)
			continue
		}
		backoff = time.Second
		r.handle(ctx, d)
	}
}

// handle runs one job and settles its delivery.
func (r *Refresher) handle(ctx context.Context, d Delivery) {
	if d.Job().Kind == KindWebhook {
		r.deliver(ctx, d)
		return
	}
	id := d.Job().LocationID
	if r.cfg.Provider == nil {
		// Weather is off here (webhooks only) but another replica sharing
		// the queue queued it: back to the queue for that one, after a
		// pause so this worker does not spin on it.
		sleep(ctx, time.Second)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = d.Nack(sctx)
		return
	}
	settle := func(ack bool) {
		// Settle even while shutting down, so the job is acked or back
		// in the queue before the process exits.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		var err error
		if ack {
			err = d.Ack(sctx)
		} else {
			err = d.Nack(sctx)
		}
		if err != nil && !errors.Is(err, ErrLost) {
			r.log.Warn("could not settle weather job", "location_id", id, "ack", ack, "error", err)
		}
	}
	if r.refusing() {
		settle(true) // the window is stopped; the next one queues it again
		return
	}
	claimed, ok := r.claim(ctx, id)
	if !ok {
		settle(false)
		return
	}
	if !claimed {
		r.count(func(s *Status) { s.Skipped++ })
		settle(true)
		return
	}
	settle(r.fetch(ctx, id))
}

// claim waits until this worker holds the location's claim (true), finds
// it fresh (false), or must give up (ok false: shutting down, database
// down).
func (r *Refresher) claim(ctx context.Context, id uint64) (claimed, ok bool) {
	for {
		now := r.cfg.Now()
		// The window is read from the store, not remembered: the job may
		// have been queued by a replica that opened a newer one.
		w, err := r.cfg.Store.CurrentWindow(ctx)
		var res store.ClaimResult
		if err == nil {
			res, err = r.cfg.Store.ClaimWeather(ctx, id, r.cfg.Owner, now, w.Start, now.Add(r.cfg.Lease))
		}
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("weather claim failed; job returned to the queue", "location_id", id, "error", err)
				sleep(ctx, time.Second)
			}
			return false, false
		}
		switch res {
		case store.Claimed:
			return true, true
		case store.Fresh:
			return false, true
		}
		// Busy: another worker is fetching it (a duplicate job) or died
		// holding it; wait for its result or for the lease to lapse.
		if !sleep(ctx, 250*time.Millisecond) {
			return false, false
		}
	}
}

// fetch calls the provider for a claimed location and records the
// outcome. It reports whether the job is done (ack) or must go back to the
// queue (shutdown).
func (r *Refresher) fetch(ctx context.Context, id uint64) bool {
	owner := r.cfg.Owner
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := r.cfg.Store.ReleaseClaim(rctx, id, owner); err != nil {
			r.log.Warn("could not release weather claim; it lapses with its lease", "location_id", id, "error", err)
		}
	}
	loc, err := r.cfg.Store.Location(ctx, id)
	if err != nil {
		release()
		if errors.Is(err, shipment.ErrNotFound) {
			return true
		}
		return false
	}
	if r.cfg.DailyBudget > 0 {
		ok, err := r.cfg.Store.TakeBudget(ctx, r.cfg.Now(), r.cfg.Provider.Name(), r.cfg.DailyBudget)
		if err != nil || !ok {
			release()
			if err == nil {
				r.count(func(s *Status) { s.BudgetExhausted = true })
				r.log.Warn("daily weather budget spent; location waits for tomorrow's runs", "location_id", id, "budget", r.cfg.DailyBudget)
			}
			return err == nil
		}
	}
	if err := r.limiter.Wait(ctx); err != nil {
		release()
		return false
	}
	q := weather.Query{City: loc.City, Country: loc.Country, PostalCode: loc.PostalCode}
	obs, err := r.cfg.Provider.Current(ctx, q)
	now := r.cfg.Now()
	if err != nil && ctx.Err() != nil {
		release() // shutting down mid-call: the job goes back to the queue
		return false
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err == nil {
		err = r.cfg.Store.SaveWeather(wctx, owner, shipment.Weather{
			LocationID: id, Query: q.String(), TemperatureC: obs.TemperatureC,
			Condition: obs.Condition, ConditionCode: obs.ConditionCode, Humidity: obs.Humidity,
			WindKph: obs.WindKph, ObservedAt: obs.ObservedAt, FetchedAt: now, Provider: r.cfg.Provider.Name(),
		})
		if err == nil {
			// Counted after the write, so whoever reads the count can
			// read the row.
			r.count(func(s *Status) { s.Fetched++ })
			r.countFetch("ok")
			r.log.Debug("weather fetched", "location_id", id, "query", q.String())
			return true
		}
		// An answer the database refuses is a failed fetch like any
		// other: recorded, retried, and the claim released.
		err = fmt.Errorf("could not store the provider's answer: %w", err)
	}
	r.fail(wctx, id, q, now, err)
	return true
}

// fail records a failed fetch of a claimed place and schedules what
// follows: a retry with backoff after a temporary failure, a day's pause
// for a place the provider does not know, nothing before the next window
// when the provider refuses us.
func (r *Refresher) fail(ctx context.Context, id uint64, q weather.Query, now time.Time, err error) {
	f := store.Failure{Message: err.Error(), At: now}
	outcome := "error"
	switch {
	case errors.Is(err, weather.ErrLocationNotFound):
		outcome = "not_found"
		f.RetryAt = now.Add(r.cfg.PermanentBackoff)
		r.log.Warn("weather provider does not know this location; held back", "location_id", id, "query", q.String(), "until", f.RetryAt, "error", err)
	case errors.Is(err, weather.ErrRefused):
		outcome = "refused"
		// The public status gets a short reason; the provider's message,
		// which may echo the key, goes to the (redacted) log only.
		r.count(func(s *Status) { s.Refusing, s.RefusedReason = true, weather.PublicReason(err) })
		r.log.Error("weather provider refused us (key or quota); stopped until the next window", "error", err)
	default:
		failures := 1
		if w, werr := r.cfg.Store.WeatherOf(ctx, id); werr == nil {
			failures += w.Failures
		}
		f.Temporary, f.RetryAt = true, now.Add(r.retryDelay(failures, weather.RetryAfter(err)))
		r.log.Warn("weather fetch failed; retrying", "location_id", id, "query", q.String(), "failures", failures, "retry_at", f.RetryAt, "error", err)
	}
	r.countFetch(outcome)
	if serr := r.cfg.Store.SaveWeatherError(ctx, id, r.cfg.Owner, f); serr != nil {
		r.log.Warn("could not record weather failure; the claim lapses with its lease", "location_id", id, "error", serr)
	}
	// Counted after the write, like successes.
	r.count(func(s *Status) { s.Failed++ })
}

// retryDelay is the wait before retry number failures: RetryBase doubled
// per earlier failure up to RetryMax, half of it random so that places
// failed together do not retry in lockstep, and never shorter than the
// provider's Retry-After (up to one interval: the next window tries
// anyway).
func (r *Refresher) retryDelay(failures int, retryAfter time.Duration) time.Duration {
	d := r.cfg.RetryBase
	for i := 1; i < failures && d < r.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, r.cfg.RetryMax)
	d = d/2 + mrand.N(d/2+1)
	if retryAfter > d {
		d = min(retryAfter, r.cfg.Interval)
	}
	return d
}

func (r *Refresher) count(f func(*Status)) {
	r.mu.Lock()
	f(&r.status)
	r.mu.Unlock()
}

// sleep waits d or until ctx is done; it reports whether it slept fully.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
