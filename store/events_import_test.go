package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
)

const eventsFile = "tracking_number,carrier,status,occurred_at,location,message,event_id\n" +
	"TN12345678,DHL,scanned,2026-03-01T08:00:00+01:00,Berlin,Picked up,\n" +
	"tn 12345678,dhl,Delivered,2026-03-02T09:30:00Z,Paris,,d1\n" +
	"TN12345679,UPS,transit,2026-03-01T10:00:00.5-05:00,,,\n"

func TestImportEventsFile(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mustImport(t, s, "testdata/seed.csv")
		res, err := s.ImportCSV(ctx, strings.NewReader(eventsFile))
		if err != nil || !res.EventsFile || res.EventRows != 3 || res.Events != 3 || res.EventsUnchanged != 0 {
			t.Fatalf("import: %+v, %v", res, err)
		}
		// The seed's status, imported now, stays the latest.
		sh := mustGet(t, s, "DHL", "TN12345678")
		if sh.Status != shipment.StatusInTransit || sh.EventCount != 3 || sh.Events[1].EventID != "d1" || sh.Events[1].Status != shipment.StatusDelivered ||
			sh.Events[2].Source != shipment.SourceImport || sh.Events[2].Location != "Berlin" || sh.Events[2].Message != "Picked up" {
			t.Fatalf("after import: %+v", sh)
		}
		// Again: nothing changes.
		res, err = s.ImportCSV(ctx, strings.NewReader(eventsFile))
		if err != nil || res.Events != 0 || res.EventsUnchanged != 3 {
			t.Fatalf("re-import: %+v, %v", res, err)
		}
		if again := mustGet(t, s, "DHL", "TN12345678"); !again.UpdatedAt.Equal(sh.UpdatedAt) || again.EventCount != 3 {
			t.Errorf("re-import changed the shipment")
		}

		// Bad files: the line and column are named, nothing is written.
		for _, c := range []struct {
			name, file, column string
			line               int
			is                 error
		}{
			{"no offset", "TN12345678,DHL,x,2026-03-03T08:00:00+01:00\nTN12345678,DHL,x,2026-03-03T08:00:00\n", "occurred_at", 3, nil},
			{"empty status", "TN12345678,DHL,,2026-03-03T08:00:00Z\n", "status", 2, shipment.ErrMissingValue},
			{"control character", "TN12345678,DHL,x,2026-03-03T08:00:00Z,\"a\x01\"\n", "location", 2, nil},
			{"too long", "TN12345678,DHL," + strings.Repeat("s", 257) + ",2026-03-03T08:00:00Z\n", "status", 2, nil},
			{"unknown shipment", "TN12345678,DHL,x,2026-03-03T08:00:00Z\nNOPE,DHL,x,2026-03-03T08:00:00Z\n", "tracking_number", 3, shipment.ErrNotFound},
			{"conflicting id", "TN12345678,DHL,x,2026-03-03T08:00:00Z,,,n1\nTN12345678,DHL,Delivered,2026-03-02T09:30:00Z,Lyon,,d1\n", "event_id", 3, shipment.ErrEventConflict},
			{"far future", "TN12345678,DHL,x,2099-03-03T08:00:00Z\n", "occurred_at", 2, shipment.ErrFuture},
		} {
			_, err := s.ImportCSV(ctx, strings.NewReader("tracking_number,carrier,status,occurred_at,location,message,event_id\n"+c.file))
			var ie *shipment.ImportError
			if !errors.As(err, &ie) || ie.Line != c.line || ie.Column != c.column || (c.is != nil && !errors.Is(err, c.is)) {
				t.Errorf("%s: %v; want line %d column %s", c.name, err, c.line, c.column)
			}
		}
		if n, err := s.Events(ctx, "DHL", "TN12345678"); err != nil || len(n) != 3 {
			t.Errorf("a refused file wrote: %d events, %v", len(n), err)
		}
	})
}
