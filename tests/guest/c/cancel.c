// SPDX-License-Identifier: GPL-2.0
/*
 * SYSLET_IOC_CANCEL: a queued chain blocked for good (a pipe or a socket
 * nobody writes) is stopped at once and posts exactly one completion,
 * marked cancelled; chains of its batch that have not started do not run;
 * the carrier is then a spare like any other.
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/syscall.h>
#include <syslet.h>
#include <time.h>

#include "nap.h"
#include "tap.h"

struct ctx {
	int fd;
	struct syslet_ring_map ring;
};

/* A context with @spares parked spares. */
static void ctx_open(struct ctx *c, unsigned int spares)
{
	struct syslet_setup s = { .spares = spares, .max_threads = 2 * spares + 2 };

	c->fd = syslet_open();
	CHECK(c->fd >= 0);
	CHECK_EQ(syslet_setup(c->fd, &s), 0);
	CHECK_EQ(syslet_ring_mmap(c->fd, &s, &c->ring), 0);
}

static void wait_spares(struct ctx *c, long n)
{
	for (int i = 0; i < 1000 && syslet_fdinfo_value(c->fd, "syslet-spares") < n; i++)
		usleep(2000);
	CHECK(syslet_fdinfo_value(c->fd, "syslet-spares") >= n);
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void check_cancelled(const struct syslet_outcome *o, __u64 cookie, __u32 atoms_run)
{
	CHECK_EQ(o->cookie, cookie);
	CHECK_EQ(o->result, -ECANCELED);
	CHECK_EQ(o->atoms_run, atoms_run);
	CHECK(o->flags & SYSLET_OUTCOME_CANCELLED);
	CHECK(!(o->flags & SYSLET_OUTCOME_ABORTED));
}

/* A read of a pipe nobody writes, then the carrier serves again. */
TEST(cancel_a_blocked_pipe_read)
{
	struct syslet_query q;
	struct syslet_atom a;
	struct syslet_outcome o;
	struct nap n;
	struct ctx c;
	char buf[4];
	__s64 res = 0;
	long long t0;
	int p[2];

	CHECK(pipe(p) == 0);
	ctx_open(&c, 1);
	CHECK_EQ(syslet_query(c.fd, &q), 0);
	CHECK(q.features & SYSLET_FEAT_CANCEL);
	wait_spares(&c, 1);
	syslet_atom_prep(&a, SYS_read, p[0], syslet_ptr(buf), sizeof(buf), 0, 0, 0);
	syslet_atom_result(&a, &res);
	a.cookie = 42;
	CHECK_EQ(syslet_run(c.fd, &a, &o), 0);	/* queued */
	usleep(20 * 1000);
	CHECK_EQ(syslet_ring_ready(&c.ring), 0);
	t0 = now_ns();
	CHECK_EQ(syslet_cancel(c.fd, 42, 0), 1);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, &o, 1, 1, 5000000000LL), 1);
	printf("# completion %lld us after the cancel\n", (now_ns() - t0) / 1000);
	check_cancelled(&o, 42, 1);
	CHECK_EQ(res, -ECANCELED);
	CHECK_EQ(syslet_fdinfo_value(c.fd, "syslet-cancelled"), 1);
	/* Once is enough: nothing queued has that cookie any more. */
	CHECK_EQ(syslet_cancel(c.fd, 42, 0), -ENOENT);
	/* The carrier parks and serves again; its next sleeps are whole. */
	n.ring = c.ring;
	n.ts = (struct timespec){ 0, 20 * 1000 * 1000 };
	syslet_atom_prep(&n.atom, SYS_nanosleep, syslet_ptr(&n.ts), 0, 0, 0, 0, 0);
	wait_spares(&c, 1);
	for (int i = 0; i < 3; i++)
		CHECK(nap_run(c.fd, &n) == 1);
}

/* recv() on a socket nobody writes to. */
TEST(cancel_a_socket_recv_blocked_forever)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	struct ctx c;
	char buf[16];
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ctx_open(&c, 1);
	wait_spares(&c, 1);
	syslet_atom_prep(&a, SYS_recvfrom, sv[0], syslet_ptr(buf), sizeof(buf), 0, 0, 0);
	a.cookie = 7;
	CHECK_EQ(syslet_run(c.fd, &a, &o), 0);
	usleep(20 * 1000);
	CHECK_EQ(syslet_cancel(c.fd, 7, 0), 1);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, &o, 1, 1, 5000000000LL), 1);
	check_cancelled(&o, 7, 1);
	/* The socket is intact: what is sent now is received by a plain call. */
	CHECK(send(sv[1], "ok", 2, 0) == 2);
	CHECK(recv(sv[0], buf, sizeof(buf), 0) == 2);
}

/*
 * SYSLET_CANCEL_ALL with 30 chains queued on three carriers: each carrier
 * runs a batch of ten reads of an empty pipe (SYSLET_SUBMIT_ASYNC_NOW: the
 * first carrier takes the whole batch), blocked in the first; the nine
 * others have not started and do not run.
 */
TEST(cancel_all_with_30_chains_queued)
{
	struct syslet_atom a[3][10], *firsts[10];
	struct syslet_outcome o[30];
	struct ctx c;
	char buf[30];
	unsigned int queued;
	int p[2], got = 0;

	CHECK(pipe(p) == 0);
	ctx_open(&c, 3);
	for (int b = 0; b < 3; b++) {
		wait_spares(&c, 1);
		for (int i = 0; i < 10; i++) {
			syslet_atom_prep(&a[b][i], SYS_read, p[0], syslet_ptr(&buf[b * 10 + i]), 1,
					 0, 0, 0);
			a[b][i].cookie = 100 + b * 10 + i;
			firsts[i] = &a[b][i];
		}
		queued = 0;
		CHECK_EQ(syslet_submit_flags(c.fd, firsts, 10, NULL, SYSLET_SUBMIT_ASYNC_NOW,
					     &queued),
			 0);
		CHECK_EQ(queued, 10);
	}
	usleep(20 * 1000);
	CHECK_EQ(syslet_cancel(c.fd, 0, SYSLET_CANCEL_ALL), 30);
	while (got < 30) {
		int r = syslet_wait_reap(c.fd, &c.ring, &o[got], 30 - got, 1, 5000000000LL);

		CHECK(r > 0);
		got += r;
	}
	for (int i = 0; i < 30; i++) {
		int started = (o[i].cookie - 100) % 10 == 0;

		CHECK(o[i].cookie >= 100 && o[i].cookie < 130);
		check_cancelled(&o[i], o[i].cookie, started);
	}
	CHECK_EQ(syslet_fdinfo_value(c.fd, "syslet-cancelled"), 30);
	/* Nothing is left queued. */
	CHECK_EQ(syslet_cancel(c.fd, 0, SYSLET_CANCEL_ALL), 0);
	usleep(20 * 1000);
	CHECK_EQ(syslet_ring_ready(&c.ring), 0);
}

/*
 * By cookie, a chain of a batch that has not started is stopped and the
 * others run: chain 0 waits for a byte, chain 1 is cancelled, chain 2 runs
 * once chain 0 is done (SYSLET_SUBMIT_ASYNC_NOW: one carrier takes the
 * batch; by default chains 1 and 2 would have run before the ioctl
 * returned).
 */
TEST(cancel_one_chain_of_a_batch_that_has_not_started)
{
	struct syslet_atom a[3], *firsts[3] = { &a[0], &a[1], &a[2] };
	struct syslet_outcome o[3];
	struct ctx c;
	unsigned int queued = 0;
	char buf;
	int p[2];

	CHECK(pipe(p) == 0);
	ctx_open(&c, 1);
	wait_spares(&c, 1);
	syslet_atom_prep(&a[0], SYS_read, p[0], syslet_ptr(&buf), 1, 0, 0, 0);
	syslet_atom_prep(&a[1], SYS_getppid, 0, 0, 0, 0, 0, 0);
	syslet_atom_prep(&a[2], SYS_getppid, 0, 0, 0, 0, 0, 0);
	for (int i = 0; i < 3; i++)
		a[i].cookie = i + 1;
	CHECK_EQ(syslet_submit_flags(c.fd, firsts, 3, NULL, SYSLET_SUBMIT_ASYNC_NOW, &queued), 0);
	CHECK_EQ(queued, 3);
	CHECK_EQ(syslet_cancel(c.fd, 2, 0), 1);
	CHECK(write(p[1], "x", 1) == 1);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, o, 3, 3, 5000000000LL), 3);
	CHECK_EQ(o[0].cookie, 1);
	CHECK_EQ(o[0].result, 1);
	CHECK_EQ(o[0].flags, 0);
	check_cancelled(&o[1], 2, 0);
	CHECK_EQ(o[1].last_atom, (__u64)(unsigned long)&a[1]);
	CHECK_EQ(o[2].cookie, 3);
	CHECK_EQ(o[2].result, getppid());
}

/*
 * A chain is matched by the cookie of the atom it runs now: the second
 * atom of a running chain, blocked, is cancelled by its own cookie.
 */
TEST(cancel_matches_the_atom_a_chain_runs_now)
{
	struct syslet_atom a[2];
	struct syslet_outcome o;
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	struct ctx c;
	char buf;
	int p[2];

	CHECK(pipe(p) == 0);
	ctx_open(&c, 1);
	wait_spares(&c, 1);
	syslet_atom_prep(&a[0], SYS_nanosleep, syslet_ptr(&ts), 0, 0, 0, 0, 0);
	syslet_atom_prep(&a[1], SYS_read, p[0], syslet_ptr(&buf), 1, 0, 0, 0);
	a[0].cookie = 5;
	a[1].cookie = 6;
	syslet_atom_link(&a[0], &a[1]);
	CHECK_EQ(syslet_run(c.fd, &a[0], &o), 0);
	usleep(100 * 1000);	/* the nap is over: the chain waits in the read */
	CHECK_EQ(syslet_cancel(c.fd, 5, 0), -ENOENT);
	CHECK_EQ(syslet_cancel(c.fd, 6, 0), 1);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, &o, 1, 1, 5000000000LL), 1);
	check_cancelled(&o, 6, 2);
	CHECK_EQ(o.last_atom, (__u64)(unsigned long)&a[1]);
}

/* A cookie that only ever ran synchronously, or finished, is not found. */
TEST(cancel_of_a_finished_chain_is_enoent)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	struct ctx c;
	char buf;
	int p[2];

	CHECK(pipe(p) == 0);
	ctx_open(&c, 1);
	syslet_atom_prep(&a, SYS_getppid, 0, 0, 0, 0, 0, 0);
	a.cookie = 9;
	CHECK_EQ(syslet_run(c.fd, &a, &o), 1);	/* synchronous */
	CHECK_EQ(syslet_cancel(c.fd, 9, 0), -ENOENT);
	wait_spares(&c, 1);
	syslet_atom_prep(&a, SYS_read, p[0], syslet_ptr(&buf), 1, 0, 0, 0);
	a.cookie = 10;
	CHECK_EQ(syslet_run(c.fd, &a, &o), 0);
	CHECK(write(p[1], "x", 1) == 1);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, &o, 1, 1, 5000000000LL), 1);
	CHECK_EQ(o.result, 1);
	CHECK_EQ(syslet_cancel(c.fd, 10, 0), -ENOENT);
	CHECK_EQ(syslet_cancel(c.fd, 0, SYSLET_CANCEL_ALL), 0);
	CHECK_EQ(syslet_fdinfo_value(c.fd, "syslet-cancelled"), 0);
}

TEST(bad_cancel_requests_are_einval)
{
	struct syslet_cancel cn;
	struct ctx c;

	ctx_open(&c, 0);
	CHECK_EQ(syslet_cancel(c.fd, 1, 1U << 7), -EINVAL);
	CHECK_EQ(syslet_cancel(c.fd, 1, SYSLET_CANCEL_ALL), -EINVAL);
	memset(&cn, 0, sizeof(cn));
	cn.cookie = 1;
	cn.reserved[1] = 1;
	CHECK_ERR(ioctl(c.fd, SYSLET_IOC_CANCEL, &cn), EINVAL);
}

/* A 20 ms deadline on a read nobody feeds: the chain ends, never early. */
TEST(a_20ms_timeout_on_a_queued_pipe_read)
{
	struct syslet_atom a, *first = &a;
	struct syslet_outcome o;
	struct ctx c;
	unsigned int queued = 0;
	long long t0, waited;
	char buf;
	int p[2];

	CHECK(pipe(p) == 0);
	ctx_open(&c, 1);
	wait_spares(&c, 1);
	syslet_atom_prep(&a, SYS_read, p[0], syslet_ptr(&buf), 1, 0, 0, 0);
	a.cookie = 11;
	t0 = now_ns();
	CHECK_EQ(syslet_submit_timeout(c.fd, &first, 1, NULL, SYSLET_SUBMIT_TIMEOUT,
				       20 * 1000 * 1000, &queued), 0);
	CHECK_EQ(queued, 1);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, &o, 1, 1, 5000000000LL), 1);
	waited = now_ns() - t0;
	printf("# timed out after %lld us\n", waited / 1000);
	CHECK(waited >= 20 * 1000 * 1000);
	CHECK_EQ(o.cookie, 11);
	CHECK_EQ(o.result, -ETIME);
	CHECK_EQ(o.atoms_run, 1);
	CHECK(o.flags & SYSLET_OUTCOME_TIMED_OUT);
	CHECK_EQ(syslet_fdinfo_value(c.fd, "syslet-timed-out"), 1);
	CHECK_EQ(syslet_fdinfo_value(c.fd, "syslet-cancelled"), 0);
	/* The carrier's next sleeps are whole again. */
	CHECK(write(p[1], "x", 1) == 1);
	CHECK(read(p[0], &buf, 1) == 1);
}

/*
 * A deadline holds for synchronous chains too: the caller's own blocked
 * atom is interrupted and the chains after it do not run.
 */
TEST(a_timeout_ends_a_synchronous_submission)
{
	struct syslet_atom a[2], *firsts[2] = { &a[0], &a[1] };
	struct syslet_outcome o[2];
	struct ctx c;
	long long t0, waited;
	char buf;
	int p[2];

	CHECK(pipe(p) == 0);
	ctx_open(&c, 0);
	syslet_atom_prep(&a[0], SYS_read, p[0], syslet_ptr(&buf), 1, 0, 0, 0);
	syslet_atom_prep(&a[1], SYS_getppid, 0, 0, 0, 0, 0, 0);
	a[0].cookie = 1;
	a[1].cookie = 2;
	t0 = now_ns();
	CHECK_EQ(syslet_submit_timeout(c.fd, firsts, 2, o,
				       SYSLET_SUBMIT_TIMEOUT | SYSLET_SUBMIT_SYNC_ONLY,
				       20 * 1000 * 1000, NULL), 2);
	waited = now_ns() - t0;
	CHECK(waited >= 20 * 1000 * 1000);
	CHECK_EQ(o[0].result, -ETIME);
	CHECK(o[0].flags & SYSLET_OUTCOME_TIMED_OUT);
	CHECK_EQ(o[1].cookie, 2);
	CHECK_EQ(o[1].result, -ETIME);
	CHECK_EQ(o[1].atoms_run, 0);
	/* A deadline already passed (absolute 0): nothing runs. */
	CHECK_EQ(syslet_submit_timeout(c.fd, &firsts[1], 1, o,
				       SYSLET_SUBMIT_TIMEOUT | SYSLET_SUBMIT_TIMEOUT_ABS, 0, NULL), 1);
	CHECK_EQ(o[0].result, -ETIME);
	CHECK_EQ(o[0].atoms_run, 0);
	/* A deadline that does not pass changes nothing. */
	CHECK_EQ(syslet_submit_timeout(c.fd, &firsts[1], 1, o, SYSLET_SUBMIT_TIMEOUT,
				       5000000000LL, NULL), 1);
	CHECK_EQ(o[0].result, getppid());
	CHECK_EQ(o[0].flags, 0);
}

TEST(bad_timeouts_are_einval)
{
	struct syslet_atom a, *first = &a;
	struct syslet_outcome o;
	struct ctx c;

	ctx_open(&c, 0);
	syslet_atom_prep(&a, SYS_getppid, 0, 0, 0, 0, 0, 0);
	CHECK_EQ(syslet_submit_timeout(c.fd, &first, 1, &o, SYSLET_SUBMIT_TIMEOUT, 0, NULL),
		 -EINVAL);
	CHECK_EQ(syslet_submit_timeout(c.fd, &first, 1, &o, SYSLET_SUBMIT_TIMEOUT, -5, NULL),
		 -EINVAL);
	CHECK_EQ(syslet_submit_timeout(c.fd, &first, 1, &o, 0, 1000, NULL), -EINVAL);
	CHECK_EQ(syslet_submit_timeout(c.fd, &first, 1, &o, SYSLET_SUBMIT_TIMEOUT_ABS, 1000, NULL),
		 -EINVAL);
	CHECK_EQ(syslet_submit_timeout(c.fd, &first, 1, &o,
				       SYSLET_SUBMIT_TIMEOUT | SYSLET_SUBMIT_TIMEOUT_ABS, -1, NULL),
		 -EINVAL);
}

/* Threads of this process: back to @n within a second, or -1. */
static int threads_settle_to(int n)
{
	for (int i = 0; i < 1000; i++) {
		if (tap_live_threads() == n)
			return n;
		usleep(1000);
	}
	return -1;
}

/*
 * A context with a spare, its ring mapped, and a 1-byte read of the empty
 * pipe @p queued in it (in @a, into @buf): a carrier blocks in it. The
 * process had no other thread.
 */
static void queue_a_pipe_read(struct ctx *c, int p[2], struct syslet_atom *a, char *buf)
{
	struct syslet_outcome o;

	CHECK(pipe(p) == 0);
	CHECK_EQ(tap_live_threads(), 1);
	ctx_open(c, 1);
	wait_spares(c, 1);
	syslet_atom_prep(a, SYS_read, p[0], syslet_ptr(buf), 1, 0, 0, 0);
	a->cookie = 77;
	CHECK_EQ(syslet_run(c->fd, a, &o), 0);
}

/*
 * Closing the program's last reference (the ring unmapped, the last
 * descriptor closed) cancels what is queued: the carrier stops at once,
 * the context is released and every thread it made exits. The cancelled
 * read took nothing from its pipe.
 */
TEST(closing_the_last_reference_cancels_what_is_queued)
{
	struct syslet_atom a;
	struct ctx c;
	char buf;
	int p[2];

	queue_a_pipe_read(&c, p, &a, &buf);
	CHECK(tap_live_threads() >= 2);
	syslet_ring_munmap(&c.ring);
	CHECK(close(c.fd) == 0);
	CHECK_EQ(threads_settle_to(1), 1);
	CHECK(write(p[1], "x", 1) == 1);
	CHECK(read(p[0], &buf, 1) == 1);
}

/*
 * A mapped ring is a reference too: closing the descriptor leaves the
 * chains running, and their completions still arrive in the mapping.
 */
TEST(a_mapped_ring_keeps_queued_chains_after_close)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	struct ctx c;
	char buf;
	int p[2];

	queue_a_pipe_read(&c, p, &a, &buf);
	CHECK(close(c.fd) == 0);
	usleep(20 * 1000);
	CHECK(write(p[1], "x", 1) == 1);
	for (int i = 0; i < 1000 && !syslet_ring_ready(&c.ring); i++)
		usleep(1000);
	CHECK_EQ(syslet_ring_reap(&c.ring, &o, 1), 1);
	CHECK_EQ(o.cookie, 77);
	CHECK_EQ(o.result, 1);
	syslet_ring_munmap(&c.ring);
	CHECK_EQ(threads_settle_to(1), 1);
}

/*
 * Unmapping the ring after that close is the users' last reference going:
 * what is queued is cancelled then, as by the close of a last descriptor,
 * and the carrier leaves. Until 2026-12-03 nothing cancelled it: the
 * carrier blocked in the pipe read held a thread and the context until
 * the process exited. The byte written afterwards stays in the pipe.
 */
TEST(unmapping_the_ring_after_the_close_cancels_what_is_queued)
{
	struct syslet_atom a;
	struct ctx c;
	char buf;
	int p[2];

	queue_a_pipe_read(&c, p, &a, &buf);
	CHECK(close(c.fd) == 0);
	usleep(50 * 1000);
	CHECK(tap_live_threads() >= 2);
	syslet_ring_munmap(&c.ring);
	CHECK_EQ(threads_settle_to(1), 1);
	CHECK(write(p[1], "x", 1) == 1);
	CHECK(read(p[0], &buf, 1) == 1);
}
