#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot the guest under QEMU in one mode (test, demo or shell).
#
#   scripts/run-guest.sh MODE FLAVOUR
#
# ttyS0 is the console (the kernel log, and the program output in demo and
# shell mode); ttyS1 carries the test results only. Both are kept under
# out/logs/. A watchdog (SYSLET_TIMEOUT seconds, default 900, 3600 for
# benchmarks) ends a hung guest and fails the run with the tail of the
# console log.
source "$(dirname "$0")/lib.sh"

mode="${1:?usage: $0 test|demo|bench|shell release|debug|rt|rt-release}"
flavour="${2:?usage: $0 test|demo|bench|shell release|debug|rt|rt-release}"
kdir=$("$REPO/scripts/build-kernel.sh" "$flavour")
# The bench image (null_blk, fio) for make bench, and for a shell with
# SYSLET_GUEST_BENCH=1 (to run fio jobs by hand).
bench_image=0
[[ "$mode" == bench || ("$mode" == shell && "${SYSLET_GUEST_BENCH:-0}" == 1) ]] && bench_image=1
[[ "$mode" == bench ]] || unset SYSLET_BENCH_BASE
initrd=$(SYSLET_GUEST_BENCH=$bench_image "$REPO/scripts/build-guest.sh" "$flavour")
kernel="$kdir/arch/x86/boot/bzImage"
logs="$REPO/out/logs"
mkdir -p "$logs"
console="$logs/$mode-$flavour.console.log"
results="$logs/$mode-$flavour.results.tap"
: >"$console"
: >"$results"

# KVM is used only where it really boots this kernel: a short probe, whose
# answer is cached per host kernel, QEMU and CPU. Elsewhere: TCG.
pick_accel() {
	if [[ -n "${SYSLET_ACCEL:-}" ]]; then
		echo "$SYSLET_ACCEL"
		return
	fi
	if [[ ! -w /dev/kvm ]]; then
		echo tcg
		return
	fi
	local key cache
	key=$({ uname -r; qemu-system-x86_64 --version | sed -n 1p; grep -m1 'model name' /proc/cpuinfo; } |
		sha256sum | cut -c1-16)
	cache="$SYSLET_CACHE/accel-$key"
	if [[ ! -f "$cache" ]]; then
		log "probing whether KVM boots a guest here (once per host)"
		if timeout 30 qemu-system-x86_64 -accel kvm -cpu host -m 256 -nodefaults \
			-display none -no-reboot -serial stdio -kernel "$kernel" \
			-append "console=ttyS0 panic=-1 rdinit=/bin/nothing" 2>/dev/null |
			grep -q 'Linux version'; then
			echo kvm >"$cache"
		else
			echo tcg >"$cache"
		fi
	fi
	cat "$cache"
}
accel=$(pick_accel)
cpu=max
[[ "$accel" == kvm ]] && cpu=host
mem=512
[[ "$flavour" == debug || "$flavour" == rt ]] && mem=1024

# Settings the guest's programs read, passed on the kernel command line
# (which hands unknown NAME=value words to init's environment).
guest_env() {
	local v
	echo -n "SYSLET_TESTS=${SYSLET_TESTS:-*}"
	for v in TAP_TIMEOUT SYSLET_REPEAT SYSLET_FUZZ_SEED SYSLET_FUZZ_ITERS SYSLET_STORM_KILLS SYSLET_LOAD_SECONDS \
		SYSLET_BENCH SYSLET_BENCH_SECTIONS SYSLET_BENCH_ONLY SYSLET_KALLSYMS SYSLET_RTLAT_TRACE SYSLET_RTLAT_TRACER SYSLET_RTLAT_FUNCTIONS SYSLET_RTLAT_SAMPLES SYSLET_BENCH_SECONDS SYSLET_WALK_ROUNDS NULLBLK_NSEC FIO_RUNTIME FIO_RAMP FIO_ENGINES FIO_DEPTHS FIO_COMPLETE_MIN; do
		[[ -n "${!v:-}" ]] && echo -n " $v=${!v}"
	done
	echo
}

# Benchmarks need high-resolution timers (null_blk completes reads from one):
# the kernel switches to them only on a clock source it trusts, and without
# ACPI it finds no HPET to check the TSC against. Tests keep the default.
cmdline_extra=""
[[ "$mode" == bench ]] && cmdline_extra="tsc=reliable"
# Tests boot with 4-level paging. QEMU's "max" CPU has LA57, and with it
# KASAN decides which addresses have shadow from the LA57 feature bit,
# which identify_boot_cpu() clears while it reads the CPU again: an
# interrupt in that window is reported as a "wild-memory-access" on the
# direct map (seen twice on 2026-12-03, at 3 ms of boot, before any test).
# With 4-level paging the direct map is also where the tests' kernel-address
# scan looks (0xffff8...).
[[ "$mode" == bench ]] || cmdline_extra="no5lvl"

# Under TCG, benchmarks count instructions: guest time advances one
# nanosecond per executed instruction (QEMU's -icount), not with the host's
# clock, whose load here made timings jump by 2x between repetitions. The
# ratios then repeat from run to run. SYSLET_ICOUNT=0 times by the host's
# clock instead; SYSLET_ICOUNT=1 counts in other modes too.
icount=()
use_icount="${SYSLET_ICOUNT:-0}"
[[ "$mode" == bench ]] && use_icount="${SYSLET_ICOUNT:-1}"
[[ "$use_icount" == 1 && "$accel" == tcg ]] && icount=(-icount shift=0,sleep=off)

# scripts/profile.sh counts the kernel's instructions with a TCG plugin.
plugin=()
[[ -n "${SYSLET_QEMU_PLUGIN:-}" ]] && plugin=(-plugin "$SYSLET_QEMU_PLUGIN")

qemu=(qemu-system-x86_64 -accel "$accel" "${icount[@]}" "${plugin[@]}" -cpu "$cpu" -smp 2 -m "$mem"
	-nodefaults -display none -no-reboot
	-kernel "$kernel" -initrd "$initrd"
	-append "console=ttyS0 panic=-1 oops=panic loglevel=6 SYSLET_MODE=$mode $cmdline_extra $(guest_env)")
log "booting the $flavour kernel ($accel, mode $mode); logs in out/logs/"

case "$mode" in
shell)
	exec "${qemu[@]}" -chardev stdio,id=con,logfile="$console",signal=off \
		-serial chardev:con -serial file:"$results"
	;;
demo | bench)
	con=(-chardev stdio,id=con,logfile="$console",signal=off -serial chardev:con)
	;;
*)
	con=(-serial file:"$console")
	;;
esac

rc=0
# Benchmarks with instructions counted run on one host thread: longer.
watchdog="${SYSLET_TIMEOUT:-900}"
[[ "$mode" == bench ]] && watchdog="${SYSLET_TIMEOUT:-3600}"
timeout -k 10 "$watchdog" "${qemu[@]}" "${con[@]}" -serial file:"$results" \
	</dev/null || rc=$?
if ((rc == 124 || rc == 137)); then
	echo "error: the guest did not finish within $watchdog s; console tail:" >&2
	tail -n 40 "$console" >&2
	exit 1
fi
if ! grep -q '^syslet-guest: done' "$results"; then
	echo "error: the guest stopped before it finished (qemu status $rc)" >&2
	# What ran last, and the splat from its first line (CI keeps only
	# the end of what is printed: the head of an oops matters most).
	grep 'syslet-guest: running' "$console" | tail -n 1 >&2
	splat=$(grep -n -m 1 -E 'BUG:|Oops|general protection|WARNING:|Kernel panic' \
		"$console" | cut -d: -f1)
	if [[ -n "$splat" ]]; then
		echo "console from the first splat line:" >&2
		tail -n +"$splat" "$console" | head -n 80 >&2
	else
		echo "console tail:" >&2
		tail -n 40 "$console" >&2
	fi
	exit 1
fi
if [[ "$mode" == demo || "$mode" == bench ]]; then
	if grep -q '^not ok' "$results"; then
		grep '^not ok' "$results" >&2
		exit 1
	fi
	log "$mode finished; the whole console is in ${console#"$REPO"/}"
	# scripts/profile.sh keeps docs/bench/ as it is.
	if [[ "$mode" == bench && "${SYSLET_BENCH_REPORT:-1}" == 1 ]]; then
		"$REPO/scripts/bench-report.py" "$results" "$console" \
			"$accel${icount[*]:+ ${icount[*]}}"
	fi
	exit 0
fi
echo "$results"
