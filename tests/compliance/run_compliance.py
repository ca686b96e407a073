#!/usr/bin/env python3
"""libiscsi conformance suite (iscsi-test-cu --dataloss, family ALL, which includes the iSCSI
suites) against the real daemon, on a thin and a fully provisioned file LUN, with a second
initiator name for the reservation tests and the LUN's own URL as the multipath URL.

Every test's outcome (PASS, FAIL, SKIP) is compared with expected_results.txt; any difference is
a failure until the file is updated (--update) and every SKIP there carries a reason.

Only 127.0.0.1, a free port, a private temporary directory; the daemon started here is stopped
by its PID.
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

IQN = "iqn.2026-11.org.swiftness.compliance:target"
INITIATOR_1 = "iqn.2026-11.org.swiftness.compliance:initiator-1"
INITIATOR_2 = "iqn.2026-11.org.swiftness.compliance:initiator-2"
LUNS = [  # (kind, LUN id, thin, read_only, test pattern; None = the --test argument)
    ("thin", 0, True, False, None),
    ("thick", 1, False, False, None),
    # A read-only LUN turns ALL.ReadOnly (every medium write must fail WRITE PROTECTED) from a
    # skip into a real test.
    ("readonly", 2, True, True, "ALL.ReadOnly"),
    # Swift-backed through the write-back cache (needs --swift-env, the swift_aio fixture's file):
    # the same suite proves the cache behaves as a disk, thin provisioning included.
    ("swift", 3, True, False, None),
    # 4 KiB physical blocks under 512-byte logical ones (LBPPB 8): the tests that need LBPPB >= 2
    # run here instead of being skipped on the other LUNs.
    ("thin4k", 4, True, False, ["ALL.CompareAndWrite", "ALL.WriteSame10", "ALL.WriteSame16"]),
]
LUN_SIZE = 128 << 20

CONFIG = """\
state_dir: {dir}/state
log_level: warn
target:
  iqn: {iqn}
  portals:
    - 127.0.0.1:{port}
luns:
{luns}
"""
SWIFT_SECTION = """\
swift:
  auth_url: {auth_url}
  user: "{user}"
  key: {key}
cache:
  path: {dir}/cache
  size: 256MiB
  shutdown_drain_s: 5
"""
SWIFT_LUN_ENTRY = """\
  - id: {id}
    name: swift{id}
    backend: swift
    container: {container}
    size: {size}
    block_size: 512
    chunk_size: 1MiB
"""
LUN_ENTRY = """\
  - id: {id}
    backend: file
    path: {dir}/lun{id}.img
    size: {size}
    block_size: 512
    physical_block_size: {pbs}
    thin: {thin}
    read_only: {ro}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


SUITE_RE = re.compile(r"^Suite: (\S+)")
TEST_RE = re.compile(r"^\s+Test: (\S+) \.\.\.(.*)$")


def parse_cunit(text, family="ALL"):
    """CUnit verbose output -> {"ALL.Suite.Test": "PASS"|"FAIL"|"SKIP"}.

    libiscsi reports a skip as a CUnit pass with a "[SKIPPED]" log line inside the test.
    """
    results = {}
    suite = None
    current = None
    skipped = False

    def finish(outcome):
        nonlocal current
        if current:
            results[current] = "SKIP" if (outcome == "PASS" and skipped) else outcome
        current = None

    for line in text.splitlines():
        m = SUITE_RE.match(line)
        if m:
            suite = m.group(1)
            continue
        m = TEST_RE.match(line)
        if m:
            finish("FAIL")  # a test that never printed its verdict
            current = f"{family}.{suite}.{m.group(1)}"
            skipped = False
            line = m.group(2)
        if current is None:
            continue
        # CUnit's verdict comes first on its line (log output of the next test's setup may follow
        # on the same line): "passed" or "FAILED".
        verdict = line.lstrip()
        if verdict.startswith("passed"):
            finish("PASS")
        elif verdict.startswith("FAILED"):
            finish("FAIL")
        elif "[SKIPPED]" in line:
            skipped = True
    finish("FAIL")
    return results


def load_expected(path):
    expected, reasons = {}, {}
    if not os.path.exists(path):
        return expected, reasons
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 3)
            if len(parts) < 3 or parts[2] not in ("PASS", "FAIL", "SKIP"):
                sys.exit(f"{path}:{n}: expected '<lun kind> <test> PASS|FAIL|SKIP [reason]'")
            key = (parts[0], parts[1])
            expected[key] = parts[2]
            reasons[key] = parts[3] if len(parts) > 3 else ""
            if parts[2] != "PASS" and not reasons[key]:
                sys.exit(f"{path}:{n}: a {parts[2]} needs a reason")
    return expected, reasons


def write_expected(path, actual, reasons):
    header = []
    if os.path.exists(path):
        with open(path) as f:
            header = [line for line in f if line.startswith("#")]
    with open(path, "w") as f:
        f.writelines(header or ["# <lun kind> <test> <PASS|FAIL|SKIP> [reason, required unless PASS]\n"])
        for key in sorted(actual):
            reason = reasons.get(key, "")
            if actual[key] == "PASS":
                reason = ""
            elif not reason:
                reason = f"TODO: give the reason for this {actual[key]}"
            f.write(f"{key[0]} {key[1]} {actual[key]}" + (f" {reason}" if reason else "") + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--swiftness", required=True, help="the daemon binary")
    ap.add_argument("--expected", required=True)
    ap.add_argument("--update", action="store_true", help="rewrite the expected file")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--test", default="ALL", help="iscsi-test-cu test pattern (default ALL)")
    ap.add_argument("--timeout", type=int, default=1500, help="seconds per LUN run")
    ap.add_argument("--kinds", default="thin,thick,readonly,thin4k",
                    help="LUN kinds to run, comma-separated (thin, thick, readonly, swift)")
    ap.add_argument("--swift-env", help="KEY=VALUE file of a Swift (swift_aio fixture): "
                    "SWIFT_AUTH_URL, SWIFT_USER, SWIFT_KEY; needed by the swift kind")
    args = ap.parse_args()
    kinds = set(args.kinds.split(","))
    run_luns = [l for l in LUNS if l[0] in kinds]
    swift = {}
    if "swift" in kinds:
        if not args.swift_env:
            sys.exit("the swift kind needs --swift-env")
        with open(args.swift_env) as f:
            swift = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)

    work = tempfile.mkdtemp(prefix="swiftness-compliance-", dir=os.environ.get("TMPDIR"))
    os.makedirs(f"{work}/state")
    port = free_port()
    luns = "".join(
        SWIFT_LUN_ENTRY.format(id=i, size=LUN_SIZE,
                               container=f"compliance-{os.getpid()}-{int(time.time())}")
        if kind == "swift" else
        LUN_ENTRY.format(id=i, dir=work, size=LUN_SIZE, thin="true" if thin else "false",
                         ro="true" if ro else "false", pbs=4096 if kind == "thin4k" else 512)
        for kind, i, thin, ro, _ in run_luns)
    for kind, i, _, ro, _ in run_luns:
        if ro:  # a read-only LUN is opened, never created
            with open(f"{work}/lun{i}.img", "wb") as f:
                f.truncate(LUN_SIZE)
    with open(f"{work}/swiftness.yaml", "w") as f:
        f.write(CONFIG.format(dir=work, iqn=IQN, port=port, luns=luns))
        if swift:
            f.write(SWIFT_SECTION.format(dir=work, auth_url=swift["SWIFT_AUTH_URL"],
                                         user=swift["SWIFT_USER"], key=swift["SWIFT_KEY"]))
    log = open(f"{work}/swiftness.log", "w")
    daemon = subprocess.Popen([args.swiftness, "serve", "--config", f"{work}/swiftness.yaml"],
                              stdout=log, stderr=subprocess.STDOUT)
    # CTest's timeout sends SIGTERM: turn it into an exception so the daemon is still stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    actual = {}
    try:
        if not wait_listening(port, daemon, 60 if swift else 15):
            print(open(f"{work}/swiftness.log").read())
            sys.exit("swiftness did not start listening")
        runs = [(kind, lun, p) for kind, lun, _, _, pats in run_luns
                for p in (pats if isinstance(pats, list) else [pats])]
        for kind, lun, pattern in runs:
            pattern = pattern or args.test
            if args.test != "ALL" and not pattern.startswith(args.test) \
                    and not args.test.startswith(pattern):
                continue
            if args.test.startswith(pattern):
                pattern = args.test
            url = f"iscsi://127.0.0.1:{port}/{IQN}/{lun}"
            cmd = ["iscsi-test-cu", "--dataloss", "--verbose", "-i", INITIATOR_1, "-I", INITIATOR_2,
                   "-t", pattern, url, url]
            t0 = time.monotonic()
            try:
                out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     timeout=args.timeout, text=True, errors="replace").stdout
            except subprocess.TimeoutExpired as e:
                out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) \
                    else (e.stdout or "")
                out += "\n(timed out)\n"
            with open(f"{work}/iscsi-test-cu-{kind}.log", "a") as f:
                f.write(out)
            res = parse_cunit(out)
            for test, outcome in res.items():
                actual[(kind, test)] = outcome
            counts = {o: sum(1 for v in res.values() if v == o) for o in ("PASS", "FAIL", "SKIP")}
            print(f"{kind} LUN {lun}: {counts['PASS']} passed, {counts['FAIL']} failed, "
                  f"{counts['SKIP']} skipped ({time.monotonic() - t0:.0f} s)", flush=True)
            if daemon.poll() is not None:
                print(f"swiftness exited with {daemon.returncode} during the {kind} run")
                break
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        log.close()

    all_expected, reasons = load_expected(args.expected)
    # Outcomes of LUN kinds this run did not include are neither checked nor rewritten.
    expected = {k: v for k, v in all_expected.items() if k[0] in kinds}
    if args.update:
        kept = {k: v for k, v in all_expected.items() if k[0] not in kinds}
        write_expected(args.expected, {**kept, **actual}, reasons)
    diffs = []
    for key in sorted(set(expected) | set(actual)):
        want, got = expected.get(key, "(absent)"), actual.get(key, "(absent)")
        if args.test != "ALL" and key not in actual:
            continue  # a partial run says nothing about the tests it did not run
        if want != got:
            diffs.append(f"  {key[0]:5} {key[1]}: expected {want}, got {got}")
    total = {o: sum(1 for v in actual.values() if v == o) for o in ("PASS", "FAIL", "SKIP")}
    print(f"total: {total['PASS']} passed, {total['FAIL']} failed, {total['SKIP']} skipped")
    for kind in sorted({k for k, _ in actual}):
        for key, v in sorted(actual.items()):
            if key[0] == kind and v == "FAIL":
                print(f"  FAIL {kind} {key[1]}")
    if diffs and not args.update:
        print(f"{len(diffs)} outcome(s) differ from {args.expected}:")
        print("\n".join(diffs))
        print(f"logs kept in {work}")
        sys.exit(1)
    if args.keep or (diffs and not args.update):
        print(f"logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
