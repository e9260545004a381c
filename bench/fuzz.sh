#!/usr/bin/env bash
# A fuzzing campaign: runs each libFuzzer target (tests/fuzz/<name>/fuzz.cc) for a given time,
# merges the inputs that add coverage into its committed corpus, and prints a table.
#
#   bench/fuzz.sh [seconds-per-target] [target...]     (default 60 s, every target)
#
# Builds the fuzz targets of the `fuzz` preset (clang; every library with coverage feedback,
# ASan and UBSan), installing libclang-rt-14-dev first if libFuzzer does not link. Targets run
# one after another with one process each (2 cores: one for the fuzzer, one for everything
# else). New inputs go to build/fuzz/work/<target>/ and only those that add coverage are merged
# into tests/fuzz/<target>/corpus/. Crash, leak, timeout and out-of-memory inputs go to
# build/fuzz/artifacts/<target>/; logs to build/fuzz/logs/<target>.log. Exits non-zero if any
# target found something: turn each finding into a fix, a corpus file and a unit regression test
# (tests/fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds == 0)); then
  echo "usage: bench/fuzz.sh [seconds-per-target] [target...]" >&2
  exit 2
fi

# libFuzzer's runtime is in libclang-rt-14-dev, which clang does not pull in.
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' \
  >"$probe_dir/probe.cc"
if ! clang++ -fsanitize=fuzzer,address "$probe_dir/probe.cc" -o "$probe_dir/probe" 2>/dev/null; then
  echo "fuzz.sh: libFuzzer does not link; installing libclang-rt-14-dev"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends libclang-rt-14-dev
fi

all_targets=()
for dir in tests/fuzz/*/; do
  [[ -f "$dir/fuzz.cc" ]] && all_targets+=("$(basename "$dir")")
done
targets=("$@")
((${#targets[@]} > 0)) || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  if [[ ! -f "tests/fuzz/$t/fuzz.cc" ]]; then
    echo "fuzz.sh: no target \"$t\" (have: ${all_targets[*]})" >&2
    exit 2
  fi
done

cmake --preset fuzz >/dev/null
cmake --build build/fuzz -j2 --target "${targets[@]/#/fuzz_}"

# The largest input worth trying: enough for the biggest seed, small enough to stay fast (and to
# keep the committed corpus small).
max_len() {
  case "$1" in
    rfc3339) echo 64 ;;
    http_query) echo 1024 ;;
    checkpoint) echo 16384 ;;
    config | wal) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

row_format='%-12s %8s %12s %14s %13s %10s %8s %3s'
rows=()
failed=0
for t in "${targets[@]}"; do
  bin=build/fuzz/fuzz_$t
  corpus=tests/fuzz/$t/corpus
  work=build/fuzz/work/$t
  artifacts=build/fuzz/artifacts/$t
  log=build/fuzz/logs/$t.log
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  before=$(find "$corpus" -type f | wc -l)
  marker=$(mktemp)
  echo "== $t: $seconds s (log: $log)"
  start=$(date +%s)
  set +e
  # The work directory comes first: libFuzzer writes new inputs to the first corpus directory.
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "$corpus" >"$log" 2>&1
  rc=$?
  set -e
  elapsed=$(($(date +%s) - start))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  # Only what adds coverage to the committed corpus goes in.
  if ! "$bin" -merge=1 -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
    "$corpus" "$work" >>"$log" 2>&1; then
    echo "fuzz.sh: merge of $t failed (see $log)"
    failed=1
  fi
  after=$(find "$corpus" -type f | wc -l)
  findings=$(find "$artifacts" -type f -newer "$marker" | wc -l)
  rm -f "$marker"
  if ((rc != 0 || findings != 0)); then
    failed=1
  fi
  rows+=("$(printf "$row_format" "$t" "$elapsed" "${execs:-?}" "$before" "$after" \
    "$((after - before))" "$findings" "$rc")")
done

echo
printf "$row_format\n" target seconds executions corpus-before corpus-after new-files crashes rc
printf '%s\n' "${rows[@]}"
if ((failed != 0)); then
  echo "fuzz.sh: findings in build/fuzz/artifacts/ (logs in build/fuzz/logs/)"
fi
exit "$failed"
