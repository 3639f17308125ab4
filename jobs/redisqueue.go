package jobs

// Why this queue keeps its own reliability next to the claim in the data
// (issue 14, item 8). The data makes duplicates cheap: the claim refuses a
// place fetched in the current window, so a job run twice costs no second
// provider call, and the queue needs no de-duplication. What the data does
// not do is queue a place twice in one window: QueueDue marks it queued
// and returns it again only after a failure, so a job that vanished with
// its consumer would wait for the next window (2 h by default). Hence:
//
//   - The processing list per consumer (BLMOVE) keeps a taken job in Redis
//     until it is acked, so a SIGKILL loses nothing. Needed: without it and
//     Recover the place waits a window; with them its weather is back
//     within the heartbeat TTL plus a sweep (jobs TestDeadConsumerJobNeedsRecover,
//     root TestFaultSIGKILL and TestSIGKILLImmediateRestart).
//   - The heartbeat (alive key) is how Recover tells a dead consumer from a
//     slow one. The claim's lease cannot stand in for it: a job sits in the
//     processing list before its worker claims the place, and while it
//     waits on another's claim, with no lease of its own in the data. Without the heartbeat a live consumer's long
//     job is recovered and handed to a second worker (TestHeartbeatKeepsLongJobs,
//     TestRedisQueueRecoverSkipsLiveConsumers).
//   - Recover is a Lua script so the alive check and the moves are one
//     step: replicas recovering at once move each job once
//     (TestRedisQueueRecoverConcurrent), in batches (TestRedisQueueRecoverManyJobs).
//   - Nack puts a job back at the head on shutdown or when the database is
//     down (TestStopPutsJobsBack): acked instead, the place would wait a
//     window too. It is conditional, so a late Nack after a Recover does
//     not duplicate the job (TestRedisQueueRecoverDeadConsumer).
//
// Queueing every due place at start-up (what the in-process queue does,
// see Refresher.queueAll) would cover a restart but not a replica that
// dies while the others run on, so it does not replace Recover.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

var _ Queue = (*RedisQueue)(nil)

const (
	redisDefaultPrefix       = "jobs"
	redisDefaultHeartbeatTTL = 30 * time.Second
	redisDefaultPopTimeout   = time.Second
	// redisMinHeartbeatTTL keeps the heartbeat period (TTL/3) positive and
	// above Redis's millisecond expiry resolution.
	redisMinHeartbeatTTL = 10 * time.Millisecond
	// redisCloseTimeout bounds Close's own Redis call, as Close takes no ctx.
	redisCloseTimeout = 5 * time.Second
	// redisRecoverBatch caps how many jobs one Recover script call moves so
	// a huge processing list cannot stall Redis.
	redisRecoverBatch = 100
	// redisLogPayloadMax keeps a malformed payload from flooding the log.
	redisLogPayloadMax = 256
)

// redisNackLua moves a held payload back to the head of the queue, but only
// if this consumer still holds it: if a Recover already re-queued it, an
// unconditional LPUSH would duplicate the job.
// KEYS: processing, queue. ARGV: payload. Returns 1 if moved, else 0.
const redisNackLua = `
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then
  return 0
end
redis.call('LPUSH', KEYS[2], ARGV[1])
return 1
`

// redisRecoverLua re-queues up to ARGV[1] jobs of one consumer if, and only
// if, its alive key is gone. The check and the moves are one atomic step so a
// consumer that comes back between them cannot lose fresh jobs, and two
// replicas recovering at once move each job exactly once. Taking from the
// tail and pushing to the head keeps the jobs' original order at the head.
// KEYS: processing, alive, queue. ARGV: max. Returns the number moved.
const redisRecoverLua = `
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
local max = tonumber(ARGV[1])
local n = 0
while n < max do
  if not redis.call('LMOVE', KEYS[1], KEYS[3], 'RIGHT', 'LEFT') then
    break
  end
  n = n + 1
end
return n
`

// redisReleaseLua deletes the alive key only when the consumer holds no job,
// atomically so nothing can slip in between the check and the delete.
// KEYS: processing, alive. Returns 1 if deleted, else 0.
const redisReleaseLua = `
if redis.call('LLEN', KEYS[1]) == 0 then
  return redis.call('DEL', KEYS[2])
end
return 0
`

// RedisOptions tunes a RedisQueue. The zero value gives the defaults.
type RedisOptions struct {
	// ConsumerID names this consumer in Redis keys and must be unique among
	// running replicas. Default: random. A stable ID is fine too: a restarted
	// replica gets its previous incarnation's jobs back through Recover once
	// the old heartbeat has expired.
	ConsumerID string
	// HeartbeatTTL is how long this consumer's alive key outlives its last
	// heartbeat; once it has expired, Recover in any replica re-queues the
	// jobs this consumer held. The heartbeat runs every HeartbeatTTL/3.
	// Default: 30s; values under 10ms are raised to 10ms.
	HeartbeatTTL time.Duration
	// PopTimeout is how long one BLMOVE blocks, i.e. how quickly a blocked
	// Pop notices ctx cancellation or Close. go-redis sends it in whole
	// seconds, so it is rounded up to a whole second. Default: 1s.
	PopTimeout time.Duration
	// Logger receives malformed payloads and heartbeat failures. Nil
	// discards them.
	Logger *slog.Logger
}

// RedisQueue is a Queue in Redis shared by several replicas, using the
// reliable-queue pattern: Pop atomically moves a job from {prefix}:queue to
// {prefix}:processing:{consumerID}, where it stays until acked, so a job
// taken but not finished survives even a SIGKILL of its consumer. Each
// consumer keeps {prefix}:alive:{consumerID} alive with a heartbeat; Recover
// re-queues the jobs of consumers whose alive key has expired.
//
// Delivery is at least once: a job whose consumer is presumed dead may be
// run again elsewhere. It is safe for concurrent use. The Redis client
// belongs to the caller and is not closed by Close.
type RedisQueue struct {
	client *redis.Client
	id     string
	ttl    time.Duration
	block  time.Duration
	log    *slog.Logger

	queueKey         string
	processingKey    string
	aliveKey         string
	processingPrefix string // followed by a consumer ID
	alivePrefix      string // followed by a consumer ID
	processingMatch  string // SCAN pattern for every consumer's processing list

	nackScript    *redis.Script
	recoverScript *redis.Script
	releaseScript *redis.Script

	mu     sync.Mutex
	closed bool
	// popping counts Pops in flight so Close can wait until none can still
	// move a job into the processing list before it decides about alive.
	popping  sync.WaitGroup
	hbCancel context.CancelFunc // nil until the first Pop starts the heartbeat
	hbDone   chan struct{}
}

// NewRedisQueue returns a RedisQueue whose keys start with prefix + ":"
// (an empty prefix means "jobs"). It does no I/O: the heartbeat starts with
// the first Pop.
func NewRedisQueue(client *redis.Client, prefix string, opts RedisOptions) *RedisQueue {
	if prefix == "" {
		prefix = redisDefaultPrefix
	}
	id := opts.ConsumerID
	if id == "" {
		id = rand.Text()
	}
	ttl := opts.HeartbeatTTL
	if ttl <= 0 {
		ttl = redisDefaultHeartbeatTTL
	}
	ttl = max(ttl, redisMinHeartbeatTTL)
	block := opts.PopTimeout
	if block <= 0 {
		block = redisDefaultPopTimeout
	}
	// Rounded here rather than by go-redis, which would log a warning for
	// every sub-second BLMOVE.
	block = (block + time.Second - 1).Truncate(time.Second)
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	processingPrefix := prefix + ":processing:"
	alivePrefix := prefix + ":alive:"
	return &RedisQueue{
		client:           client,
		id:               id,
		ttl:              ttl,
		block:            block,
		log:              logger.With("queue", prefix, "consumer", id),
		queueKey:         prefix + ":queue",
		processingKey:    processingPrefix + id,
		aliveKey:         alivePrefix + id,
		processingPrefix: processingPrefix,
		alivePrefix:      alivePrefix,
		processingMatch:  escapeScanGlob(processingPrefix) + "*",
		nackScript:       redis.NewScript(redisNackLua),
		recoverScript:    redis.NewScript(redisRecoverLua),
		releaseScript:    redis.NewScript(redisReleaseLua),
	}
}

// Push appends jobs to the tail of the queue in order, in one round trip. A
// zero EnqueuedAt is set to the current time. It returns ErrClosed after
// Close.
func (q *RedisQueue) Push(ctx context.Context, jobs ...Job) error {
	if q.isClosed() {
		return ErrClosed
	}
	if len(jobs) == 0 {
		return nil
	}
	payloads := make([]any, len(jobs))
	for i, job := range stampJobs(jobs, time.Now()) {
		b, err := json.Marshal(job)
		if err != nil {
			return fmt.Errorf("jobs: redis push: encode location %d: %w", job.LocationID, err)
		}
		payloads[i] = b
	}
	if err := q.client.RPush(ctx, q.queueKey, payloads...).Err(); err != nil {
		return fmt.Errorf("jobs: redis push: %w", err)
	}
	return nil
}

// Pop takes the job at the head of the queue, blocking until one is
// available or ctx is done (then it returns ctx.Err(), noticed within
// PopTimeout). If a job is taken just as ctx ends, it is returned rather than
// dropped. A payload that is not valid JSON is logged, removed and skipped.
// It returns ErrClosed after Close, including to Pops blocked when Close is
// called. Redis errors are returned as they happen; callers back off and
// retry.
func (q *RedisQueue) Pop(ctx context.Context) (Delivery, error) {
	if err := q.beginPop(); err != nil {
		return nil, err
	}
	defer q.popping.Done()

	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if q.isClosed() {
			return nil, ErrClosed
		}
		// Refreshed before every move, not only by the heartbeat, so a
		// Recover elsewhere never sees a job of ours without a live key.
		if err := q.touch(ctx); err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, fmt.Errorf("jobs: redis pop: %w", err)
		}
		// Not cancellable on purpose: aborting a BLMOVE could lose the
		// reply of a move Redis already made, stranding the job in our
		// processing list while we are alive. PopTimeout bounds the wait.
		payload, err := q.client.BLMove(context.WithoutCancel(ctx),
			q.queueKey, q.processingKey, "LEFT", "RIGHT", q.block).Result()
		if errors.Is(err, redis.Nil) {
			continue // timed out empty-handed; re-check ctx and Close
		}
		if err != nil {
			return nil, fmt.Errorf("jobs: redis pop: %w", err)
		}

		var job Job
		if err := json.Unmarshal([]byte(payload), &job); err != nil {
			q.log.WarnContext(ctx, "jobs: skipping malformed payload",
				"payload", truncateLogValue(payload, redisLogPayloadMax), "error", err)
			if err := q.client.LRem(context.WithoutCancel(ctx), q.processingKey, 1, payload).Err(); err != nil {
				return nil, fmt.Errorf("jobs: redis pop: remove malformed payload: %w", err)
			}
			continue
		}
		return &redisDelivery{q: q, job: job, payload: payload}, nil
	}
}

// Len returns the number of jobs waiting in the queue, not counting those
// held by consumers.
func (q *RedisQueue) Len(ctx context.Context) (int64, error) {
	n, err := q.client.LLen(ctx, q.queueKey).Result()
	if err != nil {
		return 0, fmt.Errorf("jobs: redis len: %w", err)
	}
	return n, nil
}

// Ping reports whether Redis answers.
func (q *RedisQueue) Ping(ctx context.Context) error {
	if err := q.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("jobs: redis ping: %w", err)
	}
	return nil
}

// Recover puts back at the head of the queue every job held by a consumer
// whose alive key no longer exists (it crashed, was SIGKILLed or lost Redis
// for longer than its HeartbeatTTL), keeping their order, and returns how
// many jobs it moved. Jobs of live consumers, this one included, are never
// touched. It is safe to run from several replicas at once: each job moves
// exactly once. It also works after Close. Run it at start-up and
// periodically (e.g. every HeartbeatTTL).
func (q *RedisQueue) Recover(ctx context.Context) (int, error) {
	moved := 0
	iter := q.client.Scan(ctx, 0, q.processingMatch, 100).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		id := strings.TrimPrefix(key, q.processingPrefix)
		for {
			n, err := q.recoverScript.Run(ctx, q.client,
				[]string{key, q.alivePrefix + id, q.queueKey}, redisRecoverBatch).Int()
			if err != nil {
				return moved, fmt.Errorf("jobs: redis recover consumer %q: %w", id, err)
			}
			moved += n
			if n < redisRecoverBatch {
				break
			}
		}
	}
	if err := iter.Err(); err != nil {
		return moved, fmt.Errorf("jobs: redis recover: %w", err)
	}
	return moved, nil
}

// Close makes Push and Pop return ErrClosed, waits for blocked Pops to
// return (at most about PopTimeout) and stops the heartbeat. It then deletes
// this consumer's alive key only if it holds no job. Jobs still held are not
// nacked, because a worker may still be finishing them: the alive key is left
// to expire within HeartbeatTTL, until then Ack and Nack keep working, and
// after that any replica's Recover re-queues whatever is still held. For a
// clean shutdown, Ack or Nack every delivery before calling Close.
// Closing twice is a no-op.
func (q *RedisQueue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	popped := q.hbCancel != nil
	q.mu.Unlock()

	q.popping.Wait()
	if !popped {
		return nil // never popped: no alive key, no processing list
	}
	q.stopHeartbeat()

	ctx, cancel := context.WithTimeout(context.Background(), redisCloseTimeout)
	defer cancel()
	err := q.releaseScript.Run(ctx, q.client, []string{q.processingKey, q.aliveKey}).Err()
	if err != nil {
		return fmt.Errorf("jobs: redis close: %w", err)
	}
	return nil
}

// beginPop registers a Pop in flight and starts the heartbeat on the first
// one, or returns ErrClosed.
func (q *RedisQueue) beginPop() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	q.popping.Add(1)
	if q.hbCancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		q.hbCancel = cancel
		q.hbDone = make(chan struct{})
		go q.heartbeat(ctx, q.hbDone)
	}
	return nil
}

// heartbeat refreshes the alive key every TTL/3 until ctx is cancelled, so
// two refreshes can fail before the key expires.
func (q *RedisQueue) heartbeat(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	ticker := time.NewTicker(q.ttl / 3)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := q.touch(ctx); err != nil && ctx.Err() == nil {
				q.log.WarnContext(ctx, "jobs: heartbeat failed", "error", err)
			}
		}
	}
}

// stopHeartbeat stops the heartbeat goroutine and waits for it to exit. It
// is a no-op if the heartbeat never started or already stopped.
func (q *RedisQueue) stopHeartbeat() {
	q.mu.Lock()
	cancel, done := q.hbCancel, q.hbDone
	q.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// touch sets the alive key with a fresh TTL.
func (q *RedisQueue) touch(ctx context.Context) error {
	return q.client.Set(ctx, q.aliveKey, time.Now().UTC().Format(time.RFC3339), q.ttl).Err()
}

func (q *RedisQueue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// redisDelivery is a job held in this consumer's processing list.
type redisDelivery struct {
	q       *RedisQueue
	job     Job
	payload string // exact bytes in Redis, needed to LREM it

	// mu serialises Ack and Nack so only one of them reaches Redis.
	mu      sync.Mutex
	settled bool
}

// Job returns the job that was taken.
func (d *redisDelivery) Job() Job { return d.job }

// Ack removes the job from this consumer's processing list for good.
func (d *redisDelivery) Ack(ctx context.Context) error {
	return d.settle("ack", func() (int64, error) {
		return d.q.client.LRem(ctx, d.q.processingKey, 1, d.payload).Result()
	})
}

// Nack atomically moves the job from this consumer's processing list back to
// the head of the queue.
func (d *redisDelivery) Nack(ctx context.Context) error {
	return d.settle("nack", func() (int64, error) {
		return d.q.nackScript.Run(ctx, d.q.client, []string{d.q.processingKey, d.q.queueKey}, d.payload).Int64()
	})
}

// settle runs op, which reports how many processing entries it moved,
// once: a second Ack or Nack is ErrSettled, and a job no longer in the
// processing list (recovered as a dead consumer's) is ErrLost.
func (d *redisDelivery) settle(name string, op func() (int64, error)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.settled {
		return ErrSettled
	}
	n, err := op()
	if err != nil {
		return fmt.Errorf("jobs: redis %s location %d: %w", name, d.job.LocationID, err)
	}
	d.settled = true
	if n == 0 {
		return fmt.Errorf("jobs: redis %s location %d: %w", name, d.job.LocationID, ErrLost)
	}
	return nil
}

// escapeScanGlob escapes the characters SCAN MATCH treats specially, so a prefix
// containing them matches only itself.
func escapeScanGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// truncateLogValue shortens s to at most n bytes for logging.
func truncateLogValue(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
