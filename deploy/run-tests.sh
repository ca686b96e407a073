#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs the unit suites and the
# integration tests under AddressSanitizer + UndefinedBehaviorSanitizer (deploy/sanitizer-pass.sh),
# each libFuzzer target for 20 s (clang), then every test (ctest). Prints each phase's wall time
# at the end.
# Usage: deploy/run-tests.sh [extra ctest args]
#   SWIFTNESS_SANITIZE_RUN=0 skips the sanitizer pass, SWIFTNESS_FUZZ_RUN=0 the fuzzing pass;
#   SWIFTNESS_CTEST_JOBS (default 2) and SWIFTNESS_SANITIZE_JOBS (default 2) set parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."

phases=()
phase_start=$SECONDS
phase_done() {
  phases+=("$1: $((SECONDS - phase_start)) s")
  phase_start=$SECONDS
}

./deploy/install-deps.sh
phase_done dependencies
build=${SWIFTNESS_BUILD_DIR:-build}
# SWIFTNESS_TESTS=ON explicitly: a build directory the quickstart configured has them off.
# -g1 (line tables, enough for backtraces and sanitizer reports) instead of -g: the same code,
# about a quarter less compile time.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWIFTNESS_TESTS=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
cmake --build "$build"
phase_done build

if [ "${SWIFTNESS_SANITIZE_RUN:-1}" != 0 ]; then
  ./deploy/sanitizer-pass.sh "${build}-asan"
  phase_done "ASan+UBSan pass"
fi

# libFuzzer regression check (clang build in build-fuzz): each target 20 s from its seed corpus;
# any crash fails the run. SWIFTNESS_FUZZ_RUN=0 skips it; tests/fuzz/run-long.sh runs 10 min each.
if [ "${SWIFTNESS_FUZZ_RUN:-1}" != 0 ]; then
  SWIFTNESS_FUZZ_BUILD_DIR=${build}-fuzz tests/fuzz/run.sh "${SWIFTNESS_FUZZ_SECONDS:-20}"
  phase_done fuzzing
fi

# Two at a time, one per core. Four were tried: 689 s instead of about 750, but the tests that
# bound how long Swift or the daemon may take (fault proxies, the crash soak's writer) failed
# with four on two cores. The longest tests carry a COST so that a fresh checkout, which has no
# timings from an earlier run, starts them first instead of ending on them.
rc=0
ctest --test-dir "$build" --output-on-failure -j"${SWIFTNESS_CTEST_JOBS:-2}" "$@" || rc=$?
phase_done ctest
printf 'phase times: %s\n' "${phases[@]}"
exit "$rc"
