package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/internal/testenv"
	"github.com/shiptrack/shiptrack/internal/testutil"
	"github.com/shiptrack/shiptrack/store/storetest"
	"github.com/shiptrack/shiptrack/weather/weathertest"
)

// Real-clock tests of the weather cadence (issue 13). The fake-clock tests
// in jobs/ jump the clock; these run the service as shipped, with the
// shortest interval allowed, long enough to see the second window. They
// are what would have caught "refreshed every other interval", "a failure
// waits for the next run" and "two calls for one city".

// freshnessSetups are the two ways the service runs: the embedded default
// (SQLite, in-process queue, one process) and the shared one (PostgreSQL
// and Redis, three replicas).
var freshnessSetups = []struct {
	name     string
	driver   string
	replicas int
}{
	{"sqlite", "sqlite", 1},
	{"postgres-3-replicas", "postgres", 3},
}

// startReplicas imports the seed plus a sixth shipment to a second postal
// code of Paris, then starts n replicas on one database (and one Redis
// prefix on PostgreSQL) against the fake provider; it returns their base
// URLs.
func startReplicas(t *testing.T, driver string, n int, fake *weathertest.Server, extra map[string]string) []string {
	t.Helper()
	e := map[string]string{
		"SHIPTRACK_DATABASE_URL":   storetest.URL(t, driver),
		"SHIPTRACK_WEATHERAPI_KEY": weathertest.Key,
		"SHIPTRACK_WEATHERAPI_URL": fake.BaseURL(),
	}
	if driver == "postgres" {
		e["SHIPTRACK_REDIS_URL"] = testenv.RedisURL()
		e["SHIPTRACK_REDIS_PREFIX"] = "shiptrack-test-fresh-" + strings.ReplaceAll(t.Name(), "/", "-") + time.Now().Format("150405.000000")
	}
	for k, v := range extra {
		e[k] = v
	}
	seed, err := os.ReadFile("store/seed/shipments.csv")
	if err != nil {
		t.Fatal(err)
	}
	file := writeCSV(t, strings.TrimSpace(strings.SplitN(string(seed), "\n", 2)[1]),
		`TN12345690,DHL,"Street 1, 10115 Berlin, Germany","Rue 7, 75002 Paris, France",Lamp,1,30,LA901,transit`)
	if out, err := runImport(copyEnv(e), file); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	bases := make([]string, n)
	for i := range bases {
		bases[i], _ = startService(t, e, nil)
	}
	return bases
}

// freshnessSample is what one look at the service shows.
type freshnessSample struct {
	withWeather, stale int
	fetchedAt          map[string]string // tracking number -> fetched_at
}

func sampleFreshness(t *testing.T, base string) freshnessSample {
	t.Helper()
	_, list, _ := listAll(t, base)
	if len(list) != 6 {
		t.Fatalf("%d shipments, want 6", len(list))
	}
	s := freshnessSample{fetchedAt: map[string]string{}}
	for _, sh := range list {
		if w := sh.Weather; w != nil && w.FetchedAt != "" {
			s.withWeather++
			s.fetchedAt[sh.TrackingNumber] = w.FetchedAt
			if w.Stale {
				s.stale++
			}
		}
	}
	return s
}

type windowStatus struct {
	LastRunAt    time.Time  `json:"last_run_at"`
	NextRunAt    time.Time  `json:"next_run_at"`
	Fetched      int64      `json:"fetched"`
	Failed       int64      `json:"failed"`
	RetryWaiting int64      `json:"retry_waiting"`
	NextRetryAt  *time.Time `json:"next_retry_at"`
}

// TestWeatherCadenceRealClock: 1-minute interval, 5 places (6 shipments,
// two of them in Paris under different postal codes), sampled every 10 s
// for 110 s from the first window's start: 5 provider calls before the
// window at 60 s, 10 after it, every shipment with weather and none stale
// at any sample; with 3 replicas the same totals, not 3 times them.
func TestWeatherCadenceRealClock(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about two minutes of real time; skipped with -short")
	}
	t.Parallel()
	for _, s := range freshnessSetups {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			fake := weathertest.NewServer(t)
			bases := startReplicas(t, s.driver, s.replicas, fake, map[string]string{"SHIPTRACK_WEATHER_INTERVAL": "1m"})

			// The first window's start, as the data has it (second
			// precision in JSON, so samples land 4-5 s into each step).
			var st windowStatus
			testutil.Eventually(t, 10*time.Second, "first window", func() bool {
				getJSON(t, bases[0]+"/weather/status", &st)
				return !st.LastRunAt.IsZero()
			})
			w0 := st.LastRunAt
			if got := st.NextRunAt.Sub(w0); got != time.Minute {
				t.Errorf("next_run_at - last_run_at = %v, want 1m", got)
			}

			var first map[string]string
			for k := 0; k <= 10; k++ {
				at := w0.Add(5*time.Second + time.Duration(k)*10*time.Second)
				time.Sleep(time.Until(at))
				elapsed := time.Since(w0).Round(time.Second)
				base := bases[k%len(bases)]
				smp := sampleFreshness(t, base)
				calls := fake.Total()
				want := 5
				if elapsed > time.Minute {
					want = 10
				}
				t.Logf("%v after the first window: %d provider calls, %d/6 with weather, %d stale (replica %d)", elapsed, calls, smp.withWeather, smp.stale, k%len(bases))
				if calls != want {
					t.Errorf("%v: %d provider calls, want %d: %v", elapsed, calls, want, fake.Calls())
				}
				if smp.withWeather != 6 || smp.stale != 0 {
					t.Errorf("%v: %d of 6 shipments with weather, %d stale; want 6 and 0", elapsed, smp.withWeather, smp.stale)
				}
				switch {
				case k == 0:
					first = smp.fetchedAt
				case elapsed > time.Minute:
					for tn, at := range smp.fetchedAt {
						if at == first[tn] {
							t.Errorf("%v: %s still has the first window's weather (fetched_at %s)", elapsed, tn, at)
						}
					}
				}
			}
			for q, n := range fake.Calls() {
				if n != 2 {
					t.Errorf("%s: %d calls in two windows, want 2", q, n)
				}
			}
			if _, ok := fake.Calls()["Paris,France"]; !ok {
				t.Errorf("no call for Paris,France: %v", fake.Calls())
			}
		})
	}
}

// TestWeatherRetryRealClock: the provider answers 500 for the first 5 s
// after start, then works. With the default 2 h interval, every shipment
// has weather within 2 minutes (retries, not the next window, bring it),
// and /weather/status shows the waiting retries meanwhile.
func TestWeatherRetryRealClock(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for up to two minutes of real time; skipped with -short")
	}
	t.Parallel()
	for _, s := range freshnessSetups {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			fake := weathertest.NewServer(t)
			fake.SetMode(weathertest.ServerError)
			start := time.Now()
			bases := startReplicas(t, s.driver, s.replicas, fake, nil)

			var st windowStatus
			testutil.Eventually(t, 10*time.Second, "a failed fetch waiting for its retry", func() bool {
				st = windowStatus{}
				for _, b := range bases {
					var one windowStatus
					getJSON(t, b+"/weather/status", &one)
					st.Failed += one.Failed
					st.RetryWaiting = max(st.RetryWaiting, one.RetryWaiting)
					if one.NextRetryAt != nil {
						st.NextRetryAt = one.NextRetryAt
					}
				}
				return st.Failed >= 5 && st.RetryWaiting == 5 && st.NextRetryAt != nil
			})
			if d := st.NextRetryAt.Sub(time.Now()); d > 2*time.Minute {
				t.Errorf("next retry in %v; want well within the 2 h interval", d)
			}
			time.Sleep(time.Until(start.Add(5 * time.Second)))
			fake.SetMode(weathertest.OK)
			failedCalls := fake.Total()

			deadline := time.Now().Add(2 * time.Minute)
			for {
				smp := sampleFreshness(t, bases[0])
				if smp.withWeather == 6 && smp.stale == 0 {
					t.Logf("all 6 shipments have fresh weather %v after start", time.Since(start).Round(time.Second))
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("2 minutes after the provider came back: %d of 6 shipments with weather, %d stale", smp.withWeather, smp.stale)
				}
				time.Sleep(time.Second)
			}
			// One successful call per place: the retries share the
			// window's quota rule.
			if n := fake.Total() - failedCalls; n != 5 {
				t.Errorf("%d calls after the provider came back, want 5 (one per place): %v", n, fake.Calls())
			}
			var after windowStatus
			getJSON(t, bases[0]+"/weather/status", &after)
			if after.RetryWaiting != 0 || after.NextRetryAt != nil {
				t.Errorf("after recovery: retry_waiting %d, next_retry_at %v; want 0 and null", after.RetryWaiting, after.NextRetryAt)
			}
		})
	}
}
