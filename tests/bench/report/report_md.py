"""REPORT.md, results.jsonl and the gnuplot PNGs from run_report.py's measurements.

Rounds of the same test are combined by their median (one disturbed run on a shared machine moves
a median less than a mean). Ratios are swiftness / tgt (or swiftness / raw Swift): above 1 is
faster for IOPS and throughput, slower for latency.
"""
import json
import os
import statistics
import subprocess

GOAL_IOPS_QD32 = 2.0
GOAL_SEQ = 1.5
GOAL_SWIFT = 0.8


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    return a / b if a and b else None


def fmt(v, spec="{:,.0f}"):
    return "-" if v is None else spec.format(v)


def fx(v):
    return "-" if v is None else f"{v:.2f}x"


class Results:
    def __init__(self, results):
        self.r = results

    def loadgen(self, phase, target, rw, bs, qd=None):
        nbytes = 4096 if bs == "4k" else 1 << 20
        return [r for r in self.r if r.get("kind") == "loadgen" and r["phase"] == phase and
                r["target"] == target and r["rw"] == rw and r["bs"] == nbytes and
                (qd is None or r["qd"] == qd)]

    def hot(self, target, rw, bs, qd, field):
        return med(r[field] for r in self.loadgen("hot", target, rw, bs, qd))

    def raw(self, op, phase):
        """The better of the project's client and curl, per round, then the median."""
        rounds = {}
        for r in self.r:
            if r.get("kind") == "raw" and r["op"] == op and r["phase"] == phase:
                rounds[r["round"]] = max(rounds.get(r["round"], 0), r["mib_s"])
        return med(rounds.values())

    def kind(self, k, **match):
        return [r for r in self.r if r.get("kind") == k and
                all(r.get(x) == y for x, y in match.items())]


def goals(res, qd_max):
    rows = []
    for rw in ("randread", "randwrite"):
        x = ratio(res.hot("swiftness", rw, "4k", qd_max, "iops"),
                  res.hot("tgt", rw, "4k", qd_max, "iops"))
        rows.append((f"4 KiB {rw} IOPS at QD {qd_max}, hot", f">= {GOAL_IOPS_QD32:.1f}x tgt", x,
                     GOAL_IOPS_QD32))
    for rw in ("seqread", "seqwrite"):
        x = ratio(res.hot("swiftness", rw, "1m", None, "mbps"),
                  res.hot("tgt", rw, "1m", None, "mbps"))
        rows.append((f"1 MiB {rw} throughput, hot", f">= {GOAL_SEQ:.1f}x tgt", x, GOAL_SEQ))
    cold = med(r["mbps"] * 1e6 / 2**20 for r in res.loadgen("cold", "swiftness", "seqread", "1m"))
    rows.append(("cold 1 MiB sequential read vs raw parallel GET", f">= {GOAL_SWIFT:.1f}x",
                 ratio(cold, res.raw("GET", "cold")), GOAL_SWIFT))
    drain = med(r["mib_s"] for r in res.kind("drain"))
    rows.append(("drain vs raw parallel PUT", f">= {GOAL_SWIFT:.1f}x",
                 ratio(drain, res.raw("PUT", "drain")), GOAL_SWIFT))
    out = ["| goal | target | measured | met |", "|---|---|---|---|"]
    for name, want, got, need in rows:
        met = "-" if got is None else ("yes" if got >= need else "**no**")
        out.append(f"| {name} | {want} | {fx(got)} | {met} |")
    return out


def fio_table(res):
    jobs = []
    for r in res.kind("fio"):
        key = (r["rw"], r["bs"], r["qd"])
        if key not in jobs:
            jobs.append(key)
    if not jobs:
        return ["Not run (`--no-vm`, or a mode without the VM)."]
    out = ["| fio job | QD | tgt IOPS | tgt MB/s | tgt p99 us | swiftness IOPS | swiftness MB/s "
           "| swiftness p99 us | IOPS ratio |", "|---|---|---|---|---|---|---|---|---|"]
    for rw, bs, qd in jobs:
        row = [f"{bs} {rw}", str(qd)]
        vals = {}
        for t in ("tgt", "swiftness"):
            rs = res.kind("fio", target=t, rw=rw, bs=bs, qd=qd)
            vals[t] = med(r["iops"] for r in rs)
            row += [fmt(vals[t]), fmt(med(r["mbps"] for r in rs), "{:,.1f}"),
                    fmt(med(r["lat_p99_us"] for r in rs))]
        row.append(fx(ratio(vals["swiftness"], vals["tgt"])))
        out.append("| " + " | ".join(row) + " |")
    cost = ["", "| target | CPU s per GiB over the guest runs (boot and login included) |",
            "|---|---|"]
    for t in ("tgt", "swiftness"):
        v = med(r["cpu_s_per_gib"] for r in res.kind("fio-cost", target=t))
        cost.append(f"| {t} | {fmt(v, '{:.2f}')} |")
    return out + cost


def swift_tables(res):
    out = ["| round | what | MiB | seconds | MiB/s | raw client MiB/s | raw curl MiB/s | ratio to "
           "the better raw | target CPU s/GiB |", "|---|---|---|---|---|---|---|---|---|"]
    raws = {}
    for r in res.kind("raw"):
        raws[(r["phase"], r["round"], r["op"], r["client"])] = r["mib_s"]
    for d in res.kind("drain"):
        c, k = (raws.get(("drain", d["round"], "PUT", x)) for x in ("client", "curl"))
        out.append(f"| {d['round']} | drain (PUT) | {d['bytes'] / 2**20:.0f} | {d['seconds']:.2f} "
                   f"| {d['mib_s']:.1f} | {fmt(c, '{:.1f}')} | {fmt(k, '{:.1f}')} | "
                   f"{fx(ratio(d['mib_s'], max(c or 0, k or 0)))} | "
                   f"{fmt(d['cpu_s_per_gib'], '{:.2f}')} |")
    for r in res.loadgen("cold", "swiftness", "seqread", "1m"):
        c, k = (raws.get(("cold", r["round"], "GET", x)) for x in ("client", "curl"))
        mib_s = r["mbps"] * 1e6 / 2**20
        mib = r["ops"]
        out.append(f"| {r['round']} | cold 1 MiB read QD {r['qd']} | {mib} | {r['seconds']:.2f} | "
                   f"{mib_s:.1f} | {fmt(c, '{:.1f}')} | {fmt(k, '{:.1f}')} | "
                   f"{fx(ratio(mib_s, max(c or 0, k or 0)))} | "
                   f"{fmt(r['target_cpu_s_per_gib'], '{:.2f}')} |")
    rr = res.loadgen("cold", "swiftness", "randread", "4k")
    lines = []
    for r in rr:
        hot = res.hot("swiftness", "randread", "4k", r["qd"], "iops")
        lines.append(f"- cold 4 KiB random read at QD {r['qd']} (round {r['round']}, wiped cache, "
                     f"every miss fetches a 4 MiB chunk): {r['iops']:,.0f} IOPS over "
                     f"{r['seconds']:.1f} s, p99 {r['lat_p99_us']:,.0f} us (hot: {fmt(hot)} IOPS)")
    for r in res.kind("restart_dirty"):
        lines.append(f"- restart with {r['dirty_gib']:.0f} GiB dirty (round {r['round']}: a second "
                     f"LUN written whole with flushing held back, then kill -9 and start again): "
                     f"listening after {r['ready_s']:.2f} s, first 4 KiB READ answered after "
                     f"{r['first_read_s']:.2f} s (goal < 2 s), {r['dirty_after_gib']:.2f} GiB "
                     f"still dirty after the journal replay")
    return out + [""] + lines


def profiles(res):
    ps = res.kind("profile")
    if not ps:
        return ["Not run (`--no-profile`, tiny mode, or no perf)."]
    out = ["`perf record -F 999 -p <daemon>` during one extra hot run of each test (same "
           "duration), flat samples (cpu-clock; the build has no frame pointers, so no call "
           "graphs). Entries above 1.5 % of the samples; `[k]` is the kernel. In a VM without a "
           "PMU the samples land where interrupts are re-enabled, so `finish_task_switch` and "
           "`_raw_spin_unlock_irqrestore` stand for the scheduler and wake-ups in general, not "
           "for those functions."]
    for p in ps:
        out += ["", f"### {p['bs']} {p['rw']} QD {p['qd']} ({p['iops']:,.0f} IOPS while sampled)",
                "", "By object:", "", "```", p["by_object"], "```", "",
                "By symbol:", "", "```", p["by_symbol"], "```"]
    return out


def plots(out_dir, res, qds):
    """iops_vs_qd.png and latency.png with gnuplot; returns the names written."""
    dat, lat = "iops_vs_qd.dat", "latency.dat"  # gnuplot runs in out_dir: relative names
    with open(os.path.join(out_dir, dat), "w") as f:
        f.write("# qd tgt_randread sw_randread tgt_randwrite sw_randwrite (IOPS, hot, median)\n")
        for qd in qds:
            vals = [res.hot(t, rw, "4k", qd, "iops") or 0
                    for rw in ("randread", "randwrite") for t in ("tgt", "swiftness")]
            f.write(f"{qd} " + " ".join(f"{v:.0f}" for v in vals) + "\n")
    with open(os.path.join(out_dir, lat), "w") as f:
        f.write("# test p50_tgt p50_sw p99_tgt p99_sw p999_tgt p999_sw (us, hot, median)\n")
        for rw, bs, qd in [("randread", "4k", q) for q in qds] + \
                [("randwrite", "4k", q) for q in qds] + [("seqread", "1m", None),
                                                         ("seqwrite", "1m", None)]:
            vals = [res.hot(t, rw, bs, qd, k) or 0 for k in
                    ("lat_p50_us", "lat_p99_us", "lat_p999_us") for t in ("tgt", "swiftness")]
            label = f"{bs}-{rw}" + (f"-qd{qd}" if qd else "")
            f.write(f'"{label}" ' + " ".join(f"{v:.1f}" for v in vals) + "\n")
    script = f"""
set terminal pngcairo size 900,500 noenhanced
set output 'iops_vs_qd.png'
set title '4 KiB random I/O, hot cache: IOPS vs queue depth (iscsi-loadgen, median of rounds)'
set xlabel 'queue depth'
set ylabel 'IOPS'
set logscale x 2
set yrange [0:*]
set key top left
set grid
plot '{dat}' using 1:2 with linespoints lw 2 title 'tgt randread', \\
     '' using 1:3 with linespoints lw 2 title 'swiftness randread', \\
     '' using 1:4 with linespoints lw 2 dt 2 title 'tgt randwrite', \\
     '' using 1:5 with linespoints lw 2 dt 2 title 'swiftness randwrite'
unset logscale x
set yrange [*:*]
set output 'latency.png'
set title 'Latency percentiles, hot cache (microseconds, log scale)'
set xlabel ''
set ylabel 'us'
set logscale y
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set xtics rotate by -30
set key top left
plot '{lat}' using 2:xtic(1) title 'tgt p50', '' using 3 title 'swiftness p50', \\
     '' using 4 title 'tgt p99', '' using 5 title 'swiftness p99', \\
     '' using 6 title 'tgt p99.9', '' using 7 title 'swiftness p99.9'
"""
    with open(os.path.join(out_dir, "plots.gp"), "w") as f:
        f.write(script)
    subprocess.run(["gnuplot", "plots.gp"], cwd=out_dir, check=True, timeout=60)
    return ["iops_vs_qd.png", "latency.png"]



def quiesced(res):
    q = res.kind("quiesce")
    if not q:
        return ""
    return (f" ({len(q)} times, {sum(r['dirty_bytes'] for r in q) / 2**20:,.0f} MiB in "
            f"{sum(r['seconds'] for r in q):.0f} s)")

def write(out_dir, info, results, bench_table):
    for old in os.listdir(out_dir):  # nothing stale next to the new report
        if old.endswith((".png", ".jsonl", ".dat", ".gp")) or old == "REPORT.md":
            os.unlink(os.path.join(out_dir, old))
    with open(os.path.join(out_dir, "results.jsonl"), "w") as f:
        for r in results:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    res = Results(results)
    m, mach = info["params"], info["machine"]
    qd_max = max(m["qds"])
    hot = os.path.join(out_dir, "hot.jsonl")
    with open(hot, "w") as f:
        for r in results:
            if r.get("kind") == "loadgen" and r["phase"] == "hot":
                f.write(json.dumps(r) + "\n")
    table = subprocess.run(["python3", bench_table, hot], capture_output=True, text=True,
                           check=True, timeout=60).stdout
    pngs = plots(out_dir, res, m["qds"])
    lb, la, cores = info["load_before"], info["load_after"], mach["cores"]
    busy = max(lb[0], la[0]) > 0.5 * cores
    L = [f"# Swiftness vs tgt: benchmark report ({info['mode']} mode)", ""]
    if info["mode"] != "full":
        L += [f"> **{info['mode'].upper()} MODE: short runs for checking the tooling, NOT a "
              "representative measurement.** The representative report comes from "
              "`tests/bench/run-report.sh --mode full` on a quiet machine.", ""]
    L += [f"**Load average: {lb[0]:.2f} {lb[1]:.2f} {lb[2]:.2f} before, "
          f"{la[0]:.2f} {la[1]:.2f} {la[2]:.2f} after, on {cores} cores.**" +
          (" **The machine was busy with other work: these numbers mean little.**" if busy
           else ""), "",
          f"Run {info['started']} at commit {info['commit']}, {info['seconds']} s in all. "
          f"Machine: {cores} x {mach['model']}, {mach['mem_gib']} GiB, kernel {mach['kernel']}; " +
          (f"the VM (fio) ran under {mach['vm_accel'].upper()}." if m["vm_rounds"] else
           "no VM in this mode."), "",
          f"Setup: everything on 127.0.0.1. tgt = Debian tgtd, rdwr backing store on a file of "
          f"{m['size_mib']} MiB (page cache, no O_DIRECT). swiftness = one Swift-backed LUN of "
          f"the same size, 4 MiB chunks, local write-back cache twice the LUN (so 'hot' means "
          f"every block is in the cache), flush_concurrency 8, on a private Swift "
          f"(deploy/swift-aio.sh). Both LUNs prefilled with 1 MiB writes. iscsi-loadgen "
          f"(libiscsi, one session): {m['duration']} s measured after {m['ramp']} s ramp per "
          f"run, {m['rounds']} round(s), alternating which target goes first; header and data "
          f"digests off for libiscsi (bookworm's libiscsi 1.19 cannot do data digests), "
          f"CRC32C on both targets for the VM. Before every hot run (either target) what "
          f"Swiftness holds dirty is drained to Swift, untimed"
          f"{quiesced(res)}, so no run measures the uploads of the runs before it; a write run "
          f"still pays for the uploads its own writes start.", "",
          "## Goals", ""] + goals(res, qd_max) + [
          "", "## Hot cache, iscsi-loadgen", "", table.strip(), "",
          "![IOPS vs queue depth](iops_vs_qd.png)", "", "![Latency percentiles](latency.png)", "",
          "## Swift: drain and cold read against raw parallel PUT/GET", "",
          f"Raw = `swift_bench` on the same Swift in the same run: {m['size_mib']} MiB as "
          f"{4} MiB objects, 8 streams (the chunk size and flush_concurrency of the LUN), through "
          f"the project's Swift client and through curl, right next to each drain (its PUT) and "
          f"each cold read (its GET), alternating which goes first; ratios against the better "
          f"of the two. "
          f"Drain = `swiftness cache drain` of what the 1 MiB prefill left dirty (seconds from "
          f"the daemon's /status). Cold = SIGTERM (drains), cache directory removed, restart, "
          f"then iscsi-loadgen reads the whole LUN once.", ""] + swift_tables(res) + [
          "", "## fio in the VM (Linux open-iscsi initiator, CRC32C header and data digests)", "",
          "Debian's kernel in qemu (tests/e2e's guest, step `fiobench`), libaio, direct I/O on "
          "the raw disk. Under TCG the emulated guest, not the target, is the bottleneck: the "
          "ratios say little about the targets there.", ""] + fio_table(res) + [
          "", "## Where Swiftness's time goes (perf)", ""] + profiles(res) + [
          "", "## Memory", "",
          "| target | peak RSS (VmHWM) MiB |", "|---|---|"]
    for t, v in sorted(info["peak_rss_mib"].items()):
        L.append(f"| {t} | {v:.0f} |")
    L += ["", "Swiftness's peak is the highest of its runs (it restarts for the cold tests).", "",
          "## Files", "", "`results.jsonl` (every measurement), `hot.jsonl`, the plots' "
          f"`*.dat` and `plots.gp`, {', '.join(pngs)}.", ""]
    with open(os.path.join(out_dir, "REPORT.md"), "w") as f:
        f.write("\n".join(L))
