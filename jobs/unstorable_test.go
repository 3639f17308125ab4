package jobs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/internal/testutil"
	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/weather"
)

// unstorable answers what PostgreSQL refuses to store (a NUL in the
// condition). The weather package refuses such answers itself; this stub
// stands in for a provider package that did not, to test the jobs' own
// defence.
type unstorable struct{}

func (unstorable) Name() string { return "stub" }
func (unstorable) Current(context.Context, weather.Query) (weather.Observation, error) {
	return weather.Observation{TemperatureC: 5, Condition: "Rain\x00", ConditionCode: "61", Humidity: 80, ObservedAt: time.Now()}, nil
}

// TestUnstorableAnswerIsAFailure: an answer the database refuses is a
// failed fetch like any other: counted as failed, recorded in last_error,
// and the claim released at once (issue 19, item 4, jobs side).
func TestUnstorableAnswerIsAFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := seededStore(t, "postgres")
	r := startRefresher(t, Config{Store: st, Queue: NewMemoryQueue(), Provider: unstorable{}})
	testutil.Eventually(t, 20*time.Second, "5 failures", func() bool { return r.Status(ctx).Failed == 5 })
	if s := r.Status(ctx); s.Fetched != 0 {
		t.Errorf("status %+v; want 0 fetched", s)
	}
	w, err := st.CurrentWindow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.List(ctx, shipment.ListParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range p.Shipments {
		id := sh.Location.ID
		ws, err := st.WeatherOf(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(ws.LastError, "could not store") {
			t.Errorf("location %d last_error %q", id, ws.LastError)
		}
		now := time.Now()
		if res, err := st.ClaimWeather(ctx, id, "other", now, w.Start, now.Add(time.Minute)); err != nil || res == store.Busy {
			t.Errorf("location %d: claim still held: %v %v", id, res, err)
		}
	}
}
