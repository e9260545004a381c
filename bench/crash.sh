#!/usr/bin/env bash
# The long crash runs whose short versions are in `make test`:
#   - the SimEnv tests (tests/unit/pipeline/crash_test.cc) with many random power-cut seeds;
#   - the real-process kill -9 loop under mixed load (HTTP, TCP, MQTT through a real Mosquitto,
#     queries, checkpoints every MiB), many rounds per seed, several seeds.
#
#   bench/crash.sh [simenv-seeds] [kill-rounds] [kill-seeds]     (defaults: 200 40 5)
#
# Runs on the debug (ASan + UBSan) build. Prints each seed, so a failure can be replayed with
# AQUAWATCH_TEST_CRASH_SEED=<seed> AQUAWATCH_TEST_CRASH_ROUNDS=<rounds>.
set -euo pipefail
cd "$(dirname "$0")/.."
simenv_seeds=${1:-200}
kill_rounds=${2:-40}
kill_seeds=${3:-5}

cmake --preset debug >/dev/null
cmake --build --preset debug

start=$(date +%s)
echo "== SimEnv: ${simenv_seeds} randomized power-cut seeds, two shards"
AQUAWATCH_TEST_CRASH_SEEDS=$simenv_seeds build/debug/test_pipeline --gtest_filter='Crash.*'
simenv_done=$(date +%s)

env_file=$(mktemp /tmp/aquawatch-crash-env-XXXXXX)
trap 'scripts/test-services.sh stop "$env_file"' EXIT
scripts/test-services.sh start "$env_file"
set -a
# shellcheck disable=SC1090
source "$env_file"
set +a
echo "== kill -9 loop: ${kill_seeds} seeds x ${kill_rounds} rounds under mixed load"
base=${AQUAWATCH_TEST_CRASH_SEED_BASE:-$((RANDOM * 32768 + RANDOM))}
for i in $(seq 1 "$kill_seeds"); do
  seed=$((base + i))
  AQUAWATCH_TEST_CRASH_SEED=$seed AQUAWATCH_TEST_CRASH_ROUNDS=$kill_rounds PYTHONPATH=tests/integration \
    python3 tests/integration/test_crash_recovery.py --binary build/debug/aquawatch
done
end=$(date +%s)
echo "crash runs passed: SimEnv ${simenv_seeds} seeds in $((simenv_done - start)) s;" \
  "$((kill_seeds * kill_rounds)) kill -9 rounds in $((end - simenv_done)) s"
