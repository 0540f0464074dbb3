#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write docs/bench/ from the results of one `make bench` boot.

    scripts/bench-report.py RESULTS.tap CONSOLE.log ACCEL

Reads the "data SERIES X Y..." lines the guest's benchmarks printed
(bench/bench.h), and writes:

  docs/bench/results.md      the run's own output, what it ran on, and the
                             targets of issues #5 and #13 checked against its ratios;
  docs/bench/chain-length.png  cost per operation against chain length;
  docs/bench/iops-qd.png       IOPS against queue depth.

Nothing here is typed by hand: every figure comes from that one boot.
The plots need gnuplot (Debian's gnuplot-nox, installed if missing).
"""
import collections
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "docs", "bench")


def parse(results):
    data = collections.defaultdict(dict)  # series -> x -> [y...]
    rounds = collections.defaultdict(list)  # (series, x) -> [y of each round]
    text = []
    for line in open(results, errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("data "):
            f = line.split()
            data[f[1]][float(f[2])] = [float(v) for v in f[3:]]
            rounds[(f[1], float(f[2]))].append(float(f[3]))
        elif not re.match(r"^(ok|not ok) |^syslet-guest: done|^# c-", line):
            text.append(line)
    # Series measured in several rounds are plotted at their median.
    for (series, x), ys in rounds.items():
        if len(ys) > 1:
            data[series][x] = [statistics.median(ys)]
    return data, rounds, "\n".join(text).strip()


def get(data, series, x, i=0):
    v = data.get(series, {}).get(float(x))
    return v[i] if v else None


def targets(d):
    """The targets of issues #5 and #13, each with this run's figure."""
    rows = []

    def check(what, value, limit, better):
        if value is None:
            rows.append((what, "not measured", "-"))
            return
        met = value <= limit if better == "<=" else value >= limit
        rows.append((what, f"{value:.2f} ({better} {limit})", "met" if met else "missed"))

    check("64-atom chain / one syscall each (getppid)", get(d, "chain-getppid", 64), 0.5, "<=")
    check("64-atom chain / one syscall each (pread)", get(d, "chain-pread", 64), 0.5, "<=")
    # Issue #13's stretch targets for the same rows.
    check("#13: 64-atom chain / one syscall each (getppid)", get(d, "chain-getppid", 64), 1.3,
          "<=")
    check("#13: 64-atom chain / one syscall each (pread)", get(d, "chain-pread", 64), 1.0, "<=")
    p, u = get(d, "chain-pread", 64), get(d, "uring-pread", 64)
    check("64-atom pread chain / io_uring batch of 64", p / u if p and u else None, 1.0, "<=")
    check("cachemiss / futex wake + switch", get(d, "handoff-syslet", 0), 2.0, "<=")
    s, u = get(d, "handoff-syslet", 0), get(d, "handoff-uring", 0)
    check("cachemiss / io_uring IOSQE_ASYNC punt", s / u if s and u else None, 1.0, "<=")
    # Syslets one read an ioctl, and a round's reads in one ioctl.
    for row in ("syslet", "syslet-1call"):
        s, u, t = (get(d, f"io-{row}", 32), get(d, "io-io_uring", 32),
                   get(d, "io-pthread-pool", 32))
        check(f"IOPS at qd 32: {row} / io_uring", s / u if s and u else None, 0.9, ">=")
        check(f"IOPS at qd 32: {row} / pthread pool", s / t if s and t else None, 1.5, ">=")
        s, u = get(d, f"io-{row}", 128), get(d, "io-io_uring", 128)
        check(f"IOPS at qd 128: {row} / io_uring", s / u if s and u else None, 0.9, ">=")
        # io_uring at its best: the device and the buffers registered;
        # syslets with their buffers registered (they have no registered
        # files).
        for qd in (32, 128):
            s, u = get(d, f"io-{row}-reg", qd), get(d, "io-io_uring-reg", qd)
            check(f"IOPS at qd {qd}: {row}-reg / io_uring, file and buffers registered",
                  s / u if s and u else None, 0.9, ">=")
    for depth in (32, 128):
        for engine in ("syslet", "syslet-batch"):
            s, u = get(d, f"fio-{engine}", depth), get(d, "fio-io_uring", depth)
            check(f"fio IOPS at depth {depth}: {engine} / io_uring",
                  s / u if s and u else None, 0.9, ">=")
            s, u = get(d, f"fio-{engine}-reg", depth), get(d, "fio-io_uring-reg", depth)
            check(f"fio IOPS at depth {depth}: {engine}-reg / io_uring, file and buffers "
                  "registered", s / u if s and u else None, 0.9, ">=")
    # Issue #13's cold-cache walk (syslet-du --bench): modes 0 plain, 1 the
    # pool, 2 syslet chains; io_uring has no walk here.
    for series, what in (("stat", "getdents64 + lstat"), ("read", "+ open/read/close")):
        plain, pool, chains = (get(d, f"walk-{series}", i) for i in range(3))
        check(f"#13: tree walk ({what}): syslets / pool", chains / pool if chains and pool
              else None, 1.5, ">=")
        check(f"#13: tree walk ({what}): syslets / plain calls", chains / plain
              if chains and plain else None, 4.0, ">=")
    return rows


def before_after(rounds):
    """Medians over the rounds of the base module (make bench BASE=REV)
    and of this one, which took turns in the same boot."""
    rows = []
    for (series, x) in sorted(rounds):
        if not series.startswith("before-"):
            continue
        name = series[len("before-"):]
        before, after = rounds[(series, x)], rounds.get(("after-" + name, x))
        if not after:
            continue
        b, a = statistics.median(before), statistics.median(after)
        rows.append((name, f"{x:g}", f"{b:.2f}", f"{a:.2f}", f"{a / b:.2f}",
                     f"{len(before)} + {len(after)}"))
    return rows


def plot(d):
    if not shutil.which("gnuplot"):
        subprocess.run(["scripts/bootstrap.sh", "--bench"], cwd=REPO, check=True)
    made = []
    chains = [s for s in ("chain-getppid", "chain-pread", "uring-pread",
                          "before-chain-getppid", "before-chain-pread") if s in d]
    if chains:
        made.append(gnuplot("chain-length.png", chains, d,
                            "cost per operation against chain or batch length",
                            "atoms per chain (io_uring: reads per batch)",
                            "ratio to one system call each", logx=True, y=0))
    io = sorted(s for s in d if s.startswith("io-") or s.startswith("fio-"))
    if io:
        made.append(gnuplot("iops-qd.png", io, d,
                            "random 4 KiB reads of null_blk (timer completion)",
                            "queue depth", "IOPS", logx=True, y=0))
    return made


def gnuplot(name, series, d, title, xlabel, ylabel, logx, y):
    tmp = os.path.join(OUT, ".plot")
    os.makedirs(tmp, exist_ok=True)
    # Distinct colours for up to 12 series: gnuplot's own cycle repeats at 8.
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
               "#e377c2", "#17becf", "#7f7f7f", "#bcbd22", "#000000", "#aec7e8"]
    plots = []
    for i, s in enumerate(series):
        path = os.path.join(tmp, s + ".dat")
        with open(path, "w") as f:
            for x in sorted(d[s]):
                f.write(f"{x:g} {d[s][x][y]}\n")
        style = "dashtype 2" if s.startswith("before-") else "dashtype 1"
        label = s.replace("before-", "before: ")
        colour = palette[i % len(palette)]
        plots.append(f"'{path}' using 1:2 with linespoints {style} lw 2 "
                     f"lc rgb '{colour}' title '{label}'")
    script = "\n".join([
        "set terminal pngcairo noenhanced size 900,560 font 'sans,10'",
        f"set output '{os.path.join(OUT, name)}'",
        f"set title '{title}'",
        f"set xlabel '{xlabel}'", f"set ylabel '{ylabel}'",
        "set logscale x 2" if logx else "",
        "set grid", "set key outside right",
        "set yrange [0:*]",
        "plot " + ", ".join(plots),
    ])
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    shutil.rmtree(tmp)
    return name


def main():
    results, console, accel = sys.argv[1:4]
    d, rounds, text = parse(results)
    os.makedirs(OUT, exist_ok=True)
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                          text=True).stdout.splitlines()[0]
    kernel = next((l.split("kernel ")[-1].strip() for l in open(console, errors="replace")
                   if l.startswith("syslet-guest: mode")), "?")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    pngs = plot(d)
    base = os.environ.get("SYSLET_BENCH_BASE", "")
    cmd = "make bench" + (f" BASE={base}" if base else "")
    with open(os.path.join(OUT, "results.md"), "w") as f:
        f.write("# Benchmark results\n\n")
        f.write("Written by `make bench` (scripts/bench-report.py) from one boot; do not edit.\n\n")
        f.write(f"- Run: {datetime.date.today()}, `{cmd}`\n")
        f.write(f"- Guest kernel: {kernel} (release flavour); {qemu}, accelerator: {accel}, "
                f"2 vCPUs; host CPU: {cpu}, {os.cpu_count()} cores\n")
        if "icount" in accel:
            f.write("- Guest time counted instructions (QEMU `-icount shift=0`: one nanosecond\n"
                    "  per instruction), so ticks and microseconds are instruction counts and IOPS\n"
                    "  are reads per billion instructions of the two vCPUs together. The ratios\n"
                    "  repeat from run to run, but weigh every instruction alike: what an\n"
                    "  instruction costs on real hardware (a system call's entry, a cache miss,\n"
                    "  an IPI) is not in them. Only ratios within this one boot mean anything.\n\n")
        else:
            f.write("- Under TCG every instruction is emulated: absolute times mean little, and\n"
                    "  only ratios measured within this one boot are meaningful.\n\n")
        f.write("## Targets (issues #5 and #13)\n\n| Target | This run | |\n|---|---|---|\n")
        for r in targets(d):
            f.write("| " + " | ".join(r) + " |\n")
        ba = before_after(rounds)
        if ba:
            f.write(f"\n## Before and after, same boot (base: {base})\n\n")
            f.write("The base module and this one took turns in the guest, three rounds "
                    "each; every figure is the median over the rounds of a ratio to its "
                    "section's baseline, measured in the same run. The last columns are "
                    "after / before and the number of runs.\n\n")
            f.write("| Series | x | Before | After | After / before | Runs |\n"
                    "|---|---|---|---|---|---|\n")
            for r in ba:
                f.write("| " + " | ".join(r) + " |\n")
        for p in pngs:
            f.write(f"\n![{p}]({p})\n")
        f.write("\n## The run's output\n\n```\n" + text + "\n```\n")
    print(f"==> wrote {os.path.relpath(OUT, REPO)}/results.md", file=sys.stderr)


if __name__ == "__main__":
    main()
