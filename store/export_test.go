package store

import (
	"context"
	"time"
)

// InsertRawShipmentForTest writes a shipment row directly, bypassing
// Import's checks, to prove the database's own constraints.
func (s *Store) InsertRawShipmentForTest(ctx context.Context, carrier, tn string) error {
	now := time.Now().UTC()
	return s.db.WithContext(ctx).Create(&shipmentRow{CarrierKey: CarrierKey(carrier), Carrier: carrier,
		TrackingNumber: tn, Status: "x", CreatedAt: now, UpdatedAt: now}).Error
}
