package jobs

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/internal/testutil"
	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/store/storetest"
	"github.com/shiptrack/shiptrack/weather"
	"github.com/shiptrack/shiptrack/weather/weathertest"
)

// clock is a test clock that moves only when told.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// frozenClock stands still between Advances, so a tick can come exactly
// one interval after the previous one, as the scheduler's do.
type frozenClock struct{ ns atomic.Int64 }

func newFrozenClock() *frozenClock {
	c := &frozenClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *frozenClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *frozenClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

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

// withWeather counts the shipments whose weather is filled in.
func withWeather(t *testing.T, st *store.Store) int {
	t.Helper()
	p, err := st.List(context.Background(), shipment.ListParams{Limit: 100})
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
			testutil.Eventually(t, 20*time.Second, "weather on all 5 shipments", func() bool { return withWeather(t, st) == 5 })
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
			testutil.Eventually(t, 20*time.Second, "queue drained", drained(q))
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
	testutil.Eventually(t, 20*time.Second, "first fetch", func() bool { return withWeather(t, st) == 5 })
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
	client := testutil.Redis(t)
	prefix := testutil.RedisPrefix(t, client)
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
		// The replicas tick before any worker runs: the first queues all
		// 5, the others find them queued for this window already.
		r, err := New(cfgs[i])
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		if i == 0 {
			want = 5
		}
		if n, err := r.RunOnce(context.Background()); err != nil || n != want {
			t.Fatalf("replica %d queued %d, %v; want %d", i, n, err, want)
		}
		// Duplicate jobs, as a lost mark or a recovered job would make,
		// still cost no call.
		if err := q.Push(context.Background(), Job{LocationID: 1}, Job{LocationID: 2}); err != nil {
			t.Fatal(err)
		}
	}
	for _, cfg := range cfgs {
		startRefresher(t, cfg)
	}
	testutil.Eventually(t, 20*time.Second, "weather on all 5 shipments", func() bool { return withWeather(t, first) == 5 })
	testutil.Eventually(t, 20*time.Second, "queue drained", func() bool { n, err := queues[0].Len(context.Background()); return err == nil && n == 0 })
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
			testutil.Eventually(t, 20*time.Second, "first fetch", func() bool { return withWeather(t, st) == 5 })

			srv.SetMode(mode)
			clk.Advance(3 * time.Hour)
			if n, err := r.RunOnce(context.Background()); err != nil || n != 5 {
				t.Fatalf("run after interval queued %d, %v", n, err)
			}
			testutil.Eventually(t, 20*time.Second, "5 failures", func() bool { return r.Status(context.Background()).Failed == 5 })
			sh, _ := st.Get(context.Background(), "DHL", "TN12345678")
			if w := sh.Weather; w == nil || w.TemperatureC != 8.2 || w.LastError == "" {
				t.Fatalf("after failure weather = %+v", sh.Weather)
			}

			srv.SetMode(weathertest.OK)
			srv.SetTemperature(11.5)
			// The retries wait for their backoff, then any tick queues
			// them, without waiting for the next window.
			if n, err := r.RunOnce(context.Background()); err != nil || n != 0 {
				t.Fatalf("tick before the backoff queued %d, %v; want 0", n, err)
			}
			if st := r.Status(context.Background()); st.RetryWaiting != 5 || st.NextRetryAt == nil {
				t.Errorf("status while retries wait: %+v", st)
			}
			clk.Advance(r.cfg.RetryMax)
			if n, err := r.RunOnce(context.Background()); err != nil || n != 5 {
				t.Fatalf("tick after the backoff queued %d, %v; want 5", n, err)
			}
			testutil.Eventually(t, 20*time.Second, "recovery", func() bool {
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
	testutil.Eventually(t, 20*time.Second, "refusal noticed", func() bool { return r.Status(context.Background()).Refusing })
	testutil.Eventually(t, 20*time.Second, "queue drained", func() bool { return r.Status(context.Background()).QueueDepth == 0 })
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
	testutil.Eventually(t, 20*time.Second, "budget spent", func() bool { return r.Status(context.Background()).BudgetExhausted })
	testutil.Eventually(t, 20*time.Second, "queue drained", func() bool { return r.Status(context.Background()).QueueDepth == 0 })
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
	testutil.Eventually(t, 20*time.Second, "5 failures", func() bool { return r.Status(context.Background()).Failed == 5 })
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
	client := testutil.Redis(t)
	prefix := testutil.RedisPrefix(t, client)
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

// TestEveryWindowRefreshesEveryPlace: a place fetched in one window is
// fetched again in the next one, exactly one interval later, not every
// other interval (weather fetched a moment after a run began used to look
// too young to the next run).
func TestEveryWindowRefreshesEveryPlace(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			st, _ := seededStore(t, d)
			srv := weathertest.NewServer(t)
			clk := newFrozenClock()
			q := NewMemoryQueue()
			r := startRefresher(t, Config{Store: st, Queue: q, Provider: weatherAPI(t, srv), Now: clk.Now})
			ctx := context.Background()
			testutil.Eventually(t, 20*time.Second, "first fetch", func() bool { return r.Status(ctx).Fetched == 5 })
			for window := 2; window <= 4; window++ {
				// Half an interval on: nothing is due.
				clk.Advance(time.Hour)
				if n, err := r.RunOnce(ctx); err != nil || n != 0 {
					t.Fatalf("window %d, mid-window tick queued %d, %v; want 0", window-1, n, err)
				}
				// The next window starts exactly one interval after the
				// last; its tick queues every place once.
				clk.Advance(time.Hour)
				if n, err := r.RunOnce(ctx); err != nil || n != 5 {
					t.Fatalf("window %d queued %d, %v; want 5", window, n, err)
				}
				if n, err := r.RunOnce(ctx); err != nil || n != 0 {
					t.Fatalf("window %d, second tick queued %d, %v; want 0", window, n, err)
				}
				// Wait for the saves, not only the calls: a save still in
				// flight when the clock jumps would be stamped in the next
				// window, and that window would rightly skip its place.
				testutil.Eventually(t, 20*time.Second, "the window's fetches", func() bool {
					return srv.Total() == 5*window && r.Status(ctx).Fetched == 5
				})
				testutil.Eventually(t, 20*time.Second, "queue drained", drained(q))
			}
			for q, n := range srv.Calls() {
				if n != 4 {
					t.Errorf("%s called %d times in 4 windows", q, n)
				}
			}
		})
	}
}

// TestWindowsStayOnTheGrid: a late tick opens the window that was due,
// starting where the schedule says, so the windows after it keep their
// times; replicas ticking at once open one window.
func TestWindowsStayOnTheGrid(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			st, _ := seededStore(t, d)
			ctx := context.Background()
			t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
			w, err := st.AdvanceWindow(ctx, t0, time.Hour)
			if err != nil || w.Seq != 1 || !w.Start.Equal(t0) {
				t.Fatalf("first window %+v, %v", w, err)
			}
			// 2 h 10 min on, two windows were due: the current one began
			// at 12:00, not 12:10.
			w, err = st.AdvanceWindow(ctx, t0.Add(2*time.Hour+10*time.Minute), time.Hour)
			if err != nil || w.Seq != 2 || !w.Start.Equal(t0.Add(2*time.Hour)) {
				t.Fatalf("late window %+v, %v", w, err)
			}
			ws := make([]store.Window, 8)
			errs := make([]error, len(ws))
			var wg sync.WaitGroup
			for i := range ws {
				wg.Go(func() { ws[i], errs[i] = st.AdvanceWindow(ctx, t0.Add(3*time.Hour+time.Second), time.Hour) })
			}
			wg.Wait()
			for i := range ws {
				if errs[i] != nil || ws[i].Seq != 3 || !ws[i].Start.Equal(t0.Add(3*time.Hour)) {
					t.Errorf("replica %d: %+v, %v; want window 3 at 13:00", i, ws[i], errs[i])
				}
			}
		})
	}
}

// TestRetryDelay: exponential from RetryBase to RetryMax, half jitter,
// and never sooner than the provider's Retry-After (up to an interval).
func TestRetryDelay(t *testing.T) {
	t.Parallel()
	r, err := New(Config{Store: &store.Store{}, Queue: NewMemoryQueue()})
	if err != nil {
		t.Fatal(err)
	}
	if r.cfg.RetryBase != 30*time.Second || r.cfg.RetryMax != 30*time.Minute {
		t.Fatalf("defaults for 2h: base %v, max %v", r.cfg.RetryBase, r.cfg.RetryMax)
	}
	tests := []struct {
		failures   int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{1, 0, 15 * time.Second, 30 * time.Second},
		{2, 0, 30 * time.Second, time.Minute},
		{3, 0, time.Minute, 2 * time.Minute},
		{7, 0, 15 * time.Minute, 30 * time.Minute},
		{40, 0, 15 * time.Minute, 30 * time.Minute},
		{1, 10 * time.Minute, 10 * time.Minute, 10 * time.Minute},
		{1, 5 * time.Second, 15 * time.Second, 30 * time.Second},
		{1, 5 * time.Hour, 2 * time.Hour, 2 * time.Hour},
	}
	for _, tt := range tests {
		for range 50 {
			if d := r.retryDelay(tt.failures, tt.retryAfter); d < tt.lo || d > tt.hi {
				t.Fatalf("retryDelay(%d, %v) = %v, want %v..%v", tt.failures, tt.retryAfter, d, tt.lo, tt.hi)
			}
		}
	}
	short, err := New(Config{Store: &store.Store{}, Queue: NewMemoryQueue(), Interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if c := short.cfg; c.RetryBase != 15*time.Second || c.RetryMax != 15*time.Second || c.SweepEvery != 15*time.Second {
		t.Errorf("defaults for 1m: base %v, max %v, sweep %v", c.RetryBase, c.RetryMax, c.SweepEvery)
	}
}

// TestOneCallPerPlace: locations that ask the provider the same question
// (two postal codes of one city, spelled in two cases) share one call per
// window, and every shipment shows the weather.
func TestOneCallPerPlace(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			st := openStore(t, storetest.URL(t, d))
			ctx := context.Background()
			in := []shipment.ShipmentInput{
				{TrackingNumber: "TN1", Carrier: "DHL", Status: "in-transit", ReceiverAddress: "Street 10, 75001 Paris, France",
					Articles: []shipment.Article{{Name: "A", Quantity: 1, Price: 100}}},
				{TrackingNumber: "TN2", Carrier: "DHL", Status: "in-transit", ReceiverAddress: "Street 2, 75002 PARIS,  france",
					Articles: []shipment.Article{{Name: "A", Quantity: 1, Price: 100}}},
				{TrackingNumber: "TN3", Carrier: "DHL", Status: "in-transit", ReceiverAddress: "Street 3, 10115 Berlin, Germany",
					Articles: []shipment.Article{{Name: "A", Quantity: 1, Price: 100}}},
			}
			if _, err := st.Import(ctx, in); err != nil {
				t.Fatal(err)
			}
			srv := weathertest.NewServer(t)
			var clk clock
			r := startRefresher(t, Config{Store: st, Queue: NewMemoryQueue(), Provider: weatherAPI(t, srv), Now: clk.Now})
			testutil.Eventually(t, 20*time.Second, "weather on all 3 shipments", func() bool { return withWeather(t, st) == 3 })
			if n := srv.Total(); n != 2 {
				t.Fatalf("%d calls for 2 places, want 2: %v", n, srv.Calls())
			}
			// A later import adds a third postal code of Paris: it shares
			// the weather at once, without a call.
			in[0].TrackingNumber, in[0].ReceiverAddress = "TN4", "Street 4, 75003 Paris, France"
			if _, err := st.Import(ctx, in[:1]); err != nil {
				t.Fatal(err)
			}
			if n, err := r.RunOnce(ctx); err != nil || n != 0 {
				t.Fatalf("new postal code of a known place queued %d, %v; want 0", n, err)
			}
			if withWeather(t, st) != 4 {
				t.Error("the new postal code's shipment has no weather")
			}
			clk.Advance(2 * time.Hour)
			if n, err := r.RunOnce(ctx); err != nil || n != 2 {
				t.Fatalf("next window queued %d, %v; want 2", n, err)
			}
			testutil.Eventually(t, 20*time.Second, "next window's calls", func() bool { return srv.Total() == 4 })
			time.Sleep(100 * time.Millisecond)
			if n := srv.Total(); n != 4 {
				t.Errorf("%d calls in 2 windows for 2 places, want 4: %v", n, srv.Calls())
			}
		})
	}
}
