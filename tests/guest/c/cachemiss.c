// SPDX-License-Identifier: GPL-2.0
/*
 * Cachemiss: a chain whose atom blocks goes asynchronous. A spare thread
 * takes over the caller's user context and the ioctl returns "queued"; the
 * caller carries on, while the blocked task finishes the chain and posts
 * its completion, which SYSLET_IOC_WAIT returns.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <syslet.h>
#include <time.h>
#include <xmmintrin.h>

#include "tap.h"

static __thread long tls_word = 0x1234;

static long fdinfo_value(int fd, const char *name)
{
	return syslet_fdinfo_value(fd, name);
}

/* The ring of the context the current test made (each test is a process). */
static struct syslet_ring_map ring;

/* A context with @spares spares parked (waits until they are), ring mapped. */
static int ctx_setup(struct syslet_setup *s)
{
	int fd = syslet_open();

	CHECK(fd >= 0);
	if (!s->spares)
		s->flags |= SYSLET_SETUP_NO_SPARES;
	CHECK_EQ(syslet_setup(fd, s), 0);
	CHECK_EQ(syslet_ring_mmap(fd, s, &ring), 0);
	for (int i = 0; i < 500 && fdinfo_value(fd, "syslet-spares") < s->spares; i++)
		usleep(10 * 1000);
	CHECK_EQ(fdinfo_value(fd, "syslet-spares"), s->spares);
	return fd;
}

static int ctx_with_spares(unsigned int spares, unsigned int max_threads)
{
	struct syslet_setup s = { .spares = spares, .max_threads = max_threads };

	return ctx_setup(&s);
}

static void read_atom(struct syslet_atom *a, int pipe_rd, char *buf, size_t len, __s64 *n)
{
	syslet_atom_prep(a, SYS_read, pipe_rd, syslet_ptr(buf), len, 0, 0, 0);
	syslet_atom_result(a, n);
}

TEST(blocking_read_goes_async_and_its_completion_arrives)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	char buf[16] = { 0 };
	__s64 n = -1;
	int fd = ctx_with_spares(1, 4), p[2];
	pid_t tid_before = gettid();

	CHECK(pipe(p) == 0);
	read_atom(&a, p[0], buf, sizeof(buf), &n);
	a.cookie = 7;
	/* The pipe is empty: the read blocks, a spare takes over, "queued". */
	CHECK_EQ(syslet_run(fd, &a, &o), 0);
	/* The program carries on, on another kernel task, with its thread id. */
	CHECK_EQ(gettid(), tid_before);
	CHECK_EQ(syslet_wait_reap(fd, &ring, &o, 1, 0, 0), 0);	/* nothing yet */
	/* The caller itself feeds the read that is still blocked. */
	CHECK(write(p[1], "hello", 5) == 5);
	CHECK_EQ(syslet_wait_reap(fd, &ring, &o, 1, 1, 5000000000LL), 1);
	CHECK_EQ(o.cookie, 7);
	CHECK_EQ(o.result, 5);
	CHECK_EQ(o.atoms_run, 1);
	CHECK_EQ(n, 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK(fdinfo_value(fd, "syslet-went-async") == 1);
}

TEST(program_state_survives_the_takeover)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	char buf[4];
	__s64 n;
	volatile long canary = 0x5eed5eed;
	unsigned int mxcsr = 0x9fc0;	/* FTZ, DAZ, all exceptions masked */
	unsigned short fpucw = 0x0f7f, cw_after;
	sigset_t blocked, now;
	stack_t alt = { 0 }, alt_now;
	static char altstack[65536];
	int fd = ctx_with_spares(1, 4), p[2];

	CHECK(pipe(p) == 0);
	tls_word = 0xabcdef;
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGUSR1);
	CHECK(sigprocmask(SIG_BLOCK, &blocked, NULL) == 0);
	alt.ss_sp = altstack;
	alt.ss_size = sizeof(altstack);
	CHECK(sigaltstack(&alt, NULL) == 0);
	_mm_setcsr(mxcsr);
	__asm__ volatile("fldcw %0" : : "m"(fpucw));

	read_atom(&a, p[0], buf, sizeof(buf), &n);
	CHECK_EQ(syslet_run(fd, &a, &o), 0);

	__asm__ volatile("fnstcw %0" : "=m"(cw_after));
	CHECK_EQ(_mm_getcsr(), mxcsr);
	CHECK_EQ(cw_after, fpucw);
	CHECK_EQ(tls_word, 0xabcdef);
	CHECK_EQ(canary, 0x5eed5eed);
	CHECK(pthread_self() != 0);
	CHECK(sigprocmask(SIG_BLOCK, NULL, &now) == 0);
	CHECK(sigismember(&now, SIGUSR1));
	CHECK(!sigismember(&now, SIGUSR2));
	CHECK(sigaltstack(NULL, &alt_now) == 0);
	CHECK(alt_now.ss_sp == altstack && alt_now.ss_size == sizeof(altstack));
	CHECK(write(p[1], "x", 1) == 1);
	CHECK_EQ(syslet_wait_reap(fd, &ring, &o, 1, 1, -1), 1);
	CHECK_EQ(o.result, 1);
}

TEST(sync_only_submission_blocks_the_caller)
{
	struct syslet_atom a, *first = &a;
	struct syslet_outcome o;
	struct tap_feeder f;
	pthread_t t;
	char buf[8];
	__s64 n;
	unsigned int queued = 99;
	int fd = ctx_with_spares(1, 4), p[2];
	pid_t tid = gettid();

	CHECK(pipe(p) == 0);
	f = (struct tap_feeder){ p[1], 50 };
	CHECK(pthread_create(&t, NULL, tap_feed_later, &f) == 0);
	read_atom(&a, p[0], buf, sizeof(buf), &n);
	CHECK_EQ(syslet_submit_flags(fd, &first, 1, &o, SYSLET_SUBMIT_SYNC_ONLY, &queued), 1);
	CHECK_EQ(queued, 0);
	CHECK_EQ(o.result, 5);
	CHECK_EQ(gettid(), tid);
	pthread_join(t, NULL);
}

TEST(without_spares_a_blocking_atom_blocks_synchronously)
{
	struct syslet_setup s = { .flags = SYSLET_SETUP_NO_SPARES };
	struct syslet_atom a;
	struct syslet_outcome o;
	struct tap_feeder f;
	pthread_t t;
	char buf[8];
	__s64 n;
	int fd = syslet_open(), p[2];

	CHECK(fd >= 0 && pipe(p) == 0);
	CHECK_EQ(syslet_setup(fd, &s), 0);
	CHECK_EQ(s.spares, 0);
	f = (struct tap_feeder){ p[1], 50 };
	CHECK(pthread_create(&t, NULL, tap_feed_later, &f) == 0);
	read_atom(&a, p[0], buf, sizeof(buf), &n);
	CHECK_EQ(syslet_run(fd, &a, &o), 1);
	CHECK_EQ(o.result, 5);
	CHECK(fdinfo_value(fd, "syslet-blocked-sync") >= 1);
	CHECK_EQ(fdinfo_value(fd, "syslet-went-async"), 0);
	pthread_join(t, NULL);
}

/*
 * The chains from the one that blocked on are queued: each posts its
 * completion to the ring. The third ran in the caller's context before the
 * ioctl returned, so its completion comes first; the blocked read's comes
 * once the pipe is fed. With the thread cap reached (1 spare, 2 threads),
 * the blocked task carries the rest itself, in order.
 */
TEST(rest_of_a_batch_goes_async_with_the_blocked_chain)
{
	/* Room for a new spare, then the thread cap reached (1 spare, 2 threads). */
	static const struct {
		unsigned int max_threads;
		long continued;
	} runs[] = { { 4, 1 }, { 2, 0 } };
	struct syslet_atom a[3], *firsts[3] = { &a[0], &a[1], &a[2] };
	struct syslet_outcome o[3];
	unsigned int queued = 0;
	char buf[8];
	__s64 n, word;
	int fd, p[2], got;

	CHECK(pipe(p) == 0);
	syslet_atom_prep(&a[0], SYS_getpid, 0, 0, 0, 0, 0, 0);
	read_atom(&a[1], p[0], buf, sizeof(buf), &n);
	a[1].cookie = 1;
	syslet_atom_prep_add(&a[2], &word, 2);
	a[2].cookie = 2;
	for (unsigned int r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
		fd = ctx_with_spares(1, runs[r].max_threads);
		word = 40;
		got = 0;
		CHECK_EQ(syslet_submit(fd, firsts, 3, o, &queued), 1);
		CHECK_EQ(queued, 2);
		CHECK_EQ(o[0].result, getpid());
		/* The third chain ran before the ioctl returned, or waits. */
		CHECK_EQ(word, runs[r].continued ? 42 : 40);
		CHECK_EQ(syslet_ring_ready(&ring), (unsigned int)runs[r].continued);
		CHECK(write(p[1], "ab", 2) == 2);
		while (got < 2) {
			int ret = syslet_wait_reap(fd, &ring, &o[got], 3 - got, 1, 5000000000LL);

			CHECK(ret > 0);
			got += ret;
		}
		/* Continued: the third completes first; at the cap, in order. */
		CHECK_EQ(o[0].cookie, runs[r].continued ? 2 : 1);
		CHECK_EQ(o[1].cookie, runs[r].continued ? 1 : 2);
		for (int i = 0; i < 2; i++)
			CHECK_EQ(o[i].result, o[i].cookie == 1 ? 2 : 42);
		CHECK_EQ(fdinfo_value(fd, "syslet-continued"), runs[r].continued);
		close(fd);
		syslet_ring_munmap(&ring);
	}
}

#define WORKERS 6

struct worker {
	int ctx, rd;
	int sync_ran, queued;
	__s64 n;
	char buf[8];
	struct syslet_atom a;
	struct syslet_outcome o;
};

static void *submit_blocking(void *arg)
{
	struct worker *w = arg;
	int r;

	read_atom(&w->a, w->rd, w->buf, sizeof(w->buf), &w->n);
	w->a.cookie = (uintptr_t)w;
	r = syslet_run(w->ctx, &w->a, &w->o);
	w->sync_ran = r == 1;
	w->queued = r == 0;
	return NULL;
}

TEST(many_blocking_chains_from_threads_stay_under_the_thread_cap)
{
	struct worker w[WORKERS];
	pthread_t t[WORKERS];
	int fd = ctx_with_spares(2, 3), p[WORKERS][2];
	int queued = 0, sync_ran = 0, reaped = 0;
	long most = 0;

	for (int i = 0; i < WORKERS; i++) {
		CHECK(pipe(p[i]) == 0);
		w[i] = (struct worker){ .ctx = fd, .rd = p[i][0] };
		CHECK(pthread_create(&t[i], NULL, submit_blocking, &w[i]) == 0);
	}
	for (int k = 0; k < 30; k++) {
		long threads = fdinfo_value(fd, "syslet-threads");

		most = threads > most ? threads : most;
		usleep(10 * 1000);
	}
	for (int i = 0; i < WORKERS; i++)
		CHECK(write(p[i][1], "z", 1) == 1);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < WORKERS; i++) {
		queued += w[i].queued;
		sync_ran += w[i].sync_ran;
		if (w[i].sync_ran)
			CHECK_EQ(w[i].o.result, 1);
	}
	CHECK_EQ(queued + sync_ran, WORKERS);
	CHECK(queued >= 1);
	while (reaped < queued) {
		struct syslet_outcome o;
		struct worker *owner;

		CHECK_EQ(syslet_wait_reap(fd, &ring, &o, 1, 1, 5000000000LL), 1);
		owner = (struct worker *)(uintptr_t)o.cookie;
		CHECK(owner >= w && owner < w + WORKERS && owner->queued);
		CHECK_EQ(o.result, 1);
		reaped++;
	}
	CHECK(most <= 3);
	CHECK_EQ(syslet_wait_reap(fd, &ring, &w[0].o, 1, 0, 0), 0);	/* all reaped once */
}

static void on_alarm(int sig)
{
	(void)sig;
}

TEST(wait_times_out_and_is_interrupted_by_signals)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
	struct syslet_outcome o;
	struct timespec t0, t1;
	int fd = ctx_with_spares(0, 4);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(syslet_wait(fd, 1, 50 * 1000 * 1000), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 40);
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	alarm(1);
	CHECK_EQ(syslet_wait(fd, 1, -1), -EINTR);
	CHECK_EQ(syslet_wait(fd, 0, 0), -EINVAL);
	CHECK_EQ(syslet_wait(fd, ring.hdr->entries + 1, 0), -EINVAL);
	(void)o;
}

/*
 * Runs a @pause-long nanosleep @rounds times, each of which must go
 * asynchronous (one that ran synchronously returns 1: a failed check, not a
 * hang), and reaps its completion. 20 ms is long enough that the sleep has
 * started before its timer fires, however slowly the guest runs.
 */
/* A timeout below a millisecond is waited for, not cut to zero. */
TEST(wait_honours_a_timeout_below_a_millisecond)
{
	struct timespec a, b;
	int fd = ctx_with_spares(0, 2);
	long long ns;

	for (int i = 0; i < 3; i++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		CHECK_EQ(syslet_wait(fd, 1, 500 * 1000), -ETIMEDOUT);
		clock_gettime(CLOCK_MONOTONIC, &b);
		ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
		CHECK(ns >= 500 * 1000);
	}
}

static void nap_async(int fd, struct syslet_atom *nap, struct timespec *pause, int rounds)
{
	struct syslet_outcome o;

	syslet_atom_prep(nap, SYS_nanosleep, syslet_ptr(pause), 0, 0, 0, 0, 0);
	for (int round = 0; round < rounds; round++) {
		CHECK_EQ(syslet_run(fd, nap, &o), 0);
		CHECK_EQ(syslet_wait_reap(fd, &ring, &o, 1, 1, 5000000000LL), 1);
		CHECK_EQ(o.result, 0);
	}
}

/*
 * A context keeps 4 spares under a cap of 6 threads: with two chains in
 * flight, the next submission tops the spares up to 4, and the cap is full.
 * Were both carriers to park then, the parked threads would fill the cap for
 * good: no later carrier would find a place, and every cachemiss would block
 * its caller. A thread that would park at the cap leaves instead (the
 * leader, which always parks, sends a parked spare away).
 */
TEST(parked_carriers_do_not_fill_the_thread_cap)
{
	struct timespec pause = { .tv_nsec = 20 * 1000 * 1000 };
	struct syslet_atom a[2], nap;
	struct syslet_outcome o;
	char buf[2];
	__s64 n[2];
	int fd = ctx_with_spares(4, 6), p[2];
	long threads = -1;

	CHECK(pipe(p) == 0);
	for (int i = 0; i < 2; i++) {
		read_atom(&a[i], p[0], &buf[i], 1, &n[i]);
		CHECK_EQ(syslet_run(fd, &a[i], &o), 0);
	}
	syslet_atom_prep(&nap, SYS_getppid, 0, 0, 0, 0, 0, 0);
	CHECK_EQ(syslet_run(fd, &nap, &o), 1);
	CHECK_EQ(fdinfo_value(fd, "syslet-threads"), 6);
	CHECK(write(p[1], "12", 2) == 2);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(syslet_wait_reap(fd, &ring, &o, 1, 1, 5000000000LL), 1);
		CHECK_EQ(o.result, 1);
	}
	/* A leaver frees its slot once gone: 5 threads remain. */
	for (int i = 0; i < 500 && (threads = fdinfo_value(fd, "syslet-threads")) > 5; i++)
		usleep(10 * 1000);
	CHECK(threads <= 5);
	nap_async(fd, &nap, &pause, 3);
	CHECK_EQ(fdinfo_value(fd, "syslet-blocked-sync"), 0);
	close(p[0]);
	close(p[1]);
	close(fd);
}

/*
 * The last completion of a submission that went asynchronous is posted only
 * once its carrier parked: a program that reaped it and blocks again at once
 * finds that spare ready, every time, with one spare and no new thread.
 */
TEST(a_reaped_completion_means_its_carrier_is_a_spare_again)
{
	struct timespec pause = { .tv_nsec = 20 * 1000 * 1000 };
	struct syslet_atom nap;
	int fd = ctx_with_spares(1, 4);

	nap_async(fd, &nap, &pause, 30);
	CHECK_EQ(fdinfo_value(fd, "syslet-blocked-sync"), 0);
	CHECK_EQ(fdinfo_value(fd, "syslet-went-async"), 30);
	CHECK_EQ(fdinfo_value(fd, "syslet-spares-spawned"), 1);
	close(fd);
}

TEST(close_with_a_chain_in_flight)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	char buf[4];
	__s64 n = -1;
	int before = tap_live_threads(), fd = ctx_with_spares(1, 4), p[2];

	CHECK(pipe(p) == 0);
	read_atom(&a, p[0], buf, sizeof(buf), &n);
	CHECK_EQ(syslet_run(fd, &a, &o), 0);
	/* The carrier now holds the last reference to the file. */
	syslet_ring_munmap(&ring);
	close(fd);
	/* Nobody can reap it: the close cancelled the chain (its read ends
	 * without the byte that never comes), and posted nothing. */
	for (int i = 0; i < 200 && n != -ECANCELED; i++)
		usleep(10 * 1000);
	CHECK_EQ(n, -ECANCELED);
	/* The carrier released the context on its way to park: every thread goes. */
	for (int i = 0; i < 500 && tap_live_threads() != before; i++)
		usleep(10 * 1000);
	CHECK_EQ(tap_live_threads(), before);
}

TEST(process_exit_with_a_chain_blocked)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		struct syslet_atom a;
		struct syslet_outcome o;
		char buf[4];
		__s64 n;
		int fd = ctx_with_spares(2, 4), p[2];

		if (pipe(p) != 0)
			_exit(2);
		read_atom(&a, p[0], buf, sizeof(buf), &n);
		if (syslet_run(fd, &a, &o) != 0)
			_exit(3);
		_exit(0);	/* exit_group with the read still blocked */
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

TEST(ring_overflow_loses_no_completion)
{
	struct syslet_setup s = { .spares = 1, .max_threads = 2, .ring_entries = 4,
				  .max_pending = 64 };
	struct syslet_atom a[20], *firsts[20];
	struct syslet_outcome o[8];
	unsigned int queued = 0, seen = 0;
	char buf[4];
	__s64 n;
	int fd = ctx_setup(&s), p[2];

	CHECK(pipe(p) == 0);
	read_atom(&a[0], p[0], buf, sizeof(buf), &n);
	firsts[0] = &a[0];
	for (int i = 1; i < 20; i++) {
		syslet_atom_prep(&a[i], SYS_getpid, 0, 0, 0, 0, 0, 0);
		a[i].cookie = i;
		firsts[i] = &a[i];
	}
	a[0].cookie = 0;
	CHECK_EQ(syslet_submit(fd, firsts, 20, o, &queued), 0);
	CHECK_EQ(queued, 20);
	CHECK(write(p[1], "w", 1) == 1);
	/* 20 completions, a ring of 4: most wait in the kernel, none is lost. */
	for (int tries = 0; tries < 500 && ring.hdr->overflow != 16; tries++)
		usleep(10 * 1000);
	CHECK_EQ(ring.hdr->overflow, 16);
	CHECK_EQ(fdinfo_value(fd, "syslet-ring-overflow"), 16);
	while (seen < 20) {
		int got = syslet_wait_reap(fd, &ring, o, 3, 1, 5000000000LL);

		CHECK(got > 0);
		for (int i = 0; i < got; i++) {
			CHECK_EQ(o[i].cookie, seen);	/* in order, each once */
			CHECK_EQ(o[i].result, seen ? getpid() : 1);
			seen++;
		}
	}
	CHECK_EQ(ring.hdr->overflow, 0);
	CHECK_EQ(syslet_ring_ready(&ring), 0);
}

TEST(poll_and_epoll_report_completions)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	struct epoll_event ev = { .events = EPOLLIN };
	struct pollfd pfd;
	char buf[4];
	__s64 n;
	int fd = ctx_with_spares(1, 4), p[2], ep;

	CHECK(pipe(p) == 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
	CHECK_EQ(epoll_wait(ep, &ev, 1, 0), 0);
	read_atom(&a, p[0], buf, sizeof(buf), &n);
	CHECK_EQ(syslet_run(fd, &a, &o), 0);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 0), 0);		/* still blocked */
	CHECK(write(p[1], "e", 1) == 1);
	CHECK_EQ(epoll_wait(ep, &ev, 1, 5000), 1);
	CHECK(ev.events & EPOLLIN);
	CHECK_EQ(poll(&pfd, 1, 0), 1);
	CHECK(pfd.revents & POLLIN);
	CHECK_EQ(syslet_ring_reap(&ring, &o, 1), 1);
	CHECK_EQ(o.result, 1);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
}

TEST(ring_distrusts_user_indices_and_bad_mappings)
{
	struct syslet_setup s = { .spares = 1, .max_threads = 4, .ring_entries = 8 };
	struct syslet_atom a;
	struct syslet_outcome o;
	char buf[4];
	__s64 n;
	int fd = ctx_setup(&s), p[2];
	__u32 head = ring.hdr->head;

	CHECK(mmap(NULL, s.ring_size + 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED);
	CHECK(mmap(NULL, s.ring_size, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0) == MAP_FAILED);
	/* A head far ahead of the tail claims more room than the ring has:
	 * the kernel takes the ring as full and keeps the completion. */
	ring.hdr->head = head + 1000;
	CHECK(pipe(p) == 0);
	read_atom(&a, p[0], buf, sizeof(buf), &n);
	CHECK_EQ(syslet_run(fd, &a, &o), 0);
	CHECK(write(p[1], "h", 1) == 1);
	for (int tries = 0; tries < 500 && ring.hdr->overflow != 1; tries++)
		usleep(10 * 1000);
	CHECK_EQ(ring.hdr->overflow, 1);
	CHECK_EQ(ring.hdr->tail, head);
	ring.hdr->head = head;
	CHECK_EQ(syslet_wait_reap(fd, &ring, &o, 1, 1, 5000000000LL), 1);
	CHECK_EQ(o.result, 1);
}

TEST(async_now_hands_off_before_the_first_atom)
{
	struct syslet_atom a, *first = &a;
	struct syslet_outcome o;
	unsigned int queued = 0;
	int fd = ctx_with_spares(1, 4);
	pid_t tid = gettid();

	syslet_atom_prep(&a, SYS_getpid, 0, 0, 0, 0, 0, 0);
	a.cookie = 99;
	CHECK_EQ(syslet_submit_flags(fd, &first, 1, &o, SYSLET_SUBMIT_ASYNC_NOW, &queued), 0);
	CHECK_EQ(queued, 1);
	CHECK_EQ(gettid(), tid);
	CHECK_EQ(syslet_wait_reap(fd, &ring, &o, 1, 1, 5000000000LL), 1);
	CHECK_EQ(o.cookie, 99);
	CHECK_EQ(o.result, getpid());
	/* Both at once make no sense. */
	CHECK_EQ(syslet_submit_flags(fd, &first, 1, &o,
				     SYSLET_SUBMIT_ASYNC_NOW | SYSLET_SUBMIT_SYNC_ONLY, NULL), -EINVAL);
}

/* Entries in /proc/<pid>/fd: none once the leader is a zombie. */
static int count_proc_pid_fds(void)
{
	char path[64];
	struct dirent *d;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", getpid());
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	closedir(dir);
	return n;
}

TEST(carriers_park_as_spares_and_the_leader_keeps_its_id)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	char buf[4];
	__s64 n;
	int fd = ctx_with_spares(1, 4), p[2];

	CHECK_EQ(gettid(), getpid());	/* each test starts on its leader */
	CHECK(pipe(p) == 0);
	for (int i = 0; i < 10; i++) {
		read_atom(&a, p[0], buf, 1, &n);
		a.cookie = i;
		CHECK_EQ(syslet_run(fd, &a, &o), 0);
		/* The program's thread is the leader whatever task runs it. */
		CHECK_EQ(gettid(), getpid());
		CHECK(write(p[1], "x", 1) == 1);
		CHECK_EQ(syslet_wait_reap(fd, &ring, &o, 1, 1, 5000000000LL), 1);
		CHECK_EQ(o.cookie, i);
		CHECK_EQ(o.result, 1);
		/* The carrier parks right after it posted: wait until it has. */
		for (int j = 0; j < 500 && fdinfo_value(fd, "syslet-spares") < 1; j++)
			usleep(1000);
		CHECK_EQ(fdinfo_value(fd, "syslet-spares"), 1);
		/* /proc/<pid> is the program's thread, never a zombie. */
		CHECK(count_proc_pid_fds() > 2);
	}
	/* Ten cachemisses, one thread ever made: each carrier became the spare. */
	CHECK_EQ(fdinfo_value(fd, "syslet-spares-spawned"), 1);
	CHECK_EQ(fdinfo_value(fd, "syslet-went-async"), 10);
	CHECK_EQ(fdinfo_value(fd, "syslet-threads"), 1);
}

TEST(closing_the_context_ends_every_thread_it_made)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	char buf[4];
	__s64 n = -1;
	int before = tap_live_threads(), fd = ctx_with_spares(3, 6), p[2];

	CHECK(tap_live_threads() >= before + 3);
	CHECK(pipe(p) == 0);
	read_atom(&a, p[0], buf, sizeof(buf), &n);
	CHECK_EQ(syslet_run(fd, &a, &o), 0);
	CHECK(write(p[1], "t", 1) == 1);
	CHECK_EQ(syslet_wait_reap(fd, &ring, &o, 1, 1, 5000000000LL), 1);
	syslet_ring_munmap(&ring);
	close(fd);
	/* The spares, the parked carrier among them, exit as the context goes. */
	for (int i = 0; i < 500 && tap_live_threads() != before; i++)
		usleep(10 * 1000);
	CHECK_EQ(tap_live_threads(), before);
}

TEST(spares_count_against_rlimit_nproc)
{
	struct rlimit one = { 1, 2 };
	struct syslet_setup s = { .spares = 2, .max_threads = 4 };
	struct syslet_atom a;
	struct syslet_outcome o;
	struct tap_feeder f;
	pthread_t t;
	char buf[8];
	__s64 n;
	int fd = syslet_open(), p[2];

	CHECK(fd >= 0 && pipe(p) == 0);
	/* An unprivileged user (root is exempt) allowed one task: this one. */
	CHECK(setresgid(65534, 65534, 65534) == 0);
	CHECK(setresuid(65534, 65534, 65534) == 0);
	CHECK(setrlimit(RLIMIT_NPROC, &one) == 0);
	CHECK_EQ(syslet_setup(fd, &s), 0);
	CHECK_EQ(fdinfo_value(fd, "syslet-spares"), 0);
	CHECK(fdinfo_value(fd, "syslet-spares-failed") >= 1);
	CHECK_EQ(fdinfo_value(fd, "syslet-spares-spawned"), 0);
	/* Without a spare, a blocking atom just blocks: still correct. */
	CHECK(setrlimit(RLIMIT_NPROC, &(struct rlimit){ 2, 2 }) == 0);	/* for the feeder */
	f = (struct tap_feeder){ p[1], 50 };
	CHECK(pthread_create(&t, NULL, tap_feed_later, &f) == 0);
	CHECK(setrlimit(RLIMIT_NPROC, &one) == 0);	/* no spare can start now */
	read_atom(&a, p[0], buf, sizeof(buf), &n);
	CHECK_EQ(syslet_run(fd, &a, &o), 1);
	CHECK_EQ(o.result, 5);
	pthread_join(t, NULL);
}

TEST(callee_saved_registers_survive_the_takeover)
{
	struct syslet_submit s;
	struct syslet_atom a;
	char buf[4];
	__s64 n;
	__u64 chain, r12, r13, r14, r15, rbx;
	long ret;
	int fd = ctx_with_spares(1, 4), p[2];
	struct syslet_outcome o;

	CHECK(pipe(p) == 0);
	read_atom(&a, p[0], buf, sizeof(buf), &n);
	chain = syslet_ptr(&a);
	memset(&s, 0, sizeof(s));
	s.chains = syslet_ptr(&chain);
	s.nr_chains = 1;
	/* The raw ioctl, with values the kernel must hand back in the
	 * registers a system call preserves, whichever task returns. */
	__asm__ volatile(
		"mov $0x1212121212121212, %%r12\n\t"
		"mov $0x1313131313131313, %%r13\n\t"
		"mov $0x1414141414141414, %%r14\n\t"
		"mov $0x1515151515151515, %%r15\n\t"
		"mov $0x0b0b0b0b0b0b0b0b, %%rbx\n\t"
		"syscall\n\t"
		"mov %%r12, %1\n\t"
		"mov %%r13, %2\n\t"
		"mov %%r14, %3\n\t"
		"mov %%r15, %4\n\t"
		"mov %%rbx, %5\n\t"
		: "=a"(ret), "=m"(r12), "=m"(r13), "=m"(r14), "=m"(r15), "=m"(rbx)
		: "a"(SYS_ioctl), "D"(fd), "S"(SYSLET_IOC_SUBMIT), "d"(&s)
		: "rcx", "r11", "r12", "r13", "r14", "r15", "rbx", "memory");
	CHECK_EQ(ret, 0);
	CHECK_EQ(s.queued, 1);
	CHECK_EQ(r12, 0x1212121212121212ULL);
	CHECK_EQ(r13, 0x1313131313131313ULL);
	CHECK_EQ(r14, 0x1414141414141414ULL);
	CHECK_EQ(r15, 0x1515151515151515ULL);
	CHECK_EQ(rbx, 0x0b0b0b0b0b0b0b0bULL);
	CHECK(write(p[1], "r", 1) == 1);
	CHECK_EQ(syslet_wait_reap(fd, &ring, &o, 1, 1, 5000000000LL), 1);
}

TEST(ring_flag_posts_synchronous_outcomes_too)
{
	struct syslet_setup s = { .spares = 0, .max_pending = 2, .ring_entries = 2 };
	struct syslet_atom a[3], *firsts[3] = { &a[0], &a[1], &a[2] };
	struct syslet_outcome o[3], r[3];
	int fd = ctx_setup(&s);

	for (int i = 0; i < 3; i++) {
		syslet_atom_prep(&a[i], SYS_getpid, 0, 0, 0, 0, 0, 0);
		a[i].cookie = 10 + i;
	}
	CHECK_EQ(syslet_submit_flags(fd, firsts, 2, o, SYSLET_SUBMIT_RING, NULL), 2);
	CHECK_EQ(o[1].cookie, 11);
	CHECK_EQ(syslet_ring_reap(&ring, r, 3), 2);
	CHECK_EQ(r[0].cookie, 10);
	CHECK_EQ(r[1].result, getpid());
	/* Three places do not fit under max_pending = 2: refused, nothing ran. */
	CHECK_EQ(syslet_submit_flags(fd, firsts, 3, o, SYSLET_SUBMIT_RING, NULL), -EBUSY);
	/* Without the flag, synchronous outcomes stay out of the ring. */
	CHECK_EQ(syslet_submit_flags(fd, firsts, 3, o, 0, NULL), 3);
	CHECK_EQ(syslet_ring_ready(&ring), 0);
}
