package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/store/storetest"
)

// TestOpenCreatesDatabase: the README's PostgreSQL example names a
// database nobody made; the service makes it, once, and says so.
func TestOpenCreatesDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL, name := storetest.MissingDatabase(t)
	s, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("open a database that does not exist yet: %v", err)
	}
	if got := s.CreatedDatabase(); got != name {
		t.Errorf("CreatedDatabase() = %q, want %q", got, name)
	}
	if _, _, err := s.SeedIfEmpty(ctx); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s, err = store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.CreatedDatabase(); got != "" {
		t.Errorf("second open: CreatedDatabase() = %q, want \"\" (it existed)", got)
	}
	if n, err := s.Count(ctx); err != nil || n != 5 {
		t.Errorf("second open sees %d shipments, %v; want the 5 seeded by the first", n, err)
	}
}

// TestCreateDatabaseRace: replicas starting together on a fresh server
// all succeed; exactly one of them created the database.
func TestCreateDatabaseRace(t *testing.T) {
	t.Parallel()
	dbURL, name := storetest.MissingDatabase(t)
	const replicas = 4
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created []string
	)
	for range replicas {
		wg.Go(func() {
			got, err := store.CreateDatabaseForTest(context.Background(), dbURL)
			if err != nil {
				t.Errorf("create: %v", err)
			}
			if got != "" {
				mu.Lock()
				created = append(created, got)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(created) != 1 || created[0] != name {
		t.Errorf("created by %d replicas (%q), want exactly 1", len(created), created)
	}
}

// TestUnreachableSaysItOnce: pgx lists every connection attempt, and with
// sslmode=prefer (the default) the same refusal twice.
func TestUnreachableSaysItOnce(t *testing.T) {
	t.Parallel()
	_, err := store.Open(context.Background(), "postgres://postgres@127.0.0.1:1/shiptrack")
	if err == nil {
		t.Fatal("open on a closed port succeeded")
	}
	if !errors.Is(err, shipment.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(err.Error(), "\n") {
		if seen[l] {
			t.Errorf("line repeated in %q", err)
		}
		seen[l] = true
	}
}
