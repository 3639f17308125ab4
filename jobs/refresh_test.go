package jobs

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/store/storetest"
	"github.com/shiptrack/shiptrack/weather"
	"github.com/shiptrack/shiptrack/weather/weathertest"
)

// clock is a test clock that moves only when told.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// seededStore opens a store of driver with the 5 seed shipments.
func seededStore(t *testing.T, driver string) (*store.Store, string) {
	t.Helper()
	url := storetest.URL(t, driver)
	st := openStore(t, url)
	if _, _, err := st.SeedIfEmpty(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st, url
}

func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// weatherAPI is the real WeatherAPI client against the fake, without
// retries. Its timeout is generous so a slow CI machine does not turn a
// call into a failure (and a legitimate second call); tests of hanging
// providers use weatherAPITimeout.
func weatherAPI(t *testing.T, srv *weathertest.Server) weather.Provider {
	t.Helper()
	return weatherAPITimeout(t, srv, 10*time.Second)
}

func weatherAPITimeout(t *testing.T, srv *weathertest.Server, timeout time.Duration) weather.Provider {
	t.Helper()
	p, err := weather.NewWeatherAPI(weathertest.Key, srv.BaseURL(), nil,
		weather.Options{Timeout: timeout, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startRefresher starts a refresher and stops it when the test ends.
func startRefresher(t *testing.T, cfg Config) *Refresher {
	t.Helper()
	if cfg.Rate == 0 {
		cfg.Rate = 1000
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return r
}

// eventually polls cond until it holds or 20s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// withWeather counts the shipments whose weather is filled in.
func withWeather(t *testing.T, st *store.Store) int {
	t.Helper()
	p, err := st.List(context.Background(), store.ListParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range p.Shipments {
		if s.Weather != nil {
			n++
		}
	}
	return n
}

func drained(q Queue) func() bool {
	return func() bool {
		n, err := q.Len(context.Background())
		return err == nil && n == 0
	}
}

func TestSeedFetchesEachLocationOnce(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			st, _ := seededStore(t, d)
			srv := weathertest.NewServer(t)
			q := NewMemoryQueue()
			r := startRefresher(t, Config{Store: st, Queue: q, Provider: weatherAPI(t, srv)})
			eventually(t, "weather on all 5 shipments", func() bool { return withWeather(t, st) == 5 })
			if n := srv.Total(); n != 5 {
				t.Fatalf("%d provider calls for 9 rows / 5 locations, want 5: %v", n, srv.Calls())
			}
			for q, n := range srv.Calls() {
				if n != 1 {
					t.Errorf("%s called %d times", q, n)
				}
			}
			// Duplicate jobs cost nothing.
			for i := uint64(1); i <= 5; i++ {
				_ = q.Push(context.Background(), Job{LocationID: i}, Job{LocationID: i})
			}
			if _, err := r.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			eventually(t, "queue drained", drained(q))
			time.Sleep(100 * time.Millisecond)
			if n := srv.Total(); n != 5 {
				t.Errorf("duplicates cost calls: %d", n)
			}
			sh, _ := st.Get(context.Background(), "DHL", "TN12345678")
			if w := sh.Weather; w == nil || w.TemperatureC != 8.2 || w.Condition != "Partly cloudy" || w.Humidity != 81 ||
				w.Provider != "weatherapi" || w.Query != "Paris, France" || w.ObservedAt.IsZero() {
				t.Errorf("weather = %+v", sh.Weather)
			}
		})
	}
}

func TestRestartWithinIntervalCallsNothing(t *testing.T) {
	t.Parallel()
	st, url := seededStore(t, "sqlite")
	srv := weathertest.NewServer(t)
	r1, err := New(Config{Store: st, Queue: NewMemoryQueue(), Provider: weatherAPI(t, srv), Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if err := r1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "first fetch", func() bool { return withWeather(t, st) == 5 })
	_ = r1.Stop(context.Background())

	// A new process on the same database.
	st2 := openStore(t, url)
	q2 := NewMemoryQueue()
	r2 := startRefresher(t, Config{Store: st2, Queue: q2, Provider: weatherAPI(t, srv)})
	n, err := r2.RunOnce(context.Background())
	if err != nil || n != 0 {
		t.Fatalf("after restart: queued %d, %v; want 0", n, err)
	}
	time.Sleep(200 * time.Millisecond)
	if got := srv.Total(); got != 5 {
		t.Errorf("restart caused calls: %d", got)
	}
}

// TestReplicasShareOneWindow runs 3 refreshers (as 3 processes would) on
// one PostgreSQL database and one Redis queue: still one call per location.
func TestReplicasShareOneWindow(t *testing.T) {
	t.Parallel()
	_, url := seededStore(t, "postgres")
	client := queueTestRedis(t)
	prefix := queueTestPrefix(t, client)
	srv := weathertest.NewServer(t)
	var first *store.Store
	var queues []Queue
	var cfgs []Config
	for i := range 3 {
		st := openStore(t, url)
		if i == 0 {
			first = st
		}
		q := newQueueTestRedisQueue(t, client, prefix, RedisOptions{})
		queues = append(queues, q)
		cfgs = append(cfgs, Config{Store: st, Queue: q, Provider: weatherAPI(t, srv)})
		// Every replica's run queues all 5 before any worker runs: 15
		// jobs for 5 locations.
		r, err := New(cfgs[i])
		if err != nil {
			t.Fatal(err)
		}
		if n, err := r.RunOnce(context.Background()); err != nil || n != 5 {
			t.Fatalf("replica %d queued %d, %v", i, n, err)
		}
	}
	for _, cfg := range cfgs {
		startRefresher(t, cfg)
	}
	eventually(t, "weather on all 5 shipments", func() bool { return withWeather(t, first) == 5 })
	eventually(t, "queue drained", func() bool { n, err := queues[0].Len(context.Background()); return err == nil && n == 0 })
	time.Sleep(300 * time.Millisecond)
	if n := srv.Total(); n != 5 {
		t.Errorf("3 replicas made %d calls, want 5: %v", n, srv.Calls())
	}
}

// TestFailuresKeepLastGoodWeather breaks the provider in each documented
// way after a good fetch: the old weather stays, stale is set through
// last_error, and the next run retries and recovers.
func TestFailuresKeepLastGoodWeather(t *testing.T) {
	t.Parallel()
	for _, mode := range []weathertest.Mode{weathertest.Hang, weathertest.ServerError, weathertest.RateLimited, weathertest.Garbage} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			st, _ := seededStore(t, "sqlite")
			srv := weathertest.NewServer(t)
			var clk clock
			q := NewMemoryQueue()
			r := startRefresher(t, Config{Store: st, Queue: q, Provider: weatherAPITimeout(t, srv, 2*time.Second), Now: clk.Now})
			eventually(t, "first fetch", func() bool { return withWeather(t, st) == 5 })

			srv.SetMode(mode)
			clk.Advance(3 * time.Hour)
			if n, err := r.RunOnce(context.Background()); err != nil || n != 5 {
				t.Fatalf("run after interval queued %d, %v", n, err)
			}
			eventually(t, "5 failures", func() bool { return r.Status(context.Background()).Failed == 5 })
			sh, _ := st.Get(context.Background(), "DHL", "TN12345678")
			if w := sh.Weather; w == nil || w.TemperatureC != 8.2 || w.LastError == "" {
				t.Fatalf("after failure weather = %+v", sh.Weather)
			}

			srv.SetMode(weathertest.OK)
			srv.SetTemperature(11.5)
			if _, err := r.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			eventually(t, "recovery", func() bool {
				sh, _ := st.Get(context.Background(), "DHL", "TN12345678")
				return sh.Weather != nil && sh.Weather.TemperatureC == 11.5 && sh.Weather.LastError == ""
			})
		})
	}
}

func TestRefusedProviderStopsTheRun(t *testing.T) {
	t.Parallel()
	st, _ := seededStore(t, "sqlite")
	srv := weathertest.NewServer(t)
	srv.SetMode(weathertest.Quota)
	r := startRefresher(t, Config{Store: st, Queue: NewMemoryQueue(), Provider: weatherAPI(t, srv), Workers: 1})
	eventually(t, "refusal noticed", func() bool { ok, _ := r.Refusing(); return ok })
	eventually(t, "queue drained", func() bool { return r.Status(context.Background()).QueueDepth == 0 })
	if n := srv.Total(); n != 1 {
		t.Errorf("%d calls after a quota refusal, want 1", n)
	}
	st1 := r.Status(context.Background())
	if !st1.Refusing || st1.RefusedReason == "" {
		t.Errorf("status = %+v", st1)
	}
}

func TestDailyBudget(t *testing.T) {
	t.Parallel()
	st, _ := seededStore(t, "postgres")
	srv := weathertest.NewServer(t)
	r := startRefresher(t, Config{Store: st, Queue: NewMemoryQueue(), Provider: weatherAPI(t, srv), DailyBudget: 2})
	eventually(t, "budget spent", func() bool { return r.Status(context.Background()).BudgetExhausted })
	eventually(t, "queue drained", func() bool { return r.Status(context.Background()).QueueDepth == 0 })
	time.Sleep(100 * time.Millisecond)
	if n := srv.Total(); n != 2 {
		t.Errorf("%d calls with a budget of 2", n)
	}
}

func TestUnknownLocationHeldBack(t *testing.T) {
	t.Parallel()
	st, _ := seededStore(t, "sqlite")
	srv := weathertest.NewServer(t)
	srv.SetMode(weathertest.Unknown)
	var clk clock
	r := startRefresher(t, Config{Store: st, Queue: NewMemoryQueue(), Provider: weatherAPI(t, srv), Now: clk.Now})
	eventually(t, "5 failures", func() bool { return r.Status(context.Background()).Failed == 5 })
	clk.Advance(3 * time.Hour) // past the interval, inside the 24h hold
	if n, err := r.RunOnce(context.Background()); err != nil || n != 0 {
		t.Errorf("unknown locations queued again: %d, %v", n, err)
	}
	clk.Advance(24 * time.Hour)
	if n, err := r.RunOnce(context.Background()); err != nil || n != 5 {
		t.Errorf("after the hold: queued %d, %v; want 5", n, err)
	}
}

// TestKilledWorkerJobIsDone: a consumer takes a job and claims its
// location, then dies without a trace (as on SIGKILL). Another replica
// recovers the job, waits out the dead claim, and fetches exactly once.
func TestKilledWorkerJobIsDone(t *testing.T) {
	t.Parallel()
	st, _ := seededStore(t, "postgres")
	client := queueTestRedis(t)
	prefix := queueTestPrefix(t, client)
	ctx := context.Background()

	dead := NewRedisQueue(client, prefix, RedisOptions{HeartbeatTTL: 200 * time.Millisecond})
	if err := dead.Push(ctx, Job{LocationID: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := dead.Pop(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if res, err := st.ClaimWeather(ctx, 1, "dead-owner", now, now.Add(-2*time.Hour), now.Add(time.Second)); err != nil || res != store.Claimed {
		t.Fatalf("claim: %v %v", res, err)
	}
	dead.stopHeartbeat() // the process is gone: no ack, no nack, no heartbeat
	time.Sleep(400 * time.Millisecond)

	srv := weathertest.NewServer(t)
	q := newQueueTestRedisQueue(t, client, prefix, RedisOptions{})
	r, err := New(Config{Store: st, Queue: q, Provider: weatherAPI(t, srv), Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// Only recovery, no new run: the job must come from the dead consumer.
	if n, err := q.Recover(ctx); err != nil || n != 1 {
		t.Fatalf("recovered %d, %v; want 1", n, err)
	}
	d, err := q.Pop(ctx)
	if err != nil || d.Job().LocationID != 1 {
		t.Fatalf("pop: %v %v", d, err)
	}
	r.handle(ctx, d)
	if calls := srv.Total(); calls != 1 {
		t.Errorf("%d calls for the recovered job, want 1", calls)
	}
	w, err := st.WeatherOf(ctx, 1)
	if err != nil || w.FetchedAt.IsZero() {
		t.Errorf("weather of location 1 = %+v, %v", w, err)
	}
	if n, _ := q.Len(ctx); n != 0 {
		t.Errorf("queue still holds %d", n)
	}
}
