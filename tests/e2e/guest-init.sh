#!/bin/sh
# /init of the kernel-initiator test guest (busybox sh). It runs the steps listed in E2E_STEPS
# from /etc/e2e.conf (written by the host script, tests/e2e/vm.py) and reports each one on the
# console as
#   E2E-STEP <name> PASS|FAIL <detail>
# then "E2E-RESULT PASS|FAIL <why>" and powers off. "E2E-WAIT <token>" asks the host to act (for
# example restart the target); the guest then polls the host's control channel until it reads
# "go <token>" (or "abort <token>"). Every command has a time limit, and a watchdog powers the
# guest off at E2E_WATCHDOG_S whatever happens.
export PATH=/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mkdir -p /run/lock/iscsi /var/lib/iscsi /var/lock /mnt
exec </dev/null >/dev/console 2>&1
. /etc/e2e.conf

say() { echo "$*"; }
finish() { # PASS|FAIL WHY
  say "E2E-RESULT $1 $2"
  # poweroff -f would sync() first, which hangs behind dead iSCSI I/O.
  poweroff -n -f
  sleep 60
}
(sleep "$E2E_WATCHDOG_S" && say "E2E-STEP watchdog FAIL the guest ran out of time" &&
  finish FAIL watchdog) &

# ---- helpers ----
DISK=""
CURRENT=""
DETAIL=""
fail() { DETAIL="$*"; return 1; }
run() { # SECONDS CMD...: a command with a time limit; its output goes to the console
  t=$1
  shift
  timeout "$t" "$@"
}
find_disk() { # waits until the session's disk has a non-zero size (no udev here)
  i=0
  while [ $i -lt 300 ]; do
    for b in /sys/class/iscsi_session/session*/device/target*/*:*:*:"$E2E_LUN"/block/*; do
      if [ -e "$b" ] && [ "$(cat "$b/size" 2>/dev/null || echo 0)" != 0 ]; then
        DISK=/dev/${b##*/}
        return 0
      fi
    done
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}
naa_of() { # the NAA designator of VPD page 83 as lower-case hex
  run 20 sg_vpd --page=0x83 --raw "$1" 2>/dev/null | od -An -v -tx1 | awk '
    function h(x) { return (index(D, substr(x, 1, 1)) - 1) * 16 + index(D, substr(x, 2, 1)) - 1 }
    BEGIN { D = "0123456789abcdef" }
    { for (i = 1; i <= NF; i++) b[n++] = $i }
    END {
      # Designation descriptors from byte 4: code set, type (low nibble 3 = NAA), 0, length.
      p = 4
      while (p + 4 <= n) {
        len = h(b[p + 3])
        if (h(b[p + 1]) % 16 == 3) {
          s = ""; for (i = 0; i < len; i++) s = s b[p + 4 + i]; print s; exit
        }
        p += 4 + len
      }
    }'
}

unmount() {
  i=0
  until run 60 umount /mnt; do
    [ $i -lt 10 ] || fail "umount /mnt failed" || return 1
    sleep 0.5
    i=$((i + 1))
  done
}

# ---- steps ----
step_net() {
  run 30 modprobe virtio_pci && run 30 modprobe virtio_net || fail "modprobe virtio" || return 1
  modprobe virtio-rng 2>/dev/null
  i=0
  while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  ip link set lo up && ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 ||
    fail "cannot configure eth0"
}
step_isolation() { # the host's loopback and slirp's DNS proxy must be unreachable
  # nc -e true exits 0 only once connected.
  if run 5 nc -w 3 10.0.2.2 "$E2E_HOST_PORT" -e true >/dev/null 2>&1; then
    fail "10.0.2.2:$E2E_HOST_PORT (the host's loopback) is reachable"
    return 1
  fi
  if run 5 nc -w 3 10.0.2.3 53 -e true >/dev/null 2>&1; then
    fail "10.0.2.3:53 (slirp's DNS proxy) is reachable"
    return 1
  fi
  DETAIL="10.0.2.2:$E2E_HOST_PORT and 10.0.2.3:53 refused"
}
step_iscsid() {
  for m in iscsi_tcp sd_mod sg ext4 crc32c_generic; do
    run 30 modprobe "$m" || fail "modprobe $m" || return 1
  done
  modprobe crc32c-intel 2>/dev/null
  echo "InitiatorName=$E2E_INITIATOR" >/etc/iscsi/initiatorname.iscsi
  # In the foreground so that its errors reach the console (there is no syslog here).
  iscsid -f &
  i=0
  until grep -q ISCSIADM_ABSTRACT_NAMESPACE /proc/net/unix; do
    [ $i -lt 100 ] || fail "iscsid does not listen" || return 1
    sleep 0.1
    i=$((i + 1))
  done
}
step_discovery() {
  out=$(run 60 iscsiadm -m discovery -t sendtargets -p "$E2E_PORTAL")
  rc=$?
  echo "$out"
  [ $rc = 0 ] || fail "iscsiadm discovery rc=$rc" || return 1
  echo "$out" | grep -q " $E2E_IQN\$" || fail "$E2E_IQN not in the SendTargets answer" || return 1
  # The target advertises its own address (127.0.0.1:PORT), which means nothing in here: log in
  # through a static record at the forwarded portal instead.
  DETAIL="advertised: $(echo "$out" | grep " $E2E_IQN\$" | cut -d' ' -f1 | tr '\n' ' ')"
  run 20 iscsiadm -m node -o delete >/dev/null 2>&1
  run 20 iscsiadm -m node -o new -T "$E2E_IQN" -p "$E2E_PORTAL" >/dev/null || fail "node -o new"
}
node_set() {
  run 20 iscsiadm -m node -T "$E2E_IQN" -p "$E2E_PORTAL" -o update -n "$1" -v "$2" >/dev/null ||
    fail "cannot set $1"
}
step_configure() { # CHAP, mutual CHAP and digests on the node record
  if [ -n "$E2E_CHAP_USER" ]; then
    node_set node.session.auth.authmethod CHAP &&
      node_set node.session.auth.username "$E2E_CHAP_USER" &&
      node_set node.session.auth.password "$E2E_CHAP_SECRET" || return 1
  fi
  if [ -n "$E2E_MUTUAL_USER" ]; then
    node_set node.session.auth.username_in "$E2E_MUTUAL_USER" &&
      node_set node.session.auth.password_in "$E2E_MUTUAL_SECRET" || return 1
  fi
  node_set node.conn[0].iscsi.HeaderDigest "$E2E_DIGEST" &&
    node_set node.conn[0].iscsi.DataDigest "$E2E_DIGEST"
}
step_login() {
  run 90 iscsiadm -m node -T "$E2E_IQN" -p "$E2E_PORTAL" --login
  rc=$?
  if [ $rc != 0 ]; then
    dmesg | tail -8
    fail "iscsiadm --login rc=$rc"
    return 1
  fi
  find_disk || fail "no disk for LUN $E2E_LUN after the login" || return 1
  p=$(run 20 iscsiadm -m session -P 2)
  echo "$p" | grep -E 'Digest|username|authmethod|MaxRecv|Burst|ImmediateData|InitialR2T'
  hd=$(echo "$p" | awk '/HeaderDigest:/ {print $2; exit}')
  dd=$(echo "$p" | awk '/DataDigest:/ {print $2; exit}')
  [ "$hd" = "$E2E_DIGEST" ] && [ "$dd" = "$E2E_DIGEST" ] ||
    fail "negotiated digests $hd/$dd, wanted $E2E_DIGEST" || return 1
  DETAIL="$DISK digests $hd/$dd"
}
step_identity() { # size and VPD 83 NAA as the target reports them
  dev=${DISK#/dev/}
  size=$(($(cat /sys/block/"$dev"/size) * 512))
  [ "$size" = "$E2E_EXPECT_SIZE" ] || fail "size $size, wanted $E2E_EXPECT_SIZE" || return 1
  naa=$(naa_of "$DISK")
  [ -n "$naa" ] || fail "no NAA designator in VPD page 83" || return 1
  if [ -n "$E2E_EXPECT_NAA" ] && [ "$naa" != "$E2E_EXPECT_NAA" ]; then
    fail "NAA $naa, wanted $E2E_EXPECT_NAA"
    return 1
  fi
  E2E_EXPECT_NAA=$naa # the same disk after every re-login
  run 20 sg_readcap -l "$DISK" | grep -E 'Last LBA|block length|Device size' | head -3
  DETAIL="size $size NAA $naa"
}
step_mkfs() {
  run 120 mkfs.ext4 -q -F "$DISK" || fail "mkfs.ext4 failed" || return 1
}
step_write() { # small files, a big one, checksums kept in the guest's RAM
  run 30 mount -t ext4 "$DISK" /mnt || fail "mount failed" || return 1
  mkdir -p /mnt/small/a /mnt/small/b
  i=1
  while [ $i -le 64 ]; do
    d=a
    [ $((i % 2)) = 0 ] && d=b
    run 30 dd if=/dev/urandom of=/mnt/small/$d/f$i bs=1k count=$((i * 7 % 61 + 1)) 2>/dev/null ||
      fail "writing small file $i" || return 1
    i=$((i + 1))
  done
  run 300 dd if=/dev/urandom of=/mnt/big bs=1M count="$E2E_DATA_MIB" conv=fsync 2>&1 | tail -1
  [ "$(stat -c %s /mnt/big)" = $((E2E_DATA_MIB << 20)) ] || fail "writing the big file" ||
    return 1
  run 120 sync || fail "sync" || return 1
  # Absolute paths, no cd: a process with its cwd in /mnt (busybox timeout's watcher lingers up
  # to a second) would make umount fail.
  find /mnt -type f ! -path '/mnt/lost+found/*' | sort | xargs sha256sum >/tmp/sums ||
    fail "checksums" || return 1
  n=$(wc -l </tmp/sums)
  unmount || return 1
  DETAIL="$n files ($E2E_DATA_MIB MiB + 64 small ones)"
}
step_verify() { # e2fsck, mount, every checksum
  run 300 e2fsck -fn "$DISK" || fail "e2fsck -fn found problems" || return 1
  run 30 mount -t ext4 -o ro "$DISK" /mnt || fail "mount failed" || return 1
  echo 3 >/proc/sys/vm/drop_caches
  run 300 sha256sum -c /tmp/sums >/tmp/check.out 2>&1
  rc=$?
  grep -v ': OK$' /tmp/check.out | head -5
  unmount || return 1
  [ $rc = 0 ] || fail "checksums differ" || return 1
  DETAIL="$(grep -c ': OK$' /tmp/check.out) files verified"
}
step_logout() { # and the session and its disk are gone
  ! grep -q "^$DISK " /proc/mounts || fail "$DISK is still mounted" || return 1
  run 60 iscsiadm -m node -T "$E2E_IQN" -p "$E2E_PORTAL" --logout || fail "logout failed" ||
    return 1
  run 10 iscsiadm -m session >/dev/null 2>&1
  [ $? = 21 ] || fail "a session is still listed after the logout" || return 1
  [ -z "$DISK" ] || [ ! -e "/sys/block/${DISK#/dev/}" ] || fail "$DISK still exists" || return 1
  DISK=""
}
fio_counts() { # FILE: "reads writes" that fio issued (its verification reads included)
  sed -n 's/.*issued rwts: total=\([0-9]*\),\([0-9]*\),.*/\1 \2/p' "$1"
}
step_fio() { # random 4 KiB writes at QD 32 on the raw disk, verified with CRC32C
  common="--filename=$DISK --rw=randwrite --bs=4k --iodepth=32 --ioengine=libaio --direct=1
    --size=$E2E_FIO_SIZE --verify=crc32c --verify_fatal=1 --group_reporting"
  # 1. E2E_FIO_S seconds, each batch of 32 writes read back and checked as the run goes. When the
  #    time is up fio stops, and what is still in its backlog is never read back.
  run $((E2E_FIO_S + 120)) fio --name=timed $common --time_based --runtime="$E2E_FIO_S" \
    --verify_backlog=32 >/tmp/fio.out 2>&1
  rc=$?
  cat /tmp/fio.out
  [ $rc = 0 ] && grep -q 'err= 0' /tmp/fio.out || fail "fio (timed) rc=$rc or errors" || return 1
  set -- $(fio_counts /tmp/fio.out)
  [ -n "$2" ] && [ "$1" -gt 0 ] || fail "fio (timed) verified nothing" || return 1
  r=$1
  w=$2
  # 2. A fixed number of writes, then fio's verify phase reads back every one of them.
  run 180 fio --name=full $common --io_size=4M --randseed=7 >/tmp/fio2.out 2>&1
  rc=$?
  cat /tmp/fio2.out
  [ $rc = 0 ] && grep -q 'err= 0' /tmp/fio2.out || fail "fio (full) rc=$rc or errors" || return 1
  set -- $(fio_counts /tmp/fio2.out)
  [ "$2" = 1024 ] && [ "$1" = 1024 ] || fail "fio (full) verified $1 of $2 writes" || return 1
  iops=$(sed -n 's/.*write: IOPS=\([^,]*\),.*/\1/p' /tmp/fio.out | head -1)
  DETAIL="timed: $w writes at $iops IOPS, $r read back and verified; full: 1024 of 1024"
}
step_fiobench() { # timed fio jobs for the benchmark report (tests/bench/report), no verification
  # E2E_FIO_JOBS: "rw:bs:iodepth ..." (rw as fio names it); E2E_FIO_S seconds each after
  # E2E_FIO_RAMP_S of unmeasured load. Each job's JSON goes to the console between
  # E2E-FIO-BEGIN/END lines, which the host cuts out of console.log.
  n=0
  for job in $E2E_FIO_JOBS; do
    rw=${job%%:*}
    rest=${job#*:}
    bs=${rest%%:*}
    qd=${rest#*:}
    run $((E2E_FIO_S + E2E_FIO_RAMP_S + 120)) fio --name="$job" --filename="$DISK" --rw="$rw" \
      --bs="$bs" --iodepth="$qd" --ioengine=libaio --direct=1 --size="$E2E_FIO_SIZE" \
      --time_based --runtime="$E2E_FIO_S" --ramp_time="$E2E_FIO_RAMP_S" \
      --percentile_list=50:99:99.9 --output-format=json --output=/tmp/fio.json >/dev/null 2>&1
    rc=$?
    [ $rc = 0 ] || fail "fio $job rc=$rc" || return 1
    say "E2E-FIO-BEGIN $job"
    cat /tmp/fio.json
    say "E2E-FIO-END $job"
    n=$((n + 1))
  done
  DETAIL="$n fio jobs of ${E2E_FIO_S}s"
}
step_kernlog() { # no kernel warning, oops, I/O, connection or file-system error in the whole run
  bad=$(dmesg | grep -E 'WARNING:|BUG:|Call Trace|Oops|I/O error|conn error|EXT4-fs (error|warning)|Buffer I/O|hung_task|blk_update_request')
  if [ -n "$bad" ]; then
    dmesg | tail -80
    fail "$(echo "$bad" | head -1)"
    return 1
  fi
  DETAIL="no warning, I/O, connection or ext4 error in dmesg"
}
step_wait() { # TOKEN: the host acts, then says go
  say "E2E-WAIT $1"
  i=0
  while [ $i -lt "$E2E_WAIT_S" ]; do
    c=$(run 5 nc 10.0.2.100 "$E2E_CONTROL_PORT" </dev/null 2>/dev/null)
    [ "$c" = "go $1" ] && return 0
    if [ "$c" = "abort $1" ]; then
      fail "the host aborted"
      return 1
    fi
    sleep 1
    i=$((i + 1))
  done
  fail "no go from the host within $E2E_WAIT_S s"
}

# ---- main ----
say "E2E-BOOTED $(uname -r)"
for s in $E2E_STEPS; do
  DETAIL=""
  case "$s" in
    wait:*) name=$s; step_wait "${s#wait:}" ;;
    *) name=$s; "step_$s" ;;
  esac
  if [ $? = 0 ]; then
    say "E2E-STEP $name PASS $DETAIL"
  else
    say "E2E-STEP $name FAIL $DETAIL"
    finish FAIL "$name"
  fi
done
finish PASS all
