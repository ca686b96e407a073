#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs the unit suites and the iSCSI
# integration tests under AddressSanitizer + UndefinedBehaviorSanitizer, each libFuzzer target
# for 20 s (clang), then every test (ctest).
# Usage: deploy/run-tests.sh [extra ctest args]
#   SWIFTNESS_SANITIZE_RUN=0 skips the sanitizer pass, SWIFTNESS_FUZZ_RUN=0 the fuzzing pass.
set -euo pipefail
cd "$(dirname "$0")/.."

./deploy/install-deps.sh
build=${SWIFTNESS_BUILD_DIR:-build}
# SWIFTNESS_TESTS=ON explicitly: a build directory the quickstart configured has them off.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWIFTNESS_TESTS=ON
cmake --build "$build"

if [ "${SWIFTNESS_SANITIZE_RUN:-1}" != 0 ]; then
  asan=${build}-asan
  suites=(core config iscsi scsi storage swift cache admin)
  # Integration suites (tests/PATH/BINARY) that bring up whatever they need themselves.
  integration=(integration/iscsi/iscsi_integration_tests integration/iscsi/windows_profile_tests
               integration/abuse/iscsi_abuse_tests integration/swift/swift_http_faults_test
               integration/cache/daemon_swift_fault_tests)
  # Suites that need the shared Swift of the CTest fixture `swift_aio`.
  with_swift=(integration/iscsi/windows_profile_tests integration/cache/cache_swift_test
              integration/daemon/daemon_swift_tests integration/daemon/daemon_lifecycle_tests
              integration/admin/admin_integration_tests integration/swift/swift_errors_test
              integration/swift/swift_tls_test contract/object_store_contract_test)
  targets=(swiftness)
  for s in "${suites[@]}"; do targets+=("${s}_unit_tests"); done
  for t in "${integration[@]}" "${with_swift[@]}"; do targets+=("${t##*/}"); done
  mapfile -t targets < <(printf '%s\n' "${targets[@]}" | sort -u)
  cmake -S . -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWIFTNESS_SANITIZE=ON
  cmake --build "$asan" --target "${targets[@]}"
  failed=0
  for s in "${suites[@]}"; do
    echo "== ASan+UBSan: ${s}_unit_tests"
    "$asan/tests/unit/$s/${s}_unit_tests" --gtest_brief=1 || failed=1
  done
  # The real daemon, built with the sanitizers, against libiscsi's tools, raw PDUs, a client
  # that behaves like the Microsoft initiator, hostile clients, and a Swift of the test's own.
  for t in "${integration[@]}"; do
    echo "== ASan+UBSan: ${t##*/}"
    "$asan/tests/$t" --gtest_brief=1 || failed=1
  done
  # The fixture's own script starts that Swift on free ports in $asan/swift-aio, where these
  # tests look for its env file, and stops it by PID (through deploy/swift-aio.sh) afterwards,
  # also when this script is interrupted.
  fixture=(tests/integration/swift/swift_aio_fixture.sh "$asan/swift-aio" deploy/swift-aio.sh)
  trap '"${fixture[0]}" cleanup "${fixture[@]:1}"' EXIT
  if "${fixture[0]}" setup "${fixture[@]:1}"; then
    for t in "${with_swift[@]}"; do
      echo "== ASan+UBSan: ${t##*/} (with Swift)"
      # The Windows profile suite runs against a Swift LUN with this (a file LUN above).
      SWIFTNESS_WINDOWS_PROFILE_BACKEND=swift "$asan/tests/$t" --gtest_brief=1 || failed=1
    done
  else
    echo "sanitizer pass: could not start Swift"
    failed=1
  fi
  "${fixture[0]}" cleanup "${fixture[@]:1}"
  trap - EXIT
  if [ "$failed" != 0 ]; then
    echo "sanitizer pass: FAILED"
    exit 1
  fi
  echo "sanitizer pass: all suites passed"
fi

# libFuzzer regression check (clang build in build-fuzz): each target 20 s from its seed corpus;
# any crash fails the run. SWIFTNESS_FUZZ_RUN=0 skips it; tests/fuzz/run-long.sh runs 10 min each.
if [ "${SWIFTNESS_FUZZ_RUN:-1}" != 0 ]; then
  SWIFTNESS_FUZZ_BUILD_DIR=${build}-fuzz tests/fuzz/run.sh "${SWIFTNESS_FUZZ_SECONDS:-20}"
fi

ctest --test-dir "$build" --output-on-failure -j2 "$@"
