// SPDX-License-Identifier: GPL-2.0
/*
 * SYSLET_SUBMIT_RETURN_ON_BLOCK: a batch whose chains block gets a carrier
 * per chain, all in flight together (without it, one carrier runs the rest
 * of the batch after the chain that blocked, one at a time); the ioctl
 * returns after the first chain that goes asynchronous, and the chains
 * after it have not started.
 */
#define _GNU_SOURCE
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
 * Sixteen reads of sixteen empty pipes in one call of the helper: all
 * sixteen queued, each on its own carrier. Feeding the pipes in reverse
 * order completes the reads in that order; with one carrier for the batch
 * the first write (to the last pipe) would complete nothing.
 */
TEST(a_batch_of_blocking_reads_has_a_carrier_each)
{
	struct syslet_atom a[PIPES], *firsts[PIPES];
	struct syslet_outcome o[PIPES];
	unsigned int queued = 0;
	int p[PIPES][2];
	char buf[PIPES];
	struct spare_ctx c;

	ctx_open(&c, PIPES);
	for (int i = 0; i < PIPES; i++) {
		CHECK(pipe(p[i]) == 0);
		syslet_atom_prep(&a[i], SYS_read, p[i][0], syslet_ptr(&buf[i]), 1, 0, 0, 0);
		a[i].cookie = 200 + i;
		firsts[i] = &a[i];
	}
	CHECK_EQ(syslet_submit_all(c.fd, firsts, PIPES, o, 0, 0, &queued), 0);
	CHECK_EQ(queued, PIPES);
	for (int i = 0; i < PIPES; i++)
		CHECK_EQ(o[i].flags, SYSLET_OUTCOME_USER);
	for (int i = PIPES - 1; i >= 0; i--) {
		struct syslet_outcome got;

		CHECK_EQ(write(p[i][1], "x", 1), 1);
		CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, &got, 1, 1, 2000000000LL), 1);
		CHECK_EQ(got.cookie, 200 + i);
		CHECK_EQ(got.result, 1);
	}
	CHECK_EQ(syslet_fdinfo_value(c.fd, "syslet-went-async"), PIPES);
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
