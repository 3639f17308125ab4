package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/gorm"
)

// The schema is versioned by goose: numbered SQL files per dialect in
// migrations/, and the data migrations that need Go (migrationPlaces,
// migrationTrackingNumbers) registered by number beside them. goose
// records what ran in its own table (versionTable). A migration, once
// released, is never edited: a change is a new, higher number, in both
// dialects' directories (a file may be a no-op there, as 00002 is on
// SQLite, so the numbers stay in step).

//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrationFiles embed.FS

const (
	// versionTable is goose's default: the table its CLI also expects.
	versionTable = "goose_db_version"
	// migrationBaseline is the schema the release before versioned
	// migrations made with AutoMigrate: databases it made are recorded at
	// this version without running it (baseline).
	migrationBaseline = 1
	// migrationPlaces links locations to their place's weather row.
	migrationPlaces = 3
	// migrationTrackingNumbers normalises stored tracking numbers.
	migrationTrackingNumbers = 4
	// migrationEvents makes each shipment's status its first tracking
	// event (events_migrate.go), between 00005 (the table) and 00007.
	migrationEvents = 6
	// migrationEventsFeed adds the events table to the change feed.
	migrationEventsFeed = 7
)

// MigrateResult is the schema version before and after Migrate. Before
// is 0 for an empty database and for one made before versioned
// migrations, which Baselined then reports.
type MigrateResult struct {
	Before, After int64
	Baselined     bool
}

// Migrate brings the database at url to the newest schema version, as
// Open does, and reports the versions. It is for running the migrations
// ahead of a rolling deploy (`shiptrack migrate`).
func Migrate(ctx context.Context, url string) (MigrateResult, error) {
	s, err := open(ctx, url, false)
	if err != nil {
		return MigrateResult{}, err
	}
	defer s.Close()
	return s.migrate(ctx)
}

// migrate applies the pending migrations. Replicas starting at once take
// turns on PostgreSQL: goose holds a session advisory lock while it
// migrates, and baseline takes the same lock for its transaction.
func (s *Store) migrate(ctx context.Context) (res MigrateResult, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("store: migrate: %w", wrapUnavailable(err))
		}
	}()
	if res.Baselined, err = s.baseline(ctx); err != nil {
		return res, err
	}
	p, err := s.migrations()
	if err != nil {
		return res, err
	}
	if !res.Baselined {
		// Creates goose's table on an empty database (version 0).
		if res.Before, err = p.GetDBVersion(ctx); err != nil {
			return res, err
		}
	}
	if _, err := p.Up(ctx); err != nil {
		return res, err
	}
	if res.After, err = p.GetDBVersion(ctx); err != nil {
		return res, err
	}
	return res, s.repairChangeFeed(ctx)
}

// migrationChangeFeed installs the PostgreSQL change-feed triggers.
const migrationChangeFeed = 2

// changeFeedIntactSQL reports whether both trigger functions and all six
// triggers of migrations 2 and 7 exist.
const changeFeedIntactSQL = `SELECT to_regprocedure('shiptrack_notify_weather()') IS NOT NULL
	AND to_regprocedure('shiptrack_notify_shipments()') IS NOT NULL
	AND (SELECT count(*) FROM pg_trigger t
		JOIN (VALUES ('weather', 'shiptrack_weather_changes'), ('weather', 'shiptrack_weather_truncate'),
			('shipments', 'shiptrack_changes'), ('articles', 'shiptrack_changes'), ('locations', 'shiptrack_changes'),
			('events', 'shiptrack_changes')
		) AS want(tbl, name) ON t.tgrelid = to_regclass(want.tbl) AND t.tgname = want.name) = 6`

// repairChangeFeed runs migrations 2 and 7 again, unrecorded, when a trigger of
// the change feed is missing (dropped by hand, or lost in a partial
// restore): without it the read cache would serve stale answers for ever.
// It checks first and changes nothing when the feed is intact: DROP
// TRIGGER takes an ACCESS EXCLUSIVE lock on its table, which would queue
// every read behind any long transaction on each start.
func (s *Store) repairChangeFeed(ctx context.Context) error {
	if s.driver != "postgres" {
		return nil
	}
	var intact bool
	if err := s.db.WithContext(ctx).Raw(changeFeedIntactSQL).Scan(&intact).Error; err != nil || intact {
		return err
	}
	dir, err := fs.Sub(migrationFiles, "migrations/postgres")
	if err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(database.DialectPostgres, s.sqlDB, dir,
		goose.WithDisableGlobalRegistry(true), goose.WithDisableVersioning(true), goose.WithSessionLocker(locker))
	if err != nil {
		return err
	}
	for _, v := range []int64{migrationChangeFeed, migrationEventsFeed} {
		if _, err := p.ApplyVersion(ctx, v, true); err != nil {
			return fmt.Errorf("repair change feed: %w", err)
		}
	}
	return nil
}

// migrations is the goose provider for this store's dialect.
func (s *Store) migrations() (*goose.Provider, error) {
	dir, err := fs.Sub(migrationFiles, "migrations/"+s.driver)
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(
			goose.NewGoMigration(migrationPlaces, &goose.GoFunc{RunTx: s.txFunc(migratePlaces)}, nil),
			goose.NewGoMigration(migrationTrackingNumbers, &goose.GoFunc{RunTx: s.txFunc(migrateTrackingNumbers)}, nil),
			goose.NewGoMigration(migrationEvents, &goose.GoFunc{RunTx: s.txFunc(migrateEvents)}, nil),
		),
	}
	if s.driver == "postgres" {
		// A replica that finds the lock taken retries every second for
		// up to 5 minutes (goose's default: every 5 s).
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(s.dialect(), s.sqlDB, dir, opts...)
}

func (s *Store) dialect() database.Dialect {
	if s.driver == "postgres" {
		return database.DialectPostgres
	}
	return database.DialectSQLite3
}

// txFunc runs fn on goose's migration transaction through GORM, so data
// migrations use the row types like the rest of the store.
func (s *Store) txFunc(fn func(tx *gorm.DB) error) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, sqlTx *sql.Tx) error {
		tx := s.db.Session(&gorm.Session{NewDB: true, Context: ctx})
		tx.Statement.ConnPool = sqlTx
		return fn(tx)
	}
}

// baseline records version 1 in a database made by the release before
// versioned migrations (it has the tables but no version table), so the
// later migrations run on it and 00001 does not. AutoMigrate first adds
// what a database from an older release still lacks, exactly as that
// release's own start-up would have; a database from the last one has
// everything and is left as it is. This is the only AutoMigrate left, and
// it runs once per such database.
func (s *Store) baseline(ctx context.Context) (baselined bool, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var legacy bool
		if s.driver == "postgres" {
			// goose's own lock: no replica migrates while this runs. One
			// statement, so a replica migrating an empty database cannot
			// be seen half done (its version table is made first).
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", lock.DefaultLockID).Error; err != nil {
				return err
			}
			if err := tx.Raw("SELECT to_regclass(?) IS NULL AND to_regclass('shipments') IS NOT NULL", versionTable).Scan(&legacy).Error; err != nil {
				return err
			}
		} else if err := tx.Raw(`SELECT NOT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)
			AND EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'shipments')`, versionTable).Scan(&legacy).Error; err != nil {
			return err
		}
		if !legacy {
			return nil
		}
		if err := tx.AutoMigrate(&locationRow{}, &shipmentRowV1{}, &articleRow{}, &weatherRow{}, &budgetRow{}, &windowRow{}); err != nil {
			return err
		}
		sqlTx, ok := tx.Statement.ConnPool.(*sql.Tx)
		if !ok {
			return errors.New("baseline: not in a transaction")
		}
		vs, err := database.NewStore(s.dialect(), versionTable)
		if err != nil {
			return err
		}
		if err := vs.CreateVersionTable(ctx, sqlTx); err != nil {
			return err
		}
		for _, v := range []int64{0, migrationBaseline} {
			if err := vs.Insert(ctx, sqlTx, database.InsertRequest{Version: v}); err != nil {
				return err
			}
		}
		baselined = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("baseline: %w", err)
	}
	return baselined, nil
}

// shipmentRowV1 is shipmentRow as the release before versioned migrations
// had it, for baseline: the columns added since (status_text, migration
// 5) come from their migrations, which would fail on a column AutoMigrate
// had made already.
type shipmentRowV1 struct {
	ID              uint64  `gorm:"primaryKey"`
	CarrierKey      string  `gorm:"size:64;not null;uniqueIndex:ux_shipments_carrier_tracking,priority:1;index:ix_shipments_status,priority:2"`
	TrackingNumber  string  `gorm:"size:64;not null;uniqueIndex:ux_shipments_carrier_tracking,priority:2;index:ix_shipments_status,priority:3"`
	TrackingDisplay string  `gorm:"size:100;not null;default:''"`
	Carrier         string  `gorm:"size:64;not null"`
	Status          string  `gorm:"size:64;not null;index:ix_shipments_status,priority:1"`
	SenderAddress   string  `gorm:"size:500;not null"`
	ReceiverAddress string  `gorm:"size:500;not null"`
	LocationID      *uint64 `gorm:"index:ix_shipments_location"`
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

func (shipmentRowV1) TableName() string { return "shipments" }
