package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/shiptrack/shiptrack/shipment"
)

// importBatch bounds the rows per statement: well under SQLite's and
// PostgreSQL's limits on bound parameters.
const importBatch = 1000

// ImportResult says what an import changed.
type ImportResult struct {
	Shipments int // shipments in the file
	Articles  int // article rows in the file
	Created   int // shipments that were new
	Updated   int // shipments whose fields, articles or status changed
	// Events counts the events recorded: one per shipment whose status
	// column differs from its current status text, or per new line of an
	// events file.
	Events int
	// EventsFile is set for an events file; EventRows and EventsUnchanged
	// are its lines and those already recorded with the same content.
	EventsFile                 bool
	EventRows, EventsUnchanged int
	// NewLocations are the locations this import created; their weather is
	// due at once.
	NewLocations []uint64
}

// ImportCSV imports r in one transaction: a bad row writes nothing. r is
// a shipments file, streamed in constant memory (importStream), or an
// events file (shipment.ParseEventsCSV) when its header has an
// occurred_at column.
func (s *Store) ImportCSV(ctx context.Context, r io.Reader) (ImportResult, error) {
	return s.ImportCSVWith(ctx, r, ImportOptions{})
}

// ImportCSVWith is ImportCSV reporting progress through opt.
func (s *Store) ImportCSVWith(ctx context.Context, r io.Reader, opt ImportOptions) (ImportResult, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if shipment.IsEventsCSV(br) {
		evs, lines, err := shipment.ParseEventsCSV(br)
		if err != nil {
			return ImportResult{}, err
		}
		return s.ImportEvents(ctx, evs, lines)
	}
	return s.importStream(ctx, br, opt)
}

// ImportEvents appends the events of an events file in one transaction,
// as AppendEvents does; lines[i] is the line of evs[i], so a refused item
// (an unknown shipment, an event id recorded with other content) comes
// back as a *shipment.ImportError naming its line and column. Importing
// the same file again records nothing.
func (s *Store) ImportEvents(ctx context.Context, evs []shipment.EventInput, lines []int) (ImportResult, error) {
	res, err := s.AppendEvents(ctx, evs)
	var items shipment.ItemErrors
	if errors.As(err, &items) {
		it := items[0]
		col := it.Field
		if col == "status_text" {
			col = "status"
		}
		line := 0
		if it.Index < len(lines) {
			line = lines[it.Index]
		}
		if len(items) > 1 {
			return ImportResult{}, &shipment.ImportError{Line: line, Column: col, Err: fmt.Errorf("%w (and %d more bad lines)", it.Err, len(items)-1)}
		}
		return ImportResult{}, &shipment.ImportError{Line: line, Column: col, Err: it.Err}
	}
	if err != nil {
		return ImportResult{}, err
	}
	return ImportResult{EventsFile: true, EventRows: len(evs), Events: res.Created, EventsUnchanged: res.Unchanged}, nil
}

// Import upserts shipments by (carrier, tracking number) in one
// transaction; a shipment's articles are replaced by the input's. Rows that
// did not change are not written, so importing the same file twice changes
// nothing, updated_at included.
func (s *Store) Import(ctx context.Context, in []shipment.ShipmentInput) (ImportResult, error) {
	res := ImportResult{Shipments: len(in)}
	for _, si := range in {
		res.Articles += len(si.Articles)
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now, err := s.beginImport(tx)
		if err != nil {
			return err
		}
		locIDs, created, err := upsertLocations(tx, in)
		if err != nil {
			return err
		}
		res.NewLocations = created
		nextAnalyze := 10_000
		for start := 0; start < len(in); start += importBatch {
			end := min(start+importBatch, len(in))
			if err := writeShipments(ctx, tx, in[start:end], locIDs, now, &res); err != nil {
				return err
			}
			// A table that grows from empty inside one transaction has
			// no statistics, and PostgreSQL then plans the batch
			// lookups as full scans: refresh them as it grows.
			if res.Created >= nextAnalyze {
				if err := s.analyze(tx); err != nil {
					return err
				}
				nextAnalyze *= 2
			}
		}
		if res.Created+res.Updated > 0 {
			// Fresh statistics for the list queries that follow.
			return s.analyze(tx)
		}
		return nil
	})
	if err != nil {
		return ImportResult{}, fmt.Errorf("store: import: %w", wrapUnavailable(err))
	}
	return res, nil
}

// analyze refreshes the planner statistics of the imported tables.
func (s *Store) analyze(tx *gorm.DB) error {
	if s.driver == "postgres" {
		return tx.Exec("ANALYZE shipments, articles, locations, events").Error
	}
	// main only: a bare ANALYZE would also scan the streaming importer's
	// staging tables (temp), a million rows each time.
	return tx.Exec("ANALYZE main").Error
}

// upsertLocations returns the id of every parsed receiver location by key,
// creating the missing ones.
func upsertLocations(tx *gorm.DB, in []shipment.ShipmentInput) (map[string]uint64, []uint64, error) {
	ids := make(map[string]uint64)
	created, err := upsertLocationsInto(tx, in, ids)
	return ids, created, err
}

// upsertLocationsInto adds to ids the id of every parsed receiver location
// of in that it lacks, creating the missing locations, and returns the
// ids it created.
func upsertLocationsInto(tx *gorm.DB, in []shipment.ShipmentInput, ids map[string]uint64) ([]uint64, error) {
	want := make(map[string]shipment.Location)
	for _, si := range in {
		if l, ok := shipment.ParseLocation(si.ReceiverAddress); ok {
			if _, have := ids[l.Key()]; !have {
				want[l.Key()] = l
			}
		}
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	var created []uint64
	for start := 0; start < len(keys); start += importBatch {
		batch := keys[start:min(start+importBatch, len(keys))]
		var have []locationRow
		if err := tx.Select("id", "key").Where("key IN ?", batch).Find(&have).Error; err != nil {
			return nil, err
		}
		for _, r := range have {
			ids[r.Key] = r.ID
		}
		var rows []locationRow
		for _, k := range batch {
			if _, ok := ids[k]; !ok {
				l := want[k]
				rows = append(rows, locationRow{Key: k, PostalCode: l.PostalCode, City: l.City, Country: l.Country, PlaceKey: l.PlaceKey()})
			}
		}
		if len(rows) == 0 {
			continue
		}
		if err := tx.Create(&rows).Error; err != nil {
			return nil, err
		}
		for _, r := range rows {
			ids[r.Key] = r.ID
			created = append(created, r.ID)
		}
	}
	if len(created) > 0 {
		if err := linkPlaces(tx); err != nil {
			return nil, err
		}
	}
	return created, nil
}

// upsertShipments creates or updates the shipments of batch, stamping
// the rows it writes with now. A shipment's status is not written here:
// it comes from its events, and an input's Status (an import's status
// column) that differs from the status of the shipment's latest import
// event comes back as an event to append (source import, at now). So a
// re-import with the same statuses adds none, and a file exported before
// the carrier pushed newer events through the API does not bring the old
// status back. A new shipment is pending until then.
func upsertShipments(tx *gorm.DB, batch []shipment.ShipmentInput, locIDs map[string]uint64, now time.Time) (created, updated int, events []shipment.EventInput, err error) {
	tns := make([]string, len(batch))
	carriers := make(map[string]struct{})
	for i, si := range batch {
		tns[i] = shipment.NormalizeTrackingNumber(si.TrackingNumber)
		carriers[shipment.CarrierKey(si.Carrier)] = struct{}{}
	}
	carrierKeys := make([]string, 0, len(carriers))
	for c := range carriers {
		carrierKeys = append(carrierKeys, c)
	}
	// Both key columns, so the lookup uses the unique index's leading
	// column; tracking_number alone made PostgreSQL scan the whole table
	// once per batch.
	var existing []shipmentRow
	if err := tx.Where("carrier_key IN ? AND tracking_number IN ?", carrierKeys, tns).Find(&existing).Error; err != nil {
		return 0, 0, nil, err
	}
	byKey := make(map[shipmentKey]*shipmentRow, len(existing))
	ids := make([]uint64, 0, len(existing))
	for i := range existing {
		r := &existing[i]
		byKey[shipmentKey{r.CarrierKey, r.TrackingNumber}] = r
		ids = append(ids, r.ID)
	}
	oldArticles := make(map[uint64][]shipment.Article, len(ids))
	importedStatus, err := lastImportedStatus(tx, ids)
	if err != nil {
		return 0, 0, nil, err
	}
	if len(ids) > 0 {
		var arts []articleRow
		if err := tx.Where("shipment_id IN ?", ids).Order("shipment_id, position").Find(&arts).Error; err != nil {
			return 0, 0, nil, err
		}
		for _, a := range arts {
			oldArticles[a.ShipmentID] = append(oldArticles[a.ShipmentID], a.article())
		}
	}

	var (
		newRows   []shipmentRow
		newInputs []shipment.ShipmentInput
		replaced  []uint64
		articles  []articleRow
	)
	for _, si := range batch {
		row := shipmentRow{
			CarrierKey: shipment.CarrierKey(si.Carrier), TrackingNumber: shipment.NormalizeTrackingNumber(si.TrackingNumber),
			TrackingDisplay: si.TrackingNumber,
			Carrier:         si.Carrier, Status: shipment.StatusPending, SenderAddress: si.SenderAddress,
			ReceiverAddress: si.ReceiverAddress,
		}
		if l, ok := shipment.ParseLocation(si.ReceiverAddress); ok {
			id := locIDs[l.Key()]
			row.LocationID = &id
		}
		old, ok := byKey[shipmentKey{row.CarrierKey, row.TrackingNumber}]
		newStatus := si.Status != "" && (!ok || importedStatus[old.ID] != si.Status)
		if newStatus {
			events = append(events, shipment.EventInput{Carrier: si.Carrier, TrackingNumber: si.TrackingNumber,
				Event: shipment.Event{OccurredAt: now, StatusText: si.Status, Source: shipment.SourceImport}})
		}
		if !ok {
			row.CreatedAt, row.UpdatedAt = now, now
			newRows = append(newRows, row)
			newInputs = append(newInputs, si)
			continue
		}
		sameArticles := equalArticles(oldArticles[old.ID], si.Articles)
		if sameRow(old, &row) && sameArticles {
			if newStatus {
				updated++ // the event stamps the row
			}
			continue
		}
		updated++
		if err := tx.Model(&shipmentRow{}).Where("id = ?", old.ID).Updates(map[string]any{
			"tracking_display": row.TrackingDisplay, "carrier": row.Carrier, "sender_address": row.SenderAddress,
			"receiver_address": row.ReceiverAddress, "location_id": row.LocationID, "updated_at": now,
		}).Error; err != nil {
			return 0, 0, nil, err
		}
		if !sameArticles {
			replaced = append(replaced, old.ID)
			articles = appendArticleRows(articles, old.ID, si.Articles)
		}
	}
	if len(newRows) > 0 {
		// RETURNING fills the ids on both SQLite and PostgreSQL.
		if err := tx.Clauses(clause.Returning{Columns: []clause.Column{{Name: "id"}}}).Create(&newRows).Error; err != nil {
			return 0, 0, nil, err
		}
		for i, r := range newRows {
			articles = appendArticleRows(articles, r.ID, newInputs[i].Articles)
		}
	}
	if len(replaced) > 0 {
		if err := tx.Where("shipment_id IN ?", replaced).Delete(&articleRow{}).Error; err != nil {
			return 0, 0, nil, err
		}
	}
	if len(articles) > 0 {
		if err := tx.CreateInBatches(&articles, importBatch).Error; err != nil {
			return 0, 0, nil, err
		}
	}
	return len(newRows), updated, events, nil
}

func sameRow(a, b *shipmentRow) bool {
	sameLoc := (a.LocationID == nil) == (b.LocationID == nil) &&
		(a.LocationID == nil || *a.LocationID == *b.LocationID)
	return sameLoc && a.TrackingDisplay == b.TrackingDisplay && a.Carrier == b.Carrier &&
		a.SenderAddress == b.SenderAddress && a.ReceiverAddress == b.ReceiverAddress
}

func equalArticles(a, b []shipment.Article) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func appendArticleRows(dst []articleRow, shipmentID uint64, arts []shipment.Article) []articleRow {
	for i, a := range arts {
		dst = append(dst, articleRow{
			ShipmentID: shipmentID, Position: i, Name: a.Name,
			Quantity: a.Quantity, PriceCents: int64(a.Price), SKU: a.SKU,
		})
	}
	return dst
}

func (a articleRow) article() shipment.Article {
	return shipment.Article{Name: a.Name, Quantity: a.Quantity, Price: shipment.Money(a.PriceCents), SKU: a.SKU}
}

// lastImportedStatus returns the status text of the latest import event
// of each shipment of ids that has one.
func lastImportedStatus(tx *gorm.DB, ids []uint64) (map[uint64]string, error) {
	out := make(map[uint64]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		ID         uint64
		StatusText *string
	}
	err := tx.Raw("SELECT s.id AS id, (SELECT e.status_text FROM events e WHERE e.shipment_id = s.id AND e.source = ?"+
		" ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1) AS status_text FROM shipments s WHERE s.id IN ?", shipment.SourceImport, ids).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if r.StatusText != nil {
			out[r.ID] = *r.StatusText
		}
	}
	return out, nil
}

// beginImport starts an import's transaction as a write (beginWrite). On
// PostgreSQL the batch lookups' IN lists run against tables that grow
// inside this transaction: a generic plan, made once while they were
// small, would scan them whole, so the import plans each statement anew.
// Reads elsewhere keep the generic plans that make them cheap.
func (s *Store) beginImport(tx *gorm.DB) (time.Time, error) {
	now, err := s.beginWrite(tx)
	if err != nil || s.driver != "postgres" {
		return now, err
	}
	return now, tx.Exec("SET LOCAL plan_cache_mode = force_custom_plan").Error
}

// writeShipments writes one batch of an import's shipments and the
// events their status column adds, counting them in res.
func writeShipments(ctx context.Context, tx *gorm.DB, batch []shipment.ShipmentInput, locIDs map[string]uint64, now time.Time, res *ImportResult) error {
	c, u, events, err := upsertShipments(tx, batch, locIDs, now)
	if err != nil {
		return err
	}
	ev, err := appendEvents(ctx, tx, events, now, func() (time.Time, error) { return now, nil })
	if err != nil {
		return err
	}
	res.Events += ev.Created
	res.Created += c
	res.Updated += u
	return nil
}
