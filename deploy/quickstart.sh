#!/usr/bin/env bash
# The README's first command: installs dependencies, builds, starts a single-node Swift on
# 127.0.0.1:8080 (deploy/swift-aio.sh) and Swiftness with config/example.yaml on 127.0.0.1:3260,
# then prints how to log in. Ctrl-C stops Swiftness (draining dirty data to Swift) and Swift.
# Usage: deploy/quickstart.sh [CONFIG]
# Environment (defaults are what the README describes; tests/integration/readme runs this
# script as the README writes it, with these set so it can run beside other tests):
#   SWIFTNESS_HOME         Swift's data, the cache and state (default /var/lib/swiftness; the
#                          config's /var/lib/swiftness paths are moved there)
#   SWIFTNESS_PORTAL_PORT  iSCSI portal port (default 3260)
#   SWIFTNESS_SWIFT_PORT   Swift proxy port; PORT+1..PORT+4 are taken too (default 8080)
#   SWIFTNESS_BUILD_DIR    build directory (default build); an existing one is not reconfigured
#   SWIFTNESS_SKIP_DEPS=1  do not run deploy/install-deps.sh (already done)
set -euo pipefail
cd "$(dirname "$0")/.."

[ "${SWIFTNESS_SKIP_DEPS:-0}" = 1 ] || ./deploy/install-deps.sh
build=${SWIFTNESS_BUILD_DIR:-build}
# Only a new build directory is configured: reconfiguring one that deploy/run-tests.sh set up
# would switch its tests off.
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWIFTNESS_TESTS=OFF
fi
cmake --build "$build" --target swiftness

home=${SWIFTNESS_HOME:-/var/lib/swiftness}
portal_port=${SWIFTNESS_PORTAL_PORT:-3260}
swift_port=${SWIFTNESS_SWIFT_PORT:-8080}
mkdir -p "$home"
home=$(cd "$home" && pwd -P)
config=${1:-config/example.yaml}
if [ "$home" != /var/lib/swiftness ] || [ "$portal_port" != 3260 ] || [ "$swift_port" != 8080 ]; then
  # The same configuration with this run's directory and ports.
  sed -e "s#/var/lib/swiftness#$home#g" -e "s#127\.0\.0\.1:3260#127.0.0.1:$portal_port#g" \
    -e "s#127\.0\.0\.1:8080#127.0.0.1:$swift_port#g" "$config" >"$home/swiftness.yaml"
  config=$home/swiftness.yaml
fi
"$build/swiftness" check-config "$config"
./deploy/swift-aio.sh start "$home/swift" "$swift_port"
trap './deploy/swift-aio.sh stop "$home/swift" "$swift_port"' EXIT

iqn=$(sed -n 's/^ *iqn: *//p' "$config" | head -1)
portal=127.0.0.1:$portal_port
cat <<TXT

Swiftness is starting with $config (Swift at http://127.0.0.1:$swift_port/auth/v1.0).
From a Linux initiator on this machine:
  iscsiadm -m discovery -t sendtargets -p $portal
  iscsiadm -m node -T $iqn -p $portal --login
or with libiscsi's tools:
  iscsi-ls -s iscsi://$portal
  iscsi-inq iscsi://$portal/$iqn/0
Ctrl-C stops it.

TXT
"$build/swiftness" serve --config "$config"
