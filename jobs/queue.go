package jobs

import (
	"context"
	"errors"
	"time"
)

// Job is one unit of work: the weather of one location to refresh
// (Kind empty, the format of every job before webhooks, so a queue
// written by an older release reads the same), or one webhook delivery
// to send (Kind KindWebhook).
type Job struct {
	Kind       string    `json:"kind,omitempty"`
	LocationID uint64    `json:"location_id"`
	DeliveryID uint64    `json:"delivery_id,omitempty"`
	EnqueuedAt time.Time `json:"enqueued_at"`
}

// Kinds of job.
const (
	KindWeather = ""
	KindWebhook = "webhook"
)

// Delivery is one job taken from a queue. Exactly one of Ack or Nack should
// be called; a second call returns ErrSettled. A call that fails for another
// reason (e.g. Redis unreachable) may be retried.
//
// Ack and Nack honour their ctx like any I/O call, so a worker that is
// shutting down because its ctx was cancelled should Nack with a context that
// is still live, e.g. context.WithoutCancel(ctx) plus a timeout.
type Delivery interface {
	// Job returns the job that was taken.
	Job() Job
	// Ack marks the job done and removes it for good.
	Ack(ctx context.Context) error
	// Nack marks the job not done (e.g. shutting down) and puts it back at
	// the head of the queue so it is taken next. Needed although the data
	// re-queues what is due: a place is queued once per window, so a job
	// dropped instead would wait for the next window (TestStopPutsJobsBack).
	Nack(ctx context.Context) error
}

// Queue is a FIFO of jobs shared by producers and a pool of consumers.
type Queue interface {
	// Push appends jobs to the tail of the queue in order. A zero
	// EnqueuedAt is set to the current time.
	Push(ctx context.Context, jobs ...Job) error
	// Pop blocks until a job is available or ctx is done (then it returns
	// ctx.Err()). After Close it returns ErrClosed.
	Pop(ctx context.Context) (Delivery, error)
	// Len is the number of jobs waiting (not counting those taken and not
	// yet acked).
	Len(ctx context.Context) (int64, error)
	// Ping reports whether the queue's backend answers.
	Ping(ctx context.Context) error
	// Close stops Push and Pop (they then return ErrClosed) and wakes
	// blocked Pops. Deliveries already taken can still be acked or nacked.
	// Closing twice is a no-op.
	Close() error
}

// ErrClosed is returned by Push and Pop on a closed queue.
var ErrClosed = errors.New("jobs: queue closed")

// ErrSettled is returned by Ack or Nack on a delivery that was already acked
// or nacked.
var ErrSettled = errors.New("jobs: delivery already acked or nacked")

// ErrLost is returned by Ack or Nack when the queue no longer holds the
// delivery for this consumer: its heartbeat lapsed and a Recover (in any
// replica) put the job back in the queue, so another consumer may run it
// again. The delivery counts as settled.
var ErrLost = errors.New("jobs: delivery no longer held by this consumer")

// stampJobs returns jobs with a zero EnqueuedAt set to now, copying so the
// caller's slice is never modified.
func stampJobs(jobs []Job, now time.Time) []Job {
	out := make([]Job, len(jobs))
	for i, j := range jobs {
		if j.EnqueuedAt.IsZero() {
			j.EnqueuedAt = now
		}
		out[i] = j
	}
	return out
}
