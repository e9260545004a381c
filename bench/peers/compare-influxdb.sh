#!/usr/bin/env bash
# Side-by-side ingest benchmark: aquawatch (role all, embedded, detection and durable log on)
# and InfluxDB 1.6 (Debian package `influxdb`, WAL fsync on every write, its default), fed the
# same line-protocol workload by the same load generator (`aquawatch bench`), one after the
# other in the same run. Both servers run on loopback with data in a temporary directory.
#
#   bench/peers/compare-influxdb.sh [--sensors N] [--duration S] [--batch B] [--connections C]
#                                   [--rate R]   (readings/s offered; 0 = as fast as possible)
#
# Prints each bench's report and writes JSON results to build/bench-results/.
set -euo pipefail
cd "$(dirname "$0")/../.."

sensors=100000
duration=30
batch=5000
connections=2
rate=0
while (($#)); do
  case "$1" in
    --sensors) sensors=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh --bench
cmake --preset release >/dev/null
cmake --build --preset release --target aquawatch
bin=build/release/aquawatch
out=build/bench-results
mkdir -p "$out"

work=$(mktemp -d /tmp/aquawatch-bench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

source bench/peers/influxdb.sh

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB; $(date -u +%FT%TZ)"

# --- aquawatch, TCP line protocol ---------------------------------------------------------
run_aquawatch() {  # transport, format, label
  local http tcp dir
  http=$(free_port)
  tcp=$(free_port)
  dir="$work/aquawatch-$3"
  "$bin" serve --data-dir "$dir" --http-port "$http" --tcp-port "$tcp" --log-level warn \
    >"$work/serve-$3.out" 2>"$work/serve-$3.err" &
  local server=$!
  pids+=("$server")
  wait_http "http://127.0.0.1:$http/readyz"
  local target="127.0.0.1:$tcp"
  [[ $1 == http ]] && target="http://127.0.0.1:$http"
  echo
  echo "== aquawatch, $3: rate ${rate:-0} (0 = unlimited), $sensors sensors, 6 parameters, batch $batch, $connections connections, ${duration}s"
  "$bin" bench --transport "$1" --format "$2" --target "$target" \
    --api-url "http://127.0.0.1:$http" --sensors "$sensors" --params 6 --batch "$batch" \
    --connections "$connections" --duration "$duration" --rate "$rate" \
    --json "$out/aquawatch-$3-rate$rate.json"
  du -sh "$dir" | awk '{print "   data on disk: " $1}'
  kill "$server"
  wait "$server" || true
}

run_aquawatch tcp line tcp-line-protocol
run_aquawatch http line http-line-protocol

# --- InfluxDB 1.6 -------------------------------------------------------------------------
start_influxdb "$work" unlimited
echo
echo "== InfluxDB $(influxd version 2>/dev/null | awk '{print $2}'), HTTP /write: $sensors sensors, 6 parameters, batch $batch, $connections connections, ${duration}s"
"$bin" bench --peer influxdb --transport http --format line \
  --target "http://127.0.0.1:$influx_http" --sensors "$sensors" --params 6 --batch "$batch" \
  --connections "$connections" --duration "$duration" --rate "$rate" --alert-probes 0 \
  --json "$out/influxdb-http-line-protocol-rate$rate.json"
du -sh "$work/influx" | awk '{print "   data on disk: " $1}'
