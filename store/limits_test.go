package store

import (
	"sync"
	"testing"

	"gorm.io/gorm/schema"

	"github.com/shiptrack/shiptrack/valid"
)

// TestSchemaMatchesLimits: the column sizes in the schema's struct tags
// (which cannot name a constant) are package valid's limits, so what the
// boundary lets in always fits.
func TestSchemaMatchesLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		model  any
		column string
		limit  int
	}{
		{&shipmentRow{}, "carrier_key", valid.Carrier},
		{&shipmentRow{}, "carrier", valid.Carrier},
		{&shipmentRow{}, "tracking_number", valid.TrackingNumber},
		{&shipmentRow{}, "status", valid.Status},
		{&shipmentRow{}, "sender_address", valid.Address},
		{&shipmentRow{}, "receiver_address", valid.Address},
		{&shipmentRow{}, "status_text", valid.StatusText},
		{&eventRow{}, "event_id", valid.EventID},
		{&eventRow{}, "status", valid.Status},
		{&eventRow{}, "status_text", valid.StatusText},
		{&eventRow{}, "location", valid.EventLocation},
		{&eventRow{}, "message", valid.Message},
		{&eventRow{}, "source", valid.EventSource},
		{&articleRow{}, "name", valid.ArticleName},
		{&articleRow{}, "sku", valid.SKU},
		{&locationRow{}, "postal_code", valid.PostalCode},
		{&locationRow{}, "city", valid.City},
		{&locationRow{}, "country", valid.Country},
		{&locationRow{}, "key", valid.LocationKey},
		{&locationRow{}, "place_key", valid.LocationKey},
	}
	cache := &sync.Map{}
	for _, tt := range tests {
		s, err := schema.Parse(tt.model, cache, schema.NamingStrategy{})
		if err != nil {
			t.Fatal(err)
		}
		f := s.LookUpField(tt.column)
		if f == nil {
			t.Errorf("%s has no column %s", s.Table, tt.column)
			continue
		}
		if f.Size != tt.limit {
			t.Errorf("%s.%s is varchar(%d); package valid allows %d characters", s.Table, tt.column, f.Size, tt.limit)
		}
	}
}
