package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/shipment"
)

// BenchmarkAPICached is BenchmarkAPI's memory backend with the read cache
// on: every request after the first is a cache hit, the path most
// production lookups take.
func BenchmarkAPICached(b *testing.B) {
	m := memShipments()
	one, _ := m.Get(context.Background(), "", "")
	cache := api.NewCache(64 << 20)
	cache.Apply(shipment.Change{Kind: shipment.ChangeListening})
	srv := api.New(api.Config{Shipments: m, Cache: cache, Metrics: metrics.NewSet(), Tokens: []string{benchToken}})
	b.Run("get", func(b *testing.B) {
		benchHandler(b, srv, func(int) *http.Request {
			return httptest.NewRequest(http.MethodGet, "/shipment/"+one.Carrier+"/"+one.TrackingNumber, nil)
		})
	})
	b.Run("post", func(b *testing.B) {
		benchHandler(b, srv, func(int) *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/shipment/",
				strings.NewReader(`{"tracking_number":"`+one.TrackingNumber+`","carrier":"`+one.Carrier+`"}`))
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
