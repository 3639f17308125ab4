package webhook

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// EventStatusChanged is the type of the one event delivered so far.
const EventStatusChanged = "shipment.status_changed"

// PauseAfter is how many consecutive failed attempts pause an endpoint.
const PauseAfter = 20

// RotationOverlap is how long a rotated secret keeps signing beside the
// new one.
const RotationOverlap = 24 * time.Hour

// Endpoint is a subscription. Secret is only filled where it is shown:
// in the answer to its creation or rotation.
type Endpoint struct {
	ID          uint64
	URL         string
	Secret      string
	Statuses    []string // normalised statuses; empty = all
	Carriers    []string // carrier keys; empty = all
	CreatedAt   time.Time
	PausedAt    *time.Time
	PauseReason string
	Failures    int // consecutive failed attempts
}

// Delivery is one notification of one endpoint and its latest attempt.
type Delivery struct {
	ID             uint64 // internal, the keyset cursor
	DeliveryID     string // public, the Shiptrack-Delivery header
	EndpointID     uint64
	ShipmentID     uint64
	Type           string
	PreviousStatus string
	Status         string // the shipment's new status
	State          string // pending, delivered or failed
	Attempts       int
	NextAttemptAt  *time.Time // while pending
	FirstAttemptAt *time.Time
	LastStatusCode int
	LastError      string
	LastDuration   time.Duration
	CreatedAt      time.Time
	DeliveredAt    *time.Time
}

// Delivery states.
const (
	StatePending   = "pending"
	StateDelivered = "delivered"
	StateFailed    = "failed"
)

// NewSecret returns a fresh signing secret: "whsec_" and 32 random bytes
// in hex.
func NewSecret() string { return "whsec_" + randomHex(32) }

// NewDeliveryID returns a fresh public delivery id.
func NewDeliveryID() string { return "dlv_" + randomHex(16) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}
