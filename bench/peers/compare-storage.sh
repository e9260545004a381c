#!/usr/bin/env bash
# Storage benchmark: loads the SAME readings into PostgreSQL 15 (row per reading, primary key
# (sensor_id, time)), InfluxDB 1.6 (Debian package `influxdb`, TSM engine) and aquawatch, one after
# the other in the same run, and reports for each the load rate (rows/s, values/s) and the bytes on
# disk per stored value, indexes included. A value is one non-null parameter cell.
#
#   bench/peers/compare-storage.sh [--source gecco|sim|both] [--sensors N] [--hours H]
#                                  [--batch LINES] [--gecco-file CSV] [--binary PATH]
#                                  [--influx-settle SECONDS] [--keep]
#
# Sources (default both, one after the other):
#   gecco  the GECCO 2018 drinking-water file (../shared/data/gecco2018_train.csv), one sensor,
#          1-minute samples, six parameters, NA cells skipped
#   sim    a synthetic fleet, --sensors (1000) x --hours (24) at a 10 s interval, six parameters,
#          quantised to sensor resolution, deterministic (bench/peers/gen_readings.py)
#
# Each store gets the data the way it is normally fed: PostgreSQL through psql COPY ... FROM STDIN
# (FORMAT csv); InfluxDB and aquawatch through HTTP /write line protocol (precision=ns) in batches
# of --batch lines over one keep-alive connection. Servers run on loopback on free ports with all
# data under one `mktemp -d` directory; every server is stopped on exit, error or Ctrl-C.
#
# Prints a table per source and writes build/bench-results/storage-<source>-<date>.json.
# Needs the release binary (cmake --preset release && cmake --build --preset release) and the
# benchmark peers (scripts/install-deps.sh --bench). Nothing is downloaded.
set -euo pipefail
command_line=$(printf '%q ' "$0" "$@")
cd "$(dirname "$0")/../.."
repo=$(pwd)

sources=(gecco sim)
sensors=1000
hours=24
batch=5000
gecco_file="$repo/../shared/data/gecco2018_train.csv"
binary=build/release/aquawatch
influx_settle=900   # longest wait for InfluxDB to snapshot and compact, seconds
keep=0
while (($#)); do
  case "$1" in
    --source)
      case "$2" in
        gecco | sim) sources=("$2") ;;
        both) sources=(gecco sim) ;;
        *) echo "--source must be gecco, sim or both" >&2; exit 2 ;;
      esac
      shift 2 ;;
    --sensors) sensors=$2; shift 2 ;;
    --hours) hours=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --gecco-file) gecco_file=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    --influx-settle) influx_settle=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

pg_bin=/usr/lib/postgresql/15/bin
gen=(python3 "$repo/bench/peers/gen_readings.py")
out_dir=build/bench-results

# --- preconditions ------------------------------------------------------------------------
# The binary is not built here: it may be mid-rebuild, and a build on 2 cores would compete with
# the measurement. Build it first.
if [[ ! -x $binary ]]; then
  echo "no $binary: build it with cmake --preset release && cmake --build --preset release" >&2
  exit 1
fi
for tool in "$pg_bin/initdb" "$pg_bin/pg_ctl" psql influxd curl python3 runuser; do
  if ! command -v "$tool" >/dev/null; then
    echo "missing $tool: run scripts/install-deps.sh --bench" >&2
    exit 1
  fi
done
if [[ " ${sources[*]} " == *" gecco "* && ! -r $gecco_file ]]; then
  echo "no GECCO file at $gecco_file (use --gecco-file, or --source sim)" >&2
  exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "run as root: PostgreSQL is started as the postgres user with runuser" >&2
  exit 1
fi
mkdir -p "$out_dir"

# --- servers and cleanup ------------------------------------------------------------------
work=$(mktemp -d /tmp/aquawatch-storage-XXXXXX)
# mktemp makes the directory 0700; the postgres user must be able to reach its data below it.
chmod 755 "$work"
pids=()      # influxd and aquawatch processes still running
pg_data=""   # data directory of the running PostgreSQL, if any

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $pg_data ]]; then
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if ((keep)); then
    echo "kept $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
# Ctrl-C: background servers of a non-interactive shell ignore SIGINT, so the EXIT trap must
# stop them; turning the signals into an exit runs it.
trap 'exit 130' INT
trap 'exit 143' TERM

# free_port, wait_http (its own InfluxDB config below: inmem index, short cold durations).
source bench/peers/influxdb.sh
forget_pid() {  # pid: no longer ours to stop
  local keep_pids=() p
  for p in "${pids[@]}"; do [[ $p == "$1" ]] || keep_pids+=("$p"); done
  pids=("${keep_pids[@]}")
}
stop_rc=0
stop_server() {  # pid timeout-seconds: SIGTERM and wait; sets stop_rc to the exit status
  local pid=$1
  stop_rc=0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $(($2 * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "   pid $pid did not stop within $2 s of SIGTERM; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" || stop_rc=$?
  forget_pid "$pid"
}
now_ns() { date +%s%N; }
seconds_since() { python3 -c "import sys; print(f'{(int(sys.argv[2]) - int(sys.argv[1])) / 1e9:.3f}')" "$1" "$(now_ns)"; }
du_b() { du -sb "$1" | cut -f1; }       # apparent size, what `du -sb` reports
du_alloc() { du -sB1 "$1" | cut -f1; }  # blocks actually allocated (differs for sparse files)
kv() { echo "$2=$3" >>"$1"; }           # file key value: one figure for the report

# Snapshot the binary: a rebuild during the run must not swap it between sources.
cp "$binary" "$work/aquawatch"
aquawatch="$work/aquawatch"

pg_version=$("$pg_bin/postgres" --version | awk '{print $3}')
influx_version=$(influxd version 2>/dev/null | awk '{print $2}')
aqw_built=$(date -u -r "$binary" +%FT%TZ)
aqw_commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
date_tag=$(date -u +%Y%m%dT%H%M%SZ)
fs_type=$(stat -f -c %T "$work")
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $fs_type under $work; $(date -u +%FT%TZ)"
echo "== PostgreSQL $pg_version, InfluxDB $influx_version, aquawatch $binary (built $aqw_built, HEAD $aqw_commit)"

# --- input ----------------------------------------------------------------------------------
generate() {  # source dir
  local t0
  t0=$(now_ns)
  if [[ $1 == gecco ]]; then
    "${gen[@]}" gecco --input "$gecco_file" --out "$2" >/dev/null
  else
    "${gen[@]}" sim --sensors "$sensors" --hours "$hours" --out "$2" >/dev/null
  fi
  python3 - "$2/meta.json" "$(seconds_since "$t0")" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"   {m['rows']:,} rows, {m['values']:,} values, {m['sensors']:,} sensor(s), "
      f"{m['first_time']} .. {m['last_time']}; CSV {m['csv_bytes'] / 1e6:.1f} MB, "
      f"line protocol {m['line_protocol_bytes'] / 1e6:.1f} MB (generated in {sys.argv[2]} s)")
PY
}

# --- PostgreSQL 15 --------------------------------------------------------------------------
pg_port=""
psql_() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres "$@"; }

bench_postgres() {  # dir
  local dir=$1 pg="$1/postgres" res="$1/postgres.kv" t0
  mkdir -p "$pg"
  chown postgres: "$pg"
  # C locale: byte-order text comparison for the sensor_id key, the same on every machine.
  runuser -u postgres -- "$pg_bin/initdb" -D "$pg/data" -A trust -U postgres -E UTF8 \
    --locale=C >"$pg/initdb.log" 2>&1
  pg_port=$(free_port)
  pg_data="$pg/data"
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg" start >/dev/null
  echo "-- PostgreSQL $pg_version on 127.0.0.1:$pg_port: COPY FROM STDIN (FORMAT csv), one transaction"
  psql_ <<'SQL'
CREATE TABLE readings (
  sensor_id text NOT NULL,
  time timestamptz NOT NULL,
  ph double precision,
  turbidity_ntu double precision,
  dissolved_oxygen_mg_l double precision,
  temperature_c double precision,
  conductivity_us_cm double precision,
  free_chlorine_mg_l double precision,
  orp_mv double precision,
  PRIMARY KEY (sensor_id, time)
);
SQL
  t0=$(now_ns)
  psql_ -c "COPY readings FROM STDIN (FORMAT csv)" <"$dir/readings.csv"
  kv "$res" load_seconds "$(seconds_since "$t0")"
  t0=$(now_ns)
  psql_ -c "VACUUM ANALYZE readings"
  kv "$res" vacuum_analyze_seconds "$(seconds_since "$t0")"
  # pg_total_relation_size = heap + TOAST + free space and visibility maps + all indexes.
  local sizes counts total heap idx toast rows values
  sizes=$(psql_ -At -F' ' -c "SELECT pg_total_relation_size(c.oid), pg_relation_size(c.oid),
      pg_indexes_size(c.oid), COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0)
      FROM pg_class c WHERE c.relname = 'readings'")
  counts=$(psql_ -At -F' ' -c "SELECT count(*), sum(num_nonnulls(ph, turbidity_ntu,
      dissolved_oxygen_mg_l, temperature_c, conductivity_us_cm, free_chlorine_mg_l, orp_mv))
      FROM readings")
  read -r total heap idx toast <<<"$sizes"
  read -r rows values <<<"$counts"
  kv "$res" bytes "$total"
  kv "$res" alloc_bytes "$total"
  kv "$res" heap_bytes "$heap"
  kv "$res" index_bytes "$idx"
  kv "$res" toast_bytes "$toast"
  kv "$res" rows_stored "$rows"
  kv "$res" values_stored "$values"
  kv "$res" shared_buffers "$(psql_ -At -c 'SHOW shared_buffers')"
  kv "$res" synchronous_commit "$(psql_ -At -c 'SHOW synchronous_commit')"
  kv "$res" wal_level "$(psql_ -At -c 'SHOW wal_level')"
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null
  pg_data=""
  # Context only: the whole cluster (catalogs, pg_wal segments) is not part of the figure.
  kv "$res" cluster_dir_bytes "$(du_b "$pg/data")"
  kv "$res" measured "pg_total_relation_size('readings')"
  ((keep)) || rm -rf "$pg"
}

# --- InfluxDB 1.6 ---------------------------------------------------------------------------
# Cold durations, shortened from 10 min / 4 h: influxd 1.6 does NOT snapshot its cache to TSM on
# SIGTERM (the WAL is replayed at the next start instead), so without this the data directory
# would hold only what the 25 MB cache limit happened to flush and the rest would sit in the WAL.
# With them, a shard idle for 5 s is snapshotted to TSM and one idle for 10 s is fully compacted:
# the layout InfluxDB reaches on its own once writes to a shard stop.
influx_snapshot_cold=5s
influx_full_cold=10s
influx_quiet=25   # seconds with no file change and no compaction before the store counts as settled

influx_busy() {  # url: prints "idle" or what is still going on, from /debug/vars
  curl -fsS -m 30 "$1/debug/vars" | python3 -c '
import json, sys
d = json.load(sys.stdin)
cache = active = 0
for v in d.values():
    if not isinstance(v, dict):
        continue
    if v.get("name") == "tsm1_cache":
        cache += v["values"].get("memBytes", 0)
    elif v.get("name") == "tsm1_engine":
        active += sum(n for k, n in v["values"].items()
                      if k.endswith("CompactionsActive") or k.endswith("CompactionQueue"))
print("idle" if cache == 0 and active == 0 else f"cache {cache} B, {active} compactions")'
}

influx_settle() {  # url data-dir wal-dir: waits until snapshotted and compacted; 0 if it did
  local url=$1 sig last="" quiet=0 state t0
  t0=$(date +%s)
  while (($(date +%s) - t0 < influx_settle)); do
    state=$(influx_busy "$url")
    sig=$(find "$2" "$3" -type f -printf '%P %s\n' | sort | md5sum)
    if [[ $state == idle && $sig == "$last" ]]; then
      quiet=$((quiet + 1))
      ((quiet >= influx_quiet)) && return 0
    else
      quiet=0
    fi
    last=$sig
    sleep 1
  done
  echo "   InfluxDB still busy after $influx_settle s ($state); measuring anyway" >&2
  return 1
}

bench_influxdb() {  # dir
  local dir=$1 ix="$1/influxdb" res="$1/influxdb.kv" http rpc pid t0
  mkdir -p "$ix"
  http=$(free_port)
  rpc=$(free_port)
  cat >"$ix/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$ix/meta"
[data]
  dir = "$ix/data"
  wal-dir = "$ix/wal"
  wal-fsync-delay = "0s"
  index-version = "inmem"
  cache-snapshot-write-cold-duration = "$influx_snapshot_cold"
  compact-full-write-cold-duration = "$influx_full_cold"
  query-log-enabled = false
  max-series-per-database = 0
  max-values-per-tag = 0
[http]
  enabled = true
  bind-address = "127.0.0.1:$http"
  log-enabled = false
  max-body-size = 0
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
CONF
  influxd -config "$ix/influxdb.conf" >"$ix/influxd.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  local url="http://127.0.0.1:$http"
  wait_http "$url/ping" 30
  curl -fsS -XPOST "$url/query" --data-urlencode "q=CREATE DATABASE bench" >/dev/null
  echo "-- InfluxDB $influx_version on 127.0.0.1:$http: /write line protocol, batches of $batch (WAL fsync per write, inmem index)"
  "${gen[@]}" post --url "$url/write?db=bench&precision=ns" --file "$dir/readings.lp" --batch "$batch" \
    --result "$dir/influxdb-post.json" >/dev/null
  kv "$res" loaded_data_bytes "$(du_b "$ix/data")"
  kv "$res" loaded_wal_bytes "$(du_b "$ix/wal")"
  t0=$(now_ns)
  if influx_settle "$url" "$ix/data" "$ix/wal"; then kv "$res" settled true; else kv "$res" settled false; fi
  kv "$res" settle_seconds "$(seconds_since "$t0")"
  # Every field's count, summed: the values InfluxDB holds (duplicates would have collapsed).
  kv "$res" values_stored "$(curl -fsS -m 900 -G "$url/query" --data-urlencode db=bench \
    --data-urlencode 'q=SELECT count(*) FROM water' | python3 -c '
import json, sys
r = json.load(sys.stdin)["results"][0]
print(sum(sum(x for x in row[1:] if x) for s in r.get("series", []) for row in s["values"]))')"
  t0=$(now_ns)
  stop_server "$pid" 300
  kv "$res" stop_seconds "$(seconds_since "$t0")"
  kv "$res" stop_exit_status "$stop_rc"
  local wal_bytes wal_files tsm
  # du of an empty WAL tree still counts its directories; the file bytes say whether it is empty.
  wal_bytes=$(find "$ix/wal" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  wal_files=$(find "$ix/wal" -type f -size +0 | wc -l)
  tsm=$(find "$ix/data" -name '*.tsm' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  kv "$res" bytes "$(du_b "$ix/data")"
  kv "$res" alloc_bytes "$(du_alloc "$ix/data")"
  kv "$res" wal_bytes "$(du_b "$ix/wal")"
  kv "$res" wal_file_bytes "$wal_bytes"
  kv "$res" wal_nonempty_files "$wal_files"
  kv "$res" tsm_bytes "$tsm"
  kv "$res" tsm_files "$(find "$ix/data" -name '*.tsm' | wc -l)"
  kv "$res" shards "$(find "$ix/data/bench/autogen" -mindepth 1 -maxdepth 1 -type d | wc -l)"
  kv "$res" series_file_bytes "$(du_b "$ix/data/bench/_series")"
  kv "$res" series_file_alloc_bytes "$(du_alloc "$ix/data/bench/_series")"
  if ((wal_files == 0)); then
    kv "$res" measured "data dir (wal dir kept apart, empty after the snapshot: not counted)"
  else
    kv "$res" measured "data dir only: the WAL still holds $wal_bytes B in $wal_files file(s), NOT counted"
  fi
  ((keep)) || rm -rf "$ix"
}

# --- aquawatch ------------------------------------------------------------------------------
bench_aquawatch() {  # dir
  local dir=$1 aq="$1/aquawatch" res="$1/aquawatch.kv" pid port t0
  mkdir -p "$aq"
  # Logs beside, not inside, the data directory, which is what gets measured.
  "$aquawatch" serve --data-dir "$aq/data" --http-port 0 --tcp-port 0 --log-level warn \
    >"$aq/stdout" 2>"$aq/stderr" &
  pid=$!
  pids+=("$pid")
  # With port 0 the server prints {"event":"ready","http_port":..,"tcp_port":..} once listening.
  port=""
  for _ in $(seq 1 300); do
    port=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    if line.startswith("{"):
        d = json.loads(line)
        if d.get("event") == "ready":
            print(d["http_port"])' "$aq/stdout" 2>/dev/null || true)
    [[ -n $port ]] && break
    kill -0 "$pid" 2>/dev/null || { cat "$aq/stderr" >&2; echo "aquawatch exited" >&2; return 1; }
    sleep 0.1
  done
  [[ -n $port ]] || { echo "aquawatch did not become ready" >&2; return 1; }
  local url="http://127.0.0.1:$port"
  echo "-- aquawatch on 127.0.0.1:$port: /write line protocol, batches of $batch (acknowledged after fdatasync)"
  "${gen[@]}" post --url "$url/write?db=x&precision=ns" --file "$dir/readings.lp" --batch "$batch" \
    --result "$dir/aquawatch-post.json" >/dev/null
  kv "$res" rows_stored "$(curl -fsS "$url/metrics" |
    awk '/^aquawatch_readings_durable_total/ {s += $2} END {printf "%d\n", s}')"
  t0=$(now_ns)
  stop_server "$pid" 120
  kv "$res" stop_seconds "$(seconds_since "$t0")"
  kv "$res" stop_exit_status "$stop_rc"
  kv "$res" bytes "$(du_b "$aq/data")"
  kv "$res" alloc_bytes "$(du_alloc "$aq/data")"
  local entry parts=()
  for entry in "$aq/data"/*; do
    parts+=("$(basename "$entry")$([[ -d $entry ]] && echo /) $(du_b "$entry") B")
  done
  if [[ -d $aq/data/store ]]; then
    kv "$res" store_bytes "$(du_b "$aq/data/store")"
    kv "$res" store_alloc_bytes "$(du_alloc "$aq/data/store")"
  fi
  [[ -d $aq/data/wal ]] && kv "$res" wal_bytes "$(du_b "$aq/data/wal")"
  local measured
  measured=$(printf '%s, ' "${parts[@]}")
  measured="data dir: ${measured%, }"
  [[ -d $aq/data/store ]] || measured+="; no store/ yet, so this is the raw shard log"
  kv "$res" measured "$measured"
  ((keep)) || rm -rf "$aq"
}

# --- report ---------------------------------------------------------------------------------
report() {  # source dir
  # Context goes in through the environment, so no shell text is ever spliced into Python.
  CMD="$command_line" DATE_TAG="$date_tag" BATCH="$batch" FS_TYPE="$fs_type" \
    PG_VERSION="$pg_version" INFLUX_VERSION="$influx_version" AQW_BINARY="$binary" \
    AQW_BUILT="$aqw_built" AQW_HEAD="$aqw_commit" INFLUX_SNAPSHOT_COLD="$influx_snapshot_cold" \
    INFLUX_FULL_COLD="$influx_full_cold" \
    python3 - "$1" "$2" "$out_dir/storage-$1-$date_tag.json" <<'PY'
import json, os, platform, sys

source, d, out = sys.argv[1], sys.argv[2], sys.argv[3]
env = os.environ

def num(v):
    for t in (int, float):
        try:
            return t(v)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(v, v)

def kv(name):
    res = {}
    with open(os.path.join(d, name + ".kv")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            res[k] = num(v)
    return res

meta = json.load(open(os.path.join(d, "meta.json")))
rows, values = meta["rows"], meta["values"]
pg, ix, aq = kv("postgres"), kv("influxdb"), kv("aquawatch")
for name, s in (("influxdb", ix), ("aquawatch", aq)):
    s["post"] = json.load(open(os.path.join(d, name + "-post.json")))
    s["load_seconds"] = s["post"]["seconds"]
for s in (pg, ix, aq):
    s["rows_per_s"] = round(rows / s["load_seconds"])
    s["values_per_s"] = round(values / s["load_seconds"])
    s["bytes_per_value"] = round(s["bytes"] / values, 3)
    s["alloc_bytes_per_value"] = round(s["alloc_bytes"] / values, 3)
ix["tsm_bytes_per_value"] = round(ix["tsm_bytes"] / values, 3)
ix["bytes_with_wal"] = ix["bytes"] + ix["wal_file_bytes"]
ix["bytes_with_wal_per_value"] = round(ix["bytes_with_wal"] / values, 3)
ix["config"] = {"wal-fsync-delay": "0s", "index-version": "inmem",
                "cache-snapshot-write-cold-duration": env["INFLUX_SNAPSHOT_COLD"],
                "compact-full-write-cold-duration": env["INFLUX_FULL_COLD"]}
if "store_bytes" in aq:
    aq["store_bytes_per_value"] = round(aq["store_bytes"] / values, 3)
pg["version"], ix["version"] = env["PG_VERSION"], env["INFLUX_VERSION"]
aq["binary"] = {"path": env["AQW_BINARY"], "built": env["AQW_BUILT"], "head": env["AQW_HEAD"]}

doc = {
    "benchmark": "storage",
    "source": source,
    "date": env["DATE_TAG"],
    "command": env["CMD"].strip(),
    "machine": {"cores": os.cpu_count(), "kernel": platform.release(),
                "filesystem": env["FS_TYPE"]},
    "batch_lines": int(env["BATCH"]),
    "input": meta,
    "stores": {"postgresql": pg, "influxdb": ix, "aquawatch": aq},
}
with open(out, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")

names = {"postgresql": "PostgreSQL", "influxdb": "InfluxDB", "aquawatch": "aquawatch"}
stored = {"postgresql": f"{pg['rows_stored']:,} rows, {pg['values_stored']:,} values",
          "influxdb": f"{ix['values_stored']:,} values",
          "aquawatch": f"{aq['rows_stored']:,} rows"}
print()
print(f"== {source}: {rows:,} rows, {values:,} values ({meta['sensors']:,} sensor(s)); as text: "
      f"line protocol {meta['line_protocol_bytes'] / values:.1f} B/value, "
      f"CSV {meta['csv_bytes'] / values:.1f} B/value")
print(f"{'store':<12} {'load s':>8} {'rows/s':>11} {'values/s':>11} {'bytes (du -sb)':>15} "
      f"{'B/value':>8} {'alloc B/value':>13}  stored (check)")
for key, s in doc["stores"].items():
    print(f"{names[key]:<12} {s['load_seconds']:>8.2f} {s['rows_per_s']:>11,} "
          f"{s['values_per_s']:>11,} {s['bytes']:>15,} {s['bytes_per_value']:>8.2f} "
          f"{s['alloc_bytes_per_value']:>13.2f}  {stored[key]}")
print(f"   PostgreSQL: {pg['measured']}: heap {pg['heap_bytes']:,}, indexes "
      f"{pg['index_bytes']:,}, TOAST {pg['toast_bytes']:,}; VACUUM ANALYZE "
      f"{pg['vacuum_analyze_seconds']} s (whole cluster dir {pg['cluster_dir_bytes']:,} B, "
      f"not counted)")
print(f"   InfluxDB: {ix['measured']}; {ix['shards']} shard(s), {ix['tsm_files']} TSM file(s) "
      f"{ix['tsm_bytes']:,} B = {ix['tsm_bytes_per_value']:.2f} B/value; _series "
      f"{ix['series_file_bytes']:,} B apparent, {ix['series_file_alloc_bytes']:,} B allocated")
print(f"     right after the load: data {ix['loaded_data_bytes']:,} B + wal "
      f"{ix['loaded_wal_bytes']:,} B; then {'settled' if ix['settled'] else 'NOT settled'} "
      f"(snapshot + compaction) in {ix['settle_seconds']} s; SIGTERM stop {ix['stop_seconds']} s; "
      f"after it data + WAL files {ix['bytes_with_wal']:,} B")
line = f"   aquawatch: {aq['measured']}; SIGTERM stop {aq['stop_seconds']} s"
if "store_bytes" in aq:
    line += f"; store/ alone {aq['store_bytes']:,} B = {aq['store_bytes_per_value']:.2f} B/value"
print(line)
retries = {names[k]: s["post"]["retries_429"] for k, s in (("influxdb", ix), ("aquawatch", aq))}
if any(retries.values()):
    print("   HTTP 429 retries: " + ", ".join(f"{k} {v}" for k, v in retries.items()))
for key, s in doc["stores"].items():
    if s.get("stop_exit_status", 0) != 0:
        print(f"   WARNING: {names[key]} exited with status {s['stop_exit_status']} on SIGTERM")
print(f"   -> {out}")
PY
}

# --- main -----------------------------------------------------------------------------------
for src in "${sources[@]}"; do
  dir="$work/$src"
  mkdir -p "$dir"
  echo
  echo "== source $src"
  generate "$src" "$dir"
  bench_postgres "$dir"
  bench_influxdb "$dir"
  bench_aquawatch "$dir"
  report "$src" "$dir"
  ((keep)) || rm -f "$dir/readings.csv" "$dir/readings.lp"
done
