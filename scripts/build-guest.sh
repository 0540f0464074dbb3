#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the guest's user space: the static test programs (C with gcc -static,
# Rust for x86_64-unknown-linux-musl), the demo, and an initramfs holding them
# with busybox, the init script and syslet.ko.
#
#   scripts/build-guest.sh FLAVOUR     prints the path of the initramfs
#
# It carries null_blk (the block device of the thread-free read tests and of
# the I/O benchmarks). With SYSLET_GUEST_BENCH=1 (make bench) the image also
# carries fio with the syslet engine (scripts/build-fio.sh), which the test
# suite does not need, and, with SYSLET_BENCH_BASE=REV, the module as it was
# at git revision REV.
source "$(dirname "$0")/lib.sh"

flavour="${1:?usage: $0 release|debug|rt|rt-release}"
ko=$("$REPO/scripts/build-module.sh" "$flavour")
kdir=$("$REPO/scripts/build-kernel.sh" "$flavour")
out="$REPO/out/guest-$flavour"
bin="$REPO/out/bin"
root="$out/root"
mkdir -p "$bin"

# --- C programs: one test binary per tests/guest/c/*.c -----------------------
CFLAGS=(-static -O2 -g -Wall -Wextra -Werror -pthread
	-I"$REPO/include/uapi" -I"$REPO/user/c" -I"$REPO/tests/guest/c")
for c in "$REPO"/tests/guest/c/*.c; do
	exe="$bin/c-$(basename "$c" .c)"
	# Not "find | grep -q": under pipefail, find killed by SIGPIPE would
	# read as "no newer header".
	# bench/uring.h too: the io_uring tests use the benchmarks' wrappers
	# (over liburing, hence -luring; only what a program uses is linked).
	if [[ ! "$exe" -nt "$c" ]] || [[ -n "$(find "$REPO/include" "$REPO/user/c" \
		"$REPO/tests/guest/c" "$REPO/bench" -name '*.h' -newer "$exe")" ]]; then
		gcc "${CFLAGS[@]}" -o "$exe" "$c" -luring
	fi
done
# 32-bit helpers of the tests (the compat ioctl path).
for c in "$REPO"/tests/guest/c32/*.c; do
	gcc -m32 "${CFLAGS[@]}" -o "$bin/syslet-$(basename "$c" .c)" "$c"
done
gcc "${CFLAGS[@]}" -o "$bin/syslet-demo" "$REPO/user/demo/demo.c"
gcc "${CFLAGS[@]}" -o "$bin/syslet-bench" "$REPO"/bench/*.c -luring

# --- Rust programs -----------------------------------------------------------
cargo build --quiet --release --target x86_64-unknown-linux-musl \
	--manifest-path "$REPO/Cargo.toml" -p syslet-guest-tests -p syslet-du
cargo build --quiet --release --target x86_64-unknown-linux-musl \
	--manifest-path "$REPO/Cargo.toml" -p syslet --example read_file
musl="$REPO/target/x86_64-unknown-linux-musl/release"
cp "$musl/syslet-guest-tests" "$bin/rust-tests"
cp "$musl/syslet-du" "$bin/syslet-du"
cp "$musl/examples/read_file" "$bin/syslet-read-file"

# --- initramfs -----------------------------------------------------------------
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,root,lib,tests}
cp /bin/busybox "$root/bin/busybox"
cp "$REPO/scripts/guest/init" "$root/init"
cp "$ko" "$root/lib/syslet.ko"
cp "$bin/syslet-demo" "$bin/syslet-bench" "$bin/syslet-du" "$bin/syslet-read-file" "$root/bin/"
cp "$bin"/syslet-compat32 "$root/bin/"
for t in "$bin"/c-* "$bin/rust-tests"; do
	[[ "$(basename "$t")" == c-*.* ]] && continue
	cp "$t" "$root/tests/"
done
# null_blk: the block device of the thread-free read tests (c-direct) and
# of the I/O benchmarks.
for m in fs/configfs/configfs.ko drivers/block/null_blk/null_blk.ko; do
	cp "$kdir/$m" "$root/lib/"
done
if [[ "${SYSLET_GUEST_BENCH:-0}" == 1 ]]; then
	# The ext4 tree of the walk benchmark (scripts/build-tree-image.sh).
	# Each path is assigned first: set -e ends the build if its script
	# fails, where cp "$(...)" would go on with an empty name.
	tree_img=$("$REPO/scripts/build-tree-image.sh")
	cp "$tree_img" "$root/lib/tree.img.gz"
	if [[ -n "${SYSLET_BENCH_BASE:-}" ]]; then
		base_ko=$("$REPO/scripts/build-module.sh" "$flavour" "$SYSLET_BENCH_BASE")
		cp "$base_ko" "$root/lib/syslet-base.ko"
	fi
	if [[ -x "$REPO/scripts/build-fio.sh" ]]; then
		fio_root=$("$REPO/scripts/build-fio.sh")
		cp -a "$fio_root"/. "$root"/
	fi
fi
img="$out/initramfs.cpio.gz"
[[ "${SYSLET_GUEST_BENCH:-0}" == 1 ]] && img="$out/initramfs-bench.cpio.gz"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$img"
echo "$img"
