package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/internal/testutil"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/weather/weathertest"
)

// TestStopPutsJobsBack: Stop while every worker is inside a provider call
// that hangs: Stop returns nil, every job (those in flight and those
// waiting) is back on the queue, and no claim is held; on the in-process
// and the Redis queue (issue 19: a job acked on shutdown was seen only by
// a root-package test).
func TestStopPutsJobsBack(t *testing.T) {
	t.Parallel()
	const workers = 3
	for _, b := range queueBackends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, _ := seededStore(t, "sqlite")
			srv := weathertest.NewServer(t)
			srv.SetMode(weathertest.Hang)
			q := b.open(t)()
			r, err := New(Config{Store: st, Queue: q, Provider: weatherAPITimeout(t, srv, time.Minute), Workers: workers, Rate: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Start(ctx); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 20*time.Second, "every worker in a call", func() bool { return srv.Total() >= workers })
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := r.Stop(sctx); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if n, err := q.Len(ctx); err != nil || n != 5 {
				t.Fatalf("queue holds %d jobs after Stop (%v); want all 5 back", n, err)
			}
			w, err := st.CurrentWindow(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for range 5 {
				d, err := q.Pop(ctx)
				if err != nil {
					t.Fatal(err)
				}
				id := d.Job().LocationID
				now := time.Now()
				res, err := st.ClaimWeather(ctx, id, "someone-else", now, w.Start, now.Add(time.Minute))
				if err != nil || res != store.Claimed {
					t.Errorf("location %d: claim by another worker = %v, %v; want it free", id, res, err)
				}
				if err := d.Ack(ctx); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
