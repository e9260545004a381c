#!/usr/bin/env bash
# Installs every Debian package aquawatch needs to build, test and run.
# Idempotent: packages already present are skipped, so a second run costs one dpkg query.
# Usage: scripts/install-deps.sh [--bench]   (--bench adds the peers used by benchmarks)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache clang clang-format clang-tidy
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsimdjson-dev libpaho-mqttpp-dev libpaho-mqtt-dev
  libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev zlib1g-dev
  librocksdb-dev libsqlite3-dev libcurl4-openssl-dev librabbitmq-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  mosquitto mosquitto-clients python3 python3-aiosmtpd prometheus-alertmanager rabbitmq-server curl procps
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(influxdb postgresql)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  sudo_cmd=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
# Servers are started by our own scripts on loopback; keep apt from starting system instances.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee /usr/sbin/policy-rc.d >/dev/null
  "${sudo_cmd[@]}" chmod +x /usr/sbin/policy-rc.d
  trap '"${sudo_cmd[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
fi
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
