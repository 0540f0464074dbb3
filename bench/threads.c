// SPDX-License-Identifier: GPL-2.0
/*
 * Scaling with the number of submitting threads: 1, 2 and 4 threads of one
 * process, each issuing getppid() one by one, or as syslet chains of 64
 * atoms on one shared context (one /dev/syslet file per process is the
 * expected use). Reported: wall-clock ticks per operation of one thread,
 * relative to one thread issuing plain calls; the guest has 2 CPUs, so 4
 * threads share them.
 *
 * The span is taken by the submitters themselves, from the first one's
 * start to the last one's end: the main thread's own clock reads said
 * nothing, because the submitters it wakes at the barrier can preempt it
 * and finish before it reads its start (minimums of 0 ticks).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/syscall.h>
#include <syslet.h>

#include "bench.h"

#define OPS 16384
#define CHAIN 64
#define MAX_T 4

static pthread_barrier_t start;
static int shared_fd, use_syslets;
/* When each submitter began and ended its operations. */
static double began[MAX_T], ended[MAX_T];

static void *submitter(void *arg)
{
	struct syslet_atom atoms[CHAIN];
	struct syslet_outcome o;
	long me = (long)arg;

	for (int i = 0; i < CHAIN; i++) {
		syslet_atom_prep(&atoms[i], SYS_getppid, 0, 0, 0, 0, 0, 0);
		atoms[i].next = i + 1 < CHAIN ? syslet_ptr(&atoms[i + 1]) : 0;
	}
	pthread_barrier_wait(&start);
	began[me] = now_ticks();
	if (!use_syslets) {
		for (int i = 0; i < OPS; i++)
			syscall(SYS_getppid);
	} else {
		for (int c = 0; c < OPS / CHAIN; c++)
			if (syslet_run_sync(shared_fd, atoms, &o) || o.atoms_run != CHAIN)
				abort();
	}
	ended[me] = now_ticks();
	return NULL;
}

/* Wall ticks per operation of one thread, with @threads submitting. */
static double run(int threads)
{
	pthread_t t[MAX_T];
	double first, last;

	pthread_barrier_init(&start, NULL, threads + 1);
	for (long i = 0; i < threads; i++)
		if (pthread_create(&t[i], NULL, submitter, (void *)i))
			abort();
	pthread_barrier_wait(&start);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	first = began[0];
	last = ended[0];
	for (int i = 1; i < threads; i++) {
		first = began[i] < first ? began[i] : first;
		last = ended[i] > last ? ended[i] : last;
	}
	return (last - first) / OPS;
}

void bench_threads(void)
{
	static const int counts[] = { 1, 2, 4 };
	struct syslet_setup setup = { .flags = SYSLET_SETUP_NO_SPARES };
	struct stat3 s;
	double base = 0;
	char name[64];

	shared_fd = syslet_open();
	if (shared_fd < 0 || syslet_setup(shared_fd, &setup))
		abort();
	printf("## submitting threads: getppid, wall ticks per operation of one thread "
	       "(ratio to 1 thread, plain calls)\n");
	for (unsigned int i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		use_syslets = 0;
		s = MEASURE(run(counts[i]));
		if (!base)
			base = s.median;
		snprintf(name, sizeof(name), "%d thread(s), one syscall each", counts[i]);
		row(name, "ticks/op", s, base);
		printf("data threads-plain %d %.3f\n", counts[i], s.median / base);
		use_syslets = 1;
		s = MEASURE(run(counts[i]));
		snprintf(name, sizeof(name), "%d thread(s), chains of %d", counts[i], CHAIN);
		row(name, "ticks/op", s, base);
		printf("data threads-syslet %d %.3f\n", counts[i], s.median / base);
	}
	printf("\n");
	close(shared_fd);
}
