/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Header-only C helpers for /dev/syslet, on top of <linux/syslet.h>.
 *
 * Like liburing: everything is prefixed syslet_, functions return 0 (or a
 * count) on success and -errno on failure, and never touch errno's meaning
 * beyond what the system call sets.
 *
 *	struct syslet_atom a[3];
 *	__s64 fd, n;
 *
 *	syslet_atom_prep(&a[0], SYS_openat, AT_FDCWD, (__u64)path, O_RDONLY, 0, 0, 0);
 *	syslet_atom_result(&a[0], &fd);
 *	syslet_atom_link(&a[0], &a[1]);
 *	syslet_atom_prep(&a[1], SYS_read, 0, (__u64)buf, sizeof(buf), 0, 0, 0);
 *	syslet_atom_arg_ptr(&a[1], 0, &fd);		   // fd comes from atom 0
 *	syslet_atom_result(&a[1], &n);
 *	...
 *	if (syslet_run(sfd, &a[0], &outcome) == 0)	   // it blocked: queued
 *		syslet_wait_reap(sfd, &ring, &outcome, 1, 1, -1);  // from the mmap'd ring
 */
#ifndef SYSLET_HELPERS_H
#define SYSLET_HELPERS_H

#include <errno.h>
#include <fcntl.h>
#include <linux/syslet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define SYSLET_DEVICE "/dev/syslet"

static inline __u64 syslet_ptr(const void *p)
{
	return (__u64)(uintptr_t)p;
}

/* Opens the device; returns the fd or -errno. */
static inline int syslet_open(void)
{
	int fd = open(SYSLET_DEVICE, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static inline int syslet_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

static inline int syslet_query(int fd, struct syslet_query *q)
{
	return syslet_ioctl(fd, SYSLET_IOC_QUERY, q);
}

static inline int syslet_setup(int fd, struct syslet_setup *s)
{
	return syslet_ioctl(fd, SYSLET_IOC_SETUP, s);
}

/* Fills @a with system call (or SYSLET_OP_*) @nr and its six arguments. */
static inline void syslet_atom_prep(struct syslet_atom *a, __u32 nr, __u64 a0, __u64 a1,
				    __u64 a2, __u64 a3, __u64 a4, __u64 a5)
{
	memset(a, 0, sizeof(*a));
	a->nr = nr;
	a->args[0] = a0;
	a->args[1] = a1;
	a->args[2] = a2;
	a->args[3] = a3;
	a->args[4] = a4;
	a->args[5] = a5;
}

/* SYSLET_OP_ADD: *word += delta. */
static inline void syslet_atom_prep_add(struct syslet_atom *a, __s64 *word, __s64 delta)
{
	syslet_atom_prep(a, SYSLET_OP_ADD, syslet_ptr(word), (__u64)delta, 0, 0, 0, 0);
}

/* Makes argument @n of @a the __u64/__s64 at @p, read when the atom runs. */
static inline void syslet_atom_arg_ptr(struct syslet_atom *a, unsigned int n, const void *p)
{
	a->flags |= SYSLET_ATOM_ARG_PTR(n);
	a->args[n] = syslet_ptr(p);
}

static inline void syslet_atom_result(struct syslet_atom *a, __s64 *result)
{
	a->result = syslet_ptr(result);
}

static inline void syslet_atom_link(struct syslet_atom *a, const struct syslet_atom *next)
{
	a->next = syslet_ptr(next);
}

static inline void syslet_atom_flags(struct syslet_atom *a, __u32 flags)
{
	a->flags |= flags;
}

/* The pread64/pwrite64 of @a uses registered buffer @index (which holds its buffer). */
static inline void syslet_atom_fixed_buffer(struct syslet_atom *a, unsigned int index)
{
	a->flags |= SYSLET_ATOM_FIXED_BUFFER | SYSLET_ATOM_BUFFER(index);
}

/* Registers @nr buffers for fixed-buffer atoms; 0 or -errno. */
static inline int syslet_register_buffers(int fd, const struct iovec *iov, unsigned int nr)
{
	struct syslet_buffers b;

	memset(&b, 0, sizeof(b));
	b.iovecs = syslet_ptr(iov);
	b.nr = nr;
	return syslet_ioctl(fd, SYSLET_IOC_REGISTER_BUFFERS, &b);
}

/*
 * Runs @n chains (@firsts[i] is each one's first atom) with SYSLET_SUBMIT_*
 * @flags. Outcomes of the chains that ran synchronously go to @outcomes
 * (may be NULL); *@queued (may be NULL) gets how many went asynchronous.
 * Returns the number of chains that ran synchronously, or -errno if the
 * submission was refused.
 */
static inline int syslet_submit_flags(int fd, struct syslet_atom *const *firsts, unsigned int n,
				      struct syslet_outcome *outcomes, __u32 flags,
				      unsigned int *queued);

/*
 * syslet_submit_flags() with @timeout_ns in the submission: with
 * SYSLET_SUBMIT_TIMEOUT in @flags, every chain's deadline (nanoseconds from
 * now, or with SYSLET_SUBMIT_TIMEOUT_ABS a CLOCK_MONOTONIC time); a chain
 * the deadline stops ends with SYSLET_OUTCOME_TIMED_OUT, -ETIME.
 */
static inline int syslet_submit_timeout(int fd, struct syslet_atom *const *firsts, unsigned int n,
					struct syslet_outcome *outcomes, __u32 flags,
					__s64 timeout_ns, unsigned int *queued)
{
	struct syslet_submit s;
	__u64 chains[n ? n : 1];
	int ret;

	for (unsigned int i = 0; i < n; i++)
		chains[i] = syslet_ptr(firsts[i]);
	memset(&s, 0, sizeof(s));
	s.chains = syslet_ptr(chains);
	s.nr_chains = n;
	s.flags = flags;
	s.outcomes = syslet_ptr(outcomes);
	s.timeout_ns = timeout_ns;
	ret = syslet_ioctl(fd, SYSLET_IOC_SUBMIT, &s);
	if (ret < 0)
		return ret;
	if (queued)
		*queued = s.queued;
	return (int)s.done;
}

static inline int syslet_submit_flags(int fd, struct syslet_atom *const *firsts, unsigned int n,
				      struct syslet_outcome *outcomes, __u32 flags,
				      unsigned int *queued)
{
	return syslet_submit_timeout(fd, firsts, n, outcomes, flags, 0, queued);
}

static inline int syslet_submit(int fd, struct syslet_atom *const *firsts, unsigned int n,
				struct syslet_outcome *outcomes, unsigned int *queued)
{
	return syslet_submit_flags(fd, firsts, n, outcomes, 0, queued);
}

/*
 * Submits @n chains so that each one that blocks has a carrier of its own:
 * with SYSLET_SUBMIT_RETURN_ON_BLOCK added to @flags, and again from where
 * each ioctl stopped. A relative deadline (SYSLET_SUBMIT_TIMEOUT without
 * _ABS) is made absolute once, so the whole batch shares it. Outcomes of
 * chains that ran synchronously go to @outcomes[i] (may be NULL); the entry
 * of a chain that went asynchronous is zeroed with SYSLET_OUTCOME_USER in
 * its flags, and its outcome comes through the ring. *@queued (may be NULL)
 * gets how many went asynchronous. Returns how many ran synchronously. It
 * stops early, as the ioctl does, if a signal is pending: then only the
 * first (returned) + *@queued chains started. It returns -errno if the first
 * submission was refused; a later refusal just stops it. A plain
 * submission (syslet_submit()) also gives each chain that blocks a carrier
 * of its own (SYSLET_FEAT_CONCURRENT_BATCH), in one ioctl; this helper costs
 * an ioctl per chain that blocks, and puts the outcome of every chain that
 * did not block in @outcomes instead of the ring.
 */
static inline int syslet_submit_all(int fd, struct syslet_atom *const *firsts, unsigned int n,
				    struct syslet_outcome *outcomes, __u32 flags,
				    __s64 timeout_ns, unsigned int *queued)
{
	unsigned int at = 0, sync = 0, async = 0;

	if ((flags & SYSLET_SUBMIT_TIMEOUT) && !(flags & SYSLET_SUBMIT_TIMEOUT_ABS)) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		timeout_ns += now.tv_sec * 1000000000LL + now.tv_nsec;
		flags |= SYSLET_SUBMIT_TIMEOUT_ABS;
	}
	flags |= SYSLET_SUBMIT_RETURN_ON_BLOCK;
	while (at < n) {
		unsigned int q = 0;
		int done = syslet_submit_timeout(fd, firsts + at, n - at,
						 outcomes ? outcomes + at : NULL, flags,
						 timeout_ns, &q);

		if (done < 0) {
			if (at == 0)
				return done;
			break;
		}
		if (q && outcomes) {
			memset(&outcomes[at + done], 0, sizeof(outcomes[0]));
			outcomes[at + done].flags = SYSLET_OUTCOME_USER;
		}
		sync += done;
		async += q;
		at += done + q;
		if (!q)
			break;	/* all ran, or a signal ended it */
	}
	if (queued)
		*queued = async;
	return (int)sync;
}

/*
 * Runs one chain; returns 1 if it ran synchronously (@outcome is filled),
 * 0 if it went asynchronous (reap it with syslet_wait()), or -errno.
 */
static inline int syslet_run(int fd, struct syslet_atom *first, struct syslet_outcome *outcome)
{
	return syslet_submit(fd, &first, 1, outcome, NULL);
}

/* Runs one chain synchronously whatever blocks; returns 0 or -errno. */
static inline int syslet_run_sync(int fd, struct syslet_atom *first,
				  struct syslet_outcome *outcome)
{
	int ret = syslet_submit_flags(fd, &first, 1, outcome, SYSLET_SUBMIT_SYNC_ONLY, NULL);

	return ret < 0 ? ret : 0;
}

/* The completion ring, mapped. */
struct syslet_ring_map {
	struct syslet_ring *hdr;
	struct syslet_outcome *entries;
	size_t size;
};

/*
 * Maps the ring of a set-up context (@setup as filled by syslet_setup()).
 * Returns 0 or -errno.
 */
static inline int syslet_ring_mmap(int fd, const struct syslet_setup *setup,
				   struct syslet_ring_map *r)
{
	void *p = mmap(NULL, setup->ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	r->hdr = p;
	r->entries = (struct syslet_outcome *)((char *)p + r->hdr->entries_offset);
	r->size = setup->ring_size;
	return 0;
}

static inline void syslet_ring_munmap(struct syslet_ring_map *r)
{
	munmap(r->hdr, r->size);
}

/* Completions in the ring now. */
static inline unsigned int syslet_ring_ready(const struct syslet_ring_map *r)
{
	/* Acquire: the entries below tail are written before tail. */
	return __atomic_load_n(&r->hdr->tail, __ATOMIC_ACQUIRE) - r->hdr->head;
}

/* Copies up to @n completions from the ring to @out; returns how many. */
static inline unsigned int syslet_ring_reap(struct syslet_ring_map *r,
					    struct syslet_outcome *out, unsigned int n)
{
	unsigned int head = r->hdr->head, ready = syslet_ring_ready(r), i;

	for (i = 0; i < n && i < ready; i++)
		out[i] = r->entries[(head + i) & r->hdr->mask];
	/* Release: done reading the entries before the kernel may reuse them. */
	__atomic_store_n(&r->hdr->head, head + i, __ATOMIC_RELEASE);
	return i;
}

/*
 * Waits up to @timeout_ns (0: not at all; negative: no limit) until at least
 * @min completions are in the ring. Returns how many are there, or -errno
 * (-ETIMEDOUT, -EINTR).
 */
static inline int syslet_wait(int fd, unsigned int min, __s64 timeout_ns)
{
	struct syslet_wait w;
	int ret;

	memset(&w, 0, sizeof(w));
	w.min_complete = min;
	w.timeout_ns = timeout_ns;
	ret = syslet_ioctl(fd, SYSLET_IOC_WAIT, &w);
	return ret < 0 ? ret : (int)w.available;
}

/*
 * Stops the queued chains whose completion would carry @cookie now (every
 * queued chain with SYSLET_CANCEL_ALL in @flags, @cookie 0). Returns how
 * many it found, or -errno (-ENOENT: none).
 */
static inline int syslet_cancel(int fd, __u64 cookie, __u32 flags)
{
	struct syslet_cancel c;
	int ret;

	memset(&c, 0, sizeof(c));
	c.cookie = cookie;
	c.flags = flags;
	ret = syslet_ioctl(fd, SYSLET_IOC_CANCEL, &c);
	return ret < 0 ? ret : (int)c.found;
}

/* Waits for @min completions, then reaps up to @n; returns how many or -errno. */
static inline int syslet_wait_reap(int fd, struct syslet_ring_map *r, struct syslet_outcome *out,
				   unsigned int n, unsigned int min, __s64 timeout_ns)
{
	if (syslet_ring_ready(r) < min) {
		int ret = syslet_wait(fd, min, timeout_ns);

		if (ret < 0)
			return ret;
	}
	return (int)syslet_ring_reap(r, out, n);
}

/*
 * Reads a counter of the context from its fdinfo ("syslet-spares",
 * "syslet-went-async", ...); -1 if absent. Through /proc/thread-self: after
 * a takeover the task that opened the context may be gone, and
 * /proc/<pid>/fd of a process whose main thread exited reads empty.
 */
static inline long syslet_fdinfo_value(int fd, const char *name)
{
	char path[64], text[4096], *at;
	size_t len = strlen(name);
	ssize_t n;
	int info;

	snprintf(path, sizeof(path), "/proc/thread-self/fdinfo/%d", fd);
	info = open(path, O_RDONLY | O_CLOEXEC);
	if (info < 0)
		return -1;
	n = read(info, text, sizeof(text) - 1);
	close(info);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	for (at = strstr(text, name); at; at = strstr(at + 1, name))
		if ((at == text || at[-1] == '\n') && at[len] == ':' && at[len + 1] == '\t')
			return strtol(at + len + 2, NULL, 10);
	return -1;
}

#endif /* SYSLET_HELPERS_H */
