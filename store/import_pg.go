package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/webhook"
)

// writeStagedPG is the streaming importer's write phase on PostgreSQL:
// set-based statements from the staging tables, not pages from Go. The
// rules are those of upsertShipments and appendEvents, row for row: a
// shipment is written (and stamped now) only when a field, its location
// or its articles differ; its status column adds an import event (at
// now) when it differs from the status text of its latest import event;
// the shipments that got one take their latest event's status, and each
// status change gets an outbox row per matching endpoint. Go reads only
// what needs Go's own code: the distinct receiver addresses (their
// location) and status texts (their normalised status and event id),
// streamed through a cursor and copied back, so memory stays flat.
//
// Measured at 1,000,000 rows: the per-page writes spent most of their
// time in round trips and in updating every new shipment's status a
// second time; here a new shipment is inserted with its status at once.
func writeStagedPG(ctx context.Context, tx *gorm.DB, now time.Time, copyFrom copyFunc, res *ImportResult) error {
	exec := func(q string, args ...any) error { return tx.Exec(q, args...).Error }

	// The receivers' locations, parsed in Go, then the missing locations.
	if err := exec("CREATE TEMP TABLE import_locs (receiver TEXT NOT NULL, key TEXT NOT NULL, postal_code TEXT NOT NULL," +
		" city TEXT NOT NULL, country TEXT NOT NULL, place_key TEXT NOT NULL) ON COMMIT DROP"); err != nil {
		return err
	}
	err := mapDistinct(tx, "SELECT DISTINCT receiver FROM import_rows",
		func(receiver string) ([]any, error) {
			l, ok := shipment.ParseLocation(receiver)
			if !ok {
				return nil, nil
			}
			return []any{receiver, l.Key(), l.PostalCode, l.City, l.Country, l.PlaceKey()}, nil
		},
		func(rows [][]any) error {
			return copyFrom("import_locs", []string{"receiver", "key", "postal_code", "city", "country", "place_key"}, rows)
		})
	if err != nil {
		return err
	}
	if err := exec("ANALYZE import_locs"); err != nil {
		return err
	}
	rows, err := tx.Raw("INSERT INTO locations (key, postal_code, city, country, place_key, created_at)"+
		" SELECT DISTINCT ON (key) key, postal_code, city, country, place_key, ? FROM import_locs ORDER BY key, receiver"+
		" ON CONFLICT (key) DO NOTHING RETURNING id", now).Rows()
	err = eachRow(rows, err, func(rows *sql.Rows) error {
		var id uint64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		res.NewLocations = append(res.NewLocations, id)
		return nil
	})
	if err != nil {
		return err
	}
	if len(res.NewLocations) > 0 {
		if err := linkPlaces(tx); err != nil {
			return err
		}
	}

	// One row per shipment of the file: its first row's fields (DISTINCT
	// ON along import_rows_key: a join back from import_ships on the
	// first line is estimated at one row and planned as nested loops), its
	// location, the stored shipment if any, and what differs from it.
	if err := exec(`CREATE TEMP TABLE import_w ON COMMIT DROP AS
SELECT f.line AS first_line, f.carrier_key, f.tn, f.tracking_display, f.carrier, f.sender, f.receiver, f.status,
  loc.id AS location_id, sh.id AS sid, sh.id IS NULL AS is_new,
  sh.id IS NOT NULL AND (sh.tracking_display, sh.carrier, sh.sender_address, sh.receiver_address, sh.location_id)
    IS DISTINCT FROM (f.tracking_display, f.carrier, f.sender, f.receiver, loc.id) AS row_changed,
  false AS articles_changed,
  f.status <> '' AND (sh.id IS NULL OR f.status IS DISTINCT FROM (SELECT e.status_text FROM events e
    WHERE e.shipment_id = sh.id AND e.source = ? ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1)) AS status_new
FROM (SELECT DISTINCT ON (carrier_key, tn) * FROM import_rows ORDER BY carrier_key, tn, line) f
LEFT JOIN import_locs l ON l.receiver = f.receiver
LEFT JOIN locations loc ON loc.key = l.key
LEFT JOIN shipments sh ON sh.carrier_key = f.carrier_key AND sh.tracking_number = f.tn`, shipment.SourceImport); err != nil {
		return err
	}
	// The articles of the file against the stored ones, position by
	// position, for the shipments that exist.
	if err := exec(`UPDATE import_w w SET articles_changed = true FROM (
SELECT DISTINCT coalesce(n.sid, o.shipment_id) AS sid FROM
  (SELECT w.sid, row_number() OVER (PARTITION BY w.sid ORDER BY r.line) - 1 AS position, r.name, r.qty, r.price_cents, r.sku
   FROM import_w w JOIN import_rows r ON r.carrier_key = w.carrier_key AND r.tn = w.tn WHERE NOT w.is_new) n
  FULL JOIN (SELECT a.shipment_id, a.position, a.name, a.quantity, a.price_cents, a.sku
   FROM articles a JOIN import_w w ON a.shipment_id = w.sid) o
  ON o.shipment_id = n.sid AND o.position = n.position
WHERE n.sid IS NULL OR o.shipment_id IS NULL
  OR (n.name, n.qty, n.price_cents, n.sku) IS DISTINCT FROM (o.name, o.quantity, o.price_cents, o.sku)) c
WHERE w.sid = c.sid`); err != nil {
		return err
	}
	if err := exec("ANALYZE import_w"); err != nil {
		return err
	}

	// The import events' statuses and ids, from Go's own rules (one per
	// distinct status text: the events share their time, now).
	if err := exec("CREATE TEMP TABLE import_status (text TEXT PRIMARY KEY, status TEXT NOT NULL, event_id TEXT NOT NULL) ON COMMIT DROP"); err != nil {
		return err
	}
	err = mapDistinct(tx, "SELECT DISTINCT status FROM import_w WHERE status_new", func(text string) ([]any, error) {
		e := shipment.Event{OccurredAt: now, StatusText: text, Source: shipment.SourceImport}
		if field, err := e.Validate(now); err != nil {
			return nil, statusError(tx, text, field, err)
		}
		e = e.Normalized()
		return []any{text, e.Status, e.EventID}, nil
	}, func(rows [][]any) error {
		return copyFrom("import_status", []string{"text", "status", "event_id"}, rows)
	})
	if err != nil {
		return err
	}
	// An event id recorded already with other content (someone sent
	// that id through the API) refuses the import, as AppendEvents does.
	var clash []int
	if err := tx.Raw(`SELECT w.first_line FROM import_w w JOIN import_status st ON st.text = w.status
JOIN events e ON e.shipment_id = w.sid AND e.event_id = st.event_id
WHERE w.status_new AND NOT (e.occurred_at = ? AND e.status = st.status AND e.status_text = w.status AND e.location = '' AND e.message = '')
ORDER BY w.first_line LIMIT 1`, now).Scan(&clash).Error; err != nil {
		return err
	}
	if len(clash) > 0 {
		return &shipment.ImportError{Line: clash[0], Column: "status", Err: shipment.ErrEventConflict}
	}

	// The writes. Changed shipments first, then the new ones, in the
	// order of their first rows, with their import event's status at
	// once (it is their only event).
	if err := exec(`UPDATE shipments sh SET tracking_display = w.tracking_display, carrier = w.carrier, sender_address = w.sender,
  receiver_address = w.receiver, location_id = w.location_id, updated_at = ?
FROM import_w w WHERE sh.id = w.sid AND (w.row_changed OR w.articles_changed)`, now); err != nil {
		return err
	}
	if err := exec(`WITH ins AS (INSERT INTO shipments (carrier_key, tracking_number, tracking_display, carrier, status, status_text,
    sender_address, receiver_address, location_id, created_at, updated_at)
  SELECT w.carrier_key, w.tn, w.tracking_display, w.carrier, coalesce(st.status, ?), coalesce(st.text, ''),
    w.sender, w.receiver, w.location_id, ?, ?
  FROM import_w w LEFT JOIN import_status st ON w.status_new AND st.text = w.status
  WHERE w.is_new ORDER BY w.first_line
  RETURNING id, carrier_key, tracking_number)
UPDATE import_w w SET sid = ins.id FROM ins WHERE w.carrier_key = ins.carrier_key AND w.tn = ins.tracking_number`,
		shipment.StatusPending, now, now); err != nil {
		return err
	}
	if err := exec("DELETE FROM articles WHERE shipment_id IN (SELECT sid FROM import_w WHERE articles_changed)"); err != nil {
		return err
	}
	if err := exec(`INSERT INTO articles (shipment_id, position, name, quantity, price_cents, sku)
SELECT w.sid, row_number() OVER (PARTITION BY w.sid ORDER BY r.line) - 1, r.name, r.qty, r.price_cents, r.sku
FROM import_w w JOIN import_rows r ON r.carrier_key = w.carrier_key AND r.tn = w.tn
WHERE w.is_new OR w.articles_changed ORDER BY w.sid, r.line`); err != nil {
		return err
	}

	// The events. A new shipment has none yet: its import event goes in
	// plainly, and it has its status already. An existing one may have
	// this event (the same time and text): ON CONFLICT skips it, and those
	// that got one are kept with their status before, then take their
	// latest event's status.
	if err := exec(`INSERT INTO events (shipment_id, event_id, occurred_at, status, status_text, location, message, source, created_at)
SELECT w.sid, st.event_id, ?, st.status, st.text, '', '', ?, ? FROM import_w w JOIN import_status st ON st.text = w.status
WHERE w.is_new AND w.status_new ORDER BY w.sid`, now, shipment.SourceImport, now); err != nil {
		return err
	}
	if err := exec("CREATE TEMP TABLE import_touched (sid BIGINT PRIMARY KEY, before TEXT NOT NULL) ON COMMIT DROP"); err != nil {
		return err
	}
	if err := exec(`WITH ins AS (INSERT INTO events (shipment_id, event_id, occurred_at, status, status_text, location, message, source, created_at)
  SELECT w.sid, st.event_id, ?, st.status, st.text, '', '', ?, ? FROM import_w w JOIN import_status st ON st.text = w.status
  WHERE NOT w.is_new AND w.status_new ORDER BY w.sid
  ON CONFLICT (shipment_id, event_id) DO NOTHING RETURNING shipment_id)
INSERT INTO import_touched SELECT ins.shipment_id, sh.status FROM ins JOIN shipments sh ON sh.id = ins.shipment_id`,
		now, shipment.SourceImport, now); err != nil {
		return err
	}
	if err := exec(`UPDATE shipments s SET status = l.status, status_text = l.status_text, updated_at = ?
FROM import_touched t CROSS JOIN LATERAL (SELECT e.status, e.status_text FROM events e
  WHERE e.shipment_id = t.sid ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1) l
WHERE s.id = t.sid`, now); err != nil {
		return err
	}
	// The outbox, as enqueueWebhooks writes it: per changed shipment in
	// id order, one row per endpoint that is not paused and whose filters
	// match.
	var hooks bool
	if err := tx.Raw("SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE paused_at IS NULL)").Scan(&hooks).Error; err != nil {
		return err
	}
	hookNow := hookTime(now)
	if hooks {
		if err := exec(`INSERT INTO webhook_deliveries (delivery_id, endpoint_id, shipment_id, event_type, previous_status, new_status,
  status, attempts, next_attempt_at, created_at)
SELECT 'dlv_' || replace(gen_random_uuid()::text, '-', ''), h.id, c.sid, ?, c.before, c.after, ?, 0, ?, ?
FROM (SELECT t.sid, t.before, sh.status AS after, sh.carrier_key FROM import_touched t JOIN shipments sh ON sh.id = t.sid
  UNION ALL
  SELECT w.sid, ?, st.status, w.carrier_key FROM import_w w JOIN import_status st ON st.text = w.status
  WHERE w.is_new AND w.status_new) c
JOIN webhook_endpoints h ON h.paused_at IS NULL
  AND (h.statuses = '' OR c.after = ANY (string_to_array(h.statuses, ',')))
  AND (h.carriers = '' OR c.carrier_key = ANY (string_to_array(h.carriers, ',')))
WHERE c.after <> c.before ORDER BY c.sid, h.id`, webhook.EventStatusChanged, webhook.StatePending, hookNow, hookNow, shipment.StatusPending); err != nil {
			return err
		}
	}

	var n struct{ Created, Updated, Events int }
	if err := tx.Raw(`SELECT count(*) FILTER (WHERE is_new) AS created,
  count(*) FILTER (WHERE NOT is_new AND (row_changed OR articles_changed OR status_new)) AS updated,
  count(*) FILTER (WHERE is_new AND status_new) + (SELECT count(*) FROM import_touched) AS events FROM import_w`).Scan(&n).Error; err != nil {
		return err
	}
	res.Created, res.Updated, res.Events = n.Created, n.Updated, n.Events
	return nil
}

// mapDistinct reads the single text column of query through a cursor,
// a page at a time, maps each value with fn (nil: skip it) and hands the
// rows made to out, a page at a time.
func mapDistinct(tx *gorm.DB, query string, fn func(string) ([]any, error), out func([][]any) error) error {
	const page = 10_000
	if err := tx.Exec("DECLARE import_distinct NO SCROLL CURSOR FOR " + query).Error; err != nil {
		return err
	}
	buf := make([][]any, 0, page)
	for {
		var vals []string
		if err := tx.Raw(fmt.Sprintf("FETCH %d FROM import_distinct", page)).Scan(&vals).Error; err != nil {
			return err
		}
		buf = buf[:0]
		for _, v := range vals {
			row, err := fn(v)
			if err != nil {
				return err
			}
			if row != nil {
				buf = append(buf, row)
			}
		}
		if len(buf) > 0 {
			if err := out(buf); err != nil {
				return err
			}
		}
		if len(vals) < page {
			return tx.Exec("CLOSE import_distinct").Error
		}
	}
}

// statusError is the *shipment.ImportError of the first row whose status
// text cannot be an event's.
func statusError(tx *gorm.DB, text, field string, err error) error {
	var line []int
	if qerr := tx.Raw("SELECT min(line) FROM import_rows WHERE status = ?", text).Scan(&line).Error; qerr != nil {
		return qerr
	}
	if field == "status_text" {
		field = "status"
	}
	ie := &shipment.ImportError{Column: field, Err: err}
	if len(line) > 0 {
		ie.Line = line[0]
	}
	return ie
}
