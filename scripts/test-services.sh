#!/usr/bin/env bash
# Starts and stops the servers the integration tests need, on loopback ports picked at run time,
# with every file under one temporary directory.
#   scripts/test-services.sh start ENV_FILE   # writes AQUAWATCH_TEST_* variables to ENV_FILE
#   scripts/test-services.sh stop ENV_FILE    # stops them and removes the directory
set -euo pipefail

cmd=${1:?usage: test-services.sh start|stop ENV_FILE}
env_file=${2:?usage: test-services.sh start|stop ENV_FILE}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {  # port, name
  for _ in $(seq 1 100); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "test-services: $2 did not start on port $1" >&2
  return 1
}

case "$cmd" in
  start)
    dir=$(mktemp -d /tmp/aquawatch-services-XXXXXX)
    mqtt_port=$(free_port)
    cat > "$dir/mosquitto.conf" <<CONF
listener $mqtt_port 127.0.0.1
allow_anonymous true
persistence false
# Keep every QoS 1 message for a subscriber that is away (the default, 1000, drops the rest).
max_queued_messages 0
pid_file $dir/mosquitto.pid
log_dest file $dir/mosquitto.log
CONF
    # Mosquitto drops privileges to 'mosquitto' when started as root; let it write its log.
    chmod 777 "$dir"
    mosquitto -c "$dir/mosquitto.conf" -d
    wait_port "$mqtt_port" mosquitto

    # SMTP: Debian's aiosmtpd (Debian's python3, not another one on PATH), delivering into a
    # maildir the tests read.
    smtp_port=$(free_port)
    mkdir -p "$dir/maildir/tmp" "$dir/maildir/new" "$dir/maildir/cur"
    /usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox \
      "$dir/maildir" > "$dir/smtp.log" 2>&1 &
    echo $! > "$dir/smtp.pid"
    wait_port "$smtp_port" aiosmtpd

    # Prometheus Alertmanager (Debian's), one node: no cluster port, a receiver that sends
    # nothing; tests read what it holds through its v2 API.
    am_port=$(free_port)
    mkdir -p "$dir/alertmanager"
    cat > "$dir/alertmanager.yml" <<CONF
route:
  receiver: tests
receivers:
  - name: tests
CONF
    prometheus-alertmanager --config.file="$dir/alertmanager.yml" \
      --storage.path="$dir/alertmanager" --web.listen-address="127.0.0.1:$am_port" \
      --cluster.listen-address="" > "$dir/alertmanager.log" 2>&1 &
    echo $! > "$dir/alertmanager.pid"
    wait_port "$am_port" alertmanager

    # RabbitMQ (Debian's), one node on loopback; its files, cookie and logs under $dir. The
    # distribution and CLI ports are set apart from the AMQP port (DEPENDENCIES.md).
    amqp_port=$(free_port)
    dist_port=$(free_port)
    ctl_port=$(free_port)
    mkdir -p "$dir/rabbitmq/home" "$dir/rabbitmq/mnesia" "$dir/rabbitmq/log"
    (
      export HOME="$dir/rabbitmq/home"
      export RABBITMQ_NODENAME="aqwtest$amqp_port@localhost"
      export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$amqp_port
      export RABBITMQ_DIST_PORT=$dist_port
      export RABBITMQ_CTL_DIST_PORT_MIN=$ctl_port RABBITMQ_CTL_DIST_PORT_MAX=$ctl_port
      export RABBITMQ_MNESIA_BASE="$dir/rabbitmq/mnesia" RABBITMQ_LOG_BASE="$dir/rabbitmq/log"
      export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/rabbitmq/enabled_plugins"
      export RABBITMQ_CONFIG_FILE="$dir/rabbitmq/rabbitmq"
      exec /usr/lib/rabbitmq/bin/rabbitmq-server > "$dir/rabbitmq/stdout.log" 2>&1
    ) &
    echo $! > "$dir/rabbitmq.pid"
    for _ in $(seq 1 300); do  # boots in 6-9 s; up to 30 s on a loaded machine
      if python3 -c "import socket; socket.create_connection(('127.0.0.1',$amqp_port),0.2)" \
          2>/dev/null; then
        break
      fi
      sleep 0.1
    done
    wait_port "$amqp_port" rabbitmq

    {
      echo "AQUAWATCH_TEST_SERVICES_DIR=$dir"
      echo "AQUAWATCH_TEST_AMQP_PORT=$amqp_port"
      echo "AQUAWATCH_TEST_MQTT_PORT=$mqtt_port"
      echo "AQUAWATCH_TEST_SMTP_PORT=$smtp_port"
      echo "AQUAWATCH_TEST_MAILDIR=$dir/maildir"
      echo "AQUAWATCH_TEST_ALERTMANAGER_PORT=$am_port"
    } > "$env_file"
    echo "test-services: mosquitto on 127.0.0.1:$mqtt_port, aiosmtpd on $smtp_port," \
      "alertmanager on $am_port, rabbitmq on $amqp_port (files in $dir)"
    ;;
  stop)
    [[ -f "$env_file" ]] || exit 0
    # shellcheck disable=SC1090
    source "$env_file"
    dir=${AQUAWATCH_TEST_SERVICES_DIR:-}
    for pid_file in mosquitto.pid smtp.pid alertmanager.pid; do
      if [[ -n "$dir" && -f "$dir/$pid_file" ]]; then
        kill "$(cat "$dir/$pid_file")" 2>/dev/null || true
      fi
    done
    if [[ -n "$dir" && -f "$dir/rabbitmq.pid" ]]; then
      # The server script runs the Erlang VM as a child: stop the VM of this node, then epmd,
      # which outlives it.
      pkill -f -- "-home $dir/rabbitmq/home" 2>/dev/null || true
      kill "$(cat "$dir/rabbitmq.pid")" 2>/dev/null || true
      for _ in $(seq 1 50); do
        pgrep -f -- "-home $dir/rabbitmq/home" >/dev/null || break
        sleep 0.1
      done
      epmd -kill >/dev/null 2>&1 || true
    fi
    [[ -n "$dir" ]] && rm -rf "$dir"
    rm -f "$env_file"
    echo "test-services: stopped"
    ;;
  *)
    echo "usage: test-services.sh start|stop ENV_FILE" >&2
    exit 2
    ;;
esac
