// SPDX-License-Identifier: GPL-2.0
/*
 * Realtime latency under load (issue 12): a SCHED_FIFO thread wakes every
 * millisecond (clock_nanosleep, TIMER_ABSTIME, as cyclictest does) and
 * records how late it woke, while two SCHED_OTHER processes load the
 * machine in one of three ways:
 *
 *  - syslets: one process submits chains whose nanosleep atom blocks, so
 *    every submission is a cachemiss (hand-off, carrier, completion); the
 *    other runs chains of 512 getppid atoms, synchronously;
 *  - plain calls: the same work as plain system calls (nanosleep; 512
 *    getppid calls a round);
 *  - a thread pool: the sleeps done by 4 threads, the getppid rounds as
 *    plain calls;
 *  - the fuzzer (the suite's c-fuzz, unprivileged, random and hostile
 *    chains, some of which block and go asynchronous) beside the getppid
 *    chains. It has no plain-call twin: compare it with the plain calls.
 *
 * Reported per load: the median, 99.9th percentile and largest wake-up
 * latency in microseconds (instruction counts under -icount). Meaningful
 * on the realtime kernel (make bench FLAVOUR=rt); on the release kernel
 * too, as a comparison of the three loads within one boot.
 *
 * The other CPUs are taken offline meanwhile (see bench_rtlat()).
 * SYSLET_RTLAT_SAMPLES sets the wake-ups per load (2,000 by default).
 * SYSLET_RTLAT_TRACE=US (as cyclictest's -b): context switches, syslet
 * hand-offs and the FIFO thread's wake-ups are traced, each wake-up with
 * the stack of what the timer interrupted; tracing stops at the first
 * wake-up (after the tenth) later than US microseconds, and the end of
 * CPU 0's trace is printed. Tracing slows every switch: the figures of a
 * traced run are not comparable with an untraced one.
 * SYSLET_RTLAT_TRACER=NAME runs one of the kernel's latency tracers
 * (wakeup_rt, preemptirqsoff, irqsoff, preemptoff; FLAVOUR=rt-release has
 * them) during each load and prints, per load, the largest latency it saw
 * and the start of its trace of that section: where it starts and ends and
 * the scheduler's events in it, or, with SYSLET_RTLAT_FUNCTIONS=1, every
 * function it ran (many times slower).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslet.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define PERIOD_NS 1000000LL
#define POOL_THREADS 4

enum load { LOAD_SYSLET, LOAD_PLAIN, LOAD_POOL, LOAD_FUZZ };

/* The suite's fuzzer, in the guest image beside the benchmark. */
#define FUZZER "/tests/c-fuzz"

/* Sleeps of 50 us, the blocking part of every load. */
static const struct timespec nap = { 0, 50 * 1000 };

static void *pool_thread(void *arg)
{
	(void)arg;
	for (;;)
		nanosleep(&nap, NULL);
	return NULL;
}

/* The blocking half of a load, in its own process, until killed. */
static void blocking_load(enum load load)
{
	if (load == LOAD_SYSLET) {
		struct syslet_setup s = { .spares = 4, .max_threads = 8 };
		struct syslet_ring_map ring = { 0 };
		struct syslet_outcome o[16];
		struct syslet_atom a;
		int fd = syslet_open();

		CHECK(fd >= 0 && syslet_setup(fd, &s) == 0 && syslet_ring_mmap(fd, &s, &ring) == 0);
		syslet_atom_prep(&a, SYS_nanosleep, syslet_ptr(&nap), 0, 0, 0, 0, 0);
		for (;;) {
			if (syslet_run(fd, &a, o) == 0)	/* queued: reap it */
				CHECK(syslet_wait_reap(fd, &ring, o, 16, 1, -1) >= 1);
		}
	}
	if (load == LOAD_POOL) {
		pthread_t t;

		for (int i = 0; i < POOL_THREADS; i++)
			CHECK(pthread_create(&t, NULL, pool_thread, NULL) == 0);
		pause();
	}
	if (load == LOAD_FUZZ) {
		int null = open("/dev/null", O_RDWR);

		/* It forks (a child per case, and drops privileges there). */
		dup2(null, 1);
		dup2(null, 2);
		setenv("SYSLET_FUZZ_ITERS", "1000000000", 1);
		setenv("TAP_TIMEOUT", "0", 1);	/* no alarm */
		execl(FUZZER, FUZZER, (char *)NULL);
		_exit(127);
	}
	for (;;)
		nanosleep(&nap, NULL);
}

/* The busy half: rounds of 512 getppid, as one chain or as plain calls. */
static void busy_load(enum load load)
{
	static struct syslet_atom chain[512];
	struct syslet_outcome o;
	int fd = -1;

	if (load == LOAD_SYSLET) {
		fd = syslet_open();
		CHECK(fd >= 0);
		for (int i = 0; i < 512; i++) {
			syslet_atom_prep(&chain[i], SYS_getppid, 0, 0, 0, 0, 0, 0);
			if (i)
				syslet_atom_link(&chain[i - 1], &chain[i]);
		}
	}
	for (;;) {
		if (fd >= 0)
			CHECK(syslet_run_sync(fd, &chain[0], &o) == 0);
		else
			for (int i = 0; i < 512; i++)
				syscall(SYS_getppid);
	}
}

static pid_t start(void (*fn)(enum load), enum load load)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		/* A group of its own, which measure() kills whole. */
		setpgid(0, 0);
		fn(load);
		_exit(0);
	}
	setpgid(pid, pid);	/* either may come first */
	return pid;
}

/* Wake-ups per load: SYSLET_RTLAT_SAMPLES, 2,000 by default. */
static long samples(void)
{
	const char *v = getenv("SYSLET_RTLAT_SAMPLES");
	long n = v ? atol(v) : 0;

	return n > 0 ? n : 2000;
}

#define TRACEFS "/sys/kernel/tracing/"

/* Writes @val to the tracefs file @name; false if it cannot. */
static bool trace_set(const char *name, const char *val)
{
	char path[128];
	int fd, ok;

	snprintf(path, sizeof(path), TRACEFS "%s", name);
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return false;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok;
}

/* The break-trace threshold in microseconds, 0 without SYSLET_RTLAT_TRACE. */
static double trace_threshold(void)
{
	const char *v = getenv("SYSLET_RTLAT_TRACE");

	return v ? atof(v) : 0;
}

/*
 * Starts tracing what delays the FIFO thread: every context switch, the
 * thread's own wake-ups with the stack of what its timer interrupted, and
 * the hand-offs. Few events, so that tracing disturbs the loads less.
 * False without tracefs.
 */
static bool trace_start(void)
{
	char filter[64], trigger[80];

	if (mount("nodev", TRACEFS, "tracefs", 0, NULL) != 0 && errno != EBUSY) {
		printf("no tracefs (errno %d): not tracing\n", errno);
		return false;
	}
	snprintf(filter, sizeof(filter), "pid == %ld", (long)syscall(SYS_gettid));
	snprintf(trigger, sizeof(trigger), "stacktrace if %s", filter);
	return trace_set("tracing_on", "0") && trace_set("trace", "") &&
	       trace_set("buffer_size_kb", "8192") &&
	       trace_set("events/sched/sched_switch/enable", "1") &&
	       trace_set("events/sched/sched_waking/enable", "1") &&
	       trace_set("events/syslet/syslet_handoff/enable", "1") &&
	       trace_set("events/sched/sched_waking/filter", filter) &&
	       /* where the timer interrupted the task the FIFO thread preempts */
	       trace_set("events/sched/sched_waking/trigger", trigger) &&
	       trace_set("tracing_on", "1");
}

/*
 * Prints the tracefs file @name after @title: its last @lines lines, or
 * with @first its first ones.
 */
static void trace_dump(const char *title, const char *name, int lines, bool first)
{
	size_t len = 0, size = 64 << 20, from, to;
	char *buf = malloc(size), path[128];
	ssize_t n;
	int fd;

	CHECK(buf);
	snprintf(path, sizeof(path), TRACEFS "%s", name);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
			len += n;
		close(fd);
	}
	buf[len] = 0;
	if (first) {
		for (to = 0; to < len && lines > 0; to++)
			lines -= buf[to] == '\n';
		buf[to] = 0;
		from = 0;
	} else {
		/* Back from the end over @lines newlines (the last one ends the text). */
		for (from = len; from > 0; from--)
			if (buf[from - 1] == '\n' && lines-- < 0)
				break;
	}
	printf("%s:\n%s\n", title, buf + from);
	free(buf);
}

/* The latency tracer SYSLET_RTLAT_TRACER names, or NULL. */
static const char *latency_tracer(void)
{
	const char *v = getenv("SYSLET_RTLAT_TRACER");

	return v && *v ? v : NULL;
}

/* Starts the latency tracer @name afresh; false if it cannot. */
static bool latency_trace_start(const char *name)
{
	if (mount("nodev", TRACEFS, "tracefs", 0, NULL) != 0 && errno != EBUSY)
		return false;
	/*
	 * Without SYSLET_RTLAT_FUNCTIONS=1 the tracer records only where a
	 * section starts and ends, with the scheduler's events: tracing every
	 * function inside it slowed a boot many times over. (Where the option
	 * does not exist the write fails, which changes nothing.)
	 */
	trace_set("options/function-trace", getenv("SYSLET_RTLAT_FUNCTIONS") ? "1" : "0");
	return trace_set("tracing_on", "0") && trace_set("current_tracer", name) &&
	       trace_set("tracing_max_latency", "0") && trace_set("tracing_on", "1");
}

/* Prints what the latency tracer @name found, and stops it. */
static void latency_trace_stop(const char *name)
{
	char title[96], max[32] = "";
	int fd = open(TRACEFS "tracing_max_latency", O_RDONLY);

	if (fd >= 0) {
		ssize_t n = read(fd, max, sizeof(max) - 1);

		max[n > 0 ? n - 1 : 0] = 0;	/* without its newline */
		close(fd);
	}
	snprintf(title, sizeof(title), "%s: largest latency %s us, its trace", name, max);
	trace_dump(title, "trace", 300, true);
	trace_set("tracing_on", "0");
	trace_set("current_tracer", "nop");
}

/* Stops tracing and turns the events off again. */
static void trace_stop(void)
{
	trace_set("tracing_on", "0");
	trace_set("events/sched/sched_waking/trigger", "!stacktrace");
	trace_set("set_event", "");
	trace_set("events/sched/sched_waking/filter", "0");
}

/*
 * The FIFO thread's wake-up latencies, in microseconds, while @blocking and
 * @busy load the machine.
 */
static void measure(const char *name, enum load blocking, enum load busy, int id)
{
	struct sched_param sp = { .sched_priority = 80 };
	struct timespec next, now;
	pid_t a = start(blocking_load, blocking), b = start(busy_load, busy);
	double threshold = trace_threshold();
	const char *tracer = latency_tracer();
	long n = samples();
	double *lat_us = calloc(n, sizeof(*lat_us));
	/* tracing_on while the trace runs; traced and stopped say what became of it. */
	int tracing_on = -1;
	bool traced = false, stopped = false;

	CHECK(lat_us);
	usleep(100 * 1000);	/* the loads get going */
	if (threshold > 0 && trace_start()) {
		tracing_on = open(TRACEFS "tracing_on", O_WRONLY);
		traced = true;
	} else if (threshold > 0)
		printf("could not set tracing up (errno %d): not tracing\n", errno);
	if (tracer && !latency_trace_start(tracer)) {
		printf("no latency tracer %s (errno %d): not tracing\n", tracer, errno);
		tracer = NULL;
	}
	CHECK(sched_setscheduler(0, SCHED_FIFO, &sp) == 0);
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (long i = 0; i < n; i++) {
		next.tv_nsec += PERIOD_NS;
		if (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		clock_gettime(CLOCK_MONOTONIC, &now);
		lat_us[i] = ((now.tv_sec - next.tv_sec) * 1e9 + (now.tv_nsec - next.tv_nsec)) / 1e3;
		if (tracing_on >= 0 && !stopped && i >= 10 && lat_us[i] > threshold) {
			CHECK(write(tracing_on, "0", 1) == 1);
			stopped = true;
			printf("wake-up %ld was %.1f us late: tracing stopped\n", i, lat_us[i]);
		}
	}
	if (tracer)
		latency_trace_stop(tracer);
	if (stopped)
		trace_dump("trace of CPU 0 up to the late wake-up", "per_cpu/cpu0/trace", 400, false);
	if (tracing_on >= 0)
		close(tracing_on);
	if (traced)
		trace_stop();
	sp.sched_priority = 0;
	CHECK(sched_setscheduler(0, SCHED_OTHER, &sp) == 0);
	kill(-a, SIGKILL);
	kill(-b, SIGKILL);
	waitpid(a, NULL, 0);
	waitpid(b, NULL, 0);
	sort_doubles(lat_us, n);
	printf("%-36s latency p50 %8.1f us  p99.9 %8.1f us  max %8.1f us\n", name,
	       percentile(lat_us, n, 0.5), percentile(lat_us, n, 0.999),
	       lat_us[n - 1]);
	printf("data rtlat-%d 0 %.1f %.1f %.1f\n", id, percentile(lat_us, n, 0.5),
	       percentile(lat_us, n, 0.999), lat_us[n - 1]);
	free(lat_us);
}

/*
 * Takes every CPU but CPU 0 offline (@online false) or brings them back.
 * Returns how many changed.
 */
static int other_cpus(bool online)
{
	int changed = 0;

	for (int cpu = 1; cpu < CPU_SETSIZE; cpu++) {
		char path[64];
		int fd;

		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/online", cpu);
		fd = open(path, O_WRONLY);
		if (fd < 0)
			break;
		changed += write(fd, online ? "1" : "0", 1) == 1;
		close(fd);
	}
	return changed;
}

void bench_rtlat(void)
{
	cpu_set_t all, one;
	int offline;

	/*
	 * Everything on CPU 0, the loads (which inherit it) and the FIFO
	 * thread, with the other CPUs offline: what is measured is whether
	 * the FIFO thread preempts the loads. With CPU 1 online, QEMU (which
	 * runs the vCPUs in turns under -icount) counted CPU 1's time into
	 * CPU 0's latencies: see the README's Realtime section.
	 */
	CHECK(sched_getaffinity(0, sizeof(all), &all) == 0);
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	CHECK(sched_setaffinity(0, sizeof(one), &one) == 0);
	CHECK(mlockall(MCL_CURRENT | MCL_FUTURE) == 0);
	offline = other_cpus(false);
	printf("## a SCHED_FIFO thread waking every ms (%ld wake-ups) while SCHED_OTHER "
	       "processes load the machine, all on CPU 0 (%d other CPUs taken offline)\n",
	       samples(), offline);
	measure("syslets: cachemisses + long chains", LOAD_SYSLET, LOAD_SYSLET, 0);
	measure("syslets: cachemisses only", LOAD_SYSLET, LOAD_PLAIN, 1);
	measure("syslets: long chains only", LOAD_PLAIN, LOAD_SYSLET, 2);
	measure("plain calls", LOAD_PLAIN, LOAD_PLAIN, 3);
	measure("thread pool + plain calls", LOAD_POOL, LOAD_PLAIN, 4);
	if (access(FUZZER, X_OK) == 0)
		measure("syslets: fuzzer + long chains", LOAD_FUZZ, LOAD_SYSLET, 5);
	else
		printf("no %s in this image: no fuzzer row\n", FUZZER);
	printf("\n");
	if (offline)
		other_cpus(true);
	munlockall();
	CHECK(sched_setaffinity(0, sizeof(all), &all) == 0);
}
