#!/usr/bin/env bash
# The seed's fleet on one node, played in sensor time: N sensors each report 6 parameters every
# 10 s of sensor time, as fast as the server takes them (a simulated-time speed-up), until every
# sensor has covered --hours of sensor time, so every open chunk (1 h spans) has filled and
# rolled at least once: the head is in its steady state. Reports readings/s, RSS per sensor at
# the end, the shard loop histogram, alert latency (critical-chlorine probes over the WebSocket,
# one a second), then the restart time after kill -9 (checkpoint load plus log replay).
# With --peer influxdb, InfluxDB 1.6 (Debian's) takes the same workload after it, with its own
# default limits (max-series-per-database 1,000,000), for at most --peer-seconds (at its rate a
# whole fleet run would take hours; its readings/s and errors are what is compared).
#
#   bench/fleet.sh [--sensors N] [--hours H] [--rate R] [--max-seconds S]
#                  [--peer influxdb] [--peer-seconds S]
#
# Used for docs/benchmarks.md ("The fleet in sensor time").
set -euo pipefail
cd "$(dirname "$0")/.."

sensors=1000000
hours=2
rate=0
peer=
max_seconds=3600
peer_seconds=300
while (($#)); do
  case "$1" in
    --sensors) sensors=$2; shift 2 ;;
    --hours) hours=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --peer) peer=$2; shift 2 ;;
    --max-seconds) max_seconds=$2; shift 2 ;;
    --peer-seconds) peer_seconds=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
rounds=$(python3 -c "print(int($hours * 360))")

cmake --preset release >/dev/null
cmake --build --preset release --target aquawatch >/dev/null
bin=build/release/aquawatch
out=build/bench-results
mkdir -p "$out"
work=$(mktemp -d /tmp/aquawatch-fleet-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
source bench/peers/influxdb.sh

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB; $(date -u +%FT%TZ)"
echo "== aquawatch: $sensors sensors x 6 parameters, one reading per 10 s of sensor time, $hours h ($rounds readings per sensor), rate ${rate} (0 = as fast as taken)"
http=$(free_port)
tcp=$(free_port)
serve=("$bin" serve --data-dir "$work/data" --http-port "$http" --tcp-port "$tcp" --log-level warn)
"${serve[@]}" >"$work/serve.out" 2>"$work/serve.err" &
server=$!
pids+=("$server")
wait_http "http://127.0.0.1:$http/readyz"
"$bin" bench --transport tcp --format line --target "127.0.0.1:$tcp" \
  --api-url "http://127.0.0.1:$http" --sensors "$sensors" --params 6 --batch 5000 \
  --connections 2 --rounds "$rounds" --duration "$max_seconds" --rate "$rate" \
  --alert-probes 100000 --json "$out/fleet-aquawatch-$sensors.json" 2>/dev/null
curl -s "http://127.0.0.1:$http/metrics" |
  grep -E '^aquawatch_(urgent_readings_total|urgent_deferred_total|checkpoint_seconds_(sum|count)|shard_loop_max_seconds)' || true
du -sh "$work/data" | awk '{print "   data on disk: " $1}'

echo "== restart after kill -9"
kill -9 "$server"
wait "$server" 2>/dev/null || true
start=$(date +%s.%N)
"${serve[@]}" >"$work/serve2.out" 2>"$work/serve2.err" &
server=$!
pids+=("$server")
wait_http "http://127.0.0.1:$http/readyz" 600
end=$(date +%s.%N)
python3 -c "print(f'   ready after {($end - $start):.1f} s')"
grep -iE "recover|replay|checkpoint" "$work/serve2.err" | head -5 || true
curl -s "http://127.0.0.1:$http/metrics" | grep -E '^aquawatch_(sensors|process_resident_memory_bytes) ' || true
kill "$server"
wait "$server" 2>/dev/null || true

if [[ $peer == influxdb ]]; then
  start_influxdb "$work" default
  echo
  echo "== InfluxDB $(influxd version 2>/dev/null | awk '{print $2}') (default series limits), the same workload"
  "$bin" bench --peer influxdb --transport http --format line \
    --target "http://127.0.0.1:$influx_http" --sensors "$sensors" --params 6 --batch 5000 \
    --connections 2 --rounds "$rounds" --duration "$peer_seconds" --rate "$rate" \
    --alert-probes 0 --json "$out/fleet-influxdb-$sensors.json" 2>/dev/null
  grep -m3 -iE "max-series|partial write" "$work/influxd.log" || true
  du -sh "$work/influx" | awk '{print "   data on disk: " $1}'
fi
