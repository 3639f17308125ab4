package webhook

import "time"

// Endpoint states, as metrics and GET /webhooks/status name them.
const (
	EndpointActive = "active"
	EndpointPaused = "paused"
)

// Where a pending delivery stands: due (its next attempt reached, not
// taken), in flight (claimed by a replica, its lease running) or waiting
// for a retry (its next attempt later).
const (
	QueueDue      = "due"
	QueueInFlight = "in_flight"
	QueueWaiting  = "waiting"
)

// QueueKey is one cell of the pending deliveries: its endpoint's state
// and where the delivery stands.
type QueueKey struct {
	Endpoint string // EndpointActive or EndpointPaused
	State    string // QueueDue, QueueInFlight or QueueWaiting
}

// QueueStats is the delivery queue at one moment, read in one pass over
// the pending deliveries.
type QueueStats struct {
	Pending   map[QueueKey]int64
	Endpoints map[string]int64 // by endpoint state
	// OldestPending is the creation of the oldest pending delivery by
	// endpoint state (absent: none pending).
	OldestPending map[string]time.Time
	// NextRetry is the earliest next attempt of the active endpoints'
	// deliveries waiting for a retry (zero: none waiting).
	NextRetry time.Time
}

// Status is what GET /webhooks/status reports: the queue, the paused
// endpoints, and the outcomes of the last 24 hours.
type Status struct {
	Queue  QueueStats
	Paused []Endpoint // with PausedAt and PauseReason, oldest first
	// Delivered and Failed count the deliveries that ended so in the
	// 24 hours before the status was read.
	Delivered24h, Failed24h int64
	LastAttemptAt           *time.Time // nil before any attempt
}
