#!/usr/bin/env bash
# Alert latency under full ingest load: reading received -> alert on the WebSocket, and -> the
# webhook receiver through the notifier, in-process and through a real RabbitMQ broker.
#
# For each hand-off (in_process, rabbitmq) the server runs with a notify policy that pages the
# bench's webhook receiver at once for every alert of site "bench-probes", while `aquawatch bench`
# loads it over TCP as fast as it takes readings (N sensors, 6 parameters). About once a second a
# probe sensor gets a critically low chlorine reading (high priority: contamination-grade
# threshold) and another a low one (medium priority). The bench times each from the moment its
# POST is sent to the alert on the WebSocket and to the webhook's arrival.
# RabbitMQ is Debian's, started by scripts/test-services.sh on loopback and stopped at the end.
#
#   bench/alerts.sh [--sensors N] [--seconds S] [--mode in_process|rabbitmq|both]
#
# Used for docs/benchmarks.md ("Alert latency to people").
set -euo pipefail
cd "$(dirname "$0")/.."

sensors=100000
seconds=60
mode=both
while (($#)); do
  case "$1" in
    --sensors) sensors=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
case "$mode" in
  in_process) modes=(in_process) ;;
  rabbitmq) modes=(rabbitmq) ;;
  both) modes=(in_process rabbitmq) ;;
  *) echo "--mode: in_process, rabbitmq or both" >&2; exit 2 ;;
esac

cmake --preset release >/dev/null
cmake --build --preset release --target aquawatch >/dev/null
bin=build/release/aquawatch
out=build/bench-results
mkdir -p "$out"
work=$(mktemp -d /tmp/aquawatch-alerts-XXXXXX)
env_file="$work/services.env"
server=
cleanup() {
  [[ -n "$server" ]] && kill -9 "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  scripts/test-services.sh stop "$env_file" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
source bench/peers/influxdb.sh  # free_port, wait_http

if [[ " ${modes[*]} " == *" rabbitmq "* ]]; then
  scripts/test-services.sh start "$env_file" >/dev/null
  # shellcheck disable=SC1090
  source "$env_file"
fi

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB; $(date -u +%FT%TZ)"
for m in "${modes[@]}"; do
  http=$(free_port)
  tcp=$(free_port)
  hook=$(free_port)
  cat >"$work/policy-$m.yaml" <<YAML
receivers:
  - name: bench
    targets:
      - {channel: webhook, url: "http://127.0.0.1:$hook/hook"}
policies:
  - name: page-now
    send_resolved: false
    stages:
      - {after: 0s, receivers: [bench]}
routes:
  - match: {site: bench-probes}
    policy: page-now
YAML
  bus=(--alert-bus in_process)
  if [[ "$m" == rabbitmq ]]; then
    bus=(--alert-bus rabbitmq)
    export AQUAWATCH_RABBITMQ_PORT=$AQUAWATCH_TEST_AMQP_PORT
    export AQUAWATCH_RABBITMQ_QUEUE="bench-alerts-$http"
  fi
  echo "== $m: $sensors sensors x 6 parameters over TCP, unlimited, $seconds s; probes over HTTP"
  "$bin" serve --data-dir "$work/data-$m" --http-port "$http" --tcp-port "$tcp" \
    --log-level warn --notify-policy-file "$work/policy-$m.yaml" "${bus[@]}" \
    >"$work/serve-$m.out" 2>"$work/serve-$m.err" &
  server=$!
  wait_http "http://127.0.0.1:$http/readyz" 60
  "$bin" bench --transport tcp --format line --target "127.0.0.1:$tcp" \
    --api-url "http://127.0.0.1:$http" --sensors "$sensors" --params 6 --batch 5000 \
    --connections 2 --duration "$seconds" --alert-probes 100000 --webhook-port "$hook" \
    --json "$out/alerts-$m-$sensors.json" 2>/dev/null |
    grep -E "results|workload|sent readings|durable|alert|webhook|loop"
  curl -s "http://127.0.0.1:$http/metrics" |
    grep -E '^aquawatch_notification_latency_seconds_(count|sum)\{channel="webhook"' || true
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=
done
