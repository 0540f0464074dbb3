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
 *    plain calls.
 *
 * Reported per load: the median, 99.9th percentile and largest wake-up
 * latency in microseconds (instruction counts under -icount). Meaningful
 * on the realtime kernel (make bench FLAVOUR=rt); on the release kernel
 * too, as a comparison of the three loads within one boot.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslet.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define SAMPLES 2000
#define PERIOD_NS 1000000LL
#define POOL_THREADS 4

enum load { LOAD_SYSLET, LOAD_PLAIN, LOAD_POOL };

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
		fn(load);
		_exit(0);
	}
	return pid;
}

static double lat_us[SAMPLES];

/*
 * The FIFO thread's wake-up latencies, in microseconds, while @blocking and
 * @busy load the machine.
 */
static void measure(const char *name, enum load blocking, enum load busy, int id)
{
	struct sched_param sp = { .sched_priority = 80 };
	struct timespec next, now;
	pid_t a = start(blocking_load, blocking), b = start(busy_load, busy);

	usleep(100 * 1000);	/* the loads get going */
	CHECK(sched_setscheduler(0, SCHED_FIFO, &sp) == 0);
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (int i = 0; i < SAMPLES; i++) {
		next.tv_nsec += PERIOD_NS;
		if (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		clock_gettime(CLOCK_MONOTONIC, &now);
		lat_us[i] = ((now.tv_sec - next.tv_sec) * 1e9 + (now.tv_nsec - next.tv_nsec)) / 1e3;
	}
	sp.sched_priority = 0;
	CHECK(sched_setscheduler(0, SCHED_OTHER, &sp) == 0);
	kill(a, SIGKILL);
	kill(b, SIGKILL);
	waitpid(a, NULL, 0);
	waitpid(b, NULL, 0);
	sort_doubles(lat_us, SAMPLES);
	printf("%-36s latency p50 %8.1f us  p99.9 %8.1f us  max %8.1f us\n", name,
	       percentile(lat_us, SAMPLES, 0.5), percentile(lat_us, SAMPLES, 0.999),
	       lat_us[SAMPLES - 1]);
	printf("data rtlat-%d 0 %.1f %.1f %.1f\n", id, percentile(lat_us, SAMPLES, 0.5),
	       percentile(lat_us, SAMPLES, 0.999), lat_us[SAMPLES - 1]);
}

void bench_rtlat(void)
{
	cpu_set_t all, one;

	/*
	 * Everything on CPU 0, the loads (which inherit it) and the FIFO
	 * thread: what is measured is whether the FIFO thread preempts them,
	 * not how QEMU, which runs the two vCPUs in turns under -icount,
	 * schedules its vCPUs.
	 */
	CHECK(sched_getaffinity(0, sizeof(all), &all) == 0);
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	CHECK(sched_setaffinity(0, sizeof(one), &one) == 0);
	CHECK(mlockall(MCL_CURRENT | MCL_FUTURE) == 0);
	printf("## a SCHED_FIFO thread waking every ms (%d wake-ups) while SCHED_OTHER "
	       "processes load the machine, all on CPU 0\n", SAMPLES);
	measure("syslets: cachemisses + long chains", LOAD_SYSLET, LOAD_SYSLET, 0);
	measure("syslets: cachemisses only", LOAD_SYSLET, LOAD_PLAIN, 1);
	measure("syslets: long chains only", LOAD_PLAIN, LOAD_SYSLET, 2);
	measure("plain calls", LOAD_PLAIN, LOAD_PLAIN, 3);
	measure("thread pool + plain calls", LOAD_POOL, LOAD_PLAIN, 4);
	printf("\n");
	munlockall();
	CHECK(sched_setaffinity(0, sizeof(all), &all) == 0);
}
