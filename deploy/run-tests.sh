#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs every test.
# Usage: deploy/run-tests.sh [extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."

./deploy/install-deps.sh
build=${SWIFTNESS_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build"
ctest --test-dir "$build" --output-on-failure -j2 "$@"
