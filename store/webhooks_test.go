package store_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/webhook"
)

func deliveryStatuses(t *testing.T, s *store.Store, endpoint uint64) []string {
	t.Helper()
	ds, err := s.WebhookDeliveries(context.Background(), endpoint, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(ds))
	for i, d := range ds {
		out[len(ds)-1-i] = d.PreviousStatus + ">" + d.Status // oldest first
	}
	return out
}

// TestWebhookOutbox: a status change writes one outbox row per matching
// endpoint (filters on status and carrier, paused endpoints left out) in
// the transaction of the change; a batch that fails writes none, and an
// event that leaves the status as it was writes none.
func TestWebhookOutbox(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		putShipment(t, s, "DHL", "TN1")
		putShipment(t, s, "UPS", "TN2")
		all, err := s.CreateWebhook(ctx, "https://example.com/all", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(all.Secret) < 40 {
			t.Fatalf("secret %q", all.Secret)
		}
		delivered, _ := s.CreateWebhook(ctx, "https://example.com/delivered", []string{shipment.StatusDelivered}, nil)
		ups, _ := s.CreateWebhook(ctx, "https://example.com/ups", nil, []string{"UPS"})

		mustAppend(t, s, ev("DHL", "TN1", "e1", t0, "scanned"))
		mustAppend(t, s, ev("DHL", "TN1", "e2", t0.Add(time.Hour), "scanned")) // same status: nothing
		mustAppend(t, s, ev("DHL", "TN1", "e3", t0.Add(2*time.Hour), "delivered"), ev("UPS", "TN2", "u1", t0, "transit"))
		// A batch with a bad item fails whole: no event, no delivery.
		if _, err := s.AppendEvents(ctx, []shipment.EventInput{ev("DHL", "TN1", "e4", t0.Add(3*time.Hour), "exception"),
			ev("DHL", "NOPE", "x", t0, "transit")}); err == nil {
			t.Fatal("a batch with an unknown shipment was taken")
		}
		if got, want := deliveryStatuses(t, s, all.ID), []string{"pending>info_received", "info_received>delivered", "pending>in_transit"}; !slices.Equal(got, want) {
			t.Errorf("all: %v, want %v", got, want)
		}
		if got, want := deliveryStatuses(t, s, delivered.ID), []string{"info_received>delivered"}; !slices.Equal(got, want) {
			t.Errorf("delivered filter: %v, want %v", got, want)
		}
		if got, want := deliveryStatuses(t, s, ups.ID), []string{"pending>in_transit"}; !slices.Equal(got, want) {
			t.Errorf("carrier filter: %v, want %v", got, want)
		}
		// An import that changes a status notifies too.
		if _, err := s.Import(ctx, []shipment.ShipmentInput{{TrackingNumber: "TN2", Carrier: "UPS", Status: "delivered",
			SenderAddress: "Street 1, 10115 Berlin, Germany", ReceiverAddress: "Street 10, 75001 Paris, France"}}); err != nil {
			t.Fatal(err)
		}
		if got := deliveryStatuses(t, s, ups.ID); len(got) != 2 || got[1] != "in_transit>delivered" {
			t.Errorf("after import: %v", got)
		}
		eps, err := s.Webhooks(ctx)
		if err != nil || len(eps) != 3 || eps[0].Secret != "" {
			t.Fatalf("list: %+v %v", eps, err)
		}
		if err := s.DeleteWebhook(ctx, 999); !errors.Is(err, shipment.ErrNotFound) {
			t.Errorf("delete unknown: %v", err)
		}
	})
}

// TestClaimDueDeliveries: only the oldest pending delivery of an
// (endpoint, shipment) is due; racing claims take each once; a claim
// leases the row; failures pause the endpoint at the threshold.
func TestClaimDueDeliveries(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		putShipment(t, s, "DHL", "TN1")
		putShipment(t, s, "DHL", "TN2")
		ep, _ := s.CreateWebhook(ctx, "https://example.com/h", nil, nil)
		mustAppend(t, s, ev("DHL", "TN1", "e1", t0, "scanned"))
		mustAppend(t, s, ev("DHL", "TN1", "e2", t0.Add(time.Hour), "delivered"))
		mustAppend(t, s, ev("DHL", "TN2", "f1", t0, "scanned"))
		now := time.Now().Add(time.Second)
		var (
			mu  sync.Mutex
			got []uint64
			wg  sync.WaitGroup
		)
		for range 4 {
			wg.Go(func() {
				ids, err := s.ClaimDueDeliveries(ctx, now, now.Add(time.Minute), 10)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				got = append(got, ids...)
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(got) != 2 {
			t.Fatalf("claimed %v, want the first of TN1 and the one of TN2, once each", got)
		}
		slices.Sort(got)
		d, ok, err := s.DeliveryToSend(ctx, got[0], now)
		if err != nil || !ok || d.Status != shipment.StatusInfoReceived || d.URL != "https://example.com/h" || d.Secret == "" || d.Carrier != "dhl" {
			t.Fatalf("to send: %+v %v %v", d, ok, err)
		}
		if err := s.RecordAttempt(ctx, got[0], store.Attempt{At: now, StatusCode: 200, State: webhook.StateDelivered}); err != nil {
			t.Fatal(err)
		}
		ids, _ := s.ClaimDueDeliveries(ctx, now, now.Add(time.Minute), 10)
		if len(ids) != 1 || ids[0] <= got[0] {
			t.Fatalf("after the first was delivered: %v", ids)
		}
		next, _, _ := s.DeliveryToSend(ctx, ids[0], now)
		if next.PreviousStatus != shipment.StatusInfoReceived || next.Status != shipment.StatusDelivered {
			t.Fatalf("second: %+v", next)
		}
		// Failures pause at the threshold.
		for i := range 3 {
			if err := s.RecordAttempt(ctx, ids[0], store.Attempt{At: now, StatusCode: 500, Err: "answered 500", State: webhook.StatePending,
				Next: now, PauseAfter: 3}); err != nil {
				t.Fatal(err)
			}
			eps, _ := s.Webhooks(ctx)
			if paused := eps[0].PausedAt != nil; paused != (i == 2) {
				t.Fatalf("after %d failures paused=%v (%+v)", i+1, paused, eps[0])
			}
		}
		if ids, _ := s.ClaimDueDeliveries(ctx, now.Add(time.Hour), now.Add(2*time.Hour), 10); len(ids) != 0 {
			t.Fatalf("a paused endpoint's deliveries were claimed: %v", ids)
		}
		eps, _ := s.Webhooks(ctx)
		if eps[0].PauseReason == "" || eps[0].Failures != 3 {
			t.Fatalf("pause: %+v", eps[0])
		}
		if err := s.ResumeWebhook(ctx, eps[0].ID); err != nil {
			t.Fatal(err)
		}
		// Both pending ones: TN2's claim of an hour ago has run out.
		if ids, _ := s.ClaimDueDeliveries(ctx, now.Add(time.Hour), now.Add(2*time.Hour), 10); len(ids) != 2 {
			t.Fatalf("after resume: claimed %v", ids)
		}
		if eps, _ := s.Webhooks(ctx); eps[0].PausedAt != nil || eps[0].Failures != 0 || eps[0].PauseReason != "" {
			t.Fatalf("after resume: %+v", eps[0])
		}
		_ = ep
	})
}

// refuseOutbox makes the database refuse every new outbox row ("outbox
// refused"), by a trigger named refuse_outbox.
func refuseOutbox(t *testing.T, s *store.Store) {
	t.Helper()
	refuse := map[string][]string{
		"sqlite": {"CREATE TRIGGER refuse_outbox BEFORE INSERT ON webhook_deliveries BEGIN SELECT RAISE(ABORT, 'outbox refused'); END"},
		"postgres": {"CREATE FUNCTION refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'outbox refused'; END $$",
			"CREATE TRIGGER refuse_outbox BEFORE INSERT ON webhook_deliveries FOR EACH ROW EXECUTE FUNCTION refuse_outbox()"},
	}[s.Driver()]
	for _, q := range refuse {
		if err := s.ExecForTest(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWebhookOutboxSameTransaction: when the outbox row cannot be
// written, the status change is not recorded either (a trigger refuses
// the row): the event and its notification commit together or not at
// all.
func TestWebhookOutboxSameTransaction(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		putShipment(t, s, "DHL", "TN1")
		ep, _ := s.CreateWebhook(ctx, "https://example.com/h", nil, nil)
		refuseOutbox(t, s)
		if _, err := s.AppendEvents(ctx, []shipment.EventInput{ev("DHL", "TN1", "e1", t0, "delivered")}); err == nil {
			t.Fatal("the append succeeded although its outbox row was refused")
		}
		if sh := mustGet(t, s, "DHL", "TN1"); sh.Status != shipment.StatusPending || sh.EventCount != 0 {
			t.Fatalf("the status changed without its notification: %q, %d events", sh.Status, sh.EventCount)
		}
		if err := s.ExecForTest(ctx, "DROP TRIGGER refuse_outbox"+map[string]string{"sqlite": "", "postgres": " ON webhook_deliveries"}[s.Driver()]); err != nil {
			t.Fatal(err)
		}
		mustAppend(t, s, ev("DHL", "TN1", "e1", t0, "delivered"))
		if got := deliveryStatuses(t, s, ep.ID); len(got) != 1 || got[0] != "pending>delivered" {
			t.Fatalf("after the trigger went: %v", got)
		}
	})
}

// TestClaimDueDeliveriesSkip: the endpoints a replica names as busy are
// left out of its claim, their deliveries left due for a later one; the
// rest are claimed as usual.
func TestClaimDueDeliveriesSkip(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		putShipment(t, s, "DHL", "TN1")
		busy, _ := s.CreateWebhook(ctx, "https://example.com/busy", nil, nil)
		free, _ := s.CreateWebhook(ctx, "https://example.com/free", nil, nil)
		mustAppend(t, s, ev("DHL", "TN1", "e1", t0, "scanned"))
		now := time.Now().Add(time.Second)
		ids, err := s.ClaimDueDeliveries(ctx, now, now.Add(time.Minute), 10, busy.ID)
		if err != nil || len(ids) != 1 {
			t.Fatalf("claimed %v, %v; want the free endpoint's one delivery", ids, err)
		}
		if d, ok, err := s.DeliveryToSend(ctx, ids[0], now); err != nil || !ok || d.EndpointID != free.ID {
			t.Fatalf("claimed %+v, %v, %v; want the free endpoint's", d, ok, err)
		}
		ids, err = s.ClaimDueDeliveries(ctx, now, now.Add(time.Minute), 10)
		if err != nil || len(ids) != 1 {
			t.Fatalf("next claim %v, %v; want the busy endpoint's delivery, still due", ids, err)
		}
	})
}
