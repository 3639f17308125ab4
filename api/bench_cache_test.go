package api_test

import (
	"context"
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
	benchLookups(b, srv, func(int) shipment.ShipmentInput {
		return shipment.ShipmentInput{Carrier: one.Carrier, TrackingNumber: one.TrackingNumber}
	})
}
