package api_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/internal/mock"
	"github.com/shiptrack/shiptrack/jobs"
	"github.com/shiptrack/shiptrack/shipment"
)

// oneShipment serves a single shipment whose weather the test chooses.
func oneShipment(w *shipment.Weather) *mock.Shipments {
	s := shipment.Shipment{TrackingNumber: "TN1", Carrier: "DHL", Weather: w,
		Location: &shipment.Location{City: "Paris", Country: "France", PostalCode: "75001"}}
	return &mock.Shipments{
		ListFn: func(context.Context, shipment.ListParams) (shipment.Page, error) {
			return shipment.Page{Shipments: []shipment.Shipment{s}}, nil
		},
		GetFn: func(context.Context, string, string) (shipment.Shipment, error) { return s, nil },
	}
}

type fixedStatus jobs.Status

func (f fixedStatus) Status(context.Context) jobs.Status { return jobs.Status(f) }

func TestWeatherJSON(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	good := shipment.Weather{Query: "Paris, France", TemperatureC: 8.2, Condition: "Partly cloudy", ConditionCode: "1003",
		Humidity: 81, WindKph: 15.1, ObservedAt: now.Add(-20 * time.Minute), Provider: "weatherapi"}
	tests := []struct {
		name      string
		fetchedAt time.Duration // before now
		lastError string
		stale     bool
	}{
		{"fresh", 10 * time.Minute, "", false},
		// The next window's refresh is due; until its queue drains the
		// weather is late, not stale.
		{"one interval old, within the grace", 2*time.Hour + 30*time.Minute, "", false},
		{"at the end of the grace", 3 * time.Hour, "", false},
		{"older than the interval plus grace", 3*time.Hour + time.Second, "", true},
		{"last refresh failed", 10 * time.Minute, "weatherapi: 500", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := good
			w.FetchedAt, w.LastError = now.Add(-tt.fetchedAt), tt.lastError
			srv := httptest.NewServer(api.New(api.Config{Shipments: oneShipment(&w), Now: func() time.Time { return now }}))
			defer srv.Close()
			got := decode[api.ShipmentJSON](t, do(t, "GET", srv.URL+"/shipment/DHL/TN1", "", ""))
			want := api.WeatherJSON{Location: "Paris, France", TemperatureC: 8.2, Condition: "Partly cloudy", ConditionCode: "1003",
				Humidity: 81, WindKph: 15.1, ObservedAt: "2026-11-26T11:40:00Z", FetchedAt: w.FetchedAt.Format(time.RFC3339),
				Provider: "weatherapi", Stale: tt.stale}
			if got.Weather == nil || *got.Weather != want {
				t.Errorf("weather = %+v, want %+v", got.Weather, want)
			}
		})
	}
	srv := httptest.NewServer(api.New(api.Config{Shipments: oneShipment(nil)}))
	defer srv.Close()
	r := do(t, "GET", srv.URL+"/shipment/DHL/TN1", "", "")
	var raw map[string]any
	decodeInto(t, r, &raw)
	if w, ok := raw["weather"]; !ok || w != nil {
		t.Errorf("never-fetched weather should be null, got %v", raw["weather"])
	}
}

func TestWeatherStatusRoute(t *testing.T) {
	t.Parallel()
	st := jobs.Status{Provider: "weatherapi", Interval: "2h0m0s", LastQueued: 5, Fetched: 4, Failed: 1, Refusing: true, RefusedReason: "quota"}
	srv := httptest.NewServer(api.New(api.Config{Shipments: oneShipment(nil), Weather: fixedStatus(st)}))
	defer srv.Close()
	got := decode[jobs.Status](t, do(t, "GET", srv.URL+"/weather/status", "", ""))
	if got != st {
		t.Errorf("status = %+v, want %+v", got, st)
	}
	// Without a pipeline the route does not exist.
	srv2 := httptest.NewServer(api.New(api.Config{Shipments: oneShipment(nil)}))
	defer srv2.Close()
	assertProblem(t, do(t, "GET", srv2.URL+"/weather/status", "", ""), 404)
}
