#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# fio on null_blk, in the bench guest: every engine at every depth, one
# after the other (randread.fio). Prints a table for people and, for each
# result, one line for programs:
#
#   data fio-<engine> <iodepth> <iops> <p50_lat_us> <p99_lat_us>
#
# (latency: fio's total latency, from the io_u's submission to its
# completion). psync is synchronous: its "iodepth" is that many jobs, each
# with one read in flight. Exits non-zero if any fio run failed.
#
#   FIO_ENGINES, FIO_DEPTHS, FIO_RUNTIME, FIO_RAMP, FIO_COMPLETE_MIN
#   override the defaults
#   (engines and depths separated by commas or spaces: make bench passes
#   them on the kernel command line, where a space would end them)

DIR=$(dirname "$0")
# The guest's PATH is busybox's; fio is staged in /usr/bin.
export PATH=/usr/bin:$PATH
ENGINES=$(echo "${FIO_ENGINES:-syslet syslet-batch syslet-reg syslet-batch-reg io_uring io_uring-reg libaio posixaio psync}" | tr , ' ')
DEPTHS=$(echo "${FIO_DEPTHS:-1 8 32 128}" | tr , ' ')
# Seconds of guest time: with instructions counted (make bench under TCG),
# two seconds are two billion instructions, thousands of reads.
export RUNTIME=${FIO_RUNTIME:-2} RAMP=${FIO_RAMP:-1}
# Completions fio reaps before it queues again, for every engine: with 1
# (fio's default) a batched commit holds the one read queued after each.
export COMPLETE_MIN=${FIO_COMPLETE_MIN:-1}
# The syslet engine prints its context's counters when a job ends.
export SYSLET_FIO_STATS=1
OUT=/tmp/fio.terse
failed=0
results=

# Busy and total jiffies of all CPUs so far ("cpu" line of /proc/stat).
cpu_ticks() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8; exit }' /proc/stat
}

start=$(date +%s)
echo "fio: $(fio --version); /dev/nullb0, randread 4 KiB, direct; ${RUNTIME} s each after ${RAMP} s of ramp; iodepth_batch_complete_min=$COMPLETE_MIN"
# null_blk completes reads from a timer: with a clock source too coarse for
# high-resolution timers, that timer fires on a tick, not after NULLBLK_NSEC.
echo "fio: clock source $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null)," \
	"$(awk '/\.resolution:/ && !r { r = $2 " " $3 } /\.hres_active/ && h == "" { h = $3 }
		END { print "hrtimer resolution " r ", hres_active " h }' /proc/timer_list 2>/dev/null)"
for engine in $ENGINES; do
	for depth in $DEPTHS; do
		export IODEPTH_BATCH=1 SYSLET_FIO_FIXED=0
		job=$DIR/randread.fio
		case $engine in
		syslet) export ENGINE=external:/usr/lib/syslet/fio-syslet.so IODEPTH=$depth NUMJOBS=1 SYSLET_FIO_BATCH=0 ;;
		# The same engine, the io_us of each commit in one ioctl.
		syslet-batch) export ENGINE=external:/usr/lib/syslet/fio-syslet.so IODEPTH=$depth NUMJOBS=1 SYSLET_FIO_BATCH=1 IODEPTH_BATCH=$depth ;;
		# Both again with fio's buffers registered (the device is not:
		# syslets have no registered files).
		syslet-reg) export ENGINE=external:/usr/lib/syslet/fio-syslet.so IODEPTH=$depth NUMJOBS=1 SYSLET_FIO_BATCH=0 SYSLET_FIO_FIXED=1 ;;
		syslet-batch-reg) export ENGINE=external:/usr/lib/syslet/fio-syslet.so IODEPTH=$depth NUMJOBS=1 SYSLET_FIO_BATCH=1 IODEPTH_BATCH=$depth SYSLET_FIO_FIXED=1 ;;
		psync) export ENGINE=psync IODEPTH=1 NUMJOBS=$depth ;;
		# io_uring as a tuned user runs it: the device and the buffers
		# registered (appended to the job's own section).
		io_uring-reg)
			export ENGINE=io_uring IODEPTH=$depth NUMJOBS=1
			job=/tmp/randread-reg.fio
			{ cat "$DIR/randread.fio"; printf 'registerfiles=1\nfixedbufs=1\n'; } >$job ;;
		# The same, fio committing each batch of queued io_us with one
		# io_uring_enter(), as the batched syslet row does.
		io_uring-batch-reg)
			export ENGINE=io_uring IODEPTH=$depth NUMJOBS=1 IODEPTH_BATCH=$depth
			job=/tmp/randread-reg.fio
			{ cat "$DIR/randread.fio"; printf 'registerfiles=1\nfixedbufs=1\n'; } >$job ;;
		*) export ENGINE=$engine IODEPTH=$depth NUMJOBS=1 ;;
		esac
		# The guest's CPU use over the whole run (start-up and ramp
		# included): fio's own per-thread figures miss the work of a
		# syslet job, whose user context moves between tasks.
		set -- $(cpu_ticks)
		busy0=$1 all0=$2
		fio --output-format=terse --terse-version=3 "$job" >$OUT 2>&1
		status=$?
		set -- $(cpu_ticks)
		cpu=$(((($1 - busy0) * 100) / ($2 - all0 + 1)))
		# Anything that is not a terse record (warnings, the engine's
		# counters) is shown as it is.
		grep -v '^3;' $OUT | sed "s/^/fio-$engine $depth: /"
		line=$(awk -F';' -v e="$engine" -v d="$depth" '
			$1 == 3 {
				# read iops: 8; percentiles: 18, 19 ("50.000000%=N");
				# error: 5; mean total latency: 40 (us)
				split($18, p50, "="); split($19, p99, "=")
				printf "%s %s %s %s %s %s %.1f\n", e, d, $5, $8, p50[2], p99[2], $40
			}' $OUT)
		if [ $status -ne 0 ] || [ -z "$line" ] || [ "$(echo "$line" | cut -d' ' -f3)" != 0 ]; then
			echo "fio-$engine $depth: fio failed (status $status, record: ${line:-none})"
			failed=1
			continue
		fi
		set -- $line
		echo "data fio-$1 $2 $4 $5 $6"
		results="$results$1 $2 $4 $5 $6 $7 $cpu
"
	done
done

echo
echo "fio randread 4 KiB on null_blk: IOPS, total latency (us), guest CPU busy (% of all vCPUs)"
printf '%-10s %6s %10s %10s %10s %10s %5s\n' engine depth IOPS p50 p99 mean cpu%
printf '%s' "$results" | while read -r e d iops p50 p99 mean cpu; do
	printf '%-10s %6s %10s %10s %10s %10s %5s\n' "$e" "$d" "$iops" "$p50" "$p99" "$mean" "$cpu"
done
echo "fio: $(($(date +%s) - start)) s in all"
exit $failed
