#!/usr/bin/env python3
"""The benchmark report of issue 7: Swiftness against tgt on this machine, in one run.

Starts a Swift (deploy/swift-aio.sh through the swift_aio fixture script, or uses a running one
with --swift-env), tgtd (Debian tgt, rdwr backing store on a file) and swiftness (one Swift-backed
LUN of the same size) on 127.0.0.1, then, alternating which target goes first:
  hot   iscsi-loadgen 4 KiB random read/write at each QD, 1 MiB sequential read/write, each
        run after Swiftness drained what earlier runs left dirty (untimed)
  drain the prefill's dirty bytes uploaded by `swiftness cache drain`, against swift_bench's raw
        parallel PUT/GET of the same Swift (chunk-sized objects, flush_concurrency streams)
  cold  after SIGTERM (drain), a wiped cache and a restart: 1 MiB sequential read of the whole
        LUN (against raw GET) and 4 KiB random read at the highest QD (cache wiped again)
  restart  a second LUN (4 GiB in full mode) written whole and left dirty, kill -9, restart:
        seconds to listening and to the first READ answered (restart_dirty.py; issue 5)
  vm    fio in the kernel-initiator guest of tests/e2e (vm.py, guest-init.sh step fiobench)
        against both targets, CRC32C header and data digests on both
and the targets' CPU seconds per GiB and peak RSS (/proc/PID/stat and status). Writes REPORT.md,
results.jsonl and PNG plots (gnuplot) to --out.

Every process it starts is stopped by its PID; only 127.0.0.1 carries traffic.
"""
import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
sys.path.insert(0, HERE)
import vm  # noqa: E402  the guest: shared with the e2e test
import swiftness_e2e  # noqa: E402  Daemon, free_port: shared with the e2e test
import report_md  # noqa: E402
import restart_dirty  # noqa: E402

MODES = {
    # LUN MiB, seconds per loadgen run, ramp, rounds, QDs, VM fio seconds (0: no VM), VM rounds,
    # perf profiles of the daemon
    "tiny": dict(size_mib=64, duration=1, ramp=0, rounds=1, qds=[1, 32], fio_s=0, vm_rounds=0,
                 profile=False, restart_gib=0),
    "quick": dict(size_mib=256, duration=3, ramp=1, rounds=1, qds=[1, 8, 32], fio_s=5,
                  vm_rounds=1, profile=True, restart_gib=1),
    "full": dict(size_mib=1024, duration=8, ramp=2, rounds=3, qds=[1, 8, 32], fio_s=10,
                 vm_rounds=2, profile=True, restart_gib=4),
}
CHUNK_MIB = 4
FLUSH_CONCURRENCY = 8  # the cache's default; raw Swift gets the same number of streams
SEQ_QD = 8
FIO_JOBS = "randread:4k:32 randwrite:4k:32 read:1m:8 write:1m:8"
TGT_IQN = "iqn.2026-11.org.swiftness.bench:tgt"
SW_IQN = "iqn.2026-11.org.swiftness.bench:swiftness"
CLK_TCK = os.sysconf("SC_CLK_TCK")

CONFIG = """\
state_dir: {work}/state
log_level: warn
target:
  iqn: {iqn}
  portals: ["127.0.0.1:{port}"]
admin:
  listen: 127.0.0.1:{admin_port}
swift:
  auth_url: {auth_url}
  user: "{user}"
  key: {key}
cache:
  path: {work}/cache
  size: {cache_size}
  flush_concurrency: {flush}
  shutdown_drain_s: 600
luns:
  - id: 0
    name: bench
    backend: swift
    container: {container}
    size: {size}
    block_size: 512
    chunk_size: {chunk}MiB
"""


def log(msg):
    print(f"[report {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def cpu_seconds(pid):
    """User + system CPU of every thread of pid so far (fields 14, 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class Tgt:
    """tgtd on 127.0.0.1 with a private control socket and one rdwr LUN on a file."""

    def __init__(self, work, size):
        self.work, self.port = work, swiftness_e2e.free_port()
        self.env = dict(os.environ, TGT_IPC_SOCKET=os.path.join(work, "tgtd.socket"))
        self.image = os.path.join(work, "tgt-lun.img")
        with open(self.image, "wb") as f:
            f.truncate(size)
        self.log = open(os.path.join(work, "tgtd.log"), "w")
        self.peak_rss_kib = 0
        self.proc = subprocess.Popen(["tgtd", "-f", "--iscsi", f"portal=127.0.0.1:{self.port}"],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        try:
            if not vm.wait_listening(self.port, 10):
                raise RuntimeError("tgtd does not listen (see tgtd.log)")
            self.adm("--mode", "target", "--op", "new", "--tid", "1", "--targetname", TGT_IQN)
            self.adm("--mode", "logicalunit", "--op", "new", "--tid", "1", "--lun", "1",
                     "--backing-store", self.image, "--bstype", "rdwr", "--blocksize", "512")
            self.adm("--mode", "target", "--op", "bind", "--tid", "1", "--initiator-address",
                     "127.0.0.1")
        except Exception:
            self.stop()
            raise
        self.url = f"iscsi://127.0.0.1:{self.port}/{TGT_IQN}/1"

    def adm(self, *args):
        subprocess.run(["tgtadm", "--lld", "iscsi", *args], env=self.env, check=True,
                       stdout=self.log, stderr=subprocess.STDOUT, timeout=30)

    def digests(self, value):
        """CRC32C forces digests, None refuses them: libiscsi 1.19 cannot do data digests."""
        for name in ("HeaderDigest", "DataDigest"):
            self.adm("--mode", "target", "--op", "update", "--tid", "1", "-n", name, "-v", value)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.peak_rss_kib = max(self.peak_rss_kib, proc_status_kib(self.pid, "VmHWM"))
            # tgtd ignores SIGTERM while it has targets: drop them through its control socket.
            for args in (("--lld", "iscsi", "--mode", "target", "--op", "delete", "--force",
                          "--tid", "1"), ("--mode", "system", "--op", "delete")):
                subprocess.run(["tgtadm", *args], env=self.env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=30)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # by PID: our child
                self.proc.wait()


class Swiftness:
    """The daemon (tests/e2e's Daemon) with one Swift LUN; keeps the peak RSS over restarts."""

    def __init__(self, binary, work, swift_env, size, cache_size):
        self.work = work
        self.admin_port = swiftness_e2e.free_port()
        self.daemon = swiftness_e2e.Daemon(binary, work, swiftness_e2e.free_port())
        self.container = f"bench-{os.getpid()}-{int(time.time())}"
        os.makedirs(work, exist_ok=True)
        with open(self.daemon.config, "w") as f:
            f.write(CONFIG.format(work=work, iqn=SW_IQN, port=self.daemon.port,
                                  admin_port=self.admin_port, auth_url=swift_env["SWIFT_AUTH_URL"],
                                  user=swift_env["SWIFT_USER"], key=swift_env["SWIFT_KEY"],
                                  cache_size=cache_size, flush=FLUSH_CONCURRENCY,
                                  container=self.container, size=size, chunk=CHUNK_MIB))
        self.url = f"iscsi://127.0.0.1:{self.daemon.port}/{SW_IQN}/0"
        self.peak_rss_kib = 0

    @property
    def pid(self):
        return self.daemon.proc.pid

    def start(self):
        if not self.daemon.start():
            raise RuntimeError("swiftness did not start (see daemon-*.log)")

    def status(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/status", timeout=10) as r:
            return json.load(r)

    def stop(self):
        """SIGTERM: drains what is dirty, then exits."""
        if self.daemon.proc and self.daemon.proc.poll() is None:
            self.peak_rss_kib = max(self.peak_rss_kib, proc_status_kib(self.pid, "VmHWM"))
            code = self.daemon.terminate(660)
            if code != 0:
                raise RuntimeError(f"swiftness exited {code} on SIGTERM")

    def wipe_cache(self):
        shutil.rmtree(os.path.join(self.work, "cache"), ignore_errors=True)


class Bench:
    def __init__(self, a, work):
        self.a, self.work = a, work
        self.results = []  # every measurement, one dict each (also results.jsonl)
        self.jsonl = open(os.path.join(work, "results.jsonl"), "w")
        self.loadgen = os.path.join(a.build, "iscsi-loadgen")
        self.targets = {}

    def record(self, r):
        self.results.append(r)
        self.jsonl.write(json.dumps(r, separators=(",", ":")) + "\n")
        self.jsonl.flush()

    def measured(self, target, fn):
        """Runs fn() and returns (its result, target CPU seconds used, wall seconds)."""
        pid = self.targets[target].pid
        c0, t0 = cpu_seconds(pid), time.monotonic()
        out = fn()
        return out, cpu_seconds(pid) - c0, time.monotonic() - t0

    def loadgen_run(self, target, url, rw, bs, qd, phase, round_, extra):
        args = [self.loadgen, url, "--rw", rw, "--bs", bs, "--qd", str(qd),
                "--label", f"target={target};round={round_};phase={phase}", *extra]

        def go():
            p = subprocess.run(args, capture_output=True, text=True, timeout=600)
            with open(os.path.join(self.work, "loadgen.log"), "a") as f:
                f.write(" ".join(args) + "\n" + p.stdout + p.stderr)
            if p.returncode != 0:
                raise RuntimeError(f"iscsi-loadgen {rw} {bs} qd {qd} against {target} exited "
                                   f"{p.returncode}: {p.stderr.strip()[-300:]}")
            return json.loads(p.stdout.strip().splitlines()[-1])

        r, cpu, wall = self.measured(target, go)
        pid = self.targets[target].pid
        gib = r["mbps"] * 1e6 * r["seconds"] / 2**30 if r["seconds"] else 0
        r.update(kind="loadgen", phase=phase, target=target, round=round_,
                 target_cpu_cores=round(cpu / wall, 3),
                 # CPU per GiB: busy cores over throughput (ramp and login in the CPU, a bias)
                 target_cpu_s_per_gib=round(cpu / wall / (r["mbps"] * 1e6 / 2**30), 3)
                 if r["mbps"] > 0 else None,
                 target_rss_mib=round(proc_status_kib(pid, "VmRSS") / 1024, 1), gib=gib)
        self.record(r)
        log(f"  {phase:4} {target:9} {rw:9} {bs:>3} qd {qd:<3} {r['iops']:9.0f} IOPS "
            f"{r['mbps']:8.1f} MB/s p50 {r['lat_p50_us']:7.0f} us p99 {r['lat_p99_us']:7.0f} us "
            f"cpu {r['target_cpu_cores']:.2f} cores")
        return r

    # ---- phases ----
    def prefill(self, size):
        for t in ("tgt", "swiftness"):
            self.loadgen_run(t, self.targets[t].url, "seqwrite", "1m", SEQ_QD, "fill", 0,
                             ["--duration", "0", "--ops", str(size >> 20)])

    def hot(self, m):
        tests = [("randread", "4k", qd) for qd in m["qds"]] + \
                [("randwrite", "4k", qd) for qd in m["qds"]] + \
                [("seqread", "1m", SEQ_QD), ("seqwrite", "1m", SEQ_QD)]
        for rnd in range(1, m["rounds"] + 1):
            order = ["tgt", "swiftness"] if rnd % 2 else ["swiftness", "tgt"]
            log(f"hot round {rnd} of {m['rounds']} ({', '.join(order)} first)")
            for rw, bs, qd in tests:
                for t in order:
                    self.quiesce(rnd)
                    self.loadgen_run(t, self.targets[t].url, rw, bs, qd, "hot", rnd,
                                     ["--duration", str(m["duration"]), "--ramp", str(m["ramp"])])

    def quiesce(self, rnd):
        """Uploads what earlier runs left dirty before the next run starts, untimed. Without it
        the flusher's uploads (and Swift's CPU behind them) from one write run spill into the
        runs after it, tgt's as much as Swiftness's: on 2 cores both targets then measure
        Swift's background work. A write run still pays for the uploads its own writes start."""
        sw = self.targets["swiftness"]
        dirty = sw.status()["luns"][0]["dirty_bytes"]
        if not dirty:
            return
        t0 = time.monotonic()
        subprocess.run([self.a.swiftness, "cache", "drain", "--config", sw.daemon.config,
                        "--timeout", "900"], check=True, timeout=960, capture_output=True)
        self.record(dict(kind="quiesce", round=rnd, dirty_bytes=dirty,
                         seconds=round(time.monotonic() - t0, 2)))

    def raw_swift(self, swift_env, size, rnd, phase):
        """swift_bench: PUT then GET of chunk-sized objects, FLUSH_CONCURRENCY streams, through
        the project's Swift client and through curl. Run next to each drain (its PUT figures
        count) and each cold read (its GET figures count), so each pair sees the same load."""
        objects = max(1, size // (CHUNK_MIB << 20) // FLUSH_CONCURRENCY)
        args = [os.path.join(self.a.build, "tests", "bench", "swift", "swift_bench"),
                "--auth-url", swift_env["SWIFT_AUTH_URL"], "--user", swift_env["SWIFT_USER"],
                "--key", swift_env["SWIFT_KEY"], "--streams", str(FLUSH_CONCURRENCY),
                "--objects", str(objects), "--size-mib", str(CHUNK_MIB)]
        p = subprocess.run(args, capture_output=True, text=True, timeout=900,
                           env=dict(os.environ, TMPDIR=self.work))
        with open(os.path.join(self.work, "swift_bench.log"), "a") as f:
            f.write(p.stdout + p.stderr)
        if p.returncode != 0:
            raise RuntimeError(f"swift_bench exited {p.returncode}: {p.stderr[-300:]}")
        for m in re.finditer(r"^(client|curl) (PUT|GET)\s+([\d.]+) MiB/s\s+([\d.]+) CPU s/GiB",
                             p.stdout, re.M):
            r = dict(kind="raw", phase=phase, round=rnd, client=m.group(1), op=m.group(2),
                     mib_s=float(m.group(3)), cpu_s_per_gib=float(m.group(4)),
                     streams=FLUSH_CONCURRENCY, object_mib=CHUNK_MIB,
                     mib=objects * FLUSH_CONCURRENCY * CHUNK_MIB)
            self.record(r)
            log(f"  raw {r['client']:6} {r['op']} {r['mib_s']:7.1f} MiB/s ({phase} round {rnd})")

    def drain(self, rnd):
        sw = self.targets["swiftness"]
        dirty = sw.status()["luns"][0]["dirty_bytes"]

        def go():
            subprocess.run([self.a.swiftness, "cache", "drain", "--config", sw.daemon.config,
                            "--timeout", "900"], check=True, timeout=960, capture_output=True)

        _, cpu, wall = self.measured("swiftness", go)
        st = sw.status()["luns"][0]
        seconds = st["drain"].get("seconds") or wall
        start = st["drain"].get("start_dirty_bytes") or dirty
        r = dict(kind="drain", round=rnd, bytes=start, seconds=round(seconds, 3),
                 mib_s=round(start / 2**20 / seconds, 1) if seconds else 0,
                 cpu_s_per_gib=round(cpu / (start / 2**30), 2) if start else None,
                 left_dirty=st["dirty_bytes"])
        self.record(r)
        log(f"  drain {start >> 20} MiB in {seconds:.2f} s: {r['mib_s']} MiB/s")

    def cold(self, m, size, swift_env, rnd):
        sw = self.targets["swiftness"]
        if rnd % 2:
            self.raw_swift(swift_env, size, rnd, "cold")
        for rw, bs, qd, extra in (
                ("seqread", "1m", SEQ_QD, ["--duration", "0", "--ops", str(size >> 20)]),
                ("randread", "4k", max(m["qds"]), ["--duration", str(m["duration"])])):
            sw.stop()  # SIGTERM drains what the hot phase left dirty
            sw.wipe_cache()
            sw.start()
            self.loadgen_run("swiftness", sw.url, rw, bs, qd, "cold", rnd, extra)
            if rw == "seqread" and rnd % 2 == 0:
                self.raw_swift(swift_env, size, rnd, "cold")

    def profile(self, m):
        """perf samples of the daemon (flat, no call graphs: the build has no frame pointers)
        during a hot run of each test where the goals are hardest; where the time goes."""
        sw = self.targets["swiftness"]
        for rw, bs, qd in (("randread", "4k", max(m["qds"])), ("randwrite", "4k", max(m["qds"])),
                           ("seqread", "1m", SEQ_QD), ("seqwrite", "1m", SEQ_QD)):
            data = os.path.join(self.work, f"perf-{rw}.data")
            self.quiesce(0)
            perf = subprocess.Popen(["perf", "record", "-F", "999", "-p", str(sw.pid), "-o", data],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                r = self.loadgen_run("swiftness", sw.url, rw, bs, qd, "profile", 0,
                                     ["--duration", str(m["duration"]), "--ramp", str(m["ramp"])])
            finally:
                perf.send_signal(signal.SIGINT)  # by PID: our child; it writes the file and exits
                try:
                    perf.wait(60)
                except subprocess.TimeoutExpired:
                    perf.kill()
                    perf.wait()
            tables = {}
            for sort in ("dso", "dso,sym"):
                p = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                                    "--sort", sort, "--percent-limit", "1.5"],
                                   capture_output=True, text=True, timeout=300)
                tables[sort] = "\n".join(line.rstrip() for line in p.stdout.splitlines()
                                         if line.strip() and not line.startswith("#"))
            self.record(dict(kind="profile", rw=rw, bs=bs, qd=qd, iops=r["iops"],
                             by_object=tables["dso"], by_symbol=tables["dso,sym"]))

    def vm_fio(self, m, size):
        """fio in the e2e guest against each target, CRC32C header and data digests."""
        self.targets["tgt"].digests("CRC32C")
        try:
            for rnd in range(1, m["vm_rounds"] + 1):
                order = ["tgt", "swiftness"] if rnd % 2 else ["swiftness", "tgt"]
                for t in order:
                    self.vm_one(t, m, size, rnd)
        finally:
            self.targets["tgt"].digests("None")

    def vm_one(self, target, m, size, rnd):
        tg = self.targets[target]
        work = tempfile.mkdtemp(prefix=f"vm-{target}-", dir=self.work)
        port = tg.port if target == "tgt" else tg.daemon.port
        conf = {"E2E_IQN": TGT_IQN if target == "tgt" else SW_IQN,
                "E2E_LUN": 1 if target == "tgt" else 0,
                "E2E_INITIATOR": "iqn.2026-11.org.swiftness.bench:guest", "E2E_DIGEST": "CRC32C",
                "E2E_STEPS": "net iscsid discovery configure login fiobench logout",
                "E2E_FIO_JOBS": FIO_JOBS, "E2E_FIO_S": m["fio_s"],
                "E2E_FIO_RAMP_S": 1 if m["fio_s"] < 10 else 2, "E2E_FIO_SIZE": f"{size >> 20}M"}
        jobs = len(FIO_JOBS.split())
        timeout = 240 + jobs * (m["fio_s"] + 30)
        guest = vm.Guest(self.a.vm_cache, work, port, conf, timeout, fio=True, accel=self.a.accel)
        log(f"vm round {rnd}: fio in the guest against {target}")
        ok, cpu, wall = self.measured(target, guest.run)
        if not ok:
            raise RuntimeError(f"the guest run against {target} failed: {guest.result_detail} "
                               f"(console: {work}/console.log)")
        with open(os.path.join(work, "console.log"), errors="replace") as f:
            console = f.read()
        moved = 0
        for name, body in re.findall(r"E2E-FIO-BEGIN (\S+)\n(.*?)E2E-FIO-END \1", console, re.S):
            job = json.loads(body[body.index("{"):])["jobs"][0]
            rw, bs, qd = name.split(":")
            side = job["read"] if "read" in rw else job["write"]
            pct = side["clat_ns"].get("percentile", {})
            r = dict(kind="fio", target=target, round=rnd, rw=rw, bs=bs, qd=int(qd),
                     iops=side["iops"], mbps=side["bw_bytes"] / 1e6,
                     lat_p50_us=pct.get("50.000000", 0) / 1e3,
                     lat_p99_us=pct.get("99.000000", 0) / 1e3,
                     lat_p999_us=pct.get("99.900000", 0) / 1e3, seconds=m["fio_s"])
            moved += side["io_bytes"]
            self.record(r)
            log(f"  fio {target:9} {rw:9} {bs:>3} qd {qd:<3} {r['iops']:9.0f} IOPS "
                f"{r['mbps']:8.1f} MB/s p99 {r['lat_p99_us']:7.0f} us")
        if moved == 0:
            raise RuntimeError(f"no fio results on the console of the guest against {target}")
        self.record(dict(kind="fio-cost", target=target, round=rnd, bytes=moved,
                         cpu_s=round(cpu, 2), wall_s=round(wall, 1),
                         cpu_s_per_gib=round(cpu / (moved / 2**30), 2)))
        shutil.rmtree(work, ignore_errors=True)


def swift_start(work, env_file):
    """A private Swift through the swift_aio fixture's script: (env dict, stop function)."""
    if env_file:
        return read_env(env_file), lambda: None
    state = os.path.join(work, "swift")
    fixture = os.path.join(REPO, "tests", "integration", "swift", "swift_aio_fixture.sh")
    aio = os.path.join(REPO, "deploy", "swift-aio.sh")

    def stop():
        subprocess.run([fixture, "cleanup", state, aio], timeout=120, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    try:
        subprocess.run([fixture, "setup", state, aio], check=True, timeout=300,
                       stdout=open(os.path.join(work, "swift-setup.log"), "w"),
                       stderr=subprocess.STDOUT)
    except BaseException:
        stop()  # whatever part of it started
        raise
    return read_env(os.path.join(state, "env")), stop


def read_env(path):
    with open(path) as f:
        return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) >> 20
    accel = vm.pick_accel("auto")[0]
    return dict(cores=os.cpu_count(), model=model, kernel=platform.release(), mem_gib=mem,
                vm_accel=accel)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build"),
                    help="build dir with swiftness, iscsi-loadgen, swift_bench")
    ap.add_argument("--mode", choices=sorted(MODES), default="quick",
                    help="tiny (< 1 min, no VM: checks the tooling), quick (~3 min), full "
                    "(~15 min, for a quiet machine)")
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "bench", "results"),
                    help="where REPORT.md, results.jsonl and the PNGs go")
    ap.add_argument("--swift-env", help="use this running Swift (swift_aio env file) instead of "
                    "starting one")
    ap.add_argument("--size-mib", type=int, help="LUN size (mode default)")
    ap.add_argument("--duration", type=float, help="measured seconds per loadgen run")
    ap.add_argument("--ramp", type=float, help="unmeasured seconds before each loadgen run")
    ap.add_argument("--rounds", type=int, help="A/B rounds of the hot tests")
    ap.add_argument("--qds", help="queue depths of the 4 KiB tests, e.g. '1 8 32'")
    ap.add_argument("--fio-seconds", type=int, help="seconds per fio job in the VM (0: no VM)")
    ap.add_argument("--vm-rounds", type=int, help="A/B rounds of the VM fio runs")
    ap.add_argument("--no-vm", action="store_true", help="skip fio in the VM")
    ap.add_argument("--profile", action=argparse.BooleanOptionalAction,
                    help="perf profiles of the daemon (default: on except in tiny mode)")
    ap.add_argument("--vm-cache", help="guest image cache (default <build>/e2e-cache)")
    ap.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    a.swiftness = os.path.join(a.build, "swiftness")
    a.vm_cache = os.path.abspath(a.vm_cache or os.path.join(a.build, "e2e-cache"))
    m = dict(MODES[a.mode])
    for key, val in (("size_mib", a.size_mib), ("duration", a.duration), ("ramp", a.ramp),
                     ("rounds", a.rounds), ("fio_s", a.fio_seconds),
                     ("vm_rounds", a.vm_rounds)):
        if val is not None:
            m[key] = val
    if a.profile is not None:
        m["profile"] = a.profile
    if m["profile"] and not shutil.which("perf"):
        log("no perf: no profiles")
        m["profile"] = False
    if a.qds:
        m["qds"] = [int(q) for q in a.qds.split()]
    if a.no_vm or m["fio_s"] == 0 or m["vm_rounds"] == 0:
        m["fio_s"] = m["vm_rounds"] = 0
    for tool in (a.swiftness, os.path.join(a.build, "iscsi-loadgen"),
                 os.path.join(a.build, "tests", "bench", "swift", "swift_bench")):
        if not os.access(tool, os.X_OK):
            sys.exit(f"{tool} is missing: cmake --build {a.build} --target swiftness "
                     "iscsi-loadgen swift_bench")
    if not shutil.which("tgtd") or os.geteuid() != 0:
        print("run-report: tgtd (Debian tgt) and root are needed", file=sys.stderr)
        sys.exit(77)
    size = m["size_mib"] << 20
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="swiftness-report-", dir=os.environ.get("TMPDIR"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    info = dict(mode=a.mode, params=m, machine=machine(), load_before=loadavg(),
                started=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                commit=subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                                      capture_output=True, text=True).stdout.strip())
    log(f"mode {a.mode}: {m}; load average {info['load_before']}; work {work}")
    t_start = time.monotonic()
    b = Bench(a, work)
    stop_swift, ok = (lambda: None), False
    try:
        swift_env, stop_swift = swift_start(work, a.swift_env)
        b.targets["tgt"] = Tgt(work, size)
        b.targets["tgt"].digests("None")
        # The cache holds the whole LUN twice over: hot means every block is local.
        sw = Swiftness(a.swiftness, os.path.join(work, "swiftness"), swift_env, size,
                       f"{max(2 * m['size_mib'], 4 * CHUNK_MIB * 4)}MiB")
        b.targets["swiftness"] = sw  # stopped in the finally below even if the start fails
        sw.start()
        log("prefill (1 MiB sequential writes over each whole LUN)")
        b.prefill(size)
        rounds_swift = 2 if m["rounds"] > 1 else 1
        for rnd in range(1, rounds_swift + 1):
            log(f"drain vs raw PUT/GET, round {rnd}")
            if rnd > 1:  # dirty the whole LUN again
                b.loadgen_run("swiftness", sw.url, "seqwrite", "1m", SEQ_QD, "fill", rnd,
                              ["--duration", "0", "--ops", str(size >> 20)])
            if rnd % 2:
                b.drain(rnd)
                b.raw_swift(swift_env, size, rnd, "drain")
            else:
                b.raw_swift(swift_env, size, rnd, "drain")
                b.drain(rnd)
        b.hot(m)
        if m["profile"]:
            log("perf profiles of the daemon")
            b.profile(m)
        log("cold cache (SIGTERM drain, wipe, restart) vs raw GET")
        for rnd in range(1, rounds_swift + 1):
            b.cold(m, size, swift_env, rnd)
        if m["restart_gib"]:
            log(f"restart to serving with {m['restart_gib']} GiB dirty (kill -9)")
            for r in restart_dirty.measure(a.build, m["restart_gib"], 2, swift_env, work):
                b.record(r)
        if m["vm_rounds"]:
            # The cold sequential read left the whole LUN in the cache again: hot for fio too.
            b.loadgen_run("swiftness", sw.url, "seqread", "1m", SEQ_QD, "warm", 0,
                          ["--duration", "0", "--ops", str(size >> 20)])
            b.vm_fio(m, size)
        ok = True
    finally:
        for t in ("swiftness", "tgt"):
            if t in b.targets:
                try:
                    b.targets[t].stop()
                except Exception as e:  # still stop the rest
                    log(f"stopping {t}: {e}")
        stop_swift()
        info["load_after"] = loadavg()
        info["seconds"] = round(time.monotonic() - t_start)
        info["peak_rss_mib"] = {t: round(x.peak_rss_kib / 1024, 1) for t, x in b.targets.items()}
        b.jsonl.close()
        if not ok or a.keep:
            log(f"scratch directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report_md.write(a.out, info, b.results, os.path.join(HERE, "..", "iscsi", "bench_table.py"))
    log(f"wrote {a.out}/REPORT.md in {info['seconds']} s; load average now {info['load_after']}")


if __name__ == "__main__":
    main()
