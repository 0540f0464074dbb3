#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Instructions by kernel function, per operation, from insn-count.so.

    report.py OPS COUNTS RESULTS [BASE_COUNTS BASE_RESULTS]

COUNTS is the plugin's output (block address, instructions), RESULTS the
guest's results file with its "kallsyms" lines. With a base run (the same
boot with no work), its counts are subtracted function by function. OPS
divides, to print instructions per operation.
"""
import bisect
import collections
import sys


def symbols(results):
    syms = []
    for line in open(results, errors="replace"):
        if not line.startswith("kallsyms "):
            continue
        parts = line.split()
        if len(parts) < 4 or parts[2].lower() not in ("t", "w"):
            continue
        addr = int(parts[1], 16)
        name = parts[3] + (" " + parts[4] if len(parts) > 4 else "")
        if addr:
            syms.append((addr, name))
    syms.sort()
    return syms


def by_function(counts, results):
    syms = symbols(results)
    addrs = [a for a, _ in syms]
    totals = collections.Counter()
    for line in open(counts):
        vaddr, n = line.split()
        i = bisect.bisect_right(addrs, int(vaddr, 16)) - 1
        totals[syms[i][1] if i >= 0 else "?"] += int(n)
    return totals


def main():
    ops = float(sys.argv[1])
    run = by_function(sys.argv[2], sys.argv[3])
    if len(sys.argv) > 5:
        run.subtract(by_function(sys.argv[4], sys.argv[5]))
    # Net: a function the base run spent more in (noise: interrupts, the
    # console) counts against the total rather than being left out.
    total = sum(run.values())
    print(f"{total / ops:10.0f}  instructions per operation in all ({ops:.0f} operations)")
    for name, n in run.most_common(60):
        if n / ops < 5:
            break
        print(f"{n / ops:10.0f}  {100 * n / total:5.1f}%  {name}")


main()
