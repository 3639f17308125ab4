package shipment

import "time"

// ListParams selects one page of shipments.
type ListParams struct {
	Limit   int    // rows per page, 1..1000
	Cursor  string // opaque, from Page.NextCursor; "" for the first page
	Carrier string // optional filter, case-insensitive
	Status  string // optional filter, a normalised status
	// UpdatedSince, when set, selects shipments updated at or after it,
	// in (updated_at, id) order instead, for incremental sync.
	UpdatedSince time.Time
}

// Page is one page of shipments in (carrier, tracking number) order.
type Page struct {
	Shipments []Shipment
	// NextCursor fetches the page after this one; "" on the last page.
	NextCursor string
}
