#!/usr/bin/env bash
# Installs every build and test dependency of Swiftness from Debian's packages.
# Idempotent: packages already present are skipped by apt. Run as root on Debian bookworm.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang-format
  # libraries (Boost 1.81 for Boost.URL/JSON and system::result; 1.74 is bookworm's default)
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-program-options1.81-dev
  libssl-dev libisal-dev libspdlog-dev libfmt-dev libyaml-cpp-dev libzstd-dev
  libgtest-dev libgmock-dev
  # test clients: libiscsi's tools and compliance suite
  libiscsi-dev libiscsi-bin
  # a real Swift on loopback for integration tests
  swift swift-proxy swift-account swift-container swift-object python3-swiftclient memcached curl
  stunnel4
  keystone
  # helpers used by tests (gdb: a test whose client hangs prints the daemon's stacks)
  python3 procps gdb
  tgt
  # io_uring for the file backend's write path
  liburing-dev
  # admin endpoint: systemd readiness, Prometheus text format
  libsystemd-dev prometheus-cpp-dev
  # fuzzers (libFuzzer and the sanitizer runtimes come with clang)
  clang libclang-rt-14-dev
  # the kernel's open-iscsi initiator in a qemu guest (tests/e2e); the guest kernel is fetched
  # with apt-get download by the e2e script, never installed on the host
  qemu-system-x86 open-iscsi busybox-static e2fsprogs sg3-utils fio cpio kmod util-linux
  iproute2 xz-utils
  # benchmark plots
  gnuplot-nox
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# another dpkg user may hold the lock for a moment; retry a few times
for attempt in 1 2 3 4 5; do
  if $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    exit 0
  fi
  echo "install-deps: apt-get failed (attempt $attempt), retrying in 10 s" >&2
  sleep 10
done
exit 1
