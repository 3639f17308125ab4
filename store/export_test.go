package store

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/shiptrack/shiptrack/shipment"
)

// InsertRawShipmentForTest writes a shipment row directly, bypassing
// Import's checks, to prove the database's own constraints.
func (s *Store) InsertRawShipmentForTest(ctx context.Context, carrier, tn string) error {
	now := time.Now().UTC()
	return s.db.WithContext(ctx).Create(&shipmentRow{CarrierKey: shipment.CarrierKey(carrier), Carrier: carrier,
		TrackingNumber: shipment.NormalizeTrackingNumber(tn), TrackingDisplay: tn, Status: "x", CreatedAt: now, UpdatedAt: now}).Error
}

// HoldReadSlotsForTest takes n read slots, as n reads in progress would,
// until release is called.
func (s *Store) HoldReadSlotsForTest(n int) (release func()) {
	for range n {
		s.readSlots <- struct{}{}
	}
	return func() {
		for range n {
			<-s.readSlots
		}
	}
}

// ReadSlotCountForTest is the number of reads that run at once on s.
func (s *Store) ReadSlotCountForTest() int { return cap(s.readSlots) }

// UnsharePlacesForTest puts the database back in its shape from before
// weather was shared per place: no place keys, no links, and a weather row
// for every location (as when weather was kept per postal code), each with
// its own temperature.
func (s *Store) UnsharePlacesForTest(ctx context.Context) error {
	db := s.db.WithContext(ctx)
	if err := s.ForgetMigrationsForTest(ctx, migrationPlaces); err != nil {
		return err
	}
	if err := db.Exec("UPDATE locations SET place_key = '', weather_location_id = NULL").Error; err != nil {
		return err
	}
	var ids []uint64
	if err := db.Model(&locationRow{}).Order("id").Pluck("id", &ids).Error; err != nil {
		return err
	}
	now := time.Now().UTC()
	for i, id := range ids {
		w := weatherRow{LocationID: id, TemperatureC: float64(i), Provider: "weatherapi", FetchedAt: &now}
		if err := db.Save(&w).Error; err != nil {
			return err
		}
	}
	return nil
}

// CreateDatabaseForTest is createDatabase, to race replicas on it.
var CreateDatabaseForTest = createDatabase

// ForgetMigrationsForTest removes the record of migrations from version
// on, as if the database were from before them: the next Open runs them.
// Before migration 5 the events go too (LegacyShapeForTest).
func (s *Store) ForgetMigrationsForTest(ctx context.Context, from int64) error {
	if from <= 5 {
		if err := s.LegacyShapeForTest(ctx); err != nil {
			return err
		}
	}
	return s.db.WithContext(ctx).Exec("DELETE FROM "+versionTable+" WHERE version_id >= ?", from).Error
}

// LegacyShapeForTest puts the database back in its shape from before
// tracking events (migration 5): each shipment's status is its status
// text again (the carrier's wording, as imports stored it), and the
// events table, status_text and the sync index are gone.
func (s *Store) LegacyShapeForTest(ctx context.Context) error {
	db := s.db.WithContext(ctx)
	for _, q := range []string{
		"DROP TABLE webhook_deliveries",
		"DROP TABLE webhook_endpoints",
		"UPDATE shipments SET status = status_text WHERE status_text <> ''",
		"DROP TABLE events",
		"DROP INDEX ix_shipments_updated",
		"ALTER TABLE shipments DROP COLUMN status_text",
	} {
		if err := db.Exec(q).Error; err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// MigrationTrackingNumbers is the version of the tracking-number
// normalisation.
const MigrationTrackingNumbers = migrationTrackingNumbers

// legacyMigrationRow is the marker table of the release before versioned
// migrations.
type legacyMigrationRow struct {
	Name string `gorm:"primaryKey;size:100"`
}

func (legacyMigrationRow) TableName() string { return "shiptrack_migrations" }

// OpenLegacyForTest opens url as the release before versioned migrations
// (b3f5ca9) did on an empty database: AutoMigrate of the row types and of
// its marker table, the mark of the tracking-number normalisation, and on
// PostgreSQL the change-feed triggers; no goose table. The store it
// returns works, unmigrated, for filling the database; call
// LegacyShapeForTest when it is filled.
func OpenLegacyForTest(ctx context.Context, url string) (*Store, error) {
	s, err := open(ctx, url, false)
	if err != nil {
		return nil, err
	}
	db := s.db.WithContext(ctx)
	// Today's row types, so today's code can fill it: LegacyShapeForTest
	// then takes away what that release did not have.
	if err := db.AutoMigrate(append(rowTypes, &legacyMigrationRow{})...); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&legacyMigrationRow{Name: "tracking_numbers_normalised"}).Error; err != nil {
		_ = s.Close()
		return nil, err
	}
	if s.driver == "postgres" {
		b, err := migrationFiles.ReadFile("migrations/postgres/00002_change_feed.sql")
		if err != nil {
			return nil, err
		}
		_, up, _ := strings.Cut(string(b), "-- +goose Up")
		up, _, _ = strings.Cut(up, "-- +goose Down")
		// No arguments: pgx sends it as one simple query, statements and all.
		if _, err := s.sqlDB.ExecContext(ctx, up); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

// rowTypes are the row types of the schema.
var rowTypes = []any{&locationRow{}, &shipmentRow{}, &articleRow{}, &weatherRow{}, &budgetRow{}, &windowRow{}, &eventRow{}, &webhookEndpointRow{}, &webhookDeliveryRow{}}

// AutoMigrateForTest opens url, an empty database, with the schema GORM's
// AutoMigrate makes of today's row types, to compare the migrations with.
func AutoMigrateForTest(ctx context.Context, url string) (*Store, error) {
	s, err := open(ctx, url, false)
	if err != nil {
		return nil, err
	}
	if err := s.db.WithContext(ctx).AutoMigrate(rowTypes...); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// SchemaForTest describes the tables of the row types as the database
// has them, one sorted line per column (type, length, nullability,
// default, key) and per index (columns, uniqueness). It fails when a
// field of a row type has no column.
func (s *Store) SchemaForTest(ctx context.Context) ([]string, error) {
	db := s.db.WithContext(ctx)
	m := db.Migrator()
	var out []string
	for _, row := range rowTypes {
		stmt := &gorm.Statement{DB: db}
		if err := stmt.Parse(row); err != nil {
			return nil, err
		}
		table := stmt.Schema.Table
		for _, f := range stmt.Schema.Fields {
			if f.DBName != "" && !m.HasColumn(row, f.DBName) {
				return nil, fmt.Errorf("%s.%s (field %s) has no column", table, f.DBName, f.Name)
			}
		}
		cols, err := m.ColumnTypes(row)
		if err != nil {
			return nil, err
		}
		for _, c := range cols {
			length, _ := c.Length()
			null, _ := c.Nullable()
			def, _ := c.DefaultValue()
			pk, _ := c.PrimaryKey()
			auto, _ := c.AutoIncrement()
			out = append(out, fmt.Sprintf("%s.%s %s(%d) null=%v default=%q pk=%v auto=%v",
				table, c.Name(), c.DatabaseTypeName(), length, null, def, pk, auto))
		}
		idx, err := m.GetIndexes(row)
		if err != nil {
			return nil, err
		}
		for _, i := range idx {
			unique, _ := i.Unique()
			pk, _ := i.PrimaryKey()
			out = append(out, fmt.Sprintf("%s index %s %v unique=%v pk=%v", table, i.Name(), i.Columns(), unique, pk))
		}
	}
	sort.Strings(out)
	return out, nil
}

// SchemaVersionForTest is the newest migration recorded.
func (s *Store) SchemaVersionForTest(ctx context.Context) (int64, error) {
	p, err := s.migrations()
	if err != nil {
		return 0, err
	}
	return p.GetDBVersion(ctx)
}

// AppliedMigrationsForTest lists goose's records, in order.
func (s *Store) AppliedMigrationsForTest(ctx context.Context) ([]int64, error) {
	var v []int64
	err := s.db.WithContext(ctx).Raw("SELECT version_id FROM " + versionTable + " ORDER BY id").Scan(&v).Error
	return v, err
}

// HasTableForTest reports whether the table exists.
func (s *Store) HasTableForTest(name string) bool { return s.db.Migrator().HasTable(name) }

// ReadColumnsForTest lists the columns the lookups select, as
// "table.column", with the aliases of the lookup statement resolved.
func ReadColumnsForTest() []string {
	alias := map[string]string{}
	for _, m := range regexp.MustCompile(`(?:FROM|JOIN) (\w+) (\w+)`).FindAllStringSubmatch(getSQL, -1) {
		alias[m[2]] = m[1]
	}
	var out []string
	for _, c := range strings.Split(readColumns, ", ") {
		a, col, _ := strings.Cut(c, ".")
		out = append(out, alias[a]+"."+col)
	}
	return out
}

// ExecForTest runs a statement on the store's database.
func (s *Store) ExecForTest(ctx context.Context, q string) error {
	return s.db.WithContext(ctx).Exec(q).Error
}
