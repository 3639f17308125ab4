package jobs

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

var _ Queue = (*MemoryQueue)(nil)

// MemoryQueue is an in-process Queue for a single binary without Redis. Jobs
// live only in memory, so waiting and unacked jobs are lost when the process
// exits. It is safe for concurrent use.
type MemoryQueue struct {
	mu      sync.Mutex
	waiting []Job
	// wake is closed and replaced whenever jobs arrive or the queue closes,
	// so every blocked Pop re-checks at once without holding the lock.
	wake   chan struct{}
	closed bool
}

// NewMemoryQueue returns an empty, open MemoryQueue.
func NewMemoryQueue() *MemoryQueue {
	return &MemoryQueue{wake: make(chan struct{})}
}

// Push appends jobs to the tail of the queue in order. A zero EnqueuedAt is
// set to the current time. It returns ErrClosed after Close.
func (q *MemoryQueue) Push(ctx context.Context, jobs ...Job) error {
	// Checked although nothing blocks, so callers see the same ctx
	// behaviour as with the Redis queue.
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if len(jobs) == 0 {
		return nil
	}
	q.waiting = append(q.waiting, stampJobs(jobs, time.Now())...)
	q.broadcastLocked()
	return nil
}

// Pop takes the job at the head of the queue, blocking until one is
// available or ctx is done (then it returns ctx.Err()). It returns ErrClosed
// after Close, including to Pops blocked when Close is called.
func (q *MemoryQueue) Pop(ctx context.Context) (Delivery, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, ErrClosed
		}
		if len(q.waiting) > 0 {
			job := q.waiting[0]
			q.waiting[0] = Job{}
			q.waiting = q.waiting[1:]
			q.mu.Unlock()
			return &memoryDelivery{q: q, job: job}, nil
		}
		wake := q.wake
		q.mu.Unlock()

		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wake:
		}
	}
}

// Len returns the number of jobs waiting, not counting those taken and not
// yet acked.
func (q *MemoryQueue) Len(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return int64(len(q.waiting)), nil
}

// Ping always succeeds unless ctx is done: the backend is this process.
func (q *MemoryQueue) Ping(ctx context.Context) error {
	return ctx.Err()
}

// Close makes Push and Pop return ErrClosed and wakes blocked Pops. Jobs
// still waiting are dropped with the queue; deliveries already taken can
// still be acked or nacked. Closing twice is a no-op.
func (q *MemoryQueue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	q.broadcastLocked()
	return nil
}

// requeue puts job back at the head of the queue.
func (q *MemoryQueue) requeue(job Job) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.waiting = slices.Insert(q.waiting, 0, job)
	q.broadcastLocked()
}

// broadcastLocked wakes every blocked Pop; q.mu must be held.
func (q *MemoryQueue) broadcastLocked() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// memoryDelivery is a job taken from a MemoryQueue.
type memoryDelivery struct {
	q       *MemoryQueue
	job     Job
	settled atomic.Bool
}

// Job returns the job that was taken.
func (d *memoryDelivery) Job() Job { return d.job }

// Ack drops the job for good.
func (d *memoryDelivery) Ack(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !d.settled.CompareAndSwap(false, true) {
		return ErrSettled
	}
	return nil
}

// Nack puts the job back at the head of the queue.
func (d *memoryDelivery) Nack(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !d.settled.CompareAndSwap(false, true) {
		return ErrSettled
	}
	d.q.requeue(d.job)
	return nil
}
