#!/usr/bin/env bash
# The long fuzzing run: every target for 10 minutes (about 50 minutes in all), keeping the
# corpus it grows and any crash inputs under tests/fuzz/out/ (not committed). To add what it
# found to the seeds, minimise first:
#   build-fuzz/tests/fuzz/fuzz_<t> -merge=1 tests/fuzz/corpus/<t> tests/fuzz/out/<t>/corpus
# Usage: tests/fuzz/run-long.sh [seconds per target (default 600)] [target...]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-600}
shift || true
SWIFTNESS_FUZZ_OUT=${SWIFTNESS_FUZZ_OUT:-$PWD/tests/fuzz/out} exec tests/fuzz/run.sh "$seconds" "$@"
