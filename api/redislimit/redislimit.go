// Package redislimit holds the API's rate limits counted in Redis, shared
// by every replica. It is apart from package api so that the API itself
// builds without a Redis client (issue 14: api depends on no database,
// queue or Redis package); main.go hands api a Limits from here when
// redis.url is set.
package redislimit

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/shiptrack/shiptrack/api"
)

// Limits counts in Redis with github.com/go-redis/redis_rate (GCRA in
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
type Limits struct {
	rl     *redis_rate.Limiter
	prefix string
	health *redisHealth
}

// Options tunes Limits; zero values take the defaults.
type Options struct {
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

// New counts in rc under the key prefix "<prefix>:ratelimit:".
func New(rc redis.UniversalClient, prefix string, o Options) *Limits {
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
	return &Limits{rl: rl, prefix: prefix + ":ratelimit:", health: h}
}

// Limiter returns a limiter whose counts live under
// "<prefix>:ratelimit:<name>:<client>".
func (r *Limits) Limiter(name string, l api.Limit) api.RateLimiter {
	burst := max(1, l.Burst)
	return &redisLimiter{
		rl: r.rl, prefix: r.prefix + name + ":", health: r.health,
		// Rate 1 per Every is GCRA's emission interval exactly, whatever
		// fraction of a second it is; redis_rate's Rate is a whole number.
		limit: redis_rate.Limit{Rate: 1, Period: l.Every, Burst: burst},
		local: api.MemoryLimits{}.Limiter(name, api.Limit{Every: l.Every, Burst: burst}),
	}
}

type redisLimiter struct {
	rl     *redis_rate.Limiter
	prefix string
	limit  redis_rate.Limit
	local  api.RateLimiter // decides while Redis does not answer
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
