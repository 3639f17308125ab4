package main

import (
	"context"
	"math"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/shiptrack/shiptrack/api"
	"github.com/shiptrack/shiptrack/store"
	"github.com/shiptrack/shiptrack/store/storetest"
)

// TestMetricsSurface: the Go, process and database pool series that
// client_golang's collectors exposed are all still there, with their
// types, after the move to VictoriaMetrics/metrics.
func TestMetricsSurface(t *testing.T) {
	t.Parallel()
	st, err := store.Open(context.Background(), storetest.URL(t, "sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	set, err := newMetrics(st)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Config{Shipments: st, Metrics: set}))
	t.Cleanup(srv.Close)
	body := getText(t, srv.URL+"/metrics")
	// The families and types client_golang v1.25's Go (default), process
	// and DBStats collectors wrote, from a scrape before the change.
	for _, tt := range []struct{ name, typ string }{
		{"go_gc_duration_seconds", "summary"}, {"go_gc_gogc_percent", "gauge"},
		{"go_gc_gomemlimit_bytes", "gauge"}, {"go_goroutines", "gauge"}, {"go_info", "gauge"},
		{"go_memstats_alloc_bytes", "gauge"}, {"go_memstats_alloc_bytes_total", "counter"},
		{"go_memstats_buck_hash_sys_bytes", "gauge"}, {"go_memstats_frees_total", "counter"},
		{"go_memstats_gc_sys_bytes", "gauge"}, {"go_memstats_heap_alloc_bytes", "gauge"},
		{"go_memstats_heap_idle_bytes", "gauge"}, {"go_memstats_heap_inuse_bytes", "gauge"},
		{"go_memstats_heap_objects", "gauge"}, {"go_memstats_heap_released_bytes", "gauge"},
		{"go_memstats_heap_sys_bytes", "gauge"}, {"go_memstats_last_gc_time_seconds", "gauge"},
		{"go_memstats_mallocs_total", "counter"}, {"go_memstats_mcache_inuse_bytes", "gauge"},
		{"go_memstats_mcache_sys_bytes", "gauge"}, {"go_memstats_mspan_inuse_bytes", "gauge"},
		{"go_memstats_mspan_sys_bytes", "gauge"}, {"go_memstats_next_gc_bytes", "gauge"},
		{"go_memstats_other_sys_bytes", "gauge"}, {"go_memstats_stack_inuse_bytes", "gauge"},
		{"go_memstats_stack_sys_bytes", "gauge"}, {"go_memstats_sys_bytes", "gauge"},
		{"go_sched_gomaxprocs_threads", "gauge"}, {"go_threads", "gauge"},
		{"go_sql_idle_connections", "gauge"}, {"go_sql_in_use_connections", "gauge"},
		{"go_sql_max_idle_closed_total", "counter"}, {"go_sql_max_idle_time_closed_total", "counter"},
		{"go_sql_max_lifetime_closed_total", "counter"}, {"go_sql_max_open_connections", "gauge"},
		{"go_sql_open_connections", "gauge"}, {"go_sql_wait_count_total", "counter"},
		{"go_sql_wait_duration_seconds_total", "counter"},
		{"process_cpu_seconds_total", "counter"}, {"process_max_fds", "gauge"},
		{"process_network_receive_bytes_total", "counter"}, {"process_network_transmit_bytes_total", "counter"},
		{"process_open_fds", "gauge"}, {"process_resident_memory_bytes", "gauge"},
		{"process_start_time_seconds", "gauge"}, {"process_virtual_memory_bytes", "gauge"},
		{"process_virtual_memory_max_bytes", "gauge"},
	} {
		if !strings.Contains(body, "# TYPE "+tt.name+" "+tt.typ+"\n") {
			t.Errorf("/metrics lacks # TYPE %s %s", tt.name, tt.typ)
		}
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(tt.name) + `[{ _]`).MatchString(body) {
			t.Errorf("/metrics has no sample of %s", tt.name)
		}
	}
	if !strings.Contains(body, `go_sql_max_open_connections{db_name="shiptrack"} `) {
		t.Error(`/metrics lacks go_sql_max_open_connections{db_name="shiptrack"}`)
	}
}

func TestAddressSpaceLimit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, limits string
		want         float64
		ok           bool
	}{
		{"unlimited", "Max stack size            8388608              unlimited            bytes\nMax address space         unlimited            unlimited            bytes\n", math.MaxUint64, true},
		{"set", "Max address space         4294967296           unlimited            bytes\n", 4294967296, true},
		{"absent", "Max open files            1024                 4096                 files\n", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := addressSpaceLimit([]byte(tt.limits))
			if got != tt.want || ok != tt.ok {
				t.Errorf("addressSpaceLimit = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestIPOctets(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, netstat string
		in, out       float64
	}{
		{"both", "TcpExt: SyncookiesSent\nTcpExt: 0\nIpExt: InNoRoutes InOctets OutOctets\nIpExt: 0 1234 5678\n", 1234, 5678},
		{"no IpExt", "TcpExt: SyncookiesSent\nTcpExt: 0\n", 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in, out := ipOctets([]byte(tt.netstat))
			if in != tt.in || out != tt.out {
				t.Errorf("ipOctets = %v, %v; want %v, %v", in, out, tt.in, tt.out)
			}
		})
	}
}
