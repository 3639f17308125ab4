package main

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/shiptrack/shiptrack/internal/testutil"
	"github.com/shiptrack/shiptrack/shipment"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/store/storetest"
)

// TestReadCacheFollowsWrites: on either database, serve answers repeated
// lookups and pages from its read cache, and a write made by another
// process (here a second store on the same database, as another replica or
// `shiptrack import` would make it) shows in the answers once the change
// feed reports it.
func TestReadCacheFollowsWrites(t *testing.T) {
	t.Parallel()
	for _, driver := range storetest.Drivers {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			testReadCacheFollowsWrites(t, driver)
		})
	}
}

func testReadCacheFollowsWrites(t *testing.T, driver string) {
	ctx := context.Background()
	dbURL := storetest.URL(t, driver)
	base, _ := startService(t, map[string]string{
		"SHIPTRACK_DATABASE_URL":     dbURL,
		"SHIPTRACK_WEATHER_PROVIDER": "off",
		"SHIPTRACK_API_RATE_LIMIT":   "0",
	}, nil)
	other, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })

	testutil.Eventually(t, 10*time.Second, "read cache on", func() bool { return metric(t, base, "shiptrack_cache_on") == 1 })

	type answer struct {
		Status  string `json:"status"`
		Weather *struct {
			TemperatureC float64 `json:"temperature_c"`
		} `json:"weather"`
	}
	lookup := base + "/shipment/dhl/TN12345678"
	var before answer
	for range 3 {
		getJSON(t, lookup, &before)
	}
	if before.Status != "in_transit" || before.Weather != nil {
		t.Fatalf("seeded answer = %+v", before)
	}
	if hits := metric(t, base, "shiptrack_cache_hits_total"); hits < 2 {
		t.Fatalf("%v cache hits after 3 identical lookups, want at least 2", hits)
	}
	var page []answer
	getJSON(t, base+"/shipment/?limit=2", &page)
	getJSON(t, base+"/shipment/?limit=2", &page)

	// A shipment changes in another process.
	f, err := os.Open("store/testdata/changed.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := other.ImportCSV(ctx, f); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "imported status in the lookup", func() bool {
		var a answer
		getJSON(t, lookup, &a)
		return a.Status == "delivered"
	})

	// An event appended by another process (the write API's path).
	if _, err := other.AppendEvents(ctx, []shipment.EventInput{{Carrier: "DHL", TrackingNumber: "TN12345678",
		Event: shipment.Event{OccurredAt: time.Now().Add(time.Minute), StatusText: "Customs hold", Status: shipment.StatusException}}}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "appended event's status in the lookup", func() bool {
		var a answer
		getJSON(t, lookup, &a)
		return a.Status == shipment.StatusException
	})

	// Its location's weather arrives through another process's worker.
	sh, err := other.Get(ctx, "DHL", "TN12345678")
	if err != nil || sh.Location == nil {
		t.Fatalf("get: %v, %+v", err, sh)
	}
	now := time.Now().UTC()
	if _, err := other.ClaimWeather(ctx, sh.Location.ID, "test", now, now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := other.SaveWeather(ctx, "test", shipment.Weather{LocationID: sh.Location.ID, Query: "Paris, France",
		TemperatureC: 21.5, Condition: "Sunny", ObservedAt: now, FetchedAt: now, Provider: "weatherapi"}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "new weather in the lookup", func() bool {
		var a answer
		getJSON(t, lookup, &a)
		return a.Weather != nil && a.Weather.TemperatureC == 21.5
	})
	testutil.Eventually(t, 10*time.Second, "new weather in the page", func() bool {
		getJSON(t, base+"/shipment/?limit=2", &page)
		for _, a := range page {
			if a.Weather != nil && a.Weather.TemperatureC == 21.5 {
				return true
			}
		}
		return false
	})
}

// metric reads one unlabelled sample from the server's /metrics.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(getText(t, base+"/metrics"))
	if m == nil {
		t.Fatalf("no %s in /metrics", name)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
