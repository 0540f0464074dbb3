/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Just enough io_uring, on raw system calls, for the benchmarks to compare
 * with: the kernel's own io_uring, without liburing (which the guest does
 * not have). One ring, single mmap (IORING_FEAT_SINGLE_MMAP), SQPOLL if
 * asked for (uring_init_flags()).
 */
#ifndef SYSLET_BENCH_URING_H
#define SYSLET_BENCH_URING_H

#include <linux/io_uring.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

struct uring {
	int fd;
	unsigned int *sq_head, *sq_tail, *sq_mask, *sq_array, *sq_flags;
	unsigned int setup_flags;
	unsigned int *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
	void *ring;
	size_t ring_len, sqes_len;
};

/*
 * With IORING_SETUP_SQPOLL in @flags, a kernel thread polls the submission
 * queue, going to sleep after @sq_idle_ms without work; with
 * IORING_SETUP_SQ_AFF too, it runs on CPU @sq_cpu only. 0, or -1 (no
 * io_uring, or no single mmap).
 */
static inline int uring_init_flags(struct uring *u, unsigned int entries, unsigned int flags,
				   unsigned int sq_idle_ms, unsigned int sq_cpu)
{
	struct io_uring_params p;
	size_t sq_len, cq_len;
	char *ring;

	memset(&p, 0, sizeof(p));
	p.flags = flags;
	p.sq_thread_idle = sq_idle_ms;
	p.sq_thread_cpu = sq_cpu;
	u->setup_flags = flags;
	u->fd = (int)syscall(__NR_io_uring_setup, entries, &p);
	if (u->fd < 0 || !(p.features & IORING_FEAT_SINGLE_MMAP))
		return -1;
	sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned int);
	cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	u->ring_len = sq_len > cq_len ? sq_len : cq_len;
	u->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
	ring = mmap(NULL, u->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd,
		    IORING_OFF_SQ_RING);
	u->ring = ring;
	u->sqes = mmap(NULL, u->sqes_len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, u->fd, IORING_OFF_SQES);
	if (ring == MAP_FAILED || u->sqes == MAP_FAILED)
		return -1;
	u->sq_head = (unsigned int *)(ring + p.sq_off.head);
	u->sq_tail = (unsigned int *)(ring + p.sq_off.tail);
	u->sq_mask = (unsigned int *)(ring + p.sq_off.ring_mask);
	u->sq_array = (unsigned int *)(ring + p.sq_off.array);
	u->sq_flags = (unsigned int *)(ring + p.sq_off.flags);
	u->cq_head = (unsigned int *)(ring + p.cq_off.head);
	u->cq_tail = (unsigned int *)(ring + p.cq_off.tail);
	u->cq_mask = (unsigned int *)(ring + p.cq_off.ring_mask);
	u->cqes = (struct io_uring_cqe *)(ring + p.cq_off.cqes);
	return 0;
}

static inline int uring_init(struct uring *u, unsigned int entries)
{
	return uring_init_flags(u, entries, 0, 0, 0);
}

/* Fills the next submission queue entry; uring_publish() queues it. */
static inline struct io_uring_sqe *uring_sqe(struct uring *u, unsigned char opcode, int fd,
					     void *buf, unsigned int len, unsigned long long off,
					     unsigned char flags, unsigned long long user_data)
{
	struct io_uring_sqe *sqe = &u->sqes[*u->sq_tail & *u->sq_mask];

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = opcode;
	sqe->flags = flags;
	sqe->fd = fd;
	sqe->addr = (unsigned long)buf;
	sqe->len = len;
	sqe->off = off;
	sqe->user_data = user_data;
	return sqe;
}

/* Queues the entry uring_sqe() filled (not submitted yet). */
static inline void uring_publish(struct uring *u)
{
	unsigned int tail = *u->sq_tail, idx = tail & *u->sq_mask;

	u->sq_array[idx] = idx;
	__atomic_store_n(u->sq_tail, tail + 1, __ATOMIC_RELEASE);
}

/* Queues a read of @len bytes at @off of @fd into @buf (not submitted yet). */
static inline void uring_prep_read(struct uring *u, int fd, void *buf, unsigned int len,
				   unsigned long long off, unsigned char flags,
				   unsigned long long user_data)
{
	uring_sqe(u, IORING_OP_READ, fd, buf, len, off, flags, user_data);
	uring_publish(u);
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
	if (syscall(__NR_io_uring_register, u->fd, IORING_REGISTER_FILES, &fd, 1) < 0 ||
	    syscall(__NR_io_uring_register, u->fd, IORING_REGISTER_BUFFERS, iov, nr) < 0)
		return -1;
	return 0;
}

/* A read into fixed buffer @idx from fixed file 0 (see uring_register()). */
static inline void uring_prep_read_fixed(struct uring *u, void *buf, unsigned int len,
					 unsigned long long off, unsigned short idx,
					 unsigned long long user_data)
{
	uring_sqe(u, IORING_OP_READ_FIXED, 0, buf, len, off, IOSQE_FIXED_FILE,
		  user_data)->buf_index = idx;
	uring_publish(u);
}

/* Submits what is queued and waits for @wait completions; returns enter's result. */
static inline int uring_enter(struct uring *u, unsigned int submit, unsigned int wait)
{
	unsigned int flags = wait ? IORING_ENTER_GETEVENTS : 0;

	if (u->setup_flags & IORING_SETUP_SQPOLL) {
		/*
		 * The poller submits; enter only to wake it when it slept, or
		 * to wait (its result then counts completions, not
		 * submissions: say @submit, which the poller takes).
		 */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(u->sq_flags, __ATOMIC_RELAXED) & IORING_SQ_NEED_WAKEUP)
			flags |= IORING_ENTER_SQ_WAKEUP;
		else if (!wait)
			return (int)submit;
		if (syscall(__NR_io_uring_enter, u->fd, 0, wait, flags, NULL, 0) < 0)
			return -1;
		return (int)submit;
	}
	return (int)syscall(__NR_io_uring_enter, u->fd, submit, wait, flags, NULL, 0);
}

/* Consumes every completion there is; returns how many, or -1 if one failed. */
static inline int uring_reap(struct uring *u)
{
	unsigned int head = *u->cq_head, tail = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);
	int n = 0, bad = 0;

	for (; head != tail; head++, n++)
		bad |= u->cqes[head & *u->cq_mask].res < 0;
	__atomic_store_n(u->cq_head, head, __ATOMIC_RELEASE);
	return bad ? -1 : n;
}

/* Takes the oldest completion into @cqe; returns 0 if there is none. */
static inline int uring_next_cqe(struct uring *u, struct io_uring_cqe *cqe)
{
	unsigned int head = *u->cq_head;

	if (head == __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE))
		return 0;
	*cqe = u->cqes[head & *u->cq_mask];
	__atomic_store_n(u->cq_head, head + 1, __ATOMIC_RELEASE);
	return 1;
}

static inline void uring_exit(struct uring *u)
{
	if (u->fd <= 0)
		return;
	munmap(u->ring, u->ring_len);
	munmap(u->sqes, u->sqes_len);
	close(u->fd);
	u->fd = -1;
}

#endif /* SYSLET_BENCH_URING_H */
