/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The io_uring the benchmarks compare with, through liburing (Debian's
 * liburing-dev, linked statically into the guest's static binary), as its
 * users would write it: io_uring_get_sqe() and the io_uring_prep_*()
 * helpers, io_uring_submit_and_wait(), registered files and buffers when
 * asked for, SQPOLL when asked for (liburing then enters only to wake the
 * poller or to wait). These few wrappers keep the benchmarks' calls short.
 */
#ifndef SYSLET_BENCH_URING_H
#define SYSLET_BENCH_URING_H

#include <liburing.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

struct uring {
	struct io_uring ring;
	bool live;
};

/*
 * With IORING_SETUP_SQPOLL in @flags, a kernel thread polls the submission
 * queue, going to sleep after @sq_idle_ms without work; with
 * IORING_SETUP_SQ_AFF too, it runs on CPU @sq_cpu only. 0, or -1 (no
 * io_uring).
 */
static inline int uring_init_flags(struct uring *u, unsigned int entries, unsigned int flags,
				   unsigned int sq_idle_ms, unsigned int sq_cpu)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	p.flags = flags;
	p.sq_thread_idle = sq_idle_ms;
	p.sq_thread_cpu = sq_cpu;
	if (io_uring_queue_init_params(entries, &u->ring, &p) < 0)
		return -1;
	u->live = true;
	return 0;
}

static inline int uring_init(struct uring *u, unsigned int entries)
{
	return uring_init_flags(u, entries, 0, 0, 0);
}

/* The next submission queue entry; the benchmarks never overfill it. */
static inline struct io_uring_sqe *uring_get_sqe(struct uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe)
		abort();
	return sqe;
}

/* Queues a read of @len bytes at @off of @fd into @buf (not submitted yet). */
static inline void uring_prep_read(struct uring *u, int fd, void *buf, unsigned int len,
				   unsigned long long off, unsigned char flags,
				   unsigned long long user_data)
{
	struct io_uring_sqe *sqe = uring_get_sqe(u);

	io_uring_prep_read(sqe, fd, buf, len, off);
	io_uring_sqe_set_flags(sqe, flags);
	io_uring_sqe_set_data64(sqe, user_data);
}

/*
 * Registers @fd as fixed file 0 and @nr buffers of @len bytes from @base as
 * fixed buffers 0..@nr-1, as io_uring users do for a hot path: no file
 * reference taken and no page pinned per read. 0, or -1.
 */
static inline int uring_register(struct uring *u, int fd, char *base, unsigned int nr,
				 unsigned int len)
{
	struct iovec iov[nr];

	for (unsigned int i = 0; i < nr; i++)
		iov[i] = (struct iovec){ base + (size_t)i * len, len };
	if (io_uring_register_files(&u->ring, &fd, 1) < 0 ||
	    io_uring_register_buffers(&u->ring, iov, nr) < 0)
		return -1;
	return 0;
}

/* A read into fixed buffer @idx from fixed file 0 (see uring_register()). */
static inline void uring_prep_read_fixed(struct uring *u, void *buf, unsigned int len,
					 unsigned long long off, unsigned short idx,
					 unsigned long long user_data)
{
	struct io_uring_sqe *sqe = uring_get_sqe(u);

	io_uring_prep_read_fixed(sqe, 0, buf, len, off, idx);
	io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE);
	io_uring_sqe_set_data64(sqe, user_data);
}

/* Submits what is queued and waits for @wait completions; returns the entries submitted, or -1. */
static inline int uring_submit(struct uring *u, unsigned int wait)
{
	int ret = io_uring_submit_and_wait(&u->ring, wait);

	return ret < 0 ? -1 : ret;
}

/* Consumes every completion there is; returns how many, or -1 if one failed. */
static inline int uring_reap(struct uring *u)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;
	int bad = 0;

	io_uring_for_each_cqe(&u->ring, head, cqe) {
		bad |= cqe->res < 0;
		n++;
	}
	io_uring_cq_advance(&u->ring, n);
	return bad ? -1 : (int)n;
}

/* Takes the oldest completion into @cqe; returns 0 if there is none. */
static inline int uring_next_cqe(struct uring *u, struct io_uring_cqe *cqe)
{
	struct io_uring_cqe *next;

	if (io_uring_peek_cqe(&u->ring, &next) < 0 || !next)
		return 0;
	*cqe = *next;
	io_uring_cqe_seen(&u->ring, next);
	return 1;
}

static inline void uring_exit(struct uring *u)
{
	if (!u->live)
		return;
	io_uring_queue_exit(&u->ring);
	u->live = false;
}

#endif /* SYSLET_BENCH_URING_H */
