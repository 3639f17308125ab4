package jobs

import (
	"slices"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/shiptrack/shiptrack/store"
)

// TestMetricsTwiceInOneSet: a second Refresher on the same metrics set is
// refused with an error naming the metrics, not a panic; its own set is
// fine.
func TestMetricsTwiceInOneSet(t *testing.T) {
	t.Parallel()
	set := metrics.NewSet()
	cfg := Config{Store: &store.Store{}, Queue: NewMemoryQueue(), Metrics: set}
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
	// Not scraped: the gauges would read the empty store.
	if names := set.ListMetricNames(); !slices.Contains(names, "shiptrack_weather_oldest_age_seconds") {
		t.Errorf("metrics %v, want shiptrack_weather_oldest_age_seconds among them", names)
	}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "jobs: metrics") {
		t.Errorf("second New on the same set: %v, want a jobs: metrics error", err)
	}
	cfg.Metrics = metrics.NewSet()
	if _, err := New(cfg); err != nil {
		t.Errorf("New on its own set: %v", err)
	}
}
