// SPDX-License-Identifier: GPL-2.0
/*
 * First benchmarks of syslets, run in the guest by `make bench`.
 *
 * Everything is measured in one boot, side by side, in TSC ticks, and
 * reported as the median of several repetitions with the spread (min..max).
 * Under TCG the absolute times are emulated and mean little; compare the
 * ratios.
 *
 *  1. per-operation cost of getppid(): one system call each, versus the same
 *     calls as one syslet chain of 1, 8, 64 and 512 atoms;
 *  2. per-operation cost of a 1-byte pread() of a cached file: one system
 *     call each, versus syslet chains of 1, 8, 64 and 512 atoms, versus
 *     io_uring (the kernel's own, raw system calls: bench/uring.h) with
 *     batches of the same sizes, each submitted and waited for with one
 *     io_uring_enter();
 *  3. cachemiss hand-off: submitting a chain whose read blocks until the
 *     caller regains control ("queued"), versus the floor of handing work
 *     to another thread: a futex wake plus a context switch (half a
 *     ping-pong round trip between two threads), versus io_uring's punt of
 *     a read to its worker (IOSQE_ASYNC: io_uring_enter() returns once the
 *     read is queued to io-wq).
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <syslet.h>
#include <time.h>
#include <x86intrin.h>

#include "uring.h"

#define REPS 7

/*
 * Time in TSC ticks: the guest's clock source under TCG can be jiffies
 * (milliseconds), far too coarse for one hand-off; the TSC is fine-grained,
 * and ratios do not need its frequency.
 */
static double now_ticks(void)
{
	return (double)__rdtsc();
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stat3 {
	double median, min, max;
};

static struct stat3 summarize(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return (struct stat3){ v[n / 2], v[0], v[n - 1] };
}

/* Ticks per getppid(), issued one by one. */
static double plain_getppid(int ops)
{
	double t0 = now_ticks();

	for (int i = 0; i < ops; i++)
		syscall(SYS_getppid);
	return (now_ticks() - t0) / ops;
}

/* Ticks per getppid() atom, in chains of @len atoms. */
static double chain_getppid(int fd, struct syslet_atom *a, int len, int ops)
{
	struct syslet_outcome o;
	int chains = ops / len;
	double t0;

	for (int i = 0; i < len; i++) {
		syslet_atom_prep(&a[i], SYS_getppid, 0, 0, 0, 0, 0, 0);
		a[i].next = i + 1 < len ? syslet_ptr(&a[i + 1]) : 0;
	}
	t0 = now_ticks();
	for (int c = 0; c < chains; c++)
		if (syslet_run_sync(fd, a, &o) != 0 || o.atoms_run != (unsigned)len)
			abort();
	return (now_ticks() - t0) / ((double)chains * len);
}

/* Ticks per 1-byte pread() of a cached file, one by one. */
static double plain_pread(int file, int ops)
{
	char c;
	double t0 = now_ticks();

	for (int i = 0; i < ops; i++)
		if (pread(file, &c, 1, 0) != 1)
			abort();
	return (now_ticks() - t0) / ops;
}

/* Ticks per pread() atom, in chains of @len atoms. */
static double chain_pread(int fd, int file, struct syslet_atom *a, int len, int ops)
{
	static char c;
	struct syslet_outcome o;
	int chains = ops / len;
	double t0;

	for (int i = 0; i < len; i++) {
		syslet_atom_prep(&a[i], SYS_pread64, file, syslet_ptr(&c), 1, 0, 0, 0);
		a[i].next = i + 1 < len ? syslet_ptr(&a[i + 1]) : 0;
	}
	t0 = now_ticks();
	for (int c = 0; c < chains; c++)
		if (syslet_run_sync(fd, a, &o) != 0 || o.atoms_run != (unsigned)len || o.result != 1)
			abort();
	return (now_ticks() - t0) / ((double)chains * len);
}

/* Ticks per pread, io_uring batches of @len reads, one enter() each. */
static double uring_pread(struct uring *u, int file, int len, int ops)
{
	static char c;
	int batches = ops / len;
	double t0 = now_ticks();

	for (int b = 0; b < batches; b++) {
		for (int i = 0; i < len; i++)
			uring_prep_read(u, file, &c, 1, 0, 0);
		if (uring_enter(u, len, len) != len || uring_reap(u) != len)
			abort();
	}
	return (now_ticks() - t0) / ((double)batches * len);
}

/* Ticks from submitting a read that blocks, punted to io-wq, to enter()'s return. */
static double uring_punt(struct uring *u, int n)
{
	double sum = 0;
	char c;
	int p[2];

	if (pipe(p))
		abort();
	for (int i = 0; i < n; i++) {
		uring_prep_read(u, p[0], &c, 1, 0, IOSQE_ASYNC);
		double t0 = now_ticks();

		if (uring_enter(u, 1, 0) != 1)
			abort();
		sum += now_ticks() - t0;
		if (write(p[1], "x", 1) != 1 || uring_enter(u, 0, 1) < 0 || uring_reap(u) != 1)
			abort();
	}
	close(p[0]);
	close(p[1]);
	return sum / n;
}

/* Futex ping-pong: two threads hand a token back and forth. */
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
	pthread_create(&t, NULL, pong, NULL);
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
static double cachemiss_handoff(int fd, struct syslet_ring_map *ring, int n)
{
	struct syslet_outcome o;
	struct syslet_atom a;
	double sum = 0;
	char c;
	int p[2];

	if (pipe(p))
		abort();
	syslet_atom_prep(&a, SYS_read, p[0], syslet_ptr(&c), 1, 0, 0, 0);
	for (int i = 0; i < n; i++) {
		/* Both spares parked, so the timed submission starts none. */
		if (syslet_run(fd, &(struct syslet_atom){ .nr = SYS_getppid }, &o) != 1)
			abort();
		while (syslet_fdinfo_value(fd, "syslet-spares") < 2)
			usleep(1000);
		double t0 = now_ticks();

		if (syslet_run(fd, &a, &o) != 0)
			abort();	/* did not go asynchronous */
		sum += now_ticks() - t0;
		if (write(p[1], "x", 1) != 1 || syslet_wait_reap(fd, ring, &o, 1, 1, -1) != 1)
			abort();
	}
	close(p[0]);
	close(p[1]);
	return sum / n;
}

int main(void)
{
	static struct syslet_atom atoms[512];
	static const int lens[] = { 1, 8, 64, 512 };
	struct syslet_setup setup = { .spares = 2, .max_threads = 8 };
	struct syslet_ring_map ring = { 0 };
	double v[REPS], plain;
	struct stat3 s;
	int fd = syslet_open(), ops = 32768;

	if (fd < 0 || syslet_setup(fd, &setup) || syslet_ring_mmap(fd, &setup, &ring)) {
		fprintf(stderr, "bench: cannot set up /dev/syslet\n");
		return 1;
	}
	printf("bench: %d repetitions each; median [min..max] in TSC ticks; TCG times are "
	       "emulated: compare ratios only\n\n", REPS);

	for (int r = 0; r < REPS; r++)
		v[r] = plain_getppid(ops);
	s = summarize(v, REPS);
	plain = s.median;
	printf("%-34s %9.1f ticks/op [%.1f..%.1f]  ratio 1.00\n", "getppid, one syscall each",
	       s.median, s.min, s.max);
	for (unsigned int l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		char name[64];

		for (int r = 0; r < REPS; r++)
			v[r] = chain_getppid(fd, atoms, lens[l], ops);
		s = summarize(v, REPS);
		snprintf(name, sizeof(name), "getppid, syslet chain of %d", lens[l]);
		printf("%-34s %9.1f ticks/op [%.1f..%.1f]  ratio %.2f\n", name, s.median, s.min,
		       s.max, s.median / plain);
	}

	printf("\n");
	struct uring u = { 0 };
	int file = open("/tmp/bench-file", O_RDWR | O_CREAT | O_TRUNC, 0600);
	int have_uring = uring_init(&u, 512) == 0;

	if (file < 0 || write(file, "0123456789", 10) != 10)
		abort();
	if (!have_uring)
		printf("(no io_uring in this kernel: its rows are left out)\n");
	for (int r = 0; r < REPS; r++)
		v[r] = plain_pread(file, ops);
	s = summarize(v, REPS);
	plain = s.median;
	printf("%-34s %9.1f ticks/op [%.1f..%.1f]  ratio 1.00\n", "pread 1 byte, one syscall each",
	       s.median, s.min, s.max);
	for (unsigned int l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		char name[64];
		struct stat3 sy;

		for (int r = 0; r < REPS; r++)
			v[r] = chain_pread(fd, file, atoms, lens[l], ops);
		sy = summarize(v, REPS);
		snprintf(name, sizeof(name), "pread, syslet chain of %d", lens[l]);
		printf("%-34s %9.1f ticks/op [%.1f..%.1f]  ratio %.2f\n", name, sy.median, sy.min,
		       sy.max, sy.median / plain);
		if (!have_uring)
			continue;
		for (int r = 0; r < REPS; r++)
			v[r] = uring_pread(&u, file, lens[l], ops);
		s = summarize(v, REPS);
		snprintf(name, sizeof(name), "pread, io_uring batch of %d", lens[l]);
		printf("%-34s %9.1f ticks/op [%.1f..%.1f]  ratio %.2f  (syslet/io_uring %.2f)\n",
		       name, s.median, s.min, s.max, s.median / plain, sy.median / s.median);
	}

	printf("\n");
	double floor_ticks;

	for (int r = 0; r < REPS; r++)
		v[r] = futex_handoff(2000);
	s = summarize(v, REPS);
	floor_ticks = s.median;
	printf("%-34s %9.1f ticks [%.1f..%.1f]  ratio 1.00\n", "futex wake + switch (floor)",
	       s.median, s.min, s.max);
	for (int r = 0; r < REPS; r++)
		v[r] = cachemiss_handoff(fd, &ring, 50);
	s = summarize(v, REPS);
	printf("%-34s %9.1f ticks [%.1f..%.1f]  ratio %.2f\n", "cachemiss: submit -> queued",
	       s.median, s.min, s.max, s.median / floor_ticks);
	if (have_uring) {
		for (int r = 0; r < REPS; r++)
			v[r] = uring_punt(&u, 50);
		s = summarize(v, REPS);
		printf("%-34s %9.1f ticks [%.1f..%.1f]  ratio %.2f\n", "io_uring IOSQE_ASYNC punt",
		       s.median, s.min, s.max, s.median / floor_ticks);
	}
	return 0;
}
