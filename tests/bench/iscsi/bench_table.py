#!/usr/bin/env python3
"""Turns iscsi-loadgen JSON lines (one per run) into a Markdown table comparing targets.

Each run's label is "target=NAME;round=N". Rounds of the same test and target are combined by
their median (robust against one disturbed run on a shared machine); ratios are swiftness / tgt,
so > 1 means Swiftness is faster (for IOPS and MB/s) or slower (for latency).
"""
import json
import statistics
import sys


def parse_label(label):
    return dict(kv.split("=", 1) for kv in label.split(";") if "=" in kv)


def main(path):
    runs = {}
    order = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            target = parse_label(r.get("label", "")).get("target", "?")
            key = (r["rw"], r["bs"], r["qd"])
            if key not in order:
                order.append(key)
            runs.setdefault((key, target), []).append(r)

    targets = sorted({t for (_, t) in runs}, key=lambda t: (t != "tgt", t))
    compare = "tgt" in targets and "swiftness" in targets

    def med(key, target, field):
        rs = runs.get((key, target))
        return statistics.median(r[field] for r in rs) if rs else None

    head = ["test", "QD"]
    for t in targets:
        head += [f"{t} IOPS", f"{t} MB/s", f"{t} p50 us", f"{t} p99 us"]
    if compare:
        head += ["IOPS ratio", "p99 ratio"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for key in order:
        rw, bs, qd = key
        size = "4 KiB" if bs == 4096 else ("1 MiB" if bs == 1 << 20 else f"{bs} B")
        row = [f"{size} {rw}", str(qd)]
        for t in targets:
            vals = [med(key, t, f) for f in ("iops", "mbps", "lat_p50_us", "lat_p99_us")]
            row += ["-" if v is None else f"{v:,.0f}" if i != 1 else f"{v:,.1f}"
                    for i, v in enumerate(vals)]
        if compare:
            a, b = med(key, "tgt", "iops"), med(key, "swiftness", "iops")
            row.append(f"{b / a:.2f}x" if a and b else "-")
            a, b = med(key, "tgt", "lat_p99_us"), med(key, "swiftness", "lat_p99_us")
            row.append(f"{b / a:.2f}x" if a and b else "-")
        print("| " + " | ".join(row) + " |")
    if any("target_cpu_s_per_gib" in r for v in runs.values() for r in v):
        # Context switches per command: bench-vs-tgt.sh measures them, the report does not.
        ctx = any("target_ctx_switches_per_op" in r for v in runs.values() for r in v)
        fields = [("target_cpu_s_per_gib", "{:.2f}"), ("target_rss_mib", "{:.0f}")]
        if ctx:
            fields.append(("target_ctx_switches_per_op", "{:.2f}"))
        print("\nTarget cost: CPU seconds per GiB moved and resident memory"
              + (", context switches per command" if ctx else "") + " (median of rounds)\n")
        head = ["test", "QD"]
        for t in targets:
            head += [f"{t} CPU s/GiB", f"{t} RSS MiB"] + ([f"{t} ctx sw/cmd"] if ctx else [])
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for key in order:
            rw, bs, qd = key
            size = "4 KiB" if bs == 4096 else ("1 MiB" if bs == 1 << 20 else f"{bs} B")
            row = [f"{size} {rw}", str(qd)]
            for t in targets:
                for field, fmt in fields:
                    rs = [r[field] for r in runs.get((key, t), []) if r.get(field) is not None]
                    row.append(fmt.format(statistics.median(rs)) if rs else "-")
            print("| " + " | ".join(row) + " |")
    for (key, t), rs in runs.items():
        short = [r["qd_reached"] for r in rs if r.get("qd_reached", r["qd"]) < r["qd"]]
        if short:
            print(f"\nWarning: {t} held only {min(short)} commands at once in {key[0]} QD {key[2]}"
                  " (its CmdSN window is smaller than the queue depth).")
    rounds = max((len(v) for v in runs.values()), default=0)
    print(f"\nMedian of {rounds} round(s) per cell. Ratios are swiftness / tgt.")
    cpu = max((r["client_cpu_pct"] for v in runs.values() for r in v), default=0)
    print(f"Highest load generator CPU use in any run: {cpu:.0f}% of one core.")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: bench_table.py results.jsonl")
    main(sys.argv[1])
