// Package shipment is shiptrack's domain: shipments, articles, locations
// and their weather, money, address and CSV-row parsing, the change-feed
// events and the domain errors. It imports no database, HTTP or queue
// package, so everything that only needs the domain (the API) stays free
// of them.
package shipment

import (
	"errors"
	"time"
)

// Errors returned by the store (and any other source of shipments);
// check them with errors.Is.
var (
	// ErrNotFound means no row matched the lookup.
	ErrNotFound = errors.New("not found")
	// ErrInvalidCursor means a pagination cursor could not be decoded.
	ErrInvalidCursor = errors.New("invalid cursor")
	// ErrUnavailable means the database did not answer.
	ErrUnavailable = errors.New("database unavailable")
)

// Shipment is one parcel, identified by (carrier, tracking number).
type Shipment struct {
	TrackingNumber string
	Carrier        string
	// Status is the normalised status of the latest event (see Event),
	// StatusPending when there is none; StatusText is its carrier wording.
	Status          string
	StatusText      string
	SenderAddress   string
	ReceiverAddress string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	Articles        []Article
	// Location is the receiver's parsed location, nil when the receiver
	// address could not be parsed.
	Location *Location
	// Weather is the last weather known at Location, nil when never fetched.
	Weather *Weather
	// Events are the shipment's tracking events, newest first: the latest
	// LatestEvents of them from Get, every one from Store.Events.
	Events []Event
	// EventCount is how many events the shipment has in all.
	EventCount int
}

// LatestEvents is how many events a lookup returns.
const LatestEvents = 20

// Article is one line of a shipment.
type Article struct {
	Name     string
	Quantity int
	Price    Money
	SKU      string
}

// Location is a receiver location shared by many shipments; weather is
// kept per location.
type Location struct {
	ID uint64
	// WeatherID is the location whose weather row serves this one's place
	// (city and country): locations of one place share a weather row.
	WeatherID  uint64
	PostalCode string
	City       string
	Country    string
}

// Weather is the last observation fetched for a location.
type Weather struct {
	LocationID    uint64
	Query         string // what was asked of the provider, e.g. "Paris, France"
	TemperatureC  float64
	Condition     string
	ConditionCode string
	Humidity      int
	WindKph       float64
	ObservedAt    time.Time
	FetchedAt     time.Time // zero when no fetch has succeeded yet
	Provider      string
	LastError     string // set when the last attempt failed; good values are kept
	LastAttemptAt time.Time
	// Failures counts consecutive temporary failures (for the retry
	// backoff); NextAttemptAt is when the place may be fetched again.
	Failures      int
	NextAttemptAt time.Time
}
