package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/shiptrack/shiptrack/shipment"
)

// migrateEvents (migration 6) gives every shipment of a database from
// before tracking events its status as its first event: status_text the
// old status as it was stored, status its NormalizeStatus, source import,
// occurred_at the shipment's updated_at (when the status was last set;
// created_at, or now, when that is missing) and event_id its ContentID,
// so an events file or API call that later sends the same event matches
// it. The shipment's status becomes the normalised one and its status_text
// the old text; updated_at stays. It is Go, not SQL, because the status
// table and the content id are (package shipment). On a database that has
// events already it adds nothing twice.
func migrateEvents(tx *gorm.DB) error {
	ctx := tx.Statement.Context
	if ctx == nil {
		ctx = context.Background()
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	var last uint64
	for {
		var rows []shipmentRow
		if err := tx.Select("id", "status", "created_at", "updated_at").Where("id > ? AND status <> ''", last).
			Order("id").Limit(eventBatch).Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			break
		}
		ps := make([]pendingEvent, len(rows))
		for i, r := range rows {
			at := r.UpdatedAt
			if at.IsZero() {
				at = r.CreatedAt
			}
			if at.IsZero() {
				at = now
			}
			ps[i] = pendingEvent{shipmentID: r.ID, ev: shipment.Event{OccurredAt: at, StatusText: r.Status, Source: shipment.SourceImport}.Normalized()}
		}
		if _, err := insertEvents(ctx, tx.Statement.ConnPool, isPostgres(tx), ps, now); err != nil {
			return err
		}
		last = rows[len(rows)-1].ID
	}
	return tx.Exec("UPDATE shipments SET status = " + latestSQL("status") + ", status_text = " + latestSQL("status_text") +
		" WHERE status_text = '' AND EXISTS (SELECT 1 FROM events e WHERE e.shipment_id = shipments.id)").Error
}
