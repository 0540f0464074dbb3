#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""User-space instructions by function of one guest program, per operation.

    user-report.py OPS BINARY COUNTS BASE_COUNTS

COUNTS and BASE_COUNTS are insn-count.so outputs made with user=1 (the
profiled run and the base run of scripts/profile.sh, PROFILE_USER=1);
BINARY is the guest program with its symbols (a static-pie, as the
guest's Rust programs are: loaded at a random address, so each run's load
address is found as the page offset that puts most of its hottest blocks
on a function's first instruction). Prints the difference by function.
"""
import bisect
import collections
import subprocess
import sys

KERNEL_START = 0xFFFF800000000000
PIE_START = 0x500000000000


def symbols(binary):
    out = subprocess.run(["nm", "-C", "--defined-only", binary], capture_output=True,
                         text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            syms.append((int(parts[0], 16), parts[2]))
    return sorted(syms)


def by_function(counts, syms):
    addrs = [a for a, _ in syms]
    size = addrs[-1] + 0x10000
    blocks = collections.Counter()
    for line in open(counts):
        vaddr, n = line.split()
        vaddr = int(vaddr, 16)
        if vaddr < KERNEL_START:
            blocks[vaddr] += int(n)
    # Static-pies are mapped high (mmap_base); the blocks of other programs
    # (busybox, linked at a fixed low address) must not vote.
    high = collections.Counter({a: n for a, n in blocks.items() if a >= PIE_START})
    votes = collections.Counter()
    for a, _ in high.most_common(300):
        for s in addrs:
            if (a - s) & 0xFFF == 0:
                votes[a - s] += 1
    if not votes:
        return collections.Counter()
    base = votes.most_common(1)[0][0]
    totals = collections.Counter()
    for a, n in blocks.items():
        if base <= a < base + size:
            i = bisect.bisect_right(addrs, a - base) - 1
            totals[syms[i][1] if i >= 0 else "?"] += n
    return totals


def main():
    ops = float(sys.argv[1])
    syms = symbols(sys.argv[2])
    run = by_function(sys.argv[3], syms)
    run.subtract(by_function(sys.argv[4], syms))
    total = sum(v for v in run.values() if v > 0)
    print(f"{total / ops:10.0f}  user instructions per operation in {sys.argv[2]}")
    for name, n in run.most_common(40):
        if n / ops < 5:
            break
        print(f"{n / ops:10.0f}  {name[:120]}")


main()
