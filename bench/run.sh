#!/usr/bin/env bash
# bench/run.sh: shiptrack's load benchmark, rerunnable by anyone on one
# machine. docs/benchmarks.md explains what it measures and how to read it.
#
#   bench/run.sh [--shipments 10000,1000000] [--duration 30s] [--runs 3]
#
# It builds the release binary, generates data with bench/gencsv (seeded),
# times imports (PostgreSQL and SQLite) and a weather refresh against a local
# unthrottled fake provider, then drives the API with wrk (GET and POST
# lookups, first and deep list pages) and, in the same run, a bare Echo
# reference server; on the smallest size it then times tracking events
# (issue 15): lookups of shipments with 20 events and ingest through the
# write API, and webhook deliveries (issue 16) to a local receiver
# (bench/receiver): a backlog's drain, beside a hung endpoint too, and the
# ingest with deliveries flowing. It writes bench/out/results.md. All traffic stays on
# 127.0.0.1; every database it creates is named shiptrack_bench_* and is
# dropped at the end.
#
# Needs: go, gcc (SQLite's cgo driver), wrk, curl, python3, psql, and a
# PostgreSQL it may create databases on (--pg, default the local server).
set -euo pipefail

usage() {
	cat <<'EOF'
usage: bench/run.sh [options]
  --shipments LIST      dataset sizes in shipments, comma-separated (default 10000,1000000)
  --duration D          wrk duration of each measurement (default 30s)
  --runs N              measurements of each scenario; medians are reported (default 3)
  --rss-duration D      length of the RSS-over-time run on the largest size (default 60s; 0 skips)
  --import-rows N       article rows of the import benchmark (default 1000000; 0 skips)
  --import-rows-large N article rows of the large import, first import only, both databases: its
                        peak RSS against the 1,000,000-row one shows the importer's memory is flat
                        (default 5000000; 0 skips; its timeout is --import-timeout per 1,000,000 rows)
  --weather-locations N locations of the weather refresh benchmark (default 10000; 0 skips)
  --cities N            distinct receiver locations of the load datasets (default 1000)
  --threads N           wrk threads (default 2)
  --connections N       wrk connections (default 64)
  --event-shipments N   shipments given 20 events each for the events lookups, on the smallest
                        size (default 1000; 0 skips the events scenarios, ingest included)
  --ingest-connections N
                        wrk connections of the 1,000-event POST /events batches (default 4)
  --single-connections N
                        wrk connections of the single-event POSTs (default 16)
  --cache-mb LIST       api.cache_mb values of the read-cache table, on the largest size with
                        uniformly random GET lookups (default 16,64,256,1024; "" skips)
  --cache-warm D        longest warm-up of each cache size: a pass over every shipment in order,
                        stopped early once the cache holds them all or stops growing (default 180s)
  --webhook-deliveries N
                        backlog of webhook deliveries drained to a local receiver, on the smallest
                        size, and the ingest with and without deliveries (default 10000, at most the
                        size; 0 skips the webhook scenarios)
  --pg URL              PostgreSQL server, without database (default postgres://postgres@127.0.0.1:5432)
  --pg-params QS        query string added to the server's database URL (default sslmode=disable)
  --import-timeout S    give up an import after S seconds and record it as not finished (default 300)
  --importer BIN        binary that imports the load and weather datasets (default: the built one;
                        the import benchmark always uses the built one)
  --port-base P         ports on 127.0.0.1: the server P, the reference P+1, the webhook receiver
                        P+2, the fake provider P+10, pprof P+20 (default 18080; another on a shared machine avoids clashes)
  --no-build            reuse bench/out/shiptrack, bench/out/reference, bench/out/fakeprovider
  --no-profile          skip the CPU profiles taken after the measured runs
  --keep                keep the databases and generated CSVs' databases (default: drop them)
  --quick               smoke test: --shipments 10000 --duration 5s --runs 1 --rss-duration 10s
                        --import-rows 20000 --import-rows-large 0 --weather-locations 500
                        --cache-mb 1,16 --cache-warm 20s
  -h, --help            this help
EOF
}

SHIPMENTS=10000,1000000
DURATION=30s
RUNS=3
RSS_DURATION=60s
IMPORT_ROWS=1000000
IMPORT_ROWS_LARGE=5000000
WEATHER_LOCATIONS=10000
CITIES=1000
THREADS=2
CONNS=64
EVENT_SHIPMENTS=1000
INGEST_CONNS=4
SINGLE_CONNS=16
CACHE_MBS=16,64,256,1024
CACHE_WARM=180s
WEBHOOK_DELIVERIES=10000
PG=postgres://postgres@127.0.0.1:5432
PG_PARAMS=sslmode=disable
IMPORT_TIMEOUT=300
IMPORTER=
PORT_BASE=18080
BUILD=1
PROFILE=1
KEEP=0

while [ $# -gt 0 ]; do
	case "$1" in
	--shipments) SHIPMENTS=$2; shift ;;
	--duration) DURATION=$2; shift ;;
	--runs) RUNS=$2; shift ;;
	--rss-duration) RSS_DURATION=$2; shift ;;
	--import-rows) IMPORT_ROWS=$2; shift ;;
	--import-rows-large) IMPORT_ROWS_LARGE=$2; shift ;;
	--weather-locations) WEATHER_LOCATIONS=$2; shift ;;
	--cities) CITIES=$2; shift ;;
	--threads) THREADS=$2; shift ;;
	--connections) CONNS=$2; shift ;;
	--event-shipments) EVENT_SHIPMENTS=$2; shift ;;
	--ingest-connections) INGEST_CONNS=$2; shift ;;
	--single-connections) SINGLE_CONNS=$2; shift ;;
	--cache-mb) CACHE_MBS=$2; shift ;;
	--cache-warm) CACHE_WARM=$2; shift ;;
	--webhook-deliveries) WEBHOOK_DELIVERIES=$2; shift ;;
	--pg) PG=${2%/}; shift ;;
	--pg-params) PG_PARAMS=$2; shift ;;
	--import-timeout) IMPORT_TIMEOUT=$2; shift ;;
	--importer) IMPORTER=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift ;;
	--port-base) PORT_BASE=$2; shift ;;
	--no-build) BUILD=0 ;;
	--no-profile) PROFILE=0 ;;
	--keep) KEEP=1 ;;
	--quick) SHIPMENTS=10000 DURATION=5s RUNS=1 RSS_DURATION=10s IMPORT_ROWS=20000 IMPORT_ROWS_LARGE=0 WEATHER_LOCATIONS=500 CACHE_MBS=1,16 CACHE_WARM=20s ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench/run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/bench/out
DATA=$OUT/data
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$OUT/raw/$STAMP
RESULTS=$RAW/results.jsonl
LUA=$ROOT/bench/wrk/shiptrack.lua
GEN=$OUT/gencsv
BIN=$OUT/shiptrack
API_PORT=$PORT_BASE REF_PORT=$((PORT_BASE + 1)) RECV_PORT=$((PORT_BASE + 2)) FAKE_PORT=$((PORT_BASE + 10)) PPROF_PORT=$((PORT_BASE + 20))
TOKEN=bench-token
# Databases are named after the port base too, so two runs on one server
# (with different --port-base) do not drop each other's.
DBP=shiptrack_bench_
[ "$PORT_BASE" = 18080 ] || DBP=shiptrack_bench_${PORT_BASE}_
WTOKEN=bench-write-token # the write API's (issue 15)
ATOKEN=bench-admin-token # the webhook admin routes' (issue 16)
EVENTS_LUA=$ROOT/bench/wrk/events.lua
mkdir -p "$DATA" "$RAW"
: >"$RESULTS"

log() { printf '%s bench: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in go wrk curl python3 psql pgbench; do
	command -v "$tool" >/dev/null || die "$tool is not installed (wrk: apt-get install -y wrk)"
done
(cd "$ROOT" && go build -o "$GEN" ./bench/gencsv) || die "building bench/gencsv failed"
psql "$PG/postgres" -qAtc 'select 1' >/dev/null || die "PostgreSQL at $PG does not answer"
for port in $API_PORT $REF_PORT $RECV_PORT $FAKE_PORT $PPROF_PORT; do
	if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
		die "port $port is in use on 127.0.0.1"
	fi
done
# Only the settings below apply: the caller's SHIPTRACK_* must not leak in.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^SHIPTRACK_' || true)

# --- processes and databases this run owns, cleaned up on exit -------------
PIDS=()
DBS=()
cleanup() {
	local pid db
	for pid in "${PIDS[@]}"; do
		pkill -TERM -P "$pid" 2>/dev/null || true # e.g. the import under time(1) and timeout(1)
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ "$KEEP" = 0 ]; then
		for db in "${DBS[@]}"; do
			psql "$PG/postgres" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
		done
		rm -f "$OUT"/bench-*.db*
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() { # PID: SIGTERM, wait, forget
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	local keep=() p
	for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

fresh_db() { # NAME
	psql "$PG/postgres" -qAtc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null
	psql "$PG/postgres" -qAtc "CREATE DATABASE $1" >/dev/null
	DBS+=("$1")
}
db_url() { echo "$PG/$1${PG_PARAMS:+?$PG_PARAMS}"; }
sql() { psql "$PG/$1" -qAtc "$2"; }

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f\n", b - a}'; }
secs() { # 30s, 2m, 45 -> seconds
	case "$1" in
	*ms) echo 0 ;; *s) echo "${1%s}" ;; *m) echo $((${1%m} * 60)) ;; *) echo "$1" ;;
	esac
}
emit() { echo "$1" >>"$RESULTS"; }

# CPU time (clock ticks, utime+stime) of a process, and of the PostgreSQL
# backends serving one database (their titles name it).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_snapshot() { # DB: "pid ticks" of each backend serving DB
	local pid
	for pid in $(ps -eo pid=,args= | awk -v db="$1" '$2 == "postgres:" {for (i = 3; i <= NF; i++) if ($i == db) {print $1; break}}'); do
		echo "$pid $(ticks "$pid")"
	done
}
# pg_sampler DB FILE: snapshots every second until killed. Backends come
# and go (pgx closes a connection whose query was cancelled), so the last
# value seen of each one counts.
pg_sampler() {
	while :; do
		pg_snapshot "$1" >>"$2"
		sleep 1
	done
}
pg_cpu_s() { # START-SNAPSHOT SAMPLES: CPU seconds the backends used in between
	awk -v hz="$HZ" 'FNR == NR {start[$1] = $2; next} {if ($2 > last[$1]) last[$1] = $2}
		END {for (p in last) t += last[p] - start[p]; printf "%.2f\n", t / hz}' "$1" "$2"
}
HZ=$(getconf CLK_TCK)
cpu_s() { awk -v a="$1" -v b="$2" -v hz="$HZ" 'BEGIN {printf "%.2f\n", (b - a) / hz}'; }

# rss_sampler PID FILE INTERVAL: "seconds-since-start VmRSS-kB" lines until
# killed; bash builtins only, so sampling costs the measured machine little.
rss_sampler() {
	local start=${EPOCHREALTIME/[.,]/} k v _ d
	while [ -r "/proc/$1/status" ]; do
		while read -r k v _; do
			if [ "$k" = VmRSS: ]; then
				d=$((${EPOCHREALTIME/[.,]/} - start))
				printf '%d.%02d %s\n' $((d / 1000000)) $(((d / 10000) % 100)) "$v"
			fi
		done <"/proc/$1/status"
		sleep "$3"
	done >"$2"
}
vm_hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

wait_http() { # URL SECONDS
	local deadline=$((SECONDS + $2))
	until curl -sf -o /dev/null --max-time 1 "$1"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.05
	done
}

# --- build ------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
	log "building the release binary"
	# The README's release build (musl, static), so the benchmark measures
	# what ships.
	(cd "$ROOT" && CC=musl-gcc CGO_CFLAGS='-Os -g0' CGO_ENABLED=1 go build -trimpath \
		-tags netgo,osusergo,sqlite_omit_load_extension \
		-ldflags '-s -w -linkmode external -extldflags "-static"' -o "$BIN" .) 2>"$RAW/build.log" ||
		{ cat "$RAW/build.log" >&2; die "build failed"; }
	(cd "$ROOT" && go build -o "$OUT/reference" ./bench/reference && go build -o "$OUT/fakeprovider" ./bench/fakeprovider &&
		go build -o "$OUT/receiver" ./bench/receiver)
fi
for b in "$BIN" "$OUT/reference" "$OUT/fakeprovider" "$OUT/receiver"; do [ -x "$b" ] || die "$b missing: run without --no-build"; done

"$OUT/fakeprovider" -addr "127.0.0.1:$FAKE_PORT" >"$RAW/fakeprovider.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$FAKE_PORT/stats" 10 || die "fake provider did not start"
fake_calls() { curl -s "http://127.0.0.1:$FAKE_PORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["calls"])'; }

SRV_PID=
start_server() { # DB-or-sqlite:URL LOGNAME [extra env...]
	local db=$1 logname=$2 url
	shift 2
	case $db in sqlite:*) url=$db ;; *) url=$(db_url "$db") ;; esac
	(cd "$OUT" && exec env \
		SHIPTRACK_DATABASE_URL="$url" \
		SHIPTRACK_LISTEN="127.0.0.1:$API_PORT" \
		SHIPTRACK_SEED=false \
		SHIPTRACK_LOG_LEVEL=error \
		SHIPTRACK_WEATHER_PROVIDER=weatherapi \
		SHIPTRACK_WEATHERAPI_KEY=bench \
		SHIPTRACK_WEATHERAPI_URL="http://127.0.0.1:$FAKE_PORT/v1" \
		SHIPTRACK_WEATHER_RATE=100000 \
		SHIPTRACK_WEATHER_WORKERS=16 \
		SHIPTRACK_API_TOKENS="$TOKEN" \
		SHIPTRACK_API_WRITE_TOKENS="$WTOKEN" \
		SHIPTRACK_API_RATE_LIMIT=0 \
		SHIPTRACK_API_ADMIN_TOKENS="$ATOKEN" \
		SHIPTRACK_WEBHOOKS_ALLOW_PRIVATE=true \
		"$@" "$BIN" --config /dev/null serve) >"$RAW/$logname.log" 2>&1 &
	SRV_PID=$!
	PIDS+=("$SRV_PID")
}

# wait_weather N: until the server's first refresh run has fetched N
# locations (or reported them failed/skipped) and the queue is empty. A run
# queues one job per place (locations of one city share it), so fewer than
# N when places are shared: then every queued one counts.
wait_weather() {
	local deadline=$((SECONDS + 900)) s
	while [ $SECONDS -lt $deadline ]; do
		s=$(curl -s --max-time 2 "http://127.0.0.1:$API_PORT/weather/status" || true)
		if [ -n "$s" ] && python3 -c '
import json, sys
s = json.loads(sys.argv[1]); n = int(sys.argv[2])
done = s["fetched"] + s["failed"] + s["skipped"]
sys.exit(0 if s["last_run_queued"] > 0 and done >= min(n, s["last_run_queued"]) and s["queue_depth"] == 0 else 1)' "$s" "$1" 2>/dev/null; then
			echo "$s"
			return 0
		fi
		kill -0 "$SRV_PID" 2>/dev/null || die "server exited; see $RAW"
		sleep 0.1
	done
	die "weather refresh did not finish: $s"
}

gen_csv() { # NAME ARGS...: cached CSV (and lookups) under bench/out/data
	local name=$1
	shift
	if [ ! -f "$DATA/$name.ok" ]; then
		log "generating $name"
		"$GEN" "$@" --lookups "$DATA/$name.lookups" >"$DATA/$name.csv" 2>"$DATA/$name.gen.log"
		touch "$DATA/$name.ok"
	fi
}

# timed_import LABEL DATABASE_URL CSV [BIN]: import; sets IMPORT_SECS,
# IMPORT_RSS_KB (the importer's peak RSS, 0 without GNU time) and
# IMPORT_DONE (false when it ran out of --import-timeout).
timed_import() {
	local label=$1 url=$2 csv=$3 bin=${4:-$BIN} t0 rc=0 timer=()
	[ -x /usr/bin/time ] && timer=(/usr/bin/time -f '%M' -o "$RAW/$label.rss")
	t0=$(now)
	(cd "$OUT" && SHIPTRACK_DATABASE_URL="$url" SHIPTRACK_SEED=false exec "${timer[@]}" \
		timeout "$IMPORT_TIMEOUT" "$bin" --config /dev/null import "$csv") >"$RAW/$label.log" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	wait "$pid" || rc=$?
	stop_pid "$pid"
	IMPORT_SECS=$(since "$t0") IMPORT_RSS_KB=0 IMPORT_DONE=true
	[ -s "$RAW/$label.rss" ] && IMPORT_RSS_KB=$(grep -E '^[0-9]+$' "$RAW/$label.rss" | tail -1)
	IMPORT_RSS_KB=${IMPORT_RSS_KB:-0}
	if [ "$rc" = 124 ]; then
		IMPORT_DONE=false
		log "import $label: not finished after ${IMPORT_TIMEOUT}s, stopped (nothing is written: one transaction)"
		return 0
	fi
	[ "$rc" = 0 ] || { cat "$RAW/$label.log" >&2; die "import $label failed"; }
	log "import $label: ${IMPORT_SECS}s ($(grep -v '^ *[0-9]*$' "$RAW/$label.log" | tail -1))"
}
csv_rows() { echo $(($(wc -l <"$1") - 1)); }

# --- 1. import of IMPORT_ROWS article rows, PostgreSQL and SQLite -----------
if [ "$IMPORT_ROWS" -gt 0 ]; then
	gen_csv "rows$IMPORT_ROWS" --rows "$IMPORT_ROWS" --cities "$CITIES"
	csv=$DATA/rows$IMPORT_ROWS.csv
	shipments=$(wc -l <"$DATA/rows$IMPORT_ROWS.lookups")
	db=${DBP}import
	fresh_db "$db"
	for dbkind in postgres sqlite; do
		if [ "$dbkind" = postgres ]; then
			fresh_db "$db"
			url=$(db_url "$db")
		else
			rm -f "$OUT"/bench-import.db*
			url=sqlite:$OUT/bench-import.db
		fi
		timed_import "import-$dbkind" "$url" "$csv"
		emit "{\"kind\":\"import\",\"database\":\"$dbkind\",\"rows\":$IMPORT_ROWS,\"shipments\":$shipments,\"seconds\":$IMPORT_SECS,\"done\":$IMPORT_DONE,\"timeout\":$IMPORT_TIMEOUT,\"rss_kb\":$IMPORT_RSS_KB}"
		if [ "$IMPORT_DONE" = true ]; then
			timed_import "reimport-$dbkind" "$url" "$csv"
			emit "{\"kind\":\"import\",\"database\":\"$dbkind\",\"reimport\":true,\"rows\":$IMPORT_ROWS,\"shipments\":$shipments,\"seconds\":$IMPORT_SECS,\"done\":$IMPORT_DONE,\"timeout\":$IMPORT_TIMEOUT,\"rss_kb\":$IMPORT_RSS_KB}"
		fi
		if [ "$dbkind" = postgres ]; then
			psql "$PG/postgres" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
		fi
	done
	rm -f "$OUT"/bench-import.db*
fi

# --- 1b. the large import: IMPORT_ROWS_LARGE article rows, first import ------
# Issue 17: the importer's peak RSS is flat in the file's size (≤ 150 MB at
# 1,000,000 and at 5,000,000 rows). The CSV is generated like the one above.
if [ "$IMPORT_ROWS_LARGE" -gt 0 ]; then
	gen_csv "rows$IMPORT_ROWS_LARGE" --rows "$IMPORT_ROWS_LARGE" --cities "$CITIES"
	csv=$DATA/rows$IMPORT_ROWS_LARGE.csv
	shipments=$(wc -l <"$DATA/rows$IMPORT_ROWS_LARGE.lookups")
	db=${DBP}import_large
	saved_timeout=$IMPORT_TIMEOUT
	IMPORT_TIMEOUT=$(((IMPORT_TIMEOUT * IMPORT_ROWS_LARGE + 999999) / 1000000))
	for dbkind in postgres sqlite; do
		if [ "$dbkind" = postgres ]; then
			fresh_db "$db"
			url=$(db_url "$db")
		else
			rm -f "$OUT"/bench-import-large.db*
			url=sqlite:$OUT/bench-import-large.db
		fi
		timed_import "import-large-$dbkind" "$url" "$csv"
		emit "{\"kind\":\"import\",\"database\":\"$dbkind\",\"large\":true,\"rows\":$IMPORT_ROWS_LARGE,\"shipments\":$shipments,\"seconds\":$IMPORT_SECS,\"done\":$IMPORT_DONE,\"timeout\":$IMPORT_TIMEOUT,\"rss_kb\":$IMPORT_RSS_KB}"
		if [ "$dbkind" = postgres ]; then
			psql "$PG/postgres" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
		fi
		rm -f "$OUT"/bench-import-large.db*
	done
	IMPORT_TIMEOUT=$saved_timeout
fi

# --- 2. weather refresh of WEATHER_LOCATIONS locations, unthrottled fake -----
# refresh DB LABEL: start the server on DB, time until every location is
# fetched, record it; the server keeps running (SRV_PID).
refresh() {
	local db=$1 label=$2 locs calls0 t0 secs status fetched
	# Locations of one place share a weather row and one fetch (issue 13):
	# the refresh is done when every place is fetched.
	locs=$(sql "$db" "select count(distinct coalesce(weather_location_id, id)) from locations")
	calls0=$(fake_calls)
	t0=$(now)
	start_server "$db" "server-$label" SHIPTRACK_PPROF_LISTEN="127.0.0.1:$PPROF_PORT"
	wait_http "http://127.0.0.1:$API_PORT/healthz" 60 || die "server did not start; see $RAW/server-$label.log"
	local ready
	ready=$(since "$t0")
	status=$(wait_weather "$locs")
	secs=$(since "$t0")
	fetched=$(sql "$db" "select count(*) from weather where fetched_at is not null")
	log "weather $label: $locs locations, $fetched fetched in ${secs}s (server ready after ${ready}s)"
	emit "{\"kind\":\"weather\",\"label\":\"$label\",\"locations\":$locs,\"fetched\":$fetched,\"provider_calls\":$(($(fake_calls) - calls0)),\"seconds\":$secs,\"ready_seconds\":$ready,\"status\":$status}"
}

if [ "$WEATHER_LOCATIONS" -gt 0 ]; then
	name=weather$WEATHER_LOCATIONS
	gen_csv "$name" --shipments $((WEATHER_LOCATIONS * 10)) --cities "$WEATHER_LOCATIONS"
	db=$DBP$name
	fresh_db "$db"
	timed_import "import-$name" "$(db_url "$db")" "$DATA/$name.csv" "${IMPORTER:-$BIN}"
	[ "$IMPORT_DONE" = true ] || die "could not import the weather dataset in ${IMPORT_TIMEOUT}s (try --importer)"
	refresh "$db" "$name"
	stop_pid "$SRV_PID"
	psql "$PG/postgres" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
fi

# --- 3. load: per dataset size ----------------------------------------------
# metric_values PORT NAME...: the server's values of the unlabelled
# metrics NAME..., on one line in that order (0 for one it does not show).
metric_values() {
	local port=$1
	shift
	curl -sf "http://127.0.0.1:$port/metrics" | awk -v names="$*" '
		BEGIN {n = split(names, want, " ")}
		{v[$1] = $2}
		END {for (i = 1; i <= n; i++) printf "%d%s", v[want[i]], (i < n ? " " : "\n")}'
}
# cache_counts PORT: the server's read-cache hits and misses so far.
cache_counts() { metric_values "$1" shiptrack_cache_hits_total shiptrack_cache_misses_total; }

# measure SIZE RUN SCENARIO PID PORT DB wrk-args...: one wrk run, recorded.
measure() {
	local size=$1 run=$2 scen=$3 pid=$4 port=$5 db=$6
	shift 6
	local f=$RAW/wrk-$size-$scen-$run
	local c0 c1 load sampler pgs= json pg_cpu=0
	load=$(cut -d' ' -f1 /proc/loadavg)
	rss_sampler "$pid" "$f.rss" 0.25 &
	sampler=$!
	if [ -n "$db" ]; then
		pg_snapshot "$db" >"$f.pg0"
		: >"$f.pg"
		pg_sampler "$db" "$f.pg" &
		pgs=$!
	fi
	local h0=0 m0=0 h1=0 m1=0
	[ -n "$db" ] && read -r h0 m0 < <(cache_counts "$port")
	c0=$(ticks "$pid")
	wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$LUA" "http://127.0.0.1:$port" -- "$@" >"$f.txt" 2>&1 || true
	c1=$(ticks "$pid")
	[ -n "$db" ] && read -r h1 m1 < <(cache_counts "$port")
	kill "$sampler" $pgs 2>/dev/null || true
	wait "$sampler" $pgs 2>/dev/null || true
	if [ -n "$db" ]; then
		pg_snapshot "$db" >>"$f.pg"
		pg_cpu=$(pg_cpu_s "$f.pg0" "$f.pg")
	fi
	json=$(sed -n 's/^BENCHJSON //p' "$f.txt")
	[ -n "$json" ] || { cat "$f.txt" >&2; die "wrk gave no result ($scen, size $size)"; }
	local peak
	peak=$(awk 'BEGIN {m = 0} $2 > m {m = $2} END {print m}' "$f.rss")
	emit "{\"kind\":\"load\",\"size\":$size,\"run\":$run,\"scenario\":\"$scen\",\"rss_peak_kb\":$peak,\"hwm_kb\":$(vm_hwm "$pid"),\"server_cpu_s\":$(cpu_s "$c0" "$c1"),\"pg_cpu_s\":$pg_cpu,\"cache_hits\":$((h1 - h0)),\"cache_misses\":$((m1 - m0)),\"load1\":$load,\"wrk\":$json}"
	log "size $size run $run $scen: $(python3 -c 'import json, sys
w = json.loads(sys.argv[1])
e = sum(w[k] for k in ("err_status", "err_connect", "err_read", "err_write", "err_timeout"))
print("%.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d" % (w["rps"], w["p50_ms"], w["p99_ms"], e))' "$json"), peak RSS $((peak / 1024)) MiB, load $load"
}

# PostgreSQL's own point-select ceiling on this machine, nothing of
# shiptrack on top: pgbench's select-only script on a scale-10 database
# (1,000,000 accounts), prepared statements, as many connections and
# threads as wrk uses. Measured in the same runs as the lookups it bounds,
# so the database-path targets are ratios within one run.
CEIL_DB=${DBP}pgbench
ceiling_init() {
	fresh_db "$CEIL_DB"
	pgbench -i -q -s 10 "$PG/$CEIL_DB" >"$RAW/pgbench-init.txt" 2>&1 || { cat "$RAW/pgbench-init.txt" >&2; die "pgbench -i failed"; }
}
ceiling() { # SIZE RUN
	local f=$RAW/pgbench-$1-$2.txt tps load
	load=$(awk '{print $1}' /proc/loadavg)
	pgbench -S -M prepared -c "$CONNS" -j "$THREADS" -T "$(secs "$DURATION")" -n "$PG/$CEIL_DB" >"$f" 2>&1 || { cat "$f" >&2; die "pgbench -S failed"; }
	tps=$(awk '/^tps = / {print $3; exit}' "$f")
	[ -n "$tps" ] || { cat "$f" >&2; die "pgbench gave no tps"; }
	emit "{\"kind\":\"ceiling\",\"size\":$1,\"run\":$2,\"name\":\"pgbench_select\",\"tps\":$tps,\"load1\":$load}"
	log "size $1 run $2 pgbench -S -M prepared -c $CONNS -j $THREADS: $tps tps, load $load"
}
ceiling_init

# --- tracking events (issue 15) ----------------------------------------------
# seed_events LOOKUPS K: gives each shipment of LOOKUPS K more events through
# POST /events (batches of 1,000), an hour apart and ending a day ago, so
# they are the shipment's latest; fails unless every one is created.
seed_events() {
	python3 - "$1" "$2" "$API_PORT" "$WTOKEN" <<'PY'
import datetime, http.client, json, sys
path, k, port, token = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ships = [l.rstrip("\n").split(",", 1) for l in open(path) if l.strip()]
end = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(days=1)
texts = ["info received", "inbound-scan", "in-transit", "transit", "scanned", "out for delivery"]
items = [{"carrier": c, "tracking_number": t, "event_id": f"bench-seed-{j}",
          "occurred_at": (end - datetime.timedelta(hours=k - j)).strftime("%Y-%m-%dT%H:%M:%SZ"),
          "status_text": texts[j % len(texts)], "location": f"Hub {j}", "message": "bench seed"}
         for t, c in ships for j in range(k)]
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=120)
created = 0
for i in range(0, len(items), 1000):
    conn.request("POST", "/events", json.dumps(items[i:i + 1000]),
                 {"Content-Type": "application/json", "Authorization": "Bearer " + token})
    r = conn.getresponse()
    body = r.read()
    if r.status not in (200, 201):
        sys.exit(f"POST /events: {r.status} {body[:500]!r}")
    created += json.loads(body)["created"]
if created != len(items):
    sys.exit(f"created {created} events, want {len(items)}")
print(created)
PY
}
# event_count CARRIER TN: events of one shipment, read past the cache.
event_count() {
	curl -sf -H 'Cache-Control: no-cache' "http://127.0.0.1:$API_PORT/shipment/$1/$2?events=all" |
		python3 -c 'import json, sys; print(len(json.load(sys.stdin)["events"]))'
}
all_events() { sql "$1" "select count(*) from events"; }

# events_block SIZE DB LOOKUPS: with the server (SRV_PID, write token) and
# the reference (REF_PID) running on DB. The first --event-shipments
# shipments of LOOKUPS get 20 events each; their lookups (cached and
# database path) are measured beside the database path of the others (1
# import event each) and the reference, run by run. Then the ingest:
# POST /events batches of 1,000 and single-event POSTs on random shipments.
events_block() {
	local n=$1 db=$2 lookups=$3 m=$EVENT_SHIPMENTS ev20 plain tn carrier have k t0 secs got run before after
	[ "$m" -lt "$n" ] || m=$((n / 2))
	ev20=$RAW/events20-$n.lookups plain=$RAW/plain-$n.lookups
	head -n "$m" "$lookups" >"$ev20"
	tail -n +"$((m + 1))" "$lookups" >"$plain"
	IFS=, read -r tn carrier < <(head -1 "$ev20")
	have=$(event_count "$carrier" "$tn") || die "lookup of $carrier/$tn failed"
	k=$((20 - have))
	t0=$(now)
	got=$(seed_events "$ev20" "$k") || die "seeding events failed"
	secs=$(since "$t0")
	for line in "$(head -1 "$ev20")" "$(tail -1 "$ev20")"; do
		IFS=, read -r tn carrier <<<"$line"
		[ "$(event_count "$carrier" "$tn")" = 20 ] || die "$carrier/$tn does not have 20 events after seeding"
	done
	curl -sf -o "$RAW/answer-events20-$n.json" "http://127.0.0.1:$API_PORT/shipment/$carrier/$tn" || die "lookup of $carrier/$tn failed"
	log "size $n: $m shipments now have 20 events ($got created through POST /events in ${secs}s)"
	emit "{\"kind\":\"events_dataset\",\"size\":$n,\"shipments\":$m,\"events_each\":20,\"seeded\":$got,\"seed_seconds\":$secs,\"answer_bytes\":$(wc -c <"$RAW/answer-events20-$n.json"),\"plain_answer_bytes\":$(wc -c <"$RAW/answer-$n.json")}"

	log "size $n: events warm-up"
	WARM=$DURATION
	DURATION=5s
	measure "$n" 0 events20_get "$SRV_PID" "$API_PORT" "$db" get "$ev20" >/dev/null 2>&1
	measure "$n" 0 events20_db "$SRV_PID" "$API_PORT" "$db" fresh "$ev20" >/dev/null 2>&1
	DURATION=$WARM
	for run in $(seq 1 "$RUNS"); do
		measure "$n" "$run" reference_events "$REF_PID" "$REF_PORT" "" get "$lookups"
		measure "$n" "$run" events20_get "$SRV_PID" "$API_PORT" "$db" get "$ev20"
		measure "$n" "$run" events20_db "$SRV_PID" "$API_PORT" "$db" fresh "$ev20"
		measure "$n" "$run" plain_db "$SRV_PID" "$API_PORT" "$db" fresh "$plain"
	done

	# Ingest. measure reads LUA and CONNS; each run's events are counted in
	# the database too (created = rows added, whatever wrk saw).
	WARM=$DURATION
	DURATION=5s
	LUA=$EVENTS_LUA CONNS=$INGEST_CONNS measure "$n" 0 ingest_batch "$SRV_PID" "$API_PORT" "$db" batch "$lookups" "$WTOKEN" 1000 w >/dev/null 2>&1
	LUA=$EVENTS_LUA CONNS=$SINGLE_CONNS measure "$n" 0 ingest_single "$SRV_PID" "$API_PORT" "$db" single "$lookups" "$WTOKEN" w >/dev/null 2>&1
	DURATION=$WARM
	for run in $(seq 1 "$RUNS"); do
		before=$(all_events "$db")
		LUA=$EVENTS_LUA CONNS=$INGEST_CONNS measure "$n" "$run" ingest_batch "$SRV_PID" "$API_PORT" "$db" batch "$lookups" "$WTOKEN" 1000 "r$run"
		after=$(all_events "$db")
		emit "{\"kind\":\"ingest\",\"size\":$n,\"run\":$run,\"scenario\":\"ingest_batch\",\"batch\":1000,\"connections\":$INGEST_CONNS,\"created\":$((after - before))}"
		log "size $n run $run ingest_batch: $((after - before)) events created"
		before=$after
		LUA=$EVENTS_LUA CONNS=$SINGLE_CONNS measure "$n" "$run" ingest_single "$SRV_PID" "$API_PORT" "$db" single "$lookups" "$WTOKEN" "r$run"
		after=$(all_events "$db")
		emit "{\"kind\":\"ingest\",\"size\":$n,\"run\":$run,\"scenario\":\"ingest_single\",\"batch\":1,\"connections\":$SINGLE_CONNS,\"created\":$((after - before))}"
		log "size $n run $run ingest_single: $((after - before)) events created"
	done
}

# --- read-cache size table (issue 17: not a target, for sizing a VM) --------
# cache_fill PORT: the read cache's entries and bytes held.
cache_fill() { metric_values "$1" shiptrack_cache_entries shiptrack_cache_bytes; }
# cache_block SIZE DB LOOKUPS: for each --cache-mb value, a server with that
# cache on DB, warmed by one pass over the shipments in order (a random
# warm-up would take far longer to reach the steady state of a large cache),
# then uniformly random GET lookups measured like the other scenarios. The
# server left running is the last one (SRV_PID).
cache_block() {
	local n=$1 db=$2 lookups=$3 mb run wpid deadline e b last stall t0
	local -a mbs
	IFS=, read -r -a mbs <<<"$CACHE_MBS"
	for mb in "${mbs[@]}"; do
		stop_pid "$SRV_PID"
		start_server "$db" "server-cache$mb-$n" SHIPTRACK_API_CACHE_MB="$mb"
		wait_http "http://127.0.0.1:$API_PORT/healthz" 60 || die "server (cache_mb $mb) did not start"
		t0=$(now)
		wrk -t"$THREADS" -c"$CONNS" -d"$CACHE_WARM" -s "$LUA" "http://127.0.0.1:$API_PORT" -- seq "$lookups" "$THREADS" >"$RAW/wrk-cache$mb-$n-warm.txt" 2>&1 &
		wpid=$!
		deadline=$((SECONDS + $(secs "$CACHE_WARM") + 5)) last=-1 stall=0
		while kill -0 "$wpid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
			sleep 2
			read -r e b < <(cache_fill "$API_PORT")
			if [ "$e" -ge "$n" ]; then break; fi
			if [ "$e" -le "$last" ]; then stall=$((stall + 1)); else stall=0; fi
			[ "$stall" -ge 3 ] && break # full: evicting as fast as it fills
			last=$e
		done
		kill "$wpid" 2>/dev/null || true
		wait "$wpid" 2>/dev/null || true
		read -r e b < <(cache_fill "$API_PORT")
		log "size $n cache_mb $mb: warmed in $(since "$t0")s, $e entries, $((b / 1048576)) MiB"
		emit "{\"kind\":\"cache_fill\",\"size\":$n,\"cache_mb\":$mb,\"entries\":$e,\"bytes\":$b,\"warm_seconds\":$(since "$t0")}"
		for run in $(seq 1 "$RUNS"); do
			measure "$n" "$run" "cache_mb_$mb" "$SRV_PID" "$API_PORT" "$db" get "$lookups"
		done
	done
}

# --- webhook deliveries (issue 16) --------------------------------------------
# The receiver (bench/receiver) answers 204 at once, except on paths
# holding "hang", which it never answers (the delivery client times out).
# Each measurement subscribes endpoints on paths of their own, so its
# counts are its own.
RECV_PID=
recv_stat() { # PATH: "count unique hung first last" of one path (zeros before any)
	curl -sf --max-time 5 "http://127.0.0.1:$RECV_PORT/stats" | python3 -c '
import json, sys
s = json.load(sys.stdin).get(sys.argv[1], {})
print(s.get("count", 0), s.get("unique", 0), s.get("hung", 0), s.get("first", 0), s.get("last", 0))' "$1"
}
subscribe() { # PATH: subscribes the receiver's PATH to every status change; prints the endpoint id
	curl -sf -X POST "http://127.0.0.1:$API_PORT/webhooks" -H "Authorization: Bearer $ATOKEN" \
		-H 'Content-Type: application/json' -d "{\"url\":\"http://127.0.0.1:$RECV_PORT$1\"}" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}
unsubscribe() { # ID: the endpoint and its deliveries go
	curl -sf -o /dev/null -X DELETE "http://127.0.0.1:$API_PORT/webhooks/$1" -H "Authorization: Bearer $ATOKEN"
}
# backlog DB ENDPOINT N: N pending deliveries to ENDPOINT, due now, one per
# shipment (the first N by id), written in one statement as the outbox
# writes them (store.enqueueWebhooks): the rows of N status changes.
backlog() {
	sql "$1" "INSERT INTO webhook_deliveries (delivery_id, endpoint_id, shipment_id, event_type, previous_status, new_status, status, attempts, next_attempt_at, created_at)
SELECT 'dlv_bench_$2_' || id, $2, id, 'shipment.status_changed', 'in_transit', status, 'pending', 0, date_trunc('second', now()), date_trunc('second', now())
FROM (SELECT id, status FROM shipments ORDER BY id LIMIT $3) s"
}
pending_of() { sql "$1" "select count(*) from webhook_deliveries where endpoint_id = $2 and status = 'pending'"; }
# wait_delivered PATH N SECONDS: until the receiver has N distinct
# deliveries on PATH; prints its stats.
wait_delivered() {
	local deadline=$((SECONDS + $3)) st
	while :; do
		st=$(recv_stat "$1")
		[ "$(echo "$st" | cut -d' ' -f2)" -ge "$2" ] && { echo "$st"; return 0; }
		[ $SECONDS -lt $deadline ] || { echo "$st"; return 1; }
		kill -0 "$SRV_PID" 2>/dev/null || die "server exited; see $RAW"
		sleep 0.1
	done
}

# drain SIZE RUN SCENARIO DB N HEALTHY-PATH [HANG-PATH]: subscribes the
# paths, writes a backlog of N deliveries to each (the hanging endpoint's
# first, so they are claimed ahead), and times the healthy endpoint's:
# deliveries/s = (N - 1) ÷ (last answer - first answer) at the receiver;
# wall_s also counts the wait for the first sweep. CPU of the server and of
# the database's backends over the whole drain.
drain() {
	local size=$1 run=$2 scen=$3 db=$4 m=$5 path=$6 hang=${7:-} ep hep= c0 c1 t0 wall st load f=$RAW/wh-$1-$3-$2 ok=true
	ep=$(subscribe "$path") || die "POST /webhooks failed"
	[ -z "$hang" ] || hep=$(subscribe "$hang") || die "POST /webhooks failed"
	load=$(cut -d' ' -f1 /proc/loadavg)
	pg_snapshot "$db" >"$f.pg0"
	: >"$f.pg"
	pg_sampler "$db" "$f.pg" &
	local pgs=$!
	c0=$(ticks "$SRV_PID")
	t0=$(now)
	[ -z "$hep" ] || backlog "$db" "$hep" "$m"
	backlog "$db" "$ep" "$m"
	st=$(wait_delivered "$path" "$m" 300) || ok=false
	wall=$(since "$t0")
	c1=$(ticks "$SRV_PID")
	kill "$pgs" 2>/dev/null || true
	wait "$pgs" 2>/dev/null || true
	pg_snapshot "$db" >>"$f.pg"
	local count unique _h first last hung=0 pending
	read -r count unique _h first last <<<"$st"
	[ -z "$hang" ] || read -r _ _ hung _ _ < <(recv_stat "$hang")
	pending=$(pending_of "$db" "$ep")
	emit "{\"kind\":\"webhooks\",\"size\":$size,\"run\":$run,\"scenario\":\"$scen\",\"backlog\":$m,\"delivered\":$unique,\"duplicates\":$((count - unique)),\"finished\":$ok,\"pending_left\":$pending,\"first\":$first,\"last\":$last,\"wall_s\":$wall,\"hang_requests\":$hung,\"server_cpu_s\":$(cpu_s "$c0" "$c1"),\"pg_cpu_s\":$(pg_cpu_s "$f.pg0" "$f.pg"),\"load1\":$load}"
	log "size $size run $run $scen: $unique of $m delivered in $(awk -v a="$first" -v b="$last" 'BEGIN {printf "%.2f", b - a}')s first to last (${wall}s from the backlog's write; $((count - unique)) duplicates${hang:+, $hung requests held by the hanging endpoint}), load $load"
	unsubscribe "$ep"
	[ -z "$hep" ] || unsubscribe "$hep"
}

# webhooks_block SIZE DB LOOKUPS: with the server (SRV_PID, admin token,
# private addresses allowed) running on DB. Run by run: (b) the ingest
# of the events scenarios without any endpoint, then with one subscribed
# to every status change, the receiver counting what arrives meanwhile;
# (a) the drain of a backlog of --webhook-deliveries deliveries to one
# healthy endpoint; (c) the same with a second endpoint that never answers
# and a backlog as large.
webhooks_block() {
	local n=$1 db=$2 lookups=$3 m=$WEBHOOK_DELIVERIES run ep st0 st1 before after c0 c1 made path
	[ "$m" -le "$n" ] || m=$n
	"$OUT/receiver" -addr "127.0.0.1:$RECV_PORT" >"$RAW/receiver.log" 2>&1 &
	RECV_PID=$!
	PIDS+=("$RECV_PID")
	wait_http "http://127.0.0.1:$RECV_PORT/stats" 10 || die "receiver did not start"
	log "size $n: webhook deliveries warm-up"
	drain "$n" 0 wh_drain "$db" "$((m / 4))" /warm/healthy >/dev/null 2>&1
	for run in $(seq 1 "$RUNS"); do
		# "latest": every event is its shipment's newest, so it may change
		# the status (events of the last 30 days, as ingest_batch sends,
		# are older than the import's and change none).
		LUA=$EVENTS_LUA CONNS=$INGEST_CONNS measure "$n" "$run" wh_ingest_off "$SRV_PID" "$API_PORT" "$db" batch "$lookups" "$WTOKEN" 1000 "whoff$run" latest
		path=/b$run/healthy
		ep=$(subscribe "$path") || die "POST /webhooks failed"
		read -r _ st0 _ _ _ < <(recv_stat "$path")
		before=$(all_events "$db")
		LUA=$EVENTS_LUA CONNS=$INGEST_CONNS measure "$n" "$run" wh_ingest_on "$SRV_PID" "$API_PORT" "$db" batch "$lookups" "$WTOKEN" 1000 "whon$run" latest
		read -r _ st1 _ _ _ < <(recv_stat "$path")
		after=$(all_events "$db")
		made=$(sql "$db" "select count(*) from webhook_deliveries where endpoint_id = $ep")
		emit "{\"kind\":\"webhooks\",\"size\":$n,\"run\":$run,\"scenario\":\"wh_ingest_on\",\"events_created\":$((after - before)),\"deliveries_made\":$made,\"delivered_during\":$((st1 - st0)),\"seconds\":$(secs "$DURATION")}"
		log "size $n run $run wh_ingest_on: $((after - before)) events, $made deliveries written, $((st1 - st0)) delivered during the ${DURATION} run"
		# What is left of them goes with the endpoint (DELETE drops its
		# pending deliveries), so the drains start from an empty outbox.
		unsubscribe "$ep"
		sleep 2
		drain "$n" "$run" wh_drain "$db" "$m" "/a$run/healthy"
		drain "$n" "$run" wh_drain_hang "$db" "$m" "/c$run/healthy" "/c$run/hang"
		# The hanging endpoint's attempts in flight end with the client's
		# timeout (10 s) before the next run's measurements.
		[ "$run" = "$RUNS" ] || sleep 11
	done
	if [ "$PROFILE" = 1 ]; then
		ep=$(subscribe /profile/healthy) || die "POST /webhooks failed"
		backlog "$db" "$ep" "$m"
		curl -s -o "$RAW/cpu-webhooks-$n.pprof" "http://127.0.0.1:$PPROF_PORT/debug/pprof/profile?seconds=3" || true
		(cd "$ROOT" && go tool pprof -top -nodecount=40 "$RAW/cpu-webhooks-$n.pprof" >"$RAW/cpu-webhooks-$n.top.txt" 2>&1 &&
			go tool pprof -top -cum -nodecount=60 "$RAW/cpu-webhooks-$n.pprof" >"$RAW/cpu-webhooks-$n.cum.txt" 2>&1) || true
		log "profile of a drain: $RAW/cpu-webhooks-$n.{pprof,top.txt,cum.txt}"
		unsubscribe "$ep"
	fi
	stop_pid "$RECV_PID"
}

IFS=, read -r -a SIZES <<<"$SHIPMENTS"
LARGEST=0 SMALLEST=${SIZES[0]}
for n in "${SIZES[@]}"; do
	[ "$n" -gt "$LARGEST" ] && LARGEST=$n
	[ "$n" -lt "$SMALLEST" ] && SMALLEST=$n
done

for n in "${SIZES[@]}"; do
	name=ship$n
	gen_csv "$name" --shipments "$n" --cities "$CITIES"
	lookups=$DATA/$name.lookups
	db=$DBP$n
	fresh_db "$db"
	timed_import "import-$name" "$(db_url "$db")" "$DATA/$name.csv" "${IMPORTER:-$BIN}"
	[ "$IMPORT_DONE" = true ] || die "could not import the $n-shipment dataset in ${IMPORT_TIMEOUT}s (try --importer)"
	emit "{\"kind\":\"import\",\"database\":\"postgres\",\"dataset\":$n,\"importer\":\"$(basename "${IMPORTER:-$BIN}")\",\"done\":true,\"rows\":$(csv_rows "$DATA/$name.csv"),\"shipments\":$n,\"seconds\":$IMPORT_SECS,\"rss_kb\":$IMPORT_RSS_KB}"
	refresh "$db" "$name"

	# A real lookup answer: the reference serves the same bytes.
	IFS=, read -r tn carrier < <(head -1 "$lookups")
	curl -sf -X POST "http://127.0.0.1:$API_PORT/shipment/" -H 'Content-Type: application/json' \
		-d "{\"tracking_number\":\"$tn\",\"carrier\":\"$carrier\"}" >"$RAW/answer-$n.json" || die "lookup of $carrier/$tn failed"
	"$OUT/reference" -addr "127.0.0.1:$REF_PORT" -body "$RAW/answer-$n.json" >"$RAW/reference-$n.log" 2>&1 &
	REF_PID=$!
	PIDS+=("$REF_PID")
	wait_http "http://127.0.0.1:$REF_PORT/" 10 || die "reference did not start"

	# The deep page: the cursor after the shipment ~90% through the
	# (carrier key, tracking number) order, i.e. base64url({"c":..,"t":..}).
	cursor=$(python3 - "$lookups" <<'EOF'
import base64, json, sys
keys = sorted((c.strip().lower(), t) for t, c in (l.rstrip("\n").split(",", 1) for l in open(sys.argv[1]) if l.strip()))
c, t = keys[int(len(keys) * 0.9) - 1]
print(base64.urlsafe_b64encode(json.dumps({"c": c, "t": t}, separators=(",", ":")).encode()).decode().rstrip("="))
EOF
)
	deep="/shipment/?limit=100&cursor=$cursor"
	first="/shipment/?limit=100"
	got=$(curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$API_PORT$deep" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') ||
		die "deep page $deep failed"
	[ "$got" = 100 ] || die "deep page has $got shipments, want 100"
	curl -sf -o "$RAW/page-first-$n.json" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$API_PORT$first" || die "first page failed"
	emit "{\"kind\":\"dataset\",\"size\":$n,\"rows\":$(csv_rows "$DATA/$name.csv"),\"locations\":$(sql "$db" "select count(*) from locations"),\"answer_bytes\":$(wc -c <"$RAW/answer-$n.json"),\"page_bytes\":$(wc -c <"$RAW/page-first-$n.json"),\"deep_path\":\"$deep\"}"

	log "size $n: warm-up"
	WARM=$DURATION
	DURATION=5s
	measure "$n" 0 lookup_get "$SRV_PID" "$API_PORT" "$db" get "$lookups" >/dev/null 2>&1
	measure "$n" 0 list_first "$SRV_PID" "$API_PORT" "$db" path "$first" "$TOKEN" >/dev/null 2>&1
	measure "$n" 0 reference "$REF_PID" "$REF_PORT" "" get "$lookups" >/dev/null 2>&1
	DURATION=$WARM
	for run in $(seq 1 "$RUNS"); do
		measure "$n" "$run" reference "$REF_PID" "$REF_PORT" "" get "$lookups"
		measure "$n" "$run" lookup_post "$SRV_PID" "$API_PORT" "$db" post "$lookups"
		measure "$n" "$run" lookup_get "$SRV_PID" "$API_PORT" "$db" get "$lookups"
		measure "$n" "$run" lookup_db "$SRV_PID" "$API_PORT" "$db" fresh "$lookups"
		ceiling "$n" "$run"
		measure "$n" "$run" lookup_hot "$SRV_PID" "$API_PORT" "$db" hot "$lookups"
		measure "$n" "$run" list_first "$SRV_PID" "$API_PORT" "$db" path "$first" "$TOKEN"
		measure "$n" "$run" list_deep "$SRV_PID" "$API_PORT" "$db" path "$deep" "$TOKEN"
	done

	if [ "$n" = "$LARGEST" ] && [ "$(secs "$RSS_DURATION")" -gt 0 ]; then
		log "size $n: RSS over a $RSS_DURATION run of GET lookups"
		rss_sampler "$SRV_PID" "$RAW/rss-over-time-$n.txt" 1 &
		sampler=$!
		wrk -t"$THREADS" -c"$CONNS" -d"$RSS_DURATION" --latency -s "$LUA" "http://127.0.0.1:$API_PORT" -- get "$lookups" >"$RAW/wrk-rss-$n.txt" 2>&1 || true
		kill "$sampler" 2>/dev/null || true
		wait "$sampler" 2>/dev/null || true
		samples=$(awk '{printf "%s[%s,%s]", (NR > 1 ? "," : ""), $1, $2}' "$RAW/rss-over-time-$n.txt")
		emit "{\"kind\":\"rss\",\"size\":$n,\"duration\":\"$RSS_DURATION\",\"samples\":[$samples],\"hwm_kb\":$(vm_hwm "$SRV_PID"),\"wrk\":$(sed -n 's/^BENCHJSON //p' "$RAW/wrk-rss-$n.txt")}"
	fi

	if [ "$PROFILE" = 1 ] && [ "$n" = "$LARGEST" ]; then
		for p in "get:get $lookups" "post:post $lookups" "list_first:path $first $TOKEN"; do
			label=${p%%:*}
			# shellcheck disable=SC2086 # word splitting of the wrk arguments is meant
			wrk -t"$THREADS" -c"$CONNS" -d14s -s "$LUA" "http://127.0.0.1:$API_PORT" -- ${p#*:} >/dev/null 2>&1 &
			wpid=$!
			sleep 2
			curl -s -o "$RAW/cpu-$label-$n.pprof" "http://127.0.0.1:$PPROF_PORT/debug/pprof/profile?seconds=10" || true
			wait "$wpid" || true
			(cd "$ROOT" && go tool pprof -top -nodecount=40 "$RAW/cpu-$label-$n.pprof" >"$RAW/cpu-$label-$n.top.txt" 2>&1 &&
				go tool pprof -top -cum -nodecount=60 "$RAW/cpu-$label-$n.pprof" >"$RAW/cpu-$label-$n.cum.txt" 2>&1) || true
		done
		log "profiles: $RAW/cpu-*-$n.{pprof,top.txt,cum.txt}"
	fi

	# --- tracking events (issue 15), on the smallest size only: last, as
	# the ingest adds events to random shipments of the dataset.
	if [ "$n" = "$SMALLEST" ] && [ "$EVENT_SHIPMENTS" -gt 0 ]; then
		events_block "$n" "$db" "$lookups"
	fi
	if [ "$n" = "$SMALLEST" ] && [ "$WEBHOOK_DELIVERIES" -gt 0 ]; then
		webhooks_block "$n" "$db" "$lookups"
	fi
	# Last: it replaces the server (SRV_PID) with one per cache size.
	if [ "$n" = "$LARGEST" ] && [ -n "$CACHE_MBS" ]; then
		cache_block "$n" "$db" "$lookups"
	fi

	stop_pid "$REF_PID"
	stop_pid "$SRV_PID"

	# The SQLite database path: what `go run .` serves (issue 17, the
	# embedded default's tail). Same dataset, same fresh GETs, no
	# PostgreSQL; the weather is fetched before measuring so no refresh
	# writes during it.
	sqlite_url=sqlite:$OUT/bench-$n.db
	rm -f "$OUT/bench-$n.db"*
	timed_import "import-sqlite-$name" "$sqlite_url" "$DATA/$name.csv"
	if [ "$IMPORT_DONE" = true ]; then
		start_server "$sqlite_url" "server-sqlite-$name"
		wait_http "http://127.0.0.1:$API_PORT/healthz" 60 || die "SQLite server did not start; see $RAW/server-sqlite-$name.log"
		wait_weather 1 >/dev/null
		sleep 1 # the last fetches in flight
		WARM=$DURATION
		DURATION=5s
		measure "$n" 0 sqlite_db_path "$SRV_PID" "$API_PORT" "" fresh "$lookups" >/dev/null 2>&1
		DURATION=$WARM
		for run in $(seq 1 "$RUNS"); do
			measure "$n" "$run" sqlite_db_path "$SRV_PID" "$API_PORT" "" fresh "$lookups"
		done
		stop_pid "$SRV_PID"
	else
		log "size $n: SQLite import not finished; no sqlite_db_path"
	fi
	rm -f "$OUT/bench-$n.db"*

	# Requests the server logged as failed (log level error): wrk does not
	# see those whose client had already hung up at the end of a run.
	srvlog=$RAW/server-$name.log
	emit "{\"kind\":\"server_errors\",\"size\":$n,\"total\":$(grep -c '"request failed"' "$srvlog" || true),\"canceled_500\":$(grep '"request failed"' "$srvlog" | grep -c 'context canceled' || true),\"unavailable_503\":$(grep '"request failed"' "$srvlog" | grep -c '"status":503' || true)}"
	if [ "$KEEP" = 0 ]; then
		psql "$PG/postgres" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
	fi
done

# --- report -------------------------------------------------------------------
{
	echo "{\"kind\":\"meta\",\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"nproc\":$(nproc),\"cpu\":\"$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)\",\"mem_kb\":$(awk '/^MemTotal/ {print $2}' /proc/meminfo),\"go\":\"$(go env GOVERSION)\",\"postgres\":\"$(psql "$PG/postgres" -qAtc 'show server_version')\",\"wrk\":\"-t$THREADS -c$CONNS -d$DURATION\",\"runs\":$RUNS,\"pg_params\":\"$PG_PARAMS\",\"commit\":\"$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$ROOT" && git diff --quiet HEAD 2>/dev/null || echo '+dirty')\",\"raw\":\"${RAW#"$ROOT"/}\"}"
} >>"$RESULTS"
python3 "$ROOT/bench/report.py" "$RESULTS" | tee "$OUT/results.md" >"$RAW/results.md"
cat "$OUT/results.md"
log "results: bench/out/results.md (raw: ${RAW#"$ROOT"/})"
