package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"io"
	"math"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"

	vmetrics "github.com/VictoriaMetrics/metrics"
)

// The go_*, process_* and go_sql_* series were client_golang's collectors'
// until it was replaced by VictoriaMetrics/metrics (2.3 MB less binary).
// That library writes most of the Go and process series itself; what it
// lacks is written here under the old names, types and labels, so
// dashboards keep working.

// writeDBStats writes the database pool's stats as DBStatsCollector did:
// go_sql_*{db_name="shiptrack"}.
func writeDBStats(w io.Writer, s sql.DBStats) {
	const l = `{db_name="shiptrack"}`
	vmetrics.WriteGaugeUint64(w, "go_sql_max_open_connections"+l, uint64(s.MaxOpenConnections))
	vmetrics.WriteGaugeUint64(w, "go_sql_open_connections"+l, uint64(s.OpenConnections))
	vmetrics.WriteGaugeUint64(w, "go_sql_in_use_connections"+l, uint64(s.InUse))
	vmetrics.WriteGaugeUint64(w, "go_sql_idle_connections"+l, uint64(s.Idle))
	vmetrics.WriteCounterUint64(w, "go_sql_wait_count_total"+l, uint64(s.WaitCount))
	vmetrics.WriteCounterFloat64(w, "go_sql_wait_duration_seconds_total"+l, s.WaitDuration.Seconds())
	vmetrics.WriteCounterUint64(w, "go_sql_max_idle_closed_total"+l, uint64(s.MaxIdleClosed))
	vmetrics.WriteCounterUint64(w, "go_sql_max_idle_time_closed_total"+l, uint64(s.MaxIdleTimeClosed))
	vmetrics.WriteCounterUint64(w, "go_sql_max_lifetime_closed_total"+l, uint64(s.MaxLifetimeClosed))
}

// writeRuntimeSettings writes the three runtime/metrics series that
// client_golang's Go collector exposed by default.
func writeRuntimeSettings(w io.Writer) {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}, {Name: "/sched/gomaxprocs:threads"}}
	metrics.Read(s)
	for i, name := range []string{"go_gc_gogc_percent", "go_gc_gomemlimit_bytes", "go_sched_gomaxprocs_threads"} {
		if s[i].Value.Kind() == metrics.KindUint64 {
			vmetrics.WriteGaugeUint64(w, name, s[i].Value.Uint64())
		}
	}
}

// writeProcessExtras writes the process series client_golang's process
// collector had and the library has not: the address-space limit and the
// bytes in and out of the process's network namespace. A file that cannot
// be read leaves its series out, as that collector did.
func writeProcessExtras(w io.Writer) {
	if b, err := os.ReadFile("/proc/self/limits"); err == nil {
		if v, ok := addressSpaceLimit(b); ok {
			vmetrics.WriteGaugeFloat64(w, "process_virtual_memory_max_bytes", v)
		}
	}
	if b, err := os.ReadFile("/proc/self/net/netstat"); err == nil {
		in, out := ipOctets(b)
		vmetrics.WriteCounterFloat64(w, "process_network_receive_bytes_total", in)
		vmetrics.WriteCounterFloat64(w, "process_network_transmit_bytes_total", out)
	}
}

// addressSpaceLimit reads the soft "Max address space" limit from
// /proc/self/limits; unlimited is the largest uint64, as procfs gave it.
func addressSpaceLimit(limits []byte) (float64, bool) {
	for line := range strings.Lines(string(limits)) {
		rest, ok := strings.CutPrefix(line, "Max address space")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, false
		}
		if f[0] == "unlimited" {
			return math.MaxUint64, true
		}
		v, err := strconv.ParseUint(f[0], 10, 64)
		return float64(v), err == nil
	}
	return 0, false
}

// ipOctets reads IpExt's InOctets and OutOctets from /proc/self/net/netstat:
// a line of names then a line of values, both starting "IpExt:". A missing
// field is 0, as the collector had it.
func ipOctets(netstat []byte) (in, out float64) {
	sc := bufio.NewScanner(bytes.NewReader(netstat))
	var names []string
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "IpExt:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if i >= len(f) {
				break
			}
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch name {
			case "InOctets":
				in = v
			case "OutOctets":
				out = v
			}
		}
		break
	}
	return in, out
}
