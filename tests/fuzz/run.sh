#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for a fixed time, starting
# from its committed seed corpus. Any crash, sanitizer report, broken invariant, timeout or
# out-of-memory fails the run; the input that caused it is kept and its path printed.
#
# Usage: tests/fuzz/run.sh [seconds per target (default 20)] [target...]
#   SWIFTNESS_FUZZ_BUILD_DIR  build directory (default build-fuzz)
#   SWIFTNESS_FUZZ_OUT        where new corpus entries and crash inputs go (default: a temp dir)
# The README's test command runs it with 20 s per target; tests/fuzz/run-long.sh runs 10 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(pdu_reader text login scsi config)
build=${SWIFTNESS_FUZZ_BUILD_DIR:-build-fuzz}

# -O1 without NDEBUG: asserts on, and a quick compile (the libraries are built for this alone).
cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DSWIFTNESS_FUZZ=ON \
  -DSWIFTNESS_TESTS=OFF -DCMAKE_BUILD_TYPE=Fuzz -DCMAKE_CXX_FLAGS_FUZZ="-O1 -gline-tables-only" \
  >/dev/null
cmake --build "$build" -j2 --target $(printf 'fuzz_%s ' "${targets[@]}")

out=${SWIFTNESS_FUZZ_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/swiftness-fuzz.XXXXXX")}
mkdir -p "$out"

# One target for `seconds`, its exit code in $out/$t/rc.
fuzz_one() {
  local t=$1 rc=0
  mkdir -p "$out/$t/corpus" "$out/$t/crashes"
  # New inputs go to the scratch corpus (first directory); the seeds are only read.
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=16384 -print_final_stats=1 -artifact_prefix="$out/$t/crashes/" \
    "$out/$t/corpus" "tests/fuzz/corpus/$t" >"$out/$t/log" 2>&1 || rc=$?
  echo "$rc" >"$out/$t/rc"
}

# SWIFTNESS_FUZZ_JOBS targets at a time (default 2, one per core of the CI machine): each still
# runs for `seconds`; five targets take three rounds instead of five.
parallel=${SWIFTNESS_FUZZ_JOBS:-2}
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do wait -n || true; done
  fuzz_one "$t" &
done
wait

failed=()
for t in "${targets[@]}"; do
  log="$out/$t/log"
  rc=$(cat "$out/$t/rc" 2>/dev/null || echo "?")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 || true)
  if [ "$rc" != 0 ]; then
    echo "fuzz_$t: FAILED (exit $rc) after ${execs:-?} executions; log $log"
    grep -E 'ERROR|invariant failed|SUMMARY|Test unit written' "$log" | head -20 || true
    failed+=("$t")
  else
    echo "fuzz_$t: ok, ${execs:-?} executions in ${seconds} s, ${cov:-cov: ?}"
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzzing: FAILED: ${failed[*]} (inputs under $out/*/crashes)"
  exit 1
fi
echo "fuzzing: no findings (work directory $out)"
[ -z "${SWIFTNESS_FUZZ_OUT:-}" ] && rm -rf "$out"
exit 0
