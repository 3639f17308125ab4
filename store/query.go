package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ListParams selects one page of shipments.
type ListParams struct {
	Limit   int    // rows per page, 1..1000
	Cursor  string // opaque, from Page.NextCursor; "" for the first page
	Carrier string // optional filter, case-insensitive
	Status  string // optional filter, exact
}

// Page is one page of shipments in (carrier, tracking number) order.
type Page struct {
	Shipments []Shipment
	// NextCursor fetches the page after this one; "" on the last page.
	NextCursor string
}

// cursor is the last (carrier key, tracking number) of a page: the next
// page starts after it, so a deep page costs what the first one does.
type cursor struct {
	C string `json:"c"`
	T string `json:"t"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c) // two strings: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.T == "" {
		return cursor{}, ErrInvalidCursor
	}
	return c, nil
}

// shipmentScan is a shipment row with its location and weather, read in
// one query through LEFT JOINs.
type shipmentScan struct {
	// Row is named: GORM skips embedded fields of unexported types.
	Row            shipmentRow `gorm:"embedded"`
	LID            *uint64     `gorm:"column:l_id"`
	LPostalCode    *string     `gorm:"column:l_postal_code"`
	LCity          *string     `gorm:"column:l_city"`
	LCountry       *string     `gorm:"column:l_country"`
	WFetchedAt     *time.Time  `gorm:"column:w_fetched_at"`
	WQuery         *string     `gorm:"column:w_query"`
	WTemperatureC  *float64    `gorm:"column:w_temperature_c"`
	WCondition     *string     `gorm:"column:w_condition"`
	WConditionCode *string     `gorm:"column:w_condition_code"`
	WHumidity      *int        `gorm:"column:w_humidity"`
	WWindKph       *float64    `gorm:"column:w_wind_kph"`
	WObservedAt    *time.Time  `gorm:"column:w_observed_at"`
	WProvider      *string     `gorm:"column:w_provider"`
	WLastError     *string     `gorm:"column:w_last_error"`
	WLastAttemptAt *time.Time  `gorm:"column:w_last_attempt_at"`
}

const shipmentScanSelect = "s.*, l.id AS l_id, l.postal_code AS l_postal_code, l.city AS l_city, l.country AS l_country, " +
	"w.fetched_at AS w_fetched_at, w.query AS w_query, w.temperature_c AS w_temperature_c, w.condition AS w_condition, " +
	"w.condition_code AS w_condition_code, w.humidity AS w_humidity, w.wind_kph AS w_wind_kph, " +
	"w.observed_at AS w_observed_at, w.provider AS w_provider, w.last_error AS w_last_error, w.last_attempt_at AS w_last_attempt_at"

// shipments starts a query of shipments (alias s) with their location and
// weather; weather that was never fetched reads as absent.
func (s *Store) shipments(ctx context.Context) *gorm.DB {
	return s.db.WithContext(ctx).Table("shipments AS s").Select(shipmentScanSelect).
		Joins("LEFT JOIN locations AS l ON l.id = s.location_id").
		Joins("LEFT JOIN weather AS w ON w.location_id = s.location_id AND w.fetched_at IS NOT NULL")
}

// List returns one page of shipments with their articles and weather, in
// two queries whatever the page size.
func (s *Store) List(ctx context.Context, p ListParams) (Page, error) {
	q := s.shipments(ctx)
	if p.Carrier != "" {
		q = q.Where("s.carrier_key = ?", CarrierKey(p.Carrier))
	}
	if p.Status != "" {
		q = q.Where("s.status = ?", p.Status)
	}
	if p.Cursor != "" {
		c, err := decodeCursor(p.Cursor)
		if err != nil {
			return Page{}, err
		}
		q = q.Where("(s.carrier_key, s.tracking_number) > (?, ?)", c.C, c.T)
	}
	var rows []shipmentScan
	if err := q.Order("s.carrier_key, s.tracking_number").Limit(p.Limit + 1).Scan(&rows).Error; err != nil {
		return Page{}, fmt.Errorf("store: list: %w", wrapUnavailable(err))
	}
	var page Page
	if len(rows) > p.Limit {
		rows = rows[:p.Limit]
		last := rows[len(rows)-1]
		page.NextCursor = encodeCursor(cursor{C: last.Row.CarrierKey, T: last.Row.TrackingNumber})
	}
	shipments, err := s.hydrate(ctx, rows)
	if err != nil {
		return Page{}, err
	}
	page.Shipments = shipments
	return page, nil
}

// Get returns one shipment by carrier (any case) and tracking number, in
// two queries.
func (s *Store) Get(ctx context.Context, carrier, trackingNumber string) (Shipment, error) {
	var rows []shipmentScan
	err := s.shipments(ctx).
		Where("s.carrier_key = ? AND s.tracking_number = ?", CarrierKey(carrier), trackingNumber).
		Limit(1).Scan(&rows).Error
	if err != nil {
		return Shipment{}, fmt.Errorf("store: get: %w", wrapUnavailable(err))
	}
	if len(rows) == 0 {
		return Shipment{}, fmt.Errorf("shipment %s/%s: %w", carrier, trackingNumber, ErrNotFound)
	}
	out, err := s.hydrate(ctx, rows)
	if err != nil {
		return Shipment{}, err
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

// hydrate adds the articles of rows, in one query whatever their number.
func (s *Store) hydrate(ctx context.Context, rows []shipmentScan) ([]Shipment, error) {
	out := make([]Shipment, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	ids := make([]uint64, len(rows))
	for i, r := range rows {
		ids[i] = r.Row.ID
	}
	var arts []articleRow
	if err := s.db.WithContext(ctx).Where("shipment_id IN ?", ids).Order("shipment_id, position").Find(&arts).Error; err != nil {
		return nil, fmt.Errorf("store: articles: %w", wrapUnavailable(err))
	}
	byShipment := make(map[uint64][]Article, len(rows))
	for _, a := range arts {
		byShipment[a.ShipmentID] = append(byShipment[a.ShipmentID], a.article())
	}
	for i, r := range rows {
		row := r.Row
		sh := Shipment{
			TrackingNumber: row.TrackingNumber, Carrier: row.Carrier, Status: row.Status,
			SenderAddress: row.SenderAddress, ReceiverAddress: row.ReceiverAddress,
			CreatedAt: row.CreatedAt.UTC(), UpdatedAt: row.UpdatedAt.UTC(),
			Articles: byShipment[row.ID],
		}
		if sh.Articles == nil {
			sh.Articles = []Article{}
		}
		if r.LID != nil {
			sh.Location = &Location{ID: *r.LID, PostalCode: deref(r.LPostalCode), City: deref(r.LCity), Country: deref(r.LCountry)}
		}
		if r.LID != nil && r.WFetchedAt != nil {
			sh.Weather = &Weather{
				LocationID: *r.LID, Query: deref(r.WQuery), TemperatureC: deref(r.WTemperatureC),
				Condition: deref(r.WCondition), ConditionCode: deref(r.WConditionCode), Humidity: deref(r.WHumidity),
				WindKph: deref(r.WWindKph), ObservedAt: utc(r.WObservedAt), FetchedAt: utc(r.WFetchedAt),
				Provider: deref(r.WProvider), LastError: deref(r.WLastError), LastAttemptAt: utc(r.WLastAttemptAt),
			}
		}
		out[i] = sh
	}
	return out, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func (l locationRow) location() Location {
	return Location{ID: l.ID, PostalCode: l.PostalCode, City: l.City, Country: l.Country}
}

func (w weatherRow) weather() Weather {
	return Weather{
		LocationID: w.LocationID, Query: w.Query, TemperatureC: w.TemperatureC,
		Condition: w.Condition, ConditionCode: w.ConditionCode, Humidity: w.Humidity,
		WindKph: w.WindKph, Provider: w.Provider, LastError: w.LastError,
		ObservedAt: utc(w.ObservedAt), FetchedAt: utc(w.FetchedAt), LastAttemptAt: utc(w.LastAttemptAt),
	}
}
