#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Where the kernel's instructions go in one row of the I/O benchmark.
#
#   scripts/profile.sh METHOD:DEPTH [FLAVOUR]
#
# METHOD:DEPTH as SYSLET_BENCH_ONLY of bench/blockdev.c (io_uring:32,
# syslet-1call:32...), or of bench/cheap.c (getppid:1, chain-getppid:64,
# pread:1, chain-pread:64: the cheap section), or walk-MODE:SERIES (MODE plain,
# pool, syslet: syslet-du's cold tree walks, SYSLET_WALK_ROUNDS each; SERIES
# 0 both series, 1 the stat walk, 2 the read walk). PROFILE_USER=1 counts user-space instructions too, as one line
# ("?": no symbols for them). Boots the bench guest
# twice, under -icount as `make bench`, with a QEMU plugin (scripts/profile/insn-count.c) counting
# every instruction the kernel executes: once running the row, once running
# nothing. Prints the difference by function, per read. Instructions are
# what `make bench` measures, so this is its cost, exactly, not sampled.
source "$(dirname "$0")/lib.sh"

only="${1:?usage: $0 METHOD:DEPTH [FLAVOUR]}"
flavour="${2:-release}"
"$REPO/scripts/bootstrap.sh" --bench
out="$REPO/out/profile"
mkdir -p "$out"
src="$REPO/scripts/profile/insn-count.c"
so="$SYSLET_CACHE/profile/insn-count-$(sha256sum "$src" | cut -c1-16).so"
if [[ ! -f "$so" ]]; then
	mkdir -p "$(dirname "$so")"
	gcc -O2 -Wall -shared -fPIC -fvisibility=hidden -o "$so.tmp" "$src"
	mv "$so.tmp" "$so"
fi
bench=micro base=none:0
case "$only" in
getppid:* | pread:* | chain-*) section=cheap ;;
walk-*) bench=walk section= base=walk-none:${only#*:} ;;
*) section=blockdev ;;
esac
for run in "$base" "$only"; do
	tag=${run//[^a-z0-9_-]/_}
	rm -f "$out/$tag.counts"
	SYSLET_QEMU_PLUGIN="$so,out=$out/$tag.counts${PROFILE_USER:+,user=1}" SYSLET_BENCH=$bench \
		SYSLET_BENCH_SECTIONS=$section SYSLET_BENCH_ONLY="$run" SYSLET_KALLSYMS=1 SYSLET_BENCH_REPORT=0 \
		"$REPO/scripts/run-guest.sh" bench "$flavour" >/dev/null
	cp "$REPO/out/logs/bench-$flavour.results.tap" "$out/$tag.results"
done
tag=${only//[^a-z0-9_-]/_}
reads=$(awk '$1 == "data" && $2 == "reads-done" { print $3 }' "$out/$tag.results")
echo "$only: $reads reads"
"$REPO/scripts/profile/report.py" "$reads" "$out/$tag.counts" "$out/$tag.results" \
	"$out/${base//[^a-z0-9_-]/_}.counts" "$out/${base//[^a-z0-9_-]/_}.results" | tee "$out/$tag.txt"
if [[ -n "${PROFILE_USER:-}" && "$only" == walk-* ]]; then
	"$REPO/scripts/profile/user-report.py" "$reads" "$REPO/out/guest-$flavour/root/bin/syslet-du" \
		"$out/$tag.counts" "$out/${base//[^a-z0-9_-]/_}.counts" | tee "$out/$tag.user.txt"
fi
