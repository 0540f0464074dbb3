#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install everything the build needs on a Debian 12 host. Idempotent: each
# step checks first and skips what is already there. Never touches the host's
# apt sources (the kernel source comes through a private apt configuration,
# see fetch-kernel.sh).
#
#   scripts/bootstrap.sh            what the build and the tests need
#   scripts/bootstrap.sh --bench    and what make bench needs (plots)
source "$(dirname "$0")/lib.sh"

PACKAGES=(
	build-essential gcc-multilib flex bison bc libelf-dev libssl-dev cpio xz-utils git
	busybox-static qemu-system-x86 python3 kmod
	"clang-$LLVM_VERSION" "lld-$LLVM_VERSION" "llvm-$LLVM_VERSION"
	"libclang-$LLVM_VERSION-dev"
	# The benchmarks' io_uring peer (bench/uring.h), linked statically.
	liburing-dev
)

# gnuplot for the plots, e2fsprogs for the walk benchmark's ext4 image.
[[ "${1:-}" == --bench ]] && PACKAGES+=(gnuplot-nox e2fsprogs)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done
if ((${#missing[@]})); then
	log "installing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# -t bookworm: should another suite be configured, do not let it win.
	apt-get install -y -qq -t bookworm --no-install-recommends "${missing[@]}" >/dev/null
fi

# The kernel source (a download, an unpack and a git commit of the whole tree)
# is fetched while the Rust pieces below install: neither waits on the other.
fetch_log=$(mktemp)
"$REPO/scripts/fetch-kernel.sh" >/dev/null 2>"$fetch_log" &
fetch_pid=$!

command -v rustup >/dev/null || die "rustup not found (the Rust toolchain is a prerequisite)"
if ! rustup component list --installed | grep '^rust-src' >/dev/null; then
	log "rustup component add rust-src"
	rustup component add rust-src
fi
if ! rustup target list --installed | grep '^x86_64-unknown-linux-musl$' >/dev/null; then
	log "rustup target add x86_64-unknown-linux-musl"
	rustup target add x86_64-unknown-linux-musl
fi

if ! bindgen --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
	log "cargo install bindgen-cli $BINDGEN_VERSION"
	cargo install --locked --quiet "bindgen-cli@$BINDGEN_VERSION"
fi
fetch_rc=0
wait "$fetch_pid" || fetch_rc=$?
cat "$fetch_log" >&2
rm -f "$fetch_log"
((fetch_rc == 0)) || die "fetching the kernel source failed"
log "bootstrap: host is ready"
