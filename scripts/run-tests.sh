#!/usr/bin/env bash
# Builds the debug (ASan + UBSan) tree, starts the test servers, runs every test, and stops the
# servers whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

cmake --preset debug >/dev/null
cmake --build --preset debug

env_file=$(mktemp /tmp/aquawatch-test-env-XXXXXX)
trap 'scripts/test-services.sh stop "$env_file"' EXIT
scripts/test-services.sh start "$env_file"
set -a
# shellcheck disable=SC1090
source "$env_file"
set +a
ctest --preset debug -j2 --timeout 600 "$@"
