// SPDX-License-Identifier: GPL-2.0
/*
 * Blocking I/O: random 4 KiB O_DIRECT reads from /dev/nullb0 at queue depths
 * 1, 8, 32 and 128, for SYSLET_BENCH_SECONDS (default 2) each.
 *
 * The device is null_blk with timer completion (the guest's init loads it):
 * every read really blocks for a fixed time, whatever the host's disk does.
 * Four ways to keep @qd reads in flight from one submitting thread:
 *
 *  - plain pread(): one at a time (queue depth 1 only);
 *  - a pthread pool of @qd workers doing pread(), fed through a mutex and
 *    condition variables, the classic user-space answer;
 *  - io_uring: @qd reads in flight, one io_uring_enter() submits the
 *    replacements and waits for at least one completion; as
 *    "io_uring-reg", with the device registered (IOSQE_FIXED_FILE) and the
 *    buffers too (IORING_OP_READ_FIXED), as a tuned io_uring user would;
 *    as "io_uring-sqpoll", registered and with a kernel thread polling the
 *    submission queue (IORING_SETUP_SQPOLL) on CPU 1 of its own
 *    (IORING_SETUP_SQ_AFF), the submitter on CPU 0, entering only to wait;
 *  - syslets: each read is a one-atom chain; it goes in flight with no
 *    thread (SYSLET_FEAT_THREAD_FREE_IO: the device is opened with O_DIRECT
 *    and can start a read without waiting), or, if the driver cannot take
 *    it at once, it blocks and a spare takes over the caller, which submits
 *    the next; completions come from the ring;
 *  - syslets, batched: the same chains, all of a round in one
 *    syslet_submit_all() call (SYSLET_SUBMIT_RETURN_ON_BLOCK: one ioctl per
 *    chain that blocks), and, as "syslet-1call", in one plain ioctl (the
 *    chains after one that blocked run on in the caller's context, each
 *    that blocks on a carrier of its own: SYSLET_FEAT_CONCURRENT_BATCH);
 *  - as "syslet-reg" and "syslet-1call-reg", the same with every slot's
 *    buffer registered (SYSLET_IOC_REGISTER_BUFFERS) and the reads naming
 *    it (SYSLET_ATOM_FIXED_BUFFER): no page pinned per read. The device
 *    itself is not registered (syslets have no registered files).
 *
 * Reported: IOPS, and the median and 99th percentile of the latency from
 * submission to the submitter seeing the completion.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <syslet.h>
#include <sys/syscall.h>

#include "bench.h"
#include "uring.h"

#define BS 4096
#define MAX_QD 128
#define MAX_SAMPLES (1 << 20)

static int dev;
/* The syslet rows' reads name the registered buffers (the "-reg" rows). */
static bool fixed;
static unsigned long long blocks, rng = 88172645463325252ULL;
static char *bufs;
static double seconds, start_ns[MAX_QD], *lat;
static long nlat;

static unsigned long long rand_off(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng % blocks * BS;
}

static char *buf(int slot)
{
	return bufs + (size_t)slot * BS;
}

static void completed(int slot, long long res)
{
	if (res != BS) {
		fprintf(stderr, "blockdev: read returned %lld\n", res);
		abort();
	}
	if (nlat < MAX_SAMPLES)
		lat[nlat++] = now_ns() - start_ns[slot];
}

static void report(const char *method, int qd, double elapsed_ns)
{
	double iops = nlat / (elapsed_ns / 1e9), p50, p99;

	sort_doubles(lat, nlat);
	p50 = percentile(lat, nlat, 0.5) / 1e3;
	p99 = percentile(lat, nlat, 0.99) / 1e3;
	printf("%-22s qd %3d %9.0f IOPS   latency p50 %7.1f us  p99 %7.1f us\n", method, qd, iops,
	       p50, p99);
	printf("data io-%s %d %.0f %.1f %.1f\n", method, qd, iops, p50, p99);
}

static void run_pread(void)
{
	double t0 = now_ns(), end = t0 + seconds * 1e9;

	nlat = 0;
	while ((start_ns[0] = now_ns()) < end)
		completed(0, pread(dev, buf(0), BS, rand_off()));
	report("pread", 1, now_ns() - t0);
}

enum uring_mode { URING_PLAIN, URING_REGISTERED, URING_SQPOLL };

/* One read of slot @s: on the registered file and buffers, or not. */
static void uring_queue(struct uring *u, int s, bool registered)
{
	if (registered)
		uring_prep_read_fixed(u, buf(s), BS, rand_off(), s, s);
	else
		uring_prep_read(u, dev, buf(s), BS, rand_off(), 0, s);
}

static void run_uring(int qd, enum uring_mode mode)
{
	static const char *const names[] = { "io_uring", "io_uring-reg", "io_uring-sqpoll" };
	const char *name = names[mode];
	bool registered = mode != URING_PLAIN;
	struct io_uring_cqe cqe;
	struct uring u = { 0 };
	double t0, end;
	int inflight = 0, to_submit = 0;
	long calls = 0, reads = 0;
	cpu_set_t cpus, cpu0;

	/*
	 * The poller sleeps after 1 s idle, never during a run. It spins on
	 * CPU 1, the submitter runs on CPU 0: sharing a CPU, each would wait
	 * for the other's time slice.
	 */
	if (mode == URING_SQPOLL) {
		CPU_ZERO(&cpu0);
		CPU_SET(0, &cpu0);
		if (sched_getaffinity(0, sizeof(cpus), &cpus) ||
		    sched_setaffinity(0, sizeof(cpu0), &cpu0)) {
			printf("%-22s qd %3d: cannot run on CPU 0 alone\n", name, qd);
			return;
		}
	}
	if (uring_init_flags(&u, 2 * MAX_QD, mode == URING_SQPOLL ?
			     IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF : 0, 1000, 1)) {
		printf("%-22s qd %3d: no such ring here\n", name, qd);
		goto out;
	}
	if (registered && uring_register(&u, dev, bufs, MAX_QD, BS)) {
		printf("%-22s qd %3d: registering the file and buffers failed\n", name, qd);
		goto out;
	}
	nlat = 0;
	t0 = now_ns();
	end = t0 + seconds * 1e9;
	for (int s = 0; s < qd; s++, to_submit++, inflight++) {
		start_ns[s] = now_ns();
		uring_queue(&u, s, registered);
	}
	while (inflight) {
		if (uring_submit(&u, 1) < 0)
			abort();
		calls++;
		reads += to_submit;
		to_submit = 0;
		while (uring_next_cqe(&u, &cqe)) {
			int s = (int)cqe.user_data;

			completed(s, cqe.res);
			inflight--;
			if (now_ns() < end) {
				start_ns[s] = now_ns();
				uring_queue(&u, s, registered);
				to_submit++;
				inflight++;
			}
		}
	}
	report(name, qd, now_ns() - t0);
	printf("%-22s %ld io_uring_enter calls, %.1f reads submitted each\n", "", calls,
	       calls ? (double)reads / calls : 0.0);
out:
	uring_exit(&u);
	if (mode == URING_SQPOLL)
		sched_setaffinity(0, sizeof(cpus), &cpus);
}

/* The pthread pool: requests and completions are stacks of slot numbers. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	int req[MAX_QD], nreq, comp[MAX_QD], ncomp;
	unsigned long long off[MAX_QD];
	long long res[MAX_QD];
	bool stop;
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER,
};

static void *pool_worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		while (!pool.nreq && !pool.stop)
			pthread_cond_wait(&pool.work, &pool.lock);
		if (!pool.nreq)
			break;
		int s = pool.req[--pool.nreq];

		pthread_mutex_unlock(&pool.lock);
		long long res = pread(dev, buf(s), BS, pool.off[s]);

		pthread_mutex_lock(&pool.lock);
		pool.res[s] = res;
		pool.comp[pool.ncomp++] = s;
		pthread_cond_signal(&pool.done);
	}
	pthread_mutex_unlock(&pool.lock);
	return NULL;
}

/* Queues slot @s; called with the pool's lock held. */
static void pool_queue(int s)
{
	start_ns[s] = now_ns();
	pool.off[s] = rand_off();
	pool.req[pool.nreq++] = s;
	pthread_cond_signal(&pool.work);
}

static void run_pool(int qd)
{
	pthread_t workers[MAX_QD];
	double t0, end;
	int inflight = 0;

	pool.stop = false;
	pool.nreq = pool.ncomp = 0;
	for (int w = 0; w < qd; w++)
		if (pthread_create(&workers[w], NULL, pool_worker, NULL))
			abort();
	nlat = 0;
	t0 = now_ns();
	end = t0 + seconds * 1e9;
	pthread_mutex_lock(&pool.lock);
	for (int s = 0; s < qd; s++, inflight++)
		pool_queue(s);
	while (inflight) {
		while (!pool.ncomp)
			pthread_cond_wait(&pool.done, &pool.lock);
		while (pool.ncomp) {
			int s = pool.comp[--pool.ncomp];

			completed(s, pool.res[s]);
			inflight--;
			if (now_ns() < end) {
				pool_queue(s);
				inflight++;
			}
		}
	}
	pool.stop = true;
	pthread_cond_broadcast(&pool.work);
	pthread_mutex_unlock(&pool.lock);
	report("pthread-pool", qd, now_ns() - t0);
	for (int w = 0; w < qd; w++)
		pthread_join(workers[w], NULL);
}

static struct syslet_atom atoms[MAX_QD];

/* Submits slot @s; returns 1 if it went asynchronous. */
static int syslet_queue(int fd, int s)
{
	struct syslet_outcome o;
	int ret;

	start_ns[s] = now_ns();
	syslet_atom_prep(&atoms[s], SYS_pread64, dev, syslet_ptr(buf(s)), BS, rand_off(), 0, 0);
	if (fixed)
		syslet_atom_fixed_buffer(&atoms[s], 0);
	atoms[s].cookie = s;
	ret = syslet_run(fd, &atoms[s], &o);
	CHECK(ret >= 0);
	if (ret == 1)
		completed(s, o.result); /* no spare was free: it ran in the caller */
	return ret == 0;
}

/* Keeps slot @s busy until @end; returns 1 if a read of it is in flight. */
static int syslet_refill(int fd, int s, double end)
{
	while (now_ns() < end)
		if (syslet_queue(fd, s))
			return 1;
	return 0;
}

/*
 * A context for the syslet rows, with its ring mapped. Carriers park as
 * spares when done, so the pool grows to what is in flight. For the "-reg"
 * rows every slot's buffer is registered, as one buffer (index 0).
 */
static int syslet_ctx_open(struct syslet_ring_map *ring)
{
	struct syslet_setup setup = { .spares = 2, .max_threads = MAX_QD, .ring_entries = 2 * MAX_QD };
	struct iovec all = { bufs, (size_t)MAX_QD * BS };
	int fd = syslet_open();

	CHECK(fd >= 0);
	CHECK(syslet_setup(fd, &setup) == 0);
	CHECK(syslet_ring_mmap(fd, &setup, ring) == 0);
	if (fixed)
		CHECK(syslet_register_buffers(fd, &all, 1) == 0);
	return fd;
}

/* Reports a syslet row, with the context's counters, and closes it. */
static void syslet_ctx_report(const char *method, int qd, double t0, int fd,
			      struct syslet_ring_map *ring)
{
	report(method, qd, now_ns() - t0);
	printf("%-22s thread-free reads %ld, went async %ld, blocked the caller %ld, "
	       "threads spawned %ld\n", "",
	       syslet_fdinfo_value(fd, "syslet-direct-io"),
	       syslet_fdinfo_value(fd, "syslet-went-async"),
	       syslet_fdinfo_value(fd, "syslet-blocked-sync"),
	       syslet_fdinfo_value(fd, "syslet-spares-spawned"));
	syslet_ring_munmap(ring);
	close(fd);
}

static void run_syslet(int qd)
{
	struct syslet_ring_map ring = { 0 };
	struct syslet_outcome outs[MAX_QD];
	int fd = syslet_ctx_open(&ring), inflight = 0;
	double t0, end;

	nlat = 0;
	t0 = now_ns();
	end = t0 + seconds * 1e9;
	for (int s = 0; s < qd; s++)
		inflight += syslet_refill(fd, s, end);
	while (inflight) {
		int n = syslet_wait_reap(fd, &ring, outs, MAX_QD, 1, -1);

		CHECK(n >= 0);
		for (int i = 0; i < n; i++) {
			int s = (int)outs[i].cookie;

			completed(s, outs[i].result);
			inflight += syslet_refill(fd, s, end) - 1;
		}
	}
	syslet_ctx_report(fixed ? "syslet-reg" : "syslet", qd, t0, fd, &ring);
}

/*
 * The same reads, batched: the first @qd, and then each round's
 * replacements, go in one syslet_submit_all() call
 * (SYSLET_SUBMIT_RETURN_ON_BLOCK), or with @one_call in one plain
 * submission; either way every read that blocks has a carrier of its own.
 * A read that ran in the caller (no spare was parked) is replaced in the
 * next call; with @one_call, only those before the first that blocked
 * report there: the others come through the ring.
 */
static void run_syslet_batch(int qd, bool one_call)
{
	struct syslet_ring_map ring = { 0 };
	struct syslet_outcome outs[MAX_QD], o[MAX_QD];
	struct syslet_atom *firsts[MAX_QD];
	int fd = syslet_ctx_open(&ring), inflight = 0, todo[MAX_QD], n = qd;
	long calls = 0, reads = 0;
	double t0, end;

	nlat = 0;
	t0 = now_ns();
	end = t0 + seconds * 1e9;
	for (int s = 0; s < qd; s++)
		todo[s] = s;
	for (;;) {
		if (n && now_ns() < end) {
			int subm[MAX_QD], ran, was = n;
			unsigned int queued = 0;

			for (int i = 0; i < n; i++) {
				int s = subm[i] = todo[i];

				start_ns[s] = now_ns();
				syslet_atom_prep(&atoms[s], SYS_pread64, dev, syslet_ptr(buf(s)), BS,
						 rand_off(), 0, 0);
				if (fixed)
					syslet_atom_fixed_buffer(&atoms[s], 0);
				atoms[s].cookie = s;
				firsts[i] = &atoms[s];
			}
			calls++;
			reads += n;
			if (one_call) {
				ran = syslet_submit_flags(fd, firsts, n, o, 0, &queued);
				for (int i = ran; i < n; i++)
					o[i].flags = SYSLET_OUTCOME_USER;
			} else {
				ran = syslet_submit_all(fd, firsts, n, o, 0, 0, &queued);
			}
			CHECK(ran >= 0 && ran + (int)queued == n);
			inflight += queued;
			n = 0;
			for (int i = 0; i < was; i++) {
				if (o[i].flags & SYSLET_OUTCOME_USER)
					continue;
				completed(subm[i], o[i].result);
				todo[n++] = subm[i];
			}
			continue;
		}
		if (!inflight)
			break;
		int got = syslet_wait_reap(fd, &ring, outs, MAX_QD, 1, -1);

		CHECK(got >= 0);
		for (int i = 0; i < got; i++) {
			int s = (int)outs[i].cookie;

			completed(s, outs[i].result);
			inflight--;
			todo[n++] = s;
		}
	}
	syslet_ctx_report(one_call ? (fixed ? "syslet-1call-reg" : "syslet-1call") : "syslet-batch", qd,
			  t0, fd, &ring);
	printf("%-22s %ld submission rounds, %.1f reads each\n", "", calls,
	       calls ? (double)reads / calls : 0.0);
}

/*
 * What issuing one read costs its submitter, in TSC ticks (instructions
 * under -icount): a thread-free read alone in a SYSLET_IOC_SUBMIT, and a
 * read alone in an io_uring_enter() that only submits. Each read is waited
 * for before the next is issued, so nothing else runs meanwhile (null_blk
 * completes it 50 us later). The median of 200.
 */
static void issue_costs(void)
{
	enum { N = 200 };
	static double sys[N], ur[N];
	struct syslet_ring_map ring = { 0 };
	struct syslet_outcome o;
	struct io_uring_cqe cqe;
	struct uring u = { 0 };
	int fd = syslet_ctx_open(&ring);
	struct stat3 a, b;

	for (int i = 0; i < N; i++) {
		double t0;

		syslet_atom_prep(&atoms[0], SYS_pread64, dev, syslet_ptr(buf(0)), BS, rand_off(), 0, 0);
		t0 = now_ticks();
		CHECK(syslet_run(fd, &atoms[0], &o) == 0);
		sys[i] = now_ticks() - t0;
		CHECK(syslet_wait_reap(fd, &ring, &o, 1, 1, -1) == 1 && o.result == BS);
	}
	syslet_ring_munmap(&ring);
	close(fd);
	if (uring_init(&u, 8))
		return;
	for (int i = 0; i < N; i++) {
		double t0;

		uring_prep_read(&u, dev, buf(0), BS, rand_off(), 0, 0);
		t0 = now_ticks();
		CHECK(uring_submit(&u, 0) == 1);
		ur[i] = now_ticks() - t0;
		CHECK(uring_submit(&u, 1) >= 0);
		CHECK(uring_next_cqe(&u, &cqe) && cqe.res == BS);
	}
	uring_exit(&u);
	a = summarize(sys, N);
	b = summarize(ur, N);
	printf("issue one read: syslet submit %.0f ticks [%.0f..%.0f], io_uring_enter %.0f [%.0f..%.0f]"
	       " (%.2fx)\n", a.median, a.min, a.max, b.median, b.min, b.max, a.median / b.median);
	printf("data io-issue-syslet 1 %.0f\ndata io-issue-io_uring 1 %.0f\n", a.median, b.median);
}

/*
 * SYSLET_BENCH_ONLY=METHOD:DEPTH runs one row alone (scripts/profile.sh
 * profiles it); METHOD is pool, io_uring, io_uring-reg, io_uring-sqpoll, syslet,
 * syslet-batch, syslet-1call, syslet-reg, syslet-1call-reg, or none for
 * nothing at all.
 */
static void run_only(const char *only)
{
	char method[32];
	int qd = 0;

	if (sscanf(only, "%31[^:]:%d", method, &qd) < 1 || qd < 0 || qd > MAX_QD) {
		printf("SYSLET_BENCH_ONLY=%s: not METHOD:DEPTH\n", only);
		exit(1);
	}
	/* The "-reg" rows are their base row with registered buffers. */
	if (!strcmp(method, "syslet-reg") || !strcmp(method, "syslet-1call-reg")) {
		fixed = true;
		method[strlen(method) - 4] = '\0';
	}
	if (!strcmp(method, "pool"))
		run_pool(qd);
	else if (!strcmp(method, "io_uring"))
		run_uring(qd, URING_PLAIN);
	else if (!strcmp(method, "io_uring-reg"))
		run_uring(qd, URING_REGISTERED);
	else if (!strcmp(method, "io_uring-sqpoll"))
		run_uring(qd, URING_SQPOLL);
	else if (!strcmp(method, "syslet"))
		run_syslet(qd);
	else if (!strcmp(method, "syslet-batch"))
		run_syslet_batch(qd, false);
	else if (!strcmp(method, "syslet-1call"))
		run_syslet_batch(qd, true);
	else if (strcmp(method, "none"))
		printf("SYSLET_BENCH_ONLY: no method %s\n", method);
	/* The reads done, which the profile divides by. */
	printf("data reads-done %ld\n", strcmp(method, "none") ? nlat : 0);
}

void bench_blockdev(void)
{
	static const int depths[] = { 1, 8, 32, 128 };
	const char *env = getenv("SYSLET_BENCH_SECONDS");
	const char *only = getenv("SYSLET_BENCH_ONLY");

	seconds = env ? atof(env) : 2.0;
	dev = open("/dev/nullb0", O_RDONLY | O_DIRECT);
	if (dev < 0) {
		printf("## blocking I/O: no /dev/nullb0, skipped\n\n");
		return;
	}
	blocks = lseek(dev, 0, SEEK_END) / BS;
	bufs = aligned_alloc(BS, (size_t)MAX_QD * BS);
	lat = malloc(MAX_SAMPLES * sizeof(*lat));
	if (!blocks || !bufs || !lat)
		abort();
	printf("## blocking I/O: random %d-byte O_DIRECT reads of null_blk, %.1f s each\n", BS,
	       seconds);
	if (only) {
		run_only(only);
	} else {
		run_pread();
		issue_costs();
		for (unsigned int d = 0; d < sizeof(depths) / sizeof(depths[0]); d++) {
			run_pool(depths[d]);
			run_uring(depths[d], URING_PLAIN);
			run_uring(depths[d], URING_REGISTERED);
			run_uring(depths[d], URING_SQPOLL);
			run_syslet(depths[d]);
			if (depths[d] > 1) {
				run_syslet_batch(depths[d], false);
				run_syslet_batch(depths[d], true);
			}
			fixed = true;
			run_syslet(depths[d]);
			if (depths[d] > 1)
				run_syslet_batch(depths[d], true);
			fixed = false;
		}
	}
	printf("\n");
	free(lat);
	free(bufs);
	close(dev);
}
