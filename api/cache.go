package api

import (
	"container/list"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/shiptrack/shiptrack/shipment"
)

// Cache keeps rendered answers (single shipments and pages) in memory,
// bounded in bytes, least recently used first out. It is only as correct as
// the change feed that drives it, so it serves nothing until Apply has seen
// the feed listening, and nothing while the feed is lost.
//
// Invalidation is by sequence number: every change gets the next number,
// and an answer is kept only if no change that touches it is numbered after
// the moment its database read began. A read that races a change is
// therefore dropped rather than cached stale, whichever finishes first.
type Cache struct {
	max int64

	mu    sync.Mutex
	on    bool
	seq   uint64            // number of the last change applied
	all   uint64            // number of the last change that touched everything
	locs  map[uint64]uint64 // location → number of its last weather change
	items map[string]*list.Element
	lru   list.List // front = most recently used; values are *cacheEntry
	size  int64

	hits, misses atomic.Uint64
}

// cacheEntry is one rendered answer.
type cacheEntry struct {
	key  string
	body []byte
	link string // the Link header of a page ("" for none)
	// locs are the locations whose weather the answer shows (or would,
	// once fetched).
	locs []uint64
	read uint64 // Cache.seq when the database read began
	// expires is when a weather in the answer turns stale, which changes
	// the answer without any write; zero = never.
	expires time.Time
}

// entryOverhead approximates the bookkeeping bytes of one entry (map slot,
// list element, struct), so many small answers cannot exceed the budget.
const entryOverhead = 256

// size is what e counts against the cache's budget.
func (e *cacheEntry) size() int64 {
	return int64(len(e.key)+len(e.body)+len(e.link)+8*len(e.locs)) + entryOverhead
}

// maxLocationMarks bounds the per-location change marks; past it, one
// full flush replaces them.
const maxLocationMarks = 1 << 20

// NewCache returns a cache holding at most maxBytes of answers. It stays
// off until Apply receives shipment.ChangeListening.
func NewCache(maxBytes int64) *Cache {
	return &Cache{max: maxBytes, locs: make(map[uint64]uint64), items: make(map[string]*list.Element)}
}

// Apply updates the cache for one change reported by the store; it is
// meant as the callback of store.Store.WatchChanges.
func (c *Cache) Apply(ch shipment.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	switch ch.Kind {
	case shipment.ChangeListening:
		// Anything may have changed while nobody listened.
		c.flushLocked()
		c.on = true
	case shipment.ChangeLost:
		c.flushLocked()
		c.on = false
	case shipment.ChangeWeather:
		c.locs[ch.Location] = c.seq
		if len(c.locs) > maxLocationMarks {
			c.flushLocked()
		}
	default: // shipment.ChangeShipments, and anything unknown to be safe
		c.flushLocked()
	}
}

func (c *Cache) flushLocked() {
	c.all = c.seq
	clear(c.locs)
	clear(c.items)
	c.lru.Init()
	c.size = 0
}

// begin returns the token a database read that may be cached must carry to
// put: the number of the last change seen before the read. ok is false
// when the cache is off.
func (c *Cache) begin() (token uint64, ok bool) {
	if c == nil {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq, c.on
}

// get returns the answer cached under key if no change since its read
// touches it and it has not expired by now.
func (c *Cache) get(key string, now time.Time) (*cacheEntry, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, found := c.items[key]
	return c.hitLocked(el, found, now)
}

// getBytes is get for a key built in a buffer: looking it up allocates no
// string, which a cache hit would otherwise pay for.
func (c *Cache) getBytes(key []byte, now time.Time) (*cacheEntry, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, found := c.items[string(key)]
	return c.hitLocked(el, found, now)
}

// hitLocked returns the entry of el, found by a lookup, if it is still
// valid; it counts the hit or miss.
func (c *Cache) hitLocked(el *list.Element, found bool, now time.Time) (*cacheEntry, bool) {
	if !found || !c.on {
		c.misses.Add(1)
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !c.validLocked(e) || (!e.expires.IsZero() && now.After(e.expires)) {
		c.removeLocked(el)
		c.misses.Add(1)
		return nil, false
	}
	c.lru.MoveToFront(el)
	c.hits.Add(1)
	return e, true
}

// validLocked reports whether no change applied since e's read touches it.
func (c *Cache) validLocked(e *cacheEntry) bool {
	if e.read < c.all {
		return false
	}
	for _, l := range e.locs {
		if c.locs[l] > e.read {
			return false
		}
	}
	return true
}

// put stores e (whose read began at token e.read) unless a change since
// then touches it, or it is too large to be worth a slot.
func (c *Cache) put(e *cacheEntry) {
	if c == nil {
		return
	}
	n := e.size()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on || n > c.max/4 || !c.validLocked(e) {
		return
	}
	if old, found := c.items[e.key]; found {
		c.removeLocked(old)
	}
	c.items[e.key] = c.lru.PushFront(e)
	c.size += n
	for c.size > c.max {
		c.removeLocked(c.lru.Back())
	}
}

func (c *Cache) removeLocked(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.items, e.key)
	c.size -= e.size()
}

// CacheStats are the cache's counters since it was made.
type CacheStats struct {
	On           bool
	Entries      int
	Bytes        int64
	Hits, Misses uint64
}

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{On: c.on, Entries: len(c.items), Bytes: c.size, Hits: c.hits.Load(), Misses: c.misses.Load()}
}

// register exports the cache's counters as shiptrack_cache_* metrics.
// The two counters are read at scrape time; the library has no counter
// that calls a function, so they are written as counters directly.
func (c *Cache) register(set *metrics.Set) {
	gauge := func(name string, f func(CacheStats) float64) {
		set.NewGauge("shiptrack_cache_"+name, func() float64 { return f(c.Stats()) })
	}
	gauge("entries", func(s CacheStats) float64 { return float64(s.Entries) })
	gauge("bytes", func(s CacheStats) float64 { return float64(s.Bytes) })
	gauge("on", func(s CacheStats) float64 {
		if s.On {
			return 1
		}
		return 0
	})
	set.RegisterMetricsWriter(func(w io.Writer) {
		s := c.Stats()
		metrics.WriteCounterUint64(w, "shiptrack_cache_hits_total", s.Hits)
		metrics.WriteCounterUint64(w, "shiptrack_cache_misses_total", s.Misses)
	})
}
