package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/store/storetest"
)

// TestTrackingNumberAnySpelling: a shipment is found however its tracking
// number is typed, and answers keep the spelling it was imported with.
func TestTrackingNumberAnySpelling(t *testing.T) {
	const csv = "tracking_number,carrier,sender_address,receiver_address,article_name,article_quantity,article_price,SKU,status\n" +
		"TN12345678,DHL,\"Street 1, 10115 Berlin, Germany\",\"Street 10, 75001 Paris, France\",Laptop,1,800.00,LP123,in-transit\n" +
		"ab 12 cd,UPS,\"Street 1, 10115 Berlin, Germany\",\"Street 10, 75001 Paris, France\",Mouse,1,25.00,MO456,scanned\n" +
		"AB12CD,ups,\"Street 1, 10115 Berlin, Germany\",\"Street 10, 75001 Paris, France\",Pad,1,5.00,PD1,scanned\n"
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		res, err := s.ImportCSV(ctx, strings.NewReader(csv))
		if err != nil {
			t.Fatal(err)
		}
		if res.Shipments != 2 || res.Articles != 3 {
			t.Errorf("import: %d shipments, %d articles; want 2, 3 (ab 12 cd and AB12CD are one shipment)", res.Shipments, res.Articles)
		}
		for _, c := range []struct{ carrier, tn, want string }{
			{"dhl", "TN12345678", "TN12345678"},
			{"dhl", "tn12345678", "TN12345678"},
			{"DHL", "tn 1234 5678", "TN12345678"},
			{"ups", "AB12CD", "ab 12 cd"},
			{"ups", "ab12cd", "ab 12 cd"},
		} {
			sh, err := s.Get(ctx, c.carrier, c.tn)
			if err != nil {
				t.Errorf("Get(%q, %q): %v", c.carrier, c.tn, err)
				continue
			}
			if sh.TrackingNumber != c.want {
				t.Errorf("Get(%q, %q).TrackingNumber = %q, want the shipment's own spelling %q", c.carrier, c.tn, sh.TrackingNumber, c.want)
			}
		}
		again, err := s.ImportCSV(ctx, strings.NewReader(csv))
		if err != nil {
			t.Fatal(err)
		}
		if again.Created != 0 || again.Updated != 0 {
			t.Errorf("re-import: created %d, updated %d; want nothing changed", again.Created, again.Updated)
		}
		page, err := s.List(ctx, shipment.ListParams{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		next, err := s.List(ctx, shipment.ListParams{Limit: 1, Cursor: page.NextCursor})
		if err != nil || len(next.Shipments) != 1 || next.Shipments[0].TrackingNumber != "ab 12 cd" {
			t.Errorf("second page: %+v, %v; want the UPS shipment", next.Shipments, err)
		}
	})
}

// TestMigrateTrackingNumbers opens databases written before tracking
// numbers were normalised: rows become reachable by any spelling and keep
// theirs, and rows that would collide stop the migration, named, with
// nothing changed.
func TestMigrateTrackingNumbers(t *testing.T) {
	type old struct{ carrier, tn string }
	for _, c := range []struct {
		name    string
		rows    []old
		collide []string // substrings the error must name; nil = no error
	}{
		{name: "reachable", rows: []old{{"DHL", "tn 1234"}, {"UPS", "XY9"}, {"UPS", "xy10"}}},
		{name: "collision", rows: []old{{"DHL", "tn12345678"}, {"dhl", "TN12345678"}, {"UPS", "AB 1"}, {"UPS", "ab1"}, {"GLS", "ok1"}},
			collide: []string{`"tn12345678"`, `"TN12345678"`, `"AB 1"`, `"ab1"`}},
	} {
		for _, d := range storetest.Drivers {
			t.Run(c.name+"/"+d, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				url := storetest.URL(t, d)
				s, err := store.Open(ctx, url)
				if err != nil {
					t.Fatal(err)
				}
				db, err := s.SQL()
				if err != nil {
					t.Fatal(err)
				}
				// The rows as the previous version wrote them: the
				// tracking number as imported, no display column value,
				// and the migration not yet run.
				now := time.Now().UTC()
				for _, r := range c.rows {
					if _, err := db.ExecContext(ctx, "INSERT INTO shipments (carrier_key, tracking_number, tracking_display, carrier, status, sender_address, receiver_address, created_at, updated_at) VALUES ($1, $2, '', $3, 'x', '', '', $4, $4)",
						shipment.CarrierKey(r.carrier), r.tn, r.carrier, now); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.ForgetMigrationsForTest(ctx, store.MigrationTrackingNumbers); err != nil {
					t.Fatal(err)
				}
				_ = s.Close()

				s, err = store.Open(ctx, url)
				if c.collide != nil {
					var ce *store.CollisionError
					if !errors.As(err, &ce) {
						t.Fatalf("reopen: %v, want a *store.CollisionError", err)
					}
					for _, w := range c.collide {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("error does not name %s: %v", w, err)
						}
					}
					if len(ce.Groups) != 2 || strings.Contains(err.Error(), "ok1") {
						t.Errorf("groups %q, want the two colliding pairs only", ce.Groups)
					}
					return
				}
				if err != nil {
					t.Fatalf("reopen: %v", err)
				}
				t.Cleanup(func() { _ = s.Close() })
				n, err := s.Count(ctx)
				if err != nil || n != int64(len(c.rows)) {
					t.Errorf("count %d, %v; want %d", n, err, len(c.rows))
				}
				for _, r := range c.rows {
					for _, typed := range []string{r.tn, strings.ToUpper(r.tn), strings.ToLower(r.tn)} {
						sh, err := s.Get(ctx, strings.ToLower(r.carrier), typed)
						if err != nil {
							t.Errorf("Get(%s, %q): %v", r.carrier, typed, err)
						} else if sh.TrackingNumber != r.tn {
							t.Errorf("Get(%s, %q).TrackingNumber = %q, want %q", r.carrier, typed, sh.TrackingNumber, r.tn)
						}
					}
				}
			})
		}
	}
}
