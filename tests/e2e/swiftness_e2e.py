#!/usr/bin/env python3
"""The Linux open-iscsi initiator, in a qemu guest (vm.py), against the real swiftness daemon
exporting a Swift-backed LUN (the swift_aio fixture's Swift) or a file LUN.

Scenario (--scenario full), every step reported by the guest or by this script:
 1. SendTargets discovery, login with CHAP and mutual CHAP, HeaderDigest and DataDigest CRC32C;
 2. the disk has the configured size and the VPD 83 NAA identifier the target reports to an
    independent client (libiscsi's iscsi-inq); mkfs.ext4, files written, sync, sha256 recorded,
    umount, logout;
 3. host: kill -9 the daemon and start it again; guest: login, e2fsck -fn, mount, checksums;
 4. host: SIGTERM with a generous drain deadline, the daemon log shows the drain completed and
    it exits 0; the cache directory is wiped; start again; guest: login, e2fsck, checksums (the
    data now comes from Swift alone);
 5. fio verify=crc32c, random 4 KiB writes, iodepth 32, libaio direct on the raw disk;
 6. clean logout, then on the host: no ESTABLISHED connection on the daemon's port, and the
    daemon log shows every session of the guest closed.
--scenario wrong-chap: the guest uses a CHAP secret the target does not have; passes only if the
login is refused for authentication (iscsiadm error 24, the daemon logs the failed login) while
discovery worked, which shows the harness catches a broken target.

Only 127.0.0.1, a free port, a private work directory; the daemon is stopped by its PID.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vm  # noqa: E402

IQN = "iqn.2026-11.org.swiftness.e2e:target"
CHAP = ("e2e-initiator", "e2e-chap-secret1")
MUTUAL = ("e2e-target", "e2e-mutual-secr2")
LUN_SIZE = 1 << 30

CONFIG = """\
state_dir: {work}/state
log_level: info
target:
  iqn: {iqn}
  portals: ["127.0.0.1:{port}"]
  chap: {{user: {cu}, secret: {cs}}}
  mutual_chap: {{user: {mu}, secret: {ms}}}
luns:
{lun}"""
SWIFT = """\
swift:
  auth_url: {auth_url}
  user: "{user}"
  key: {key}
cache:
  path: {work}/cache
  size: 1GiB
  # Nothing reaches Swift before the SIGTERM drain of step 4: step 3's kill -9 then tests the
  # journal replay, and step 4's wipe leaves only what the drain uploaded.
  max_dirty_age_s: 3600
  dirty_low_watermark: 70
  dirty_high_watermark: 90
  shutdown_drain_s: {drain}
"""
SWIFT_LUN = """\
  - id: 0
    name: e2e
    backend: swift
    container: {container}
    size: {size}
    block_size: 512
    chunk_size: 4MiB
"""
FILE_LUN = """\
  - id: 0
    name: e2e
    backend: file
    path: {work}/lun0.img
    size: {size}
    block_size: 512
"""


def log(msg):
    print(f"[e2e {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    def __init__(self, binary, work, port):
        self.binary, self.work, self.port = binary, work, port
        self.config = os.path.join(work, "swiftness.yaml")
        self.proc = None
        self.runs = 0
        self.logs = []

    def start(self, seconds=60):
        self.runs += 1
        logpath = os.path.join(self.work, f"daemon-{self.runs}.log")
        self.logs.append(logpath)
        ready = os.path.join(self.work, "ready")
        if os.path.exists(ready):
            os.unlink(ready)
        self.proc = subprocess.Popen([self.binary, "serve", "--config", self.config,
                                      "--ready-file", ready, "--threads", "2"],
                                     stdout=open(logpath, "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.proc.poll() is None:
            if os.path.exists(ready) and vm.wait_listening(self.port, 1):
                return True
            time.sleep(0.05)
        log(f"the daemon did not become ready; {logpath}:\n" + self.log_text())
        return False

    def log_text(self, run=None):
        with open(self.logs[-1 if run is None else run - 1], errors="replace") as f:
            return f.read()

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        return self.proc.wait(10)

    def terminate(self, seconds):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            if self.terminate(30) is None:
                log("the daemon ignored SIGTERM for 30 s; killed")


def reported_naa(port, lun):
    """VPD 83's NAA designator as an independent client (libiscsi's iscsi-inq) reads it, as hex.

    iscsi-inq prints a binary designator raw with %s: a NAA containing a 0x00 byte comes out
    short. Then None, and the guest's first reading is the reference for the later logins."""
    url = f"iscsi://{CHAP[0]}%{CHAP[1]}@127.0.0.1:{port}/{IQN}/{lun}"
    out = subprocess.run(["iscsi-inq", "-i", "iqn.2026-11.org.swiftness.e2e:host-probe",
                          "-e", "1", "-c", "131", url], capture_output=True, timeout=30).stdout
    m = re.search(rb"Designator Type:\(3\) NAA\nDesignator:\[", out)
    if not m:
        return None, out
    raw = out[m.end():]
    n = 16 if raw[:1] and raw[0] >> 4 == 6 else 8
    if len(raw) < n + 1 or raw[n:n + 1] != b"]":
        return None, out
    return raw[:n].hex(), out


def container_usage(env, container):
    """(objects, bytes) of a Swift container, for the report: what the drain had to upload."""
    req = urllib.request.Request(env["SWIFT_AUTH_URL"], headers={
        "X-Auth-User": env["SWIFT_USER"], "X-Auth-Key": env["SWIFT_KEY"]})
    with urllib.request.urlopen(req, timeout=10) as r:
        url, token = r.headers["X-Storage-Url"], r.headers["X-Auth-Token"]
    req = urllib.request.Request(f"{url}/{container}", method="HEAD",
                                 headers={"X-Auth-Token": token})
    with urllib.request.urlopen(req, timeout=10) as r:
        return int(r.headers["X-Container-Object-Count"]), int(r.headers["X-Container-Bytes-Used"])


class Scenario:
    def __init__(self, args, work):
        self.a, self.work = args, work
        self.port = free_port()
        self.daemon = Daemon(args.swiftness, work, self.port)
        self.host_steps = []  # (name, PASS|FAIL, detail, seconds), merged into the summary
        self.initiator = vm.DEFAULT_INITIATOR
        self.swift_env, self.container = None, None

    def host_step(self, name, ok, detail, t0):
        r = "PASS" if ok else "FAIL"
        self.host_steps.append((f"host:{name}", r, detail, time.monotonic() - t0))
        log(f"{r} host:{name} ({time.monotonic() - t0:.1f} s) {detail}")
        return ok

    def write_config(self, chap_secret):
        if self.a.backend == "swift":
            with open(self.a.swift_env) as f:
                env = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
            container = f"e2e-{os.getpid()}-{int(time.time())}"
            self.swift_env, self.container = env, container
            lun = SWIFT_LUN.format(container=container, size=LUN_SIZE)
            tail = SWIFT.format(auth_url=env["SWIFT_AUTH_URL"], user=env["SWIFT_USER"],
                                key=env["SWIFT_KEY"], work=self.work, drain=self.a.drain_s)
        else:
            lun, tail = FILE_LUN.format(work=self.work, size=LUN_SIZE), ""
        with open(self.daemon.config, "w") as f:
            f.write(CONFIG.format(work=self.work, iqn=IQN, port=self.port, cu=CHAP[0],
                                  cs=chap_secret, mu=MUTUAL[0], ms=MUTUAL[1], lun=lun) + tail)

    # ---- host actions, run when the guest prints E2E-WAIT <token> ----
    def on_wait(self, token):
        return {"restart": self.restart_killed, "drain": self.drain_wipe_restart,
                "sessions": self.no_sessions_left}[token]()

    def restart_killed(self):
        t0 = time.monotonic()
        code = self.daemon.kill9()
        ok = code == -signal.SIGKILL and self.daemon.start()
        return self.host_step("kill-9-restart", ok, f"exit {code}, started again", t0)

    def drain_wipe_restart(self):
        before = self.usage()
        t0 = time.monotonic()
        code = self.daemon.terminate(self.a.drain_s + 30)
        text = self.daemon.log_text()
        problems = []
        if code != 0:
            problems.append(f"exit status {code}")
        if "not fully drained" in text:
            problems.append("the log says not fully drained")
        if not re.search(r"signal 15: stopping", text) or not re.search(r"\] stopped|stopped$",
                                                                       text, re.M):
            problems.append("no 'stopping'/'stopped' in the log")
        drained = f"drain and stop {time.monotonic() - t0:.1f} s, exit {code}; Swift " \
                  f"container before {before}, after {self.usage()}"
        if problems:
            return self.host_step("drain", False, "; ".join(problems), t0)
        self.host_step("drain", True, drained, t0)
        t1 = time.monotonic()
        cache = os.path.join(self.work, "cache")
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(cache) for f in fs)
        shutil.rmtree(cache)
        ok = not os.path.exists(cache) and self.daemon.start()
        return self.host_step("wipe-restart", ok, f"removed {size >> 20} MiB of cache", t1)

    def usage(self):
        if not self.container:
            return "(file LUN)"
        try:
            objects, size = container_usage(self.swift_env, self.container)
            return f"{objects} objects {size / 1048576:.1f} MiB"
        except OSError as e:
            return f"(unknown: {e})"

    def no_sessions_left(self):
        t0 = time.monotonic()
        problems = []
        # The connection is closed right after the Logout Response: allow a moment.
        established = ""
        for _ in range(50):
            established = subprocess.run(
                ["ss", "-Htn", "state", "established",
                 f"( sport = :{self.port} or dport = :{self.port} )"],
                capture_output=True, text=True, timeout=10).stdout.strip()
            if not established:
                break
            time.sleep(0.1)
        if established:
            problems.append(f"ESTABLISHED connections left: {established}")
        text = self.daemon.log_text()
        opened = len(re.findall(rf"normal session for {re.escape(self.initiator)} ", text))
        closed = len(re.findall(rf"session of {re.escape(self.initiator)} closed", text))
        logouts = len(re.findall(rf"logout of {re.escape(self.initiator)}\b", text))
        if opened == 0 or opened != closed or logouts != opened:
            problems.append(f"daemon log: {opened} sessions opened, {closed} closed, "
                            f"{logouts} logouts")
        detail = "; ".join(problems) or f"no connection on :{self.port}; {opened} opened, " \
                                         f"{closed} closed, {logouts} logged out"
        return self.host_step("no-sessions", not problems, detail, t0)

    def run(self):
        a = self.a
        wrong = a.scenario == "wrong-chap"
        self.write_config(CHAP[1])
        t0 = time.monotonic()
        if not self.daemon.start():
            return False
        naa, out = reported_naa(self.port, 0)
        if b"DEVICE_IDENTIFICATION" not in out:
            self.host_step("start", False, f"iscsi-inq could not read VPD 83: {out[-300:]!r}", t0)
            return False
        self.host_step("start", True, f"port {self.port}, iscsi-inq NAA "
                       f"{naa or '(binary with a NUL, unreadable: the guest sets the reference)'}",
                       t0)
        if wrong:
            steps = vm.BASIC_STEPS.replace(" identity", "")
            secret = "e2e-wrong-secret"
        else:
            verify = "login identity verify logout"
            steps = (f"{vm.BASIC_STEPS} mkfs write logout wait:restart {verify} wait:drain "
                     f"login identity verify fio logout kernlog wait:sessions")
            secret = CHAP[1]
        conf = {"E2E_IQN": IQN, "E2E_INITIATOR": self.initiator, "E2E_DIGEST": "CRC32C",
                "E2E_CHAP_USER": CHAP[0], "E2E_CHAP_SECRET": secret,
                "E2E_MUTUAL_USER": MUTUAL[0], "E2E_MUTUAL_SECRET": MUTUAL[1],
                "E2E_EXPECT_SIZE": LUN_SIZE, "E2E_EXPECT_NAA": naa or "",
                "E2E_DATA_MIB": a.data_mib, "E2E_FIO_S": a.fio_seconds,
                "E2E_FIO_SIZE": "256M", "E2E_STEPS": steps}
        guest = vm.Guest(a.cache, self.work, self.port, conf, a.timeout, fio=not wrong,
                         accel=a.accel, on_wait=self.on_wait)
        ok = guest.run()
        print(vm.summary(guest, self.host_steps))
        print(f"image {guest.timings.get('image', 0):.1f} s, boot to /init "
              f"{guest.timings.get('boot', 0):.1f} s, in qemu {guest.timings.get('total', 0):.1f} s")
        if not wrong:
            return ok and all(s[1] == "PASS" for s in self.host_steps)
        # The broken target must be caught: discovery fine, login refused for authentication.
        login = guest.step("login")
        refused = login and login[1] == "FAIL" and "rc=24" in login[2]
        disc = guest.step("discovery")
        logged = "login failed" in self.daemon.log_text()
        log(f"wrong CHAP secret: discovery {disc and disc[1]}, login {login and login[1:3]}, "
            f"daemon logged the failed login: {logged}")
        return bool(not ok and refused and disc and disc[1] == "PASS" and logged)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--swiftness", required=True, help="the daemon binary")
    ap.add_argument("--scenario", choices=("full", "wrong-chap"), default="full")
    ap.add_argument("--backend", choices=("swift", "file"), default="swift")
    ap.add_argument("--swift-env", help="the swift_aio fixture's env file (backend swift)")
    ap.add_argument("--cache", required=True, help="guest image cache directory (reused)")
    ap.add_argument("--data-mib", type=int, default=256, help="size of the big file")
    ap.add_argument("--fio-seconds", type=int, default=20)
    ap.add_argument("--drain-s", type=int, default=180, help="the daemon's shutdown_drain_s")
    ap.add_argument("--timeout", type=int, default=720, help="seconds for the whole guest run")
    ap.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    if a.backend == "swift" and not a.swift_env:
        sys.exit("--backend swift needs --swift-env")
    a.cache = os.path.abspath(a.cache)
    work = tempfile.mkdtemp(prefix="swiftness-e2e-", dir=os.environ.get("TMPDIR"))
    # CTest's timeout sends SIGTERM: turn it into an exception so the daemon is still stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    t0 = time.monotonic()
    s = Scenario(a, work)
    ok = False
    try:
        ok = s.run()
    finally:
        s.daemon.stop()
    log(f"{a.scenario}: {'PASS' if ok else 'FAIL'} in {time.monotonic() - t0:.1f} s")
    if ok and not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        log(f"work directory kept: {work} (console.log, daemon-*.log)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
