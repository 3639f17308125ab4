// Package mock holds one fake per consumer-defined interface, each method
// a function field the test sets (as in benbjohnson/wtf's mock package),
// so tests need no hand-written fake types.
package mock

import (
	"context"
	"time"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/webhook"
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

// Webhooks fakes api.Webhooks.
type Webhooks struct {
	CreateWebhookFn       func(ctx context.Context, url string, statuses, carriers []string) (webhook.Endpoint, error)
	WebhooksFn            func(ctx context.Context) ([]webhook.Endpoint, error)
	DeleteWebhookFn       func(ctx context.Context, id uint64) error
	RotateWebhookSecretFn func(ctx context.Context, id uint64, overlap time.Duration) (webhook.Endpoint, error)
	WebhookDeliveriesFn   func(ctx context.Context, endpointID, before uint64, limit int) ([]webhook.Delivery, error)
	RedeliverWebhookFn    func(ctx context.Context, endpointID uint64, deliveryID string) (webhook.Delivery, error)
	ResumeWebhookFn       func(ctx context.Context, id uint64) error
	WebhookStatusFn       func(ctx context.Context, now time.Time) (webhook.Status, error)
}

func (w *Webhooks) CreateWebhook(ctx context.Context, url string, statuses, carriers []string) (webhook.Endpoint, error) {
	return w.CreateWebhookFn(ctx, url, statuses, carriers)
}

func (w *Webhooks) Webhooks(ctx context.Context) ([]webhook.Endpoint, error) {
	return w.WebhooksFn(ctx)
}

func (w *Webhooks) DeleteWebhook(ctx context.Context, id uint64) error {
	return w.DeleteWebhookFn(ctx, id)
}

func (w *Webhooks) RotateWebhookSecret(ctx context.Context, id uint64, overlap time.Duration) (webhook.Endpoint, error) {
	return w.RotateWebhookSecretFn(ctx, id, overlap)
}

func (w *Webhooks) WebhookDeliveries(ctx context.Context, endpointID, before uint64, limit int) ([]webhook.Delivery, error) {
	return w.WebhookDeliveriesFn(ctx, endpointID, before, limit)
}

func (w *Webhooks) RedeliverWebhook(ctx context.Context, endpointID uint64, deliveryID string) (webhook.Delivery, error) {
	return w.RedeliverWebhookFn(ctx, endpointID, deliveryID)
}

func (w *Webhooks) ResumeWebhook(ctx context.Context, id uint64) error {
	return w.ResumeWebhookFn(ctx, id)
}

func (w *Webhooks) WebhookStatus(ctx context.Context, now time.Time) (webhook.Status, error) {
	return w.WebhookStatusFn(ctx, now)
}
