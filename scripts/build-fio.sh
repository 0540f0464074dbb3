#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build fio and the syslet fio engine for the bench guest, and stage them
# with everything they need at run time.
#
#   scripts/build-fio.sh      prints the staged directory (and nothing else)
#
# The directory's contents go verbatim into the bench initramfs's root (see
# build-guest.sh): usr/bin/fio, the shared libraries it loads (at the paths
# ldd gives, with the dynamic loader), usr/lib/syslet/fio-syslet.so and
# bench/fio/ (job files and run.sh).
#
# Why this way:
#  - fio is Debian bookworm's (3.33-3), built from its source package, so
#    the engine is compiled against the very headers and config-host.h of
#    the fio the guest runs: fio's engine ABI (struct thread_data, struct
#    io_u, struct ioengine_ops) changes between versions and is checked by
#    nothing but FIO_IOOPS_VERSION. The source comes through a private apt
#    configuration (scripts/apt-private.sh), never the host's apt state.
#  - fio is linked dynamically and exports its symbols (-rdynamic), because
#    an external engine is dlopen()ed and calls back into fio. A static fio
#    cannot load one. The guest has no glibc of its own, so the libraries
#    fio needs are staged beside it.
#  - Configured minimal: no GUI, no -march=native (the guest's CPU is QEMU's),
#    nothing that needs a library the guest would not have; libaio is kept
#    (the libaio engine is one of the comparisons).
#  - The stage is keyed by the hash of everything that goes into it, so a
#    change to the engine, a job file, run.sh, this script, fio's version or
#    the compiler rebuilds; otherwise it is reused as is.
source "$(dirname "$0")/lib.sh"

FIO_PKG_VERSION=3.33-3
FIO_SUITE=bookworm

# Host packages: dpkg-dev for dpkg-source, libaio-dev for fio's libaio
# engine. Installed the way bootstrap.sh does: check first, then apt.
missing=()
for p in dpkg-dev libaio-dev; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	log "installing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq -t bookworm --no-install-recommends "${missing[@]}" >/dev/null
fi

FIO_ROOT="$SYSLET_CACHE/fio"
upstream=${FIO_PKG_VERSION%%-*}
src="$FIO_ROOT/src/fio-$upstream"
mkdir -p "$FIO_ROOT/src"

# --- source: Debian's fio source package, through a private apt configuration
fetch_source() {
	if [[ -f "$src/.syslet-pkg-version" && "$(cat "$src/.syslet-pkg-version")" == "$FIO_PKG_VERSION" ]]; then
		return
	fi
	APT_DIR="$FIO_ROOT/apt"
	source "$REPO/scripts/apt-private.sh"
	local dl="$FIO_ROOT/dl"
	apt_private_update deb-src "$FIO_SUITE"
	mkdir -p "$dl"
	log "apt-get source --download-only fio=$FIO_PKG_VERSION"
	(cd "$dl" && apt-get "${APT_OPTS[@]}" source --download-only -qq "fio=$FIO_PKG_VERSION" >&2) ||
		die "download of the fio $FIO_PKG_VERSION source package failed"
	log "unpacking fio $FIO_PKG_VERSION"
	rm -rf "$src" "$src.tmp"
	# apt checked the files against the signed archive index; dpkg-source
	# cannot check the uploader's signature without Debian's keyrings and
	# says so on stderr.
	dpkg-source -x "$dl/fio_${FIO_PKG_VERSION}.dsc" "$src.tmp" >&2
	mv "$src.tmp" "$src"
	echo "$FIO_PKG_VERSION" >"$src/.syslet-pkg-version"
}
fetch_source

# --- fio itself: dynamic, exporting its symbols --------------------------------
# --disable-shm: the guest kernel has no System V IPC, so fio runs its jobs
# as threads of one process (which it then does whatever "thread" says).
CONFIGURE_FLAGS=(--disable-native --disable-shm --disable-numa --disable-rdma --disable-rados
	--disable-rbd --disable-http --disable-gfapi --disable-libnfs --disable-pmem --disable-xnvme
	--disable-libzbc --disable-tcmalloc --disable-dfs --disable-lex)
gcc_version=$(gcc --version | sed -n 1p)
fio_key=$(printf '%s\n' "$FIO_PKG_VERSION" "${CONFIGURE_FLAGS[*]}" "$gcc_version" |
	sha256sum | cut -c1-16)
build="$FIO_ROOT/build-$fio_key"
if [[ ! -x "$build/fio" ]]; then
	log "building fio $FIO_PKG_VERSION (${build#"$SYSLET_CACHE"/})"
	rm -rf "$build" "$build.tmp"
	cp -a "$src" "$build.tmp"
	(cd "$build.tmp" && ./configure "${CONFIGURE_FLAGS[@]}" >configure.out 2>&1) ||
		die "fio's configure failed: see $build.tmp/configure.out"
	make -C "$build.tmp" -j"$(nproc)" fio >"$build.tmp/make.out" 2>&1 ||
		die "fio's build failed: see $build.tmp/make.out"
	mv "$build.tmp" "$build"
fi
# An external engine calls back into fio (td_verror, log_info, the generic
# file operations): fio must export them, which -rdynamic does.
# (grep reads all of readelf's output: grep -q would end the pipe early.)
readelf --dyn-syms -W "$build/fio" | grep -w generic_open_file >/dev/null ||
	die "fio does not export its symbols (not linked with -rdynamic)"
grep -q '^#define CONFIG_LIBAIO' "$build/config-host.h" ||
	die "fio was configured without libaio (libaio-dev missing?)"

# --- the stage, keyed by everything that goes into it --------------------------
engine="$REPO/bench/fio/syslet.c"
key=$({
	echo "$FIO_PKG_VERSION" "$fio_key" "$gcc_version"
	cat "$0" "$engine" "$REPO/include/uapi/linux/syslet.h" "$REPO/user/c/syslet.h"
	for f in "$REPO"/bench/fio/*.fio "$REPO/bench/fio/run.sh"; do
		echo "$f"
		cat "$f"
	done
} | sha256sum | cut -c1-16)
stage="$FIO_ROOT/stage-$key"
if [[ -f "$stage/.complete" ]]; then
	echo "$stage"
	exit 0
fi

log "building the syslet fio engine and staging fio (${stage#"$SYSLET_CACHE"/})"
# Stages of earlier keys are of no further use: only the newest is kept.
find "$FIO_ROOT" -maxdepth 1 -name 'stage-*' -exec rm -rf {} +
mkdir -p "$stage"/{usr/bin,usr/lib/syslet,bench/fio}
# fio's own flags for its sources (its Makefile's CPPFLAGS and FIO_CFLAGS,
# less -O3/-march): the same structure layouts and feature macros.
gcc -std=gnu99 -O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers -Werror -Wdeclaration-after-statement \
	-D_GNU_SOURCE -D_LARGEFILE_SOURCE -D_FILE_OFFSET_BITS=64 -DFIO_INTERNAL -DFIO_INC_DEBUG \
	-include "$build/config-host.h" -I"$build" \
	-I"$REPO/include/uapi" -I"$REPO/user/c" \
	-shared -fPIC -o "$stage/usr/lib/syslet/fio-syslet.so" "$engine"
cp "$build/fio" "$stage/usr/bin/fio"
strip --strip-debug "$stage/usr/bin/fio"

# The libraries fio and the engine load, at the paths ldd finds them, and
# the dynamic loader (the path in the program's PT_INTERP).
for lib in $( { ldd "$stage/usr/bin/fio"; ldd "$stage/usr/lib/syslet/fio-syslet.so"; } |
	awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u); do
	mkdir -p "$stage$(dirname "$lib")"
	cp -L "$lib" "$stage$lib"
done
interp=$(readelf -l "$stage/usr/bin/fio" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
[[ -f "$stage$interp" ]] || die "the dynamic loader $interp was not staged"

cp "$REPO"/bench/fio/*.fio "$stage/bench/fio/"
install -m 0755 "$REPO/bench/fio/run.sh" "$stage/bench/fio/run.sh"
touch "$stage/.complete"
echo "$stage"
