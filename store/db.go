package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/shiptrack/shiptrack/redact"
	"github.com/shiptrack/shiptrack/shipment"
)

// Store reads and writes shiptrack's data through GORM. It is safe for
// concurrent use.
type Store struct {
	// db is the one handle every read and write goes through.
	db *gorm.DB
	// sqlDB is db's pool, for what needs database/sql itself: goose and
	// the change listener's own connection.
	sqlDB  *sql.DB
	driver string // "sqlite" or "postgres"
	url    string // for the change listener's own connection
	// readSlots admits the read path's statements in arrival order (see
	// readSlotCount).
	readSlots chan struct{}
	// createdDB is the PostgreSQL database Open created (CreatedDatabase).
	createdDB string
}

const (
	// poolSize is the most connections the store opens.
	poolSize = 20
	// readSlotCount bounds the reads (Get, List) running at once, below
	// poolSize so the weather workers, the change feed and imports always
	// find a connection. Under load, reads queue for a slot rather than
	// for a connection: database/sql hands a freed connection to a random
	// waiter, which left some requests waiting several times longer than
	// others (lookup p99 20 ms against 13 ms with the slots, at the same
	// throughput); a channel's waiters are served first come, first
	// served.
	readSlotCount = 16
	// sqliteReadSlots is readSlotCount on SQLite: one read at a time. A
	// goroutine inside a cgo call keeps its P until sysmon takes it back,
	// so with 16 reads in SQLite at once and GOMAXPROCS=2 the HTTP and
	// JSON work waited behind them (database-path p99 80-86 ms at 64
	// connections). One slot keeps at most one P in cgo, and the other
	// serves HTTP; a point read is short, so the FIFO queue drains fast.
	// Measured against 2, 4 and 16 slots and GOMAXPROCS 4 and 8: the
	// lowest median p99 at 1.03x today's throughput (docs/benchmarks.md,
	// 2026-12-02; issue 17).
	sqliteReadSlots = 1
)

// readSlotsFor is the number of read slots for driver.
func readSlotsFor(driver string) int {
	if driver == "sqlite" {
		return sqliteReadSlots
	}
	return readSlotCount
}

// acquireRead waits for a read slot, or until ctx is done; releaseRead
// gives it back.
func (s *Store) acquireRead(ctx context.Context) error {
	select {
	case s.readSlots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) releaseRead() { <-s.readSlots }

// Open connects to the database named by url ("sqlite:PATH" or
// "postgres://...") and applies the pending migrations (migrate.go). A
// PostgreSQL database that does not exist is created when the user may
// (see CreatedDatabase).
func Open(ctx context.Context, url string) (*Store, error) { return open(ctx, url, true) }

// open is Open, with the migrations left to the caller when migrate is
// false.
func open(ctx context.Context, url string, migrate bool) (_ *Store, err error) {
	// Drivers quote the URL in their errors, password and all (pgx for a
	// password= parameter, net/url for a malformed one).
	defer func() { err = redact.Error(err, redact.Secrets(url)...) }()
	var (
		dial   gorm.Dialector
		driver string
	)
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		// pgx waits for an unreachable server indefinitely by default.
		url = withParam(url, "connect_timeout", "10")
		dial, driver = postgres.Open(url), "postgres"
	case strings.HasPrefix(url, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
		if path == "" {
			return nil, errors.New("store: sqlite URL has no file path")
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		// WAL lets readers run beside the weather workers' writes;
		// immediate transactions and a busy timeout make writers queue
		// instead of failing with "database is locked". The statement
		// cache keeps the read path's statements prepared per connection:
		// preparing them was a fifth of a SQLite lookup's CPU.
		dial, driver = sqlite.Open(path+sep+"_journal_mode=WAL&_busy_timeout=10000&_txlock=immediate&_foreign_keys=on&_synchronous=NORMAL&_stmt_cache_size=32"), "sqlite"
	default:
		return nil, fmt.Errorf("store: unsupported database URL %q (want sqlite:PATH or postgres://...)", redact.URL(url))
	}
	db, err := gorm.Open(dial, &gorm.Config{
		// Pinged below with ctx, so start-up and imports obey deadlines.
		DisableAutomaticPing:   true,
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		// No GORM statement cache: inside a transaction it prepares every
		// statement anew on the transaction's connection and keeps it
		// until commit, so a 1,000,000-row import held thousands of
		// prepared batch statements (2.1 GB RSS on SQLite). The drivers
		// cache statements per connection themselves (pgx by default,
		// SQLite through _stmt_cache_size).
		PrepareStmt: false,
		NowFunc:     func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", driver, wrapUnavailable(err))
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	sqlDB.SetMaxOpenConns(poolSize)
	sqlDB.SetMaxIdleConns(poolSize)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{db: db, sqlDB: sqlDB, driver: driver, url: url, readSlots: make(chan struct{}, readSlotsFor(driver))}
	err = s.Ping(ctx)
	if err != nil && driver == "postgres" && missingDatabase(err) {
		// A fresh server has no shiptrack database: make it, as the
		// schema is made, rather than fail the first start.
		if s.createdDB, err = createDatabase(ctx, url); err == nil {
			err = s.Ping(ctx)
		}
	}
	if err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	if migrate {
		if _, err := s.migrate(ctx); err != nil {
			_ = sqlDB.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close closes the database connections.
func (s *Store) Close() error { return s.sqlDB.Close() }

// Driver names the database in use: "sqlite" or "postgres".
func (s *Store) Driver() string { return s.driver }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", onceEach{wrapUnavailable(err)})
	}
	return nil
}

// The row types, one per table, are what writes store and reads scan into
// (query.go). A field is a column; the read statements select every
// column of shipments, locations, weather and articles except those tagged
// read:"-" (read:"-" only leaves a column out of the lookups' SELECT).
// Adding a column: a migration in migrations/{postgres,sqlite}, the field
// here, the domain type's field and its conversion method (location(),
// weather(), article(), shipment()), and the JSON in api.

type locationRow struct {
	ID         uint64 `gorm:"primaryKey"`
	Key        string `gorm:"size:400;not null;uniqueIndex:ux_locations_key" read:"-"`
	PostalCode string `gorm:"size:32;not null"`
	City       string `gorm:"size:200;not null"`
	Country    string `gorm:"size:200;not null"`
	// PlaceKey is the question the weather provider is asked about this
	// location (city and country, folded); locations with the same key
	// share one weather row, so one call serves them all.
	PlaceKey string `gorm:"size:400;not null;default:'';index:ix_locations_place" read:"-"`
	// WeatherLocationID is the location whose weather row serves this one:
	// the lowest id with the same PlaceKey (itself for the first).
	WeatherLocationID *uint64   `gorm:"index:ix_locations_weather"`
	CreatedAt         time.Time `read:"-"`
}

func (locationRow) TableName() string { return "locations" }

type shipmentRow struct {
	ID             uint64 `gorm:"primaryKey;index:ix_shipments_updated,priority:2"`
	CarrierKey     string `gorm:"size:64;not null;uniqueIndex:ux_shipments_carrier_tracking,priority:1;index:ix_shipments_status,priority:2"`
	TrackingNumber string `gorm:"size:64;not null;uniqueIndex:ux_shipments_carrier_tracking,priority:2;index:ix_shipments_status,priority:3"`
	// TrackingNumber is normalised (NormalizeTrackingNumber);
	// TrackingDisplay is the spelling the shipment came with, for answers.
	TrackingDisplay string `gorm:"size:100;not null;default:''"`
	Carrier         string `gorm:"size:64;not null"`
	// Status is the normalised status of the latest event (pending when
	// there is none), StatusText that event's carrier wording.
	Status        string `gorm:"size:64;not null;index:ix_shipments_status,priority:1"`
	StatusText    string `gorm:"size:256;not null;default:''"`
	SenderAddress string `gorm:"size:500;not null"`
	// ReceiverAddress is named "receiver_address" by GORM's naming.
	ReceiverAddress string  `gorm:"size:500;not null"`
	LocationID      *uint64 `gorm:"index:ix_shipments_location" read:"-"` // the joined location's id is read
	CreatedAt       time.Time
	// UpdatedAt orders the incremental sync (ListParams.UpdatedSince),
	// with ID as the tie-break.
	UpdatedAt time.Time `gorm:"index:ix_shipments_updated,priority:1"`
}

func (shipmentRow) TableName() string { return "shipments" }

// eventRow is one tracking event. A shipment's events are read newest
// first through ix_events_shipment_time, scanned backwards; the unique
// index makes an event id count once per shipment.
type eventRow struct {
	ID         uint64    `gorm:"primaryKey;index:ix_events_shipment_time,priority:3"`
	ShipmentID uint64    `gorm:"not null;uniqueIndex:ux_events_shipment_event,priority:1;index:ix_events_shipment_time,priority:1"`
	EventID    string    `gorm:"size:128;not null;uniqueIndex:ux_events_shipment_event,priority:2"`
	OccurredAt time.Time `gorm:"not null;index:ix_events_shipment_time,priority:2"`
	Status     string    `gorm:"size:64;not null"`
	StatusText string    `gorm:"size:256;not null"`
	Location   string    `gorm:"size:300;not null;default:''"`
	Message    string    `gorm:"size:1000;not null;default:''"`
	Source     string    `gorm:"size:16;not null"`
	CreatedAt  time.Time
}

func (eventRow) TableName() string { return "events" }

type articleRow struct {
	ID         uint64 `gorm:"primaryKey"`
	ShipmentID uint64 `gorm:"not null;index:ix_articles_shipment,priority:1" read:"-"`
	Position   int    `gorm:"not null;index:ix_articles_shipment,priority:2" read:"-"`
	Name       string `gorm:"size:300;not null"`
	Quantity   int    `gorm:"not null"`
	PriceCents int64  `gorm:"not null"`
	SKU        string `gorm:"column:sku;size:100;not null"`
}

func (articleRow) TableName() string { return "articles" }

type weatherRow struct {
	LocationID    uint64 `gorm:"primaryKey;autoIncrement:false"`
	Query         string `gorm:"size:400;not null;default:''"`
	TemperatureC  float64
	Condition     string `gorm:"size:200;not null;default:''"`
	ConditionCode string `gorm:"size:32;not null;default:''"`
	Humidity      int
	WindKph       float64
	ObservedAt    *time.Time
	FetchedAt     *time.Time `gorm:"index:ix_weather_fetched"`
	Provider      string     `gorm:"size:32;not null;default:''"`
	LastError     string     `gorm:"size:1000;not null;default:''"`
	LastAttemptAt *time.Time
	// NextAttemptAt holds a location back: until a retry after a temporary
	// failure (backoff), or for a day when the provider does not know it.
	NextAttemptAt *time.Time
	// Failures counts consecutive temporary failures, for the backoff.
	Failures int `gorm:"not null;default:0"`
	// QueuedAt is when a refresh job for the location was last queued: a
	// location is queued once per window and once per retry, not on every
	// tick of every replica.
	QueuedAt *time.Time `read:"-"`
	// ClaimOwner and ClaimedUntil make "one provider call per location per
	// interval" a property of the data: a worker fetches only after it won
	// the conditional update that sets them.
	ClaimOwner   string     `gorm:"size:100;not null;default:''" read:"-"`
	ClaimedUntil *time.Time `read:"-"`
}

func (weatherRow) TableName() string { return "weather" }

type budgetRow struct {
	Day      string `gorm:"primaryKey;size:10"`
	Provider string `gorm:"primaryKey;size:32"`
	Calls    int64  `gorm:"not null"`
}

func (budgetRow) TableName() string { return "provider_budget" }

// windowRow is the current refresh window, shared by every replica: each
// location is fetched once per window, and a window opens when the
// interval since the last one has passed (see AdvanceWindow).
type windowRow struct {
	Name      string    `gorm:"primaryKey;size:32"`
	Seq       int64     `gorm:"not null"`
	StartedAt time.Time `gorm:"not null"`
}

func (windowRow) TableName() string { return "refresh_windows" }

// webhookEndpointRow is a webhook subscription (issue 16). Secret signs
// deliveries; after a rotation PreviousSecret signs them too until
// PreviousSecretUntil, so receivers can switch without missing one.
// Statuses and Carriers are comma-separated filters (normalised statuses,
// carrier keys); empty matches all. PausedAt is set, with PauseReason,
// after Failures consecutive failed attempts reach the threshold.
type webhookEndpointRow struct {
	ID                  uint64 `gorm:"primaryKey"`
	URL                 string `gorm:"column:url;size:2048;not null"`
	Secret              string `gorm:"size:100;not null"`
	PreviousSecret      string `gorm:"size:100;not null;default:''"`
	PreviousSecretUntil *time.Time
	Statuses            string `gorm:"size:1000;not null;default:''"`
	Carriers            string `gorm:"size:1000;not null;default:''"`
	CreatedAt           time.Time
	PausedAt            *time.Time
	PauseReason         string `gorm:"size:1000;not null;default:''"`
	Failures            int    `gorm:"not null;default:0"`
}

func (webhookEndpointRow) TableName() string { return "webhook_endpoints" }

// webhookDeliveryRow is one notification of one endpoint: the outbox row,
// written in the transaction of the status change. Status is pending,
// delivered or failed. The body is built when it is sent (the shipment as
// a lookup then returns it); Event and PreviousStatus/NewStatus say what
// changed. ClaimedUntil is the lease of the replica that pushed it.
type webhookDeliveryRow struct {
	ID             uint64    `gorm:"primaryKey;index:ix_webhook_deliveries_endpoint,priority:2;index:ix_webhook_deliveries_pending,priority:3,where:status = 'pending'"`
	DeliveryID     string    `gorm:"size:64;not null;uniqueIndex:ux_webhook_deliveries_delivery"`
	EndpointID     uint64    `gorm:"not null;index:ix_webhook_deliveries_endpoint,priority:1;index:ix_webhook_deliveries_pending,priority:1,where:status = 'pending'"`
	ShipmentID     uint64    `gorm:"not null;index:ix_webhook_deliveries_pending,priority:2,where:status = 'pending'"`
	EventType      string    `gorm:"size:64;not null"`
	PreviousStatus string    `gorm:"size:64;not null;default:''"`
	NewStatus      string    `gorm:"size:64;not null;default:''"`
	Status         string    `gorm:"size:16;not null;index:ix_webhook_deliveries_due,priority:1;index:ix_webhook_deliveries_attempted,priority:2"`
	Attempts       int       `gorm:"not null;default:0"`
	NextAttemptAt  time.Time `gorm:"not null;index:ix_webhook_deliveries_due,priority:2"`
	ClaimedUntil   *time.Time
	FirstAttemptAt *time.Time
	LastStatusCode int    `gorm:"not null;default:0"`
	LastError      string `gorm:"size:1000;not null;default:''"`
	LastDurationMs int64  `gorm:"not null;default:0"`
	CreatedAt      time.Time
	DeliveredAt    *time.Time
	// LastAttemptAt is when the latest attempt was made (migration 10,
	// for GET /webhooks/status).
	LastAttemptAt *time.Time `gorm:"index:ix_webhook_deliveries_attempted,priority:1"`
}

func (webhookDeliveryRow) TableName() string { return "webhook_deliveries" }

// wrapUnavailable marks connection failures with ErrUnavailable so the API
// can answer 503 instead of 500.
func wrapUnavailable(err error) error {
	// A request whose client went away is not a database outage.
	if err == nil || errors.Is(err, shipment.ErrUnavailable) || errors.Is(err, context.Canceled) {
		return err
	}
	var (
		netErr  net.Error
		connErr *pgconn.ConnectError
		pgErr   *pgconn.PgError
	)
	// A pooled connection whose server crashed or restarted fails its next
	// query with an EOF, or with the server's own connection_exception
	// (08xxx) / operator_intervention (57P0x: shutting down, starting up).
	if errors.As(err, &netErr) || errors.As(err, &connErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		(errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P"))) ||
		strings.Contains(err.Error(), "bad connection") || strings.Contains(err.Error(), "conn closed") {
		return fmt.Errorf("%w: %w", shipment.ErrUnavailable, err)
	}
	return err
}

// withParam adds name=value to a URL's query unless it is set already.
func withParam(url, name, value string) string {
	if strings.Contains(url, name+"=") {
		return url
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + name + "=" + value
}

// SQL returns the underlying connection pool, for its statistics. The error
// is always nil; it stays so callers need not change.
func (s *Store) SQL() (*sql.DB, error) { return s.sqlDB, nil }

// eachRow calls scan for every row of a query's result (rows and err as
// QueryContext returned them), and closes it.
func eachRow(rows *sql.Rows, err error, scan func(*sql.Rows) error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
