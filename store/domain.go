package store

import (
	"io"

	"github.com/shiptrack/shiptrack/shipment"
)

// The domain moved to package shipment (issue 14). These names let the
// store's own code and tests (the fuzz targets stay here, with their
// corpora) and code written before the move keep the short names; they
// are the same types, values and functions, so errors.Is and type
// switches hold across both. Code outside store uses package shipment.
type (
	Shipment      = shipment.Shipment
	Article       = shipment.Article
	Location      = shipment.Location
	Weather       = shipment.Weather
	Money         = shipment.Money
	ShipmentInput = shipment.ShipmentInput
	ImportError   = shipment.ImportError
	ListParams    = shipment.ListParams
	Page          = shipment.Page
	Change        = shipment.Change
	ChangeKind    = shipment.ChangeKind
)

const (
	ChangeListening = shipment.ChangeListening
	ChangeLost      = shipment.ChangeLost
	ChangeShipments = shipment.ChangeShipments
	ChangeWeather   = shipment.ChangeWeather
)

var (
	ErrNotFound      = shipment.ErrNotFound
	ErrInvalidCursor = shipment.ErrInvalidCursor
	ErrUnavailable   = shipment.ErrUnavailable
	ErrInvalidMoney  = shipment.ErrInvalidMoney
	ErrMissingValue  = shipment.ErrMissingValue
	ErrBadNumber     = shipment.ErrBadNumber
	ErrConflict      = shipment.ErrConflict
)

// ParseCSV is shipment.ParseCSV.
func ParseCSV(r io.Reader) ([]ShipmentInput, error) { return shipment.ParseCSV(r) }

// ParseMoney is shipment.ParseMoney.
func ParseMoney(s string) (Money, error) { return shipment.ParseMoney(s) }

// ParseLocation is shipment.ParseLocation.
func ParseLocation(address string) (Location, bool) { return shipment.ParseLocation(address) }

// NormalizeTrackingNumber is shipment.NormalizeTrackingNumber.
func NormalizeTrackingNumber(tn string) string { return shipment.NormalizeTrackingNumber(tn) }

// CarrierKey is shipment.CarrierKey.
func CarrierKey(carrier string) string { return shipment.CarrierKey(carrier) }

// shipmentKey identifies a shipment row: a struct, so no byte inside
// either field can make two shipments collide.
type shipmentKey struct{ carrier, trackingNumber string }
