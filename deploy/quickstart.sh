#!/usr/bin/env bash
# The README's first command: installs dependencies, builds, starts a single-node Swift on
# 127.0.0.1:8080 (deploy/swift-aio.sh) and Swiftness with config/example.yaml on 127.0.0.1:3260,
# then prints how to log in. Ctrl-C stops Swiftness (draining dirty data to Swift) and Swift.
# Usage: deploy/quickstart.sh [CONFIG]
#   SWIFTNESS_HOME (default /var/lib/swiftness) holds Swift's data, the cache and state.
set -euo pipefail
cd "$(dirname "$0")/.."

./deploy/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWIFTNESS_TESTS=OFF
cmake --build build --target swiftness

config=${1:-config/example.yaml}
./build/swiftness check-config "$config"
home=${SWIFTNESS_HOME:-/var/lib/swiftness}
mkdir -p "$home"
./deploy/swift-aio.sh start "$home/swift" 8080
trap './deploy/swift-aio.sh stop "$home/swift" 8080' EXIT

iqn=$(sed -n 's/^ *iqn: *//p' "$config" | head -1)
cat <<TXT

Swiftness is starting with $config (Swift at http://127.0.0.1:8080/auth/v1.0).
From a Linux initiator on this machine:
  iscsiadm -m discovery -t sendtargets -p 127.0.0.1:3260
  iscsiadm -m node -T $iqn -p 127.0.0.1:3260 --login
or with libiscsi's tools:
  iscsi-ls -s iscsi://127.0.0.1:3260
  iscsi-inq iscsi://127.0.0.1:3260/$iqn/0
Ctrl-C stops it.

TXT
./build/swiftness serve --config "$config"
