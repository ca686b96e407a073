#!/usr/bin/env bash
# CTest fixture `swift_aio`: one real Swift per build tree, on free ports, in a private directory.
#
#   swift_aio_fixture.sh setup|cleanup STATE_DIR SWIFT_AIO_SH
#
# setup starts deploy/swift-aio.sh in STATE_DIR/data on a free port base and writes STATE_DIR/env,
# one KEY=VALUE per line, which tests read (tests/integration/swift/swift_aio_env.hpp):
#   SWIFT_AUTH_URL=http://127.0.0.1:<port>/auth/v1.0
#   SWIFT_USER=test:tester
#   SWIFT_KEY=testing
#   SWIFT_PORT=<port>          (backends on port+1..3, memcached on port+4)
#   SWIFT_DIR=<STATE_DIR/data>
# cleanup stops that instance (by PID, through the script) and removes the env file.
set -euo pipefail
cmd=$1
state=$2
aio=$3
mkdir -p "$state"

case $cmd in
  setup)
    if [ -f "$state/port" ]; then  # a previous run died without cleanup: stop what it started
      "$aio" stop "$state/data" "$(cat "$state/port")" || true
    fi
    rm -rf "$state/data" "$state/env"
    for attempt in $(seq 1 20); do
      # A random base with five consecutive free ports; parallel build trees pick different ones.
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
      echo "$port" >"$state/port"
      if SWIFT_WORKERS=${SWIFT_AIO_WORKERS:-0} "$aio" start "$state/data" "$port"; then
        cat >"$state/env.tmp" <<ENV
SWIFT_AUTH_URL=http://127.0.0.1:$port/auth/v1.0
SWIFT_USER=test:tester
SWIFT_KEY=testing
SWIFT_PORT=$port
SWIFT_DIR=$state/data
ENV
        mv "$state/env.tmp" "$state/env"
        exit 0
      fi
      echo "swift_aio fixture: start on $port failed (attempt $attempt)" >&2
    done
    exit 1
    ;;
  cleanup)
    if [ -f "$state/port" ]; then
      "$aio" stop "$state/data" "$(cat "$state/port")"
    fi
    rm -f "$state/env" "$state/port"
    ;;
  *)
    echo "usage: $0 setup|cleanup STATE_DIR SWIFT_AIO_SH" >&2
    exit 2
    ;;
esac
