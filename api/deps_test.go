package api_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies: the API is built on the domain (package shipment) and
// the small interfaces it declares, never on the persistence, the queue or
// the scheduler behind them (issue 14): `go list -deps ./api` names no
// GORM, database driver, go-redis or gocron package, and package store is
// not among them either (the Redis rate limits live in api/redislimit).
func TestDependencies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go command not found: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := []struct{ prefix, what string }{
		{"gorm.io/", "GORM"},
		{"github.com/jackc/pgx", "PostgreSQL driver"},
		{"github.com/lib/pq", "PostgreSQL driver"},
		{"github.com/mattn/go-sqlite3", "SQLite driver"},
		{"modernc.org/sqlite", "SQLite driver"},
		{"github.com/glebarez/", "SQLite driver"},
		{"github.com/go-co-op/gocron", "gocron"},
		{"github.com/redis/go-redis", "go-redis"},
		{"github.com/go-redis/", "go-redis"},
		{"github.com/pressly/goose", "migrations"},
		{"github.com/shiptrack/shiptrack/store", "the store"},
		{"github.com/shiptrack/shiptrack/jobs", "the jobs"},
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if pkg == f.prefix || strings.HasPrefix(pkg, f.prefix) {
				t.Errorf("api depends on %s (%s)", pkg, f.what)
			}
		}
	}
}
