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

// UnsharePlacesForTest puts the database back in its shape from before
// weather was shared per place: no place keys, no links, and a weather row
// for every location (as when weather was kept per postal code), each with
// its own temperature.
func (s *Store) UnsharePlacesForTest(ctx context.Context) error {
	db := s.db.WithContext(ctx)
	if err := s.ForgetMigrationsForTest(ctx, migrationPlaces); err != nil {
		return err
	}
	if err := db.Exec("UPDATE locations SET place_key = '', weather_location_id = NULL").Error; err != nil {
		return err
	}
	var ids []uint64
	if err := db.Model(&locationRow{}).Order("id").Pluck("id", &ids).Error; err != nil {
		return err
	}
	now := time.Now().UTC()
	for i, id := range ids {
		w := weatherRow{LocationID: id, TemperatureC: float64(i), Provider: "weatherapi", FetchedAt: &now}
		if err := db.Save(&w).Error; err != nil {
			return err
		}
	}
	return nil
}

// CreateDatabaseForTest is createDatabase, to race replicas on it.
var CreateDatabaseForTest = createDatabase

// ForgetMigrationsForTest removes the record of migrations from version
// on, as if the database were from before them: the next Open runs them.
func (s *Store) ForgetMigrationsForTest(ctx context.Context, from int64) error {
	return s.db.WithContext(ctx).Exec("DELETE FROM "+versionTable+" WHERE version_id >= ?", from).Error
}

// MigrationTrackingNumbers is the version of the tracking-number
// normalisation.
const MigrationTrackingNumbers = migrationTrackingNumbers
