package api_test

// Benchmarks of the HTTP handlers, middleware included (request id,
// metrics, request log, recover, body limit, timeout, bearer token), driven
// through httptest.NewRecorder without sockets. They run only with -bench
// and assert nothing about timings:
//
//	go test -bench . -run '^$' ./api
//
// "memory" serves a fixed shipment from memory: the cost of Echo, the
// middleware and JSON alone. "sqlite" and "postgres" serve 20,000
// shipments from a real store, as the binary does.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/bench/benchdata"
	"github.com/shiptrack/shiptrack/internal/mock"
	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store/storetest"
)

const benchToken = "bench-token"

// memShipments answers every lookup with one shipment and every list with
// the same page of 100.
func memShipments() *mock.Shipments {
	now := time.Now().UTC().Truncate(time.Second)
	in := benchdata.Shipments(100, 1000, 20_000_000)
	var page []shipment.Shipment
	for i, s := range in {
		loc, _ := shipment.ParseLocation(s.ReceiverAddress)
		loc.ID = uint64(i + 1)
		sh := shipment.Shipment{
			TrackingNumber: s.TrackingNumber, Carrier: s.Carrier, Status: s.Status,
			SenderAddress: s.SenderAddress, ReceiverAddress: s.ReceiverAddress,
			CreatedAt: now, UpdatedAt: now, Articles: s.Articles, Location: &loc,
			Weather: &shipment.Weather{
				LocationID: loc.ID, Query: loc.City + ", " + loc.Country, TemperatureC: 8.2, Condition: "Partly cloudy",
				ConditionCode: "1003", Humidity: 81, WindKph: 15.1, ObservedAt: now, FetchedAt: now, Provider: "weatherapi",
			},
		}
		page = append(page, sh)
	}
	return &mock.Shipments{
		GetFn: func(context.Context, string, string) (shipment.Shipment, error) { return page[0], nil },
		ListFn: func(_ context.Context, p shipment.ListParams) (shipment.Page, error) {
			return shipment.Page{Shipments: page[:min(p.Limit, len(page))], NextCursor: "eyJjIjoiZGhsIiwidCI6IlROMSJ9"}, nil
		},
	}
}

func BenchmarkAPI(b *testing.B) {
	for _, backend := range append([]string{"memory"}, storetest.Drivers...) {
		b.Run(backend, func(b *testing.B) {
			var (
				shipments api.Shipments
				lookups   []shipment.ShipmentInput
				deep      string
			)
			if backend == "memory" {
				shipments = memShipments()
				one, _ := shipments.Get(context.Background(), "", "")
				lookups = []shipment.ShipmentInput{{Carrier: one.Carrier, TrackingNumber: one.TrackingNumber}}
				deep = "eyJjIjoiZGhsIiwidCI6IlROMSJ9"
			} else {
				st := storetest.Open(b, backend)
				ctx := context.Background()
				in, err := benchdata.Load(ctx, st, 20_000, 1_000)
				if err != nil {
					b.Fatalf("load: %v", err)
				}
				shipments, lookups = st, in
				for range 18 { // 18,000 of 20,000: the page at 90%
					page, err := st.List(ctx, shipment.ListParams{Limit: 1000, Cursor: deep})
					if err != nil {
						b.Fatal(err)
					}
					deep = page.NextCursor
				}
			}
			srv := api.New(api.Config{
				Shipments: shipments,
				Metrics:   metrics.NewSet(),
				Tokens:    []string{benchToken},
			})
			pick := func(i int) shipment.ShipmentInput { return lookups[(i*7919)%len(lookups)] }

			benchLookups(b, srv, pick)
			b.Run("list_deep", func(b *testing.B) {
				benchHandler(b, srv, func(int) *http.Request {
					r := httptest.NewRequest(http.MethodGet, "/shipment/?limit=100&cursor="+deep, nil)
					r.Header.Set("Authorization", "Bearer "+benchToken)
					return r
				})
			})
		})
	}
}

// benchLookups runs the get, post and list_first benchmarks against srv,
// looking up pick(i) on the i-th request.
func benchLookups(b *testing.B, srv http.Handler, pick func(i int) shipment.ShipmentInput) {
	b.Run("get", func(b *testing.B) {
		benchHandler(b, srv, func(i int) *http.Request {
			s := pick(i)
			return httptest.NewRequest(http.MethodGet, "/shipment/"+s.Carrier+"/"+s.TrackingNumber, nil)
		})
	})
	b.Run("post", func(b *testing.B) {
		benchHandler(b, srv, func(i int) *http.Request {
			s := pick(i)
			r := httptest.NewRequest(http.MethodPost, "/shipment/",
				strings.NewReader(`{"tracking_number":"`+s.TrackingNumber+`","carrier":"`+s.Carrier+`"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		})
	})
	b.Run("list_first", func(b *testing.B) {
		benchHandler(b, srv, func(int) *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/shipment/?limit=100", nil)
			r.Header.Set("Authorization", "Bearer "+benchToken)
			return r
		})
	})
}

func benchHandler(b *testing.B, h http.Handler, req func(i int) *http.Request) {
	b.Helper()
	b.ReportAllocs()
	var bytes int64
	i := 0
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req(i))
		i++
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		bytes += int64(rec.Body.Len())
	}
	b.SetBytes(bytes / int64(max(1, i)))
}
