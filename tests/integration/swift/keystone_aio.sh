#!/usr/bin/env bash
# A real Keystone (Debian's `keystone`, sqlite, fernet tokens, wsgiref server) and a Swift that
# trusts it (deploy/swift-aio.sh with SWIFT_KEYSTONE_URL: authtoken + keystoneauth), both on
# 127.0.0.1 in a private DIR. Nothing under /etc/keystone is read or written.
#
#   keystone_aio.sh start|stop DIR
#
# start writes DIR/env (KEY=VALUE lines): KEYSTONE_URL, KEYSTONE_USER, KEYSTONE_PASSWORD,
# KEYSTONE_PROJECT, SWIFT_PORT, SWIFT_STORAGE_URL. The catalog has object-store endpoints
# public+internal in RegionOne (the real Swift) and public in RegionTwo (a closed port).
set -euo pipefail
set +m
cmd=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd -P)
HERE=$(cd "$(dirname "$0")" && pwd -P)
AIO=$HERE/../../../deploy/swift-aio.sh
TAG="SWIFTNESS_KEYSTONE_DIR=$DIR"
PASSWORD=adminpw

free_base() {  # N consecutive free ports on 127.0.0.1
  /usr/bin/python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
while True:
    base = random.randrange(20000, 60000)
    ok = True
    for p in range(base, base + n):
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
}

# Our keystone process only: pid from the file, and our tag in its environment.
ours() {
  local pid=$1
  [ -r "/proc/$pid/environ" ] && tr 2>/dev/null '\0' '\n' <"/proc/$pid/environ" | grep -qxF "$TAG"
}

do_stop() {
  if [ -f "$DIR/swift.port" ]; then
    "$AIO" stop "$DIR/swift" "$(cat "$DIR/swift.port")" || true
  fi
  if [ -f "$DIR/keystone.pid" ]; then
    local pid
    pid=$(cat "$DIR/keystone.pid")
    if ours "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do ours "$pid" || break; sleep 0.05; done
      ours "$pid" && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$DIR/keystone.pid"
  fi
}

api() {  # METHOD PATH JSON -> response body; retried: sqlite may answer "database is locked"
  local i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    if curl -sf -X "$1" -H "X-Auth-Token: $ADMIN_TOKEN" -H "Content-Type: application/json" \
      ${3:+-d "$3"} "$KURL$2"; then
      return 0
    fi
    sleep 0.3
  done
  return 1
}

do_start() {
  do_stop
  trap 'do_stop' ERR  # a failed start leaves nothing running
  local kport sport
  kport=$(free_base 1)
  KURL=http://127.0.0.1:$kport/v3
  cat >"$DIR/keystone.conf" <<CONF
[DEFAULT]
use_stderr = true
[database]
connection = sqlite:///$DIR/keystone.db?timeout=30
[token]
provider = fernet
[fernet_tokens]
key_repository = $DIR/fernet-keys
[fernet_receipts]
key_repository = $DIR/fernet-receipts
[credential]
key_repository = $DIR/credential-keys
CONF
  local km=(keystone-manage --config-file "$DIR/keystone.conf")
  local who=(--keystone-user "$(id -un)" --keystone-group "$(id -gn)")
  if [ ! -f "$DIR/keystone.db" ]; then
    "${km[@]}" db_sync >"$DIR/manage.log" 2>&1
    "${km[@]}" fernet_setup "${who[@]}" >>"$DIR/manage.log" 2>&1
    "${km[@]}" credential_setup "${who[@]}" >>"$DIR/manage.log" 2>&1
  fi
  "${km[@]}" bootstrap --bootstrap-password "$PASSWORD" --bootstrap-region-id RegionOne \
    --bootstrap-admin-url "$KURL/" --bootstrap-public-url "$KURL/" \
    --bootstrap-internal-url "$KURL/" >>"$DIR/manage.log" 2>&1
  env "$TAG" OS_KEYSTONE_CONFIG_FILES="$DIR/keystone.conf" setsid /usr/bin/python3 \
    /usr/bin/keystone-wsgi-public --host 127.0.0.1 --port "$kport" >"$DIR/keystone.log" 2>&1 \
    </dev/null &
  echo $! >"$DIR/keystone.pid"
  local body='{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"name":"Default"},"password":"'$PASSWORD'"}}},"scope":{"project":{"name":"admin","domain":{"name":"Default"}}}}}'
  ADMIN_TOKEN=
  for _ in $(seq 1 200); do
    ADMIN_TOKEN=$(curl -s -i -X POST -H "Content-Type: application/json" -d "$body" \
      "$KURL/auth/tokens" 2>/dev/null | tr -d '\r' | awk 'tolower($1)=="x-subject-token:"{print $2}') || true
    [ -n "$ADMIN_TOKEN" ] && break
    ours "$(cat "$DIR/keystone.pid")" || { tail -20 "$DIR/keystone.log" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$ADMIN_TOKEN" ] || { echo "keystone did not answer" >&2; tail -20 "$DIR/keystone.log" >&2; exit 1; }
  local project_id
  project_id=$(api GET "/projects?name=admin" "" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["projects"][0]["id"])')

  sport=$(free_base 5)
  echo "$sport" >"$DIR/swift.port"
  SWIFT_WORKERS=0 SWIFT_KEYSTONE_URL=$KURL SWIFT_KEYSTONE_PASSWORD=$PASSWORD \
    "$AIO" start "$DIR/swift" "$sport" >"$DIR/swift-start.log" 2>&1 \
    || { cat "$DIR/swift-start.log" >&2; exit 1; }

  local storage=http://127.0.0.1:$sport/v1/AUTH_$project_id
  if ! api GET "/services?type=object-store" "" | grep -q '"object-store"'; then
    local sid
    sid=$(api POST /services '{"service":{"type":"object-store","name":"swift"}}' \
      | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["service"]["id"])')
    api POST /regions '{"region":{"id":"RegionTwo"}}' >/dev/null
    for ep in "public RegionOne $storage" "internal RegionOne $storage" \
      "public RegionTwo http://127.0.0.1:1/v1/AUTH_$project_id"; do
      set -- $ep
      api POST /endpoints "{\"endpoint\":{\"service_id\":\"$sid\",\"interface\":\"$1\",\"region_id\":\"$2\",\"url\":\"$3\"}}" >/dev/null
    done
  fi
  cat >"$DIR/env" <<ENV
KEYSTONE_URL=$KURL
KEYSTONE_USER=admin
KEYSTONE_PASSWORD=$PASSWORD
KEYSTONE_PROJECT=admin
SWIFT_PORT=$sport
SWIFT_STORAGE_URL=$storage
ENV
}

case $cmd in
  start) do_start ;;
  stop) do_stop ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
