package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// NormalizeTrackingNumber is the form a tracking number is stored and
// looked up by: no spaces anywhere, upper case. Carriers print tracking
// numbers in upper case and people type them any way, with spaces, so
// "tn 1234 5678" finds TN12345678. The shipment keeps its own spelling for
// answers (tracking_display).
func NormalizeTrackingNumber(tn string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToUpper(r)
	}, tn)
}

// migrationRow records a one-time data migration that has run, so start-up
// does not scan every shipment again. Not "schema_migrations": migration
// tools (golang-migrate, Rails) use that name with other columns.
type migrationRow struct {
	Name string `gorm:"primaryKey;size:100"`
}

func (migrationRow) TableName() string { return "shiptrack_migrations" }

const migrationTrackingNumbers = "tracking_numbers_normalised"

// CollisionError reports shipments whose tracking numbers become equal
// once normalised: the migration merges nothing and stops, naming them,
// until someone decides which one to keep.
type CollisionError struct {
	// Groups holds each colliding set, every member as `CARRIER "spelling"
	// (id N)`.
	Groups [][]string
}

func (e *CollisionError) Error() string {
	const show = 20
	parts := make([]string, 0, min(len(e.Groups), show))
	for _, g := range e.Groups[:min(len(e.Groups), show)] {
		parts = append(parts, strings.Join(g, " and "))
	}
	more := ""
	if len(e.Groups) > show {
		more = fmt.Sprintf("; and %d more", len(e.Groups)-show)
	}
	return fmt.Sprintf("%d sets of shipments have the same carrier and tracking number once tracking numbers are normalised "+
		"(spaces removed, upper case), so the migration stopped and changed nothing; delete or rename all but one of each, then start again: %s%s",
		len(e.Groups), strings.Join(parts, "; "), more)
}

// migrateTrackingNumbers stores every tracking number in its normalised
// form, keeping the old spelling in tracking_display. It runs once per
// database; rows that would collide are reported, never merged.
func (s *Store) migrateTrackingNumbers(ctx context.Context) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.driver == "postgres" {
			// Replicas starting at once take turns (same lock as the other
			// start-up migrations); the second then finds the marker.
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", int64(changeTriggersLock)).Error; err != nil {
				return err
			}
		}
		var done int64
		if err := tx.Model(&migrationRow{}).Where("name = ?", migrationTrackingNumbers).Count(&done).Error; err != nil {
			return err
		}
		if done > 0 {
			return nil
		}
		type row struct {
			ID              uint64
			CarrierKey      string
			Carrier         string
			TrackingNumber  string
			TrackingDisplay string
		}
		rows, err := tx.Model(&shipmentRow{}).Select("id", "carrier_key", "carrier", "tracking_number", "tracking_display").Order("id").Rows()
		if err != nil {
			return err
		}
		byKey := make(map[shipmentKey][]row)
		var change []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.ID, &r.CarrierKey, &r.Carrier, &r.TrackingNumber, &r.TrackingDisplay); err != nil {
				rows.Close()
				return err
			}
			k := shipmentKey{r.CarrierKey, NormalizeTrackingNumber(r.TrackingNumber)}
			byKey[k] = append(byKey[k], row{ID: r.ID, Carrier: r.Carrier, TrackingNumber: r.TrackingNumber})
			if k.trackingNumber != r.TrackingNumber {
				change = append(change, r)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var coll CollisionError
		for _, rs := range byKey {
			if len(rs) < 2 {
				continue
			}
			g := make([]string, len(rs))
			for i, r := range rs {
				g[i] = fmt.Sprintf("%s %q (id %d)", r.Carrier, r.TrackingNumber, r.ID)
			}
			coll.Groups = append(coll.Groups, g)
		}
		if len(coll.Groups) > 0 {
			sort.Slice(coll.Groups, func(i, j int) bool { return coll.Groups[i][0] < coll.Groups[j][0] })
			return &coll
		}
		// No new key equals another row's current key (that row would
		// normalise to it too: a collision), so the unique index holds
		// after every single update.
		for _, r := range change {
			if err := tx.Model(&shipmentRow{}).Where("id = ?", r.ID).Updates(map[string]any{
				"tracking_number": NormalizeTrackingNumber(r.TrackingNumber), "tracking_display": r.TrackingNumber,
			}).Error; err != nil {
				return err
			}
		}
		if err := tx.Exec("UPDATE shipments SET tracking_display = tracking_number WHERE tracking_display = ''").Error; err != nil {
			return err
		}
		return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&migrationRow{Name: migrationTrackingNumbers}).Error
	})
}
