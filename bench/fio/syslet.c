// SPDX-License-Identifier: GPL-2.0
/*
 * fio external I/O engine: each io_u is a one-atom syslet chain.
 *
 *	ioengine=external:/usr/lib/syslet/fio-syslet.so
 *
 * Built against the fio it is loaded into (scripts/build-fio.sh): fio's
 * engine interface is its internal structures, and only the exact headers
 * and config-host.h of that build describe them.
 *
 * How an io_u runs: queue() submits a chain of one pread64/pwrite64 (or
 * fsync/fdatasync) atom on the caller's own task. If the call does not
 * block, the ioctl returns with the outcome and the io_u is complete
 * (FIO_Q_COMPLETED): no ring, no second crossing. On a file opened with
 * O_DIRECT (fio's direct=1) a read, or a write to a block device, goes in
 * flight with no thread at all (SYSLET_FEAT_THREAD_FREE_IO): queue()
 * returns FIO_Q_QUEUED and the device's completion posts the outcome to the
 * mmap'd ring. Otherwise, if the call blocks, a parked spare thread takes
 * the job's user context over and queue() returns FIO_Q_QUEUED while the
 * blocked task finishes the call in the kernel and posts its outcome.
 * getevents() reaps the ring, waiting in SYSLET_IOC_WAIT when fewer than
 * fio's minimum are there.
 *
 * With SYSLET_FIO_BATCH=1 in the environment (run.sh's "syslet-batch"),
 * queue() only prepares the atom and commit() submits every io_u fio
 * queued since the last commit in one ioctl: each read of the batch goes
 * in flight with no thread, or, if it blocks, on a task of its own
 * (SYSLET_FEAT_CONCURRENT_BATCH); the reads before the first that went
 * asynchronous complete synchronously (getevents() reports them first). Without it, one chain
 * per ioctl, as before concurrent batches, when a batch's rest ran behind
 * its first blocked chain.
 *
 * With SYSLET_FIO_FIXED=1 (run.sh's "-reg" rows), fio's io_u buffers are
 * registered with the context (SYSLET_IOC_REGISTER_BUFFERS, one buffer for
 * all of them) and every read and write names it
 * (SYSLET_ATOM_FIXED_BUFFER): a read in flight with no thread pins no page
 * of its own, as io_uring's fixedbufs=1. The device is not registered:
 * syslets have no registered files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "fio.h"
#include "optgroup.h"

#include "syslet.h"	/* user/c/syslet.h: <linux/syslet.h> and the helpers */

struct syslet_data {
	int fd;				/* the context: one per job (thread) */
	struct syslet_ring_map ring;
	/*
	 * One atom per io_u, indexed by io_u->index. The kernel reads a
	 * queued chain's atom while it runs, so it must stay untouched until
	 * its completion is in the ring; fio reuses an io_u only after
	 * event() has handed it back, which is after that.
	 */
	struct syslet_atom *atoms;
	unsigned int nr_atoms;
	struct syslet_outcome *reaped;	/* ring entries copied by getevents() */
	struct io_u **events;		/* what event() returns */
	unsigned int queued;		/* chains in flight (asynchronous) */
	unsigned int async_cap;		/* most chains in flight we allow */
	int fixed;			/* SYSLET_FIO_FIXED: buffers registered */
	/* SYSLET_FIO_BATCH: io_us queued since the last commit() ... */
	bool batch;
	struct io_u **pending;
	unsigned int npending;
	/* ... and those a commit() completed synchronously, for getevents(). */
	struct io_u **sync_done;
	unsigned int nsync_done;
	/* Submissions made (SYSLET_FIO_STATS): chains per submission. */
	long submissions;
};

/*
 * Thread budget of a context. The module counts parked spares and carriers
 * (tasks finishing a chain that went asynchronous) against max_threads, and
 * a hand-off claims a place for its carrier before the spare that takes
 * over has left. With N reads in flight the pool holds N carriers, the
 * spares a submission tops up, and possibly the process's leader parked
 * beside them (it always parks): max_threads = N + SPARES + HEADROOM keeps
 * a place for the next carrier. Beyond that a read would block the job
 * (fdinfo's syslet-blocked-sync counts such reads), so the engine keeps
 * reads in flight at most max_threads - SPARES - HEADROOM and answers
 * FIO_Q_BUSY beyond.
 */
#define SPARES		1
#define HEADROOM	2

static unsigned int roundup_pow2(unsigned int n)
{
	unsigned int p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* Completion of a chain: the last (only) atom's result is the call's. */
static void complete_io_u(struct io_u *io_u, __s64 result)
{
	if (result < 0) {
		io_u->error = (int)-result;
		return;
	}
	/* A sync has no length; a short read or write leaves a residue. */
	if (ddir_rw(io_u->ddir) && (unsigned long long)result < io_u->xfer_buflen)
		io_u->resid = io_u->xfer_buflen - result;
}

static enum fio_q_status fio_syslet_queue(struct thread_data *td, struct io_u *io_u)
{
	struct syslet_data *sd = td->io_ops_data;
	struct fio_file *f = io_u->file;
	struct syslet_atom *a;
	struct syslet_outcome o;
	unsigned int queued = 0;
	int done;

	fio_ro_check(td, io_u);

	/* See HEADROOM: fio reaps a completion, then queues this one again. */
	if (sd->queued + sd->npending + sd->nsync_done >= sd->async_cap)
		return FIO_Q_BUSY;

	if (io_u->index >= sd->nr_atoms) {
		io_u->error = EINVAL;
		return FIO_Q_COMPLETED;
	}
	a = &sd->atoms[io_u->index];

	switch (io_u->ddir) {
	case DDIR_READ:
		syslet_atom_prep(a, SYS_pread64, f->fd, syslet_ptr(io_u->xfer_buf),
				 io_u->xfer_buflen, io_u->offset, 0, 0);
		break;
	case DDIR_WRITE:
		syslet_atom_prep(a, SYS_pwrite64, f->fd, syslet_ptr(io_u->xfer_buf),
				 io_u->xfer_buflen, io_u->offset, 0, 0);
		break;
	case DDIR_SYNC:
		syslet_atom_prep(a, SYS_fsync, f->fd, 0, 0, 0, 0, 0);
		break;
	case DDIR_DATASYNC:
		syslet_atom_prep(a, SYS_fdatasync, f->fd, 0, 0, 0, 0, 0);
		break;
	case DDIR_TRIM:
		/* No system call for it: done in place, as sync engines do. */
		do_io_u_trim(td, io_u);
		return FIO_Q_COMPLETED;
	default:
		io_u->error = EINVAL;
		return FIO_Q_COMPLETED;
	}
	if (sd->fixed && ddir_rw(io_u->ddir))
		syslet_atom_fixed_buffer(a, 0);
	/* The cookie comes back in the outcome and names the io_u. */
	a->cookie = syslet_ptr(io_u);

	/*
	 * FIO_ASYNCIO_SETS_ISSUE_TIME: the issue time is taken here, before
	 * the ioctl, so that the completion latency of a read that completed
	 * synchronously covers the call, as for psync, instead of starting
	 * after it.
	 */
	if (fio_fill_issue_time(td))
		fio_gettime(&io_u->issue_time, NULL);
	if (sd->batch) {
		sd->pending[sd->npending++] = io_u;
		return FIO_Q_QUEUED;
	}

	sd->submissions++;
	done = syslet_submit(sd->fd, &a, 1, &o, &queued);
	if (done < 0) {
		/* The submission itself was refused: nothing ran. */
		io_u->error = -done;
		td_verror(td, io_u->error, "syslet submit");
		return FIO_Q_COMPLETED;
	}
	if (done == 1) {
		complete_io_u(io_u, o.result);
		return FIO_Q_COMPLETED;
	}
	if (queued != 1) {
		/* Neither ran nor queued: the ABI says this cannot happen. */
		io_u->error = EIO;
		td_verror(td, io_u->error, "syslet submit: chain lost");
		return FIO_Q_COMPLETED;
	}
	sd->queued++;
	return FIO_Q_QUEUED;
}

/* SYSLET_FIO_BATCH: submits every io_u queued since the last commit. */
static int fio_syslet_commit(struct thread_data *td)
{
	struct syslet_data *sd = td->io_ops_data;
	struct syslet_atom *firsts[sd->npending ? sd->npending : 1];
	struct syslet_outcome o[sd->npending ? sd->npending : 1];
	unsigned int n = sd->npending, queued = 0, i;
	int done;

	if (!n)
		return 0;
	sd->npending = 0;
	for (i = 0; i < n; i++)
		firsts[i] = &sd->atoms[sd->pending[i]->index];
	sd->submissions++;
	done = syslet_submit_flags(sd->fd, firsts, n, o, 0, &queued);
	if (done < 0 || (unsigned int)done + queued != n) {
		/* Refused, nothing ran; or (the ABI says never) a chain lost. */
		int err = done < 0 ? -done : EIO;

		for (i = 0; i < n; i++) {
			sd->pending[i]->error = err;
			sd->sync_done[sd->nsync_done++] = sd->pending[i];
		}
		td_verror(td, err, "syslet submit");
		return 0;
	}
	for (i = 0; i < (unsigned int)done; i++) {
		complete_io_u(sd->pending[i], o[i].result);
		sd->sync_done[sd->nsync_done++] = sd->pending[i];
	}
	sd->queued += queued;
	return 0;
}

static int fio_syslet_getevents(struct thread_data *td, unsigned int min, unsigned int max,
				const struct timespec *t)
{
	struct syslet_data *sd = td->io_ops_data;
	__s64 timeout = t ? (__s64)t->tv_sec * 1000000000LL + t->tv_nsec : -1;
	unsigned int got = 0, i, sync;
	int ret;

	/* What a batched commit() completed synchronously comes first. */
	sync = sd->nsync_done < max ? sd->nsync_done : max;
	for (i = 0; i < sync; i++)
		sd->events[i] = sd->sync_done[--sd->nsync_done];
	min = min > sync ? min - sync : 0;
	max -= sync;
	if (max > sd->queued)
		max = sd->queued;
	if (min > max)
		min = max;

	for (;;) {
		got += syslet_ring_reap(&sd->ring, sd->reaped + got, max - got);
		if (got >= min)
			break;
		/* Wait until the ring holds what is still missing. */
		ret = syslet_wait(sd->fd, min - got, timeout);

		if (ret == -EINTR)
			continue;
		if (ret == -ETIMEDOUT)
			break;
		if (ret < 0) {
			td_verror(td, -ret, "syslet wait");
			return ret;
		}
	}

	for (i = 0; i < got; i++) {
		struct syslet_outcome *o = &sd->reaped[i];
		struct io_u *io_u = (struct io_u *)(uintptr_t)o->cookie;

		/*
		 * The cookie is 0 only if no atom ran (the atom could not be
		 * read); last_atom still names ours, hence the io_u.
		 */
		if (!io_u && o->last_atom) {
			struct syslet_atom *a = (struct syslet_atom *)(uintptr_t)o->last_atom;

			io_u = td->io_u_all.io_us[a - sd->atoms];
		}
		complete_io_u(io_u, o->result);
		sd->events[sync + i] = io_u;
	}
	sd->queued -= got;
	return sync + got;
}

static struct io_u *fio_syslet_event(struct thread_data *td, int event)
{
	struct syslet_data *sd = td->io_ops_data;

	return sd->events[event];
}

static void fio_syslet_cleanup(struct thread_data *td)
{
	struct syslet_data *sd = td->io_ops_data;

	if (!sd)
		return;
	/*
	 * SYSLET_FIO_STATS=1: the context's counters, to tell reads that
	 * went asynchronous from reads that blocked the job (thread cap, no
	 * spare parked) or never blocked at all.
	 */
	if (sd->fd >= 0 && getenv("SYSLET_FIO_STATS"))
		log_info("fio-syslet: %s: chains %ld in %ld submissions, went-async %ld, "
			 "blocked-sync %ld, spares-spawned %ld, spares-failed %ld\n", td->o.name,
			 syslet_fdinfo_value(sd->fd, "syslet-chains"), sd->submissions,
			 syslet_fdinfo_value(sd->fd, "syslet-went-async"),
			 syslet_fdinfo_value(sd->fd, "syslet-blocked-sync"),
			 syslet_fdinfo_value(sd->fd, "syslet-spares-spawned"),
			 syslet_fdinfo_value(sd->fd, "syslet-spares-failed"));
	if (sd->ring.hdr)
		syslet_ring_munmap(&sd->ring);
	/* Chains still in flight finish; the kernel frees the context after. */
	if (sd->fd >= 0)
		close(sd->fd);
	free(sd->atoms);
	free(sd->reaped);
	free(sd->events);
	free(sd->pending);
	free(sd->sync_done);
	free(sd);
	td->io_ops_data = NULL;
}

static int fio_syslet_init(struct thread_data *td)
{
	unsigned int depth = td->o.iodepth ? td->o.iodepth : 1;
	struct syslet_query q = { 0 };
	struct syslet_setup s = { 0 };
	struct syslet_data *sd;
	int ret;

	sd = calloc(1, sizeof(*sd));
	if (!sd)
		return 1;
	sd->fd = -1;
	td->io_ops_data = sd;
	sd->nr_atoms = depth;
	sd->atoms = calloc(depth, sizeof(*sd->atoms));
	sd->reaped = calloc(depth, sizeof(*sd->reaped));
	sd->events = calloc(depth, sizeof(*sd->events));
	sd->pending = calloc(depth, sizeof(*sd->pending));
	sd->sync_done = calloc(depth, sizeof(*sd->sync_done));
	if (!sd->atoms || !sd->reaped || !sd->events || !sd->pending || !sd->sync_done)
		goto fail_errno;
	sd->batch = getenv("SYSLET_FIO_BATCH") && atoi(getenv("SYSLET_FIO_BATCH"));

	ret = sd->fd = syslet_open();
	if (ret < 0)
		goto fail;
	ret = syslet_query(sd->fd, &q);
	if (ret < 0)
		goto fail;
	if (!(q.features & SYSLET_FEAT_CACHEMISS)) {
		log_err("fio-syslet: this kernel's syslets never go asynchronous\n");
		ret = -EOPNOTSUPP;
		goto fail;
	}

	/*
	 * Each read in flight is one task blocked in the kernel (a carrier):
	 * the context gets depth + SPARES + HEADROOM threads, up to the
	 * module's cap (syslet_query.max_threads: 1024; it was 32, which held
	 * depth 32 to 32 - SPARES - HEADROOM reads in flight). What the cap
	 * holds back, fio keeps back (FIO_Q_BUSY).
	 */
	s.max_threads = depth + SPARES + HEADROOM;
	if (s.max_threads > q.max_threads)
		s.max_threads = q.max_threads;
	s.spares = SPARES;
	if (s.max_threads < SPARES + HEADROOM + 1) {
		log_err("fio-syslet: the module allows %u threads, too few\n", q.max_threads);
		ret = -EINVAL;
		goto fail;
	}
	sd->async_cap = s.max_threads - SPARES - HEADROOM;
	if (sd->async_cap > depth)
		sd->async_cap = depth;
	/* The ring never holds more than the io_us in flight; twice that. */
	s.ring_entries = roundup_pow2(depth * 2 < 8 ? 8 : depth * 2);
	if (s.ring_entries > 4096)
		s.ring_entries = 4096;
	s.max_pending = s.ring_entries;
	ret = syslet_setup(sd->fd, &s);
	if (ret < 0)
		goto fail;
	ret = syslet_ring_mmap(sd->fd, &s, &sd->ring);
	if (ret < 0) {
		sd->ring.hdr = NULL;
		goto fail;
	}
	if (sd->async_cap < depth)
		log_info("fio-syslet: %s: at most %u reads in flight (iodepth %u; the module's "
			 "thread cap is %u)\n", td->o.name, sd->async_cap, depth, q.max_threads);
	dprint(FD_IO, "syslet: depth %u, in flight %u, spares %u, max_threads %u, ring %u\n",
	       depth, sd->async_cap, s.spares, s.max_threads, s.ring_entries);
	return 0;

fail_errno:
	ret = -ENOMEM;
fail:
	td_verror(td, -ret, "syslet init");
	fio_syslet_cleanup(td);
	return 1;
}

/*
 * SYSLET_FIO_FIXED=1: registers the io_u buffers, which fio allocates (as
 * one area) after init(), as io_uring's engine does in its post_init().
 */
static int fio_syslet_post_init(struct thread_data *td)
{
	struct syslet_data *sd = td->io_ops_data;
	struct iovec all = { td->orig_buffer, td->orig_buffer_size };
	int ret;

	if (!getenv("SYSLET_FIO_FIXED") || !atoi(getenv("SYSLET_FIO_FIXED")))
		return 0;
	ret = syslet_register_buffers(sd->fd, &all, 1);
	if (ret < 0) {
		td_verror(td, -ret, "syslet register buffers");
		return 1;
	}
	sd->fixed = 1;
	return 0;
}

/*
 * Found by fio through dlsym("ioengine"). Not FIO_SYNCIO: queue() may
 * return FIO_Q_QUEUED.
 */
struct ioengine_ops ioengine = {
	.name		= "syslet",
	.version	= FIO_IOOPS_VERSION,
	.flags		= FIO_ASYNCIO_SETS_ISSUE_TIME,
	.init		= fio_syslet_init,
	.post_init	= fio_syslet_post_init,
	.queue		= fio_syslet_queue,
	.commit		= fio_syslet_commit,
	.getevents	= fio_syslet_getevents,
	.event		= fio_syslet_event,
	.cleanup	= fio_syslet_cleanup,
	.open_file	= generic_open_file,
	.close_file	= generic_close_file,
	.get_file_size	= generic_get_file_size,
};
