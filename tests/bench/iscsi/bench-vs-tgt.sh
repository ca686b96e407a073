#!/usr/bin/env bash
# Benchmarks Swiftness against tgt (Linux SCSI target framework, rdwr backing store) on this
# machine, in one run, alternating A/B, with iscsi-loadgen; prints a table with ratios.
#
#   tests/bench/iscsi/bench-vs-tgt.sh [options]
#
# Options:
#   --build DIR            build dir holding iscsi-loadgen (default: <repo>/build)
#   --swiftness BIN        Swiftness daemon to compare (default: <build>/swiftness if it exists;
#                          without one, only tgt is measured: the baseline)
#   --swiftness-config F   YAML template for `swiftness serve --config`; @PORT@, @IQN@, @LUN_PATH@,
#                          @SIZE@ (bytes), @BLOCK_SIZE@ and @DIR@ are substituted (default: one
#                          generated here with a single file-backed LUN)
#   --no-swiftness         measure tgt only
#   --size SIZE            LUN size, same for both targets (default 1g)
#   --block-size N         logical block size of both LUNs, 512 or 4096 (default 512)
#   --duration S           measured seconds per run (default 5)
#   --ramp S               unmeasured warm-up seconds per run (default 1)
#   --rounds N             A/B rounds; odd rounds run tgt first, even ones Swiftness (default 3)
#   --qds "1 8 32"         queue depths for the 4 KiB random tests
#   --seq-qd N             queue depth for the 1 MiB sequential tests (default 8)
#   --fill-bs SIZE         transfer size of the writes that fill both LUNs first (default 1m).
#                          On ext4 the page cache keeps folios as large as the writes that brought
#                          the data in, and a 4 KiB write costs more in a large folio (README.md);
#                          64k gives tgt's file the folios Swiftness's own write path makes
#   --tests "..."          subset of: randread randwrite seqread seqwrite (default all)
#   --out DIR              write results.jsonl, summary.md and the logs there (default: a new
#                          directory under $TMPDIR)
#   --keep                 keep the scratch dir (backing files, logs)
#
# Every process this script starts is tracked by PID and stopped by PID. Targets listen on
# 127.0.0.1 only, on free ports. tgtd gets a private control socket (TGT_IPC_SOCKET), so it does not
# touch a system tgtd. Needs the Debian `tgt` package (deploy/install-deps.sh) and, for tgtd, root.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
build="$repo/build"
swiftness_bin=""
swiftness_config=""
no_swiftness=0
size=1g
block_size=512
duration=5
ramp=1
rounds=3
qds="1 8 32"
seq_qd=8
fill_bs=1m
tests="randread randwrite seqread seqwrite"
out=""
keep=0

die() { echo "bench-vs-tgt: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --swiftness) swiftness_bin=$2; shift 2 ;;
    --swiftness-config) swiftness_config=$2; shift 2 ;;
    --no-swiftness) no_swiftness=1; shift ;;
    --size) size=$2; shift 2 ;;
    --block-size) block_size=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --ramp) ramp=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --qds) qds=$2; shift 2 ;;
    --seq-qd) seq_qd=$2; shift 2 ;;
    --fill-bs) fill_bs=$2; shift 2 ;;
    --tests) tests=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (try --help)" ;;
  esac
done

loadgen="$build/iscsi-loadgen"
[ -x "$loadgen" ] || die "$loadgen not found: build it (cmake --build $build --target iscsi-loadgen)"
command -v tgtd >/dev/null && command -v tgtadm >/dev/null ||
  die "tgtd/tgtadm not found: install Debian's tgt (deploy/install-deps.sh)"
if [ "$no_swiftness" -eq 0 ] && [ -z "$swiftness_bin" ] && [ -x "$build/swiftness" ]; then
  swiftness_bin="$build/swiftness"
fi
[ "$no_swiftness" -eq 1 ] && swiftness_bin=""
[ -z "$swiftness_bin" ] || [ -x "$swiftness_bin" ] || die "--swiftness $swiftness_bin is not executable"
case "$block_size" in 512|4096) ;; *) die "--block-size must be 512 or 4096" ;; esac

size_bytes=$(python3 -c '
import sys
s = sys.argv[1].lower().rstrip("ib").rstrip("b")
m = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
print(int(s[:-1]) * m[s[-1]] if s[-1] in m else int(s))' "$size") || die "bad --size $size"
[ $((size_bytes % (1 << 20))) -eq 0 ] || die "--size must be a whole number of MiB"

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-vs-tgt.XXXXXX")
[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/bench-vs-tgt-results.XXXXXX")
mkdir -p "$out"
pids=()

cleanup() {
  local rc=$?
  # tgtd ignores SIGTERM while it has targets; the orderly stop is through its (private) control
  # socket: drop the target, then ask the daemon to exit.
  if [ -n "${tgt_pid:-}" ] && kill -0 "$tgt_pid" 2>/dev/null; then
    tgtadm --lld iscsi --mode target --op delete --force --tid 1 >/dev/null 2>&1 || true
    tgtadm --mode system --op delete >/dev/null 2>&1 || true
  fi
  # Stop what we started, by PID, newest first: SIGTERM, then SIGKILL after 5 s.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    local pid=${pids[i]}
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [ "$keep" -eq 0 ]; then
    cp "$work"/*.log "$out"/ 2>/dev/null || true  # logs stay next to the results
    rm -rf "$work"
  else
    echo "bench-vs-tgt: scratch kept in $work" >&2
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_listening() {  # port pid name
  for _ in $(seq 100); do
    kill -0 "$2" 2>/dev/null || die "$3 exited during start-up (see its log)"
    python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' \
      "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  die "$3 is not listening on 127.0.0.1:$1 after 10 s"
}

# --- tgt ------------------------------------------------------------------------------------------
tgt_port=$(free_port)
tgt_iqn="iqn.2026-11.org.swiftness.bench:tgt"
truncate -s "$size_bytes" "$work/tgt-lun.img"
export TGT_IPC_SOCKET="$work/tgtd.socket"  # tgtd and tgtadm both honour it: a private control path
tgtd -f --iscsi "portal=127.0.0.1:$tgt_port" >"$work/tgtd.log" 2>&1 &
pids+=($!)
tgt_pid=$!
wait_listening "$tgt_port" "$tgt_pid" tgtd
tgtadm_() { tgtadm --lld iscsi "$@" >>"$work/tgtd.log" 2>&1 || die "tgtadm $* failed (see tgtd.log)"; }
tgtadm_ --mode target --op new --tid 1 --targetname "$tgt_iqn"
tgtadm_ --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$work/tgt-lun.img" \
  --bstype rdwr --blocksize "$block_size"
tgtadm_ --mode target --op bind --tid 1 --initiator-address 127.0.0.1
tgt_url="iscsi://127.0.0.1:$tgt_port/$tgt_iqn/1"

# --- Swiftness ------------------------------------------------------------------------------------
sw_url=""
if [ -n "$swiftness_bin" ]; then
  sw_port=$(free_port)
  sw_iqn="iqn.2026-11.org.swiftness.bench:swiftness"
  mkdir -p "$work/swiftness"
  if [ -z "$swiftness_config" ]; then
    swiftness_config="$work/swiftness.yaml.in"
    # config/config.cpp's format. Logging at warn, as tgtd logs next to nothing by default.
    cat >"$swiftness_config" <<'YAML'
state_dir: @DIR@/state
log_level: warn
target:
  iqn: @IQN@
  portals:
    - 127.0.0.1:@PORT@
luns:
  - id: 0
    backend: file
    path: @LUN_PATH@
    size: @SIZE@
    block_size: @BLOCK_SIZE@
YAML
  fi
  sed -e "s|@PORT@|$sw_port|g" -e "s|@IQN@|$sw_iqn|g" -e "s|@LUN_PATH@|$work/swiftness/lun.img|g" \
    -e "s|@SIZE@|$size_bytes|g" -e "s|@BLOCK_SIZE@|$block_size|g" -e "s|@DIR@|$work/swiftness|g" \
    "$swiftness_config" >"$work/swiftness.yaml"
  "$swiftness_bin" serve --config "$work/swiftness.yaml" >"$work/swiftness.log" 2>&1 &
  pids+=($!)
  sw_pid=$!
  wait_listening "$sw_port" "$sw_pid" swiftness
  # The LUN number comes from the config; ask the target (REPORT LUNS via iscsi-ls) for its first
  # disk. Listening is not the same as serving: retry for a few seconds.
  sw_lun=""
  for _ in $(seq 50); do
    sw_lun=$( (iscsi-ls -s "iscsi://127.0.0.1:$sw_port/" 2>/dev/null || true) |
      sed -n 's/^Lun:\([0-9]*\) .*Type:DIRECT_ACCESS.*/\1/p' | head -1)
    [ -z "$sw_lun" ] || break
    sleep 0.1
  done
  [ -n "$sw_lun" ] || die "no disk LUN found on swiftness at 127.0.0.1:$sw_port (iscsi-ls -s)"
  sw_url="iscsi://127.0.0.1:$sw_port/$sw_iqn/$sw_lun"
fi

# --- runs -----------------------------------------------------------------------------------------
results="$out/results.jsonl"
: >"$results"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench-vs-tgt: $(nproc) CPUs, kernel $(uname -r), load average $load_start"
echo "bench-vs-tgt: LUN $((size_bytes >> 20)) MiB, blocks of $block_size bytes; ${duration}s per run" \
  "after ${ramp}s ramp; $rounds round(s)"
echo "bench-vs-tgt: tgt at $tgt_url"
[ -z "$sw_url" ] || echo "bench-vs-tgt: swiftness at $sw_url"

# CPU seconds (user + system, all threads) a process has used so far; fields 14 and 15 of
# /proc/PID/stat, counted after the ")" that ends the command name.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
clk_tck=$(getconf CLK_TCK)
# Context switches (voluntary and not) of all a process's threads so far: its wake-ups, steadier
# than CPU time when other work shares the machine.
ctx_switches() { cat "/proc/$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}'; }

run_one() {  # target-name url rw bs qd round [extra...]
  local name=$1 url=$2 rw=$3 bs=$4 qd=$5 round=$6
  shift 6
  local pid line t0 t1 c0 c1 x0 x1 rss
  pid=$(pid_of "$name")
  t0=$(date +%s.%N)
  c0=$(cpu_ticks "$pid")
  x0=$(ctx_switches "$pid")
  if ! line=$("$loadgen" "$url" --rw "$rw" --bs "$bs" --qd "$qd" "$@" \
      --label "target=$name;round=$round" 2>>"$work/loadgen.log" | tail -1); then
    echo "bench-vs-tgt: loadgen failed against $name ($rw $bs qd $qd); see loadgen.log" >&2
    tail -3 "$work/loadgen.log" >&2
    return 1
  fi
  c1=$(cpu_ticks "$pid")
  x1=$(ctx_switches "$pid")
  t1=$(date +%s.%N)
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
  # The target's CPU per GiB moved: cores it kept busy during the run, divided by the measured
  # throughput (steady state assumed; ramp and login are in the CPU time, a small bias).
  python3 -c '
import json, sys
r = json.loads(sys.argv[1])
cpu_s = (float(sys.argv[3]) - float(sys.argv[2])) / float(sys.argv[6])
wall = float(sys.argv[5]) - float(sys.argv[4])
r["target_cpu_cores"] = round(cpu_s / wall, 3)
gib_per_s = r["mbps"] * 1e6 / 2**30
r["target_cpu_s_per_gib"] = round(cpu_s / wall / gib_per_s, 3) if gib_per_s > 0 else None
r["target_rss_mib"] = round(int(sys.argv[7]) / 1024, 1)
# Per command, from the rate over the whole run like the CPU figure.
switches = int(sys.argv[9]) - int(sys.argv[8])
r["target_ctx_switches_per_op"] = round(switches / wall / r["iops"], 2) if r["iops"] > 0 else None
print(json.dumps(r, separators=(",", ":")))' "$line" "$c0" "$c1" "$t0" "$t1" "$clk_tck" "$rss" \
    "$x0" "$x1" \
    >>"$results"
  tail -1 "$results" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("  %-9s %-9s %5s qd %-3d %9.0f IOPS %8.1f MB/s  p50 %7.0f us  p99 %7.0f us  cpu %4.2f cores" % (
    sys.argv[1], r["rw"], "4k" if r["bs"] == 4096 else "%dk" % (r["bs"] // 1024), r["qd"],
    r["iops"], r["mbps"], r["lat_p50_us"], r["lat_p99_us"], r["target_cpu_cores"]))' "$name"
}

targets=(tgt)
[ -z "$sw_url" ] || targets+=(swiftness)
url_of() { if [ "$1" = tgt ]; then echo "$tgt_url"; else echo "$sw_url"; fi; }
pid_of() { if [ "$1" = tgt ]; then echo "$tgt_pid"; else echo "$sw_pid"; fi; }

# Fill both LUNs once, the same way, so reads hit written blocks and neither backing file is
# sparse any more (both start as `truncate`d files; Swiftness's file LUN is thin).
fill_bytes=$(python3 -c '
import sys
s = sys.argv[1].lower()
m = {"k": 1 << 10, "m": 1 << 20}
print(int(s[:-1]) * m[s[-1]] if s[-1] in m else int(s))' "$fill_bs") || die "bad --fill-bs $fill_bs"
[ $((size_bytes % fill_bytes)) -eq 0 ] && [ $((fill_bytes % block_size)) -eq 0 ] ||
  die "--fill-bs must divide the LUN size and be a multiple of the block size"
for t in "${targets[@]}"; do
  "$loadgen" "$(url_of "$t")" --rw seqwrite --bs "$fill_bytes" --qd 8 --duration 0 \
    --ops $((size_bytes / fill_bytes)) >>"$work/loadgen.log" 2>&1 ||
    die "prefill of $t failed; see loadgen.log"
done
# Say how much of each backing file is allocated now: equal (all of it) for a fair comparison.
allocated_mib() { echo $(($(stat -c '%b * %B' "$1") >> 20)); }
fill_note="filled with $fill_bs writes, then allocated: tgt $(allocated_mib "$work/tgt-lun.img") MiB"
if [ -n "$sw_url" ] && [ -f "$work/swiftness/lun.img" ]; then
  fill_note+=", swiftness $(allocated_mib "$work/swiftness/lun.img") MiB"
fi
fill_note+=" of $((size_bytes >> 20)) MiB"
echo "bench-vs-tgt: LUNs $fill_note"

for round in $(seq "$rounds"); do
  order=("${targets[@]}")
  if [ $((round % 2)) -eq 0 ] && [ ${#targets[@]} -eq 2 ]; then order=(swiftness tgt); fi
  echo "bench-vs-tgt: round $round of $rounds (${order[*]})"
  for test in $tests; do
    case "$test" in
      randread|randwrite)
        for qd in $qds; do
          for t in "${order[@]}"; do
            run_one "$t" "$(url_of "$t")" "$test" 4k "$qd" "$round" --duration "$duration" --ramp "$ramp"
          done
        done ;;
      seqread|seqwrite)
        for t in "${order[@]}"; do
          run_one "$t" "$(url_of "$t")" "$test" 1m "$seq_qd" "$round" --duration "$duration" --ramp "$ramp"
        done ;;
      *) die "unknown test $test" ;;
    esac
  done
done

{
  echo "# Swiftness vs tgt, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "$(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), kernel $(uname -r);"
  echo "load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (others' work"
  echo "shares these CPUs). LUN $((size_bytes >> 20)) MiB, $block_size-byte blocks, ${duration}s runs"
  echo "after ${ramp}s ramp, $rounds round(s) alternating which target goes first. LUNs $fill_note."
  echo
  python3 "$here/bench_table.py" "$results"
} | tee "$out/summary.md"
echo "bench-vs-tgt: results in $out"
