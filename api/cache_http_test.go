package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/internal/mock"
	"github.com/shiptrack/shiptrack/shipment"
)

// readCounts counts the reads that reach countingShipments and holds the
// weather it shows.
type readCounts struct {
	gets, lists atomic.Int64
	weather     atomic.Pointer[shipment.Weather]
}

// countingShipments serves one shipment (TN1 at DHL, location 7) and a
// page with a next cursor, and counts the reads that reach it in c.
func countingShipments(c *readCounts) *mock.Shipments {
	sample := func() shipment.Shipment {
		return shipment.Shipment{TrackingNumber: "TN1", Carrier: "DHL", Status: "in-transit", Articles: []shipment.Article{},
			Location: &shipment.Location{ID: 7, WeatherID: 7, City: "Paris", Country: "France", PostalCode: "75001"}, Weather: c.weather.Load()}
	}
	return &mock.Shipments{
		GetFn: func(_ context.Context, carrier, tn string) (shipment.Shipment, error) {
			c.gets.Add(1)
			if shipment.CarrierKey(carrier) != "dhl" || tn != "TN1" {
				return shipment.Shipment{}, shipment.ErrNotFound
			}
			return sample(), nil
		},
		ListFn: func(context.Context, shipment.ListParams) (shipment.Page, error) {
			c.lists.Add(1)
			return shipment.Page{Shipments: []shipment.Shipment{sample()}, NextCursor: "eyJjIjoiZGhsIiwidCI6IlROMSJ9"}, nil
		},
	}
}

// TestCachedAnswers: what the cache serves is byte for byte what the store
// path serves, it saves the store reads it should, and a reported change
// reaches the next answer.
func TestCachedAnswers(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clock := atomic.Pointer[time.Time]{}
	clock.Store(&now)
	st := &readCounts{}
	cache := api.NewCache(1 << 20)
	srv := httptest.NewServer(api.New(api.Config{Shipments: countingShipments(st), Cache: cache, RateLimit: 0,
		Now: func() time.Time { return *clock.Load() }}))
	t.Cleanup(srv.Close)

	get := func(path string) response {
		t.Helper()
		r := do(t, "GET", srv.URL+path, "", "")
		if r.status != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, r.status, r.body)
		}
		return r
	}
	post := func(body string) response {
		t.Helper()
		r := do(t, "POST", srv.URL+"/shipment/", "application/json", body)
		if r.status != http.StatusOK {
			t.Fatalf("POST %s = %d %s", body, r.status, r.body)
		}
		return r
	}

	// Off until the change feed listens: every request reads the store.
	first := get("/shipment/DHL/TN1")
	get("/shipment/DHL/TN1")
	if n := st.gets.Load(); n != 2 {
		t.Fatalf("%d store reads with the cache off, want 2", n)
	}

	cache.Apply(shipment.Change{Kind: shipment.ChangeListening})
	get("/shipment/DHL/TN1") // fills
	for _, r := range []response{get("/shipment/DHL/TN1"), get("/shipment/dhl/TN1"), post(`{"carrier":"dhl","tracking_number":"TN1"}`)} {
		if string(r.body) != string(first.body) || r.header.Get("Content-Type") != first.header.Get("Content-Type") {
			t.Fatalf("cached answer differs:\n%s %s\nwant\n%s %s", r.header.Get("Content-Type"), r.body,
				first.header.Get("Content-Type"), first.body)
		}
	}
	if n := st.gets.Load(); n != 3 {
		t.Fatalf("%d store reads, want 3 (GET, POST and any carrier case share one entry)", n)
	}
	if r := get("/shipment/DHL/TN1?pretty"); string(r.body) == string(first.body) {
		t.Error("?pretty served the compact cached answer")
	}
	for _, cc := range []string{"no-cache", "max-age=0", "public, No-Cache"} {
		req, _ := http.NewRequest("GET", srv.URL+"/shipment/DHL/TN1", nil)
		req.Header.Set("Cache-Control", cc)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := st.gets.Load(); n != 7 {
		t.Fatalf("%d store reads, want 7: ?pretty and each Cache-Control: no-cache read the store", n)
	}
	if r := do(t, "GET", srv.URL+"/shipment/DHL/NOPE", "", ""); r.status != http.StatusNotFound {
		t.Fatalf("unknown shipment = %d", r.status)
	}

	// Pages keep their Link header.
	p1 := get("/shipment/?limit=1")
	p2 := get("/shipment/?limit=1")
	if st.lists.Load() != 1 || string(p2.body) != string(p1.body) || p2.header.Get("Link") == "" || p2.header.Get("Link") != p1.header.Get("Link") {
		t.Fatalf("page: %d store reads, Link %q then %q", st.lists.Load(), p1.header.Get("Link"), p2.header.Get("Link"))
	}

	// Weather of location 7 arrives: the next answers show it.
	st.weather.Store(&shipment.Weather{LocationID: 7, Query: "Paris, France", TemperatureC: 9.5, Provider: "weatherapi",
		ObservedAt: now, FetchedAt: now})
	cache.Apply(shipment.Change{Kind: shipment.ChangeWeather, Location: 7})
	var withWeather struct {
		Weather *struct {
			TemperatureC float64 `json:"temperature_c"`
			Stale        bool    `json:"stale"`
		} `json:"weather"`
	}
	decodeInto(t, get("/shipment/DHL/TN1"), &withWeather)
	if withWeather.Weather == nil || withWeather.Weather.TemperatureC != 9.5 || withWeather.Weather.Stale {
		t.Fatalf("after the weather change: %+v", withWeather.Weather)
	}
	var page []struct {
		Weather *struct{} `json:"weather"`
	}
	decodeInto(t, get("/shipment/?limit=1"), &page)
	if len(page) != 1 || page[0].Weather == nil {
		t.Fatal("the cached page still has no weather")
	}

	// Past the interval plus its grace (3 h for 2 h) the weather turns
	// stale without any write: the cached answer must not keep saying it
	// is fresh. Within the grace it is still fresh, and still cached.
	reads := st.gets.Load()
	get("/shipment/DHL/TN1")
	if st.gets.Load() != reads {
		t.Fatal("fresh answer not cached")
	}
	later := now.Add(2*time.Hour + time.Second)
	clock.Store(&later)
	decodeInto(t, get("/shipment/DHL/TN1"), &withWeather)
	if withWeather.Weather == nil || withWeather.Weather.Stale || st.gets.Load() != reads {
		t.Fatalf("2 h later: %+v after %d reads, want fresh from the cache", withWeather.Weather, st.gets.Load()-reads)
	}
	later = now.Add(3*time.Hour + time.Second)
	clock.Store(&later)
	decodeInto(t, get("/shipment/DHL/TN1"), &withWeather)
	if withWeather.Weather == nil || !withWeather.Weather.Stale {
		t.Fatalf("3 h later: %+v, want stale", withWeather.Weather)
	}

	// The feed is lost: nothing is served from memory until it is back.
	cache.Apply(shipment.Change{Kind: shipment.ChangeLost})
	reads = st.gets.Load()
	get("/shipment/DHL/TN1")
	get("/shipment/DHL/TN1")
	if n := st.gets.Load() - reads; n != 2 {
		t.Fatalf("%d store reads of 2 lookups while the feed is lost", n)
	}
}
