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
		TrackingNumber: NormalizeTrackingNumber(tn), TrackingDisplay: tn, Status: "x", CreatedAt: now, UpdatedAt: now}).Error
}

// HoldReadSlotsForTest takes n read slots, as n reads in progress would,
// until release is called.
func (s *Store) HoldReadSlotsForTest(n int) (release func()) {
	for range n {
		s.readSlots <- struct{}{}
	}
	return func() {
		for range n {
			<-s.readSlots
		}
	}
}

// ReadSlotCount is the number of reads that run at once.
const ReadSlotCount = readSlotCount

// CreateDatabaseForTest is createDatabase, to race replicas on it.
var CreateDatabaseForTest = createDatabase
