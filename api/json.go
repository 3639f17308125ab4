package api

import (
	"time"

	"github.com/shiptrack/shiptrack/shipment"
)

// ShipmentJSON is the public form of a shipment. Field names are part of
// the API contract: snake_case, never renamed.
type ShipmentJSON struct {
	TrackingNumber  string        `json:"tracking_number"`
	Carrier         string        `json:"carrier"`
	Status          string        `json:"status"`
	SenderAddress   string        `json:"sender_address"`
	ReceiverAddress string        `json:"receiver_address"`
	ReceiverLoc     *LocationJSON `json:"receiver_location"`
	Articles        []ArticleJSON `json:"articles"`
	Weather         *WeatherJSON  `json:"weather"`
	CreatedAt       string        `json:"created_at"`
	UpdatedAt       string        `json:"updated_at"`
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
		TrackingNumber: s.TrackingNumber, Carrier: s.Carrier, Status: s.Status,
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
