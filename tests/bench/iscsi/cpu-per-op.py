#!/usr/bin/env python3
"""Daemon CPU per command: for A/B work on the data path on a shared machine.

Starts `swiftness serve` (a file LUN, or a Swift-backed LUN against a running Swift such as the
swift_aio fixture's), fills the LUN with 1 MiB writes and reads it once so reads are cache (and
page cache) hits, waits for the daemon to go idle (the upload of the fill), then runs
iscsi-loadgen jobs and prints, per job, the daemon's utime+stime (all threads, /proc/PID/stat)
divided by the commands done. Wall-clock IOPS swing with whatever else runs; CPU per command
much less, so compare binaries back to back with this rather than by IOPS.

  tests/bench/iscsi/cpu-per-op.py --swiftness build/swiftness --loadgen build/iscsi-loadgen \\
      --kind swift --swift-env build/swift-aio/env --threads 1 \\
      --jobs randread:4k:1,randread:4k:32,randwrite:4k:32

--mallocs also counts the daemon's malloc calls per command through a perf uprobe; it needs
root and, once, `perf probe -x /lib/x86_64-linux-gnu/libc.so.6 malloc`. --events counts any
perf events per command the same way, e.g. `--events context-switches,io_uring:io_uring_queue_async_work`
(wake-ups, and io_uring requests punted to the kernel's io-wq workers). --env KEY=VALUE sets
a variable for the daemon (A/B switches such as SWIFTNESS_FILE_URING=0).
--profile N records the daemon alone (perf record -g -p) during each job and prints its N hottest
symbols. A job "settle" waits until the daemon is idle (the flusher done) before the next job.
--system-profile samples the whole machine (perf record -a, root) during each job and prints
where both cores went: the daemon, the load generator, idle, everything else, each split into
user and kernel time, and the share of all samples in the kernel's TCP/loopback path.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
IQN = "iqn.2026-11.org.swiftness.bench:cpu-per-op"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def parse_size(text):
    units = {"k": 1 << 10, "m": 1 << 20}
    return int(text[:-1]) * units[text[-1].lower()] if text[-1].lower() in units else int(text)


# Kernel functions of the TCP/IP loopback path (send, the loopback device, receive, socket
# copies): their share says how much of the machine the transport itself takes.
NET_SYMBOLS = ("tcp_", "__tcp", "inet_", "ip_", "ip6_", "__ip", "__dev_queue_xmit",
               "dev_hard_start_xmit", "loopback_", "net_rx_action", "__netif", "netif_",
               "process_backlog", "__napi", "napi_", "skb_", "__skb", "kfree_skb", "sk_",
               "sock_", "__sock", "release_sock", "lock_sock", "_copy_to_iter",
               "_copy_from_iter", "copy_page_to_iter", "copy_page_from_iter", "__kfree_skb",
               "kmalloc_reserve", "__alloc_skb", "validate_xmit", "nf_", "__x64_sys_recvfrom",
               "__x64_sys_sendto", "__x64_sys_sendmsg", "__x64_sys_recvmsg")


def system_profile(data, daemon_comm):
    """Shares of all samples by process (comm) and user/kernel, plus the TCP/loopback share."""
    rows = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort",
                           "comm,sym", "--percent-limit", "0", "-F", "overhead,comm,sym"],
                          capture_output=True, text=True, timeout=300).stdout
    shares = {}
    net = 0.0
    # perf truncates comm to 15 characters; libiscsi's tool is "iscsi-loadgen".
    daemon_comm = daemon_comm[:15]
    for row in rows.splitlines():
        parts = row.split()
        if len(parts) < 4 or not parts[0].endswith("%") or row.lstrip().startswith("#"):
            continue
        pct = float(parts[0].rstrip("%"))
        comm, space, sym = parts[1], parts[2], parts[3]
        who = ("daemon" if comm.startswith(daemon_comm) else "loadgen"
               if comm.startswith("iscsi-loadgen") else "idle" if comm == "swapper" else "other")
        where = "kernel" if space == "[k]" else "user"
        shares[(who, where)] = shares.get((who, where), 0.0) + pct
        if where == "kernel" and sym.startswith(NET_SYMBOLS):
            net += pct
    out = []
    for who in ("daemon", "loadgen", "idle", "other"):
        user, kern = shares.get((who, "user"), 0.0), shares.get((who, "kernel"), 0.0)
        out.append(f"{who} {user + kern:.1f}% (user {user:.1f}, kernel {kern:.1f})")
    return ("    machine (2 cores = 100%): " + ", ".join(out) +
            f"; TCP/loopback kernel path {net:.1f}%")


def daemon_profile(data, top):
    """The daemon's `top` hottest symbols, flat (self time), as perf report prints them."""
    rows = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "-g", "none",
                           "--sort", "sym", "--percent-limit", "0.5"],
                          capture_output=True, text=True, timeout=300).stdout
    hot = [r for r in rows.splitlines() if r.strip() and not r.lstrip().startswith("#")]
    return "\n".join("    " + r.strip() for r in hot[:top])


def settle(pid, limit):
    """Waits until the daemon uses under 2% of a core for a second, at most `limit` s."""
    start = time.time()
    while time.time() < start + limit:
        before = cpu_seconds(pid)
        time.sleep(1)
        if cpu_seconds(pid) - before < 0.02:
            break
    return time.time() - start


def config(kind, work, port, swift_env, size_mib):
    cfg = (f"state_dir: {work}/state\nlog_level: warn\ntarget:\n  iqn: {IQN}\n"
           f"  portals: [\"127.0.0.1:{port}\"]\n")
    if kind == "file":
        return cfg + (f"luns:\n  - {{id: 0, name: f, backend: file, path: '{work}/lun.img', "
                      f"size: {size_mib}MiB}}\n")
    env = dict(line.strip().split("=", 1) for line in open(swift_env) if "=" in line)
    return cfg + (f"swift:\n  auth_url: {env['SWIFT_AUTH_URL']}\n  user: \"{env['SWIFT_USER']}\"\n"
                  f"  key: {env['SWIFT_KEY']}\ncache:\n  path: {work}/cache\n"
                  f"  size: {4 * size_mib}MiB\nluns:\n  - {{id: 0, name: s, backend: swift, "
                  f"container: cpu-per-op-{port}, size: {size_mib}MiB, block_size: 512, "
                  f"chunk_size: 4MiB}}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--swiftness", required=True)
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--kind", choices=["file", "swift"], default="file")
    ap.add_argument("--swift-env", help="KEY=VALUE file of a running Swift (swift_aio's env)")
    ap.add_argument("--threads", type=int, default=0, help="serve --threads (0: its default)")
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--duration", type=int, default=5, help="seconds per job")
    ap.add_argument("--jobs", default="randread:4k:1,randread:4k:32,randwrite:4k:32",
                    help="comma-separated rw:bs:qd[:sessions]; rw 'cold' (Swift LUNs): drain, "
                    "wipe the "
                    "cache, restart, read the whole LUN sequentially")
    ap.add_argument("--label", default="")
    ap.add_argument("--mallocs", action="store_true")
    ap.add_argument("--events", default="", help="comma-separated perf events to count per command")
    ap.add_argument("--system-profile", action="store_true",
                    help="perf record -a during each job: where the machine's time went")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="perf record -g of the daemon during each job; print its N hottest "
                    "symbols (flat, --no-children: the RelWithDebInfo build has no frame pointers)")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the daemon")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (daemon log)")
    a = ap.parse_args()
    if a.kind == "swift" and not a.swift_env:
        sys.exit("--kind swift needs --swift-env")

    work = tempfile.mkdtemp(prefix="cpu-per-op-")
    port = free_port()
    with open(f"{work}/swiftness.yaml", "w") as f:
        f.write(config(a.kind, work, port, a.swift_env, a.size_mib))
    args = [a.swiftness, "serve", "--config", f"{work}/swiftness.yaml"]
    if a.threads:
        args += ["--threads", str(a.threads)]
    env = dict(os.environ)
    env.update(kv.split("=", 1) for kv in a.env)
    url = f"iscsi://127.0.0.1:{port}/{IQN}/0"

    def start():
        proc = subprocess.Popen(args, stdout=open(f"{work}/daemon.log", "a"),
                                stderr=subprocess.STDOUT, env=env)
        for _ in range(100):  # up to ~20 s for the daemon to listen (Swift LUNs open first)
            probe = [a.loadgen, "--rw", "randread", "--ops", "1", "--duration", "0", url]
            if subprocess.run(probe, capture_output=True).returncode == 0:
                break
            if proc.poll() is not None:
                sys.exit(f"the daemon exited: {open(f'{work}/daemon.log').read()[-2000:]}")
            time.sleep(0.2)
        return proc

    daemon = None
    try:
        daemon = start()
        fill = [a.loadgen, "--rw", "seqwrite", "--bs", "1m", "--qd", "8", "--duration", "0",
                "--ops", str(a.size_mib), url]
        subprocess.run(fill, capture_output=True, check=True)
        # Settle: one read pass so the page cache holds the LUN (the fill's O_DIRECT writes to a
        # cache file bypass it), then wait until the daemon is idle, at most 120 s: a Swift LUN
        # uploads what the fill left dirty, and that CPU must not count against the first job.
        scan = [a.loadgen, "--rw", "seqread", "--bs", "1m", "--qd", "8", "--duration", "0",
                "--ops", str(a.size_mib), url]
        subprocess.run(scan, capture_output=True, check=True)
        settle(daemon.pid, 120)
        for job in a.jobs.split(","):
            if job == "settle":
                # Between jobs: let the flusher upload what a write job left dirty, so a read
                # job after it is not disturbed by uploads.
                print(f"settled in {settle(daemon.pid, 600):.0f} s", flush=True)
                continue
            rw, bs, qd, *rest = job.split(":")
            sessions = rest[0] if rest else "1"
            loadgen = [a.loadgen, "--rw", rw, "--bs", bs, "--qd", qd, "--sessions", sessions,
                       "--duration", str(a.duration), url]
            if rw == "cold":
                # Swift-heavy: SIGTERM (the daemon drains), remove the cache, restart, and read
                # the whole LUN once sequentially: every byte is a GET on the io threads.
                if a.kind != "swift":
                    sys.exit("cold jobs need --kind swift")
                daemon.terminate()
                daemon.wait(timeout=600)
                shutil.rmtree(f"{work}/cache", ignore_errors=True)
                daemon = start()
                ops = a.size_mib * (1 << 20) // parse_size(bs)
                loadgen = [a.loadgen, "--rw", "seqread", "--bs", bs, "--qd", qd, "--sessions",
                           sessions, "--duration", "0", "--ops", str(ops), url]
            counter = None
            events = ([("probe_libc:malloc", "mallocs")] if a.mallocs else []) + [
                (e, e) for e in a.events.split(",") if e]
            if events:
                counter = subprocess.Popen(["perf", "stat", "-x,", "-e",
                                            ",".join(e for e, _ in events), "-p",
                                            str(daemon.pid)],
                                           stderr=subprocess.PIPE, text=True)
                time.sleep(0.5)
            sampler = None
            if a.system_profile:
                sampler = subprocess.Popen(["perf", "record", "-a", "-F", "499", "-o",
                                            f"{work}/system.data"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)
            recorder = None
            if a.profile:
                recorder = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-p",
                                             str(daemon.pid), "-o", f"{work}/daemon.data"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)
            before = cpu_seconds(daemon.pid)
            run = subprocess.run(loadgen, capture_output=True, text=True)
            used = cpu_seconds(daemon.pid) - before
            if run.returncode != 0:
                sys.exit(f"{job}: iscsi-loadgen failed: {run.stderr.strip()}")
            result = json.loads(run.stdout.strip().splitlines()[-1])
            ops = result["ops"]
            line = (f"{a.label} {a.kind} threads={a.threads or 'default'} {job}: "
                    f"{result['iops']:.0f} IOPS {result['mbps']:.1f} MB/s, {used:.2f} CPU s "
                    f"for {ops} commands = "
                    f"{1e6 * used / ops:.1f} us/command")
            if counter:
                counter.send_signal(signal.SIGINT)
                # perf stat -x, prints one "count,unit,event,..." line per event, in order.
                rows = [r.split(",") for r in counter.communicate()[1].strip().splitlines()
                        if r.count(",") >= 2 and not r.startswith("#")]
                counts = {r[2]: r[0] for r in rows}
                for event, name in events:
                    value = counts.get(event, "")
                    per = f"{int(value) / ops:.2f}" if value.isdigit() else "n/a"
                    line += f", {per} {name}/command"
            line += f" (load {open('/proc/loadavg').read().split()[0]})"
            print(line.strip(), flush=True)
            if recorder:
                recorder.send_signal(signal.SIGINT)  # our child, by PID: it writes the file
                recorder.wait(timeout=120)
                print(daemon_profile(f"{work}/daemon.data", a.profile), flush=True)
            if sampler:
                sampler.send_signal(signal.SIGINT)  # our child, by PID: it writes the file
                sampler.wait(timeout=120)
                print(system_profile(f"{work}/system.data", os.path.basename(a.swiftness)),
                      flush=True)
    finally:
        if daemon:
            daemon.terminate()
            daemon.wait(timeout=120)
        # The LUN file or the cache (preallocated at 4x the LUN) is gigabytes: never leave it.
        if a.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
