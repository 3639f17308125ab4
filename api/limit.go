package api

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a per-client allowance: Burst events at once, then one more
// every Every (a token bucket, which is what GCRA computes).
type Limit struct {
	Every time.Duration
	Burst int
}

// RateLimiter counts one kind of event per client. It answers even when
// its store fails (see redislimit.Limits), so callers have no error to handle.
type RateLimiter interface {
	// Allow spends one event of key's allowance if there is one; if not,
	// it spends nothing and says how long until there will be.
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration)
	// Exhausted says, spending nothing, whether key has no event left now
	// and how long until it has one.
	Exhausted(ctx context.Context, key string) (exhausted bool, retryAfter time.Duration)
}

// Limits makes the API's per-client limiters, one per kind of event.
// MemoryLimits counts in this process; redislimit.Limits counts in Redis, so
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

// retryAfterSeconds is a Retry-After value: whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
