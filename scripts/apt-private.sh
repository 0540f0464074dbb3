# SPDX-License-Identifier: GPL-2.0
# A private apt configuration: sourced, never run.
#
# Packages the host's own suites do not hold for us (the kernel source of a
# newer suite, fio's Debian source package) are fetched with apt-get and an
# own sources list, lists, cache and status file under $APT_DIR, so the
# host's apt state is never touched; apt still checks the archive's signature
# with the host's Debian keyring. The mirror is the one the host already
# uses for Debian.
#
# The sourcing script sets APT_DIR first (it must source lib.sh before).

: "${APT_DIR:?set APT_DIR before sourcing apt-private.sh}"
mkdir -p "$APT_DIR"/{lists/partial,cache/archives/partial,sources.list.d}

host_mirror() {
	if [[ -n "${SYSLET_DEBIAN_MIRROR:-}" ]]; then
		echo "$SYSLET_DEBIAN_MIRROR"
		return
	fi
	# deb822 sources first, then one-line sources; skip the security archive.
	{
		grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
		grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
			sed 's/\[[^]]*\]//' | awk '{print $2}' || true
	} | grep -v security | grep '/debian/\?$' | head -n1 || true
}

APT_OPTS=(
	-o "Dir::Etc::SourceList=$APT_DIR/sources.list"
	-o "Dir::Etc::SourceParts=$APT_DIR/sources.list.d"
	-o "Dir::State::Lists=$APT_DIR/lists"
	-o "Dir::State::status=$APT_DIR/status"
	-o "Dir::Cache=$APT_DIR/cache"
	-o "Dir::Etc::Preferences=/dev/null"
	-o "Dir::Etc::PreferencesParts=$APT_DIR/sources.list.d"
	-o "APT::Get::List-Cleanup=0"
	-o "APT::Sandbox::User=root"
)

# apt_private_update TYPE SUITE: points the private sources list at the
# host's mirror ("deb" or "deb-src", SUITE's main component) and updates it.
apt_private_update() {
	local type=$1 suite=$2 mirror
	mirror=$(host_mirror)
	[[ -n "$mirror" ]] || die "cannot find the host's Debian mirror in its apt sources"
	touch "$APT_DIR/status"
	echo "$type [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
		>"$APT_DIR/sources.list"
	log "apt-get update ($type $suite, private configuration)"
	apt-get "${APT_OPTS[@]}" update -qq >&2 || die "apt-get update of $type $suite failed"
}
