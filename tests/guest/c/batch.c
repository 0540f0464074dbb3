// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrent batches: a batch whose chains block gets a carrier per chain,
 * all in flight together. By default the chains after one that blocked run
 * on in the caller's context before the ioctl returns, each handed to a
 * carrier of its own when it blocks. With SYSLET_SUBMIT_RETURN_ON_BLOCK the
 * ioctl returns after the first chain that goes asynchronous, and the
 * chains after it have not started (the helper syslet_submit_all() submits
 * them again).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <syslet.h>

#include "nap.h"
#include "tap.h"

#define PIPES 16

/* A context whose @spares spares are all parked, and no more. */
static void ctx_open(struct spare_ctx *c, unsigned int spares)
{
	spare_ctx_open(c, spares, 0);
	CHECK_EQ(syslet_fdinfo_value(c->fd, "syslet-spares"), spares);
}

/* @n one-read chains of @n new empty pipes, cookies from @cookie0. */
static void prep_pipe_reads(int n, int (*p)[2], struct syslet_atom *a,
			    struct syslet_atom **firsts, char *buf, __u64 cookie0)
{
	for (int i = 0; i < n; i++) {
		CHECK(pipe(p[i]) == 0);
		syslet_atom_prep(&a[i], SYS_read, p[i][0], syslet_ptr(&buf[i]), 1, 0, 0, 0);
		a[i].cookie = cookie0 + i;
		firsts[i] = &a[i];
	}
}

/* Feeds the pipes from the last to the first: their reads, all in flight,
 * complete in that order. */
static void feed_in_reverse(int fd, struct syslet_ring_map *ring, int n, int (*p)[2],
			    __u64 cookie0)
{
	for (int i = n - 1; i >= 0; i--) {
		struct syslet_outcome got;

		CHECK_EQ(write(p[i][1], "x", 1), 1);
		CHECK_EQ(syslet_wait_reap(fd, ring, &got, 1, 1, 5000000000LL), 1);
		CHECK_EQ(got.cookie, cookie0 + i);
		CHECK_EQ(got.result, 1);
	}
}

TEST(the_feature_is_reported_and_sync_only_refuses_it)
{
	struct syslet_query q;
	struct syslet_atom a, *first = &a;
	struct syslet_outcome o;
	int fd = syslet_open();

	CHECK(fd >= 0);
	CHECK_EQ(syslet_query(fd, &q), 0);
	CHECK(q.features & SYSLET_FEAT_RETURN_ON_BLOCK);
	syslet_atom_prep(&a, SYS_getppid, 0, 0, 0, 0, 0, 0);
	CHECK_EQ(syslet_submit_flags(fd, &first, 1, &o,
				     SYSLET_SUBMIT_SYNC_ONLY | SYSLET_SUBMIT_RETURN_ON_BLOCK, NULL),
		 -EINVAL);
	/* Nothing blocks: the flag changes nothing. */
	CHECK_EQ(syslet_submit_flags(fd, &first, 1, &o, SYSLET_SUBMIT_RETURN_ON_BLOCK, NULL), 1);
	CHECK_EQ(o.result, getppid());
}

/*
 * The ioctl itself: a chain that runs, one that blocks, one after it. The
 * ioctl returns done 1, queued 1; the third did not start (its result word
 * is untouched) and cannot be cancelled; the second completes when fed.
 */
TEST(the_ioctl_returns_after_the_chain_that_blocked)
{
	struct syslet_atom a[3], *firsts[3] = { &a[0], &a[1], &a[2] };
	struct syslet_outcome o[3];
	__s64 res[3] = { 7, 7, 7 };
	unsigned int queued = 0;
	struct spare_ctx c;
	char buf[4];
	int p[2];

	CHECK(pipe(p) == 0);
	ctx_open(&c, 1);
	syslet_atom_prep(&a[0], SYS_getppid, 0, 0, 0, 0, 0, 0);
	syslet_atom_prep(&a[1], SYS_read, p[0], syslet_ptr(buf), 1, 0, 0, 0);
	syslet_atom_prep(&a[2], SYS_getppid, 0, 0, 0, 0, 0, 0);
	for (int i = 0; i < 3; i++) {
		syslet_atom_result(&a[i], &res[i]);
		a[i].cookie = 100 + i;
	}
	CHECK_EQ(syslet_submit_flags(c.fd, firsts, 3, o, SYSLET_SUBMIT_RETURN_ON_BLOCK, &queued), 1);
	CHECK_EQ(queued, 1);
	CHECK_EQ(o[0].result, getppid());
	CHECK_EQ(res[2], 7);
	CHECK_EQ(syslet_cancel(c.fd, 102, 0), -ENOENT);
	CHECK_EQ(write(p[1], "x", 1), 1);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, o, 3, 1, 5000000000LL), 1);
	CHECK_EQ(o[0].cookie, 101);
	CHECK_EQ(o[0].result, 1);
	usleep(20 * 1000);
	CHECK_EQ(syslet_ring_ready(&c.ring), 0);
	CHECK_EQ(res[2], 7);
}

/*
 * Sixteen reads of sixteen empty pipes, all queued, each on a carrier of
 * its own, in one call of the helper syslet_submit_all() (an ioctl per
 * chain that blocks) or, with @one_call, in one plain submission (the
 * chains after the first run on in the caller's context, each handed off
 * when it blocks). Feeding the pipes in reverse order completes the reads
 * in that order; with one carrier for the batch the first write (to the
 * last pipe) would complete nothing.
 */
static void sixteen_reads_in_flight(int one_call, __u64 cookie0)
{
	struct syslet_atom a[PIPES], *firsts[PIPES];
	struct syslet_outcome o[PIPES];
	unsigned int queued = 0;
	int p[PIPES][2];
	char buf[PIPES];
	struct spare_ctx c;
	struct syslet_query q;

	ctx_open(&c, PIPES);
	CHECK_EQ(syslet_query(c.fd, &q), 0);
	CHECK(q.features & SYSLET_FEAT_CONCURRENT_BATCH);
	prep_pipe_reads(PIPES, p, a, firsts, buf, cookie0);
	if (one_call) {
		CHECK_EQ(syslet_submit_flags(c.fd, firsts, PIPES, o, 0, &queued), 0);
	} else {
		CHECK_EQ(syslet_submit_all(c.fd, firsts, PIPES, o, 0, 0, &queued), 0);
		for (int i = 0; i < PIPES; i++)
			CHECK_EQ(o[i].flags, SYSLET_OUTCOME_USER);
	}
	CHECK_EQ(queued, PIPES);
	feed_in_reverse(c.fd, &c.ring, PIPES, p, cookie0);
	CHECK_EQ(syslet_fdinfo_value(c.fd, "syslet-went-async"), PIPES);
	CHECK_EQ(syslet_fdinfo_value(c.fd, "syslet-continued"), one_call ? PIPES - 1 : 0);
}

TEST(a_batch_of_blocking_reads_has_a_carrier_each)
{
	sixteen_reads_in_flight(0, 200);
}

TEST(one_submission_of_blocking_reads_has_them_all_in_flight)
{
	sixteen_reads_in_flight(1, 400);
}

/*
 * A chain after a blocked one that does not block has run, in the
 * caller's context, by the time the ioctl returns: its result is in its
 * atom's result word and its completion in the ring already.
 */
TEST(the_chains_after_a_blocked_one_run_before_the_ioctl_returns)
{
	struct syslet_atom a[4], *firsts[4] = { &a[0], &a[1], &a[2], &a[3] };
	struct syslet_outcome o[4], got[2];
	__s64 res[4] = { 7, 7, 7, 7 };
	unsigned int queued = 0;
	struct spare_ctx c;
	char buf[3];
	int p[3][2];

	ctx_open(&c, 3);
	for (int i = 0; i < 3; i++)
		CHECK(pipe(p[i]) == 0);
	syslet_atom_prep(&a[0], SYS_read, p[0][0], syslet_ptr(&buf[0]), 1, 0, 0, 0);
	syslet_atom_prep(&a[1], SYS_getppid, 0, 0, 0, 0, 0, 0);
	syslet_atom_prep(&a[2], SYS_read, p[1][0], syslet_ptr(&buf[1]), 1, 0, 0, 0);
	syslet_atom_prep(&a[3], SYS_read, p[2][0], syslet_ptr(&buf[2]), 1, 0, 0, 0);
	for (int i = 0; i < 4; i++) {
		syslet_atom_result(&a[i], &res[i]);
		a[i].cookie = 500 + i;
	}
	CHECK_EQ(syslet_submit_flags(c.fd, firsts, 4, o, 0, &queued), 0);
	CHECK_EQ(queued, 4);
	CHECK_EQ(res[1], getppid());
	CHECK_EQ(syslet_ring_ready(&c.ring), 1);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, got, 1, 1, 1000000000LL), 1);
	CHECK_EQ(got[0].cookie, 501);
	CHECK_EQ(got[0].result, getppid());
	/* The three reads are in flight together. */
	for (int i = 2; i >= 0; i--) {
		CHECK_EQ(write(p[i][1], "x", 1), 1);
		CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, got, 1, 1, 2000000000LL), 1);
		CHECK_EQ(got[0].cookie, i == 0 ? 500 : 501 + i);
		CHECK_EQ(got[0].result, 1);
	}
	CHECK_EQ(syslet_fdinfo_value(c.fd, "syslet-went-async"), 3);
}

/*
 * The chains after a blocked one run as the caller's thread: a gettid and
 * a getuid atom of the rest see the program's thread id and uid (they run
 * on the spare that took the context, before the ioctl returns; before
 * concurrent batches they ran later, on the carrier, under another id).
 */
TEST(the_rest_of_a_batch_runs_as_the_callers_thread)
{
	struct syslet_atom a[3], *firsts[3] = { &a[0], &a[1], &a[2] };
	struct syslet_outcome o[3], got;
	__s64 res[3] = { -1, -1, -1 };
	unsigned int queued = 0;
	struct spare_ctx c;
	char buf;
	int p[2];

	CHECK(pipe(p) == 0);
	ctx_open(&c, 2);
	syslet_atom_prep(&a[0], SYS_read, p[0], syslet_ptr(&buf), 1, 0, 0, 0);
	syslet_atom_prep(&a[1], SYS_gettid, 0, 0, 0, 0, 0, 0);
	syslet_atom_prep(&a[2], SYS_getuid, 0, 0, 0, 0, 0, 0);
	for (int i = 0; i < 3; i++) {
		syslet_atom_result(&a[i], &res[i]);
		a[i].cookie = 700 + i;
	}
	CHECK_EQ(syslet_submit_flags(c.fd, firsts, 3, o, 0, &queued), 0);
	CHECK_EQ(queued, 3);
	CHECK_EQ(res[1], syscall(SYS_gettid));
	CHECK_EQ(res[2], getuid());
	CHECK_EQ(write(p[1], "x", 1), 1);
	for (int n = 0; n < 3; n++)
		CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, &got, 1, 1, 2000000000LL), 1);
}

#define DEEP 200

/*
 * Depth beyond the old 32 threads: 200 reads of 200 empty pipes in one
 * submission, with 16 spares configured, all in flight (the spare running
 * the rest makes a new spare for each one that blocks), then completed in
 * reverse order.
 */
TEST(two_hundred_reads_in_flight_in_one_context)
{
	static struct syslet_atom a[DEEP], *firsts[DEEP];
	static int p[DEEP][2];
	static char buf[DEEP];
	struct syslet_setup s = { .spares = 16, .max_threads = 2 * DEEP + 2, .ring_entries = 256 };
	struct syslet_ring_map ring = { 0 };
	struct syslet_query q;
	unsigned int queued = 0;
	int fd = syslet_open();

	CHECK(fd >= 0);
	CHECK_EQ(syslet_query(fd, &q), 0);
	CHECK_EQ(q.max_threads, 1024);
	CHECK_EQ(syslet_setup(fd, &s), 0);
	CHECK_EQ(s.max_threads, 2 * DEEP + 2);
	CHECK_EQ(syslet_ring_mmap(fd, &s, &ring), 0);
	prep_pipe_reads(DEEP, p, a, firsts, buf, 1000);
	CHECK_EQ(syslet_submit_flags(fd, firsts, DEEP, NULL, 0, &queued), 0);
	CHECK_EQ(queued, DEEP);
	CHECK_EQ(syslet_fdinfo_value(fd, "syslet-went-async"), DEEP);
	CHECK_EQ(syslet_fdinfo_value(fd, "syslet-blocked-sync"), 0);
	CHECK(syslet_fdinfo_value(fd, "syslet-threads") >= DEEP);
	feed_in_reverse(fd, &ring, DEEP, p, 1000);
	for (int i = 0; i < DEEP; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	close(fd);
}

static volatile sig_atomic_t sigio_seen;

static void on_sigio(int sig)
{
	(void)sig;
	sigio_seen++;
}

/*
 * A signal that becomes pending for the caller while the rest of a batch
 * runs in its context (a write to a pipe set to send SIGIO to the caller's
 * thread id) sends the chains left to one carrier at once: the ioctl
 * returns, the handler runs, and the chain after the write still completes
 * through the ring when its pipe is fed.
 */
TEST(a_signal_sends_the_rest_of_a_batch_to_a_carrier)
{
	struct syslet_atom a[3], *firsts[3] = { &a[0], &a[1], &a[2] };
	struct syslet_outcome o[3], got;
	struct f_owner_ex owner = { .type = F_OWNER_TID, .pid = (pid_t)syscall(SYS_gettid) };
	unsigned int queued = 0;
	struct spare_ctx c;
	char buf[2];
	int p[2], q[2], r[2];

	CHECK(signal(SIGIO, on_sigio) != SIG_ERR);
	CHECK(pipe(p) == 0 && pipe(q) == 0 && pipe(r) == 0);
	CHECK(fcntl(q[0], F_SETOWN_EX, &owner) == 0);
	CHECK(fcntl(q[0], F_SETFL, O_ASYNC | O_NONBLOCK) == 0);
	ctx_open(&c, 3);
	syslet_atom_prep(&a[0], SYS_read, p[0], syslet_ptr(&buf[0]), 1, 0, 0, 0);
	syslet_atom_prep(&a[1], SYS_write, q[1], syslet_ptr("s"), 1, 0, 0, 0);
	syslet_atom_prep(&a[2], SYS_read, r[0], syslet_ptr(&buf[1]), 1, 0, 0, 0);
	for (int i = 0; i < 3; i++)
		a[i].cookie = 600 + i;
	CHECK_EQ(syslet_submit_flags(c.fd, firsts, 3, o, 0, &queued), 0);
	CHECK_EQ(queued, 3);
	CHECK_EQ(sigio_seen, 1);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, &got, 1, 1, 2000000000LL), 1);
	CHECK_EQ(got.cookie, 601);
	CHECK_EQ(got.result, 1);
	/* The third chain is on the carrier, not run yet: feed it, then the first. */
	CHECK_EQ(write(r[1], "x", 1), 1);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, &got, 1, 1, 2000000000LL), 1);
	CHECK_EQ(got.cookie, 602);
	CHECK_EQ(got.result, 1);
	CHECK_EQ(write(p[1], "x", 1), 1);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, &got, 1, 1, 2000000000LL), 1);
	CHECK_EQ(got.cookie, 600);
	CHECK_EQ(syslet_fdinfo_value(c.fd, "syslet-went-async"), 2);
	CHECK_EQ(syslet_fdinfo_value(c.fd, "syslet-continued"), 1);
}

/*
 * A deadline the helper makes absolute: every part of the batch has it.
 * A part submitted after the deadline passed (a slow machine) runs, and
 * times out, synchronously: every chain ends in ETIME either way.
 */
TEST(the_whole_batch_shares_one_deadline)
{
	struct syslet_atom a[4], *firsts[4];
	struct syslet_outcome o[4], reaped[4];
	unsigned int queued = 0;
	int p[2], sync, timed_out = 0;
	char buf[4];
	struct spare_ctx c;

	CHECK(pipe(p) == 0);
	ctx_open(&c, 4);
	for (int i = 0; i < 4; i++) {
		syslet_atom_prep(&a[i], SYS_read, p[0], syslet_ptr(&buf[i]), 1, 0, 0, 0);
		a[i].cookie = 300 + i;
		firsts[i] = &a[i];
	}
	sync = syslet_submit_all(c.fd, firsts, 4, o, SYSLET_SUBMIT_TIMEOUT, 20 * 1000 * 1000,
				 &queued);
	CHECK(sync >= 0);
	CHECK_EQ(sync + queued, 4);
	/* The outcome of a chain that went asynchronous says only that. */
	for (int i = 0; i < 4; i++) {
		if (o[i].flags & SYSLET_OUTCOME_USER)
			continue;
		CHECK_EQ(o[i].result, -ETIME);
		CHECK(o[i].flags & SYSLET_OUTCOME_TIMED_OUT);
		timed_out++;
	}
	CHECK_EQ(timed_out, sync);
	if (queued)
		CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, reaped, queued, queued, 5000000000LL),
			 (int)queued);
	for (unsigned int i = 0; i < queued; i++) {
		CHECK_EQ(reaped[i].result, -ETIME);
		CHECK(reaped[i].flags & SYSLET_OUTCOME_TIMED_OUT);
	}
}
