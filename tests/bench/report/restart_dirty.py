#!/usr/bin/env python3
"""Issue 5's restart benchmark: time from restart to serving with a large dirty cache.

    tests/bench/report/restart_dirty.py [--build DIR] [--gib N] [--swift-env FILE] [--rounds R]

One Swift-backed LUN of N GiB (default 4) whose cache holds it twice over, flushing held back
(watermarks near 100 %, an hour of dirty age) so everything written stays dirty; iscsi-loadgen
writes the whole LUN with 1 MiB writes and the daemon is killed with SIGKILL (no final
checkpoint: the restart replays the journal since the last local checkpoint). Then the clock
runs from starting the daemon again to (a) its ready file (listening, LUNs attached) and (b) the
first 4 KiB READ answered through a fresh iSCSI login. The dirty bytes the daemon reports after
the restart must equal those before the kill, or the run fails. Everything on 127.0.0.1; every
process started here is stopped by PID. Prints one line per round and a JSON summary.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
sys.path.insert(0, HERE)
import swiftness_e2e  # noqa: E402  Daemon, free_port: shared with the e2e test

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
  size: {cache_gib}GiB
  dirty_low_watermark: 98
  dirty_high_watermark: 99
  max_dirty_age_s: 3600
  shutdown_drain_s: 0
luns:
  - id: 0
    name: restart
    backend: swift
    container: {container}
    size: {gib}GiB
    block_size: 512
"""


def log(msg):
    print(f"[restart {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def dirty_bytes(admin_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/status", timeout=10) as r:
        return json.load(r)["luns"][0]["dirty_bytes"]


def loadgen(build, url, rw, bs, ops):
    p = subprocess.run([os.path.join(build, "iscsi-loadgen"), url, "--rw", rw, "--bs", bs,
                        "--qd", "8", "--duration", "0", "--ops", str(ops)],
                       capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise RuntimeError(f"iscsi-loadgen {rw} exited {p.returncode}: {p.stderr[-300:]}")


def measure(build, gib, rounds, env, work):
    """The kill -9 / restart rounds against the Swift in env; returns one dict per round."""
    binary = os.path.join(build, "swiftness")
    results = []
    d = os.path.join(work, "swiftness-restart")
    os.makedirs(d)
    admin_port = swiftness_e2e.free_port()
    daemon = swiftness_e2e.Daemon(binary, d, swiftness_e2e.free_port())
    iqn = "iqn.2026-11.org.swiftness.bench:restart"
    with open(daemon.config, "w") as f:
        f.write(CONFIG.format(work=d, iqn=iqn, port=daemon.port, admin_port=admin_port,
                              auth_url=env["SWIFT_AUTH_URL"], user=env["SWIFT_USER"],
                              key=env["SWIFT_KEY"], cache_gib=2 * gib, gib=gib,
                              container=f"restart-{os.getpid()}-{int(time.time())}"))
    url = f"iscsi://127.0.0.1:{daemon.port}/{iqn}/0"
    try:
        if not daemon.start(300):
            raise RuntimeError("the daemon did not start")
        log(f"writing {gib} GiB with 1 MiB writes")
        loadgen(build, url, "seqwrite", "1m", gib << 10)
        before = dirty_bytes(admin_port)
        log(f"{before / 2**30:.2f} GiB dirty")
        for rnd in range(1, rounds + 1):
            daemon.kill9()
            t0 = time.monotonic()
            if not daemon.start(300):
                raise RuntimeError("the daemon did not restart")
            ready = time.monotonic() - t0
            loadgen(build, url, "randread", "4k", 1)
            first_read = time.monotonic() - t0
            after = dirty_bytes(admin_port)
            r = dict(kind="restart_dirty", round=rnd, dirty_gib=round(before / 2**30, 3),
                     ready_s=round(ready, 3), first_read_s=round(first_read, 3),
                     dirty_after_gib=round(after / 2**30, 3))
            results.append(r)
            log(f"round {rnd}: ready {ready:.2f} s, first READ answered {first_read:.2f} s after "
                f"the start, {after / 2**30:.2f} GiB dirty after")
            if after != before:
                raise RuntimeError(f"dirty bytes changed across the restart: {before} -> {after}")
    finally:
        if daemon.proc and daemon.proc.poll() is None:
            daemon.kill9()  # nothing to keep: its cache goes with the scratch dir
        shutil.rmtree(d, ignore_errors=True)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--gib", type=int, default=4, help="LUN size, all of it dirty at the kill")
    ap.add_argument("--rounds", type=int, default=2, help="kill -9 and restart this many times")
    ap.add_argument("--swift-env", help="use this running Swift (swift_aio env file)")
    a = ap.parse_args()
    import run_report  # swift_start; run_report itself imports this file for measure()
    work = tempfile.mkdtemp(prefix="swiftness-restart-", dir=os.environ.get("TMPDIR"))
    stop_swift = (lambda: None)
    try:
        env, stop_swift = run_report.swift_start(work, a.swift_env)
        results = measure(a.build, a.gib, a.rounds, env, work)
    finally:
        stop_swift()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(dict(gib=a.gib, rounds=results)))


if __name__ == "__main__":
    main()
