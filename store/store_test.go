package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/store/storetest"
)

// forEachDriver runs fn as a parallel subtest on a fresh store of every
// driver.
func forEachDriver(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, storetest.Open(t, d))
		})
	}
}

// forEachURL runs fn, in parallel, with a new empty database of each
// driver, for the tests that open it themselves (upgrades, migrations).
func forEachURL(t *testing.T, fn func(t *testing.T, ctx context.Context, url string)) {
	t.Helper()
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, context.Background(), storetest.URL(t, d))
		})
	}
}

func importFile(t *testing.T, s *store.Store, path string) (store.ImportResult, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return s.ImportCSV(context.Background(), f)
}

func mustImport(t *testing.T, s *store.Store, path string) store.ImportResult {
	t.Helper()
	res, err := importFile(t, s, path)
	if err != nil {
		t.Fatalf("import %s: %v", path, err)
	}
	return res
}

func allShipments(t *testing.T, s *store.Store) []shipment.Shipment {
	t.Helper()
	page, err := s.List(context.Background(), shipment.ListParams{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return page.Shipments
}

func TestImportSeed(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		res := mustImport(t, s, "testdata/seed.csv")
		if res.Shipments != 5 || res.Articles != 9 || res.Created != 5 || len(res.NewLocations) != 5 {
			t.Fatalf("result = %+v", res)
		}
		got := allShipments(t, s)
		if len(got) != 5 {
			t.Fatalf("%d shipments, want 5", len(got))
		}
		articles := 0
		for _, sh := range got {
			articles += len(sh.Articles)
			if sh.Location == nil {
				t.Errorf("%s has no location", sh.TrackingNumber)
			}
		}
		if articles != 9 {
			t.Errorf("%d articles, want 9", articles)
		}
		first := got[0] // DHL sorts first
		if first.Carrier != "DHL" || first.TrackingNumber != "TN12345678" || first.Status != "in_transit" || first.StatusText != "in-transit" {
			t.Errorf("first = %+v", first)
		}
		if l := first.Location; l.PostalCode != "75001" || l.City != "Paris" || l.Country != "France" {
			t.Errorf("location = %+v", l)
		}
		if a := first.Articles[0]; a.Name != "Laptop" || a.Quantity != 1 || a.Price.String() != "800.00" || a.SKU != "LP123" {
			t.Errorf("article = %+v", a)
		}
		if first.Weather != nil {
			t.Errorf("weather before any fetch = %+v", first.Weather)
		}
	})
}

func TestReimportChangesNothing(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		mustImport(t, s, "testdata/seed.csv")
		before := allShipments(t, s)
		res := mustImport(t, s, "testdata/seed.csv")
		if res.Created != 0 || res.Updated != 0 || len(res.NewLocations) != 0 {
			t.Errorf("second import = %+v, want no changes", res)
		}
		after := allShipments(t, s)
		if !reflect.DeepEqual(before, after) {
			t.Errorf("re-import changed data:\nbefore %+v\nafter  %+v", before, after)
		}
	})
}

func TestImportUpdatesAndReplacesArticles(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustImport(t, s, "testdata/seed.csv")
		old, err := s.Get(ctx, "DHL", "TN12345678")
		if err != nil {
			t.Fatal(err)
		}
		res := mustImport(t, s, "testdata/changed.csv")
		if res.Created != 1 || res.Updated != 1 {
			t.Errorf("result = %+v", res)
		}
		sh, err := s.Get(ctx, "DHL", "TN12345678")
		if err != nil {
			t.Fatal(err)
		}
		if sh.Status != "delivered" || len(sh.Articles) != 1 || sh.Articles[0].Price.String() != "799.99" {
			t.Errorf("updated shipment = %+v", sh)
		}
		if !sh.CreatedAt.Equal(old.CreatedAt) || !sh.UpdatedAt.After(old.UpdatedAt) {
			t.Errorf("timestamps: created %v→%v updated %v→%v", old.CreatedAt, sh.CreatedAt, old.UpdatedAt, sh.UpdatedAt)
		}
		unknown, err := s.Get(ctx, "dhl", "TN99999999")
		if err != nil {
			t.Fatal(err)
		}
		if unknown.Location != nil || unknown.Articles[0].Price.String() != "4.50" {
			t.Errorf("unparsed address shipment = %+v", unknown)
		}
		if n, _ := s.Count(ctx); n != 6 {
			t.Errorf("count = %d, want 6", n)
		}
	})
}

func TestBadRowWritesNothing(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		_, err := importFile(t, s, "testdata/bad_row.csv")
		var ie *shipment.ImportError
		if !errors.As(err, &ie) || ie.Line != 3 || ie.Column != "article_quantity" {
			t.Fatalf("err = %v, want line 3 column article_quantity", err)
		}
		if n, _ := s.Count(context.Background()); n != 0 {
			t.Errorf("%d shipments written by a failed import", n)
		}
	})
}

func TestImportIsOneTransaction(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		// A cancelled context fails the import part way; nothing stays.
		in := make([]shipment.ShipmentInput, 2500)
		for i := range in {
			in[i] = shipment.ShipmentInput{TrackingNumber: fmt.Sprintf("TX%06d", i), Carrier: "UPS", Status: "x",
				ReceiverAddress: "S 1, 1000 Brussels, Belgium", Articles: []shipment.Article{{Name: "A", Quantity: 1, Price: 1}}}
		}
		in[2400].Articles[0].Name = strings.Repeat("x", 100000) // too long for PostgreSQL's varchar(300)
		_, err := s.Import(ctx, in)
		if s.Driver() == "postgres" && err == nil {
			t.Fatal("import of an over-long name succeeded")
		}
		if err != nil {
			if n, _ := s.Count(ctx); n != 0 {
				t.Errorf("%d shipments left by a failed import", n)
			}
		}
	})
}

func TestCarrierUniqueCaseInsensitive(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustImport(t, s, "testdata/seed.csv")
		for _, c := range []string{"DHL", "dhl", "Dhl", " dHl "} {
			if _, err := s.Get(ctx, c, "TN12345678"); err != nil {
				t.Errorf("Get(%q) = %v", c, err)
			}
		}
		if _, err := s.Get(ctx, "UPS", "TN12345678"); !errors.Is(err, shipment.ErrNotFound) {
			t.Errorf("wrong carrier: err = %v, want ErrNotFound", err)
		}
		// The database itself refuses a second row for the same pair.
		if err := s.InsertRawShipmentForTest(ctx, "dhl", "TN12345678"); err == nil {
			t.Error("duplicate (carrier, tracking_number) accepted by the database")
		}
	})
}

func TestListPagination(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var in []shipment.ShipmentInput
		for i := range 25 {
			carrier := []string{"DHL", "UPS", "gls"}[i%3]
			in = append(in, shipment.ShipmentInput{TrackingNumber: fmt.Sprintf("TN%03d", i), Carrier: carrier,
				Status: []string{"Delivered", "b"}[i%2], ReceiverAddress: "S 1, 1000 Brussels, Belgium",
				Articles: []shipment.Article{{Name: "A", Quantity: 1, Price: 100}}})
		}
		if _, err := s.Import(ctx, in); err != nil {
			t.Fatal(err)
		}
		var seen []string
		cursor := ""
		pages := 0
		for {
			p, err := s.List(ctx, shipment.ListParams{Limit: 10, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if pages > 3 {
				// 25 rows in pages of 10: a cursor that does not advance
				// fails here instead of looping to the test timeout.
				t.Fatalf("page %d: pagination does not end (cursor %q)", pages, p.NextCursor)
			}
			for _, sh := range p.Shipments {
				seen = append(seen, shipment.CarrierKey(sh.Carrier)+"/"+sh.TrackingNumber)
			}
			if p.NextCursor == "" {
				break
			}
			cursor = p.NextCursor
		}
		if pages != 3 || len(seen) != 25 {
			t.Fatalf("pages %d, rows %d", pages, len(seen))
		}
		for i := 1; i < len(seen); i++ {
			if seen[i-1] >= seen[i] {
				t.Fatalf("out of order: %s then %s", seen[i-1], seen[i])
			}
		}
		p, err := s.List(ctx, shipment.ListParams{Limit: 100, Carrier: "GLS", Status: shipment.StatusDelivered})
		if err != nil {
			t.Fatal(err)
		}
		for _, sh := range p.Shipments {
			if sh.Carrier != "gls" || sh.Status != shipment.StatusDelivered || sh.StatusText != "Delivered" {
				t.Errorf("filter leaked %+v", sh)
			}
		}
		if len(p.Shipments) != 4 {
			t.Errorf("%d gls/a shipments, want 4", len(p.Shipments))
		}
		if _, err := s.List(ctx, shipment.ListParams{Limit: 10, Cursor: "not a cursor"}); !errors.Is(err, shipment.ErrInvalidCursor) {
			t.Errorf("bad cursor: err = %v", err)
		}
	})
}

func TestSeedIfEmpty(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if _, did, err := s.SeedIfEmpty(ctx); err != nil || !did {
			t.Fatalf("first seed: %v %v", did, err)
		}
		if _, did, err := s.SeedIfEmpty(ctx); err != nil || did {
			t.Fatalf("second seed: %v %v", did, err)
		}
		if n, _ := s.Count(ctx); n != 5 {
			t.Errorf("count = %d", n)
		}
	})
}

// TestReadsQueueForSlots: reads beyond the slots wait their turn, within
// their deadline, and run once a slot is free.
func TestReadsQueueForSlots(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, d)
			ctx := context.Background()
			if _, _, err := s.SeedIfEmpty(ctx); err != nil {
				t.Fatal(err)
			}
			release := s.HoldReadSlotsForTest(s.ReadSlotCountForTest())
			for name, read := range map[string]func(context.Context) error{
				"get":  func(ctx context.Context) error { _, err := s.Get(ctx, "DHL", "TN12345678"); return err },
				"list": func(ctx context.Context) error { _, err := s.List(ctx, shipment.ListParams{Limit: 2}); return err },
			} {
				tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				err := read(tctx)
				cancel()
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s with every slot taken: err = %v, want the deadline", name, err)
				}
			}
			done := make(chan error, 1)
			go func() { _, err := s.Get(ctx, "DHL", "TN12345678"); done <- err }()
			select {
			case err := <-done:
				t.Fatalf("get ran with every slot taken (err %v)", err)
			case <-time.After(50 * time.Millisecond):
			}
			release()
			if err := <-done; err != nil {
				t.Fatalf("get after the slots were freed: %v", err)
			}
		})
	}
}
