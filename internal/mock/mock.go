// Package mock holds one fake per consumer-defined interface, each method
// a function field the test sets (as in benbjohnson/wtf's mock package),
// so tests need no hand-written fake types.
package mock

import (
	"context"

	"github.com/shiptrack/shiptrack/shipment"
)

// Shipments fakes api.Shipments.
type Shipments struct {
	ListFn func(ctx context.Context, p shipment.ListParams) (shipment.Page, error)
	GetFn  func(ctx context.Context, carrier, trackingNumber string) (shipment.Shipment, error)
}

func (s *Shipments) List(ctx context.Context, p shipment.ListParams) (shipment.Page, error) {
	return s.ListFn(ctx, p)
}

func (s *Shipments) Get(ctx context.Context, carrier, trackingNumber string) (shipment.Shipment, error) {
	return s.GetFn(ctx, carrier, trackingNumber)
}

// Writer fakes api.Writer.
type Writer struct {
	PutFn          func(ctx context.Context, in shipment.ShipmentInput) (shipment.PutResult, error)
	AppendEventsFn func(ctx context.Context, events []shipment.EventInput) (shipment.AppendResult, error)
	EventsFn       func(ctx context.Context, carrier, trackingNumber string) ([]shipment.Event, error)
}

func (w *Writer) Put(ctx context.Context, in shipment.ShipmentInput) (shipment.PutResult, error) {
	return w.PutFn(ctx, in)
}

func (w *Writer) AppendEvents(ctx context.Context, events []shipment.EventInput) (shipment.AppendResult, error) {
	return w.AppendEventsFn(ctx, events)
}

func (w *Writer) Events(ctx context.Context, carrier, trackingNumber string) ([]shipment.Event, error) {
	return w.EventsFn(ctx, carrier, trackingNumber)
}
