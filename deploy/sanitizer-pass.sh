#!/usr/bin/env bash
# The ASan+UBSan pass of the README's test command (deploy/run-tests.sh), runnable alone: builds
# the unit suites, the daemon and the integration suites with both sanitizers in BUILD_DIR and
# runs them, the ones that need Swift against a Swift of their own. Any report fails the run
# (-fno-sanitize-recover=all).
#
# Usage: deploy/sanitizer-pass.sh [BUILD_DIR (default build-asan)]
#
# -O1 -g1 rather than the RelWithDebInfo default -O2 -g: AddressSanitizer's recommended level,
# line tables are all a report needs, and the compile (the longest phase of the test command)
# takes about half the CPU time. Like tests/fuzz/run.sh, this directory is built for this pass
# alone.
set -euo pipefail
cd "$(dirname "$0")/.."

asan=${1:-build-asan}
suites=(core config iscsi scsi storage swift cache admin)
# Integration suites (tests/PATH/BINARY) that bring up whatever they need themselves (the
# Keystone suite starts a Keystone and a Swift that trusts it, keystone_aio.sh).
integration=(integration/swift/swift_keystone_test integration/iscsi/iscsi_integration_tests
             integration/iscsi/windows_profile_tests integration/abuse/iscsi_abuse_tests
             integration/swift/swift_http_faults_test integration/cache/daemon_swift_fault_tests
             integration/cache/reinstatement_tests)
# Suites that need the shared Swift of the CTest fixture `swift_aio`.
with_swift=(integration/iscsi/windows_profile_tests
            integration/cache/cache_swift_test integration/daemon/daemon_swift_tests
            integration/daemon/daemon_lifecycle_tests integration/daemon/daemon_resize_tests
            integration/cache/daemon_cache_corruption_tests
            integration/cache/daemon_cache_device_fault_tests
            integration/admin/admin_integration_tests integration/swift/swift_errors_test
            integration/swift/swift_tls_test contract/object_store_contract_test)
# The daemon behind the fault-injecting proxy: mostly waiting on the faults it injects (a few
# minutes in all), so it runs in shards beside the others (with Swift too).
proxy=integration/swift/daemon_proxy_fault_tests
proxy_shards=2
targets=(swiftness "${proxy##*/}")
for s in "${suites[@]}"; do targets+=("${s}_unit_tests"); done
for t in "${integration[@]}" "${with_swift[@]}"; do targets+=("${t##*/}"); done
mapfile -t targets < <(printf '%s\n' "${targets[@]}" | sort -u)
cmake -S . -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWIFTNESS_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG"
start=$SECONDS
cmake --build "$asan" --target "${targets[@]}"
echo "sanitizer pass: built in $((SECONDS - start)) s"

start=$SECONDS
failed=0
# Suites run side by side, each into its own log, printed whole when the suite fails: the
# proxy's shards (waiting, mostly) and two more at a time (the machine's cores).
logs="$asan/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"
jobs_max=${SWIFTNESS_SANITIZE_JOBS:-2}
names=()
beside=()  # PIDs of the jobs that do not take a slot
slots_taken() {
  local n
  n=$(jobs -rp | wc -l)
  for p in "${beside[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n - 1)); done
  echo "$n"
}
run_logged() {  # NAME COMMAND...
  local name=$1 t0=$SECONDS rc=0
  shift
  "$@" >"$logs/$name.log" 2>&1 || rc=$?
  echo "$rc $((SECONDS - t0))" >"$logs/$name.rc"
}
launch() {  # NAME COMMAND...: runs COMMAND in the background once a slot is free
  while [ "$(slots_taken)" -ge "$jobs_max" ]; do wait -n || true; done
  names+=("$1")
  run_logged "$@" &
}
launch_beside() {  # NAME COMMAND...: in the background at once, without taking a slot
  names+=("$1")
  run_logged "$@" &
  beside+=($!)
}
# The fixture's own script starts that Swift on free ports in $asan/swift-aio, where the
# with_swift suites look for its env file, and stops it by PID (through deploy/swift-aio.sh)
# afterwards, also when this script is interrupted.
fixture=(tests/integration/swift/swift_aio_fixture.sh "$asan/swift-aio" deploy/swift-aio.sh)
trap '"${fixture[0]}" cleanup "${fixture[@]:1}"' EXIT
swift_up=1
"${fixture[0]}" setup "${fixture[@]:1}" || swift_up=0
if [ "$swift_up" = 1 ]; then
  for ((i = 0; i < proxy_shards; i++)); do
    launch_beside "${proxy##*/}.shard$i" env GTEST_TOTAL_SHARDS="$proxy_shards" GTEST_SHARD_INDEX="$i" \
      "$asan/tests/$proxy" --gtest_brief=1
  done
fi
# The real daemon, built with the sanitizers, against libiscsi's tools, raw PDUs, a client
# that behaves like the Microsoft initiator, hostile clients, and a Swift of the test's own.
for t in "${integration[@]}"; do
  launch "${t##*/}" "$asan/tests/$t" --gtest_brief=1
done
for s in "${suites[@]}"; do
  launch "${s}_unit_tests" "$asan/tests/unit/$s/${s}_unit_tests" --gtest_brief=1
done
if [ "$swift_up" = 1 ]; then
  for t in "${with_swift[@]}"; do
    # The Windows profile suite runs against a Swift LUN with this (a file LUN above).
    launch "${t##*/}.with-swift" env SWIFTNESS_WINDOWS_PROFILE_BACKEND=swift \
      "$asan/tests/$t" --gtest_brief=1
  done
else
  echo "sanitizer pass: could not start Swift"
  failed=1
fi
wait || true
for name in "${names[@]}"; do
  read -r rc secs <"$logs/$name.rc" || { rc=1; secs=?; }
  if [ "$rc" = 0 ]; then
    echo "== ASan+UBSan: $name passed ($secs s)"
  else
    echo "== ASan+UBSan: $name FAILED (exit $rc, $secs s), its output:"
    cat "$logs/$name.log"
    failed=1
  fi
done
"${fixture[0]}" cleanup "${fixture[@]:1}"
trap - EXIT
echo "sanitizer pass: suites ran in $((SECONDS - start)) s"
if [ "$failed" != 0 ]; then
  echo "sanitizer pass: FAILED"
  exit 1
fi
echo "sanitizer pass: all suites passed"
