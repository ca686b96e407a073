#!/usr/bin/env bash
# Starts a Swift on loopback (deploy/swift-aio.sh, default workers: proxy 2, object 2, account and
# container 1), runs swift_bench against it, stops it.
#
#   tests/bench/swift/run-bench.sh [BUILD_DIR] [swift_bench args...]
#   e.g. tests/bench/swift/run-bench.sh build --streams 8 --objects 8 --rounds 3
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd -P)
root=$(cd "$here/../../.." && pwd -P)
build=${1:-$root/build}
shift || true
bench=$build/tests/bench/swift/swift_bench
[ -x "$bench" ] || { echo "build swift_bench first: cmake --build $build --target swift_bench" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/swift-bench.XXXXXX")
port=$(/usr/bin/python3 - <<'PY'
import random, socket
while True:
    base = random.randrange(20000, 60000)
    ok = True
    for p in range(base, base + 5):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(('127.0.0.1', p))
        except OSError:
            ok = False
        finally:
            s.close()
    if ok:
        print(base)
        break
PY
)
cleanup() {
  "$root/deploy/swift-aio.sh" stop "$dir" "$port" || true
  rm -rf "$dir"
}
trap cleanup EXIT
"$root/deploy/swift-aio.sh" start "$dir" "$port"
echo "loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bench" --auth-url "http://127.0.0.1:$port/auth/v1.0" "$@"
echo "loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)"
