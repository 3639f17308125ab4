package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shiptrack/shiptrack/redact"
	"github.com/shiptrack/shiptrack/shipment"
)

// ErrNoChangeFeed is returned by WatchChanges when the database cannot
// report changes (an in-memory SQLite database).
var ErrNoChangeFeed = errors.New("store: database reports no changes")

const (
	// changeChannel is the PostgreSQL NOTIFY channel the triggers
	// (migrations/postgres/00002_change_feed.sql, and for tracking events
	// 00007_events_change_feed.sql) use.
	changeChannel = "shiptrack_changes"
	// changeFeedApp is the listener connection's application_name, so it
	// can be told apart in pg_stat_activity.
	changeFeedApp        = "shiptrack-change-feed"
	changeConnectTimeout = 10 * time.Second
	changeMinBackoff     = 100 * time.Millisecond
	changeMaxBackoff     = 5 * time.Second
	// changeIdleCheck is how long the feed waits without a notification
	// before it checks that its connection is alive.
	changeIdleCheck = 30 * time.Second
)

// WatchChanges calls fn, from a single goroutine and in commit order, for
// every committed change, from whichever process made it, until ctx is
// done; then it returns ctx.Err().
//
// The first call of fn reports ChangeListening once the feed is
// following the database; changes committed before then are not
// reported. When the feed fails, fn gets ChangeLost, and WatchChanges
// reconnects with a growing delay (up to 5 seconds) and reports
// ChangeListening again: a cache should treat everything as changed at
// ChangeLost or ChangeListening. A database that cannot be reached delays
// the first ChangeListening; it is no error.
//
// On PostgreSQL it listens for the triggers' notifications on a
// connection of its own; a connection silent for 30 seconds is pinged, so
// one that died without a word is noticed within about 40 seconds. fn
// should return quickly: while it runs, later changes wait in
// PostgreSQL's notification queue, which is shared by the whole server.
//
// SQLite cannot notify: a connection of the pool, held for the feed and
// never used to write, reads PRAGMA data_version every 100 ms, which moves
// when any other connection, of this process or another, commits. So a
// change is reported within about 100 ms, and always as ChangeShipments:
// the number does not say what changed. An in-memory SQLite database is
// not shared with other processes and has no feed: WatchChanges returns
// ErrNoChangeFeed at once (see CanWatchChanges).
func (s *Store) WatchChanges(ctx context.Context, fn func(shipment.Change)) error {
	var follow func(ctx context.Context, fn func(shipment.Change), backoff *time.Duration) error
	switch {
	case s.driver == "postgres":
		cfg, err := pgx.ParseConfig(s.url)
		if err != nil {
			return fmt.Errorf("store: change feed: %w", redact.Error(err, redact.Secrets(s.url)...))
		}
		cfg.RuntimeParams["application_name"] = changeFeedApp
		follow = func(ctx context.Context, fn func(shipment.Change), backoff *time.Duration) error {
			return s.listenChanges(ctx, cfg, fn, backoff)
		}
	case s.CanWatchChanges():
		follow = s.pollChanges
	default:
		return ErrNoChangeFeed
	}
	backoff := changeMinBackoff
	for {
		// The error is a failed or lost feed: retried below.
		_ = follow(ctx, fn, &backoff)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, changeMaxBackoff)
	}
}

// CanWatchChanges reports whether WatchChanges can follow this database:
// always on PostgreSQL, and on SQLite unless the database is in memory.
func (s *Store) CanWatchChanges() bool {
	if s.driver == "postgres" {
		return true
	}
	return !strings.Contains(s.url, ":memory:") && !strings.Contains(s.url, "mode=memory")
}

// changePoll is how often the SQLite feed reads PRAGMA data_version: the
// longest a cached answer can outlive the commit that changed it.
const changePoll = 100 * time.Millisecond

// pollChanges follows a SQLite database until its connection fails or ctx
// is done. It reports ChangeLost when a following connection fails, and
// resets *backoff once it follows.
func (s *Store) pollChanges(ctx context.Context, fn func(shipment.Change), backoff *time.Duration) error {
	cctx, cancel := context.WithTimeout(ctx, changeConnectTimeout)
	defer cancel()
	// data_version ignores the commits of the connection that reads it:
	// this one is the feed's alone, and only reads.
	conn, err := s.sqlDB.Conn(cctx)
	if err != nil {
		return fmt.Errorf("store: change feed: %w", wrapUnavailable(err))
	}
	defer conn.Close()
	version := func() (v int64, err error) {
		qctx, cancel := context.WithTimeout(ctx, changeConnectTimeout)
		defer cancel()
		if err := conn.QueryRowContext(qctx, "PRAGMA data_version").Scan(&v); err != nil {
			return 0, fmt.Errorf("store: change feed: %w", wrapUnavailable(err))
		}
		return v, nil
	}
	last, err := version()
	if err != nil {
		return err
	}
	*backoff = changeMinBackoff
	fn(shipment.Change{Kind: shipment.ChangeListening})
	tick := time.NewTicker(changePoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		v, err := version()
		if err != nil {
			if ctx.Err() == nil {
				fn(shipment.Change{Kind: shipment.ChangeLost})
			}
			return err
		}
		if v != last {
			last = v
			fn(shipment.Change{Kind: shipment.ChangeShipments})
		}
	}
}

// listenChanges connects, listens and delivers notifications until the
// connection fails or ctx is done. It reports ChangeLost when a listening
// connection fails, and resets *backoff once it listens.
func (s *Store) listenChanges(ctx context.Context, cfg *pgx.ConnConfig, fn func(shipment.Change), backoff *time.Duration) error {
	cctx, cancel := context.WithTimeout(ctx, changeConnectTimeout)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		cancel()
		return fmt.Errorf("store: change feed: connect: %w", err)
	}
	defer func() {
		// ctx may be done already: closing needs a context of its own.
		closeCtx, closeCancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer closeCancel()
		_ = conn.Close(closeCtx)
	}()
	_, err = conn.Exec(cctx, "LISTEN "+changeChannel)
	cancel()
	if err != nil {
		return fmt.Errorf("store: change feed: listen: %w", err)
	}
	*backoff = changeMinBackoff
	fn(shipment.Change{Kind: shipment.ChangeListening})
	for {
		// A connection that died without a word (a silent network
		// partition) would otherwise look like a quiet one forever: after
		// changeIdleCheck without news, ask the server.
		wctx, wcancel := context.WithTimeout(ctx, changeIdleCheck)
		n, err := conn.WaitForNotification(wctx)
		wcancel()
		if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			pctx, pcancel := context.WithTimeout(ctx, changeConnectTimeout)
			err = conn.Ping(pctx)
			pcancel()
			if err == nil {
				continue
			}
		}
		if n != nil && ctx.Err() == nil {
			if c, ok := parseChange(n.Payload); ok {
				fn(c)
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				fn(shipment.Change{Kind: shipment.ChangeLost})
			}
			return fmt.Errorf("store: change feed: wait: %w", err)
		}
	}
}

// parseChange reads a trigger's payload: "s" or "w:<location id>".
func parseChange(payload string) (shipment.Change, bool) {
	if payload == "s" {
		return shipment.Change{Kind: shipment.ChangeShipments}, true
	}
	if id, ok := strings.CutPrefix(payload, "w:"); ok {
		if n, err := strconv.ParseUint(id, 10, 64); err == nil {
			return shipment.Change{Kind: shipment.ChangeWeather, Location: n}, true
		}
	}
	return shipment.Change{}, false
}
