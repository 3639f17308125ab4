package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/shiptrack/shiptrack/shipment"
)

// Tracking events (issue 15). A shipment's status and status_text are
// its latest event's: the greatest occurred_at and, among equal times,
// the highest events.id, i.e. the one recorded last (within one batch,
// the later item). Every write that changes a shipment (Import, Put,
// AppendEvents) stamps updated_at through beginWrite, so the incremental
// sync of List (UpdatedSince) can follow (updated_at, id) without missing
// a change.

// eventBatch bounds the rows of one INSERT: 9 parameters a row stays well
// under both databases' limits.
const eventBatch = 1000

// writeLockID is the PostgreSQL advisory lock every shipment write holds
// until it commits (beginWrite); goose's is lock.DefaultLockID.
const writeLockID = 0x73687074726b // "shptrk"

// beginWrite serialises the transactions that change shipments and
// returns their updated_at stamp: later than every stamp already stored,
// whatever the clocks of the replicas say. Taken before the
// transaction's first write of shipments (Import and Put: at their start;
// AppendEvents: after its inserts, before the shipments update) and held
// until it commits, the lock makes commit order stamp order, so a reader
// that has seen the stamps up to T will never later find a newer commit
// stamped before T: that is what lets a sync client follow (updated_at,
// id) without missing a change. SQLite transactions are serialised
// already (BEGIN IMMEDIATE).
func (s *Store) beginWrite(tx *gorm.DB) (time.Time, error) {
	if s.driver == "postgres" {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", writeLockID).Error; err != nil {
			return time.Time{}, err
		}
	}
	var last []time.Time
	// ORDER BY ... LIMIT 1, not max(): SQLite returns an aggregate of a
	// datetime column as text.
	if err := tx.Raw("SELECT updated_at FROM shipments WHERE updated_at IS NOT NULL ORDER BY updated_at DESC, id DESC LIMIT 1").Scan(&last).Error; err != nil {
		return time.Time{}, err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if len(last) == 1 && !now.After(last[0]) {
		now = last[0].UTC().Add(time.Microsecond)
	}
	return now, nil
}

// AppendEvents records a batch of events, for any number of shipments,
// all or nothing in one transaction. Each event is normalised first
// (shipment.Event.Normalized: an EventID from ContentID when empty;
// Source defaults to api). A bad batch writes nothing and returns
// shipment.ItemErrors naming every bad item: a field that fails
// Validate, an unknown shipment ("tracking_number", shipment.ErrNotFound),
// an event id already recorded for the shipment, or repeated in the
// batch, with other content ("event_id", shipment.ErrEventConflict).
// An event recorded already with the same content counts as Unchanged.
// The shipments that got new events take their latest event's status
// and a new updated_at; a batch with nothing new changes nothing.
func (s *Store) AppendEvents(ctx context.Context, in []shipment.EventInput) (shipment.AppendResult, error) {
	var res shipment.AppendResult
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The write lock only at the end, for the shipments update: the
		// lookups and inserts of concurrent batches run side by side.
		var err error
		res, err = appendEvents(ctx, tx, in, time.Now().UTC().Truncate(time.Microsecond), func() (time.Time, error) { return s.beginWrite(tx) })
		return err
	})
	if err != nil {
		return shipment.AppendResult{}, fmt.Errorf("store: append events: %w", wrapUnavailable(err))
	}
	return res, nil
}

// pendingEvent is one event of a batch on its way in.
type pendingEvent struct {
	index      int // in the caller's batch
	shipmentID uint64
	ev         shipment.Event
}

// appendEvents is AppendEvents inside the caller's transaction (Import
// uses it for its status events): now is the events' created_at and the
// time their occurred_at is checked against; stamp, called only when a
// shipment changes, right before it is updated, is beginWrite (or the
// stamp the caller got from it).
func appendEvents(ctx context.Context, tx *gorm.DB, in []shipment.EventInput, now time.Time, stamp func() (time.Time, error)) (shipment.AppendResult, error) {
	var res shipment.AppendResult
	if len(in) == 0 {
		return res, nil
	}
	var bad shipment.ItemErrors
	evs := make([]shipment.Event, len(in))
	keys := make([]shipmentKey, len(in))
	for i, e := range in {
		if field, err := e.Event.Validate(now); err != nil {
			bad = append(bad, shipment.ItemError{Index: i, Field: field, Err: err})
			continue
		}
		evs[i] = e.Event.Normalized()
		if evs[i].Source == "" {
			evs[i].Source = shipment.SourceAPI
		}
		keys[i] = shipmentKey{shipment.CarrierKey(e.Carrier), shipment.NormalizeTrackingNumber(e.TrackingNumber)}
	}
	ids, err := shipmentIDs(tx, keys)
	if err != nil {
		return res, err
	}
	// One event per (shipment, event id): a repeat in the batch is a
	// retry when it says the same, a conflict when not.
	first := make(map[evKey]int, len(in))
	pending := make([]pendingEvent, 0, len(in))
	for i := range in {
		if evs[i].OccurredAt.IsZero() { // invalid, reported above
			continue
		}
		id, ok := ids[keys[i]]
		if !ok {
			bad = append(bad, shipment.ItemError{Index: i, Field: "tracking_number", Err: shipment.ErrNotFound})
			continue
		}
		k := evKey{id, evs[i].EventID}
		if j, dup := first[k]; dup {
			if !evs[j].SameContent(evs[i]) {
				bad = append(bad, shipment.ItemError{Index: i, Field: "event_id", Err: shipment.ErrEventConflict})
			} else {
				res.Unchanged++
			}
			continue
		}
		first[k] = i
		pending = append(pending, pendingEvent{index: i, shipmentID: id, ev: evs[i]})
	}
	if len(bad) > 0 {
		return shipment.AppendResult{}, sortItems(bad)
	}
	pool := tx.Statement.ConnPool
	inserted, err := insertEvents(ctx, pool, isPostgres(tx), pending, now)
	if err != nil {
		return res, err
	}
	touched := make(map[uint64]bool)
	for k := range inserted {
		touched[k.shipmentID] = true
	}
	res.Created = len(inserted)
	// The rest were recorded before: a replay when they say the same.
	var again []pendingEvent
	for _, p := range pending {
		if !inserted[evKey{p.shipmentID, p.ev.EventID}] {
			again = append(again, p)
		}
	}
	if len(again) > 0 {
		stored, err := storedEvents(ctx, pool, isPostgres(tx), again)
		if err != nil {
			return res, err
		}
		for _, p := range again {
			old, ok := stored[evKey{p.shipmentID, p.ev.EventID}]
			switch {
			case !ok:
				return res, fmt.Errorf("event %q of shipment %d neither inserted nor found", p.ev.EventID, p.shipmentID)
			case !old.SameContent(p.ev):
				bad = append(bad, shipment.ItemError{Index: p.index, Field: "event_id", Err: shipment.ErrEventConflict})
			default:
				res.Unchanged++
			}
		}
		if len(bad) > 0 {
			return shipment.AppendResult{}, sortItems(bad)
		}
	}
	if len(touched) == 0 {
		return res, nil
	}
	ids2 := make([]uint64, 0, len(touched))
	for id := range touched {
		ids2 = append(ids2, id)
	}
	// In id order, not a map's: the update then walks the shipments'
	// pages and primary key in order.
	slices.Sort(ids2)
	at, err := stamp()
	if err != nil {
		return res, err
	}
	// Webhooks: the statuses before, read under the write lock, so the
	// outbox rows written below name each change once.
	hooks, err := activeHooks(ctx, pool)
	if err != nil {
		return res, err
	}
	var before map[uint64]shipStatus
	if len(hooks) > 0 {
		if before, err = statusesOf(ctx, pool, ids2); err != nil {
			return res, err
		}
	}
	if err := setLatest(ctx, pool, isPostgres(tx), ids2, at); err != nil {
		return res, err
	}
	if len(hooks) > 0 {
		return res, enqueueWebhooks(ctx, pool, hooks, ids2, before, at)
	}
	return res, nil
}

// evKey identifies an event: its shipment's id and its event id.
type evKey struct {
	shipmentID uint64
	eventID    string
}

// insertEvents inserts the events of ps that are not recorded yet, with
// created_at now, eventBatch rows per statement, and returns the keys of
// those it inserted.
func insertEvents(ctx context.Context, pool gorm.ConnPool, pg bool, ps []pendingEvent, now time.Time) (map[evKey]bool, error) {
	inserted := make(map[evKey]bool, len(ps))
	if pg {
		return inserted, insertEventsPG(ctx, pool, ps, now, inserted)
	}
	for start := 0; start < len(ps); start += eventBatch {
		batch := ps[start:min(start+eventBatch, len(ps))]
		var q strings.Builder
		q.WriteString("INSERT INTO events (shipment_id, event_id, occurred_at, status, status_text, location, message, source, created_at) VALUES ")
		args := make([]any, 0, len(batch)*9)
		for i, p := range batch {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteByte('(')
			for c := range 9 {
				if c > 0 {
					q.WriteByte(',')
				}
				q.WriteByte('$')
				q.WriteString(strconv.Itoa(len(args) + c + 1))
			}
			q.WriteByte(')')
			e := p.ev
			args = append(args, p.shipmentID, e.EventID, e.OccurredAt, e.Status, e.StatusText, e.Location, e.Message, e.Source, now)
		}
		// Rows are numbered in VALUES order, so within a batch the later
		// of two events at one time is the latest.
		q.WriteString(" ON CONFLICT (shipment_id, event_id) DO NOTHING RETURNING shipment_id, event_id")
		rows, err := pool.QueryContext(ctx, q.String(), args...)
		err = eachRow(rows, err, func(rows *sql.Rows) error {
			var k evKey
			if err := rows.Scan(&k.shipmentID, &k.eventID); err != nil {
				return err
			}
			inserted[k] = true
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return inserted, nil
}

// Measured for issue 15's bulk ingest (PostgreSQL CPU per 1,000-event
// batch, about 60 ms here) and kept anyway: the foreign key to shipments
// (about 12% of it; it keeps events from outliving a shipment),
// ix_shipments_status (about 8%; List's ?status= pages walk it) and ON
// CONFLICT DO NOTHING (reading the stored ids first and inserting the
// rest plainly, retrying a batch that loses a race, saved nothing
// measurable). synchronous_commit off would cost an acknowledged batch
// on a crash.
//
// insertEventsPG is insertEvents in one statement of array parameters.
// WITH ORDINALITY and ORDER BY sid, n number each shipment's rows in the
// batch's order (the tie-break of equal times, which is all events.id
// orders); sid first so the rows reach the indexes, and the foreign key
// probes shipments, in key order rather than scattered over the table.
func insertEventsPG(ctx context.Context, pool gorm.ConnPool, ps []pendingEvent, now time.Time, inserted map[evKey]bool) error {
	var (
		sids                                  = make([]int64, len(ps))
		eids, sts, texts, locs, msgs, sources = make([]string, len(ps)), make([]string, len(ps)), make([]string, len(ps)),
			make([]string, len(ps)), make([]string, len(ps)), make([]string, len(ps))
		ats = make([]time.Time, len(ps))
	)
	for i, p := range ps {
		e := p.ev
		sids[i], eids[i], ats[i], sts[i], texts[i], locs[i], msgs[i], sources[i] =
			int64(p.shipmentID), e.EventID, e.OccurredAt, e.Status, e.StatusText, e.Location, e.Message, e.Source
	}
	rows, err := pool.QueryContext(ctx, "INSERT INTO events (shipment_id, event_id, occurred_at, status, status_text, location, message, source, created_at)"+
		" SELECT sid, eid, at, st, txt, loc, msg, src, $9 FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])"+
		" WITH ORDINALITY AS u(sid, eid, at, st, txt, loc, msg, src, n) ORDER BY sid, n"+
		" ON CONFLICT (shipment_id, event_id) DO NOTHING RETURNING shipment_id, event_id",
		sids, eids, ats, sts, texts, locs, msgs, sources, now)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k evKey
		if err := rows.Scan(&k.shipmentID, &k.eventID); err != nil {
			return err
		}
		inserted[k] = true
	}
	return rows.Err()
}

func isPostgres(tx *gorm.DB) bool { return tx.Dialector.Name() == "postgres" }

// sortItems orders item errors by index, as a client reads its batch.
func sortItems(bad shipment.ItemErrors) shipment.ItemErrors {
	sort.SliceStable(bad, func(i, j int) bool { return bad[i].Index < bad[j].Index })
	return bad
}

// shipmentIDs looks up the ids of the shipments of keys (zero keys, of
// invalid items, are skipped), importBatch keys per statement.
func shipmentIDs(tx *gorm.DB, keys []shipmentKey) (map[shipmentKey]uint64, error) {
	want := make(map[shipmentKey]bool, len(keys))
	var list []shipmentKey
	for _, k := range keys {
		if k.trackingNumber != "" && !want[k] {
			want[k] = true
			list = append(list, k)
		}
	}
	ids := make(map[shipmentKey]uint64, len(list))
	if isPostgres(tx) {
		// Two array parameters, whatever the batch size: a statement of
		// thousands of parameters costs more to parse and plan than to
		// run.
		cs, tns := make([]string, len(list)), make([]string, len(list))
		for i, k := range list {
			cs[i], tns[i] = k.carrierKey, k.trackingNumber
		}
		rows, err := tx.Statement.ConnPool.QueryContext(tx.Statement.Context, "SELECT s.id, s.carrier_key, s.tracking_number FROM shipments s"+
			" JOIN unnest($1::text[], $2::text[]) AS k(c, t) ON s.carrier_key = k.c AND s.tracking_number = k.t", cs, tns)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				id uint64
				k  shipmentKey
			)
			if err := rows.Scan(&id, &k.carrierKey, &k.trackingNumber); err != nil {
				return nil, err
			}
			ids[k] = id
		}
		return ids, rows.Err()
	}
	for start := 0; start < len(list); start += importBatch {
		batch := list[start:min(start+importBatch, len(list))]
		carriers := map[string]bool{}
		var cs, tns []string
		for _, k := range batch {
			if !carriers[k.carrierKey] {
				carriers[k.carrierKey] = true
				cs = append(cs, k.carrierKey)
			}
			tns = append(tns, k.trackingNumber)
		}
		var rows []shipmentRow
		if err := tx.Select("id", "carrier_key", "tracking_number").
			Where("carrier_key IN ? AND tracking_number IN ?", cs, tns).Find(&rows).Error; err != nil {
			return nil, err
		}
		for _, r := range rows {
			if k := (shipmentKey{r.CarrierKey, r.TrackingNumber}); want[k] {
				ids[k] = r.ID
			}
		}
	}
	return ids, nil
}

// storedEvents reads the stored events with the shipment ids and event
// ids of ps.
func storedEvents(ctx context.Context, pool gorm.ConnPool, pg bool, ps []pendingEvent) (map[evKey]shipment.Event, error) {
	out := make(map[evKey]shipment.Event, len(ps))
	const cols = "SELECT shipment_id, event_id, occurred_at, status, status_text, location, message, source FROM events "
	for start := 0; start < len(ps); start += eventBatch {
		batch := ps[start:min(start+eventBatch, len(ps))]
		var (
			q    strings.Builder
			args []any
		)
		if pg {
			sids, eids := make([]int64, len(batch)), make([]string, len(batch))
			for i, p := range batch {
				sids[i], eids[i] = int64(p.shipmentID), p.ev.EventID
			}
			q.WriteString(cols + "WHERE (shipment_id, event_id) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))")
			args = []any{sids, eids}
		} else {
			q.WriteString(cols + "WHERE (shipment_id, event_id) IN (VALUES ")
			for i, p := range batch {
				if i > 0 {
					q.WriteByte(',')
				}
				fmt.Fprintf(&q, "($%d,$%d)", len(args)+1, len(args)+2)
				args = append(args, p.shipmentID, p.ev.EventID)
			}
			q.WriteByte(')')
		}
		rows, err := pool.QueryContext(ctx, q.String(), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var (
				k evKey
				e shipment.Event
			)
			if err := rows.Scan(&k.shipmentID, &k.eventID, &e.OccurredAt, &e.Status, &e.StatusText, &e.Location, &e.Message, &e.Source); err != nil {
				rows.Close()
				return nil, err
			}
			e.EventID = k.eventID
			out[k] = e
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// latestSQL picks a column of a shipment's latest event, read backwards
// along ix_events_shipment_time.
func latestSQL(column string) string {
	return "(SELECT e." + column + " FROM events e WHERE e.shipment_id = shipments.id ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1)"
}

// setLatest gives the shipments ids their latest event's status and the
// stamp now, in one statement per importBatch shipments.
func setLatest(ctx context.Context, pool gorm.ConnPool, pg bool, ids []uint64, now time.Time) error {
	if pg {
		a := make([]int64, len(ids))
		for i, id := range ids {
			a[i] = int64(id)
		}
		// One backward index probe per shipment (LATERAL), not one per
		// column.
		_, err := pool.ExecContext(ctx, "UPDATE shipments s SET status = l.status, status_text = l.status_text, updated_at = $1"+
			" FROM unnest($2::bigint[]) AS k(id) CROSS JOIN LATERAL (SELECT e.status, e.status_text FROM events e"+
			" WHERE e.shipment_id = k.id ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1) l WHERE s.id = k.id", now, a)
		return err
	}
	for start := 0; start < len(ids); start += importBatch {
		batch := ids[start:min(start+importBatch, len(ids))]
		var q strings.Builder
		q.WriteString("UPDATE shipments SET status = " + latestSQL("status") + ", status_text = " + latestSQL("status_text") + ", updated_at = $1 WHERE id IN (")
		args := make([]any, 0, len(batch)+1)
		args = append(args, now)
		for i, id := range batch {
			if i > 0 {
				q.WriteByte(',')
			}
			args = append(args, id)
			q.WriteString("$" + strconv.Itoa(len(args)))
		}
		q.WriteByte(')')
		if _, err := pool.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// eventColumns are read by scanEvent.
const eventColumns = "event_id, occurred_at, status, status_text, location, message, source"

func scanEvent(rows *sql.Rows) (shipment.Event, error) {
	var e shipment.Event
	err := rows.Scan(&e.EventID, &e.OccurredAt, &e.Status, &e.StatusText, &e.Location, &e.Message, &e.Source)
	e.OccurredAt = e.OccurredAt.UTC()
	return e, err
}

// Events returns every event of a shipment, newest first;
// shipment.ErrNotFound when there is no such shipment.
func (s *Store) Events(ctx context.Context, carrier, trackingNumber string) ([]shipment.Event, error) {
	if err := s.acquireRead(ctx); err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	defer s.releaseRead()
	// One statement: the shipment's row, then its events (a NULL event
	// for a shipment that has none, from the LEFT JOIN).
	rows, err := s.sqlDB.QueryContext(ctx, "SELECT e."+strings.ReplaceAll(eventColumns, ", ", ", e.")+
		" FROM shipments s LEFT JOIN events e ON e.shipment_id = s.id WHERE s.carrier_key = $1 AND s.tracking_number = $2"+
		" ORDER BY e.occurred_at DESC, e.id DESC",
		shipment.CarrierKey(carrier), shipment.NormalizeTrackingNumber(trackingNumber))
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", wrapUnavailable(err))
	}
	defer rows.Close()
	out := []shipment.Event{}
	found := false
	for rows.Next() {
		found = true
		var (
			id, status, text, loc, msg, src sql.NullString
			at                              sql.NullTime
		)
		if err := rows.Scan(&id, &at, &status, &text, &loc, &msg, &src); err != nil {
			return nil, fmt.Errorf("store: events: %w", wrapUnavailable(err))
		}
		if !id.Valid {
			continue
		}
		out = append(out, shipment.Event{EventID: id.String, OccurredAt: at.Time.UTC(), Status: status.String,
			StatusText: text.String, Location: loc.String, Message: msg.String, Source: src.String})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: events: %w", wrapUnavailable(err))
	}
	if !found {
		return nil, fmt.Errorf("shipment %s/%s: %w", carrier, trackingNumber, shipment.ErrNotFound)
	}
	return out, nil
}

// latestEvents fills sh.Events with its latest shipment.LatestEvents
// events, newest first, and sh.EventCount; Get calls it after reading the
// shipment (a write between the two can make the events newer than the
// status read: the next lookup agrees again). The count is the rows read
// unless the limit was reached; only then is it counted, in a second
// statement. One statement with count(*) OVER () made SQLite sort the
// shipment's events in a temporary b-tree at every lookup, which with
// the release build's musl allocator (an mmap and munmap per sort) cut
// the database path on SQLite to a quarter (docs/benchmarks.md).
func (s *Store) latestEvents(ctx context.Context, sh *shipment.Shipment, carrier, trackingNumber string) error {
	const which = " WHERE shipment_id = (SELECT id FROM shipments WHERE carrier_key = $1 AND tracking_number = $2)"
	key, tn := shipment.CarrierKey(carrier), shipment.NormalizeTrackingNumber(trackingNumber)
	rows, err := s.sqlDB.QueryContext(ctx, "SELECT "+eventColumns+" FROM events"+which+
		" ORDER BY occurred_at DESC, id DESC LIMIT "+strconv.Itoa(shipment.LatestEvents), key, tn)
	if err != nil {
		return err
	}
	defer rows.Close()
	sh.Events = make([]shipment.Event, 0, min(shipment.LatestEvents, 4))
	for rows.Next() {
		var e shipment.Event
		if err := rows.Scan(&e.EventID, &e.OccurredAt, &e.Status, &e.StatusText, &e.Location, &e.Message, &e.Source); err != nil {
			return err
		}
		e.OccurredAt = e.OccurredAt.UTC()
		sh.Events = append(sh.Events, e)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	sh.EventCount = len(sh.Events)
	if sh.EventCount < shipment.LatestEvents {
		return nil
	}
	return s.sqlDB.QueryRowContext(ctx, "SELECT count(*) FROM events"+which, key, tn).Scan(&sh.EventCount)
}

// Put creates the shipment of in, or replaces the addresses and articles
// of the existing one, in one transaction. in.Status is not used: a
// shipment's status comes from its events only, and a new shipment is
// pending until its first event. Replaying the same content changes
// nothing (updated_at included; Changed is false). The shipment answered
// is read after the commit, with its latest events.
func (s *Store) Put(ctx context.Context, in shipment.ShipmentInput) (shipment.PutResult, error) {
	var res shipment.PutResult
	in.Status = ""
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now, err := s.beginWrite(tx)
		if err != nil {
			return err
		}
		locIDs, _, err := upsertLocations(tx, []shipment.ShipmentInput{in})
		if err != nil {
			return err
		}
		c, u, _, err := upsertShipments(tx, []shipment.ShipmentInput{in}, locIDs, now)
		if err != nil {
			return err
		}
		res.Created, res.Changed = c > 0, c+u > 0
		return nil
	})
	if err != nil {
		return shipment.PutResult{}, fmt.Errorf("store: put: %w", wrapUnavailable(err))
	}
	res.Shipment, err = s.Get(ctx, in.Carrier, in.TrackingNumber)
	if err != nil && !errors.Is(err, shipment.ErrNotFound) {
		return res, err
	}
	return res, err
}

// updatedSince adds List's incremental-sync conditions to where: rows
// updated at or after p.UpdatedSince, in (updated_at, id) order
// (ix_shipments_updated), from the cursor's row on. Writers stamp
// updated_at in commit order (beginWrite), so following NextCursor, then
// asking again from the last updated_at seen, misses no change; a
// shipment changed again shows up again, later. List items carry Status
// and StatusText but not their events (Get and Events have them).
func updatedSince(p shipment.ListParams, where []string, arg func(any) string) ([]string, string, error) {
	where = append(where, "updated_at >= "+arg(p.UpdatedSince.UTC()))
	if p.Cursor != "" {
		c, err := decodeCursor(p.Cursor)
		if err != nil || c.U == nil {
			return nil, "", shipment.ErrInvalidCursor
		}
		// The cursor names the first row of the next page, not the last
		// of this one: the page read one row more to know there is a
		// next, and that row is where the next page starts.
		where = append(where, "(updated_at, id) >= ("+arg(c.U.UTC())+", "+arg(c.I)+")")
	}
	return where, "updated_at, id", nil
}

// updatedCursor is the cursor of an UpdatedSince page whose next page
// starts at the row c.
func updatedCursor(c cursor) string {
	return encodeCursor(cursor{U: c.U, I: c.I})
}
