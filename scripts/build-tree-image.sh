#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The ext4 image of the tree-walk benchmark (make bench): 10,000 small files
# in 110 directories, made on the host with mkfs.ext4 -d, so the guest only
# copies it onto a memory-backed null_blk device and mounts it.
#
#   scripts/build-tree-image.sh      prints the image's path (gzip'd)
#
# The tree: 10 top directories, each with 10 subdirectories of 100 files
# of 200 bytes (one 4 KiB block each, so reading a file is one I/O once the
# caches are dropped), plus one hard link and one symbolic link, which a
# du must count once and not follow. The image is keyed by the hash of
# this script and mke2fs's version.
source "$(dirname "$0")/lib.sh"

command -v mkfs.ext4 >/dev/null || PATH="$PATH:/usr/sbin:/sbin"
command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 not found (Debian package e2fsprogs)"
key=$({
	sha256sum "$0"
	mkfs.ext4 -V 2>&1 | sed -n 1p
} | sha256sum | cut -c1-16)
dir="$SYSLET_CACHE/tree-image"
img="$dir/tree-$key.img.gz"
if [[ ! -f "$img" ]]; then
	mkdir -p "$dir"
	tmp=$(mktemp -d "$dir/build.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	python3 - "$tmp/root" <<'PY'
import os, sys
root = sys.argv[1]
body = b"x" * 199 + b"\n"
for t in range(10):
    for s in range(10):
        d = os.path.join(root, f"top{t}", f"sub{s}")
        os.makedirs(d)
        for f in range(100):
            with open(os.path.join(d, f"file{f:03}"), "wb") as fh:
                fh.write(body)
os.link(os.path.join(root, "top0/sub0/file000"), os.path.join(root, "top9/hardlink"))
os.symlink("../top0", os.path.join(root, "top1/symlink"))
PY
	# 64 MiB, 4 KiB blocks, a 4 MiB journal; no lazy init, so the image is
	# complete and the guest's first mount does no background work.
	mkfs.ext4 -q -F -b 4096 -N 16384 -J size=4 -E lazy_itable_init=0,lazy_journal_init=0 \
		-d "$tmp/root" "$tmp/tree.img" 64M >/dev/null
	gzip -1 -c "$tmp/tree.img" >"$img.tmp"
	mv "$img.tmp" "$img"
fi
echo "$img"
