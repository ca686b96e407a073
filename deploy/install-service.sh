#!/usr/bin/env bash
# Installs Swiftness as a systemd service with Debian's paths: the binary in /usr/local/bin, the
# configuration in /etc/swiftness/swiftness.yaml (config/example.yaml the first time, never
# overwritten), state and cache in /var/lib/swiftness, run as the system user `swiftness`.
# Usage (as root, after building into ./build): deploy/install-service.sh [--enable]
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x build/swiftness ] || { echo "build first: cmake --build build --target swiftness" >&2; exit 1; }
getent passwd swiftness >/dev/null ||
  useradd --system --home-dir /var/lib/swiftness --no-create-home --shell /usr/sbin/nologin swiftness
install -m 0755 build/swiftness /usr/local/bin/swiftness
install -d -m 0750 -o root -g swiftness /etc/swiftness
if [ ! -e /etc/swiftness/swiftness.yaml ]; then
  # Readable by the service's group only: it may hold secrets.
  install -m 0640 -o root -g swiftness config/example.yaml /etc/swiftness/swiftness.yaml
fi
install -d -m 0750 -o swiftness -g swiftness /var/lib/swiftness
install -D -m 0644 README.md /usr/local/share/doc/swiftness/README.md
install -m 0644 deploy/swiftness.service /etc/systemd/system/swiftness.service
/usr/local/bin/swiftness check-config /etc/swiftness/swiftness.yaml
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  [ "${1:-}" = "--enable" ] && systemctl enable --now swiftness
fi
echo "installed; edit /etc/swiftness/swiftness.yaml, then: systemctl enable --now swiftness"
