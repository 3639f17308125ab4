package api

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

// withDeadline is the one deadline of every route: the request's context
// gets the request timeout as its deadline before any handler runs, so a
// new route cannot be left without one. The timer behind the deadline
// starts only when something waits on it (a database read), so a request
// answered from the read cache pays for no timer.
func withDeadline(timeout time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			ctx := &lazyDeadline{Context: r.Context(), deadline: time.Now().Add(timeout)}
			defer ctx.stop()
			c.SetRequest(r.WithContext(ctx))
			return next(c)
		}
	}
}

// lazyDeadline is its parent with a deadline, whose timer (a
// context.WithDeadline) is made on the first call of Done.
type lazyDeadline struct {
	context.Context // the parent
	deadline        time.Time

	once    sync.Once
	started atomic.Bool
	timed   context.Context
	cancel  context.CancelFunc
}

func (d *lazyDeadline) start() {
	d.once.Do(func() {
		d.timed, d.cancel = context.WithDeadline(d.Context, d.deadline)
		d.started.Store(true)
	})
}

// stop releases the timer, if one was made.
func (d *lazyDeadline) stop() {
	if d.started.Load() {
		d.cancel()
	}
}

func (d *lazyDeadline) Deadline() (time.Time, bool) { return d.deadline, true }

func (d *lazyDeadline) Done() <-chan struct{} {
	d.start()
	return d.timed.Done()
}

// Err answers without starting the timer: nobody waits on it.
func (d *lazyDeadline) Err() error {
	if d.started.Load() {
		return d.timed.Err()
	}
	if err := d.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(d.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (d *lazyDeadline) Value(key any) any {
	if d.started.Load() {
		return d.timed.Value(key)
	}
	return d.Context.Value(key)
}
