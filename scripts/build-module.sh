#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build syslet.ko against the kernel of one flavour. Objects go to
# out/module-FLAVOUR (Kbuild's MO=), so src/ holds only sources.
#
#   scripts/build-module.sh FLAVOUR         prints the path of syslet.ko
#   scripts/build-module.sh FLAVOUR REV     the same, for the module as it was
#                                           at git revision REV (make bench
#                                           BASE=REV compares the two in one
#                                           boot); built from a `git archive`
#                                           of REV in the cache, keyed by its
#                                           commit
source "$(dirname "$0")/lib.sh"

flavour="${1:?usage: $0 release|debug|rt|rt-release [REV]}"
rev="${2:-}"
kdir=$("$REPO/scripts/build-kernel.sh" "$flavour")
mapfile -t make_args < <(grep -v "^$" "$kdir/.syslet-make-args" || true)
src="$REPO"
mo="$REPO/out/module-$flavour"
if [[ -n "$rev" ]]; then
	commit=$(git -C "$REPO" rev-parse --verify "$rev^{commit}") || die "no revision $rev"
	src="$SYSLET_CACHE/module-src/$commit"
	mo="$src.out-$flavour"
	if [[ ! -d "$src" ]]; then
		mkdir -p "$src.tmp"
		git -C "$REPO" archive "$commit" Kbuild src include | tar -x -C "$src.tmp"
		mv "$src.tmp" "$src"
	fi
fi
mkdir -p "$mo"
make -s -C "$kdir" M="$src" MO="$mo" "${make_args[@]}" -j"$(nproc)" modules >&2
ko="$mo/src/syslet.ko"
[[ -f "$ko" ]] || die "module build produced no $ko"
echo "$ko"
