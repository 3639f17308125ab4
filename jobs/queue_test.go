package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shiptrack/shiptrack/internal/testutil"
)

// queueTestWait bounds anything that should happen promptly; generous so
// -race on a busy machine does not flake. A Redis Pop notices ctx and Close
// within PopTimeout (1s).
const queueTestWait = 10 * time.Second

// newQueueTestRedisQueue returns a RedisQueue closed when the test ends.
func newQueueTestRedisQueue(t *testing.T, client *redis.Client, prefix string, opts RedisOptions) *RedisQueue {
	t.Helper()
	q := NewRedisQueue(client, prefix, opts)
	t.Cleanup(func() {
		// A closed client is expected in tests that close it on purpose.
		if err := q.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
			t.Errorf("close queue: %v", err)
		}
	})
	return q
}

// queueBackend is one Queue implementation under test.
type queueBackend struct {
	name string
	// open creates one fresh, empty queue and returns a function giving
	// handles on it: a new consumer each call for Redis, the one queue for
	// memory.
	open func(t *testing.T) func() Queue
}

func queueBackends() []queueBackend {
	return []queueBackend{
		{
			name: "memory",
			open: func(t *testing.T) func() Queue {
				q := NewMemoryQueue()
				t.Cleanup(func() { _ = q.Close() })
				return func() Queue { return q }
			},
		},
		{
			name: "redis",
			open: func(t *testing.T) func() Queue {
				client := testutil.Redis(t)
				prefix := testutil.RedisPrefix(t, client)
				return func() Queue { return newQueueTestRedisQueue(t, client, prefix, RedisOptions{}) }
			},
		},
	}
}

// forEachQueueBackend runs fn as a parallel subtest per implementation.
func forEachQueueBackend(t *testing.T, fn func(t *testing.T, open func() Queue)) {
	t.Helper()
	for _, b := range queueBackends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.open(t))
		})
	}
}

func queuePush(t *testing.T, q Queue, ids ...uint64) {
	t.Helper()
	jobs := make([]Job, len(ids))
	for i, id := range ids {
		jobs[i] = Job{LocationID: id}
	}
	if err := q.Push(t.Context(), jobs...); err != nil {
		t.Fatalf("Push(%v): %v", ids, err)
	}
}

func queuePop(t *testing.T, q Queue) Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), queueTestWait)
	defer cancel()
	d, err := q.Pop(ctx)
	if err != nil {
		t.Fatalf("Pop: %v", err)
	}
	return d
}

// queuePopWant pops and checks the job's location.
func queuePopWant(t *testing.T, q Queue, want uint64) Delivery {
	t.Helper()
	d := queuePop(t, q)
	if got := d.Job().LocationID; got != want {
		t.Fatalf("Pop got location %d, want %d", got, want)
	}
	return d
}

func queueWantLen(t *testing.T, q Queue, want int64) {
	t.Helper()
	got, err := q.Len(t.Context())
	if err != nil {
		t.Fatalf("Len: %v", err)
	}
	if got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
}

func queueAck(t *testing.T, d Delivery) {
	t.Helper()
	if err := d.Ack(t.Context()); err != nil {
		t.Fatalf("Ack location %d: %v", d.Job().LocationID, err)
	}
}

// queueWantHeld checks how many jobs a Redis consumer holds; it does nothing
// for the memory queue, which does not track them.
func queueWantHeld(t *testing.T, q Queue, want int64) {
	t.Helper()
	rq, ok := q.(*RedisQueue)
	if !ok {
		return
	}
	got, err := rq.client.LLen(t.Context(), rq.processingKey).Result()
	if err != nil {
		t.Fatalf("LLEN processing: %v", err)
	}
	if got != want {
		t.Fatalf("consumer holds %d jobs, want %d", got, want)
	}
}

func TestQueueFIFO(t *testing.T) {
	t.Parallel()
	forEachQueueBackend(t, func(t *testing.T, open func() Queue) {
		q := open()
		enqueued := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
		if err := q.Push(t.Context(), Job{LocationID: 1, EnqueuedAt: enqueued}); err != nil {
			t.Fatalf("Push: %v", err)
		}
		queuePush(t, q, 2, 3)
		queuePush(t, q) // no jobs: a no-op
		queueWantLen(t, q, 3)

		d := queuePopWant(t, q, 1)
		if got := d.Job().EnqueuedAt; !got.Equal(enqueued) {
			t.Errorf("EnqueuedAt = %v, want %v kept", got, enqueued)
		}
		queueAck(t, d)
		d = queuePopWant(t, q, 2)
		if d.Job().EnqueuedAt.IsZero() {
			t.Error("zero EnqueuedAt was not stamped by Push")
		}
		queueAck(t, d)
		queueAck(t, queuePopWant(t, q, 3))
		queueWantLen(t, q, 0)
	})
}

func TestQueuePushMany(t *testing.T) {
	t.Parallel()
	const n = 500
	forEachQueueBackend(t, func(t *testing.T, open func() Queue) {
		q := open()
		ids := make([]uint64, n)
		for i := range ids {
			ids[i] = uint64(i + 1)
		}
		queuePush(t, q, ids...)
		queueWantLen(t, q, n)
		for _, id := range ids {
			queueAck(t, queuePopWant(t, q, id))
		}
		queueWantLen(t, q, 0)
		queueWantHeld(t, q, 0)
	})
}

func TestQueuePopBlocksUntilPush(t *testing.T) {
	t.Parallel()
	forEachQueueBackend(t, func(t *testing.T, open func() Queue) {
		q := open()
		type result struct {
			d   Delivery
			err error
		}
		got := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(t.Context(), queueTestWait)
			defer cancel()
			d, err := q.Pop(ctx)
			got <- result{d, err}
		}()

		select {
		case r := <-got:
			t.Fatalf("Pop on an empty queue returned early: %v, %v", r.d, r.err)
		case <-time.After(200 * time.Millisecond):
		}
		queuePush(t, q, 42)

		select {
		case r := <-got:
			if r.err != nil {
				t.Fatalf("Pop: %v", r.err)
			}
			if id := r.d.Job().LocationID; id != 42 {
				t.Fatalf("Pop got location %d, want 42", id)
			}
			queueAck(t, r.d)
		case <-time.After(queueTestWait):
			t.Fatal("Pop did not return after Push")
		}
	})
}

func TestQueuePopContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ctx  func(parent context.Context) (context.Context, context.CancelFunc)
		want error
	}{
		{
			name: "cancelled before",
			ctx: func(parent context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(parent)
				cancel()
				return ctx, cancel
			},
			want: context.Canceled,
		},
		{
			name: "cancelled while blocked",
			ctx: func(parent context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(parent)
				time.AfterFunc(100*time.Millisecond, cancel)
				return ctx, cancel
			},
			want: context.Canceled,
		},
		{
			name: "deadline while blocked",
			ctx: func(parent context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(parent, 150*time.Millisecond)
			},
			want: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachQueueBackend(t, func(t *testing.T, open func() Queue) {
				q := open()
				ctx, cancel := tt.ctx(t.Context())
				defer cancel()
				start := time.Now()
				d, err := q.Pop(ctx)
				if !errors.Is(err, tt.want) {
					t.Fatalf("Pop = %v, %v; want error %v", d, err, tt.want)
				}
				if took := time.Since(start); took > queueTestWait {
					t.Errorf("Pop took %v to notice ctx", took)
				}
				// Nothing may be stranded by the cancelled Pop.
				queuePush(t, q, 7)
				queueAck(t, queuePopWant(t, q, 7))
				queueWantHeld(t, q, 0)
			})
		})
	}
}

func TestQueueAck(t *testing.T) {
	t.Parallel()
	forEachQueueBackend(t, func(t *testing.T, open func() Queue) {
		q := open()
		queuePush(t, q, 1, 2)
		d := queuePopWant(t, q, 1)
		queueWantLen(t, q, 1) // taken jobs are not waiting
		queueWantHeld(t, q, 1)

		queueAck(t, d)
		queueWantLen(t, q, 1)
		queueWantHeld(t, q, 0)
		if err := d.Ack(t.Context()); !errors.Is(err, ErrSettled) {
			t.Errorf("second Ack = %v, want ErrSettled", err)
		}
		if err := d.Nack(t.Context()); !errors.Is(err, ErrSettled) {
			t.Errorf("Nack after Ack = %v, want ErrSettled", err)
		}
		queueWantLen(t, q, 1)
		queueAck(t, queuePopWant(t, q, 2))
	})
}

func TestQueueNack(t *testing.T) {
	t.Parallel()
	forEachQueueBackend(t, func(t *testing.T, open func() Queue) {
		q := open()
		queuePush(t, q, 1, 2)
		d := queuePopWant(t, q, 1)
		queueWantLen(t, q, 1)

		if err := d.Nack(t.Context()); err != nil {
			t.Fatalf("Nack: %v", err)
		}
		queueWantLen(t, q, 2)
		queueWantHeld(t, q, 0)
		if err := d.Nack(t.Context()); !errors.Is(err, ErrSettled) {
			t.Errorf("second Nack = %v, want ErrSettled", err)
		}
		if err := d.Ack(t.Context()); !errors.Is(err, ErrSettled) {
			t.Errorf("Ack after Nack = %v, want ErrSettled", err)
		}

		// Back at the head: taken again before the job behind it.
		queueAck(t, queuePopWant(t, q, 1))
		queueAck(t, queuePopWant(t, q, 2))
		queueWantLen(t, q, 0)
	})
}

func TestQueueClose(t *testing.T) {
	t.Parallel()
	forEachQueueBackend(t, func(t *testing.T, open func() Queue) {
		q := open()
		queuePush(t, q, 1)
		held := queuePopWant(t, q, 1)

		blocked := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(t.Context(), queueTestWait)
			defer cancel()
			_, err := q.Pop(ctx)
			blocked <- err
		}()
		time.Sleep(100 * time.Millisecond) // let the Pop block
		if err := q.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		select {
		case err := <-blocked:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("blocked Pop = %v, want ErrClosed", err)
			}
		case <-time.After(queueTestWait):
			t.Fatal("Close did not wake the blocked Pop")
		}

		if _, err := q.Pop(t.Context()); !errors.Is(err, ErrClosed) {
			t.Errorf("Pop after Close = %v, want ErrClosed", err)
		}
		if err := q.Push(t.Context(), Job{LocationID: 2}); !errors.Is(err, ErrClosed) {
			t.Errorf("Push after Close = %v, want ErrClosed", err)
		}
		if err := held.Ack(t.Context()); err != nil {
			t.Errorf("Ack of a delivery taken before Close: %v", err)
		}
		if err := q.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

func TestQueueConcurrentConsumers(t *testing.T) {
	t.Parallel()
	const (
		jobs      = 200
		consumers = 4
	)
	forEachQueueBackend(t, func(t *testing.T, open func() Queue) {
		handles := []Queue{open(), open()}
		ids := make([]uint64, jobs)
		for i := range ids {
			ids[i] = uint64(i + 1)
		}
		queuePush(t, handles[0], ids...)

		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		var (
			mu       sync.Mutex
			seen     = make(map[uint64]int)
			received atomic.Int64
			wg       sync.WaitGroup
		)
		for i := range consumers {
			q := handles[i%len(handles)]
			wg.Go(func() {
				for {
					d, err := q.Pop(ctx)
					if err != nil {
						if ctx.Err() == nil {
							t.Errorf("Pop: %v", err)
						}
						return
					}
					mu.Lock()
					seen[d.Job().LocationID]++
					mu.Unlock()
					if err := d.Ack(context.WithoutCancel(ctx)); err != nil {
						t.Errorf("Ack: %v", err)
					}
					if received.Add(1) == jobs {
						cancel() // all in: release the other consumers
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("only %d of %d jobs received before the deadline", received.Load(), jobs)
		}
		for _, id := range ids {
			if seen[id] != 1 {
				t.Errorf("location %d received %d times, want once", id, seen[id])
			}
		}
		if len(seen) != jobs {
			t.Errorf("received %d distinct jobs, want %d", len(seen), jobs)
		}
		queueWantLen(t, handles[0], 0)
		for _, q := range handles {
			queueWantHeld(t, q, 0)
		}
	})
}

func TestQueuePing(t *testing.T) {
	t.Parallel()
	forEachQueueBackend(t, func(t *testing.T, open func() Queue) {
		if err := open().Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

func TestRedisQueueRecoverDeadConsumer(t *testing.T) {
	t.Parallel()
	client := testutil.Redis(t)
	prefix := testutil.RedisPrefix(t, client)
	dead := newQueueTestRedisQueue(t, client, prefix, RedisOptions{HeartbeatTTL: 300 * time.Millisecond})
	rescuer := newQueueTestRedisQueue(t, client, prefix, RedisOptions{})

	queuePush(t, dead, 1, 2, 3)
	d1 := queuePopWant(t, dead, 1)
	d2 := queuePopWant(t, dead, 2)
	// "Kill" the consumer: its heartbeat stops and nothing acks, nacks or
	// closes, as after a SIGKILL; its alive key expires within the TTL.
	dead.stopHeartbeat()

	moved := 0
	deadline := time.Now().Add(queueTestWait)
	for moved == 0 && time.Now().Before(deadline) {
		n, err := rescuer.Recover(t.Context())
		if err != nil {
			t.Fatalf("Recover: %v", err)
		}
		moved += n
		time.Sleep(50 * time.Millisecond)
	}
	if moved != 2 {
		t.Fatalf("Recover moved %d jobs, want 2", moved)
	}
	queueWantHeld(t, dead, 0)
	queueWantLen(t, rescuer, 3)
	if n, err := rescuer.Recover(t.Context()); err != nil || n != 0 {
		t.Errorf("second Recover = %d, %v; want 0, nil", n, err)
	}

	// The dead consumer's jobs come back at the head, in their order.
	for _, id := range []uint64{1, 2, 3} {
		queueAck(t, queuePopWant(t, rescuer, id))
	}
	// Were the dead consumer only frozen, its late Ack/Nack must not
	// remove or duplicate jobs that now belong to someone else.
	if err := d1.Ack(t.Context()); !errors.Is(err, ErrLost) {
		t.Errorf("stale Ack = %v, want ErrLost", err)
	}
	if err := d2.Nack(t.Context()); !errors.Is(err, ErrLost) {
		t.Errorf("stale Nack = %v, want ErrLost", err)
	}
	queueWantLen(t, rescuer, 0)
}

func TestRedisQueueRecoverSkipsLiveConsumers(t *testing.T) {
	t.Parallel()
	client := testutil.Redis(t)
	prefix := testutil.RedisPrefix(t, client)
	a := newQueueTestRedisQueue(t, client, prefix, RedisOptions{})
	b := newQueueTestRedisQueue(t, client, prefix, RedisOptions{})

	queuePush(t, a, 1, 2, 3)
	da := queuePopWant(t, a, 1)
	db := queuePopWant(t, b, 2)
	for name, q := range map[string]*RedisQueue{"a": a, "b": b} {
		if n, err := q.Recover(t.Context()); err != nil || n != 0 {
			t.Errorf("%s.Recover = %d, %v; want 0, nil", name, n, err)
		}
	}
	queueWantLen(t, a, 1)
	queueWantHeld(t, a, 1)
	queueWantHeld(t, b, 1)
	queueAck(t, da)
	queueAck(t, db)
}

func TestRedisQueueRecoverConcurrent(t *testing.T) {
	t.Parallel()
	const (
		deadConsumers = 5
		perConsumer   = 10
		recoverers    = 4
	)
	ctx := t.Context()
	client := testutil.Redis(t)
	prefix := testutil.RedisPrefix(t, client)

	// Processing lists left by dead consumers: no alive keys.
	for c := range deadConsumers {
		payloads := make([]any, perConsumer)
		for i := range payloads {
			b, err := json.Marshal(Job{LocationID: uint64(c*100 + i), EnqueuedAt: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			payloads[i] = b
		}
		key := prefix + ":processing:dead-" + string(rune('a'+c))
		if err := client.RPush(ctx, key, payloads...).Err(); err != nil {
			t.Fatalf("seed %s: %v", key, err)
		}
	}
	live := newQueueTestRedisQueue(t, client, prefix, RedisOptions{})
	queuePush(t, live, 999)
	held := queuePopWant(t, live, 999)

	qs := make([]*RedisQueue, recoverers)
	for i := range qs {
		qs[i] = newQueueTestRedisQueue(t, client, prefix, RedisOptions{})
	}
	var (
		total atomic.Int64
		wg    sync.WaitGroup
	)
	for _, q := range qs {
		wg.Go(func() {
			n, err := q.Recover(ctx)
			if err != nil {
				t.Errorf("Recover: %v", err)
			}
			total.Add(int64(n))
		})
	}
	wg.Wait()
	if got := total.Load(); got != deadConsumers*perConsumer {
		t.Fatalf("Recovers moved %d jobs in all, want %d", got, deadConsumers*perConsumer)
	}
	queueWantHeld(t, live, 1)

	payloads, err := client.LRange(ctx, prefix+":queue", 0, -1).Result()
	if err != nil {
		t.Fatalf("LRANGE queue: %v", err)
	}
	if len(payloads) != deadConsumers*perConsumer {
		t.Fatalf("queue has %d jobs, want %d", len(payloads), deadConsumers*perConsumer)
	}
	seen := make(map[uint64]bool)
	last := make(map[uint64]int) // dead consumer -> last index seen
	for _, p := range payloads {
		var j Job
		if err := json.Unmarshal([]byte(p), &j); err != nil {
			t.Fatalf("decode %q: %v", p, err)
		}
		if seen[j.LocationID] {
			t.Errorf("location %d re-queued twice", j.LocationID)
		}
		seen[j.LocationID] = true
		c, i := j.LocationID/100, int(j.LocationID%100)
		if prev, ok := last[c]; ok && i != prev+1 {
			t.Errorf("consumer %d's jobs out of order: %d after %d", c, i, prev)
		}
		last[c] = i
	}
	queueAck(t, held)
}

func TestRedisQueueMalformedPayload(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	client := testutil.Redis(t)
	prefix := testutil.RedisPrefix(t, client)
	var logs testutil.SyncBuffer
	q := newQueueTestRedisQueue(t, client, prefix, RedisOptions{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})

	if err := client.RPush(ctx, prefix+":queue", "not json", `{"location_id":`).Err(); err != nil {
		t.Fatalf("seed: %v", err)
	}
	queuePush(t, q, 7)

	d := queuePopWant(t, q, 7)
	queueWantLen(t, q, 0)
	queueWantHeld(t, q, 1) // only the good job: bad ones were removed
	queueAck(t, d)
	if got := strings.Count(logs.String(), "malformed payload"); got != 2 {
		t.Errorf("logged %d malformed payloads, want 2; log:\n%s", got, logs.String())
	}
}

func TestRedisQueueCloseAliveKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		ackBefore bool
		wantAlive bool
	}{
		// Nothing held: the key goes at once, nothing left to recover.
		{name: "holding nothing", ackBefore: true, wantAlive: false},
		// A worker may still be finishing the job: the key is left to
		// expire, after which Recover returns the job to the queue.
		{name: "holding a job", ackBefore: false, wantAlive: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			client := testutil.Redis(t)
			prefix := testutil.RedisPrefix(t, client)
			q := newQueueTestRedisQueue(t, client, prefix, RedisOptions{})
			other := newQueueTestRedisQueue(t, client, prefix, RedisOptions{})

			queuePush(t, q, 1)
			d := queuePopWant(t, q, 1)
			if tt.ackBefore {
				queueAck(t, d)
			}
			if err := q.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}

			ttl, err := client.PTTL(ctx, q.aliveKey).Result()
			if err != nil {
				t.Fatalf("PTTL alive: %v", err)
			}
			if alive := ttl > 0; alive != tt.wantAlive {
				t.Errorf("alive key TTL after Close = %v, want alive=%v", ttl, tt.wantAlive)
			}
			if n, err := other.Recover(ctx); err != nil || n != 0 {
				t.Errorf("Recover after Close = %d, %v; want 0, nil", n, err)
			}
			if !tt.ackBefore {
				queueWantHeld(t, q, 1)
				queueAck(t, d) // still possible after Close
			}
			queueWantHeld(t, q, 0)
		})
	}
}

func TestRedisQueueErrorsWrapped(t *testing.T) {
	t.Parallel()
	client := testutil.Redis(t)
	prefix := testutil.RedisPrefix(t, client)
	q := newQueueTestRedisQueue(t, client, prefix, RedisOptions{})
	// A closed client fails every command the same, predictable way.
	broken := testutil.Redis(t)
	if err := broken.Close(); err != nil {
		t.Fatal(err)
	}
	bq := newQueueTestRedisQueue(t, broken, prefix, RedisOptions{})

	queuePush(t, q, 1)
	d := queuePopWant(t, q, 1)
	// The same delivery seen through a queue whose client is closed.
	bd := &redisDelivery{q: bq, job: d.Job(), payload: d.(*redisDelivery).payload}

	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"push", func(ctx context.Context) error { return bq.Push(ctx, Job{LocationID: 2}) }},
		{"pop", func(ctx context.Context) error { _, err := bq.Pop(ctx); return err }},
		{"len", func(ctx context.Context) error { _, err := bq.Len(ctx); return err }},
		{"ping", bq.Ping},
		{"recover", func(ctx context.Context) error { _, err := bq.Recover(ctx); return err }},
		{"ack", bd.Ack},
		{"nack", bd.Nack},
	}
	for _, tt := range tests {
		err := tt.call(t.Context())
		if !errors.Is(err, redis.ErrClosed) {
			t.Errorf("%s: error %v does not wrap redis.ErrClosed", tt.name, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "jobs: redis "+tt.name) {
			t.Errorf("%s: error %q lacks context", tt.name, err)
		}
	}
	queueAck(t, d)
}

func TestRedisQueueEscapeScanGlob(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"jobs:processing:", "jobs:processing:"},
		{"a*b?c[d]e\\f", `a\*b\?c\[d\]e\\f`},
		{"", ""},
	}
	for _, tt := range tests {
		if got := escapeScanGlob(tt.in); got != tt.want {
			t.Errorf("escapeScanGlob(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
