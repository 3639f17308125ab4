package api

import (
	"context"
	"strconv"
	"time"

	"github.com/shiptrack/shiptrack/shipment"
)

// readCache decorates the store's two reads (Shipments) with the read
// cache. It owns everything caching needs: the keys, the token a read
// carries (Cache.begin), and what an answer depends on (its locations'
// weather, when that turns stale); the store's change feed, applied to the
// Cache by the caller (Cache.Apply), invalidates. With no Cache, every read
// goes to the store.
//
// Its reads return the answer's rendered bytes on a hit rather than the
// shipments: rendering is most of a miss's CPU (a page of 100 is 20 times
// a cache hit), so the handlers render a miss once and keep the bytes in
// the slot the read hands them.
type readCache struct {
	next       Shipments
	cache      *Cache
	staleAfter time.Duration
	now        func() time.Time
}

// read is one read through the cache: hit is the cached answer, or v is
// what the store returned and slot, when not nil, is where its rendering
// is kept (readCache.keep).
type read[T any] struct {
	hit  *cacheEntry
	v    T
	slot *cacheEntry
	now  time.Time // the time v was read at: weather staleness is relative to it
}

// Get is Shipments.Get through the cache; fresh skips the cache (the
// answer still refills it).
func (r *readCache) Get(ctx context.Context, fresh bool, carrier, trackingNumber string) (read[shipment.Shipment], error) {
	now := r.now()
	var buf [128]byte
	key := append(buf[:0], "shipment\x00"...)
	key = append(key, shipment.CarrierKey(carrier)...)
	key = append(key, 0)
	key = append(key, shipment.NormalizeTrackingNumber(trackingNumber)...)
	if e, ok := r.lookup(key, fresh, now); ok {
		return read[shipment.Shipment]{hit: e}, nil
	}
	token, cacheable := r.cache.begin()
	sh, err := r.next.Get(ctx, carrier, trackingNumber)
	if err != nil {
		return read[shipment.Shipment]{}, err
	}
	out := read[shipment.Shipment]{v: sh, now: now}
	if cacheable {
		out.slot = r.entry(string(key), token, now, sh)
	}
	return out, nil
}

// List is Shipments.List through the cache. path is the route the page
// was asked on: it is part of the page's Link header, kept with it.
func (r *readCache) List(ctx context.Context, fresh bool, path string, p shipment.ListParams) (read[shipment.Page], error) {
	now := r.now()
	var buf [256]byte
	key := append(buf[:0], "list\x00"...)
	key = append(key, path...)
	key = append(key, 0)
	key = strconv.AppendInt(key, int64(p.Limit), 10)
	key = append(key, 0)
	key = append(key, p.Cursor...)
	key = append(key, 0)
	key = append(key, shipment.CarrierKey(p.Carrier)...)
	key = append(key, 0)
	key = append(key, p.Status...)
	key = append(key, 0)
	if !p.UpdatedSince.IsZero() {
		key = p.UpdatedSince.UTC().AppendFormat(key, time.RFC3339Nano)
	}
	if e, ok := r.lookup(key, fresh, now); ok {
		return read[shipment.Page]{hit: e}, nil
	}
	token, cacheable := r.cache.begin()
	page, err := r.next.List(ctx, p)
	if err != nil {
		return read[shipment.Page]{}, err
	}
	out := read[shipment.Page]{v: page, now: now}
	if cacheable {
		out.slot = r.entry(string(key), token, now, page.Shipments...)
	}
	return out, nil
}

// keep puts body, the rendering of the read that handed out slot, in the
// cache; a nil slot is not cacheable.
func (r *readCache) keep(slot *cacheEntry, body []byte) {
	if slot == nil {
		return
	}
	slot.body = body
	r.cache.put(slot)
}

// lookup returns the cache's answer for key, unless the request wants a
// fresh one.
func (r *readCache) lookup(key []byte, fresh bool, now time.Time) (*cacheEntry, bool) {
	if fresh || r.cache == nil {
		return nil, false
	}
	return r.cache.getBytes(key, now)
}

// entry describes an answer for the cache, before it is rendered: the
// locations whose weather it shows, and when a weather in it turns stale.
func (r *readCache) entry(key string, token uint64, now time.Time, shipments ...shipment.Shipment) *cacheEntry {
	e := &cacheEntry{key: key, read: token}
	seen := make(map[uint64]bool, len(shipments))
	for _, sh := range shipments {
		if sh.Location == nil {
			continue
		}
		// Marked by the location whose weather row it shows: that row's
		// changes are what the change feed reports.
		if id := sh.Location.WeatherID; !seen[id] {
			seen[id] = true
			e.locs = append(e.locs, id)
		}
		if w := sh.Weather; w != nil && !w.FetchedAt.IsZero() && w.LastError == "" {
			if staleAt := w.FetchedAt.Add(r.staleAfter); staleAt.After(now) && (e.expires.IsZero() || staleAt.Before(e.expires)) {
				e.expires = staleAt
			}
		}
	}
	return e
}
