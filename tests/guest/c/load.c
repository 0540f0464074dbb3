// SPDX-License-Identifier: GPL-2.0
/*
 * Load with exact accounting: submitter threads send batches that mix
 * synchronous chains, chains that block and O_DIRECT reads of null_blk that
 * go in flight with no thread, for a fixed time, under RLIMIT_NPROC, as
 * an unprivileged user, with a small ring so completions overflow. Every
 * chain carries a unique cookie; each must produce exactly one result,
 * either in the submission's outcomes (it ran synchronously) or as one ring
 * completion (it went asynchronous). None twice, none lost, none unknown.
 * SYSLET_LOAD_SECONDS overrides the duration.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <syslet.h>
#include <time.h>

#include "tap.h"

#define SUBMITTERS 4
#define MAX_SEQ (1 << 17)
/*
 * The context's thread cap and the user's RLIMIT_NPROC: 8 and 12 (7 tasks
 * of the program, 5 for syslets) in the tight run; 200 and 240 in the deep
 * one, where each chain of a batch that blocks gets a carrier of its own.
 */
static int max_threads, nproc;

/* State of each chain, by cookie: submitted, then one of the two results. */
enum { NONE, SUBMITTED, SYNC_DONE, ASYNC_DONE };
static unsigned char state[SUBMITTERS][MAX_SEQ];
/* For a report of a duplicate: how each sync result was seen. */
static unsigned int seen[SUBMITTERS][MAX_SEQ];

/* Atoms and result words of queued chains are read and written by the
 * kernel until their completion: each chain gets its own, reused only once
 * the chain that had them is done. */
#define POOL 1024
static struct syslet_atom atoms[SUBMITTERS][POOL];
static __s64 results[SUBMITTERS][POOL];

static int fd, pipes[SUBMITTERS][2];
/* /dev/nullb0 with O_DIRECT (-1 without it): an eighth of the chains read
 * it, each read in flight with no thread (SYSLET_FEAT_THREAD_FREE_IO). Half
 * of those read /dev/nullb-shallow instead when the guest made it: one
 * request, 1 ms each, so a read issued while it is busy is refused inside
 * the submission and the chain takes the system call's path (it waits for
 * the request, handing off). */
static int direct = -1, shallow = -1;
static char direct_buf[SUBMITTERS][4096] __attribute__((aligned(4096)));
static long direct_reads, shallow_reads, eagain;
static struct syslet_ring_map ring;
static volatile int start, stop, reaping = 1;
static long submitted, sync_done, async_done, duplicated, unknown, queued_total;
static long most_threads, most_tasks;
/* Readings of the thread count over RLIMIT_NPROC that a later one undid. */
static long transient_over;
/* Cancels and deadlines: requests made, chains found, outcomes that say so. */
static long cancels, cancel_found, halted;
/* The next sequence number of each submitter, for the canceller. */
static unsigned int next_seq[SUBMITTERS];

static __u64 cookie(unsigned int t, unsigned int seq)
{
	return (__u64)t << 32 | seq;
}

static void account(__u64 c, int how)
{
	unsigned int t = c >> 32, seq = (__u32)c;
	unsigned char *s;

	if (t >= SUBMITTERS || seq >= MAX_SEQ) {
		__atomic_add_fetch(&unknown, 1, __ATOMIC_RELAXED);
		return;
	}
	s = &state[t][seq];
	unsigned char was = __atomic_exchange_n(s, how, __ATOMIC_RELEASE);

	if (was != SUBMITTED) {
		if (__atomic_add_fetch(&duplicated, 1, __ATOMIC_RELAXED) <= 5)
			printf("# cookie %u:%u reported %s, already %s (sync as i/done/queued/n %#x)\n", t, seq,
			       how == SYNC_DONE ? "sync" : "async",
			       was == SYNC_DONE ? "sync" : was == ASYNC_DONE ? "async" : "unsubmitted",
			       seen[t][seq]);
	}
	__atomic_add_fetch(how == SYNC_DONE ? &sync_done : &async_done, 1, __ATOMIC_RELAXED);
}

/* Accounts an outcome; counts those a cancel or a deadline stopped. */
static void account_outcome(const struct syslet_outcome *o, int how)
{
	if (o->flags & (SYSLET_OUTCOME_CANCELLED | SYSLET_OUTCOME_TIMED_OUT))
		__atomic_add_fetch(&halted, 1, __ATOMIC_RELAXED);
	/* No chain here calls anything that returns it on a blocking file. */
	if (o->result == -EAGAIN)
		__atomic_add_fetch(&eagain, 1, __ATOMIC_RELAXED);
	account(o->cookie, how);
}

static void *submitter(void *arg)
{
	unsigned int t = (uintptr_t)arg, seq = 0;
	uint64_t r = 0x10ad0000ULL + t;
	struct syslet_atom *firsts[8];
	struct syslet_outcome o[8];
	static __thread char buf[8];

	while (!start)
		usleep(1000);
	while (!stop && seq + 8 < MAX_SEQ) {
		unsigned int n, queued = 0;
		int done;

		r = r * 6364136223846793005ULL + 1442695040888963407ULL;
		n = 1 + (r >> 40) % 8;
		for (unsigned int i = 0; i < n; i++) {
			unsigned int k = (seq + i) % POOL;
			struct syslet_atom *a = &atoms[t][k];

			while (seq + i >= POOL &&
			       __atomic_load_n(&state[t][seq + i - POOL], __ATOMIC_ACQUIRE) < SYNC_DONE)
				usleep(1000);
			firsts[i] = a;
			if ((r >> (i * 3)) % 4 == 0)	/* blocks until fed */
				syslet_atom_prep(a, SYS_read, pipes[t][0], syslet_ptr(buf), 1, 0, 0, 0);
			else if ((r >> (i * 3)) % 8 == 1 && direct >= 0) {
				int dev = shallow >= 0 && (r >> (30 + i)) & 1 ? shallow : direct;

				syslet_atom_prep(a, SYS_pread64, dev, syslet_ptr(direct_buf[t]),
						 4096, ((r >> 20) % 1024) * 4096, 0, 0);
				__atomic_add_fetch(dev == shallow ? &shallow_reads : &direct_reads, 1,
						   __ATOMIC_RELAXED);
			} else
				syslet_atom_prep(a, SYS_getppid, 0, 0, 0, 0, 0, 0);
			syslet_atom_result(a, &results[t][k]);
			a->cookie = cookie(t, seq + i);
			state[t][seq + i] = SUBMITTED;
		}
		/* A quarter of the batches have a deadline of 1 to 5 ms; a third
		 * give every chain that blocks a carrier of its own. */
		__u32 flags = (r >> 50) % 4 == 0 ? SYSLET_SUBMIT_TIMEOUT : 0;
		__s64 timeout = flags ? (__s64)(1 + (r >> 52) % 5) * 1000 * 1000 : 0;
		int each = (r >> 56) % 3 == 0;

		memset(o, 0, sizeof(o));
		if (each)
			done = syslet_submit_all(fd, firsts, n, o, flags, timeout, &queued);
		else
			done = syslet_submit_timeout(fd, firsts, n, o, flags, timeout, &queued);
		if (done < 0 || done + queued != n) {
			printf("# submit returned %d, queued %u of %u\n", done, queued, n);
			__atomic_add_fetch(&unknown, 1, __ATOMIC_RELAXED);
			break;
		}
		/* Synchronous outcomes: the first `done` entries, or, one carrier
		 * a chain, every entry the helper did not mark as queued. */
		for (unsigned int i = 0; i < n; i++) {
			if (each ? o[i].flags & SYSLET_OUTCOME_USER : i >= (unsigned int)done)
				continue;
			if ((o[i].cookie >> 32) < SUBMITTERS && (__u32)o[i].cookie < MAX_SEQ)
				seen[o[i].cookie >> 32][(__u32)o[i].cookie] =
					i | done << 8 | queued << 16 | n << 24;
			account_outcome(&o[i], SYNC_DONE);
		}
		__atomic_add_fetch(&submitted, n, __ATOMIC_RELAXED);
		__atomic_add_fetch(&queued_total, queued, __ATOMIC_RELAXED);
		seq += n;
		__atomic_store_n(&next_seq[t], seq, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Feeds the pipes more slowly than the submitters read them, so reads
 * block: one byte to each pipe in turn every 2 ms. */
static void *feeder(void *arg)
{
	unsigned int i = 0;

	(void)arg;
	while (reaping) {
		if (write(pipes[i++ % SUBMITTERS][1], "f", 1) < 0)
			usleep(1000);
		/* Every third round, cancel one of a submitter's latest chains
		 * (every queued chain now and then). */
		if (i % 3 == 0 && !stop) {
			unsigned int t = (i / 3) % SUBMITTERS;
			unsigned int seq = __atomic_load_n(&next_seq[t], __ATOMIC_RELAXED);
			int found = (i % 96 == 0) ? syslet_cancel(fd, 0, SYSLET_CANCEL_ALL)
				    : seq ? syslet_cancel(fd, cookie(t, seq - 1 - i % 4), 0) : 0;

			__atomic_add_fetch(&cancels, 1, __ATOMIC_RELAXED);
			if (found > 0)
				__atomic_add_fetch(&cancel_found, found, __ATOMIC_RELAXED);
			else if (found < 0 && found != -ENOENT)
				__atomic_add_fetch(&unknown, 1, __ATOMIC_RELAXED);
		}
		usleep(2000);
	}
	return NULL;
}

/* Reaps the ring, slowly at times so it overflows; watches the threads. */
static void *reaper(void *arg)
{
	struct syslet_outcome o[16];
	unsigned int round = 0;

	(void)arg;
	while (reaping) {
		int n = syslet_wait_reap(fd, &ring, o, 16, 1, 2 * 1000 * 1000);
		long threads = syslet_fdinfo_value(fd, "syslet-threads");
		long tasks = tap_thread_count();

		/* One over is what a stock race reads (see load_run()): a real
		 * excess is still there a moment later. */
		if (tasks > nproc) {
			for (int i = 0; i < 20 && tasks > nproc; i++) {
				usleep(1000);
				tasks = tap_thread_count();
			}
			if (tasks <= nproc)
				transient_over++;
		}
		for (int i = 0; i < n; i++)
			account_outcome(&o[i], ASYNC_DONE);
		if (threads > most_threads)
			most_threads = threads;
		if (tasks > most_tasks)
			most_tasks = tasks;
		if (++round % 16 == 0)
			usleep(50 * 1000);
	}
	return NULL;
}

static void load_run(int cap, int tasks_cap)
{
	const char *env = getenv("SYSLET_LOAD_SECONDS");
	int seconds = env ? atoi(env) : 5;
	struct rlimit limit = { tasks_cap, tasks_cap };
	struct syslet_setup s = { .spares = 4, .max_threads = cap, .ring_entries = 4,
				  .max_pending = 256 };
	pthread_t sub[SUBMITTERS], feed, reap;
	long lost, overflowed;

	max_threads = cap;
	nproc = tasks_cap;
	direct = open("/dev/nullb0", O_RDONLY | O_DIRECT);
	shallow = open("/dev/nullb-shallow", O_RDONLY | O_DIRECT);
	CHECK_EQ(tap_become_nobody(), 0);
	CHECK_EQ(setrlimit(RLIMIT_NPROC, &limit), 0);
	fd = syslet_open();
	CHECK(fd >= 0);
	CHECK_EQ(syslet_setup(fd, &s), 0);
	CHECK_EQ(syslet_ring_mmap(fd, &s, &ring), 0);
	for (int t = 0; t < SUBMITTERS; t++)
		CHECK(pipe(pipes[t]) == 0);
	CHECK(pthread_create(&feed, NULL, feeder, NULL) == 0);
	CHECK(pthread_create(&reap, NULL, reaper, NULL) == 0);
	for (int t = 0; t < SUBMITTERS; t++)
		CHECK(pthread_create(&sub[t], NULL, submitter, (void *)(uintptr_t)t) == 0);
	/* Every program thread exists before the first chain: what is left
	 * under RLIMIT_NPROC is for the context's threads. */
	start = 1;
	sleep(seconds);
	stop = 1;
	for (int t = 0; t < SUBMITTERS; t++)
		pthread_join(sub[t], NULL);
	/* Drain: every queued chain completes once its pipe is fed. */
	for (int i = 0; i < 1000 && sync_done + async_done < submitted; i++)
		usleep(10 * 1000);
	reaping = 0;
	pthread_join(feed, NULL);
	pthread_join(reap, NULL);
	{
		struct syslet_outcome o[16];
		int n;

		while ((n = syslet_ring_reap(&ring, o, 16)) > 0)
			for (int i = 0; i < n; i++)
				account_outcome(&o[i], ASYNC_DONE);
	}
	/* Lost: a submitted chain whose result never came, whatever the sums. */
	lost = 0;
	for (int t = 0; t < SUBMITTERS; t++)
		for (int q = 0; q < MAX_SEQ; q++)
			if (state[t][q] == SUBMITTED && ++lost <= 5)
				printf("# lost: cookie %d:%d\n", t, q);
	overflowed = syslet_fdinfo_value(fd, "syslet-ring-overflow");
	printf("# accounting: submitted %ld, completed-sync %ld, completed-async %ld, lost %ld, "
	       "duplicated %ld, unknown %ld\n",
	       submitted, sync_done, async_done, lost, duplicated, unknown);
	printf("# queued %ld, ring overflow %ld, most syslet threads %ld (cap %d), most tasks %ld "
	       "(RLIMIT_NPROC %d), spare starts failed %ld\n",
	       queued_total, overflowed, most_threads, max_threads, most_tasks, nproc,
	       syslet_fdinfo_value(fd, "syslet-spares-failed"));
	printf("# cancels %ld (chains found %ld), chains stopped by a cancel or a deadline %ld\n",
	       cancels, cancel_found, halted);
	printf("# direct reads %ld of nullb0 and %ld of the one-request device, in flight with "
	       "no thread %ld; outcomes -EAGAIN %ld\n", direct_reads, shallow_reads,
	       syslet_fdinfo_value(fd, "syslet-direct-io"), eagain);
	printf("# hardening: load, %d threads x %d s, sync, blocking and thread-free chains, cancels and "
	       "deadlines, exact accounting, thread cap %d "
	       "| %ld chains (most threads %ld) | %ld lost, %ld duplicated, %ld unknown, "
	       "threads <= cap\n",
	       SUBMITTERS, seconds, max_threads, submitted, most_threads, lost, duplicated,
	       unknown);
	CHECK(submitted > 0);
	CHECK(queued_total > 0);
	CHECK(halted > 0);
	CHECK(direct >= 0 && syslet_fdinfo_value(fd, "syslet-direct-io") > 0);
	CHECK_EQ(eagain, 0);
	CHECK_EQ(lost, 0);
	CHECK_EQ(sync_done + async_done, submitted);
	CHECK_EQ(duplicated, 0);
	CHECK_EQ(unknown, 0);
	CHECK_EQ(async_done, queued_total);
	CHECK(most_threads <= max_threads);
	/*
	 * Sampled, so it can miss a peak. The thread count is not the count
	 * RLIMIT_NPROC checks: release_task() uncounts an exiting thread from
	 * the user's tasks, then (pidfs, the cgroup release, waiting for
	 * tasklist_lock; all of it can sleep on PREEMPT_RT) drops it from the
	 * thread count. A fork inside that window is allowed and joins the
	 * thread count first, so a reading then is one over, for a moment (CI
	 * saw 13 of 12 once on the rt kernel). The reaper reads again, up to
	 * 20 times 1 ms apart, and keeps the last reading: an excess that
	 * lasts is a real one. cachemiss.c pins the limit exactly with no
	 * spare allowed at all.
	 */
	if (transient_over)
		printf("# readings over RLIMIT_NPROC that the next one undid: %ld\n",
		       transient_over);
	CHECK(most_tasks <= nproc);
}

TEST(every_chain_has_exactly_one_result_under_load)
{
	load_run(8, 12);
}

/*
 * The same with room for 200 threads, beyond the 32 a context once had: on
 * 2026-12-02 the debug kernel's run reached 49 at once, the rt kernel's 83
 * (the load's pipes are fed every 2 ms, and under TCG the submitters are
 * slow; how many is printed, not checked).
 */
TEST(every_chain_has_exactly_one_result_with_room_for_200_threads)
{
	load_run(200, 240);
}
