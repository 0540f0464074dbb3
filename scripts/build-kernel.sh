#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the patched kernel of one flavour (release, debug, rt or rt-release)
# out of tree.
#
#   scripts/build-kernel.sh FLAVOUR     prints the build directory on stdout
#
# The build is keyed by the hash of everything that decides its output: the
# source package version, the patch series, the config fragments, this script
# and the toolchain versions. A matching key skips the build. A different key
# re-patches the cached source tree (git reset to the pristine commit, then
# the series; only files the series touches change) and runs make, which then
# rebuilds only what depends on the changed files.
source "$(dirname "$0")/lib.sh"

flavour="${1:-}"
case "$flavour" in
release | rt-release) make_args=() ; cc_version=$(gcc --version | sed -n 1p) ;;
debug | rt) make_args=("LLVM=-$LLVM_VERSION") ; cc_version=$("clang-$LLVM_VERSION" --version | sed -n 1p) ;;
*) die "usage: $0 release|debug|rt|rt-release" ;;
esac

tree=$("$REPO/scripts/fetch-kernel.sh")
out="$SYSLET_CACHE/build/$flavour"
mkdir -p "$out"
# debug: the checks and the memory checkers; rt: the checks and PREEMPT_RT;
# release: no checks; rt-release: the release kernel and PREEMPT_RT.
case "$flavour" in
debug) names=(common debug memcheck) ;;
rt) names=(common debug rt) ;;
release) names=(common release) ;;
rt-release) names=(common release rt-release) ;;
esac
fragments=()
for name in "${names[@]}"; do
	fragments+=("$REPO/kernel/config/$name.config")
done
mapfile -t patches < <(find "$REPO/kernel/patches" -name '*.patch' | sort)

series_hash=$(cat /dev/null "${patches[@]}" | sha256sum | cut -d' ' -f1)
key=$({
	cat "$tree/.syslet-pkg-version"
	echo "$series_hash"
	cat "${fragments[@]}" "$0"
	echo "$cc_version"
	rustc --version
	bindgen --version
} | sha256sum | cut -d' ' -f1)

# The key is written last, once a build is complete: a matching one needs
# no lock (make test builds one kernel while it boots another).
built() {
	[[ -f "$out/.syslet-key" && "$(cat "$out/.syslet-key")" == "$key" &&
		-f "$out/arch/x86/boot/bzImage" ]]
}
if built; then
	echo "$out"
	exit 0
fi
# One build at a time per source tree: every flavour patches the same one.
exec 9>"$tree/.git/syslet.lock"
flock 9
# Another build of this flavour may have finished while we waited.
if built; then
	echo "$out"
	exit 0
fi
rm -f "$out/.syslet-key"

# --- patch ---------------------------------------------------------------
stamp="$tree/.git/syslet-series"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$series_hash" ]]; then
	log "applying ${#patches[@]} patch(es) to $(basename "$tree")"
	rm -f "$stamp"
	# Keep the files the previous series touched, with their times: those
	# the new series leaves byte-identical get their old time back, so make
	# does not rebuild everything that includes, say, sched.h.
	saved=$(mktemp -d)
	git -C "$tree" diff --cached --name-only pristine >"$saved/.list"
	(cd "$tree" && while read -r f; do
		[[ -f "$f" ]] && mkdir -p "$saved/$(dirname "$f")" && cp -p "$f" "$saved/$f"
	done <"$saved/.list")
	git -C "$tree" reset -q --hard pristine
	git -C "$tree" clean -q -fdx -e .syslet-pkg-version
	for p in "${patches[@]}"; do
		if ! git -C "$tree" apply --index "$p"; then
			git -C "$tree" reset -q --hard pristine
			rm -rf "$saved"
			die "patch $(basename "$p") does not apply; the tree was reset to pristine"
		fi
	done
	(cd "$tree" && while read -r f; do
		[[ -f "$saved/$f" && -f "$f" ]] && cmp -s "$saved/$f" "$f" && touch -r "$saved/$f" "$f"
	done <"$saved/.list") || true
	rm -rf "$saved"
	echo "$series_hash" >"$stamp"
fi

# --- configure -------------------------------------------------------------
kmake() { make -C "$tree" O="$out" "${make_args[@]}" "$@"; }
log "configuring the $flavour kernel"
kmake -s rustavailable >&2 || die "Rust is not available to the kernel build (run scripts/bootstrap.sh)"
# tinyconfig's fragments and ours, given to allnoconfig: every option that no
# fragment names is off. (Merged on top of tinyconfig instead, an option
# that our fragments make visible, such as ACPI's drivers, the input layer
# or cpufreq, would keep its default, often y, and be built for nothing.)
# A later line overrides an earlier one.
allconfig="$out/.syslet-allconfig"
cat "$tree/kernel/configs/tiny-base.config" "$tree/kernel/configs/tiny.config" \
	"$tree/arch/x86/configs/tiny.config" "${fragments[@]}" >"$allconfig"
KCONFIG_ALLCONFIG="$allconfig" kmake -s allnoconfig >/dev/null 2>&1 ||
	KCONFIG_ALLCONFIG="$allconfig" kmake allnoconfig >&2 ||
	die "allnoconfig failed for the $flavour kernel"

# Kconfig silently drops options whose dependencies are unmet: check each.
bad=0
while read -r line; do
	if [[ "$line" =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
		grep -qxF "$line" "$out/.config" || {
			printf 'error: %s asked for, .config has: %s\n' "$line" \
				"$(grep -E "(^|# )${BASH_REMATCH[1]}[= ]" "$out/.config" || echo 'nothing')" >&2
			bad=1
		}
	elif [[ "$line" =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
		if grep -qE "^${BASH_REMATCH[1]}=" "$out/.config"; then
			printf 'error: %s asked to be off, but it is on\n' "${BASH_REMATCH[1]}" >&2
			bad=1
		fi
	fi
done < <(cat "${fragments[@]}")
((bad == 0)) || die "the $flavour config fragment did not fully apply"

# --- build -------------------------------------------------------------------
log "building the $flavour kernel (make -j$(($(nproc) + 1)))"
start=$SECONDS
kmake -s -j"$(($(nproc) + 1))" bzImage modules >&2
rm -rf "$out/modroot"
kmake -s INSTALL_MOD_PATH="$out/modroot" INSTALL_MOD_STRIP=1 modules_install >/dev/null
log "$flavour kernel built in $((SECONDS - start)) s"
printf '%s\n' "${make_args[@]}" >"$out/.syslet-make-args"
echo "$key" >"$out/.syslet-key"
echo "$out"
