package main

import (
	"errors"
	"log/slog"

	"github.com/VictoriaMetrics/metrics"
	"github.com/redis/go-redis/v9"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/api/redislimit"
)

// rateLimits returns where the API keeps its per-client counts (lookups,
// failed token attempts): in the job queue's Redis when redis.url is set,
// so replicas behind one address share one limit per client; otherwise
// nil, which counts in this process. closeLimits releases its client.
//
// It has its own Redis client rather than the queue's: the limiter sits in
// front of every lookup and must give up within api.limit_redis_timeout
// (250ms by default) when Redis is gone or hung, then count locally (see
// redislimit.Limits); the queue's client has the default timeouts and
// retries, and blocking pops.
func rateLimits(cfg config, log *slog.Logger, reg *metrics.Set) (limits api.Limits, closeLimits func(), err error) {
	if cfg.Redis.URL == "" {
		return nil, func() {}, nil
	}
	opts, err := redis.ParseURL(cfg.Redis.URL)
	if err != nil {
		// The parse error can quote the URL, password included.
		return nil, nil, errors.New("config: redis.url: not a valid Redis URL")
	}
	timeout := cfg.API.LimitRedisTimeout
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = timeout, timeout, timeout
	opts.MaxRetries = -1   // a failed decision falls back at once; no retry
	opts.DialerRetries = 1 // nor 5 dials 100ms apart (go-redis's default)
	opts.ContextTimeoutEnabled = true
	rc := redis.NewClient(opts)
	rl := redislimit.New(rc, cfg.Redis.Prefix, redislimit.Options{Logger: log, Metrics: reg, Timeout: timeout})
	return rl, func() { _ = rc.Close() }, nil
}
