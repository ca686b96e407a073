#!/usr/bin/env bash
# Checks iscsi-rwverify and iscsi-loadgen against a known-good target, tgt, so a broken tool is
# never mistaken for a broken Swiftness. Registered with CTest (bench_iscsi_tools_vs_tgt).
#
#   tools-vs-tgt-test.sh BUILD_DIR
#
# Exit 0 pass, 1 fail, 77 skipped (no tgtd, or not root: tgtd needs it).
set -euo pipefail

build=${1:?usage: tools-vs-tgt-test.sh BUILD_DIR}
rwverify="$build/iscsi-rwverify"
loadgen="$build/iscsi-loadgen"
command -v tgtd >/dev/null && command -v tgtadm >/dev/null || { echo "SKIP: no tgtd"; exit 77; }
[ "$(id -u)" -eq 0 ] || { echo "SKIP: tgtd needs root"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/tools-vs-tgt.XXXXXX")
tgt_pid=""
cleanup() {
  local rc=$?
  if [ -n "$tgt_pid" ] && kill -0 "$tgt_pid" 2>/dev/null; then
    # tgtd ignores SIGTERM while it has targets: delete them and ask it to exit, then insist.
    for tid in 1 2; do tgtadm --lld iscsi --mode target --op delete --force --tid $tid >/dev/null 2>&1 || true; done
    tgtadm --mode system --op delete >/dev/null 2>&1 || true
    for _ in $(seq 50); do kill -0 "$tgt_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$tgt_pid" 2>/dev/null || true
    wait "$tgt_pid" 2>/dev/null || true
  fi
  [ $rc -eq 0 ] || { echo "--- tgtd.log"; tail -20 "$work/tgtd.log"; }
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export TGT_IPC_SOCKET="$work/tgtd.socket"
adm() { tgtadm --lld iscsi "$@" >>"$work/tgtd.log"; }
truncate -s 64M "$work/plain.img" "$work/chap.img"
start_tgt() {
  tgtd -f --iscsi "portal=127.0.0.1:$port" >>"$work/tgtd.log" 2>&1 &
  tgt_pid=$!
  for _ in $(seq 100); do
    python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' \
      "$port" 2>/dev/null && break
    sleep 0.1
  done
  adm --mode target --op new --tid 1 --targetname iqn.2026-11.test:plain
  adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$work/plain.img" --bstype rdwr
  adm --mode target --op bind --tid 1 --initiator-address 127.0.0.1
  adm --mode target --op new --tid 2 --targetname iqn.2026-11.test:chap
  adm --mode logicalunit --op new --tid 2 --lun 1 --backing-store "$work/chap.img" --bstype rdwr \
    --blocksize 4096
  adm --mode target --op bind --tid 2 --initiator-address 127.0.0.1
  adm --mode account --op new --user alice --password alicesecret12
  adm --mode account --op bind --tid 2 --user alice
  adm --mode account --op new --user target --password targetsecret34
  adm --mode account --op bind --tid 2 --user target --outgoing
}
start_tgt

plain="iscsi://127.0.0.1:$port/iqn.2026-11.test:plain/1"
chap="iscsi://127.0.0.1:$port/iqn.2026-11.test:chap/1"
failures=0
expect() {  # expected-exit-code description command...
  local want=$1 what=$2 got=0
  shift 2
  "$@" >"$work/out" 2>&1 || got=$?
  if [ "$got" -eq "$want" ]; then
    echo "PASS $what"
  else
    echo "FAIL $what: exit $got, expected $want"
    sed 's/^/    /' "$work/out"
    failures=$((failures + 1))
  fi
}

expect 0 "write+verify, 4 KiB and 1 MiB mixed, QD 16" "$rwverify" -q "$plain"
expect 0 "QD 32 reached at the target" bash -c \
  "'$rwverify' '$plain' --qd 32 --xfer 4k --seed 3 | grep -q 'at most 32 commands were in flight'"
expect 0 "1 MiB only, WRITE/READ (16), FUA always" "$rwverify" -q "$plain" --xfer 1m --cdb 16 --fua always
expect 0 "ImmediateData=No InitialR2T=Yes" "$rwverify" -q "$plain" --immediate-data no --initial-r2t yes
expect 0 "HeaderDigest=CRC32C" "$rwverify" -q "$plain" --header-digest crc32c
expect 0 "write-only, then verify-only in another process" bash -c \
  "'$rwverify' -q '$plain' --write-only --seed 11 && '$rwverify' -q '$plain' --verify-only --seed 11"
expect 1 "verify-only with another seed finds stale data" "$rwverify" -q "$plain" --verify-only --seed 12
# libiscsi < 1.20 cannot offer a data digest (usage error); a newer one must then work with tgt.
expect 0 "data digest works, or is refused as unsupported by this libiscsi" bash -c \
  "'$rwverify' -q '$plain' --data-digest crc32c; rc=\$?
   [ \$rc -eq 0 ] || { [ \$rc -eq 2 ] && '$rwverify' '$plain' --data-digest crc32c 2>&1 | grep -q '< 1.20'; }"
expect 2 "range beyond the LUN" "$rwverify" "$plain" --range 131000:1000
expect 3 "CHAP target without credentials" "$rwverify" -q "$chap"
expect 3 "wrong CHAP secret" "$rwverify" -q "$chap" --chap-user alice --chap-secret wrongsecret12
expect 0 "CHAP via the URL, 4 KiB blocks" "$rwverify" -q \
  "iscsi://alice%alicesecret12@127.0.0.1:$port/iqn.2026-11.test:chap/1"
expect 0 "mutual CHAP with header digest" "$rwverify" -q "$chap" --chap-user alice \
  --chap-secret alicesecret12 --mutual-chap-user target --mutual-chap-secret targetsecret34 \
  --header-digest crc32c
expect 3 "mutual CHAP catches a target with the wrong secret" "$rwverify" -q "$chap" \
  --chap-user alice --chap-secret alicesecret12 --mutual-chap-user target \
  --mutual-chap-secret othersecret99
expect 0 "loadgen randwrite QD 16, 2 sessions, JSON line" bash -c \
  "'$loadgen' '$plain' --rw randwrite --qd 16 --sessions 2 --duration 1 | tail -1 |
   python3 -c 'import json,sys; r=json.load(sys.stdin); assert r[\"iops\"] > 100 and r[\"errors\"] == 0 and r[\"qd_reached\"] == 16, r'"
expect 0 "loadgen 1 MiB seqread by op count" bash -c \
  "'$loadgen' '$plain' --rw seqread --bs 1m --qd 4 --duration 0 --ops 64 | tail -1 |
   python3 -c 'import json,sys; r=json.load(sys.stdin); assert r[\"ops\"] == 64 and r[\"mbps\"] > 0, r'"

# The kill -9 flow: a writer that never stops (--passes 0), logging what the target made durable
# (FUA, or SYNCHRONIZE CACHE every 64 writes); the target is killed mid-run, so the writer must
# fail fast with exit 4; after a restart the logged extents must verify. tgt writes through the
# page cache, which outlives tgtd, so this checks the tool, not tgt's durability.
"$rwverify" "$plain" --write-only --passes 0 --sync-every 64 --fua mixed --ack-log "$work/ack" \
  --seed 21 --qd 32 >"$work/drop.out" 2>&1 &
victim=$!
sleep 1
kill -KILL "$tgt_pid"
wait "$tgt_pid" 2>/dev/null || true
tgt_pid=""
rc=0
wait "$victim" || rc=$?
if [ $rc -eq 4 ] && [ "$(wc -l <"$work/ack")" -gt 1 ]; then
  echo "PASS killed target: writer exits 4 with $(($(wc -l <"$work/ack") - 1)) durable extents logged"
else
  echo "FAIL killed target: writer exit $rc (expected 4), $(wc -l <"$work/ack") log lines"
  sed 's/^/    /' "$work/drop.out"
  failures=$((failures + 1))
fi
start_tgt
expect 0 "after restart, the logged extents verify" "$rwverify" -q "$plain" --verify-only \
  --ack-log "$work/ack"
first_lba=$(sed -n 2p "$work/ack" | cut -d' ' -f1)
dd if=/dev/zero of="$work/plain.img" bs=512 seek="$first_lba" count=1 conv=notrunc status=none
expect 1 "a lost durable block is caught" "$rwverify" -q "$plain" --verify-only --ack-log "$work/ack"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "all checks passed"
