package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/store/storetest"
)

// changeWait bounds every wait for the change feed: generous, as the
// tests share the server with other packages' tests.
const changeWait = 10 * time.Second

// openPostgres opens a store on a fresh PostgreSQL database and returns
// the database's URL too.
func openPostgres(t *testing.T) (*store.Store, string) {
	t.Helper()
	url := storetest.URL(t, "postgres")
	s, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, url
}

// watch runs s.WatchChanges until the test ends and returns what it
// reports, once it reported ChangeListening. The cleanup checks that it
// returns context.Canceled.
func watch(t *testing.T, s *store.Store) <-chan shipment.Change {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, done := startWatch(ctx, s)
	t.Cleanup(func() {
		cancel()
		waitReturn(t, done)
	})
	expectChange(t, ch, shipment.Change{Kind: shipment.ChangeListening})
	return ch
}

// startWatch runs s.WatchChanges(ctx) in a goroutine; done receives what
// it returns.
func startWatch(ctx context.Context, s *store.Store) (changes <-chan shipment.Change, done <-chan error) {
	ch := make(chan shipment.Change, 100)
	errc := make(chan error, 1)
	go func() {
		errc <- s.WatchChanges(ctx, func(c shipment.Change) {
			select {
			case ch <- c:
			case <-ctx.Done():
			}
		})
	}()
	return ch, errc
}

// waitReturn fails unless WatchChanges returns context.Canceled in time.
func waitReturn(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("WatchChanges returned %v, want context.Canceled", err)
		}
	case <-time.After(changeWait):
		t.Errorf("WatchChanges did not return within %v of the cancel", changeWait)
	}
}

func nextChange(t *testing.T, ch <-chan shipment.Change) shipment.Change {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(changeWait):
		t.Fatalf("no change reported within %v", changeWait)
		return shipment.Change{}
	}
}

// expectChange fails unless the next change reported is want: changes
// arrive in commit order, so a write that should report nothing is proven
// silent by the next write's change coming first.
func expectChange(t *testing.T, ch <-chan shipment.Change, want shipment.Change) {
	t.Helper()
	if got := nextChange(t, ch); got != want {
		t.Fatalf("change = %+v, want %+v", got, want)
	}
}

// connect opens a plain connection to the test database, closed when t
// ends.
func connect(t *testing.T, ctx context.Context, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// terminateListener ends the change feed's server connection from a
// connection of its own.
func terminateListener(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), changeWait)
	defer cancel()
	conn := connect(t, ctx, url)
	var n int
	err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'shiptrack-change-feed' AND datname = current_database()`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("terminated %d listeners, want 1", n)
	}
}

func newShipment(tn, receiver string) shipment.ShipmentInput {
	return shipment.ShipmentInput{TrackingNumber: tn, Carrier: "DHL", Status: "in-transit",
		ReceiverAddress: receiver, Articles: []shipment.Article{{Name: "A", Quantity: 1, Price: 100}}}
}

// TestWatchChangesSQLite: on SQLite the feed reports every commit, by this
// store's other connections (a weather worker) or by another process (a
// second store on the same file, as `shiptrack import` would be), and
// nothing while nobody writes.
func TestWatchChangesSQLite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.URL(t, "sqlite")
	open := func() *store.Store {
		s, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	s, other := open(), open()
	if !s.CanWatchChanges() {
		t.Fatal("CanWatchChanges = false on a SQLite file")
	}
	ch := watch(t, s)
	quiet := func(t *testing.T) {
		t.Helper()
		select {
		case c := <-ch:
			t.Fatalf("reported %+v with no write", c)
		case <-time.After(500 * time.Millisecond): // 5 polls
		}
	}
	var loc uint64
	for _, step := range []struct {
		name  string
		write func(t *testing.T)
	}{
		{"import by another process", func(t *testing.T) {
			res, err := other.Import(ctx, []shipment.ShipmentInput{newShipment("TN1", "Street 10, 75001 Paris, France")})
			if err != nil || len(res.NewLocations) != 1 {
				t.Fatalf("import: %+v, %v", res, err)
			}
			loc = res.NewLocations[0]
		}},
		// Unlike PostgreSQL's triggers, the version cannot tell a claim
		// from a change that reads see: both are reported.
		{"weather claimed by this store", func(t *testing.T) {
			now := time.Now().UTC()
			if res, err := s.ClaimWeather(ctx, loc, "w", now, now.Add(time.Hour), now.Add(time.Minute)); err != nil || res != store.Claimed {
				t.Fatalf("claim: %v, %v", res, err)
			}
		}},
		{"weather saved by this store", func(t *testing.T) {
			now := time.Now().UTC()
			err := s.SaveWeather(ctx, "w", shipment.Weather{LocationID: loc, Query: "q", TemperatureC: 20,
				Condition: "Sunny", ObservedAt: now, FetchedAt: now, Provider: "test"})
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"update by another process", func(t *testing.T) {
			in := newShipment("TN1", "Street 10, 75001 Paris, France")
			in.Status = "delivered"
			if _, err := other.Import(ctx, []shipment.ShipmentInput{in}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(step.name, func(t *testing.T) {
			quiet(t)
			step.write(t)
			expectChange(t, ch, shipment.Change{Kind: shipment.ChangeShipments})
		})
	}
}

func TestWatchChangesSQLiteInMemory(t *testing.T) {
	t.Parallel()
	s, err := store.Open(context.Background(), "sqlite:file::memory:?cache=shared")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if s.CanWatchChanges() {
		t.Error("CanWatchChanges = true in memory")
	}
	ctx, cancel := context.WithTimeout(context.Background(), changeWait)
	defer cancel()
	err = s.WatchChanges(ctx, func(c shipment.Change) { t.Errorf("reported %+v", c) })
	if !errors.Is(err, store.ErrNoChangeFeed) {
		t.Fatalf("err = %v, want ErrNoChangeFeed", err)
	}
}

func TestWatchChangesReportsWrites(t *testing.T) {
	t.Parallel()
	s, url := openPostgres(t)
	ch := watch(t, s)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	const owner = "test-worker"
	var paris, berlin uint64 // location ids, set by the first step

	claim := func(t *testing.T, loc uint64) {
		t.Helper()
		res, err := s.ClaimWeather(ctx, loc, owner, now, now.Add(time.Hour), now.Add(time.Minute))
		if err != nil || res != store.Claimed {
			t.Fatalf("claim %d: %v, %v", loc, res, err)
		}
	}
	save := func(t *testing.T, loc uint64, temp float64) {
		t.Helper()
		err := s.SaveWeather(ctx, owner, shipment.Weather{LocationID: loc, Query: "q", TemperatureC: temp,
			Condition: "Sunny", ConditionCode: "1000", Humidity: 50, WindKph: 10,
			ObservedAt: now, FetchedAt: now, Provider: "test"})
		if err != nil {
			t.Fatal(err)
		}
	}
	saveError := func(t *testing.T, loc uint64, msg string) {
		t.Helper()
		if err := s.SaveWeatherError(ctx, loc, owner, store.Failure{Message: msg, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}

	// Steps run in order on one database; each ends with the change it
	// must report next, which also proves its silent writes silent.
	steps := []struct {
		name  string
		write func(t *testing.T)
		want  func() shipment.Change
	}{
		{"import", func(t *testing.T) {
			res, err := s.Import(ctx, []shipment.ShipmentInput{
				newShipment("TN1", "Street 10, 75001 Paris, France"),
				newShipment("TN2", "Street 1, 10115 Berlin, Germany"),
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.NewLocations) != 2 {
				t.Fatalf("new locations %v", res.NewLocations)
			}
			paris, berlin = res.NewLocations[0], res.NewLocations[1]
		}, func() shipment.Change { return shipment.Change{Kind: shipment.ChangeShipments} }},
		// The silent writes touch another location than the save that
		// follows, so a change they leaked would come first.
		{"claims are silent", func(t *testing.T) {
			claim(t, berlin) // creates the weather row, then claims it
			if err := s.ReleaseClaim(ctx, berlin, owner); err != nil {
				t.Fatal(err)
			}
			claim(t, berlin) // held until the next step
			claim(t, paris)
			save(t, paris, 20)
		}, func() shipment.Change { return shipment.Change{Kind: shipment.ChangeWeather, Location: paris} }},
		{"save reports", func(t *testing.T) {
			save(t, berlin, 15)
		}, func() shipment.Change { return shipment.Change{Kind: shipment.ChangeWeather, Location: berlin} }},
		{"failed fetch reports", func(t *testing.T) {
			claim(t, paris)
			saveError(t, paris, "timeout")
		}, func() shipment.Change { return shipment.Change{Kind: shipment.ChangeWeather, Location: paris} }},
		{"repeated failure reports its attempt time", func(t *testing.T) {
			claim(t, paris)
			saveError(t, paris, "timeout")
		}, func() shipment.Change { return shipment.Change{Kind: shipment.ChangeWeather, Location: paris} }},
		{"update", func(t *testing.T) {
			in := newShipment("TN1", "Street 10, 75001 Paris, France")
			in.Status = "delivered"
			if _, err := s.Import(ctx, []shipment.ShipmentInput{in}); err != nil {
				t.Fatal(err)
			}
		}, func() shipment.Change { return shipment.Change{Kind: shipment.ChangeShipments} }},
		{"events appended", func(t *testing.T) {
			if _, err := s.AppendEvents(ctx, []shipment.EventInput{{Carrier: "DHL", TrackingNumber: "TN2",
				Event: shipment.Event{OccurredAt: now, StatusText: "delivery"}}}); err != nil {
				t.Fatal(err)
			}
		}, func() shipment.Change { return shipment.Change{Kind: shipment.ChangeShipments} }},
		// The events table's own trigger (migration 7), without the
		// shipments update a store write makes too.
		{"event row written by another client", func(t *testing.T) {
			conn := connect(t, ctx, url)
			if _, err := conn.Exec(ctx, `INSERT INTO events (shipment_id, event_id, occurred_at, status, status_text, source)
				SELECT id, 'psql', now(), 'delivered', 'Delivered', 'api' FROM shipments LIMIT 1`); err != nil {
				t.Fatal(err)
			}
		}, func() shipment.Change { return shipment.Change{Kind: shipment.ChangeShipments} }},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.write(t)
			expectChange(t, ch, st.want())
		})
	}
}

func TestWatchChangesReconnects(t *testing.T) {
	t.Parallel()
	s, url := openPostgres(t)
	ch := watch(t, s)
	for i := range 2 { // and again, after a reconnect
		terminateListener(t, url)
		expectChange(t, ch, shipment.Change{Kind: shipment.ChangeLost})
		expectChange(t, ch, shipment.Change{Kind: shipment.ChangeListening})
		tn := []string{"TN1", "TN2"}[i]
		if _, err := s.Import(context.Background(), []shipment.ShipmentInput{newShipment(tn, "Street 10, 75001 Paris, France")}); err != nil {
			t.Fatal(err)
		}
		expectChange(t, ch, shipment.Change{Kind: shipment.ChangeShipments})
	}
}

func TestWatchChangesCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// before runs before the cancel; url is the database's.
		before func(t *testing.T, url string, ch <-chan shipment.Change)
	}{
		{"before listening", nil},
		{"while listening", func(t *testing.T, _ string, ch <-chan shipment.Change) {
			expectChange(t, ch, shipment.Change{Kind: shipment.ChangeListening})
		}},
		{"while reconnecting", func(t *testing.T, url string, ch <-chan shipment.Change) {
			expectChange(t, ch, shipment.Change{Kind: shipment.ChangeListening})
			terminateListener(t, url)
			expectChange(t, ch, shipment.Change{Kind: shipment.ChangeLost})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, url := openPostgres(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.before == nil {
				cancel()
			}
			ch, done := startWatch(ctx, s)
			if tt.before != nil {
				tt.before(t, url, ch)
				cancel()
			}
			waitReturn(t, done)
		})
	}
}

// TestChangeTriggersReinstalled: opening the store again, from several
// replicas at once, repairs a missing trigger.
func TestChangeTriggersReinstalled(t *testing.T) {
	t.Parallel()
	s, url := openPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), changeWait)
	defer cancel()
	conn := connect(t, ctx, url)
	for _, table := range []string{"shipments", "events"} {
		if _, err := conn.Exec(ctx, "DROP TRIGGER shiptrack_changes ON "+table); err != nil {
			t.Fatal(err)
		}
	}

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			var r *store.Store
			if r, errs[i] = store.Open(ctx, url); errs[i] == nil {
				_ = r.Close()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
	}
	var all, onShipments, onEvents int
	err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE tgrelid = 'shipments'::regclass),
		count(*) FILTER (WHERE tgrelid = 'events'::regclass)
		FROM pg_trigger WHERE tgname LIKE 'shiptrack%'`).Scan(&all, &onShipments, &onEvents)
	if err != nil {
		t.Fatal(err)
	}
	if all != 6 || onShipments != 1 || onEvents != 1 {
		t.Errorf("%d triggers, %d on shipments, %d on events; want 6, 1, 1", all, onShipments, onEvents)
	}

	ch := watch(t, s)
	if _, err := s.Import(ctx, []shipment.ShipmentInput{newShipment("TN1", "Street 10, 75001 Paris, France")}); err != nil {
		t.Fatal(err)
	}
	expectChange(t, ch, shipment.Change{Kind: shipment.ChangeShipments})
}
