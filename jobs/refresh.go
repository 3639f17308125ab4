// Package jobs keeps the weather of every receiver location fresh: a gocron
// scheduler pushes one refresh job per due location onto a queue (Redis or
// in-process), and a pool of goroutines consumes the jobs, calls the
// weather provider and writes the result through the store.
//
// The scheduler only triggers. "At most one provider call per location per
// interval" is a property of the data: a worker calls the provider only
// after winning the store's conditional claim on the location, so duplicate
// jobs, restarts and replicas sharing a database cost no extra calls.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/weather"
)

// Store is what the weather jobs need from the database.
type Store interface {
	DueLocations(ctx context.Context, staleBefore, now time.Time) ([]uint64, error)
	UnqueuedLocations(ctx context.Context) ([]uint64, error)
	MarkQueued(ctx context.Context, ids []uint64) error
	Location(ctx context.Context, id uint64) (store.Location, error)
	ClaimWeather(ctx context.Context, locationID uint64, owner string, now, staleBefore, leaseUntil time.Time) (store.ClaimResult, error)
	SaveWeather(ctx context.Context, owner string, w store.Weather) error
	SaveWeatherError(ctx context.Context, locationID uint64, owner, msg string, at time.Time, nextAttempt *time.Time) error
	ReleaseClaim(ctx context.Context, locationID uint64, owner string) error
	TakeBudget(ctx context.Context, day time.Time, provider string, limit int64) (bool, error)
	OldestWeather(ctx context.Context) (time.Time, bool, error)
}

// Recoverer is a queue that can hand back the jobs of consumers that died
// holding them (the Redis queue).
type Recoverer interface {
	Recover(ctx context.Context) (int, error)
}

// Config holds a Refresher's dependencies and settings.
type Config struct {
	Store    Store
	Queue    Queue
	Provider weather.Provider // nil turns fetching off; jobs are then left in the queue
	Logger   *slog.Logger
	// Interval is how often due locations are queued, and how old weather
	// may get before it is due again (default 2h).
	Interval time.Duration
	// Workers is the number of consuming goroutines (default 4).
	Workers int
	// Rate caps provider requests per second in this process (default 5).
	Rate float64
	// DailyBudget caps provider calls per UTC day across every process
	// sharing the database; 0 means no cap.
	DailyBudget int64
	// Owner names this process in claims; default host-pid-random.
	Owner string
	// Lease bounds how long a claim blocks others if its holder dies
	// (default 2m; must exceed a provider call with its retries).
	Lease time.Duration
	// SweepEvery is how often newly imported locations are looked for and
	// queued at once rather than at the next interval (default 30s).
	SweepEvery time.Duration
	// PermanentBackoff holds back a location the provider does not know
	// (default 24h).
	PermanentBackoff time.Duration
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// Metrics, when set, receives the pipeline's metrics: provider calls
	// by outcome, queue depth and the age of the oldest weather.
	Metrics prometheus.Registerer
}

// Refresher runs the scheduler and the worker pool.
type Refresher struct {
	cfg     Config
	log     *slog.Logger
	limiter *rate.Limiter

	mu     sync.Mutex
	status Status

	fetches *prometheus.CounterVec

	sched  gocron.Scheduler
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Status describes the last refresh run, for GET /weather/status.
type Status struct {
	Provider   string    `json:"provider"`
	Interval   string    `json:"interval"`
	LastRunAt  time.Time `json:"last_run_at"`
	LastQueued int       `json:"last_run_queued"`
	// Fetched, Failed and Skipped count jobs finished since the last run
	// started; Skipped ones needed no call (already fresh).
	Fetched int64 `json:"fetched"`
	Failed  int64 `json:"failed"`
	Skipped int64 `json:"skipped"`
	// QueueDepth is the number of jobs waiting, -1 when the queue is down.
	QueueDepth int64 `json:"queue_depth"`
	// Refusing is true when the provider refused us as a whole (bad key,
	// quota); the run stopped and the next one tries again.
	Refusing      bool   `json:"refusing"`
	RefusedReason string `json:"refused_reason,omitempty"`
	// BudgetExhausted is true when today's call budget is spent.
	BudgetExhausted bool   `json:"budget_exhausted"`
	LastError       string `json:"last_error,omitempty"`
}

// New checks cfg and fills in defaults.
func New(cfg Config) (*Refresher, error) {
	if cfg.Store == nil || cfg.Queue == nil {
		return nil, errors.New("jobs: Store and Queue are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Hour
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 5
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		cfg.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = 30 * time.Second
	}
	if cfg.PermanentBackoff <= 0 {
		cfg.PermanentBackoff = 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Refresher{
		cfg: cfg, log: cfg.Logger.With("component", "weather"),
		limiter: rate.NewLimiter(rate.Limit(cfg.Rate), 1),
	}
	r.status.Provider = "off"
	if cfg.Provider != nil {
		r.status.Provider = cfg.Provider.Name()
	}
	r.status.Interval = cfg.Interval.String()
	r.fetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "shiptrack", Subsystem: "weather", Name: "fetches_total",
		Help: "Weather provider calls by provider and outcome (ok, error, not_found, refused).",
	}, []string{"provider", "outcome"})
	if cfg.Metrics != nil {
		if err := r.registerMetrics(cfg.Metrics); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *Refresher) registerMetrics(reg prometheus.Registerer) error {
	gauge := func(name, help string, f func(ctx context.Context) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "shiptrack", Subsystem: "weather", Name: name, Help: help},
			func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				return f(ctx)
			})
	}
	for _, c := range []prometheus.Collector{
		r.fetches,
		gauge("queue_depth", "Refresh jobs waiting in the queue (-1 when the queue is down).", func(ctx context.Context) float64 {
			n, err := r.cfg.Queue.Len(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}),
		gauge("oldest_age_seconds", "Age of the least recently fetched location's weather (0 before any fetch, -1 when the database is down).", func(ctx context.Context) float64 {
			t, ok, err := r.cfg.Store.OldestWeather(ctx)
			switch {
			case err != nil:
				return -1
			case !ok:
				return 0
			}
			return r.cfg.Now().Sub(t).Seconds()
		}),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("jobs: metrics: %w", err)
		}
	}
	return nil
}

// Start runs the scheduler (a run right away, then every Interval, plus
// the new-location sweep) and the worker pool until Stop.
func (r *Refresher) Start(ctx context.Context) error {
	if r.cfg.Provider == nil {
		return nil // weather off: queue nothing that nobody would consume
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	s, err := gocron.NewScheduler(gocron.WithLocation(time.UTC))
	if err != nil {
		cancel()
		return fmt.Errorf("jobs: scheduler: %w", err)
	}
	_, err = s.NewJob(gocron.DurationJob(r.cfg.Interval),
		gocron.NewTask(func() { _, _ = r.RunOnce(ctx) }),
		gocron.WithStartAt(gocron.WithStartImmediately()),
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
		gocron.WithName("weather-refresh"))
	if err == nil {
		_, err = s.NewJob(gocron.DurationJob(r.cfg.SweepEvery),
			gocron.NewTask(func() { _, _ = r.Sweep(ctx) }),
			gocron.WithSingletonMode(gocron.LimitModeReschedule),
			gocron.WithName("weather-new-locations"))
	}
	if err != nil {
		cancel()
		return fmt.Errorf("jobs: schedule: %w", err)
	}
	r.sched = s
	s.Start()
	for range r.cfg.Workers {
		r.wg.Go(func() { r.work(ctx) })
	}
	return nil
}

// Stop stops the scheduler, then the workers: a worker in the middle of a
// job finishes its write or puts the job back on the queue. It returns
// when all have stopped or ctx is done.
func (r *Refresher) Stop(ctx context.Context) error {
	var err error
	if r.sched != nil {
		err = r.sched.Shutdown()
	}
	if r.cancel != nil {
		r.cancel()
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("jobs: stop: %w", ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("jobs: stop scheduler: %w", err)
	}
	return nil
}

// RunOnce is one scheduled run: it returns the jobs of dead consumers to
// the queue, then queues every location whose weather is missing or older
// than Interval. It returns the number of jobs queued.
func (r *Refresher) RunOnce(ctx context.Context) (int, error) {
	now := r.cfg.Now()
	r.mu.Lock()
	r.status.LastRunAt = now.UTC().Truncate(time.Second) // RFC 3339 without fractions in JSON
	r.status.Fetched, r.status.Failed, r.status.Skipped = 0, 0, 0
	r.status.Refusing, r.status.RefusedReason, r.status.BudgetExhausted = false, "", false
	r.mu.Unlock()
	if rec, ok := r.cfg.Queue.(Recoverer); ok {
		n, err := rec.Recover(ctx)
		if err != nil {
			return 0, r.runFailed(err)
		}
		if n > 0 {
			r.log.InfoContext(ctx, "returned jobs of stopped workers to the queue", "jobs", n)
		}
	}
	ids, err := r.cfg.Store.DueLocations(ctx, now.Add(-r.cfg.Interval), now)
	if err != nil {
		return 0, r.runFailed(err)
	}
	if err := r.push(ctx, ids); err != nil {
		return 0, r.runFailed(err)
	}
	r.mu.Lock()
	r.status.LastQueued, r.status.LastError = len(ids), ""
	r.mu.Unlock()
	r.log.InfoContext(ctx, "weather refresh queued", "locations", len(ids))
	return len(ids), nil
}

// Sweep queues locations created since the last look (a fresh import), so
// their weather does not wait for the next interval.
func (r *Refresher) Sweep(ctx context.Context) (int, error) {
	ids, err := r.cfg.Store.UnqueuedLocations(ctx)
	if err != nil {
		r.log.WarnContext(ctx, "new-location sweep failed", "error", err)
		return 0, err
	}
	if err := r.push(ctx, ids); err != nil {
		r.log.WarnContext(ctx, "new-location sweep failed", "error", err)
		return 0, err
	}
	if len(ids) > 0 {
		r.log.InfoContext(ctx, "queued new locations", "locations", len(ids))
	}
	return len(ids), nil
}

// push queues one job per location, then marks them queued so the sweep
// does not queue them again; a failed push marks nothing.
func (r *Refresher) push(ctx context.Context, ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	jobs := make([]Job, len(ids))
	for i, id := range ids {
		jobs[i] = Job{LocationID: id}
	}
	if err := r.cfg.Queue.Push(ctx, jobs...); err != nil {
		return err
	}
	return r.cfg.Store.MarkQueued(ctx, ids)
}

func (r *Refresher) runFailed(err error) error {
	r.log.Error("weather refresh run failed; the next run retries", "error", err)
	r.mu.Lock()
	r.status.LastError = err.Error()
	r.mu.Unlock()
	return err
}

// Status returns the last run's figures and the queue depth.
func (r *Refresher) Status(ctx context.Context) Status {
	r.mu.Lock()
	st := r.status
	r.mu.Unlock()
	n, err := r.cfg.Queue.Len(ctx)
	if err != nil {
		n = -1
	}
	st.QueueDepth = n
	return st
}

// Refusing reports whether the provider refused us in the current run.
func (r *Refresher) Refusing() (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status.Refusing, r.status.RefusedReason
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
	id := d.Job().LocationID
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
	if refusing, _ := r.Refusing(); refusing {
		settle(true) // the run is stopped; the next run queues it again
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
		res, err := r.cfg.Store.ClaimWeather(ctx, id, r.cfg.Owner, now, now.Add(-r.cfg.Interval), now.Add(r.cfg.Lease))
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
		if errors.Is(err, store.ErrNotFound) {
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
		err = r.cfg.Store.SaveWeather(wctx, owner, store.Weather{
			LocationID: id, Query: q.String(), TemperatureC: obs.TemperatureC,
			Condition: obs.Condition, ConditionCode: obs.ConditionCode, Humidity: obs.Humidity,
			WindKph: obs.WindKph, ObservedAt: obs.ObservedAt, FetchedAt: now, Provider: r.cfg.Provider.Name(),
		})
		if err != nil {
			r.log.Warn("could not save weather; the next run fetches it again", "location_id", id, "error", err)
			return true
		}
		r.count(func(s *Status) { s.Fetched++ })
		r.fetches.WithLabelValues(r.cfg.Provider.Name(), "ok").Inc()
		r.log.Debug("weather fetched", "location_id", id, "query", q.String())
		return true
	}
	r.count(func(s *Status) { s.Failed++ })
	outcome := "error"
	var next *time.Time
	switch {
	case errors.Is(err, weather.ErrLocationNotFound):
		outcome = "not_found"
		t := now.Add(r.cfg.PermanentBackoff)
		next = &t
		r.log.Warn("weather provider does not know this location; held back", "location_id", id, "query", q.String(), "until", t, "error", err)
	case errors.Is(err, weather.ErrRefused):
		outcome = "refused"
		r.count(func(s *Status) { s.Refusing, s.RefusedReason = true, err.Error() })
		r.log.Error("weather provider refused us (key or quota); run stopped until the next interval", "error", err)
	default:
		r.log.Warn("weather fetch failed; the next run retries", "location_id", id, "query", q.String(), "error", err)
	}
	r.fetches.WithLabelValues(r.cfg.Provider.Name(), outcome).Inc()
	if serr := r.cfg.Store.SaveWeatherError(wctx, id, owner, err.Error(), now, next); serr != nil {
		r.log.Warn("could not record weather failure", "location_id", id, "error", serr)
	}
	return true
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
