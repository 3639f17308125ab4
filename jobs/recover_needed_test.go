package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/internal/testutil"
	"github.com/shiptrack/shiptrack/store/storetest"
	"github.com/shiptrack/shiptrack/weather/weathertest"
)

// TestDeadConsumerJobNeedsRecover: a consumer takes a job and dies
// (no ack, no nack, no heartbeat, as on SIGKILL) in the middle of a window.
// The data does not queue that place again before the next window: it is
// marked queued in this one. So only the queue's Recover, run by the
// ticks of a surviving process, brings it back, once the dead consumer's
// heartbeat has lapsed; the place is then fetched exactly once. With the
// Recover step of the tick disabled, the last Eventually fails.
func TestDeadConsumerJobNeedsRecover(t *testing.T) {
	t.Parallel()
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, _ := seededStore(t, driver)
			srv := weathertest.NewServer(t)
			clk := newFrozenClock() // stands still: no new window opens
			client := testutil.Redis(t)
			prefix := testutil.RedisPrefix(t, client)
			q := newQueueTestRedisQueue(t, client, prefix, RedisOptions{})
			r, err := New(Config{Store: st, Queue: q, Provider: weatherAPI(t, srv), Now: clk.Now, Rate: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if n, err := r.RunOnce(ctx); err != nil || n != 5 {
				t.Fatalf("first tick queued %d, %v; want 5", n, err)
			}

			dead := NewRedisQueue(client, prefix, RedisOptions{HeartbeatTTL: 200 * time.Millisecond})
			lost, err := dead.Pop(ctx)
			if err != nil {
				t.Fatal(err)
			}
			dead.stopHeartbeat() // killed: the job stays in its processing list
			for range 4 {
				r.handle(ctx, queuePop(t, q))
			}

			// The key fact: mid-window, the data alone queues nothing.
			clk.Advance(10 * time.Minute)
			w, err := st.CurrentWindow(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ids, err := st.QueueDue(ctx, w.Start, clk.Now(), false); err != nil || len(ids) != 0 {
				t.Fatalf("QueueDue mid-window = %v, %v; want nothing (the lost place is marked queued)", ids, err)
			}

			testutil.Eventually(t, queueTestWait, "return of the dead consumer's job to the queue", func() bool {
				if _, err := r.RunOnce(ctx); err != nil {
					t.Fatalf("tick: %v", err)
				}
				n, err := q.Len(ctx)
				return err == nil && n == 1
			})
			d := queuePopWant(t, q, lost.Job().LocationID)
			r.handle(ctx, d)
			if got := withWeather(t, st); got != 5 {
				t.Errorf("%d shipments have weather, want 5", got)
			}
			calls := srv.Calls()
			if len(calls) != 5 {
				t.Errorf("provider calls %v; want 5 places", calls)
			}
			for place, n := range calls {
				if n != 1 {
					t.Errorf("%s called %d times, want 1", place, n)
				}
			}
		})
	}
}

// TestHeartbeatKeepsLongJobs: a live consumer whose job takes several
// heartbeat TTLs (a slow provider call: the claim lease allows minutes,
// the TTL is 30 s) keeps it: another replica's Recover leaves it alone and
// the late Ack succeeds. Without the heartbeat goroutine (the alive key
// refreshed only by Pop) the job would be recovered and handed to a
// second worker, which then waits on the busy claim. With the heartbeat disabled,
// this test fails.
func TestHeartbeatKeepsLongJobs(t *testing.T) {
	t.Parallel()
	const ttl = 300 * time.Millisecond
	client := testutil.Redis(t)
	prefix := testutil.RedisPrefix(t, client)
	busy := newQueueTestRedisQueue(t, client, prefix, RedisOptions{HeartbeatTTL: ttl})
	other := newQueueTestRedisQueue(t, client, prefix, RedisOptions{})
	queuePush(t, busy, 1)
	d := queuePopWant(t, busy, 1)
	for range 5 { // the job outlasts the TTL five times over
		time.Sleep(ttl)
		if n, err := other.Recover(t.Context()); err != nil || n != 0 {
			t.Fatalf("Recover of a live consumer's job = %d, %v; want 0, nil", n, err)
		}
	}
	queueAck(t, d)
	queueWantLen(t, other, 0)
}
