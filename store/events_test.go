package store_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/shiptrack/shiptrack/bench/benchdata"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func putShipment(t testing.TB, s *store.Store, carrier, tn string) shipment.PutResult {
	t.Helper()
	res, err := s.Put(context.Background(), shipment.ShipmentInput{TrackingNumber: tn, Carrier: carrier,
		SenderAddress: "Street 1, 10115 Berlin, Germany", ReceiverAddress: "Street 10, 75001 Paris, France",
		Articles: []shipment.Article{{Name: "Laptop", Quantity: 1, Price: 80000, SKU: "LP1"}}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func ev(carrier, tn, id string, at time.Time, text string) shipment.EventInput {
	return shipment.EventInput{Carrier: carrier, TrackingNumber: tn,
		Event: shipment.Event{EventID: id, OccurredAt: at, StatusText: text, Location: "Paris", Message: "m " + id}}
}

func mustAppend(t testing.TB, s *store.Store, in ...shipment.EventInput) shipment.AppendResult {
	t.Helper()
	res, err := s.AppendEvents(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func mustGet(t testing.TB, s *store.Store, carrier, tn string) shipment.Shipment {
	t.Helper()
	sh, err := s.Get(context.Background(), carrier, tn)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

func eventIDs(evs []shipment.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.EventID
	}
	return out
}

func TestAppendEvents(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		putShipment(t, s, "DHL", "TN1")
		if sh := mustGet(t, s, "dhl", "tn1"); sh.Status != shipment.StatusPending || sh.EventCount != 0 || len(sh.Events) != 0 {
			t.Fatalf("new shipment: status %q, %d events %v", sh.Status, sh.EventCount, sh.Events)
		}
		paris := time.FixedZone("CET", 3600)
		batch := []shipment.EventInput{
			ev("DHL", "TN1", "e1", t0, "scanned"),
			ev("dhl", "tn 1", "e2", t0.Add(2*time.Hour).In(paris), "in-transit"),
			ev("DHL", "TN1", "", t0.Add(time.Hour), "Sorting centre"), // id from content
		}
		if res := mustAppend(t, s, batch...); res != (shipment.AppendResult{Created: 3}) {
			t.Fatalf("first append: %+v", res)
		}
		sh := mustGet(t, s, "DHL", "TN1")
		want := []string{"e2", batch[2].Event.Normalized().EventID, "e1"}
		if sh.Status != shipment.StatusInTransit || sh.StatusText != "in-transit" || sh.EventCount != 3 || !slices.Equal(eventIDs(sh.Events), want) {
			t.Fatalf("after append: %q %q %d %v; want in_transit, in-transit, 3, %v", sh.Status, sh.StatusText, sh.EventCount, eventIDs(sh.Events), want)
		}
		e := sh.Events[0]
		if !e.OccurredAt.Equal(t0.Add(2*time.Hour)) || e.OccurredAt.Location() != time.UTC || e.Source != shipment.SourceAPI ||
			e.Location != "Paris" || e.Message != "m e2" || e.Status != shipment.StatusInTransit {
			t.Errorf("newest event %+v", e)
		}

		// A replay changes nothing, updated_at included.
		if res := mustAppend(t, s, batch...); res != (shipment.AppendResult{Unchanged: 3}) {
			t.Fatalf("replay: %+v", res)
		}
		if again := mustGet(t, s, "DHL", "TN1"); !again.UpdatedAt.Equal(sh.UpdatedAt) || again.EventCount != 3 {
			t.Errorf("replay moved updated_at %v -> %v or events %d", sh.UpdatedAt, again.UpdatedAt, again.EventCount)
		}

		// A reused id with other content is refused, with the rest of
		// its batch.
		bad := ev("DHL", "TN1", "e1", t0, "scanned")
		bad.Message = "other"
		_, err := s.AppendEvents(ctx, []shipment.EventInput{ev("DHL", "TN1", "e9", t0.Add(3*time.Hour), "delivered"), bad})
		var items shipment.ItemErrors
		if !errors.As(err, &items) || len(items) != 1 || items[0].Index != 1 || items[0].Field != "event_id" || !errors.Is(err, shipment.ErrEventConflict) {
			t.Fatalf("conflict: %v", err)
		}
		// Two items of one batch with one id and other content.
		dup := ev("DHL", "TN1", "e8", t0, "x")
		dup2 := dup
		dup2.Message = "other"
		_, err = s.AppendEvents(ctx, []shipment.EventInput{dup, dup2})
		if !errors.As(err, &items) || len(items) != 1 || items[0].Index != 1 || !errors.Is(err, shipment.ErrEventConflict) {
			t.Fatalf("conflict inside the batch: %v", err)
		}
		// An unknown shipment, and an invalid item, are named.
		_, err = s.AppendEvents(ctx, []shipment.EventInput{ev("DHL", "TN1", "e7", t0, "x"), ev("DHL", "NOPE", "e1", t0, "x"),
			ev("DHL", "TN1", "e6", time.Time{}, "x")})
		if !errors.As(err, &items) || len(items) != 2 || items[0].Index != 1 || items[0].Field != "tracking_number" ||
			!errors.Is(items[0], shipment.ErrNotFound) || items[1].Index != 2 || items[1].Field != "occurred_at" {
			t.Fatalf("unknown shipment: %v", err)
		}
		if n := mustGet(t, s, "DHL", "TN1"); n.EventCount != 3 || n.Status != shipment.StatusInTransit || !n.UpdatedAt.Equal(sh.UpdatedAt) {
			t.Errorf("a refused batch wrote: %d events, status %q", n.EventCount, n.Status)
		}
		// The same event twice in one batch is recorded once.
		if res := mustAppend(t, s, dup, dup); res != (shipment.AppendResult{Created: 1, Unchanged: 1}) {
			t.Errorf("repeat in a batch: %+v", res)
		}
		// An older event is recorded but leaves the status; updated_at
		// moves, since the events changed.
		n := mustGet(t, s, "DHL", "TN1")
		if n.EventCount != 4 || n.StatusText != "in-transit" || !n.UpdatedAt.After(sh.UpdatedAt) {
			t.Errorf("older event: %d events, status %q, updated_at %v (was %v)", n.EventCount, n.StatusText, n.UpdatedAt, sh.UpdatedAt)
		}
	})
}

// TestLatestEventTieBreak: among events at one time, the one recorded
// last is the latest: the later of a batch, or of the later batch.
func TestLatestEventTieBreak(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		putShipment(t, s, "UPS", "T1")
		mustAppend(t, s, ev("UPS", "T1", "a", t0, "scanned"), ev("UPS", "T1", "b", t0, "delivery"))
		if sh := mustGet(t, s, "UPS", "T1"); sh.StatusText != "delivery" || sh.Status != shipment.StatusOutForDelivery ||
			!slices.Equal(eventIDs(sh.Events), []string{"b", "a"}) {
			t.Fatalf("in one batch: %q %v", sh.StatusText, eventIDs(sh.Events))
		}
		mustAppend(t, s, ev("UPS", "T1", "c", t0, "delivered"))
		if sh := mustGet(t, s, "UPS", "T1"); sh.Status != shipment.StatusDelivered || !slices.Equal(eventIDs(sh.Events), []string{"c", "b", "a"}) {
			t.Fatalf("a later batch: %q %v", sh.Status, eventIDs(sh.Events))
		}
		// Fractions of a second count.
		mustAppend(t, s, ev("UPS", "T1", "d", t0.Add(time.Microsecond), "Weird carrier words"))
		if sh := mustGet(t, s, "UPS", "T1"); sh.Status != shipment.DefaultStatus || sh.StatusText != "Weird carrier words" {
			t.Fatalf("a microsecond later: %q %q", sh.Status, sh.StatusText)
		}
	})
}

func TestEventsLatestAndAll(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		putShipment(t, s, "GLS", "G1")
		putShipment(t, s, "GLS", "G2")
		var in []shipment.EventInput
		for _, i := range rand.Perm(25) {
			in = append(in, ev("GLS", "G1", fmt.Sprintf("e%02d", i), t0.Add(time.Duration(i)*time.Minute), "transit"))
		}
		mustAppend(t, s, in...)
		sh := mustGet(t, s, "GLS", "G1")
		var want []string
		for i := 24; i >= 0; i-- {
			want = append(want, fmt.Sprintf("e%02d", i))
		}
		if sh.EventCount != 25 || !slices.Equal(eventIDs(sh.Events), want[:shipment.LatestEvents]) {
			t.Errorf("Get: %d events %v", sh.EventCount, eventIDs(sh.Events))
		}
		all, err := s.Events(ctx, "gls", "g1")
		if err != nil || !slices.Equal(eventIDs(all), want) {
			t.Errorf("Events: %v, %v", eventIDs(all), err)
		}
		if none, err := s.Events(ctx, "GLS", "G2"); err != nil || none == nil || len(none) != 0 {
			t.Errorf("Events of a shipment without any: %v, %v", none, err)
		}
		if _, err := s.Events(ctx, "GLS", "G3"); !errors.Is(err, shipment.ErrNotFound) {
			t.Errorf("Events of an unknown shipment: %v", err)
		}
		// The list filters on the normalised status and carries the text.
		page, err := s.List(ctx, shipment.ListParams{Limit: 10, Status: shipment.StatusInTransit})
		if err != nil || len(page.Shipments) != 1 || page.Shipments[0].StatusText != "transit" {
			t.Errorf("List by status: %+v, %v", page, err)
		}
	})
}

func TestPut(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		in := shipment.ShipmentInput{TrackingNumber: "TN 9", Carrier: "DHL", Status: "delivered",
			SenderAddress: "Street 1, 10115 Berlin, Germany", ReceiverAddress: "Street 10, 75001 Paris, France",
			Articles: []shipment.Article{{Name: "Laptop", Quantity: 1, Price: 80000, SKU: "LP1"}}}
		res, err := s.Put(ctx, in)
		if err != nil || !res.Created || !res.Changed || res.Shipment.Status != shipment.StatusPending ||
			res.Shipment.Location == nil || len(res.Shipment.Articles) != 1 {
			t.Fatalf("create: %+v, %v", res, err)
		}
		again, err := s.Put(ctx, in)
		if err != nil || again.Created || again.Changed || !again.Shipment.UpdatedAt.Equal(res.Shipment.UpdatedAt) {
			t.Fatalf("replay: %+v, %v", again, err)
		}
		mustAppend(t, s, ev("DHL", "TN9", "e1", t0, "scanned"))
		in.Articles = append(in.Articles, shipment.Article{Name: "Mouse", Quantity: 2, Price: 2500})
		in.ReceiverAddress = "Street 3, 10115 Berlin, Germany"
		in.Status = "exception"
		changed, err := s.Put(ctx, in)
		if err != nil || changed.Created || !changed.Changed || len(changed.Shipment.Articles) != 2 ||
			changed.Shipment.Location.City != "Berlin" || changed.Shipment.Status != shipment.StatusInfoReceived ||
			!changed.Shipment.UpdatedAt.After(res.Shipment.UpdatedAt) || changed.Shipment.EventCount != 1 {
			t.Fatalf("replace: %+v, %v", changed, err)
		}
	})
}

// TestImportStatusEvents: the status column of a shipments file is an
// event; the same file again adds none, a changed status adds one.
func TestImportStatusEvents(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		res := mustImport(t, s, "testdata/seed.csv")
		if res.Events != 5 {
			t.Fatalf("first import: %+v", res)
		}
		before := allShipments(t, s)
		res = mustImport(t, s, "testdata/seed.csv")
		if res.Events != 0 || res.Updated != 0 || res.Created != 0 {
			t.Fatalf("re-import: %+v", res)
		}
		after := allShipments(t, s)
		for i := range before {
			if !after[i].UpdatedAt.Equal(before[i].UpdatedAt) || after[i].Status != before[i].Status {
				t.Errorf("re-import changed %s", after[i].TrackingNumber)
			}
		}
		sh := mustGet(t, s, "DHL", "TN12345678")
		if sh.Status != shipment.StatusInTransit || sh.StatusText != "in-transit" || sh.EventCount != 1 || sh.Events[0].Source != shipment.SourceImport {
			t.Fatalf("imported: %+v", sh)
		}
		in := shipment.ShipmentInput{TrackingNumber: "TN12345678", Carrier: "DHL", Status: "delivered", SenderAddress: sh.SenderAddress,
			ReceiverAddress: sh.ReceiverAddress, Articles: sh.Articles}
		res, err := s.Import(ctx, []shipment.ShipmentInput{in})
		if err != nil || res.Events != 1 || res.Updated != 1 {
			t.Fatalf("status change: %+v, %v", res, err)
		}
		if sh := mustGet(t, s, "DHL", "TN12345678"); sh.Status != shipment.StatusDelivered || sh.EventCount != 2 {
			t.Fatalf("after status change: %q, %d events", sh.Status, sh.EventCount)
		}
	})
}

// syncAll follows List's UpdatedSince from since to the end, recording
// every (tracking number, updated_at) it sees, and returns the greatest
// updated_at seen.
func syncAll(t *testing.T, s *store.Store, since time.Time, seen map[string][]time.Time) time.Time {
	t.Helper()
	p := shipment.ListParams{Limit: 7, UpdatedSince: since}
	last := since
	type row struct {
		tn string
		at time.Time
	}
	pass := map[row]bool{} // within one pass of pages, nothing twice
	for {
		page, err := s.List(context.Background(), p)
		if err != nil {
			t.Error(err)
			return last
		}
		for _, sh := range page.Shipments {
			if sh.UpdatedAt.Before(last) {
				t.Errorf("%s at %v after %v: out of order", sh.TrackingNumber, sh.UpdatedAt, last)
			}
			last = sh.UpdatedAt
			if r := (row{sh.TrackingNumber, sh.UpdatedAt.UTC()}); pass[r] {
				t.Errorf("%s at %v twice in one pass", r.tn, r.at)
			} else {
				pass[r] = true
			}
			seen[sh.TrackingNumber] = append(seen[sh.TrackingNumber], sh.UpdatedAt)
		}
		if page.NextCursor == "" {
			return last
		}
		p.Cursor = page.NextCursor
	}
}

// TestUpdatedSinceFollowsChanges: a client syncing with updated_since
// while events arrive misses no change and sees none twice.
func TestUpdatedSinceFollowsChanges(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		const n = 40
		for i := range n {
			putShipment(t, s, "DHL", fmt.Sprintf("S%03d", i))
		}
		seen := map[string][]time.Time{}
		since := syncAll(t, s, time.Time{}, seen)
		if len(seen) != n {
			t.Fatalf("first sync saw %d shipments, want %d", len(seen), n)
		}
		// Writers append while the client syncs again and again, each
		// time from the last updated_at it saw (>=: it sees that row
		// again, so the check below ignores exact repeats of it).
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := range 4 {
			wg.Go(func() {
				for k := 0; ; k++ {
					select {
					case <-stop:
						return
					default:
					}
					var in []shipment.EventInput
					for range 3 {
						i := rand.IntN(n)
						in = append(in, ev("DHL", fmt.Sprintf("S%03d", i), fmt.Sprintf("w%d-%d-%d", w, k, i), t0.Add(time.Duration(k)*time.Second), "transit"))
					}
					if _, err := s.AppendEvents(context.Background(), in); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		deadline := time.Now().Add(1500 * time.Millisecond)
		for time.Now().Before(deadline) {
			since = syncAll(t, s, since, seen)
		}
		close(stop)
		wg.Wait()
		syncAll(t, s, since, seen)
		for _, sh := range allShipments(t, s) {
			ts := seen[sh.TrackingNumber]
			if len(ts) == 0 || !ts[len(ts)-1].Equal(sh.UpdatedAt) {
				t.Errorf("%s: last seen at %v, updated at %v: a change was missed", sh.TrackingNumber, ts, sh.UpdatedAt)
			}
			for i := 1; i < len(ts); i++ {
				if ts[i].Before(ts[i-1]) {
					t.Errorf("%s: seen at %v after %v", sh.TrackingNumber, ts[i], ts[i-1])
				}
			}
		}
	})
}

// TestUpdatedSincePages: pages of an incremental sync follow (updated_at,
// id) with neither gap nor repeat, and a bad cursor is refused.
func TestUpdatedSincePages(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var tns []string
		for i := range 10 {
			tn := fmt.Sprintf("P%02d", i)
			putShipment(t, s, "DHL", tn)
			tns = append(tns, tn)
		}
		mid := mustGet(t, s, "DHL", "P05").UpdatedAt
		var got []string
		p := shipment.ListParams{Limit: 2, UpdatedSince: mid}
		for {
			page, err := s.List(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, sh := range page.Shipments {
				got = append(got, sh.TrackingNumber)
			}
			if page.NextCursor == "" {
				break
			}
			p.Cursor = page.NextCursor
		}
		if !slices.Equal(got, tns[5:]) {
			t.Errorf("pages %v, want %v", got, tns[5:])
		}
		// A normal cursor is not an updated_since one, nor the reverse.
		normal, err := s.List(ctx, shipment.ListParams{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.List(ctx, shipment.ListParams{Limit: 2, UpdatedSince: mid, Cursor: normal.NextCursor}); !errors.Is(err, shipment.ErrInvalidCursor) {
			t.Errorf("normal cursor in a sync: %v", err)
		}
		sync1, _ := s.List(ctx, shipment.ListParams{Limit: 2, UpdatedSince: mid})
		if _, err := s.List(ctx, shipment.ListParams{Limit: 2, Cursor: sync1.NextCursor}); !errors.Is(err, shipment.ErrInvalidCursor) {
			t.Errorf("sync cursor in a normal listing: %v", err)
		}
	})
}

// TestUpgradeToEvents: a database of schema version 4 (before events),
// with data, migrates to events: each shipment's status becomes its
// first event and nothing else changes.
func TestUpgradeToEvents(t *testing.T) {
	t.Parallel()
	forEachURL(t, func(t *testing.T, ctx context.Context, url string) {
		old, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		mustImport(t, old, "testdata/seed.csv")
		// Statuses no table knows are kept as text.
		if _, err := old.Import(ctx, []shipment.ShipmentInput{{TrackingNumber: "X1", Carrier: "Odd", Status: "Parcel is Happy",
			ReceiverAddress: "Street 1, 10115 Berlin, Germany", Articles: []shipment.Article{{Name: "a", Quantity: 1, Price: 1}}}}); err != nil {
			t.Fatal(err)
		}
		before := allShipments(t, old)
		// Back to version 4: status holds the carrier's text again,
		// and there are no events.
		if err := old.ForgetMigrationsForTest(ctx, 5); err != nil {
			t.Fatal(err)
		}
		if err := old.Close(); err != nil {
			t.Fatal(err)
		}
		s, err := store.Open(ctx, url)
		if err != nil {
			t.Fatalf("upgrade: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		after := allShipments(t, s)
		if len(after) != len(before) || len(before) != 6 {
			t.Fatalf("%d shipments after, %d before", len(after), len(before))
		}
		for i, sh := range after {
			b := before[i]
			if sh.TrackingNumber != b.TrackingNumber || sh.StatusText != b.StatusText || sh.Status != shipment.NormalizeStatus(b.StatusText) ||
				!sh.UpdatedAt.Equal(b.UpdatedAt) || !sh.CreatedAt.Equal(b.CreatedAt) || !slices.Equal(sh.Articles, b.Articles) ||
				sh.SenderAddress != b.SenderAddress || *sh.Location != *b.Location {
				t.Errorf("shipment %d: %+v, was %+v", i, sh, b)
			}
			evs, err := s.Events(ctx, sh.Carrier, sh.TrackingNumber)
			if err != nil || len(evs) != 1 {
				t.Fatalf("%s: events %v, %v", sh.TrackingNumber, evs, err)
			}
			want := shipment.Event{OccurredAt: b.UpdatedAt, Status: sh.Status, StatusText: b.StatusText, Source: shipment.SourceImport}
			want.EventID = want.ContentID()
			if evs[0] != want {
				t.Errorf("%s: event %+v, want %+v", sh.TrackingNumber, evs[0], want)
			}
		}
		if sh := mustGet(t, s, "odd", "x1"); sh.Status != shipment.DefaultStatus || sh.StatusText != "Parcel is Happy" || sh.EventCount != 1 {
			t.Errorf("unknown status: %+v", sh)
		}
		// Importing the same file again changes nothing.
		if res := mustImport(t, s, "testdata/seed.csv"); res.Events != 0 || res.Updated != 0 {
			t.Errorf("re-import after the upgrade: %+v", res)
		}
	})
}

// TestAppendLargeBatch: a batch larger than one statement's rows is still
// one all-or-nothing write, and its replay records nothing.
func TestAppendLargeBatch(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for i := range 3 {
			putShipment(t, s, "DHL", fmt.Sprintf("L%d", i))
		}
		var in []shipment.EventInput
		for i := range 2500 {
			in = append(in, ev("DHL", fmt.Sprintf("L%d", i%3), fmt.Sprintf("e%d", i), t0.Add(time.Duration(i)*time.Second), "transit"))
		}
		if res := mustAppend(t, s, in...); res.Created != 2500 {
			t.Fatalf("first: %+v", res)
		}
		if res := mustAppend(t, s, in...); res.Unchanged != 2500 || res.Created != 0 {
			t.Fatalf("replay: %+v", res)
		}
		// A conflict in the last statement undoes the first ones.
		more := make([]shipment.EventInput, 0, 2001)
		for i := range 2000 {
			more = append(more, ev("DHL", "L0", fmt.Sprintf("n%d", i), t0, "transit"))
		}
		bad := in[0]
		bad.Message = "changed"
		more = append(more, bad)
		if _, err := s.AppendEvents(ctx, more); !errors.Is(err, shipment.ErrEventConflict) {
			t.Fatalf("conflict: %v", err)
		}
		if sh := mustGet(t, s, "DHL", "L0"); sh.EventCount != 834 {
			t.Errorf("%d events after a refused batch, want 834", sh.EventCount)
		}
	})
}

// TestAppendEventsRace: requests that send the same events at once, as a
// client retrying a timed-out batch does, each succeed, and every event is
// recorded once (Created over all of them), the others counted as
// Unchanged; the same id with other contents at once leaves one recorded
// and refuses the others as conflicts. (A plain INSERT instead of ON
// CONFLICT DO NOTHING, tried for speed, fails this without a retry.)
func TestAppendEventsRace(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		const (
			writers = 6
			perShip = 40
		)
		tns := []string{"R1", "R2", "R3"}
		for _, tn := range tns {
			putShipment(t, s, "DHL", tn)
		}
		run := func(batch func(w int) []shipment.EventInput) ([]shipment.AppendResult, []error) {
			res, errs := make([]shipment.AppendResult, writers), make([]error, writers)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for w := range writers {
				in := batch(w)
				wg.Go(func() {
					<-start
					res[w], errs[w] = s.AppendEvents(context.Background(), in)
				})
			}
			close(start)
			wg.Wait()
			return res, errs
		}
		for round := range 4 {
			res, errs := run(func(int) []shipment.EventInput {
				var in []shipment.EventInput
				for k := range perShip {
					for _, tn := range tns {
						in = append(in, ev("DHL", tn, fmt.Sprintf("r%d-%d", round, k), t0.Add(time.Duration(round*perShip+k)*time.Minute), "transit"))
					}
				}
				return in
			})
			var total shipment.AppendResult
			for w := range writers {
				if errs[w] != nil {
					t.Fatalf("round %d, writer %d: %v", round, w, errs[w])
				}
				total.Created += res[w].Created
				total.Unchanged += res[w].Unchanged
			}
			if n := perShip * len(tns); total.Created != n || total.Unchanged != n*(writers-1) {
				t.Fatalf("round %d: %+v, want %d created and %d unchanged", round, total, n, n*(writers-1))
			}
		}
		res, errs := run(func(w int) []shipment.EventInput {
			e := ev("DHL", "R1", "c1", t0.Add(-time.Hour), "transit")
			e.Message = fmt.Sprintf("writer %d", w)
			return []shipment.EventInput{e}
		})
		created := 0
		for w := range writers {
			switch {
			case errs[w] == nil && res[w].Created == 1:
				created++
			case !errors.Is(errs[w], shipment.ErrEventConflict):
				t.Errorf("writer %d: %+v, %v; want one created and conflicts", w, res[w], errs[w])
			}
		}
		if created != 1 {
			t.Errorf("%d writers recorded c1, want 1", created)
		}
		if sh := mustGet(t, s, "DHL", "R1"); sh.EventCount != 4*perShip+1 {
			t.Errorf("R1 has %d events, want %d", sh.EventCount, 4*perShip+1)
		}
	})
}

// TestGetArticlesAndEvents: a lookup returns the shipment, its articles
// and its latest events side by side; each keeps its order and fields,
// with or without the other.
func TestGetArticlesAndEvents(t *testing.T) {
	t.Parallel()
	forEachDriver(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		arts := []shipment.Article{{Name: "Laptop", Quantity: 1, Price: 80000, SKU: "LP1"},
			{Name: "Mouse", Quantity: 2, Price: 2500, SKU: "M1"}, {Name: "Cable", Quantity: 3, Price: 999}}
		for _, tn := range []string{"A1", "A2"} {
			in := shipment.ShipmentInput{TrackingNumber: tn, Carrier: "DPD",
				SenderAddress: "Street 1, 10115 Berlin, Germany", ReceiverAddress: "Street 10, 75001 Paris, France", Articles: arts}
			if tn == "A2" {
				in.Articles = nil
			}
			if _, err := s.Put(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		if err := benchdata.FillWeather(ctx, s); err != nil {
			t.Fatal(err)
		}
		var in []shipment.EventInput
		for i := range 22 {
			in = append(in, ev("DPD", "A1", fmt.Sprintf("e%02d", i), t0.Add(time.Duration(i)*time.Minute), "transit"))
		}
		mustAppend(t, s, append(in, ev("DPD", "A2", "x1", t0, "scanned"), ev("DPD", "A2", "x2", t0, "delivered"))...)

		sh := mustGet(t, s, "dpd", "a1")
		if !slices.Equal(sh.Articles, arts) || sh.Weather == nil || sh.Location == nil || sh.Location.City != "Paris" {
			t.Fatalf("A1: articles %+v, weather %v, location %v", sh.Articles, sh.Weather, sh.Location)
		}
		if sh.EventCount != 22 || len(sh.Events) != shipment.LatestEvents || sh.Events[0].EventID != "e21" || sh.Events[19].EventID != "e02" {
			t.Fatalf("A1: %d events %v", sh.EventCount, eventIDs(sh.Events))
		}
		if e := sh.Events[0]; !e.OccurredAt.Equal(t0.Add(21*time.Minute)) || e.OccurredAt.Location() != time.UTC ||
			e.Status != shipment.StatusInTransit || e.StatusText != "transit" || e.Location != "Paris" || e.Message != "m e21" || e.Source != shipment.SourceAPI {
			t.Errorf("A1 newest event %+v", e)
		}
		sh = mustGet(t, s, "DPD", "A2")
		if sh.Articles == nil || len(sh.Articles) != 0 || sh.EventCount != 2 || !slices.Equal(eventIDs(sh.Events), []string{"x2", "x1"}) ||
			sh.Status != shipment.StatusDelivered || sh.TrackingNumber != "A2" {
			t.Fatalf("A2 without articles: %+v", sh)
		}
		if _, err := s.Get(ctx, "DPD", "A3"); !errors.Is(err, shipment.ErrNotFound) {
			t.Errorf("unknown shipment: %v", err)
		}
	})
}
