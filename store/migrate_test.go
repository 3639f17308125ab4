package store_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/store/storetest"
)

// newestMigration is the highest migration number in store/migrations.
const newestMigration = 10

// allMigrations is what goose records once every migration ran: 0 (its
// own) to newestMigration.
func allMigrations() []int64 {
	out := make([]int64, newestMigration+1)
	for i := range out {
		out[i] = int64(i)
	}
	return out
}

// TestMigrationsMatchRowTypes migrates an empty database and compares
// its schema, column by column and index by index, with what AutoMigrate
// makes of the row types (as the release before versioned migrations
// made its schema), and
// checks every field of every row type has its column.
func TestMigrationsMatchRowTypes(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := storetest.Open(t, d)
			got, err := s.SchemaForTest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			old, err := store.AutoMigrateForTest(ctx, storetest.URL(t, d))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = old.Close() })
			want, err := old.SchemaForTest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range want {
				if !slices.Contains(got, l) {
					t.Errorf("migrated schema lacks %s", l)
				}
			}
			for _, l := range got {
				if !slices.Contains(want, l) {
					t.Errorf("migrated schema has %s, AutoMigrate does not", l)
				}
			}
			if v, err := s.SchemaVersionForTest(ctx); err != nil || v != newestMigration {
				t.Errorf("schema version %d, %v; want %d", v, err, newestMigration)
			}
		})
	}
}

// TestReadsSelectMigratedColumns: every column the lookups select (their
// column lists are made from the row types, query.go), under the table its
// alias in the statement names, is a column of the migrated schema on both
// drivers, and the lookups run there.
func TestReadsSelectMigratedColumns(t *testing.T) {
	t.Parallel()
	cols := store.ReadColumnsForTest()
	for _, table := range []string{"shipments", "locations", "weather", "articles"} {
		if !slices.ContainsFunc(cols, func(c string) bool { return strings.HasPrefix(c, table+".") }) {
			t.Errorf("the lookups read no column of %s: %v", table, cols)
		}
	}
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := storetest.Open(t, d)
			schema, err := s.SchemaForTest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cols {
				if !slices.ContainsFunc(schema, func(l string) bool { return strings.HasPrefix(l, c+" ") }) {
					t.Errorf("the lookups read %s; the migrated schema has no such column", c)
				}
			}
			if _, err := s.Get(ctx, "dhl", "NONE"); !errors.Is(err, shipment.ErrNotFound) {
				t.Errorf("Get on the migrated schema: %v, want not found", err)
			}
			if _, err := s.List(ctx, shipment.ListParams{Limit: 10}); err != nil {
				t.Errorf("List on the migrated schema: %v", err)
			}
		})
	}
}

// TestUpgradeFromAutoMigrate opens, with versioned migrations, a database
// made and filled by the release before them (AutoMigrate, the marker
// table, the triggers): it is baselined at 1, migrated to the newest
// version, and every shipment and weather row reads as before.
func TestUpgradeFromAutoMigrate(t *testing.T) {
	t.Parallel()
	forEachURL(t, func(t *testing.T, ctx context.Context, url string) {
		old, err := store.OpenLegacyForTest(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := old.SeedIfEmpty(ctx); err != nil {
			t.Fatal(err)
		}
		before := allShipments(t, old)
		now := time.Now().UTC().Truncate(time.Second)
		temps := map[uint64]float64{}
		for i, sh := range before {
			loc := sh.Location.WeatherID
			if _, done := temps[loc]; loc == 0 || done {
				continue
			}
			temps[loc] = float64(10 + i)
			if _, err := old.ClaimWeather(ctx, loc, "w", now, now, now.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := old.SaveWeather(ctx, "w", shipment.Weather{LocationID: loc, Query: "q", TemperatureC: temps[loc],
				Condition: "Sunny", ConditionCode: "1000", Humidity: 50, WindKph: 10, ObservedAt: now, FetchedAt: now, Provider: "test"}); err != nil {
				t.Fatal(err)
			}
		}
		if len(before) == 0 || len(temps) == 0 {
			t.Fatalf("seeded %d shipments, %d weather rows", len(before), len(temps))
		}
		if err := old.LegacyShapeForTest(ctx); err != nil {
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
		if v, err := s.AppliedMigrationsForTest(ctx); err != nil || !slices.Equal(v, allMigrations()) {
			t.Errorf("recorded migrations %v, %v; want 0, 1 (baseline), 2 to %d", v, err, newestMigration)
		}
		if s.HasTableForTest("shiptrack_migrations") {
			t.Error("the old marker table is still there")
		}
		after := allShipments(t, s)
		if len(after) != len(before) {
			t.Fatalf("%d shipments after the upgrade, %d before", len(after), len(before))
		}
		for i, sh := range after {
			b := before[i]
			if sh.TrackingNumber != b.TrackingNumber || sh.Carrier != b.Carrier || sh.Status != b.Status ||
				!slices.Equal(sh.Articles, b.Articles) || (sh.Location == nil) != (b.Location == nil) ||
				(sh.Location != nil && *sh.Location != *b.Location) {
				t.Errorf("shipment %d: %+v, was %+v", i, sh, b)
			}
			got, err := s.Get(ctx, sh.Carrier, sh.TrackingNumber)
			if err != nil {
				t.Errorf("Get(%s, %s): %v", sh.Carrier, sh.TrackingNumber, err)
				continue
			}
			if want, ok := temps[sh.Location.WeatherID]; ok && (got.Weather == nil || got.Weather.TemperatureC != want) {
				t.Errorf("%s: weather %+v, want %v °C", sh.TrackingNumber, got.Weather, want)
			}
		}
	})
}

// TestReplicasMigrateAtOnce: four replicas opening one PostgreSQL
// database at once, empty or made before versioned migrations, all start,
// and each migration is recorded once.
func TestReplicasMigrateAtOnce(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		legacy bool
		want   []int64
	}{
		{"empty", false, allMigrations()},
		{"before versioned migrations", true, allMigrations()},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := storetest.URL(t, "postgres")
			if c.legacy {
				old, err := store.OpenLegacyForTest(ctx, url)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := old.SeedIfEmpty(ctx); err != nil {
					t.Fatal(err)
				}
				if err := old.LegacyShapeForTest(ctx); err != nil {
					t.Fatal(err)
				}
				_ = old.Close()
			}
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Go(func() {
					var s *store.Store
					if s, errs[i] = store.Open(ctx, url); errs[i] == nil {
						_ = s.Close()
					}
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("replica %d: %v", i, err)
				}
			}
			s, err := store.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if v, err := s.AppliedMigrationsForTest(ctx); err != nil || !slices.Equal(v, c.want) {
				t.Errorf("recorded migrations %v, %v; want %v", v, err, c.want)
			}
		})
	}
}

// TestGooseReadsTheVersionTable: goose itself (its Provider, as its CLI
// uses it) finds a migrated database at the newest version with nothing
// pending, so the version table is really goose's.
func TestGooseReadsTheVersionTable(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := storetest.Open(t, d)
			db, err := s.SQL()
			if err != nil {
				t.Fatal(err)
			}
			dialect := goose.DialectSQLite3
			if d == "postgres" {
				dialect = goose.DialectPostgres
			}
			noop := func() *goose.GoFunc { return &goose.GoFunc{RunTx: func(context.Context, *sql.Tx) error { return nil }} }
			p, err := goose.NewProvider(dialect, db, os.DirFS("migrations/"+d), goose.WithDisableGlobalRegistry(true),
				goose.WithGoMigrations(goose.NewGoMigration(3, noop(), nil), goose.NewGoMigration(4, noop(), nil),
					goose.NewGoMigration(6, noop(), nil)))
			if err != nil {
				t.Fatal(err)
			}
			if v, err := p.GetDBVersion(ctx); err != nil || v != newestMigration {
				t.Errorf("goose reads version %d, %v; want %d", v, err, newestMigration)
			}
			if pending, err := p.HasPending(ctx); err != nil || pending {
				t.Errorf("goose finds pending migrations: %v, %v", pending, err)
			}
			if n := len(p.ListSources()); n != len(allMigrations())-1 {
				t.Errorf("goose sees %d migrations, want %d", n, len(allMigrations())-1)
			}
		})
	}
}
