package api

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Limit is a per-client allowance: Burst events at once, then one more
// every Every (a token bucket, which is what GCRA computes).
type Limit struct {
	Every time.Duration
	Burst int
}

// RateLimiter counts one kind of event per client. It answers even when
// its store fails (see RedisLimits), so callers have no error to handle.
type RateLimiter interface {
	// Allow spends one event of key's allowance if there is one; if not,
	// it spends nothing and says how long until there will be.
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration)
	// Exhausted says, spending nothing, whether key has no event left now
	// and how long until it has one.
	Exhausted(ctx context.Context, key string) (exhausted bool, retryAfter time.Duration)
}

// Limits makes the API's per-client limiters, one per kind of event.
// MemoryLimits counts in this process; RedisLimits counts in Redis, so
// replicas behind one address share one allowance per client.
type Limits interface {
	Limiter(name string, l Limit) RateLimiter
}

// MemoryLimits counts in this process: each replica has its own counts.
type MemoryLimits struct{}

// Limiter returns an in-memory limiter.
func (MemoryLimits) Limiter(_ string, l Limit) RateLimiter { return newMemoryLimiter(l) }

// memoryLimiter keeps a golang.org/x/time/rate bucket per client. A bucket
// left alone for the time it takes to refill is full, the same as a new
// one, so it is dropped then; that bounds memory by the clients seen in
// that time.
type memoryLimiter struct {
	limit     rate.Limit
	burst     int
	idle      time.Duration
	mu        sync.Mutex
	buckets   map[string]*bucket
	nextSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newMemoryLimiter(l Limit) *memoryLimiter {
	burst := max(1, l.Burst)
	return &memoryLimiter{
		limit: rate.Every(l.Every), burst: burst,
		idle:    max(time.Minute, l.Every*time.Duration(burst)),
		buckets: make(map[string]*bucket),
	}
}

// bucketFor returns key's bucket, sweeping the idle ones now and then.
// The caller holds mu.
func (m *memoryLimiter) bucketFor(key string, now time.Time) *rate.Limiter {
	if now.After(m.nextSweep) {
		for k, b := range m.buckets {
			if now.Sub(b.seen) > m.idle {
				delete(m.buckets, k)
			}
		}
		m.nextSweep = now.Add(time.Minute)
	}
	b := m.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(m.limit, m.burst)}
		m.buckets[key] = b
	}
	b.seen = now
	return b.lim
}

func (m *memoryLimiter) Allow(_ context.Context, key string) (bool, time.Duration) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.bucketFor(key, now).ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (m *memoryLimiter) Exhausted(_ context.Context, key string) (bool, time.Duration) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	tokens := m.bucketFor(key, now).TokensAt(now)
	if tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - tokens) / float64(m.limit) * float64(time.Second))
}

// RedisLimits counts in Redis with github.com/go-redis/redis_rate (GCRA in
// one Lua script per decision, atomic across replicas, keys expiring on
// their own), so 3 replicas behind one address enforce one limit per
// client, not three.
//
// When Redis fails (down, slower than Timeout), decisions fall back to
// this process's own in-memory limiter, as without Redis, at once and
// without waiting on Redis, until a probe every RetryAfter finds it
// answering. Why not fail closed: Redis holds only the job queue and these
// counts, and lookups are served from the database; refusing them all
// would turn a Redis outage into an API outage. Why not fail open: the
// limits still hold per replica (at most replicas × the limit, the
// guarantee without Redis), so a Redis outage does not lift the cap on
// enumerating tracking numbers or guessing tokens. Each fallback is
// counted (shiptrack_rate_limit_fallbacks_total) and the switch both ways
// is logged once.
type RedisLimits struct {
	rl     *redis_rate.Limiter
	prefix string
	health *redisHealth
}

// RedisLimitsOptions tunes RedisLimits; zero values take the defaults.
type RedisLimitsOptions struct {
	Logger *slog.Logger
	// Metrics, when set, receives the fallback and error counters.
	Metrics *metrics.Set
	// Timeout bounds one decision in Redis before falling back (default
	// 250ms): the limiter sits in front of every lookup.
	Timeout time.Duration
	// RetryAfter is how often Redis is pinged while it is failing
	// (default 1s); decisions stay local until it answers.
	RetryAfter time.Duration
}

// NewRedisLimits counts in rc under the key prefix "<prefix>:ratelimit:".
func NewRedisLimits(rc redis.UniversalClient, prefix string, o RedisLimitsOptions) *RedisLimits {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = 250 * time.Millisecond
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	rl := redis_rate.NewLimiter(rateKeys{c: rc})
	probeKey := prefix + ":ratelimit:probe"
	h := &redisHealth{
		log: o.Logger, timeout: o.Timeout, retryAfter: o.RetryAfter,
		// The probe runs the limiter's own script, spending nothing (and
		// writing no key), so it passes only when decisions would: a Redis
		// that answers PING but refuses EVAL stays "down".
		probe: func(ctx context.Context) error {
			_, err := rl.AllowN(ctx, probeKey, redis_rate.PerSecond(1), 0)
			return err
		},
		// Rate-limit decisions that Redis failed to make, and those made by
		// this process alone because Redis was unavailable.
		errors: new(metrics.Counter), fallbacks: new(metrics.Counter),
	}
	if o.Metrics != nil {
		h.errors = o.Metrics.NewCounter("shiptrack_rate_limit_redis_errors_total")
		h.fallbacks = o.Metrics.NewCounter("shiptrack_rate_limit_fallbacks_total")
	}
	return &RedisLimits{rl: rl, prefix: prefix + ":ratelimit:", health: h}
}

// Limiter returns a limiter whose counts live under
// "<prefix>:ratelimit:<name>:<client>".
func (r *RedisLimits) Limiter(name string, l Limit) RateLimiter {
	burst := max(1, l.Burst)
	return &redisLimiter{
		rl: r.rl, prefix: r.prefix + name + ":", health: r.health,
		// Rate 1 per Every is GCRA's emission interval exactly, whatever
		// fraction of a second it is; redis_rate's Rate is a whole number.
		limit: redis_rate.Limit{Rate: 1, Period: l.Every, Burst: burst},
		local: newMemoryLimiter(Limit{Every: l.Every, Burst: burst}),
	}
}

type redisLimiter struct {
	rl     *redis_rate.Limiter
	prefix string
	limit  redis_rate.Limit
	local  *memoryLimiter
	health *redisHealth
}

func (l *redisLimiter) Allow(ctx context.Context, key string) (bool, time.Duration) {
	res, ok := l.run(ctx, key, 1)
	if !ok {
		return l.local.Allow(ctx, key)
	}
	if res.Allowed > 0 {
		return true, 0
	}
	return false, res.RetryAfter
}

func (l *redisLimiter) Exhausted(ctx context.Context, key string) (bool, time.Duration) {
	// Asking for 0 events spends nothing; Remaining is how many more
	// would be allowed now.
	res, ok := l.run(ctx, key, 0)
	if !ok {
		return l.local.Exhausted(ctx, key)
	}
	if res.Remaining >= 1 {
		return false, 0
	}
	// One more is allowed once the stored time is within a burst less
	// one interval of now.
	interval := l.limit.Period / time.Duration(l.limit.Rate)
	return true, max(time.Millisecond, res.ResetAfter-time.Duration(l.limit.Burst-1)*interval)
}

// run asks Redis; ok is false when the caller must decide locally.
func (l *redisLimiter) run(ctx context.Context, key string, n int) (*redis_rate.Result, bool) {
	if !l.health.useRedis() {
		l.health.fallbacks.Inc()
		return nil, false
	}
	rctx, cancel := context.WithTimeout(ctx, l.health.timeout)
	defer cancel()
	res, err := l.rl.AllowN(rctx, l.prefix+key, l.limit, n)
	if err != nil {
		l.health.fallbacks.Inc()
		if ctx.Err() == nil { // not the client hanging up
			l.health.failed(err)
		}
		return nil, false
	}
	return res, true
}

// redisHealth tracks whether Redis answers. After a failure, every decision
// is local at once (no request waits on a dead or hung Redis) while one
// goroutine probes Redis every retryAfter; the first answer puts the
// decisions back in Redis.
type redisHealth struct {
	probe             func(context.Context) error
	log               *slog.Logger
	timeout           time.Duration
	retryAfter        time.Duration
	down              atomic.Bool
	errors, fallbacks *metrics.Counter
}

func (h *redisHealth) useRedis() bool { return !h.down.Load() }

func (h *redisHealth) failed(err error) {
	h.errors.Inc()
	if !h.down.Swap(true) {
		h.log.Warn("rate limits: Redis unavailable; each replica counts on its own until it answers", "error", err)
		go h.watch()
	}
}

// watch probes Redis until it answers, or its client is closed (the
// server is stopping).
func (h *redisHealth) watch() {
	tick := time.NewTicker(h.retryAfter)
	defer tick.Stop()
	for range tick.C {
		ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
		err := h.probe(ctx)
		cancel()
		switch {
		case err == nil:
			h.down.Store(false)
			h.log.Info("rate limits: Redis answers again; limits are shared by all replicas")
			return
		case errors.Is(err, redis.ErrClosed):
			return
		}
		h.errors.Inc()
	}
}

// rateKeys hands redis_rate's scripts our keys as they are: the library puts
// "rate:" before every key, which would leave the counts outside the
// configured prefix (the one a deployment or a test owns, and the one a
// Redis ACL key pattern would cover). It has only the methods redis_rate
// calls: embedding the client would link a wrapper for each of its
// hundreds of methods (0.45 MB of release binary).
type rateKeys struct{ c redis.UniversalClient }

func unrate(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = strings.TrimPrefix(k, "rate:")
	}
	return out
}

func (r rateKeys) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return r.c.Eval(ctx, script, unrate(keys), args...)
}

func (r rateKeys) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return r.c.EvalSha(ctx, sha1, unrate(keys), args...)
}

func (r rateKeys) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return r.c.EvalRO(ctx, script, unrate(keys), args...)
}

func (r rateKeys) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return r.c.EvalShaRO(ctx, sha1, unrate(keys), args...)
}

func (r rateKeys) ScriptExists(ctx context.Context, hashes ...string) *redis.BoolSliceCmd {
	return r.c.ScriptExists(ctx, hashes...)
}

func (r rateKeys) ScriptLoad(ctx context.Context, script string) *redis.StringCmd {
	return r.c.ScriptLoad(ctx, script)
}

func (r rateKeys) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return r.c.Del(ctx, unrate(keys)...)
}

// retryAfterSeconds is a Retry-After value: whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
