package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/internal/mock"
	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store/storetest"
)

// TestNextLinkKeepsFilters: following rel="next" from a filtered page
// stays within the filter on every page, for ?status=, ?carrier= and
// both, on both databases.
func TestNextLinkKeepsFilters(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			st := storetest.Open(t, d)
			var in []shipment.ShipmentInput
			for i := range 30 {
				in = append(in, shipment.ShipmentInput{TrackingNumber: fmt.Sprintf("TN%03d", i), Carrier: []string{"DHL", "UPS", "gls"}[i%3],
					Status: []string{"Delivered", "exception"}[i%2], ReceiverAddress: "S 1, 1000 Brussels, Belgium",
					Articles: []shipment.Article{{Name: "A", Quantity: 1, Price: 100}}})
			}
			if _, err := st.Import(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(api.New(api.Config{Shipments: st}))
			t.Cleanup(srv.Close)
			for _, tt := range []struct {
				query, carrier, status string
				want                   int
			}{
				{"status=delivered", "", "delivered", 15},
				{"carrier=dhl", "dhl", "", 10},
				{"carrier=UPS&status=exception", "ups", "exception", 5},
			} {
				rows := 0
				next := srv.URL + "/shipment/?limit=2&" + tt.query
				for pages := 0; next != ""; pages++ {
					if pages > tt.want {
						t.Fatalf("%s: pagination does not end", tt.query)
					}
					r := do(t, "GET", next, "", "")
					if r.status != 200 {
						t.Fatalf("GET %s = %d %s", next, r.status, r.body)
					}
					for _, s := range decode[[]api.ShipmentJSON](t, r) {
						rows++
						if (tt.carrier != "" && shipment.CarrierKey(s.Carrier) != tt.carrier) || (tt.status != "" && s.Status != tt.status) {
							t.Errorf("%s: page %d has %s/%s status %s", tt.query, pages+1, s.Carrier, s.TrackingNumber, s.Status)
						}
					}
					next = ""
					if link := r.header.Get("Link"); link != "" {
						next = srv.URL + strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
					}
				}
				if rows != tt.want {
					t.Errorf("%s: %d rows over all pages, want %d", tt.query, rows, tt.want)
				}
			}
		})
	}
}

// twoPlaces serves a page of two shipments whose weather was fetched at
// the given times, and counts the reads that reach it in lists.
func twoPlaces(fetched [2]time.Time, lists *atomic.Int64) *mock.Shipments {
	return &mock.Shipments{ListFn: func(context.Context, shipment.ListParams) (shipment.Page, error) {
		lists.Add(1)
		var out []shipment.Shipment
		for i, at := range fetched {
			id := uint64(i + 1)
			out = append(out, shipment.Shipment{TrackingNumber: fmt.Sprintf("TN%d", i), Carrier: "DHL", Status: "x", Articles: []shipment.Article{},
				Location: &shipment.Location{ID: id, WeatherID: id, PostalCode: "1", City: fmt.Sprint("C", i), Country: "X"},
				Weather:  &shipment.Weather{LocationID: id, Provider: "weatherapi", ObservedAt: at, FetchedAt: at}})
		}
		return shipment.Page{Shipments: out}, nil
	}}
}

// TestCachedPageExpiresWithItsOldestWeather: a cached page holding
// weathers of different ages is dropped when the first of them turns
// stale, not the last: it never shows stale weather as fresh.
func TestCachedPageExpiresWithItsOldestWeather(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	// Fetched now and an hour ago; with the 2 h interval, weather turns
	// stale 3 h after it was fetched: at now+2h and now+3h.
	var lists atomic.Int64
	st := twoPlaces([2]time.Time{now, now.Add(-time.Hour)}, &lists)
	cache := api.NewCache(1 << 20)
	cache.Apply(shipment.Change{Kind: shipment.ChangeListening})
	srv := httptest.NewServer(api.New(api.Config{Shipments: st, Cache: cache, WeatherInterval: 2 * time.Hour,
		Now: func() time.Time { return *clock.Load() }}))
	t.Cleanup(srv.Close)
	page := func(at time.Time) []api.ShipmentJSON {
		t.Helper()
		clock.Store(&at)
		r := do(t, "GET", srv.URL+"/shipment/", "", "")
		if r.status != 200 {
			t.Fatalf("GET = %d %s", r.status, r.body)
		}
		return decode[[]api.ShipmentJSON](t, r)
	}
	page(now)
	if p := page(now.Add(2 * time.Hour)); lists.Load() != 1 || p[1].Weather.Stale {
		t.Fatalf("at +2h: %d reads, second weather stale %v; want the cached page, still fresh", lists.Load(), p[1].Weather.Stale)
	}
	p := page(now.Add(2*time.Hour + time.Second))
	if lists.Load() != 2 || !p[1].Weather.Stale || p[0].Weather.Stale {
		t.Fatalf("at +2h1s: %d reads, stale %v %v; want a new read with only the older weather stale",
			lists.Load(), p[0].Weather.Stale, p[1].Weather.Stale)
	}
}
