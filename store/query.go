package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/shiptrack/shiptrack/shipment"
	"strconv"
	"strings"
	"time"

	"github.com/shiptrack/shiptrack/valid"
)

// cursor is the last (carrier key, tracking number) of a page: the next
// page starts after it, so a deep page costs what the first one does.
type cursor struct {
	C string `json:"c"`
	T string `json:"t"`
	// The (updated_at, id) of the row the next page of an UpdatedSince
	// listing starts at (events.go); empty in the normal order.
	U *time.Time `json:"u,omitempty"`
	I uint64     `json:"i,omitempty"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c) // two strings: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || (c.T == "") == (c.U == nil) {
		return cursor{}, shipment.ErrInvalidCursor
	}
	// A client can make any cursor: what it holds is checked as the
	// fields it stands for are (a NUL made PostgreSQL fail).
	if valid.Text(c.C, valid.Carrier) != nil || valid.Text(c.T, valid.TrackingNumber) != nil {
		return cursor{}, shipment.ErrInvalidCursor
	}
	return c, nil
}

// The read path is plain SQL through database/sql rather than GORM: it is
// the hot path, and one statement returns a shipment with its location,
// weather and articles (one row per article) in one round trip. The $n
// placeholders work on both PostgreSQL and SQLite.
const (
	readColumns = "s.id, s.carrier_key, s.tracking_number, s.tracking_display, s.carrier, s.status, s.status_text, s.sender_address, s.receiver_address, " +
		"s.created_at, s.updated_at, l.id, l.weather_location_id, l.postal_code, l.city, l.country, " +
		"w.query, w.temperature_c, w.condition, w.condition_code, w.humidity, w.wind_kph, " +
		"w.observed_at, w.fetched_at, w.provider, w.last_error, w.last_attempt_at, " +
		"a.name, a.quantity, a.price_cents, a.sku"
	// readJoins follows a shipments relation named s. Weather that was
	// never fetched reads as absent.
	readJoins = " LEFT JOIN locations l ON l.id = s.location_id" +
		" LEFT JOIN weather w ON w.location_id = l.weather_location_id AND w.fetched_at IS NOT NULL" +
		" LEFT JOIN articles a ON a.shipment_id = s.id"
	getSQL = "SELECT " + readColumns + " FROM shipments s" + readJoins +
		" WHERE s.carrier_key = $1 AND s.tracking_number = $2 ORDER BY a.position"
)

// readRow is one row of the read statements: a shipment, its location and
// weather when known, and one of its articles (all NULL when it has none).
type readRow struct {
	id                                uint64
	carrierKey, trackingNumber        string
	trackingDisplay                   string
	carrier, status, sender, receiver string
	statusText                        string
	createdAt, updatedAt              time.Time
	locID, wLocID                     sql.NullInt64
	postal, city, country             sql.NullString
	wQuery, wCond, wCode, wProv, wErr sql.NullString
	wTemp, wWind                      sql.NullFloat64
	wHumidity                         sql.NullInt64
	wObserved, wFetched, wAttempt     sql.NullTime
	aName, aSKU                       sql.NullString
	aQuantity, aPrice                 sql.NullInt64
}

func (r *readRow) scan(rows *sql.Rows) error {
	return rows.Scan(&r.id, &r.carrierKey, &r.trackingNumber, &r.trackingDisplay, &r.carrier, &r.status, &r.statusText, &r.sender, &r.receiver,
		&r.createdAt, &r.updatedAt, &r.locID, &r.wLocID, &r.postal, &r.city, &r.country,
		&r.wQuery, &r.wTemp, &r.wCond, &r.wCode, &r.wHumidity, &r.wWind,
		&r.wObserved, &r.wFetched, &r.wProv, &r.wErr, &r.wAttempt,
		&r.aName, &r.aQuantity, &r.aPrice, &r.aSKU)
}

// shipment builds the shipment of r, without articles.
func (r *readRow) shipment() shipment.Shipment {
	sh := shipment.Shipment{
		TrackingNumber: r.trackingNumber, Carrier: r.carrier, Status: r.status, StatusText: r.statusText,
		SenderAddress: r.sender, ReceiverAddress: r.receiver,
		CreatedAt: r.createdAt.UTC(), UpdatedAt: r.updatedAt.UTC(),
		Articles: []shipment.Article{},
	}
	if r.trackingDisplay != "" {
		sh.TrackingNumber = r.trackingDisplay
	}
	if r.locID.Valid {
		id, wid := uint64(r.locID.Int64), uint64(r.wLocID.Int64)
		if !r.wLocID.Valid {
			wid = id
		}
		sh.Location = &shipment.Location{ID: id, WeatherID: wid, PostalCode: r.postal.String, City: r.city.String, Country: r.country.String}
		if r.wFetched.Valid {
			sh.Weather = &shipment.Weather{
				LocationID: wid, Query: r.wQuery.String, TemperatureC: r.wTemp.Float64,
				Condition: r.wCond.String, ConditionCode: r.wCode.String, Humidity: int(r.wHumidity.Int64),
				WindKph: r.wWind.Float64, ObservedAt: nullUTC(r.wObserved), FetchedAt: nullUTC(r.wFetched),
				Provider: r.wProv.String, LastError: r.wErr.String, LastAttemptAt: nullUTC(r.wAttempt),
			}
		}
	}
	return sh
}

// readShipments collects the rows of a read statement, ordered by
// shipment then article position, into shipments. last is the key of the
// last shipment read.
func readShipments(rows *sql.Rows, capacity int) (out []shipment.Shipment, last cursor, err error) {
	out = make([]shipment.Shipment, 0, capacity)
	var r readRow
	var cur uint64
	for rows.Next() {
		if err := r.scan(rows); err != nil {
			return nil, cursor{}, err
		}
		if len(out) == 0 || r.id != cur {
			out = append(out, r.shipment())
			u := r.updatedAt
			cur, last = r.id, cursor{C: r.carrierKey, T: r.trackingNumber, I: r.id, U: &u}
		}
		if r.aName.Valid {
			sh := &out[len(out)-1]
			sh.Articles = append(sh.Articles, shipment.Article{
				Name: r.aName.String, Quantity: int(r.aQuantity.Int64), Price: shipment.Money(r.aPrice.Int64), SKU: r.aSKU.String,
			})
		}
	}
	return out, last, rows.Err()
}

func nullUTC(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// List returns one page of shipments with their articles and weather, in
// one statement whatever the page size.
func (s *Store) List(ctx context.Context, p shipment.ListParams) (shipment.Page, error) {
	if p.Limit < 1 {
		p.Limit = 1
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if p.Carrier != "" {
		where = append(where, "carrier_key = "+arg(shipment.CarrierKey(p.Carrier)))
	}
	if p.Status != "" {
		where = append(where, "status = "+arg(p.Status))
	}
	order := "carrier_key, tracking_number"
	if !p.UpdatedSince.IsZero() {
		var err error
		if where, order, err = updatedSince(p, where, arg); err != nil {
			return shipment.Page{}, err
		}
	} else if p.Cursor != "" {
		c, err := decodeCursor(p.Cursor)
		if err != nil || c.T == "" {
			return shipment.Page{}, shipment.ErrInvalidCursor
		}
		where = append(where, "(carrier_key, tracking_number) > ("+arg(c.C)+", "+arg(c.T)+")")
	}
	var q strings.Builder
	q.WriteString("SELECT " + readColumns + " FROM (SELECT * FROM shipments")
	if len(where) > 0 {
		q.WriteString(" WHERE " + strings.Join(where, " AND "))
	}
	// The limit is part of the text, not a parameter, so the planner sees
	// it; one row more tells whether a next page exists.
	q.WriteString(" ORDER BY " + order + " LIMIT " + strconv.Itoa(p.Limit+1) + ") s" + readJoins +
		" ORDER BY s." + strings.ReplaceAll(order, ", ", ", s.") + ", a.position")
	if err := s.acquireRead(ctx); err != nil {
		return shipment.Page{}, fmt.Errorf("store: list: %w", err)
	}
	defer s.releaseRead()
	rows, err := s.sqlDB.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return shipment.Page{}, fmt.Errorf("store: list: %w", wrapUnavailable(err))
	}
	defer rows.Close()
	shipments, extra, err := readShipments(rows, p.Limit+1)
	if err != nil {
		return shipment.Page{}, fmt.Errorf("store: list: %w", wrapUnavailable(err))
	}
	var page shipment.Page
	if len(shipments) > p.Limit {
		shipments = shipments[:p.Limit]
		last := shipments[len(shipments)-1]
		page.NextCursor = encodeCursor(cursor{C: shipment.CarrierKey(last.Carrier), T: shipment.NormalizeTrackingNumber(last.TrackingNumber)})
		if !p.UpdatedSince.IsZero() {
			page.NextCursor = updatedCursor(extra)
		}
	}
	page.Shipments = shipments
	return page, nil
}

// Get returns one shipment by carrier (any case) and tracking number (any
// case and spacing, see NormalizeTrackingNumber), in one statement.
func (s *Store) Get(ctx context.Context, carrier, trackingNumber string) (shipment.Shipment, error) {
	if err := s.acquireRead(ctx); err != nil {
		return shipment.Shipment{}, fmt.Errorf("store: get: %w", err)
	}
	defer s.releaseRead()
	rows, err := s.sqlDB.QueryContext(ctx, getSQL, shipment.CarrierKey(carrier), shipment.NormalizeTrackingNumber(trackingNumber))
	if err != nil {
		return shipment.Shipment{}, fmt.Errorf("store: get: %w", wrapUnavailable(err))
	}
	defer rows.Close()
	out, _, err := readShipments(rows, 1)
	if err != nil {
		return shipment.Shipment{}, fmt.Errorf("store: get: %w", wrapUnavailable(err))
	}
	if len(out) == 0 {
		return shipment.Shipment{}, fmt.Errorf("shipment %s/%s: %w", carrier, trackingNumber, shipment.ErrNotFound)
	}
	if err := s.latestEvents(ctx, &out[0], carrier, trackingNumber); err != nil {
		return shipment.Shipment{}, fmt.Errorf("store: get: %w", wrapUnavailable(err))
	}
	return out[0], nil
}

// Count returns the number of shipments.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&shipmentRow{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("store: count: %w", wrapUnavailable(err))
	}
	return n, nil
}

func (l locationRow) location() shipment.Location {
	loc := shipment.Location{ID: l.ID, WeatherID: l.ID, PostalCode: l.PostalCode, City: l.City, Country: l.Country}
	if l.WeatherLocationID != nil {
		loc.WeatherID = *l.WeatherLocationID
	}
	return loc
}

func (w weatherRow) weather() shipment.Weather {
	return shipment.Weather{
		LocationID: w.LocationID, Query: w.Query, TemperatureC: w.TemperatureC,
		Condition: w.Condition, ConditionCode: w.ConditionCode, Humidity: w.Humidity,
		WindKph: w.WindKph, Provider: w.Provider, LastError: w.LastError,
		ObservedAt: utc(w.ObservedAt), FetchedAt: utc(w.FetchedAt), LastAttemptAt: utc(w.LastAttemptAt),
		Failures: w.Failures, NextAttemptAt: utc(w.NextAttemptAt),
	}
}

func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
