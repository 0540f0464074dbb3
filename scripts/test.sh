#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The whole test suite: host tests (cargo test), then the in-guest suite on
# the debug kernel and on the realtime one (debug options plus PREEMPT_RT).
# Prints every case as a TAP line and ends with the line "N passed, N
# failed". Exits non-zero if anything failed. SYSLET_TEST_FLAVOUR="debug"
# (or any list of flavours) runs the guest suite on those only.
source "$(dirname "$0")/lib.sh"

flavours="${SYSLET_TEST_FLAVOUR:-debug rt}"
"$REPO/scripts/bootstrap.sh"

passed=0
failed=0

# --- host: the user-space crates, including the C/Rust ABI agreement test ---
read -r -a flavour_list <<<"$flavours"
mkdir -p "$REPO/out/logs"
# The first kernel builds while the host tests run: they need no kernel, and
# on a fresh machine the build is most of the wait.
first_log="$REPO/out/logs/build-kernel-${flavour_list[0]}.log"
"$REPO/scripts/build-kernel.sh" "${flavour_list[0]}" >/dev/null 2>"$first_log" &
first_build=$!

log "host tests (cargo test)"
host_log="$REPO/out/logs/host-cargo-test.log"
mkdir -p "$(dirname "$host_log")"
cargo_rc=0
cargo test --manifest-path "$REPO/Cargo.toml" --workspace --exclude syslet-guest-tests \
	2>&1 | tee "$host_log" || cargo_rc=$?
while IFS='|' read -r verdict name; do
	if [[ "$verdict" == ok ]]; then
		echo "ok - host: $name"
		passed=$((passed + 1))
	else
		echo "not ok - host: $name"
		failed=$((failed + 1))
	fi
done < <(sed -nE 's/^test (.+) \.\.\. (ok|FAILED)$/\2|\1/p' "$host_log")
if ((cargo_rc != 0)) && ! grep -q '^test .* FAILED$' "$host_log"; then
	echo "not ok - host: cargo test exited with status $cargo_rc"
	failed=$((failed + 1))
fi

# --- kernels ------------------------------------------------------------------
# The first flavour's kernel was built beside the host tests; the others
# are built in the background, at low priority, while the first one's guest suite runs (QEMU's
# TCG kept about one and a half of two host cores busy, the build takes the
# rest). run-guest.sh then
# finds them in the cache: build-kernel.sh builds one kernel at a time per
# source tree and skips a build whose key matches. A background build that
# failed is simply retried, in the foreground, by run-guest.sh, which then
# reports the error.
declare -A prebuild=()
log "waiting for the ${flavour_list[0]} kernel (its build log: $first_log)"
first_rc=0
wait "$first_build" || first_rc=$?
grep -E '^==>|error' "$first_log" >&2 || true
if ((first_rc == 0)); then
	for flavour in "${flavour_list[@]:1}"; do
		nice -n 10 "$REPO/scripts/build-kernel.sh" "$flavour" >/dev/null \
			2>"$REPO/out/logs/build-kernel-$flavour.log" &
		prebuild[$flavour]=$!
	done
fi

# --- guest, on each kernel ----------------------------------------------------
first=1
for flavour in "${flavour_list[@]}"; do
	if [[ -n "${prebuild[$flavour]:-}" ]]; then
		log "waiting for the $flavour kernel, built in the background"
		wait "${prebuild[$flavour]}" || true
	fi
	echo "# the $flavour kernel"
	results=""
	if results=$("$REPO/scripts/run-guest.sh" test "$flavour"); then
		grep -E '^(ok|not ok)|^#' "$results"
		passed=$((passed + $(grep -c '^ok' "$results" || true)))
		failed=$((failed + $(grep -c '^not ok' "$results" || true)))
		# Only a run of every guest program rewrites the hardening table,
		# from the first kernel's run.
		if [[ "${SYSLET_TESTS:-*}" == "*" ]] && ((first)); then
			"$REPO/scripts/hardening-table.sh" "$results" "$flavour"
		fi
	else
		echo "not ok - guest: the $flavour guest did not complete (see out/logs/)"
		failed=$((failed + 1))
		[[ -n "$results" && -f "$results" ]] && grep -E '^(ok|not ok)' "$results" || true
	fi
	first=0
done

echo "$passed passed, $failed failed"
((failed == 0))
