// Package storetest opens throwaway databases for tests: a SQLite file in
// a temporary directory, or a fresh PostgreSQL database that is dropped
// when the test ends.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/shiptrack/shiptrack/internal/testenv"
	"github.com/shiptrack/shiptrack/store"
)

// Drivers are the databases every store-backed test runs against.
var Drivers = []string{"sqlite", "postgres"}

// AdminURL is the PostgreSQL server tests create their databases on:
// testenv.DatabaseURL.
func AdminURL() string { return testenv.DatabaseURL() }

// URL returns the URL of a new, empty database of the given driver that is
// removed when t ends.
func URL(t testing.TB, driver string) string {
	t.Helper()
	switch driver {
	case "sqlite":
		return "sqlite:" + t.TempDir() + "/test.db"
	case "postgres":
		return postgresDB(t)
	}
	t.Fatalf("storetest: unknown driver %q", driver)
	return ""
}

// Open opens a migrated store on a new, empty database.
func Open(t testing.TB, driver string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), URL(t, driver))
	if err != nil {
		t.Fatalf("storetest: open %s: %v", driver, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func postgresDB(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	admin := AdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		where := admin
		if u, perr := url.Parse(admin); perr == nil {
			where = u.Redacted()
		}
		testenv.Missing(t, "PostgreSQL at "+where+" (or set SHIPTRACK_TEST_DATABASE_URL)", err)
	}
	defer conn.Close(ctx)
	dbURL, name := MissingDatabase(t)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("storetest: create database: %v", err)
	}
	return dbURL
}

// MissingDatabase returns the URL and name of a PostgreSQL database on
// AdminURL that does not exist yet and is dropped, if made, when t ends.
func MissingDatabase(t testing.TB) (dbURL, name string) {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name = "shiptrack_test_" + hex.EncodeToString(b)
	admin := AdminURL()
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			t.Errorf("storetest: drop %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	u.Path = "/" + name
	return u.String(), name
}
