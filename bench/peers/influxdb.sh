# Sourced by the benchmark scripts: loopback ports, waiting for a server, and an InfluxDB 1.6
# started with its data under a work directory.
#   free_port                       prints a free TCP port on 127.0.0.1
#   wait_http URL [SECONDS]         waits (default 20 s) until URL answers 2xx
#   start_influxdb DIR LIMITS       writes DIR/influxdb.conf, starts influxd, appends its pid to
#                                   the caller's pids array, sets influx_http and waits for it;
#                                   LIMITS: "default" (InfluxDB's own series and tag-value
#                                   limits) or "unlimited" (both off)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() {
  local until=$((SECONDS + ${2:-20}))
  while ((SECONDS < until)); do
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.05
  done
  echo "no answer from $1" >&2
  return 1
}

start_influxdb() {
  local dir=$1 limits=$2 rpc
  influx_http=$(free_port)
  rpc=$(free_port)
  local unlimited=""
  if [[ $limits == unlimited ]]; then
    unlimited=$'  max-series-per-database = 0\n  max-values-per-tag = 0'
  fi
  cat >"$dir/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$dir/influx/meta"
[data]
  dir = "$dir/influx/data"
  wal-dir = "$dir/influx/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false
$unlimited
[http]
  enabled = true
  bind-address = "127.0.0.1:$influx_http"
  log-enabled = false
  max-body-size = 0
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
CONF
  influxd -config "$dir/influxdb.conf" >"$dir/influxd.log" 2>&1 &
  pids+=("$!")
  wait_http "http://127.0.0.1:$influx_http/ping"
}
