#!/usr/bin/env python3
"""The Linux kernel's iSCSI initiator (open-iscsi) in a qemu guest, against a target listening
on the host's 127.0.0.1.

The guest (tests/e2e/build-image.sh: Debian's kernel, busybox, open-iscsi, e2fsprogs, sg3-utils,
fio) runs the steps of tests/e2e/guest-init.sh and reports each on its serial console, which this
script reads. The guest reaches only two host endpoints, through qemu's user-mode network with
restrict=on: the portal 10.0.2.100:3260, relayed per connection to 127.0.0.1:PORT
(tests/e2e/relay.pl), and a control channel 10.0.2.100:9000 that returns the contents of one
host file (how the host says "go" after acting on an "E2E-WAIT <token>" line).

Used as a library by swiftness_e2e.py (the CTest scenario against the swiftness daemon) and, as a
command, against any target, for example tgt:
  vm.py --portal 127.0.0.1:3260 --iqn IQN [--chap U:S] [--mutual-chap U:S] [--fio] \\
        [--target-cmd 'tgtd -f ...'] [--steps '...']
Everything is bounded: a time limit per guest command, a guest watchdog, and qemu killed by its
PID at the deadline; the relays it spawned are killed by PID once they outlive it.
"""
import argparse
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST_PORTAL = "10.0.2.100:3260"
CONTROL_PORT = 9000
DEFAULT_INITIATOR = "iqn.2026-11.org.swiftness.e2e:guest"
STEP_RE = re.compile(r"E2E-STEP (\S+) (PASS|FAIL) ?(.*)")
WAIT_RE = re.compile(r"E2E-WAIT (\S+)")
RESULT_RE = re.compile(r"E2E-RESULT (PASS|FAIL) ?(.*)")
BASIC_STEPS = "net isolation iscsid discovery configure login identity"


def log(msg):
    print(f"[vm {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def pick_accel(mode):
    """(accel, cpu, smp). /dev/kvm backed by kvm_pvm (KVM without VT-x) cannot run a stock
    kernel: the guest hangs silently, so it counts as no KVM at all."""
    pvm = os.path.exists("/sys/module/kvm_pvm")
    kvm_ok = os.access("/dev/kvm", os.R_OK | os.W_OK) and not pvm
    if mode == "kvm" or (mode == "auto" and kvm_ok):
        return "kvm", "host", 2
    # smp 1: on a 2-core host a second emulated CPU was slower and noisier.
    return "tcg", "max", 1


def wait_listening(port, seconds):
    # Behind guestfwd a connect always succeeds, even with nothing listening (the relay just
    # closes), and iscsiadm would then retry for ~90 s: check the host side first.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def build_image(cache):
    t0 = time.monotonic()
    subprocess.run([os.path.join(HERE, "build-image.sh"), cache], check=True, timeout=900)
    return time.monotonic() - t0


def write_cpio(path, files):
    """A newc archive of {name: (mode, bytes)}: the guest's /init and /etc/e2e.conf."""
    with open(path, "wb") as out:
        ino = 1
        for name, (mode, data) in list(files.items()) + [("TRAILER!!!", (0, b""))]:
            raw = name.encode() + b"\0"
            hdr = "070701" + "".join(f"{v:08x}" for v in (
                ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(raw), 0))
            out.write(hdr.encode() + raw)
            out.write(b"\0" * (-(110 + len(raw)) % 4))
            out.write(data)
            out.write(b"\0" * (-len(data) % 4))
            ino += 1
        out.write(b"\0" * (-out.tell() % 512))


class Guest:
    """One boot of the guest. conf: E2E_* variables for /etc/e2e.conf. on_wait(token) -> bool runs
    on the host when the guest prints E2E-WAIT token; its answer releases or aborts the guest."""

    def __init__(self, cache, work, port, conf, timeout=300, fio=False, accel="auto",
                 on_wait=None, memory_mib=1024):
        for p in (cache, work, HERE):
            if re.search(r"[\s,]", p):
                raise ValueError(f"{p}: qemu's -netdev syntax needs a path without spaces or commas")
        self.cache, self.work, self.port = cache, work, port
        self.conf, self.timeout, self.fio = conf, timeout, fio
        self.accel, self.on_wait, self.memory = accel, on_wait, memory_mib
        self.steps = []  # (name, PASS|FAIL, detail, seconds)
        self.result = None
        self.result_detail = ""
        self.timings = {}

    def _initrd(self):
        conf = dict(self.conf)
        conf.setdefault("E2E_PORTAL", GUEST_PORTAL)
        conf.setdefault("E2E_INITIATOR", DEFAULT_INITIATOR)
        conf.setdefault("E2E_LUN", "0")
        conf.setdefault("E2E_DIGEST", "None")
        conf.setdefault("E2E_HOST_PORT", str(self.port))
        conf.setdefault("E2E_CONTROL_PORT", str(CONTROL_PORT))
        conf.setdefault("E2E_WAIT_S", "240")
        conf.setdefault("E2E_WATCHDOG_S", str(max(30, self.timeout - 15)))
        text = "".join(f"{k}={shlex.quote(str(v))}\n" for k, v in sorted(conf.items()))
        with open(os.path.join(HERE, "guest-init.sh"), "rb") as f:
            init = f.read()
        cfg = os.path.join(self.work, "config.cpio")
        write_cpio(cfg, {"init": (0o100755, init), "etc": (0o40755, b""),
                         "etc/e2e.conf": (0o100644, text.encode())})
        initrd = os.path.join(self.work, "initrd.cpio")
        with open(initrd, "wb") as out:
            for part in [cfg, os.path.join(self.cache, "base.cpio")] + \
                    ([os.path.join(self.cache, "fio.cpio")] if self.fio else []):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        return initrd

    @staticmethod
    def cmdline(accel):
        line = "console=ttyS0 panic=-1 quiet"
        if accel == "tcg":
            # An emulated CPU starved by a busy host stops for seconds while the clock runs on:
            # the soft-lockup and RCU-stall detectors then fire without any fault in the guest.
            line += " nosoftlockup rcupdate.rcu_cpu_stall_suppress=1"
        return line

    def _control(self, text):
        path = os.path.join(self.work, "control")
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)

    def run(self):
        t_build = build_image(self.cache)
        self.timings["image"] = t_build
        if not wait_listening(self.port, 30):
            self.result, self.result_detail = "FAIL", f"nothing listens on 127.0.0.1:{self.port}"
            log(f"result FAIL: {self.result_detail}")
            return False
        accel, cpu, smp = pick_accel(self.accel)
        piddir = os.path.join(self.work, "relays")
        os.makedirs(piddir, exist_ok=True)
        self._control("")
        initrd = self._initrd()
        relay = (f"perl {HERE}/relay.pl 127.0.0.1 {self.port} {piddir} {self.timeout + 30}")
        netdev = (f"user,id=n0,restrict=on,guestfwd=tcp:{GUEST_PORTAL}-cmd:{relay},"
                  f"guestfwd=tcp:10.0.2.100:{CONTROL_PORT}-cmd:cat {self.work}/control")
        cmd = ["qemu-system-x86_64", "-M", "q35", "-accel", accel, "-cpu", cpu, "-smp", str(smp),
               "-m", str(self.memory), "-nodefaults", "-no-user-config", "-display", "none",
               "-no-reboot", "-serial", "stdio", "-kernel", os.path.join(self.cache, "vmlinux"),
               "-initrd", initrd, "-append", self.cmdline(accel),
               "-netdev", netdev, "-device", "virtio-net-pci,netdev=n0",
               "-device", "virtio-rng-pci"]
        log(f"booting ({accel}, smp {smp}, {'with' if self.fio else 'no'} fio layer), "
            f"portal -> 127.0.0.1:{self.port}; console: {self.work}/console.log")
        console = open(os.path.join(self.work, "console.log"), "w")
        lines = queue.Queue()
        t0 = time.monotonic()
        qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)

        def reader():
            for raw in qemu.stdout:
                line = raw.decode(errors="replace").rstrip("\r\n")
                console.write(line + "\n")
                console.flush()
                lines.put((time.monotonic(), line))
            lines.put((time.monotonic(), None))

        threading.Thread(target=reader, daemon=True).start()
        deadline = t0 + self.timeout
        last = t0
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.result, self.result_detail = "FAIL", f"timeout after {self.timeout} s"
                    break
                try:
                    when, line = lines.get(timeout=min(left, 1))
                except queue.Empty:
                    continue
                if line is None:
                    if self.result is None:
                        self.result = "FAIL"
                        self.result_detail = f"qemu exited ({qemu.wait()}) without a result"
                    break
                if "E2E-BOOTED" in line:
                    self.timings["boot"] = when - t0
                    log(f"guest /init after {when - t0:.1f} s: {line.split('E2E-BOOTED')[1].strip()}")
                    last = when
                m = STEP_RE.search(line)
                if m:
                    self.steps.append((m.group(1), m.group(2), m.group(3), when - last))
                    log(f"{m.group(2)} {m.group(1)} ({when - last:.1f} s) {m.group(3)}")
                    last = when
                    continue
                m = WAIT_RE.search(line)
                if m:
                    token = m.group(1)
                    ok = True
                    if self.on_wait:
                        try:
                            ok = bool(self.on_wait(token))
                        except Exception as e:  # reported as a failed host action
                            log(f"host action {token} raised {e!r}")
                            ok = False
                    self._control(f"{'go' if ok else 'abort'} {token}")
                    continue
                m = RESULT_RE.search(line)
                if m:
                    self.result, self.result_detail = m.group(1), m.group(2)
                    # The guest powers off by itself; give it a moment, then the deadline rules.
                    deadline = min(deadline, time.monotonic() + 15)
        finally:
            self.timings["total"] = time.monotonic() - t0
            if qemu.poll() is None:
                try:
                    qemu.wait(timeout=max(0.1, min(15, deadline - time.monotonic())))
                except subprocess.TimeoutExpired:
                    qemu.kill()  # by PID: qemu is our own child
                    qemu.wait()
            console.close()
            self._kill_relays(piddir)
        log(f"result {self.result} {self.result_detail} ({self.timings['total']:.1f} s in qemu)")
        return self.result == "PASS"

    @staticmethod
    def _kill_relays(piddir):
        time.sleep(0.5)
        deadline = time.monotonic() + 3
        while os.listdir(piddir) and time.monotonic() < deadline:
            time.sleep(0.1)
        for name in os.listdir(piddir):
            try:
                pid = int(name)
                # Only a relay of ours: its command line names this run's pid directory.
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if piddir.encode() in f.read():
                        os.kill(pid, signal.SIGKILL)
                        log(f"killed leftover relay {pid}")
            except (ValueError, OSError):
                pass

    def step(self, name):
        for s in self.steps:
            if s[0] == name:
                return s
        return None


def summary(guest, host_steps=()):
    rows = [(n, r, d, t) for n, r, d, t in guest.steps] + list(host_steps)
    out = ["step                     result  seconds  detail"]
    for n, r, d, t in rows:
        out.append(f"{n:24} {r:6} {t:8.1f}  {d}")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--portal", required=True, help="the target's 127.0.0.1:PORT")
    ap.add_argument("--iqn", required=True, help="target name")
    ap.add_argument("--lun", type=int, default=0)
    ap.add_argument("--initiator", default=DEFAULT_INITIATOR)
    ap.add_argument("--chap", help="USER:SECRET")
    ap.add_argument("--mutual-chap", help="USER:SECRET the target must prove")
    ap.add_argument("--digest", default="None", help="None or CRC32C")
    ap.add_argument("--expect-size", help="disk size in bytes to check")
    ap.add_argument("--steps", help="guest steps (default: login, identity, [fio], logout)")
    ap.add_argument("--fio", action="store_true", help="add the fio layer and the fio step")
    ap.add_argument("--fio-seconds", type=int, default=20)
    ap.add_argument("--fio-size", default="256M")
    ap.add_argument("--target-cmd", help="shell command that runs the target during the test "
                    "(stopped by its process group id afterwards)")
    ap.add_argument("--cache", default=os.path.join(os.getcwd(), "e2e-cache"))
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    host, _, port = a.portal.rpartition(":")
    if host != "127.0.0.1":
        sys.exit("--portal must be on 127.0.0.1")
    steps = a.steps or (BASIC_STEPS + (" fio" if a.fio else "") + " logout")
    conf = {"E2E_IQN": a.iqn, "E2E_LUN": a.lun, "E2E_INITIATOR": a.initiator,
            "E2E_DIGEST": a.digest, "E2E_STEPS": steps, "E2E_EXPECT_SIZE": a.expect_size or "",
            "E2E_FIO_S": a.fio_seconds, "E2E_FIO_SIZE": a.fio_size}
    if not a.expect_size:
        conf["E2E_STEPS"] = steps.replace("identity", "")
    for opt, prefix in ((a.chap, "E2E_CHAP"), (a.mutual_chap, "E2E_MUTUAL")):
        if opt:
            conf[prefix + "_USER"], conf[prefix + "_SECRET"] = opt.split(":", 1)
    work = tempfile.mkdtemp(prefix="swiftness-vm-", dir=os.environ.get("TMPDIR"))
    target = None
    if a.target_cmd:
        target = subprocess.Popen(a.target_cmd, shell=True, start_new_session=True,
                                  stdout=open(os.path.join(work, "target.log"), "w"),
                                  stderr=subprocess.STDOUT)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    try:
        g = Guest(os.path.abspath(a.cache), work, int(port), conf, a.timeout, a.fio, a.accel)
        ok = g.run()
        print(summary(g))
    finally:
        if target:  # the whole process group: tgtd, for one, ignores SIGTERM
            try:
                os.killpg(target.pid, signal.SIGTERM)
                target.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
            try:
                os.killpg(target.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            target.wait()
    if ok and not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work directory kept: {work}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
