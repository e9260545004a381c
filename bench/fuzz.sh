#!/usr/bin/env bash
# A fuzzing campaign: runs each libFuzzer target (tests/fuzz/<name>/fuzz.cc) for a given time,
# merges the inputs that add coverage into its committed corpus, and prints a table.
#
#   bench/fuzz.sh [seconds-per-target] [target...]     (default 60 s, every target)
#
# Builds the `fuzz` preset (clang, -fsanitize=fuzzer,address; installs libclang-rt-14-dev if
# libFuzzer does not link). Targets run one after another (2 cores: one for the fuzzer, one for
# everything else). Crash, leak and timeout inputs go to build/fuzz/artifacts/<target>/; the
# script exits non-zero if there is any. Turn each into a regression test (docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true

if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }' |
    clang++ -x c++ -fsanitize=fuzzer,address - -o /tmp/aquawatch-fuzz-probe 2>/dev/null; then
  echo "fuzz.sh: libFuzzer does not link; installing libclang-rt-14-dev"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q libclang-rt-14-dev >/dev/null
fi
rm -f /tmp/aquawatch-fuzz-probe

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for dir in tests/fuzz/*/; do
    [ -f "$dir/fuzz.cc" ] && targets+=("$(basename "$dir")")
  done
fi

# Inputs larger than a target can meaningfully use only slow it down.
max_len() {
  case "$1" in
    checkpoint | wal | chunk) echo 65536 ;;
    json | line_protocol | mqtt) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

summary=()
failed=0
for t in "${targets[@]}"; do
  bin=build/fuzz/fuzz_$t
  corpus=tests/fuzz/$t/corpus
  work=build/fuzz/work/$t
  artifacts=build/fuzz/artifacts/$t
  mkdir -p "$work" "$artifacts"
  before=$(find "$corpus" -type f | wc -l)
  log=build/fuzz/$t.log
  echo "== $t: ${seconds} s"
  set +e
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "$corpus" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  # Keep only what adds coverage to the committed corpus.
  "$bin" -merge=1 -max_len="$(max_len "$t")" "$corpus" "$work" >>"$log" 2>&1 || true
  after=$(find "$corpus" -type f | wc -l)
  crashes=$(find "$artifacts" -type f | wc -l)
  [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ] && failed=1
  summary+=("$(printf '%-14s %6s s %12s execs %5s -> %5s corpus %3s crashes (rc %s)' "$t" "$seconds" \
    "${execs:-0}" "$before" "$after" "$crashes" "$rc")")
done

echo
echo "target            time        executions    corpus before -> after    findings"
printf '%s\n' "${summary[@]}"
[ "$failed" -eq 0 ] || echo "fuzz.sh: findings in build/fuzz/artifacts/ (logs in build/fuzz/<target>.log)"
exit "$failed"
