#!/usr/bin/env bash
# A single-node OpenStack Swift on 127.0.0.1 from Debian's packages, for development and tests.
#
#   deploy/swift-aio.sh start|stop|status|env DIR PORT
#
# DIR holds everything (etc/ conf and rings, node/d1 the one device, bin/swiftup.py the launcher,
# run/*.pid, log/*.log). PORT is the proxy; object, container and account servers listen on
# PORT+1..PORT+3 and memcached on PORT+4. Auth is TempAuth v1: user test:tester, key testing
# (.admin) at http://127.0.0.1:PORT/auth/v1.0.
#
# Environment (start):
#   SWIFT_TOKEN_LIFE          TempAuth token life in seconds (default 86400)
#   SWIFT_WORKERS             workers for every server (default: proxy 2, object 2, account and
#                             container 1; 0 = no fork, the lightest for functional CI)
#   SWIFT_STORAGE_URL_SCHEME  TempAuth storage_url_scheme (default "default"; "https" behind a
#                             TLS terminator)
#   SWIFT_PART_POWER          ring partition power (default 6; fixed once DIR has data)
#   SWIFT_START_TIMEOUT       seconds to wait for readiness (default 60)
#   SWIFT_KEYSTONE_URL        Keystone v3 base (http://127.0.0.1:5000/v3): the proxy then
#                             authenticates with keystonemiddleware's authtoken + keystoneauth
#                             instead of TempAuth, validating tokens as SWIFT_KEYSTONE_USER /
#                             SWIFT_KEYSTONE_PASSWORD in SWIFT_KEYSTONE_PROJECT (Default domain)
#
# Facts behind each choice: ../shared/notes/swift-on-loopback.md. In short: Swift reads a private
# swift.conf through the launcher (nothing in /etc/swift is read or written); every server runs
# under setsid because a Swift parent killpg()s its own group on SIGTERM; stop only signals
# processes whose environment carries SWIFTUP_DATA_DIR=DIR, so pid reuse and other instances are
# safe; error_suppression_interval=0 because with one device a single error would otherwise
# black-hole the device for 60 s.
set -euo pipefail
set +m  # $! must be the server's own pid (setsid does not fork when we are not a group leader)

usage() {
  echo "usage: $0 start|stop|status|env DIR PORT" >&2
  exit 2
}
[ $# -eq 3 ] || usage
cmd=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd -P)
PORT=$3
[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -gt 0 ] && [ "$PORT" -lt 65531 ] || usage
PY=/usr/bin/python3  # Debian's python has Swift; a pyenv shim on PATH does not (pitfall 6)
TAG="SWIFTUP_DATA_DIR=$DIR"
SERVERS=(object container account proxy)
USER_NAME=$(id -un)

write_launcher() {
  mkdir -p "$DIR/bin"
  cat >"$DIR/bin/swiftup.py" <<'PYEOF'
"""Launcher and helpers for deploy/swift-aio.sh (generated; do not edit)."""
import os
import sys
import time


def serve(etc, server, conf):
    # Patch exactly as swift.common.utils.eventlet_monkey_patch() does, but before Swift's
    # modules load: patching late costs a gc.collect() per existing lock (pitfall 5).
    import eventlet
    eventlet.patcher.monkey_patch(all=False, socket=True, select=True, thread=True)
    import logging
    logging.logThreads = 0
    from swift.common import utils
    # Swift 2.30 hard-codes /etc/swift/swift.conf; swift_dir does not move it (pitfall 1).
    utils.SWIFT_CONF_FILE = os.path.join(etc, 'swift.conf')
    utils.HASH_PATH_PREFIX = b''
    utils.HASH_PATH_SUFFIX = b''
    utils.validate_hash_conf()
    from swift.common import constraints, storage_policy
    storage_policy.reload_storage_policies()
    constraints.reload_constraints()
    if not os.environ.get('SWIFTUP_SYSLOG'):
        # No syslog daemon here: Swift would silently send to UDP :514 (pitfall 4). Log to the
        # console (verbose) only, which the script redirects to DIR/log/<server>.log.
        utils.ThreadSafeSysLogHandler = lambda *a, **kw: logging.NullHandler()
    from swift.common.wsgi import run_wsgi
    sys.exit(run_wsgi(conf, server + '-server', verbose=True))


def rings(etc, port, part_power):
    from swift.common.ring import RingBuilder
    # ring name -> backend port; object-1 serves the second storage policy on the same device.
    layout = {'object': port + 1, 'object-1': port + 1, 'container': port + 2,
              'account': port + 3}
    for name, p in layout.items():
        b = RingBuilder(part_power, 1, 0)
        b.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': p,
                   'device': 'd1', 'weight': 100, 'meta': ''})
        b.rebalance()
        b.save(os.path.join(etc, name + '.builder'))
        b.get_ring().save(os.path.join(etc, name + '.ring.gz'))


def ports_free(port):
    import socket
    for p in range(port, port + 5):
        s = socket.socket()
        # Same as the servers: a TIME_WAIT left by a previous stop is not "busy" (pitfall 11).
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(('127.0.0.1', p))
        except OSError as e:
            print('port %d: %s' % (p, e), file=sys.stderr)
            return 1
        finally:
            s.close()
    return 0


def xattr_ok(path):
    try:
        os.setxattr(path, 'user.swift.metadata', b'probe')
        os.removexattr(path, 'user.swift.metadata')
        return 0
    except OSError as e:
        print('user xattrs do not work on %s: %s' % (path, e), file=sys.stderr)
        return 1


def alive(pid, tag):
    """True if pid is a non-zombie process carrying our tag (pid reuse safe)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
        if state == 'Z':  # PID 1 here reaps slowly; kill -0 succeeds on zombies (pitfall 10)
            return False
        with open('/proc/%d/environ' % pid, 'rb') as f:
            return tag.encode() in f.read().split(b'\0')
    except (OSError, IndexError):
        return False


def members(pgids, tag):
    """Non-zombie processes in any of the process groups that carry our tag."""
    out = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if fields[0] != 'Z' and int(fields[2]) in pgids and alive(int(d), tag):
            out.append(int(d))
    return out


def stop(tag, pids, timeout):
    import signal
    pgids = set(pids)  # every server is a session and group leader (setsid)
    for pid in pids:
        if alive(pid, tag):
            os.kill(pid, signal.SIGTERM)
    # A leader that was kill -9'd leaves its workers behind: same group, same tag.
    for pid in members(pgids, tag):
        if pid not in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not members(pgids, tag):
            return 0
        time.sleep(0.05)
    for pid in members(pgids, tag):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return 0


def ready(port, tag, pids, timeout, user, key):
    import http.client
    deadline = time.monotonic() + timeout

    def get(p, method, path, headers):
        c = http.client.HTTPConnection('127.0.0.1', p, timeout=2)
        try:
            c.request(method, path, headers=headers)
            r = c.getresponse()
            r.read()
            return r.status, r
        finally:
            c.close()

    pending = {port + 1: '/healthcheck', port + 2: '/healthcheck', port + 3: '/healthcheck'}
    while time.monotonic() < deadline:
        for pid in pids:
            if not alive(pid, tag):
                print('server pid %d died during start' % pid, file=sys.stderr)
                return 1
        try:
            for p in list(pending):
                if get(p, 'GET', pending[p], {})[0] == 200:
                    del pending[p]
            if not pending and user == '-':
                if get(port, 'GET', '/healthcheck', {})[0] == 200:
                    return 0
            elif not pending:
                st, r = get(port, 'GET', '/auth/v1.0', {'X-Auth-User': user, 'X-Auth-Key': key})
                if st == 200:
                    token = r.getheader('X-Auth-Token')
                    url = r.getheader('X-Storage-Url')
                    path = '/' + url.split('/', 3)[3]
                    st, _ = get(port, 'HEAD', path, {'X-Auth-Token': token})
                    if st in (200, 204):
                        return 0
        except OSError:
            pass
        time.sleep(0.05)
    print('not ready after %s s' % timeout, file=sys.stderr)
    return 2


if __name__ == '__main__':
    a = sys.argv[1:]
    if a[0] == 'serve':
        serve(a[1], a[2], a[3])
    elif a[0] == 'rings':
        rings(a[1], int(a[2]), int(a[3]))
    elif a[0] == 'ports':
        sys.exit(ports_free(int(a[1])))
    elif a[0] == 'xattr':
        sys.exit(xattr_ok(a[1]))
    elif a[0] == 'alive':
        sys.exit(0 if alive(int(a[2]), a[1]) else 1)
    elif a[0] == 'stop':
        sys.exit(stop(a[1], [int(p) for p in a[3:]], float(a[2])))
    elif a[0] == 'ready':
        sys.exit(ready(int(a[1]), a[2], [int(p) for p in a[6:]], float(a[3]), a[4], a[5]))
    else:
        sys.exit('unknown command ' + a[0])
PYEOF
}

workers_for() {
  if [ -n "${SWIFT_WORKERS:-}" ]; then
    echo "$SWIFT_WORKERS"
    return
  fi
  case $1 in proxy | object) echo 2 ;; *) echo 1 ;; esac
}

write_configs() {
  local etc=$DIR/etc
  mkdir -p "$etc" "$DIR/node/d1" "$DIR/run" "$DIR/log"
  # swift.conf is written once per DIR: a new hash prefix/suffix would orphan existing data.
  if [ ! -f "$etc/swift.conf" ]; then
    cat >"$etc/swift.conf" <<EOF
[swift-hash]
swift_hash_path_prefix = $(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
swift_hash_path_suffix = $(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')

[storage-policy:0]
name = swiftup
default = yes

[storage-policy:1]
name = swiftup-alt

[swift-constraints]
EOF
  fi
  local common
  common="bind_ip = 127.0.0.1
user = $USER_NAME
swift_dir = $etc
devices = $DIR/node
mount_check = false
fallocate_reserve = 0
db_preallocation = off
log_level = INFO"
  cat >"$etc/object-server.conf" <<EOF
[DEFAULT]
bind_port = $((PORT + 1))
workers = $(workers_for object)
$common

[pipeline:main]
pipeline = healthcheck object-server

[app:object-server]
use = egg:swift#object
# synchronous container update, so listings are immediate
container_update_timeout = 5

[filter:healthcheck]
use = egg:swift#healthcheck
EOF
  local s
  for s in container account; do
    cat >"$etc/$s-server.conf" <<EOF
[DEFAULT]
bind_port = $((PORT + $([ $s = container ] && echo 2 || echo 3)))
workers = $(workers_for $s)
$common

[pipeline:main]
pipeline = healthcheck $s-server

[app:$s-server]
use = egg:swift#$s

[filter:healthcheck]
use = egg:swift#healthcheck
EOF
  done
  local auth_filters="tempauth"
  [ -n "${SWIFT_KEYSTONE_URL:-}" ] && auth_filters="authtoken keystoneauth"
  cat >"$etc/proxy-server.conf" <<EOF
[DEFAULT]
bind_port = $PORT
workers = $(workers_for proxy)
$common

[pipeline:main]
# Every filter Swift would otherwise auto-insert is listed, so it does not rewrite the pipeline.
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl $auth_filters copy slo dlo versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true
# one device: never error-limit it, or one 507 turns into 60 s of 503 (pitfall 8)
error_suppression_interval = 0

[filter:tempauth]
use = egg:swift#tempauth
token_life = ${SWIFT_TOKEN_LIFE:-86400}
storage_url_scheme = ${SWIFT_STORAGE_URL_SCHEME:-default}
user_test_tester = testing .admin

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = ${SWIFT_KEYSTONE_URL:-}
auth_url = ${SWIFT_KEYSTONE_URL:-}
auth_type = password
user_domain_name = Default
project_domain_name = Default
username = ${SWIFT_KEYSTONE_USER:-admin}
password = ${SWIFT_KEYSTONE_PASSWORD:-}
project_name = ${SWIFT_KEYSTONE_PROJECT:-admin}
delay_auth_decision = True
memcached_servers = 127.0.0.1:$((PORT + 4))

[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$((PORT + 4))

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:tempurl]
use = egg:swift#tempurl
allowed_digests = sha256 sha512
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes
EOF
  # Rings only when the ports or part power change (part power is fixed once data exists).
  local stamp="port=$PORT part_power=${SWIFT_PART_POWER:-6}"
  if [ ! -f "$etc/rings.stamp" ] || [ "$(cat "$etc/rings.stamp")" != "$stamp" ] \
    || [ ! -f "$etc/object-1.ring.gz" ]; then
    "$PY" "$DIR/bin/swiftup.py" rings "$etc" "$PORT" "${SWIFT_PART_POWER:-6}"
    echo "$stamp" >"$etc/rings.stamp"
  fi
}

pids_from_files() {
  local f
  for f in "$DIR"/run/*.pid; do
    [ -f "$f" ] && cat "$f"
  done
  return 0
}

do_stop() {
  write_launcher
  local pids
  pids=$(pids_from_files | tr '\n' ' ')
  if [ -n "${pids// /}" ]; then
    # shellcheck disable=SC2086
    "$PY" "$DIR/bin/swiftup.py" stop "$TAG" 10 $pids
  fi
  rm -f "$DIR"/run/*.pid
}

tail_logs() {
  local f
  for f in "$DIR"/log/*.log; do
    [ -f "$f" ] || continue
    echo "==> $f <==" >&2
    tail -n 20 "$f" >&2
  done
}

do_start() {
  command -v curl >/dev/null || { echo "swift-aio: curl is missing" >&2; exit 1; }
  [ -x "$PY" ] || { echo "swift-aio: $PY is missing" >&2; exit 1; }
  command -v memcached >/dev/null || { echo "swift-aio: memcached is missing" >&2; exit 1; }
  write_launcher
  # A previous instance in this DIR (ours, by tag) is stopped first; foreign ones are never touched.
  do_stop
  "$PY" "$DIR/bin/swiftup.py" ports "$PORT" || { echo "swift-aio: ports $PORT..$((PORT + 4)) busy" >&2; exit 1; }
  write_configs
  "$PY" "$DIR/bin/swiftup.py" xattr "$DIR/node/d1" || exit 1

  export SWIFTUP_DATA_DIR=$DIR EVENTLET_NO_GREENDNS=yes SETUPTOOLS_USE_DISTUTILS=stdlib
  export PYTHONPATH=$DIR/bin
  # memcached is mandatory for TempAuth (tokens live there, pitfall 2).
  local mc_user=()
  [ "$(id -u)" -eq 0 ] && mc_user=(-u "$USER_NAME")
  setsid memcached -l 127.0.0.1 -p $((PORT + 4)) -U 0 -m 64 -t 2 -c 1024 "${mc_user[@]}" \
    >"$DIR/log/memcached.log" 2>&1 </dev/null &
  echo $! >"$DIR/run/memcached.pid"
  local s pids=()
  for s in "${SERVERS[@]}"; do
    setsid "$PY" "$DIR/bin/swiftup.py" serve "$DIR/etc" "$s" "$DIR/etc/$s-server.conf" \
      >"$DIR/log/$s.log" 2>&1 </dev/null &
    echo $! >"$DIR/run/$s.pid"
    pids+=($!)
  done
  pids+=("$(cat "$DIR/run/memcached.pid")")
  echo "$PORT" >"$DIR/run/ports"
  local probe_user=test:tester
  [ -n "${SWIFT_KEYSTONE_URL:-}" ] && probe_user=-  # no TempAuth: probe /healthcheck only
  if ! "$PY" "$DIR/bin/swiftup.py" ready "$PORT" "$TAG" "${SWIFT_START_TIMEOUT:-60}" \
    "$probe_user" testing "${pids[@]}"; then
    tail_logs
    do_stop
    exit 1
  fi
  echo "swift-aio: ready at http://127.0.0.1:$PORT/auth/v1.0 (DIR=$DIR)"
}

do_status() {
  local s rc=0 pid
  write_launcher
  for s in memcached "${SERVERS[@]}"; do
    pid=$(cat "$DIR/run/$s.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && "$PY" "$DIR/bin/swiftup.py" alive "$TAG" "$pid"; then
      echo "$s: running (pid $pid)"
    else
      echo "$s: stopped"
      rc=1
    fi
  done
  return $rc
}

do_env() {
  cat <<EOF
export ST_AUTH=http://127.0.0.1:$PORT/auth/v1.0
export ST_USER=test:tester
export ST_KEY=testing
export SWIFT_AUTH_URL=http://127.0.0.1:$PORT/auth/v1.0
export SWIFT_USER=test:tester
export SWIFT_KEY=testing
export SWIFT_DIR=$DIR
export SWIFT_PORT=$PORT
EOF
}

case $cmd in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  env) do_env ;;
  *) usage ;;
esac
