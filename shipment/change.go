package shipment

import "strconv"

// ChangeKind says what a Change reports.
type ChangeKind int

const (
	// ChangeListening: the feed is connected and listening (first connect
	// and every reconnect); changes made while it was not may have gone
	// unreported.
	ChangeListening ChangeKind = iota + 1
	// ChangeLost: the feed lost its connection; until the next
	// ChangeListening, changes go unreported.
	ChangeLost
	// ChangeShipments: shipments, articles or locations changed (any row,
	// any number).
	ChangeShipments
	// ChangeWeather: what reads return as the weather of Location changed.
	ChangeWeather
)

func (k ChangeKind) String() string {
	switch k {
	case ChangeListening:
		return "listening"
	case ChangeLost:
		return "lost"
	case ChangeShipments:
		return "shipments"
	case ChangeWeather:
		return "weather"
	}
	return "ChangeKind(" + strconv.Itoa(int(k)) + ")"
}

// Change is one committed write that may alter what List or Get return.
type Change struct {
	Kind     ChangeKind
	Location uint64 // for ChangeWeather
}
