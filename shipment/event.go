package shipment

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shiptrack/shiptrack/valid"
)

// Normalised statuses, after AfterShip's tag list: what a client filters
// and branches on. A carrier's own wording is kept beside it as
// StatusText.
const (
	StatusPending            = "pending"
	StatusInfoReceived       = "info_received"
	StatusInTransit          = "in_transit"
	StatusOutForDelivery     = "out_for_delivery"
	StatusFailedAttempt      = "failed_attempt"
	StatusAvailableForPickup = "available_for_pickup"
	StatusDelivered          = "delivered"
	StatusException          = "exception"
	StatusExpired            = "expired"
)

// Statuses lists the normalised statuses in a shipment's usual order.
var Statuses = []string{
	StatusPending, StatusInfoReceived, StatusInTransit, StatusOutForDelivery,
	StatusFailedAttempt, StatusAvailableForPickup, StatusDelivered,
	StatusException, StatusExpired,
}

// DefaultStatus is what a carrier status text not in carrierStatuses
// normalises to: a carrier that reports something at all has the parcel
// moving, and the text itself is kept in StatusText, never refused.
const DefaultStatus = StatusInTransit

// carrierStatuses maps carrier status texts (compared in lower case, with
// '-' and ' ' read as '_') to normalised statuses: the one table of them.
// The seed's texts are here; a normalised status maps to itself.
var carrierStatuses = map[string]string{
	"in_transit":   StatusInTransit,
	"transit":      StatusInTransit,
	"inbound_scan": StatusInTransit,
	"scanned":      StatusInfoReceived,
	"delivery":     StatusOutForDelivery,
}

func init() {
	for _, s := range Statuses {
		carrierStatuses[s] = s
	}
}

// NormalizeStatus returns the normalised status of a carrier's status
// text: the table's entry, or DefaultStatus.
func NormalizeStatus(statusText string) string {
	k := strings.NewReplacer("-", "_", " ", "_").Replace(strings.ToLower(strings.TrimSpace(statusText)))
	if s, ok := carrierStatuses[k]; ok {
		return s
	}
	return DefaultStatus
}

// IsStatus reports whether s is a normalised status.
func IsStatus(s string) bool {
	for _, v := range Statuses {
		if v == s {
			return true
		}
	}
	return false
}

// Sources of an event.
const (
	SourceImport = "import"
	SourceAPI    = "api"
)

// Event is one tracking event of a shipment. A shipment's Status and
// StatusText are those of its latest event: the greatest OccurredAt, and
// among equal times the one recorded last.
type Event struct {
	// EventID is the sender's idempotency key, unique per shipment: the
	// same event sent twice is recorded once. ContentID makes one when
	// the sender gives none.
	EventID    string
	OccurredAt time.Time // UTC
	Status     string    // normalised
	StatusText string    // the carrier's own wording
	Location   string    // free text, optional
	Message    string    // optional
	Source     string    // SourceImport or SourceAPI
}

// ContentID is the event id made from what an event says, for senders
// that give none: the same content always gets the same id, so a resent
// event is still recorded once.
func (e Event) ContentID() string {
	h := sha256.New()
	for _, f := range []string{e.OccurredAt.UTC().Format(time.RFC3339Nano), e.Status, e.StatusText, e.Location, e.Message} {
		h.Write([]byte(strconv.Itoa(len(f))))
		h.Write([]byte{':'})
		h.Write([]byte(f))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:32]
}

// SameContent reports whether two events with one EventID say the same
// thing (the source and the id aside): a retry, not a conflict.
func (e Event) SameContent(o Event) bool {
	return e.OccurredAt.Equal(o.OccurredAt) && e.Status == o.Status && e.StatusText == o.StatusText &&
		e.Location == o.Location && e.Message == o.Message
}

// EventInput is one event for the shipment (Carrier, TrackingNumber), as a
// write or an import brings it.
type EventInput struct {
	Carrier        string
	TrackingNumber string
	Event
}

// AppendResult counts what appending a batch of events did.
type AppendResult struct {
	Created   int // events recorded now
	Unchanged int // events already recorded with the same content
}

// PutResult is what creating or replacing a shipment did.
type PutResult struct {
	Shipment Shipment
	Created  bool // the shipment did not exist
	Changed  bool // something stored changed (false for a replay)
}

// ErrEventConflict means an event id is already recorded for the shipment
// with different content.
var ErrEventConflict = errors.New("event_id already recorded with different content")

// ItemError names a bad item of a batch by its index and field.
type ItemError struct {
	Index int
	Field string // JSON field name; "" for the item as a whole
	Err   error
}

func (e ItemError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("item %d: %v", e.Index, e.Err)
	}
	return fmt.Sprintf("item %d: %s: %v", e.Index, e.Field, e.Err)
}

func (e ItemError) Unwrap() error { return e.Err }

// ItemErrors is every bad item of a refused batch; nothing of the batch
// was written.
type ItemErrors []ItemError

func (e ItemErrors) Error() string {
	if len(e) == 1 {
		return e[0].Error()
	}
	return fmt.Sprintf("%d bad items, first %v", len(e), e[0])
}

// Unwrap lets errors.Is see each item's error (ErrNotFound,
// ErrEventConflict).
func (e ItemErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i := range e {
		out[i] = e[i]
	}
	return out
}

// MaxEventFuture is how far ahead of now an event's time may be: a
// carrier's clock may run a little fast, a day ahead is a wrong time zone
// or a typo.
const MaxEventFuture = 24 * time.Hour

// Errors of Event.Validate.
var (
	ErrBadStatus = errors.New("not a normalised status")
	ErrBadSource = errors.New("not import or api")
	ErrFuture    = errors.New("more than a day in the future")
)

// Validate checks an event as it enters (API or import), before
// Normalized: the texts (package valid's limits), a time that is set and
// not more than MaxEventFuture after now, a status that is empty
// (derived from StatusText) or normalised, and a non-empty status text.
// field is the JSON (and CSV) name of the first bad field.
func (e Event) Validate(now time.Time) (field string, err error) {
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"event_id", e.EventID, valid.EventID}, {"status_text", e.StatusText, valid.StatusText},
		{"status", e.Status, valid.Status}, {"location", e.Location, valid.EventLocation}, {"message", e.Message, valid.Message},
	} {
		if err := valid.Text(f.v, f.max); err != nil {
			return f.name, err
		}
	}
	switch {
	case strings.TrimSpace(e.StatusText) == "":
		return "status_text", ErrMissingValue
	case e.Status != "" && !IsStatus(e.Status):
		return "status", fmt.Errorf("%q: %w", e.Status, ErrBadStatus)
	case e.OccurredAt.IsZero():
		return "occurred_at", ErrMissingValue
	case e.OccurredAt.Sub(now) > MaxEventFuture:
		return "occurred_at", ErrFuture
	case e.Source != "" && e.Source != SourceImport && e.Source != SourceAPI:
		return "source", ErrBadSource
	}
	return "", nil
}

// Normalized is the event as it is stored: its time in UTC to the
// microsecond (what the databases keep, so a replay compares equal), the
// status derived from StatusText when empty, and ContentID as EventID
// when the sender gave none.
func (e Event) Normalized() Event {
	e.OccurredAt = e.OccurredAt.UTC().Truncate(time.Microsecond)
	if e.Status == "" {
		e.Status = NormalizeStatus(e.StatusText)
	}
	if e.EventID == "" {
		e.EventID = e.ContentID()
	}
	return e
}
