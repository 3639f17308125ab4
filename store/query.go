package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/shiptrack/shiptrack/shipment"
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

// The read path is hand-written SQL run on the GORM handle's pool: one
// statement returns a shipment with its location, weather and articles
// (one row per article) in one round trip, scanned into the table row
// types (db.go) with column lists made from those types, so a column added
// to a row type is read without touching this file (fields tagged
// read:"-" are not read). The $n placeholders work on both PostgreSQL and
// SQLite.
var (
	readShipmentCols = readColumnsOf(&shipmentRow{}, "s", false)
	readLocationCols = readColumnsOf(&locationRow{}, "l", true)
	readWeatherCols  = readColumnsOf(&weatherRow{}, "w", true)
	readArticleCols  = readColumnsOf(&articleRow{}, "a", true)
	readColumns      = strings.Join(slices.Concat(readShipmentCols.names, readLocationCols.names, readWeatherCols.names, readArticleCols.names), ", ")
	getSQL           = "SELECT " + readColumns + " FROM shipments s" + readJoins +
		" WHERE s.carrier_key = $1 AND s.tracking_number = $2 ORDER BY a.position"
)

// readJoins follows a shipments relation named s. Weather that was never
// fetched reads as absent.
const readJoins = " LEFT JOIN locations l ON l.id = s.location_id" +
	" LEFT JOIN weather w ON w.location_id = l.weather_location_id AND w.fetched_at IS NOT NULL" +
	" LEFT JOIN articles a ON a.shipment_id = s.id"

// readCols is the columns of one row type the read statements select, in
// field order, and the fields they scan into.
type readCols struct {
	names  []string // alias.column
	fields [][]int  // reflect field index in the row type
	// joined columns come from a LEFT JOIN and may be NULL.
	joined bool
}

func readColumnsOf(row any, alias string, joined bool) readCols {
	sch, err := schema.Parse(row, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		panic(fmt.Sprintf("store: row type %T: %v", row, err))
	}
	c := readCols{joined: joined}
	for _, f := range sch.Fields {
		if f.DBName == "" || f.Tag.Get("read") == "-" {
			continue
		}
		c.names = append(c.names, alias+"."+f.DBName)
		c.fields = append(c.fields, f.StructField.Index)
	}
	c.dests(nil, reflect.New(reflect.TypeOf(row).Elem()).Interface()) // panics now on a field type scanDest lacks
	return c
}

// dests appends the scan destinations of c's columns in row, a pointer to
// the row type.
func (c readCols) dests(d []any, row any) []any {
	v := reflect.ValueOf(row).Elem()
	for _, i := range c.fields {
		d = append(d, scanDest(v.FieldByIndex(i).Addr().Interface(), c.joined))
	}
	return d
}

// scanDest is the destination that scans a column into the field p points
// to. A joined column's NULL (nothing joined) reads as the zero value;
// pointer fields read NULL as nil and keep their allocation from one row
// to the next. They assign what the drivers return directly: going
// through sql.Null[T] (convertAssign) allocated on every column of every
// row, a third more allocations per list page.
func scanDest(p any, joined bool) any {
	switch p := p.(type) {
	case *uint64:
		return zeroDest[uint64]{p}
	case **uint64:
		return ptrDest[uint64]{p}
	case **time.Time:
		return ptrDest[time.Time]{p}
	case *string, *int64, *time.Time:
		if !joined {
			return p
		}
	}
	switch p := p.(type) {
	case *string:
		return zeroDest[string]{p}
	case *int:
		return zeroDest[int]{p}
	case *int64:
		return zeroDest[int64]{p}
	case *float64:
		return zeroDest[float64]{p}
	case *time.Time:
		return zeroDest[time.Time]{p}
	}
	panic(fmt.Sprintf("store: no read scan for a field of type %T", p))
}

// zeroDest scans a nullable column into a T, NULL as T's zero.
type zeroDest[T any] struct{ p *T }

func (d zeroDest[T]) Scan(src any) error {
	if src == nil {
		var zero T
		*d.p = zero
		return nil
	}
	return assign(d.p, src)
}

// ptrDest scans a nullable column into a *T.
type ptrDest[T any] struct{ p **T }

func (d ptrDest[T]) Scan(src any) error {
	if src == nil {
		*d.p = nil
		return nil
	}
	if *d.p == nil {
		*d.p = new(T)
	}
	return assign(*d.p, src)
}

// assign stores the non-NULL driver value src in *p: directly for what
// the drivers return (int64, float64, string, []byte, time.Time; pgx
// returns numeric as a string), through database/sql's conversion
// otherwise.
func assign[T any](p *T, src any) error {
	if v, ok := src.(T); ok {
		*p = v
		return nil
	}
	switch p := any(p).(type) {
	case *uint64:
		if v, ok := src.(int64); ok && v >= 0 {
			*p = uint64(v)
			return nil
		}
	case *int:
		if v, ok := src.(int64); ok {
			*p = int(v)
			return nil
		}
	case *float64:
		if v, ok := src.(string); ok {
			f, err := strconv.ParseFloat(v, 64)
			*p = f
			return err
		}
	case *string:
		if v, ok := src.([]byte); ok {
			*p = string(v)
			return nil
		}
	}
	var v sql.Null[T]
	err := v.Scan(src)
	*p = v.V
	return err
}

// readPool is the GORM handle's connection pool, which the lookups query
// directly: db.Raw(...).Rows() builds a GORM statement for each call
// (copying the 1.3 kB SQL byte by byte to bind its placeholders, 25
// allocations, 3.8 kB), which cost 20-35 µs more per lookup than the pool
// on SQLite (go test -bench, same session) and showed as +14% server CPU
// per database-path lookup in bench/run.sh --quick: more than the 5% the
// redesign may cost (docs/benchmarks.md, issue 14).
func (s *Store) readPool() gorm.ConnPool { return s.db.Statement.ConnPool }

// readRows is one row of the read statements, in the table row types: a
// shipment, its location and weather when known (zero ID, nil FetchedAt
// when not), and one of its articles (zero ID when it has none).
type readRows struct {
	s shipmentRow
	l locationRow
	w weatherRow
	a articleRow
}

// readShipments collects the rows of a read statement, ordered by
// shipment then article position, into shipments.
func readShipments(rows *sql.Rows, capacity int) (out []shipment.Shipment, last cursor, err error) {
	out = make([]shipment.Shipment, 0, capacity)
	var r readRows
	dest := make([]any, 0, len(readShipmentCols.names)+len(readLocationCols.names)+len(readWeatherCols.names)+len(readArticleCols.names))
	dest = readShipmentCols.dests(dest, &r.s)
	dest = readLocationCols.dests(dest, &r.l)
	dest = readWeatherCols.dests(dest, &r.w)
	dest = readArticleCols.dests(dest, &r.a)
	var cur uint64
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, cursor{}, err
		}
		if len(out) == 0 || r.s.ID != cur {
			cur = r.s.ID
			sh := r.s.shipment()
			if r.l.ID != 0 {
				loc := r.l.location()
				sh.Location = &loc
				if r.w.FetchedAt != nil {
					w := r.w.weather()
					sh.Weather = &w
				}
			}
			out = append(out, sh)
			u := r.s.UpdatedAt
			last = cursor{C: r.s.CarrierKey, T: r.s.TrackingNumber, I: r.s.ID, U: &u}
		}
		if r.a.ID != 0 {
			sh := &out[len(out)-1]
			sh.Articles = append(sh.Articles, r.a.article())
		}
	}
	return out, last, rows.Err()
}

// shipment is the shipment of r, without articles, location and weather.
func (r shipmentRow) shipment() shipment.Shipment {
	sh := shipment.Shipment{
		TrackingNumber: r.TrackingNumber, Carrier: r.Carrier, Status: r.Status, StatusText: r.StatusText,
		SenderAddress: r.SenderAddress, ReceiverAddress: r.ReceiverAddress,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		Articles: []shipment.Article{},
	}
	if r.TrackingDisplay != "" {
		sh.TrackingNumber = r.TrackingDisplay
	}
	return sh
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
	rows, err := s.readPool().QueryContext(ctx, q.String(), args...)
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
	rows, err := s.readPool().QueryContext(ctx, getSQL, shipment.CarrierKey(carrier), shipment.NormalizeTrackingNumber(trackingNumber))
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
