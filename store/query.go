package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
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

// List returns one page of shipments with their articles and weather.
func (s *Store) List(ctx context.Context, p ListParams) (Page, error) {
	q := s.db.WithContext(ctx).Model(&shipmentRow{})
	if p.Carrier != "" {
		q = q.Where("carrier_key = ?", CarrierKey(p.Carrier))
	}
	if p.Status != "" {
		q = q.Where("status = ?", p.Status)
	}
	if p.Cursor != "" {
		c, err := decodeCursor(p.Cursor)
		if err != nil {
			return Page{}, err
		}
		q = q.Where("(carrier_key, tracking_number) > (?, ?)", c.C, c.T)
	}
	var rows []shipmentRow
	if err := q.Order("carrier_key, tracking_number").Limit(p.Limit + 1).Find(&rows).Error; err != nil {
		return Page{}, fmt.Errorf("store: list: %w", wrapUnavailable(err))
	}
	var page Page
	if len(rows) > p.Limit {
		rows = rows[:p.Limit]
		last := rows[len(rows)-1]
		page.NextCursor = encodeCursor(cursor{C: last.CarrierKey, T: last.TrackingNumber})
	}
	shipments, err := s.hydrate(ctx, rows)
	if err != nil {
		return Page{}, err
	}
	page.Shipments = shipments
	return page, nil
}

// Get returns one shipment by carrier (any case) and tracking number.
func (s *Store) Get(ctx context.Context, carrier, trackingNumber string) (Shipment, error) {
	var row shipmentRow
	err := s.db.WithContext(ctx).
		Where("carrier_key = ? AND tracking_number = ?", CarrierKey(carrier), trackingNumber).
		Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Shipment{}, fmt.Errorf("shipment %s/%s: %w", carrier, trackingNumber, ErrNotFound)
	}
	if err != nil {
		return Shipment{}, fmt.Errorf("store: get: %w", wrapUnavailable(err))
	}
	out, err := s.hydrate(ctx, []shipmentRow{row})
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

// hydrate loads the articles, locations and weather of rows in two
// queries, whatever the number of rows.
func (s *Store) hydrate(ctx context.Context, rows []shipmentRow) ([]Shipment, error) {
	out := make([]Shipment, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	ids := make([]uint64, len(rows))
	locSet := make(map[uint64]struct{})
	for i, r := range rows {
		ids[i] = r.ID
		if r.LocationID != nil {
			locSet[*r.LocationID] = struct{}{}
		}
	}
	db := s.db.WithContext(ctx)
	var arts []articleRow
	if err := db.Where("shipment_id IN ?", ids).Order("shipment_id, position").Find(&arts).Error; err != nil {
		return nil, fmt.Errorf("store: articles: %w", wrapUnavailable(err))
	}
	byShipment := make(map[uint64][]Article, len(rows))
	for _, a := range arts {
		byShipment[a.ShipmentID] = append(byShipment[a.ShipmentID], a.article())
	}
	locs, err := s.locations(ctx, locSet)
	if err != nil {
		return nil, err
	}
	for i, r := range rows {
		sh := Shipment{
			TrackingNumber: r.TrackingNumber, Carrier: r.Carrier, Status: r.Status,
			SenderAddress: r.SenderAddress, ReceiverAddress: r.ReceiverAddress,
			CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
			Articles: byShipment[r.ID],
		}
		if sh.Articles == nil {
			sh.Articles = []Article{}
		}
		if r.LocationID != nil {
			if lw, ok := locs[*r.LocationID]; ok {
				loc := lw.loc
				sh.Location = &loc
				sh.Weather = lw.weather
			}
		}
		out[i] = sh
	}
	return out, nil
}

type locWeather struct {
	loc     Location
	weather *Weather
}

func (s *Store) locations(ctx context.Context, set map[uint64]struct{}) (map[uint64]locWeather, error) {
	out := make(map[uint64]locWeather, len(set))
	if len(set) == 0 {
		return out, nil
	}
	ids := make([]uint64, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	db := s.db.WithContext(ctx)
	var locs []locationRow
	if err := db.Where("id IN ?", ids).Find(&locs).Error; err != nil {
		return nil, fmt.Errorf("store: locations: %w", wrapUnavailable(err))
	}
	var ws []weatherRow
	if err := db.Where("location_id IN ? AND fetched_at IS NOT NULL", ids).Find(&ws).Error; err != nil {
		return nil, fmt.Errorf("store: weather: %w", wrapUnavailable(err))
	}
	for _, l := range locs {
		out[l.ID] = locWeather{loc: l.location()}
	}
	for i := range ws {
		if lw, ok := out[ws[i].LocationID]; ok {
			w := ws[i].weather()
			lw.weather = &w
			out[ws[i].LocationID] = lw
		}
	}
	return out, nil
}

func (l locationRow) location() Location {
	return Location{ID: l.ID, PostalCode: l.PostalCode, City: l.City, Country: l.Country}
}

func (w weatherRow) weather() Weather {
	out := Weather{
		LocationID: w.LocationID, Query: w.Query, TemperatureC: w.TemperatureC,
		Condition: w.Condition, ConditionCode: w.ConditionCode, Humidity: w.Humidity,
		WindKph: w.WindKph, Provider: w.Provider, LastError: w.LastError,
	}
	for _, t := range []struct {
		dst *time.Time
		src *time.Time
	}{{&out.ObservedAt, w.ObservedAt}, {&out.FetchedAt, w.FetchedAt}, {&out.LastAttemptAt, w.LastAttemptAt}} {
		if t.src != nil {
			*t.dst = t.src.UTC()
		}
	}
	return out
}
