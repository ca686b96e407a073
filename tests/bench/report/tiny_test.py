#!/usr/bin/env python3
"""CTest bench.report_tiny: the benchmark report end to end in its tiny mode (~20-40 s).

  tiny_test.py BUILD_DIR SWIFT_ENV_FILE

Runs tests/bench/run-report.sh --mode tiny against the swift_aio fixture's Swift into a private
directory and checks what it wrote: REPORT.md with every section and a measured ratio for every
goal, two real PNG files, and results.jsonl holding each kind of measurement with sane values. It
checks the tooling, not the speed. Exit 77 (skip) without tgtd or root, as run-report does.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    build, swift_env = sys.argv[1], sys.argv[2]
    out = tempfile.mkdtemp(prefix="bench-report-tiny-", dir=os.environ.get("TMPDIR"))
    problems = []
    try:
        p = subprocess.run([os.path.join(HERE, "..", "run-report.sh"), "--build", build,
                            "--mode", "tiny", "--swift-env", swift_env, "--out", out],
                           timeout=240)
        if p.returncode == 77:
            sys.exit(77)
        if p.returncode != 0:
            sys.exit(f"run-report.sh exited {p.returncode}")
        with open(os.path.join(out, "REPORT.md")) as f:
            report = f.read()
        for text in ("TINY MODE", "NOT a representative", "Load average:", "## Goals",
                     "## Hot cache, iscsi-loadgen", "## Swift: drain and cold read",
                     "## fio in the VM", "## Memory", "(iops_vs_qd.png)", "(latency.png)"):
            if text not in report:
                problems.append(f"REPORT.md lacks {text!r}")
        section = report.split("## Goals", 1)[-1].split("\n## ", 1)[0]
        goals = [l for l in section.splitlines() if l.startswith("| ") and
                 not l.startswith("| goal ")]
        if len(goals) != 6 or any(not re.search(r"\| [\d.]+x \| (yes|\*\*no\*\*) \|$", g)
                                  for g in goals):
            problems.append(f"the goals table should have 6 measured rows: {goals}")
        for png in ("iops_vs_qd.png", "latency.png"):
            with open(os.path.join(out, png), "rb") as f:
                head = f.read(8)
            if head != b"\x89PNG\r\n\x1a\n" or os.path.getsize(os.path.join(out, png)) < 5000:
                problems.append(f"{png} is not a plot")
        with open(os.path.join(out, "results.jsonl")) as f:
            rs = [json.loads(l) for l in f]
        hot = [r for r in rs if r.get("kind") == "loadgen" and r["phase"] == "hot"]
        # 2 QDs x 2 random tests + 2 sequential ones, for each target.
        if len(hot) != 12 or any(r["errors"] or r["iops"] <= 0 for r in hot):
            problems.append(f"{len(hot)} hot loadgen runs (want 12, all without errors)")
        if {r["target"] for r in hot} != {"tgt", "swiftness"}:
            problems.append("hot runs do not cover both targets")
        if any(r.get("target_cpu_s_per_gib") is None or r["target_rss_mib"] <= 0 for r in hot):
            problems.append("CPU per GiB or RSS missing from a hot run")
        drains = [r for r in rs if r.get("kind") == "drain"]
        if len(drains) != 1 or drains[0]["bytes"] <= 0 or drains[0]["left_dirty"] != 0:
            problems.append(f"drain: {drains}")
        # Next to the drain and next to the cold read: PUT and GET through both clients each.
        raw = {(r["phase"], r["client"], r["op"]) for r in rs if r.get("kind") == "raw"}
        if raw != {(p, c, o) for p in ("drain", "cold") for c in ("client", "curl")
                   for o in ("PUT", "GET")}:
            problems.append(f"raw Swift measurements: {raw}")
        cold = [r for r in rs if r.get("kind") == "loadgen" and r["phase"] == "cold"]
        seq = [r for r in cold if r["rw"] == "seqread"]
        if len(cold) != 2 or not seq or seq[0]["ops"] != 64 or any(r["errors"] for r in cold):
            problems.append(f"cold runs: {[(r['rw'], r['ops'], r['errors']) for r in cold]}")
    finally:
        if problems:
            print(f"output kept in {out}")
        else:
            shutil.rmtree(out, ignore_errors=True)
    for p in problems:
        print("FAIL:", p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
