package api

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/shipment"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// listening returns a cache whose change feed is up.
func listening(t *testing.T, maxBytes int64) *Cache {
	t.Helper()
	c := NewCache(maxBytes)
	c.Apply(shipment.Change{Kind: shipment.ChangeListening})
	return c
}

// fill caches body under key as a read that began now and showed locs.
func fill(t *testing.T, c *Cache, key string, locs ...uint64) {
	t.Helper()
	token, ok := c.begin()
	if !ok {
		t.Fatal("cache is off")
	}
	c.put(&cacheEntry{key: key, body: []byte("body of " + key), locs: locs, read: token})
}

func TestCacheInvalidation(t *testing.T) {
	tests := []struct {
		name   string
		change shipment.Change
		hitA   bool // entry "a" shows location 1
		hitB   bool // entry "b" shows location 2
		hitNil bool // entry "n" shows no location
	}{
		{"weather of location 1", shipment.Change{Kind: shipment.ChangeWeather, Location: 1}, false, true, true},
		{"weather of another location", shipment.Change{Kind: shipment.ChangeWeather, Location: 9}, true, true, true},
		{"shipments", shipment.Change{Kind: shipment.ChangeShipments}, false, false, false},
		{"feed lost", shipment.Change{Kind: shipment.ChangeLost}, false, false, false},
		{"feed back", shipment.Change{Kind: shipment.ChangeListening}, false, false, false},
		{"unknown kind", shipment.Change{Kind: shipment.ChangeKind(99)}, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := listening(t, 1<<20)
			fill(t, c, "a", 1)
			fill(t, c, "b", 2, 3)
			fill(t, c, "n")
			for _, k := range []string{"a", "b", "n"} {
				if _, ok := c.get(k, t0); !ok {
					t.Fatalf("%s not cached before the change", k)
				}
			}
			c.Apply(tt.change)
			for k, want := range map[string]bool{"a": tt.hitA, "b": tt.hitB, "n": tt.hitNil} {
				if _, ok := c.get(k, t0); ok != want {
					t.Errorf("after %v: hit %s = %v, want %v", tt.change, k, ok, want)
				}
			}
		})
	}
}

// A read that began before a change and ends after it must not be cached:
// it may hold what the change replaced.
func TestCacheDropsReadsRacingAChange(t *testing.T) {
	tests := []struct {
		name   string
		change shipment.Change
		locs   []uint64
		cached bool
	}{
		{"weather of its location", shipment.Change{Kind: shipment.ChangeWeather, Location: 1}, []uint64{1}, false},
		{"weather elsewhere", shipment.Change{Kind: shipment.ChangeWeather, Location: 2}, []uint64{1}, true},
		{"shipments", shipment.Change{Kind: shipment.ChangeShipments}, []uint64{1}, false},
		{"feed lost", shipment.Change{Kind: shipment.ChangeLost}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := listening(t, 1<<20)
			token, _ := c.begin()
			c.Apply(tt.change) // lands while the read is in flight
			c.put(&cacheEntry{key: "k", body: []byte("x"), locs: tt.locs, read: token})
			if _, ok := c.get("k", t0); ok != tt.cached {
				t.Errorf("cached = %v, want %v", ok, tt.cached)
			}
		})
	}
}

func TestCacheOffUntilListening(t *testing.T) {
	c := NewCache(1 << 20)
	if _, ok := c.begin(); ok {
		t.Fatal("a new cache is on before its feed listens")
	}
	c.put(&cacheEntry{key: "k", body: []byte("x")})
	if _, ok := c.get("k", t0); ok {
		t.Fatal("cached while off")
	}
	c.Apply(shipment.Change{Kind: shipment.ChangeListening})
	fill(t, c, "k")
	if _, ok := c.get("k", t0); !ok {
		t.Fatal("not cached once listening")
	}
	c.Apply(shipment.Change{Kind: shipment.ChangeLost})
	if _, ok := c.begin(); ok {
		t.Fatal("on after the feed was lost")
	}

	var nilCache *Cache // a server without a cache
	if _, ok := nilCache.begin(); ok {
		t.Fatal("nil cache on")
	}
	nilCache.put(&cacheEntry{key: "k"})
	if _, ok := nilCache.get("k", t0); ok {
		t.Fatal("nil cache hit")
	}
}

func TestCacheExpiresWhenWeatherTurnsStale(t *testing.T) {
	c := listening(t, 1<<20)
	token, _ := c.begin()
	c.put(&cacheEntry{key: "k", body: []byte("x"), read: token, expires: t0.Add(time.Hour)})
	if _, ok := c.get("k", t0.Add(time.Hour)); !ok {
		t.Fatal("expired at its expiry instant; stale means older than the interval")
	}
	if _, ok := c.get("k", t0.Add(time.Hour+time.Second)); ok {
		t.Fatal("served after its weather turned stale")
	}
}

func TestCacheStaysWithinBudget(t *testing.T) {
	const budget = 64 << 10
	c := listening(t, budget)
	body := strings.Repeat("x", 1000)
	for i := range 1000 {
		token, _ := c.begin()
		c.put(&cacheEntry{key: fmt.Sprint(i), body: []byte(body), read: token})
		if _, ok := c.get("0", t0); !ok && i < 10 {
			t.Fatalf("entry 0, used after every put, was evicted at %d", i)
		}
	}
	st := c.Stats()
	if st.Bytes > budget {
		t.Fatalf("holds %d bytes, budget %d", st.Bytes, budget)
	}
	if st.Entries < 40 {
		t.Fatalf("only %d entries of ~1.3 KB in a 64 KiB budget", st.Entries)
	}
	if _, ok := c.get("0", t0); !ok {
		t.Error("the most used entry was evicted before the least used ones")
	}
	if _, ok := c.get("1", t0); ok {
		t.Error("an old, unused entry survived 1000 puts")
	}
	// Too large for a fair share: not cached at all.
	token, _ := c.begin()
	c.put(&cacheEntry{key: "big", body: make([]byte, budget/2), read: token})
	if _, ok := c.get("big", t0); ok {
		t.Error("an answer of half the budget was cached")
	}
}

// Run with -race: readers, writers and changes at once.
func TestCacheConcurrentUse(t *testing.T) {
	c := listening(t, 1<<20)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				key := fmt.Sprint(i % 50)
				if _, ok := c.get(key, t0); !ok {
					token, _ := c.begin()
					c.put(&cacheEntry{key: key, body: []byte(key), locs: []uint64{uint64(i % 7)}, read: token})
				}
				if g == 0 && i%100 == 0 {
					c.Apply(shipment.Change{Kind: shipment.ChangeWeather, Location: uint64(i % 7)})
				}
			}
		}()
	}
	wg.Wait()
	if st := c.Stats(); st.Hits == 0 || st.Misses == 0 {
		t.Errorf("stats = %+v", st)
	}
}
