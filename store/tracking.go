package store

import (
	"fmt"
	"sort"
	"strings"

	"gorm.io/gorm"

	"github.com/shiptrack/shiptrack/shipment"
)

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

// migrateTrackingNumbers (migration 4) stores every tracking number in
// its normalised form, keeping the old spelling in tracking_display; rows
// that would collide are reported, never merged, and the migration is not
// recorded, so it runs again at the next start. It is Go, not SQL, because
// the normalisation is Unicode's (NormalizeTrackingNumber).
//
// The release before versioned migrations ran it itself and recorded that
// in shiptrack_migrations: a database with that mark is not scanned again.
// The table is dropped either way; goose's version table replaces it.
func migrateTrackingNumbers(tx *gorm.DB) error {
	done, err := legacyTrackingMark(tx)
	if err != nil {
		return err
	}
	if !done {
		if err := normaliseTrackingNumbers(tx); err != nil {
			return err
		}
	}
	return tx.Exec("DROP TABLE IF EXISTS shiptrack_migrations").Error
}

// legacyTrackingMark reports whether the release before versioned
// migrations recorded the normalisation as done.
func legacyTrackingMark(tx *gorm.DB) (bool, error) {
	if !tx.Migrator().HasTable("shiptrack_migrations") {
		return false, nil
	}
	var n int64
	err := tx.Raw("SELECT count(*) FROM shiptrack_migrations WHERE name = 'tracking_numbers_normalised'").Scan(&n).Error
	return n > 0, err
}

func normaliseTrackingNumbers(tx *gorm.DB) error {
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
		k := shipmentKey{r.CarrierKey, shipment.NormalizeTrackingNumber(r.TrackingNumber)}
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
			"tracking_number": shipment.NormalizeTrackingNumber(r.TrackingNumber), "tracking_display": r.TrackingNumber,
		}).Error; err != nil {
			return err
		}
	}
	return tx.Exec("UPDATE shipments SET tracking_display = tracking_number WHERE tracking_display = ''").Error
}
