package api

import (
	"cmp"
	"encoding/json"
	"time"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/weather"
)

// ShipmentJSON is the public form of a shipment. Field names are part of
// the API contract: snake_case, never renamed.
type ShipmentJSON struct {
	TrackingNumber  string        `json:"tracking_number"`
	Carrier         string        `json:"carrier"`
	Status          string        `json:"status"`
	StatusText      string        `json:"status_text"`
	SenderAddress   string        `json:"sender_address"`
	ReceiverAddress string        `json:"receiver_address"`
	ReceiverLoc     *LocationJSON `json:"receiver_location"`
	Articles        []ArticleJSON `json:"articles"`
	Weather         *WeatherJSON  `json:"weather"`
	CreatedAt       string        `json:"created_at"`
	UpdatedAt       string        `json:"updated_at"`
}

// LookupJSON is a shipment as a lookup (and a write) answers it: the
// listing's fields and the journey. Listings leave the events out (a page
// would cost a query per shipment).
type LookupJSON struct {
	ShipmentJSON
	// Events are the latest shipment.LatestEvents events, newest first
	// (every one with ?events=all); never null.
	Events     []EventJSON `json:"events"`
	EventCount int         `json:"event_count"`
}

// EventJSON is one tracking event.
type EventJSON struct {
	EventID    string `json:"event_id"`
	OccurredAt string `json:"occurred_at"` // UTC, RFC 3339 (fractions only when sent)
	Status     string `json:"status"`
	StatusText string `json:"status_text"`
	Location   string `json:"location"`
	Message    string `json:"message"`
	Source     string `json:"source"`
}

// ArticleJSON is one article; price is a decimal string so no client
// float rounding can creep in ("19.99", "800.00").
type ArticleJSON struct {
	Name     string `json:"name"`
	Quantity int    `json:"quantity"`
	Price    string `json:"price"`
	SKU      string `json:"sku"`
}

// LocationJSON is the receiver location parsed from its address.
type LocationJSON struct {
	PostalCode string `json:"postal_code"`
	City       string `json:"city"`
	Country    string `json:"country"`
}

// WeatherJSON is the last weather fetched for the receiver's location.
type WeatherJSON struct {
	Location      string  `json:"location"`
	TemperatureC  float64 `json:"temperature_c"`
	Condition     string  `json:"condition"`
	ConditionCode string  `json:"condition_code"`
	Humidity      int     `json:"humidity"`
	WindKph       float64 `json:"wind_kph"`
	ObservedAt    string  `json:"observed_at"`
	FetchedAt     string  `json:"fetched_at"`
	Provider      string  `json:"provider"`
	// Stale is true when the last refresh of the place failed, or when the
	// weather is older than weather.StaleAfter (the interval plus half).
	Stale bool `json:"stale"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func toJSON(s shipment.Shipment, now time.Time, staleAfter time.Duration) ShipmentJSON {
	out := ShipmentJSON{
		TrackingNumber: s.TrackingNumber, Carrier: s.Carrier, Status: s.Status, StatusText: s.StatusText,
		SenderAddress: s.SenderAddress, ReceiverAddress: s.ReceiverAddress,
		Articles:  make([]ArticleJSON, len(s.Articles)),
		CreatedAt: rfc3339(s.CreatedAt), UpdatedAt: rfc3339(s.UpdatedAt),
	}
	for i, a := range s.Articles {
		out.Articles[i] = ArticleJSON{Name: a.Name, Quantity: a.Quantity, Price: a.Price.String(), SKU: a.SKU}
	}
	if l := s.Location; l != nil {
		out.ReceiverLoc = &LocationJSON{PostalCode: l.PostalCode, City: l.City, Country: l.Country}
	}
	if w := s.Weather; w != nil && !w.FetchedAt.IsZero() {
		out.Weather = &WeatherJSON{
			Location: w.Query, TemperatureC: w.TemperatureC, Condition: w.Condition,
			ConditionCode: w.ConditionCode, Humidity: w.Humidity, WindKph: w.WindKph,
			ObservedAt: rfc3339(w.ObservedAt), FetchedAt: rfc3339(w.FetchedAt), Provider: w.Provider,
			Stale: w.LastError != "" || now.Sub(w.FetchedAt) > staleAfter,
		}
	}
	return out
}

func toLookupJSON(s shipment.Shipment, now time.Time, staleAfter time.Duration) LookupJSON {
	out := LookupJSON{ShipmentJSON: toJSON(s, now, staleAfter), Events: make([]EventJSON, len(s.Events)), EventCount: s.EventCount}
	for i, e := range s.Events {
		out.Events[i] = EventJSON{
			EventID: e.EventID, OccurredAt: e.OccurredAt.UTC().Format(time.RFC3339Nano), Status: e.Status,
			StatusText: e.StatusText, Location: e.Location, Message: e.Message, Source: e.Source,
		}
	}
	// A store that counts no more than it returned (or none, as before
	// events) still answers a consistent count.
	out.EventCount = max(out.EventCount, len(s.Events))
	return out
}

// ShipmentBody is a shipment as a lookup answers it, encoded: the
// "shipment" of a webhook delivery (package jobs sends it; main wires
// the two, as the jobs do not import the API).
func ShipmentBody(s shipment.Shipment, now time.Time, weatherInterval time.Duration) ([]byte, error) {
	return json.Marshal(toLookupJSON(s, now, weather.StaleAfter(cmp.Or(weatherInterval, weather.DefaultInterval))))
}
