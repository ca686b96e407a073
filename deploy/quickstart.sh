#!/usr/bin/env bash
# The README's first command: installs dependencies, builds, and starts Swiftness with the
# example configuration on 127.0.0.1:3260, then prints how to log in. Ctrl-C stops it.
# Usage: deploy/quickstart.sh [CONFIG]   (default: config/example.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."

./deploy/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWIFTNESS_TESTS=OFF
cmake --build build --target swiftness

config=${1:-config/example.yaml}
./build/swiftness check-config "$config"
mkdir -p /var/lib/swiftness
iqn=$(sed -n 's/^ *iqn: *//p' "$config" | head -1)
cat <<TXT

Swiftness is starting with $config. From a Linux initiator on this machine:
  iscsiadm -m discovery -t sendtargets -p 127.0.0.1:3260
  iscsiadm -m node -T $iqn -p 127.0.0.1:3260 --login
or with libiscsi's tools:
  iscsi-ls -s iscsi://127.0.0.1:3260
  iscsi-inq iscsi://127.0.0.1:3260/$iqn/0

TXT
exec ./build/swiftness serve --config "$config"
