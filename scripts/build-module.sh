#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build syslet.ko against the kernel of one flavour. Objects go to
# out/module-FLAVOUR (Kbuild's MO=), so src/ holds only sources.
#
#   scripts/build-module.sh FLAVOUR     prints the path of syslet.ko
source "$(dirname "$0")/lib.sh"

flavour="${1:?usage: $0 release|debug}"
kdir=$("$REPO/scripts/build-kernel.sh" "$flavour")
mapfile -t make_args < <(grep -v "^$" "$kdir/.syslet-make-args" || true)
mo="$REPO/out/module-$flavour"
mkdir -p "$mo"
make -s -C "$kdir" M="$REPO" MO="$mo" "${make_args[@]}" -j"$(nproc)" modules >&2
ko="$mo/src/syslet.ko"
[[ -f "$ko" ]] || die "module build produced no $ko"
echo "$ko"
