// SPDX-License-Identifier: GPL-2.0
/*
 * Cheap system calls: what a syslet chain saves per operation.
 *
 *  - getppid(): one system call each, versus the same calls as one syslet
 *    chain of 1, 8, 64 and 512 atoms (io_uring has no such operation);
 *  - a 1-byte pread() of a cached file: one system call each, versus syslet
 *    chains of the same lengths, versus io_uring (through liburing:
 *    uring.h) with batches of the same sizes, each submitted and waited
 *    for with one io_uring_submit_and_wait().
 *
 * Chains are submitted with SYSLET_SUBMIT_SYNC_ONLY: nothing here blocks,
 * and the figure is the interpreter's cost, not the hand-off's.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <syslet.h>
#include <sys/syscall.h>

#include "bench.h"
#include "uring.h"

static const int lens[] = { 1, 8, 64, 512 };
static struct syslet_atom atoms[512];
static char byte;

/* Ticks per getppid(), issued one by one. */
static double plain_getppid(int ops)
{
	double t0 = now_ticks();

	for (int i = 0; i < ops; i++)
		syscall(SYS_getppid);
	return (now_ticks() - t0) / ops;
}

/* Ticks per 1-byte pread() of @file, one by one. */
static double plain_pread(int file, int ops)
{
	double t0 = now_ticks();

	for (int i = 0; i < ops; i++)
		if (pread(file, &byte, 1, 0) != 1)
			abort();
	return (now_ticks() - t0) / ops;
}

/* Links atoms[0..len) into one chain of system call @nr with @a0..@a2. */
static void make_chain(int len, int nr, __u64 a0, __u64 a1, __u64 a2)
{
	for (int i = 0; i < len; i++) {
		syslet_atom_prep(&atoms[i], nr, a0, a1, a2, 0, 0, 0);
		atoms[i].next = i + 1 < len ? syslet_ptr(&atoms[i + 1]) : 0;
	}
}

/* Ticks per atom of the chain in atoms[0..len), run @ops / @len times. */
static double run_chain(int fd, int len, int ops)
{
	struct syslet_outcome o;
	int chains = ops / len;
	double t0 = now_ticks();

	for (int c = 0; c < chains; c++)
		if (syslet_run_sync(fd, atoms, &o) != 0 || o.atoms_run != (unsigned int)len ||
		    o.result < 0)
			abort();
	return (now_ticks() - t0) / ((double)chains * len);
}

/* Ticks per pread in io_uring batches of @len reads, one enter() each. */
static double uring_pread(struct uring *u, int file, int len, int ops)
{
	int batches = ops / len;
	double t0 = now_ticks();

	for (int b = 0; b < batches; b++) {
		for (int i = 0; i < len; i++)
			uring_prep_read(u, file, &byte, 1, 0, 0, 0);
		if (uring_submit(u, len) != len || uring_reap(u) != len)
			abort();
	}
	return (now_ticks() - t0) / ((double)batches * len);
}

/*
 * SYSLET_BENCH_ONLY=METHOD:LEN runs one row alone, @ops operations once
 * (scripts/profile.sh profiles it): getppid or pread one system call each
 * (LEN ignored), chain-getppid or chain-pread in chains of LEN atoms, or
 * none for nothing at all.
 */
static void run_only(const char *only, int fd, int file, int ops)
{
	char method[32];
	int len = 1;

	if (sscanf(only, "%31[^:]:%d", method, &len) < 1 || len < 0 ||
	    len > (int)(sizeof(atoms) / sizeof(atoms[0]))) {
		printf("SYSLET_BENCH_ONLY=%s: not METHOD:LEN\n", only);
		exit(1);
	}
	len = len ? len : 1;
	ops -= ops % len;
	if (!strcmp(method, "getppid")) {
		plain_getppid(ops);
	} else if (!strcmp(method, "pread")) {
		plain_pread(file, ops);
	} else if (!strcmp(method, "chain-getppid")) {
		make_chain(len, SYS_getppid, 0, 0, 0);
		run_chain(fd, len, ops);
	} else if (!strcmp(method, "chain-pread")) {
		make_chain(len, SYS_pread64, file, syslet_ptr(&byte), 1);
		run_chain(fd, len, ops);
	} else {
		if (strcmp(method, "none"))
			printf("SYSLET_BENCH_ONLY: no method %s\n", method);
		ops = 0;
	}
	/* The operations done, which the profile divides by. */
	printf("data reads-done %d\n", ops);
}

void bench_cheap(void)
{
	const char *only = getenv("SYSLET_BENCH_ONLY");
	struct syslet_setup setup = { .flags = SYSLET_SETUP_NO_SPARES };
	struct uring u = { 0 };
	int fd = syslet_open(), ops = 32768, file, have_uring;
	struct stat3 s, sy;
	double plain;
	char name[64];

	file = open("/tmp/bench-file", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || syslet_setup(fd, &setup) || file < 0 || write(file, "0123456789", 10) != 10)
		abort();
	if (only) {
		/* Enough operations to stand out of the boot's own work. */
		run_only(only, fd, file, 1 << 20);
		close(file);
		close(fd);
		return;
	}
	have_uring = uring_init(&u, 512) == 0;

	printf("## cheap system calls, per operation (ratio to one system call each)\n");
	s = MEASURE(plain_getppid(ops));
	plain = s.median;
	row("getppid, one syscall each", "ticks/op", s, plain);
	for (unsigned int l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		make_chain(lens[l], SYS_getppid, 0, 0, 0);
		s = MEASURE(run_chain(fd, lens[l], ops));
		snprintf(name, sizeof(name), "getppid, syslet chain of %d", lens[l]);
		row(name, "ticks/op", s, plain);
		printf("data chain-getppid %d %.3f\n", lens[l], s.median / plain);
	}

	printf("\n");
	if (!have_uring)
		printf("(no io_uring in this kernel: its rows are left out)\n");
	s = MEASURE(plain_pread(file, ops));
	plain = s.median;
	row("pread 1 byte, one syscall each", "ticks/op", s, plain);
	for (unsigned int l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		make_chain(lens[l], SYS_pread64, file, syslet_ptr(&byte), 1);
		sy = MEASURE(run_chain(fd, lens[l], ops));
		snprintf(name, sizeof(name), "pread, syslet chain of %d", lens[l]);
		row(name, "ticks/op", sy, plain);
		printf("data chain-pread %d %.3f\n", lens[l], sy.median / plain);
		if (!have_uring)
			continue;
		s = MEASURE(uring_pread(&u, file, lens[l], ops));
		snprintf(name, sizeof(name), "pread, io_uring batch of %d", lens[l]);
		row(name, "ticks/op", s, plain);
		printf("%-40s %10.2f\n", "  syslet chain / io_uring batch", sy.median / s.median);
		printf("data uring-pread %d %.3f\n", lens[l], s.median / plain);
	}
	printf("\n");
	uring_exit(&u);
	close(file);
	close(fd);
}
