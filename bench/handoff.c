// SPDX-License-Identifier: GPL-2.0
/*
 * The cost of going asynchronous, per operation that blocks:
 *
 *  - the floor of handing work to another thread: a futex wake plus a
 *    context switch (half a ping-pong round trip between two threads);
 *  - a syslet cachemiss: submitting a chain whose read blocks, until the
 *    caller regains control (a parked spare took over its user context);
 *  - io_uring's punt of a read to its worker (IOSQE_ASYNC):
 *    io_uring_enter() returns once the read is queued to io-wq.
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <syslet.h>
#include <sys/syscall.h>

#include "bench.h"
#include "uring.h"

static _Atomic int token;
static int rounds;

static void futex_wait(_Atomic int *w, int val)
{
	syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic int *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *pong(void *arg)
{
	(void)arg;
	for (int i = 0; i < rounds; i++) {
		while (atomic_load(&token) != 1)
			futex_wait(&token, 0);
		atomic_store(&token, 0);
		futex_wake(&token);
	}
	return NULL;
}

/* Ticks for one hand-off: half a round trip. */
static double futex_handoff(int n)
{
	pthread_t t;
	double t0;

	rounds = n;
	atomic_store(&token, 0);
	if (pthread_create(&t, NULL, pong, NULL))
		abort();
	t0 = now_ticks();
	for (int i = 0; i < n; i++) {
		atomic_store(&token, 1);
		futex_wake(&token);
		while (atomic_load(&token) != 0)
			futex_wait(&token, 1);
	}
	pthread_join(t, NULL);
	return (now_ticks() - t0) / (2.0 * n);
}

/* Ticks from submitting a chain that blocks to getting control back. */
static double cachemiss(int fd, struct syslet_ring_map *ring, int n)
{
	struct syslet_atom a, nop = { .nr = SYS_getppid };
	struct syslet_outcome o;
	double sum = 0;
	char c;
	int p[2];

	if (pipe(p))
		abort();
	syslet_atom_prep(&a, SYS_read, p[0], syslet_ptr(&c), 1, 0, 0, 0);
	for (int i = 0; i < n; i++) {
		/* Both spares parked, so the timed submission starts none. */
		if (syslet_run(fd, &nop, &o) != 1)
			abort();
		while (syslet_fdinfo_value(fd, "syslet-spares") < 2)
			usleep(1000);
		double t0 = now_ticks();

		if (syslet_run(fd, &a, &o) != 0)
			abort(); /* did not go asynchronous */
		sum += now_ticks() - t0;
		if (write(p[1], "x", 1) != 1 || syslet_wait_reap(fd, ring, &o, 1, 1, -1) != 1)
			abort();
	}
	close(p[0]);
	close(p[1]);
	return sum / n;
}

/* Ticks from submitting a read punted to io-wq to enter()'s return. */
static double uring_punt(struct uring *u, int n)
{
	double sum = 0;
	char c;
	int p[2];

	if (pipe(p))
		abort();
	for (int i = 0; i < n; i++) {
		uring_prep_read(u, p[0], &c, 1, 0, IOSQE_ASYNC, 0);
		double t0 = now_ticks();

		if (uring_submit(u, 0) != 1)
			abort();
		sum += now_ticks() - t0;
		if (write(p[1], "x", 1) != 1 || uring_submit(u, 1) < 0 || uring_reap(u) != 1)
			abort();
	}
	close(p[0]);
	close(p[1]);
	return sum / n;
}

void bench_handoff(void)
{
	struct syslet_setup setup = { .spares = 2, .max_threads = 8 };
	struct syslet_ring_map ring = { 0 };
	struct uring u = { 0 };
	struct stat3 s;
	double floor_ticks;
	int fd = syslet_open();

	if (fd < 0 || syslet_setup(fd, &setup) || syslet_ring_mmap(fd, &setup, &ring))
		abort();
	printf("## going asynchronous, per blocking operation (ratio to the futex floor)\n");
	s = MEASURE(futex_handoff(2000));
	floor_ticks = s.median;
	row("futex wake + switch (floor)", "ticks", s, floor_ticks);
	s = MEASURE(cachemiss(fd, &ring, 50));
	row("syslet cachemiss: submit -> queued", "ticks", s, floor_ticks);
	printf("data handoff-syslet 0 %.3f\n", s.median / floor_ticks);
	if (uring_init(&u, 8) == 0) {
		s = MEASURE(uring_punt(&u, 50));
		row("io_uring IOSQE_ASYNC punt", "ticks", s, floor_ticks);
		printf("data handoff-uring 0 %.3f\n", s.median / floor_ticks);
		uring_exit(&u);
	}
	printf("\n");
	syslet_ring_munmap(&ring);
	close(fd);
}
