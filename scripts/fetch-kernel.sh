#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fetch Debian's linux-source-7.3 package and unpack it into the cache as a
# git work tree whose first commit is the pristine source.
#
# The package lives in a newer suite than the host's. It is fetched through a
# private apt configuration (scripts/apt-private.sh: own sources list, lists
# and cache directories) so the host's apt state is never touched.
#
# Prints the path of the source tree on stdout.
source "$(dirname "$0")/lib.sh"

APT_DIR="$SYSLET_CACHE/apt"
SRC_ROOT="$SYSLET_CACHE/src"
source "$REPO/scripts/apt-private.sh"
mkdir -p "$SRC_ROOT"

# An already-unpacked tree of the wanted series is reused as is.
existing=$(ls -d "$SRC_ROOT"/linux-"$KERNEL_SERIES".*/.git 2>/dev/null | sort -V | tail -n1 || true)
if [[ -n "$existing" && -f "$(dirname "$existing")/.syslet-pkg-version" ]]; then
	have=$(cat "$(dirname "$existing")/.syslet-pkg-version")
	if [[ "$have" == "$KERNEL_PKG_VERSION" || -n "${SYSLET_ACCEPT_ANY_73:-}" ]]; then
		dirname "$existing"
		exit 0
	fi
fi

apt_private_update deb "$KERNEL_SUITE"

pkg="linux-source-$KERNEL_SERIES"
version="$KERNEL_PKG_VERSION"
if ! apt-cache "${APT_OPTS[@]}" madison "$pkg" | awk '{print $3}' | grep -qxF "$version"; then
	newest=$(apt-cache "${APT_OPTS[@]}" madison "$pkg" | awk '{print $3}' | sort -V | tail -n1)
	[[ -n "$newest" ]] || die "$pkg is not in $KERNEL_SUITE"
	log "pinned $pkg $version is gone from the archive; falling back to $newest"
	version="$newest"
fi

upstream=${version%%-*}
tree="$SRC_ROOT/linux-$upstream"
if [[ -f "$tree/.syslet-pkg-version" && "$(cat "$tree/.syslet-pkg-version")" == "$version" ]]; then
	echo "$tree"
	exit 0
fi

debdir="$APT_DIR/debs"
mkdir -p "$debdir"
deb=$(ls "$debdir"/"${pkg}_${version//:/%3a}"_*.deb 2>/dev/null | head -n1 || true)
if [[ -z "$deb" ]]; then
	log "apt-get download $pkg=$version"
	(cd "$debdir" && apt-get "${APT_OPTS[@]}" download -qq "$pkg=$version" >&2) ||
		die "download of $pkg=$version failed"
	deb=$(ls "$debdir"/"${pkg}"_*.deb | head -n1)
fi

log "unpacking $deb"
rm -rf "$tree" "$tree.tmp"
mkdir -p "$tree.tmp"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tree.tmp" --wildcards '*.tar.xz'
tarball=$(find "$tree.tmp" -name 'linux-source-*.tar.xz' | sed -n 1p)
[[ -n "$tarball" ]] || die "no source tarball inside $deb"
tar -xJf "$tarball" -C "$tree.tmp"
mv "$tree.tmp"/linux-source-"$KERNEL_SERIES" "$tree"
rm -rf "$tree.tmp"

# A git repository makes re-patching cheap: resetting to the pristine commit
# rewrites only the files a previous series touched, so make rebuilds only
# what depends on them.
log "recording the pristine tree"
git -C "$tree" init -q
git -C "$tree" -c core.autocrlf=false add -A -f
git -C "$tree" -c user.name=syslet -c user.email=syslet@localhost \
	commit -q -m "linux-source-$KERNEL_SERIES $version (pristine)"
git -C "$tree" tag pristine
echo "$version" >"$tree/.syslet-pkg-version"
echo "$tree"
