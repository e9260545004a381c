#!/bin/bash
# One aquawatch server (release build, fresh data directory, loopback) fed over TCP line
# protocol by `aquawatch bench`; prints the bench's throughput, alert, memory and shard-loop
# rows, then the server's checkpoint and log-sync histograms. Used for docs/benchmarks.md
# ("The engine at fleet scale").
#   bench/tcp-run.sh <label> <sensors> <duration-s> [yaml-config-text]
#   RATE=400000 bench/tcp-run.sh paced 100000 30      (offered readings/s; default unlimited)
# Build first: cmake --preset release && cmake --build --preset release --target aquawatch
set -e
bin="$(cd "$(dirname "$0")/.." && pwd)/build/release/aquawatch"
dir=$(mktemp -d /tmp/aqw-run-XXXX)
http=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
tcp=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cfg=()
if [[ -n "$4" ]]; then printf "%b" "$4" > $dir/c.yaml; cfg=(--config $dir/c.yaml); fi
$bin serve --data-dir $dir/data --http-port $http --tcp-port $tcp --log-level warn "${cfg[@]}" > $dir/out 2> $dir/err &
srv=$!
trap 'kill $srv 2>/dev/null || true; rm -rf $dir' EXIT
for i in $(seq 1 200); do curl -fs -o /dev/null http://127.0.0.1:$http/readyz && break; sleep 0.1; done
$bin bench --transport tcp --format line --target 127.0.0.1:$tcp --api-url http://127.0.0.1:$http --sensors $2 --params 6 --batch 5000 --connections 2 --duration $3 ${RATE:+--rate $RATE} --json /tmp/bench-$1.json 2>/dev/null | grep -E "durable|alert latency|memory|loop"
curl -s http://127.0.0.1:$http/metrics | grep -E "^aquawatch_checkpoint_seconds_(sum|count)|^aquawatch_log_sync_seconds_(bucket|count)|^aquawatch_shard_loop_seconds_bucket" 
kill $srv; wait $srv || true
tail -2 $dir/err
