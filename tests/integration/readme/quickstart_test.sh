#!/usr/bin/env bash
# "README commands run verbatim in CI": takes the README's first command (the quickstart) out of
# README.md and runs it as written, against this build, then logs in with libiscsi's tools using
# the portal and IQN the quickstart printed (its iscsiadm line), writes and reads back blocks with
# iscsi-rwverify, and stops what it started by PID (Swiftness with SIGTERM, which drains; the
# quickstart then stops its Swift).
#
#   quickstart_test.sh SOURCE_DIR BUILD_DIR
#
# The quickstart's documented overrides keep it off fixed resources: free ports for the portal
# and Swift, a private SWIFTNESS_HOME, this build directory, and no second install-deps run
# (deploy/run-tests.sh has just installed everything). About 30 s.
set -euo pipefail
src=$(cd "$1" && pwd -P)
build=$(cd "$2" && pwd -P)
work=$(mktemp -d "${TMPDIR:-/tmp}/swiftness-quickstart.XXXXXX")
qs_pid=
serve_pid=

fail() {
  echo "FAIL: $*" >&2
  echo "---- quickstart output" >&2
  cat "$work/out" >&2 || true
  exit 1
}

cleanup() {
  if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2>/dev/null; then kill -KILL "$serve_pid" || true; fi
  # The quickstart runs in a session of its own: its whole process group (a build it may still
  # run, the daemon) goes with it.
  if [ -n "$qs_pid" ] && kill -0 "$qs_pid" 2>/dev/null; then kill -TERM -- "-$qs_pid" || true; fi
  # Stops only the Swift whose processes carry this test's data directory.
  if [ -n "${swift_port:-}" ]; then
    "$src/deploy/swift-aio.sh" stop "$work/home/swift" "$swift_port" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The first line of the first ```sh block after "## Two commands", without its comment.
cmd=$(awk '/^## Two commands/ {f = 1} f && /^```sh/ {getline; print; exit}' "$src/README.md")
cmd=${cmd%%#*}
cmd=${cmd%"${cmd##*[![:space:]]}"}  # trailing blanks
[ -n "$cmd" ] || fail "no command found in README.md"
echo "README command 1: $cmd"

# A base with five free consecutive ports for Swift, and one more for the portal.
read -r swift_port portal_port < <(/usr/bin/python3 - <<'PY'
import random, socket
def free(p):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(('127.0.0.1', p))
        return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(1000):
    base = random.randrange(20000, 60000)
    if all(free(p) for p in range(base, base + 6)):
        print(base, base + 5)
        break
PY
)
[ -n "$portal_port" ] || fail "no free ports"

(cd "$src" && exec setsid env SWIFTNESS_SKIP_DEPS=1 SWIFTNESS_BUILD_DIR="$build" \
  SWIFTNESS_HOME="$work/home" SWIFTNESS_PORTAL_PORT="$portal_port" \
  SWIFTNESS_SWIFT_PORT="$swift_port" bash -c "$cmd") >"$work/out" 2>&1 &
qs_pid=$!

# The login lines come once the build (a no-op after deploy/run-tests.sh built everything) and
# Swift are done (bounded: 150 s); then the printed portal must answer (bounded: 60 s).
login=
for _ in $(seq 1 300); do
  kill -0 "$qs_pid" 2>/dev/null || fail "the quickstart exited early"
  login=$(grep -m1 'iscsiadm -m node -T' "$work/out" || true)
  [ -n "$login" ] && break
  sleep 0.5
done
[ -n "$login" ] || fail "the quickstart printed no iscsiadm login line"
portal=$(echo "$login" | awk '{for (i = 1; i < NF; i++) if ($i == "-p") print $(i + 1)}')
listed=
for _ in $(seq 1 120); do
  kill -0 "$qs_pid" 2>/dev/null || fail "the quickstart exited early"
  if iscsi-ls -s "iscsi://$portal" >"$work/ls" 2>&1; then listed=1; break; fi
  sleep 0.5
done
[ -n "$listed" ] || fail "nothing answers discovery on the printed portal $portal"
iqn=$(echo "$login" | awk '{for (i = 1; i < NF; i++) if ($i == "-T") print $(i + 1)}')
[ "$portal" = "127.0.0.1:$portal_port" ] || fail "printed portal $portal, expected 127.0.0.1:$portal_port"
grep -q "$iqn" "$work/ls" || fail "iscsi-ls does not list $iqn: $(cat "$work/ls")"
serve_pid=$(ps -o pid= --ppid "$qs_pid" | tr -d ' ' | head -1)
[ -n "$serve_pid" ] || fail "no swiftness process under the quickstart"
grep -q 'swiftness' "/proc/$serve_pid/cmdline" || fail "pid $serve_pid is not swiftness"

url="iscsi://$portal/$iqn/0"
inq=$(iscsi-inq "$url") || fail "iscsi-inq $url failed"
echo "$inq" | grep -q 'Swiftness' || fail "iscsi-inq: not our target: $inq"
"$build/iscsi-rwverify" -q --timeout 30 --seed 11 --range 0:4096 "$url" ||
  fail "iscsi-rwverify could not write and read back 2 MiB"
"$build/iscsi-rwverify" -q --timeout 30 --seed 11 --range 0:4096 --verify-only "$url" ||
  fail "iscsi-rwverify: the data did not read back"

# Stop: SIGTERM to Swiftness (drains to Swift, exit 0); the quickstart then stops Swift.
kill -TERM "$serve_pid"
for _ in $(seq 1 180); do kill -0 "$qs_pid" 2>/dev/null || break; sleep 0.5; done
kill -0 "$qs_pid" 2>/dev/null && fail "the quickstart did not end within 90 s of SIGTERM"
wait "$qs_pid" || fail "the quickstart exited with $?"
grep -q 'stopped' "$work/out" || fail "swiftness did not log a clean stop"
if "$src/deploy/swift-aio.sh" status "$work/home/swift" "$swift_port" 2>&1 | grep -q running; then
  fail "Swift still runs after the quickstart ended"
fi
serve_pid=
qs_pid=
echo "PASS: README command 1 ran as written; logged in, wrote and read 2 MiB, stopped cleanly"
