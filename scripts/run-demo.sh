#!/usr/bin/env bash
# `make run`: builds the release binary, starts `aquawatch serve` (role all, embedded) and a
# simulated fleet of 1,000 sensors with a contamination event every few minutes, and says where
# to look. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

cmake --preset release >/dev/null
cmake --build --preset release --target aquawatch
bin=build/release/aquawatch
data_dir=${AQUAWATCH_DATA_DIR:-data}
http_port=${AQUAWATCH_HTTP_PORT:-8080}

"$bin" serve --data-dir "$data_dir" --http-port "$http_port" &
server=$!
sim=""
trap 'kill $server $sim 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
# Recovery of a large data directory can take a while; a server that exits is not waited for.
ready=0
for _ in $(seq 1 600); do
  if curl -fs "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1; then
    ready=1
    break
  fi
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if [[ $ready == 0 ]]; then
  echo "aquawatch did not start (its log is above). If $data_dir/ holds data from an older" >&2
  echo "aquawatch, start with another directory: AQUAWATCH_DATA_DIR=data2 make run" >&2
  exit 1
fi

"$bin" simulate --sensors 1000 --interval 10 --transport http \
  --target "http://127.0.0.1:$http_port" --contamination-every 120 \
  --labels "$data_dir/simulator-labels.csv" &
sim=$!

cat <<MSG

  aquawatch is running (data in $data_dir/), fed by 1,000 simulated sensors.

    sensors and latest values  http://localhost:$http_port/api/v1/sensors
    alerts                     http://localhost:$http_port/api/v1/alerts
    live stream (WebSocket)    ws://localhost:$http_port/api/v1/stream
    metrics                    http://localhost:$http_port/metrics

  A contamination event is injected every 2 minutes (chlorine drops, turbidity and
  conductivity rise); its alerts appear on /api/v1/alerts and on the stream: threshold
  alerts at once, and after 10 minutes of baseline the detection engine's "event" alerts.
  Ground truth: $data_dir/simulator-labels.csv.  Ctrl-C stops everything.

MSG
wait $server
