// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded ABI fuzzer, run as an unprivileged user: random and mutated
 * chains and ioctl arguments (bad, unaligned and kernel pointers, loops,
 * random flags and reserved bits, refused and unknown system call numbers,
 * random batch sizes), chains that block and go asynchronous, O_DIRECT reads
 * and writes of null_blk that go in flight with no thread (some naming
 * registered buffers, good and bad; registrations good and bad), random ring
 * indices written by user space, the ring unmapped and mapped again while
 * chains are in flight, and another thread that swaps the descriptor for
 * /dev/null or a fresh context mid-submission. Every call must return a
 * result or one of the documented errnos; the guest's kernel-log check
 * catches anything else the kernel thinks of it. SYSLET_FUZZ_SEED and
 * SYSLET_FUZZ_ITERS (how many submissions, set-ups and waits between them
 * not counted) override the defaults (`make soak` runs a long one).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <syslet.h>

#include "tap.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic for a seed. A random atom may zero our
	 * memory (madvise, a read into it...): never get stuck at 0. */
	if (!rng_state)
		rng_state = 0x9e3779b97f4a7c15ULL;
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static uint64_t pick(const uint64_t *v, unsigned int n)
{
	return v[rnd() % n];
}

#define NATOMS 16
static struct syslet_atom atoms[NATOMS];
static __s64 scratch[8];

/* An address an atom may hold: good, odd, bad, or hostile. */
static uint64_t some_address(void)
{
	const uint64_t bad[] = {
		0, 1, 8, 0xffffffff81000000ULL, 0xffff888000000000ULL,
		0x7ffffffff000ULL - 8, 0x7ffffffffffcULL, (uint64_t)-1,
	};

	switch (rnd() % 5) {
	case 0:
		return syslet_ptr(&scratch[rnd() % 8]);
	case 1:
		return syslet_ptr(&atoms[rnd() % NATOMS]);
	case 2:	/* inside an atom, misaligned */
		return syslet_ptr(&atoms[rnd() % NATOMS]) + 1 + rnd() % 79;
	default:
		return pick(bad, sizeof(bad) / sizeof(bad[0]));
	}
}

static void random_atom(struct syslet_atom *a)
{
	/* Harmless calls, refused ones, the ADD operation and noise. */
	const uint64_t nrs[] = {
		SYS_getpid, SYS_getppid, SYS_gettid, SYS_sched_yield, SYSLET_OP_ADD,
		SYS_fork, SYS_execve, SYS_exit, SYS_ioctl, SYS_setuid, SYS_rt_sigreturn,
		SYSLET_OP_BASE + 1, 0x7fffffff, 1000,
	};

	a->nr = (__u32)pick(nrs, sizeof(nrs) / sizeof(nrs[0]));
	a->flags = (rnd() % 4) ? (__u32)(rnd() & 0x1f3f) : (__u32)rnd();
	/* Argument pointers must not let an atom write where it may hurt:
	 * the only writing call here is ADD, on whatever args[0] says. */
	for (int i = 0; i < 6; i++)
		a->args[i] = (a->flags & (1U << i)) ? some_address() : rnd();
	if (a->nr == SYSLET_OP_ADD) {
		/* ADD writes through args[0]: only our scratch or a bad address. */
		a->flags &= ~SYSLET_ATOM_ARG_PTR(0);
		a->args[0] = (rnd() % 3) ? syslet_ptr(&scratch[rnd() % 8]) : some_address();
		if (a->args[0] >= syslet_ptr(atoms) && a->args[0] < syslet_ptr(atoms + NATOMS))
			a->args[0] = 8;
	}
	a->result = (rnd() % 3) ? syslet_ptr(&scratch[rnd() % 8]) : (rnd() % 2 ? 0 : some_address());
	a->next = (rnd() % 3) ? syslet_ptr(&atoms[rnd() % NATOMS]) : (rnd() % 2 ? 0 : some_address());
	a->cookie = rnd();
}

/* A pipe whose read end blocking atoms read (fed now and then). */
static int feed[2];

/* A chain of one read that blocks unless the pipe has a byte. */
static void blocking_atom(struct syslet_atom *a)
{
	syslet_atom_prep(a, SYS_read, feed[0], syslet_ptr(&scratch[rnd() % 8]), 1 + rnd() % 8,
			 0, 0, 0);
	a->result = (rnd() % 2) ? syslet_ptr(&scratch[rnd() % 8]) : 0;
	a->cookie = rnd();
}

/* /dev/nullb0 with O_DIRECT, opened before the fuzzer drops its
 * privileges (-1 without it): reads that go in flight with no thread. Half
 * the atoms use /dev/nullb-shallow instead when the guest made it: one
 * request at a time, so I/O issued while it is busy is refused inside the
 * submission and takes the system call's path. */
static int direct_fd = -1, shallow_fd = -1;
static char direct_buf[4][4096] __attribute__((aligned(4096)));

static struct iovec direct_iov[4];

/* A chain of one pread64, pwrite64, preadv or pwritev of the device: mostly
 * one that goes in flight, else an unaligned, oversized or misplaced one.
 * The buffers are never ones a read could overrun: ours (the iovecs point
 * into them), or addresses that cannot be written. */
static void direct_atom(struct syslet_atom *a, unsigned int c)
{
	const uint64_t nrs[] = { SYS_pread64, SYS_pwrite64, SYS_preadv, SYS_pwritev };
	const uint64_t bad[] = { 0, 8, 0xffff888000000000ULL, (uint64_t)-4096 };
	uint64_t nr = pick(nrs, 4), vectored = nr == SYS_preadv || nr == SYS_pwritev;
	uint64_t buf = (rnd() % 8) ? (vectored ? syslet_ptr(direct_iov) : syslet_ptr(direct_buf[c % 4]))
				   : pick(bad, 4);
	uint64_t len = vectored ? 1 + rnd() % 4 : (rnd() % 8) ? 4096 : rnd() % 4096;
	uint64_t off = (rnd() % 8) ? (rnd() % 1024) * 4096 : rnd();

	for (int i = 0; i < 4; i++)
		direct_iov[i] = (struct iovec){ direct_buf[i], (rnd() % 8) ? 4096 : rnd() % 4096 };
	int fd = shallow_fd >= 0 && rnd() % 2 ? shallow_fd : direct_fd;

	syslet_atom_prep(a, (__u32)nr, fd, buf, len, off, 0, 0);
	a->flags = (rnd() % 4) ? 0 : (__u32)(rnd() & 0x1f00);
	/* Half name a registered buffer: 0 and 1 may be registered, 2 not. */
	if (rnd() % 2)
		syslet_atom_fixed_buffer(a, rnd() % 3);
	a->result = (rnd() % 3) ? syslet_ptr(&scratch[rnd() % 8]) : (rnd() % 2 ? 0 : some_address());
	a->cookie = rnd();
}

static int expected(int err)
{
	/* EBADF: an atom run from a misaligned address can be close() of any
	 * descriptor, the context's included, until the swapper replaces it. */
	return err == EINVAL || err == EFAULT || err == EBUSY || err == ENOTTY ||
	       err == ETIMEDOUT || err == EINTR || err == EBADF || err == ENOENT;
}

/*
 * The fuzz loop, in a child whose standard descriptors are /dev/null: a
 * chain that runs from a misaligned address can be any allowed call with
 * any arguments, a read of standard input that never ends or a write into
 * the test's output included. Results go to memory shared with the parent.
 */
struct fuzz_report {
	long done, odd, submits, went_async, reaped, scribbled, remapped, swapped;
	long first_odd_iter, first_odd_ret, first_odd_errno;
	unsigned long first_odd_cmd;
};

static void fuzz_loop(uint64_t seed, long n, struct fuzz_report *rep);

TEST(seeded_fuzz_of_submit_setup_wait)
{
	const char *seed = getenv("SYSLET_FUZZ_SEED"), *iters = getenv("SYSLET_FUZZ_ITERS");
	long n = iters ? atol(iters) : 100000;
	struct timespec t0, t1;
	uint64_t s0 = seed ? strtoull(seed, NULL, 0) : 0x5eed5a1e7ULL;
	struct fuzz_report *rep = mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE,
				       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int status;
	pid_t pid;

	CHECK(rep != MAP_FAILED);
	printf("# seed %#llx, until %ld submissions\n", (unsigned long long)s0, n);
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		direct_fd = open("/dev/nullb0", O_RDWR | O_DIRECT);
		shallow_fd = open("/dev/nullb-shallow", O_RDWR | O_DIRECT);
		if (tap_become_nobody() != 0)
			_exit(3);
		fuzz_loop(s0, n, rep);
		_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# %ld submissions and other calls as uid %d in %.1f s, %ld unexpected returns\n",
	       rep->done, TAP_NOBODY, t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9,
	       rep->odd);
	printf("# %ld went asynchronous, %ld completions reaped, %ld ring heads scribbled,"
	       " %ld ring remaps, %ld descriptor swaps\n",
	       rep->went_async, rep->reaped, rep->scribbled, rep->remapped, rep->swapped);
	printf("# hardening: fuzzed submissions (deadlines among them), set-ups, waits and cancels, unprivileged, fixed seed "
	       "| %ld submissions (%ld calls) | %ld unexpected returns, log clean\n",
	       rep->submits, rep->done, rep->odd);
	if (rep->odd)
		printf("# first: iteration %ld, cmd %#lx returned %ld, errno %ld\n",
		       rep->first_odd_iter, rep->first_odd_cmd, rep->first_odd_ret,
		       rep->first_odd_errno);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("fuzzer child status %#x", status);
	CHECK(rep->submits >= n);
	CHECK_EQ(rep->odd, 0);
}

static void on_tick(int sig)
{
	(void)sig;
}

/* The context's descriptor number, which the swapper thread replaces. */
static int fuzz_fd;
static volatile int fuzz_over;

/* Swaps the descriptor, now and then, for /dev/null or a fresh context:
 * submissions in flight on the old file must still end cleanly. */
static void *swapper(void *arg)
{
	struct fuzz_report *rep = arg;
	uint64_t r = 0x5a5a5a5a5a5aULL ^ rng_state;
	sigset_t tick;

	/* The tick is for the fuzzing thread, whose atoms may block. */
	sigemptyset(&tick);
	sigaddset(&tick, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &tick, NULL);

	while (!fuzz_over) {
		int nfd;

		r = r * 6364136223846793005ULL + 1442695040888963407ULL;
		usleep(5000 + (r >> 33) % 50000);
		nfd = (r >> 20) % 4 ? syslet_open() : open("/dev/null", O_RDWR);
		if (nfd < 0)
			continue;
		/* A random atom may have closed it: then open() took its number. */
		if (nfd != fuzz_fd) {
			dup2(nfd, fuzz_fd);
			close(nfd);
		}
		rep->swapped++;
	}
	return NULL;
}

/* Maps the ring of whatever the descriptor is now; NULL if it has none. */
static struct syslet_ring *map_ring(size_t *size)
{
	struct syslet_setup q = { 0 };
	void *p;

	/* A fresh context takes defaults on first use; ask for them. */
	if (syslet_setup(fuzz_fd, &q) != 0 && errno != EBUSY)
		return NULL;
	*size = 128 * sizeof(struct syslet_outcome) + 4096;
	p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fuzz_fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void fuzz_loop(uint64_t seed, long n, struct fuzz_report *rep)
{
	/* A random atom may sleep for days (nanosleep, poll, futex, ...): a
	 * signal every 20 ms interrupts it (EINTR, no restart). */
	struct sigaction sa = { .sa_handler = on_tick };
	struct itimerval tick = { { 0, 20000 }, { 0, 20000 } };

	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &tick, NULL);
	/* An atom run from a misaligned address can close() any descriptor,
	 * the feed pipe's read end too: the next feeding write must then fail
	 * with EPIPE, not kill the fuzzer (seen once in 2026-11-30's runs). */
	signal(SIGPIPE, SIG_IGN);
	static uint64_t chains[300];
	static struct syslet_outcome outcomes[300];
	struct syslet_submit s;
	struct syslet_setup setup = { .atom_budget = 16 };
	struct syslet_ring *ring;
	size_t ring_size = 0;
	pthread_t t;
	int fd = syslet_open();

	rng_state = seed;
	if (fd < 0 || syslet_setup(fd, &setup) != 0 || pipe(feed) != 0)
		_exit(2);
	fcntl(feed[1], F_SETFL, O_NONBLOCK);
	fuzz_fd = fd;
	ring = map_ring(&ring_size);
	if (pthread_create(&t, NULL, swapper, rep) != 0)
		_exit(4);
	for (long i = 0; rep->submits < n; i++) {
		unsigned long cmd;
		int ret;

		/* The ring: reaped, scribbled on, or mapped again. */
		if (ring) {
			__u32 tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);

			rep->reaped += (__u32)(tail - ring->head) <= ring->entries ?
					       (__u32)(tail - ring->head) : 0;
			if (rnd() % 32 == 0) {
				ring->head = (__u32)rnd();
				rep->scribbled++;
			} else {
				__atomic_store_n(&ring->head, tail, __ATOMIC_RELEASE);
			}
		}
		if (rnd() % 256 == 0) {
			if (ring)
				munmap(ring, ring_size);
			ring = map_ring(&ring_size);
			rep->remapped++;
		}
		if (rnd() % 8 == 0 && write(feed[1], "f", 1) < 0)
			rep->done += 0;	/* full: fine */

		for (int k = 0; k < NATOMS; k++)
			random_atom(&atoms[k]);
		memset(&s, 0, sizeof(s));
		/* Mostly small batches; now and then a huge or invalid one. */
		s.nr_chains = (rnd() % 128) ? 1 + rnd() % 4 : (__u32)(rnd() % 300);
		for (unsigned int c = 0; c < s.nr_chains && c < 300; c++)
			chains[c] = (rnd() % 4) ? syslet_ptr(&atoms[rnd() % NATOMS]) : some_address();
		s.chains = (rnd() % 10) ? syslet_ptr(chains) : some_address();
		s.outcomes = (rnd() % 4) ? syslet_ptr(outcomes) : (rnd() % 2 ? 0 : some_address());
		/* Mostly synchronous; sometimes reserved bits; now and then a
		 * chain that blocks and may go asynchronous. */
		s.flags = (rnd() % 8) ? SYSLET_SUBMIT_SYNC_ONLY : (__u32)rnd();
		if (rnd() % 32 == 0) {
			blocking_atom(&atoms[0]);
			chains[0] = syslet_ptr(&atoms[0]);
			s.chains = syslet_ptr(chains);
			s.flags = (__u32)(rnd() % 8) & ~SYSLET_SUBMIT_SYNC_ONLY;
			if (rnd() % 2)
				s.flags |= SYSLET_SUBMIT_RETURN_ON_BLOCK;
		} else if (direct_fd >= 0 && rnd() % 16 == 0) {
			s.nr_chains = 1 + rnd() % 4;
			for (unsigned int c = 0; c < s.nr_chains; c++) {
				direct_atom(&atoms[c], c);
				chains[c] = syslet_ptr(&atoms[c]);
			}
			s.chains = syslet_ptr(chains);
			s.flags = (__u32)(rnd() % 16) & ~SYSLET_SUBMIT_SYNC_ONLY;
		}
		if (rnd() % 16 == 0)
			s.reserved[rnd() % 2] = rnd();
		/* Now and then a deadline: up to 2 ms, relative or absolute. */
		if (rnd() % 8 == 0) {
			s.flags |= SYSLET_SUBMIT_TIMEOUT | (rnd() % 2 ? SYSLET_SUBMIT_TIMEOUT_ABS : 0);
			s.timeout_ns = (rnd() % 16) ? (__s64)(rnd() % 2000000) : (__s64)rnd();
		}
		switch (rnd() % 16) {
		case 0: {
			/* Never an unbounded wait: the timeout is 0 or 1 us. */
			struct syslet_wait w = {
				.min_complete = (__u32)(rnd() % 200),
				.timeout_ns = (__s64)(rnd() % 2) * 1000,
				.flags = (rnd() % 8) ? 0 : (__u32)rnd(),
			};

			cmd = SYSLET_IOC_WAIT;
			ret = ioctl(fuzz_fd, cmd, (rnd() % 8) ? (void *)&w : (void *)(uintptr_t)some_address());
			break;
		}
		case 1:
			cmd = SYSLET_IOC_SETUP;
			ret = ioctl(fuzz_fd, cmd, (void *)&s);
			break;
		case 2:
			cmd = _IOWR(SYSLET_IOC_MAGIC, rnd() % 32, struct syslet_submit);
			ret = ioctl(fuzz_fd, cmd, (void *)&s);
			break;
		case 3: {
			/* Cancel what is queued: a cookie of the atoms, all, or junk. */
			struct syslet_cancel cn = {
				.cookie = (rnd() % 2) ? atoms[rnd() % NATOMS].cookie : rnd(),
				.flags = (rnd() % 8) ? 0 : (__u32)rnd(),
			};

			if (rnd() % 4 == 0) {
				cn.cookie = 0;
				cn.flags = SYSLET_CANCEL_ALL;
			}
			cmd = SYSLET_IOC_CANCEL;
			ret = ioctl(fuzz_fd, cmd, (rnd() % 8) ? (void *)&cn : (void *)(uintptr_t)some_address());
			break;
		}
		case 4: {
			/* Register buffers: ours (direct_buf's two halves), or
			 * random ranges, counts, flags and pointers. */
			struct iovec iov[2] = { { direct_buf[0], 8192 }, { direct_buf[2], 8192 } };
			struct syslet_buffers b = {
				.iovecs = syslet_ptr(iov),
				.nr = (rnd() % 4) ? 2 : (__u32)rnd() % 2000,
				.flags = (rnd() % 8) ? 0 : (__u32)rnd(),
			};

			if (rnd() % 4 == 0) {
				iov[rnd() % 2] = (struct iovec){ (void *)(uintptr_t)some_address(),
								 (size_t)(rnd() % (1ULL << 31)) };
			}
			cmd = SYSLET_IOC_REGISTER_BUFFERS;
			ret = ioctl(fuzz_fd, cmd, (rnd() % 8) ? (void *)&b : (void *)(uintptr_t)some_address());
			/* Past RLIMIT_MEMLOCK: documented. */
			if (ret == -1 && errno == ENOMEM)
				ret = 0;
			break;
		}
		default:
			cmd = SYSLET_IOC_SUBMIT;
			rep->submits++;
			ret = ioctl(fuzz_fd, cmd, (rnd() % 50) ? (void *)&s : (void *)(uintptr_t)some_address());
			if (ret == 0 && s.queued)
				rep->went_async++;
		}
		if (ret != 0 && !(ret == -1 && expected(errno))) {
			if (!rep->odd) {
				rep->first_odd_iter = i;
				rep->first_odd_cmd = cmd;
				rep->first_odd_ret = ret;
				rep->first_odd_errno = errno;
			}
			rep->odd++;
		}
		rep->done = i + 1;
	}
	fuzz_over = 1;
	pthread_join(t, NULL);
}
