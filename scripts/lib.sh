# SPDX-License-Identifier: GPL-2.0
# Shared settings for the build scripts: sourced, never run.
#
# Everything generated lives outside the repository, under $SYSLET_CACHE,
# so a clean clone stays clean and a cache can be shared between clones.

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SYSLET_CACHE="${SYSLET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/syslet}"

# Kernel source: Debian's linux-source-7.3 package, pinned. If the pinned
# version has left the archive, fetch-kernel.sh falls back to the newest 7.3.x.
KERNEL_SERIES=7.3
KERNEL_PKG_VERSION="${KERNEL_PKG_VERSION:-7.3.4-1~bpo13+1}"
KERNEL_SUITE=trixie-backports

BINDGEN_VERSION=0.73.2
LLVM_VERSION=19
export LIBCLANG_PATH="/usr/lib/llvm-${LLVM_VERSION}/lib"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
