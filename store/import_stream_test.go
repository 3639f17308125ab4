package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
)

// farApartCSV is a file of n shipments of two rows each, every shipment's
// second row n lines after its first: more shipments than one page of the
// streaming importer's read-back and more rows than one staging batch.
// extra rows are appended at the end.
func farApartCSV(n int, extra ...string) string {
	var b strings.Builder
	b.WriteString("tracking_number,carrier,sender_address,receiver_address,article_name,article_quantity,article_price,sku,status\n")
	for half := 0; half < 2; half++ {
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "TN%08d,DHL,\"Street %d, 10115 Berlin, Germany\",\"Street 1, 7500%d Paris, France\",Item%d-%d,%d,%d.50,SKU%d,status-%d\n",
				i, i, i%10, i, half, half+1, i, i, i%7)
		}
	}
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	return b.String()
}

// TestImportRowsFarApart: a shipment's rows need not be next to each
// other, however far apart; the import is in file order of first rows and
// a re-import changes nothing.
func TestImportRowsFarApart(t *testing.T) {
	t.Parallel()
	const n = 2500
	file := farApartCSV(n)
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		res, err := s.ImportCSV(ctx, strings.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		if res.Shipments != n || res.Articles != 2*n || res.Created != n || res.Events != n {
			t.Errorf("result = %+v, want %d shipments, %d articles, %d created, %d events", res, n, 2*n, n, n)
		}
		for _, i := range []int{0, 999, 1000, n - 1} {
			tn := fmt.Sprintf("TN%08d", i)
			sh, err := s.Get(ctx, "dhl", tn)
			if err != nil {
				t.Fatalf("%s: %v", tn, err)
			}
			var got []string
			for _, a := range sh.Articles {
				got = append(got, fmt.Sprintf("%s:%d:%s", a.Name, a.Quantity, a.Price))
			}
			want := fmt.Sprintf("Item%d-0:1:%d.50,Item%d-1:2:%d.50", i, i, i, i)
			if strings.Join(got, ",") != want {
				t.Errorf("%s articles = %v, want %s", tn, got, want)
			}
			if sh.StatusText != fmt.Sprintf("status-%d", i%7) {
				t.Errorf("%s status text = %q", tn, sh.StatusText)
			}
		}
		before, err := s.Get(ctx, "DHL", "TN00001234")
		if err != nil {
			t.Fatal(err)
		}
		res, err = s.ImportCSV(ctx, strings.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		if res.Created != 0 || res.Updated != 0 || res.Events != 0 || res.Shipments != n {
			t.Errorf("re-import result = %+v, want nothing changed", res)
		}
		after, err := s.Get(ctx, "DHL", "TN00001234")
		if err != nil {
			t.Fatal(err)
		}
		if !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("re-import moved updated_at from %s to %s", before.UpdatedAt, after.UpdatedAt)
		}
	})
}

// TestImportLateErrorWritesNothing: an error on the file's last line,
// after thousands of good rows were staged, writes nothing, and names
// that line and column; a conflict with a row far above names both lines;
// the earliest of a conflict and a bad row is the one reported.
func TestImportLateErrorWritesNothing(t *testing.T) {
	t.Parallel()
	const n = 2500
	last := 2*n + 2 // the header, then 2n rows
	tests := []struct {
		name   string
		extra  []string
		line   int
		column string
		msg    string
	}{
		{"bad quantity", []string{`TN99999999,DHL,"Street 1, 10115 Berlin, Germany","Street 1, 75001 Paris, France",Mouse,many,25,MO456,in-transit`},
			last, "article_quantity", `"many": not a positive whole number`},
		{"conflict", []string{`TN00000007,DHL,"Street 7, 10115 Berlin, Germany","Street 1, 75007 Paris, France",Mouse,1,25,MO456,delivered`},
			last, "status", `"delivered" differs from an earlier row of the same shipment (line 9)`},
		{"conflict before bad row", []string{
			`TN00000007,DHL,"Street 7, 10115 Berlin, Germany","Street 9, 75007 Paris, France",Mouse,1,25,MO456,status-0`,
			`TN99999999,DHL,"Street 1, 10115 Berlin, Germany","Street 1, 75001 Paris, France",Mouse,0,25,MO456,in-transit`},
			last, "receiver_address", `differs from an earlier row of the same shipment (line 9)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := farApartCSV(n, tt.extra...)
			forEachDriver(t, func(t *testing.T, s *store.Store) {
				ctx := context.Background()
				_, err := s.ImportCSV(ctx, strings.NewReader(file))
				var ie *shipment.ImportError
				if !errors.As(err, &ie) {
					t.Fatalf("err = %v, want an ImportError", err)
				}
				if ie.Line != tt.line || ie.Column != tt.column || !strings.Contains(ie.Error(), tt.msg) {
					t.Errorf("err = %v, want line %d column %s: ...%s", err, tt.line, tt.column, tt.msg)
				}
				for _, tn := range []string{"TN00000000", "TN00002499"} {
					if _, err := s.Get(ctx, "DHL", tn); !errors.Is(err, shipment.ErrNotFound) {
						t.Errorf("Get %s after a failed import: err = %v, want not found", tn, err)
					}
				}
				// The staging tables went with the transaction: the same
				// connection imports again.
				res, err := s.ImportCSV(ctx, strings.NewReader(farApartCSV(3)))
				if err != nil || res.Created != 3 {
					t.Errorf("import after a failed one: %+v, %v", res, err)
				}
			})
		})
	}
}

// updatedSince is the tracking numbers of the shipments updated at or
// after since (at most 1,000).
func updatedSince(t *testing.T, s *store.Store, since time.Time) []string {
	t.Helper()
	page, err := s.List(context.Background(), shipment.ListParams{Limit: 1000, UpdatedSince: since})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(page.Shipments))
	for i, sh := range page.Shipments {
		out[i] = sh.TrackingNumber
	}
	slices.Sort(out)
	return out
}

// TestReimportWritesOnlyChanges: over a file whose shipments have their
// rows far apart, a re-import stamps no shipment, records no event and
// queues no webhook delivery; a file that changes one status, one
// article, one address and adds one article row (at the file's end)
// updates exactly those four shipments, records one event and queues
// the one status change.
func TestReimportWritesOnlyChanges(t *testing.T) {
	t.Parallel()
	const n = 1200
	file := farApartCSV(n)
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		all, err := s.CreateWebhook(ctx, "https://example.com/all", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		delivered, err := s.CreateWebhook(ctx, "https://example.com/delivered", []string{shipment.StatusDelivered}, nil)
		if err != nil {
			t.Fatal(err)
		}
		newest := func() uint64 {
			ds, err := s.WebhookDeliveries(ctx, all.ID, 0, 1)
			if err != nil || len(ds) != 1 {
				t.Fatalf("deliveries: %v, %v", ds, err)
			}
			return ds[0].ID
		}
		if _, err := s.ImportCSV(ctx, strings.NewReader(file)); err != nil {
			t.Fatal(err)
		}
		first := newest()

		since := time.Now()
		res, err := s.ImportCSV(ctx, strings.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		if res.Created != 0 || res.Updated != 0 || res.Events != 0 || len(res.NewLocations) != 0 {
			t.Errorf("re-import = %+v, want nothing changed", res)
		}
		if got := updatedSince(t, s, since); len(got) != 0 {
			t.Errorf("re-import stamped %d shipments: %v", len(got), got[:min(len(got), 5)])
		}
		if got := newest(); got != first {
			t.Errorf("re-import queued deliveries: newest %d, was %d", got, first)
		}
		if sh := mustGet(t, s, "DHL", "TN00000005"); sh.EventCount != 1 {
			t.Errorf("events after re-import: %d, want 1", sh.EventCount)
		}

		// Shipment 5's status, 9's second article's price, 13's receiver
		// (on both rows, n lines apart), and a third article for 11.
		changed := strings.NewReplacer(
			"Street 1, 75005 Paris, France\",Item5-0,1,5.50,SKU5,status-5", "Street 1, 75005 Paris, France\",Item5-0,1,5.50,SKU5,delivered",
			"Street 1, 75005 Paris, France\",Item5-1,2,5.50,SKU5,status-5", "Street 1, 75005 Paris, France\",Item5-1,2,5.50,SKU5,delivered",
			"Item9-1,2,9.50", "Item9-1,2,9.75",
			"Street 1, 75003 Paris, France\",Item13-", "Street 2, 75003 Paris, France\",Item13-",
		).Replace(file) + `TN00000011,DHL,"Street 11, 10115 Berlin, Germany","Street 1, 75001 Paris, France",Item11-2,1,1,SKU11,status-4` + "\n"
		since = time.Now()
		res, err = s.ImportCSV(ctx, strings.NewReader(changed))
		if err != nil {
			t.Fatal(err)
		}
		if res.Created != 0 || res.Updated != 4 || res.Events != 1 {
			t.Errorf("changed import = %+v, want 4 updated, 1 event", res)
		}
		if got, want := updatedSince(t, s, since), []string{"TN00000005", "TN00000009", "TN00000011", "TN00000013"}; !slices.Equal(got, want) {
			t.Errorf("stamped %d shipments %v..., want %v", len(got), got[:min(len(got), 8)], want)
		}
		if got := deliveryStatuses(t, s, delivered.ID); !slices.Equal(got, []string{"in_transit>delivered"}) {
			t.Errorf("deliveries of the status change: %v", got)
		}
		if sh := mustGet(t, s, "DHL", "TN00000005"); sh.Status != shipment.StatusDelivered || sh.EventCount != 2 {
			t.Errorf("changed status: %q, %d events", sh.Status, sh.EventCount)
		}
		if sh := mustGet(t, s, "DHL", "TN00000009"); sh.Articles[1].Price.String() != "9.75" {
			t.Errorf("changed article: %+v", sh.Articles)
		}
		if sh := mustGet(t, s, "DHL", "TN00000011"); len(sh.Articles) != 3 || sh.Articles[2].Name != "Item11-2" || sh.EventCount != 1 {
			t.Errorf("added article: %+v, %d events", sh.Articles, sh.EventCount)
		}
		if sh := mustGet(t, s, "DHL", "TN00000013"); sh.ReceiverAddress != "Street 2, 75003 Paris, France" {
			t.Errorf("changed receiver: %q", sh.ReceiverAddress)
		}
	})
}

// TestImportRefusedOutboxWritesNothing: an import that fails at its last
// write (a trigger refuses the outbox rows of its status changes) leaves
// nothing visible: no shipment, no event, no location, no delivery.
func TestImportRefusedOutboxWritesNothing(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ep, err := s.CreateWebhook(ctx, "https://example.com/h", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		refuseOutbox(t, s)
		if _, err := s.ImportCSV(ctx, strings.NewReader(farApartCSV(1200))); err == nil || !strings.Contains(err.Error(), "outbox refused") {
			t.Fatalf("err = %v, want the trigger's refusal", err)
		}
		if n, err := s.Count(ctx); err != nil || n != 0 {
			t.Errorf("%d shipments after a failed import (%v)", n, err)
		}
		// The import's locations had ids 1 to 10 (farApartCSV's ten).
		for id := uint64(1); id <= 10; id++ {
			if _, err := s.Location(ctx, id); !errors.Is(err, shipment.ErrNotFound) {
				t.Errorf("location %d after a failed import: err = %v, want not found", id, err)
			}
		}
		if got := deliveryStatuses(t, s, ep.ID); len(got) != 0 {
			t.Errorf("deliveries after a failed import: %v", got)
		}
	})
}
