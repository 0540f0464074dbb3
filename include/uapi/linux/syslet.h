/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * Syslets: chains of system calls run in the caller's context, made
 * asynchronous only when one of them blocks.
 *
 * This header is the single source of truth for the user-space ABI of
 * /dev/syslet. The kernel module and the Rust user-space crate are generated
 * from it with bindgen; a host test checks that C and Rust agree on every
 * size, offset and ioctl number.
 *
 * Rules for every structure here:
 *  - only __u8/__u16/__u32/__u64/__s32/__s64 fields; user pointers are __u64;
 *  - explicit padding, one layout on 32-bit and 64-bit user space;
 *  - reserved fields must be zero on input (the kernel rejects anything else
 *    with EINVAL, so they can be given a meaning later) and are zeroed on
 *    output.
 *
 * Compatibility: SYSLET_ABI_VERSION changes only on an incompatible change.
 * Additions are announced by feature bits in syslet_query.features; a client
 * checks for the bits it needs rather than for a version number.
 */
#ifndef _UAPI_LINUX_SYSLET_H
#define _UAPI_LINUX_SYSLET_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define SYSLET_ABI_VERSION	1

/* The ioctl magic of /dev/syslet (0xBB, 00-1F). */
#define SYSLET_IOC_MAGIC	0xBB

/*
 * struct syslet_query - what this kernel's syslet module supports.
 * Filled by SYSLET_IOC_QUERY; needs no set-up and works on any open fd.
 *
 * @abi_version:	SYSLET_ABI_VERSION of the running module.
 * @query_size:		sizeof(struct syslet_query) as the module knows it.
 * @features:		SYSLET_FEAT_* bits.
 * @atom_size:		sizeof(struct syslet_atom).
 * @max_batch:		most chains one SYSLET_IOC_SUBMIT takes.
 * @max_atom_budget:	highest atom budget SYSLET_IOC_SETUP accepts.
 * @max_threads:	highest syslet_setup.max_threads.
 * @reserved: zero.
 */
struct syslet_query {
	__u32 abi_version;
	__u32 query_size;
	__u64 features;
	__u32 atom_size;
	__u32 max_batch;
	__u32 max_atom_budget;
	__u32 max_threads;
	__u64 reserved[4];
};

/* syslet_query.features */
#define SYSLET_FEAT_CHAINS	(1ULL << 0)	/* SETUP, SUBMIT, atoms and control flow */
#define SYSLET_FEAT_SECCOMP	(1ULL << 1)	/* every atom passes the seccomp filters */
#define SYSLET_FEAT_CACHEMISS	(1ULL << 2)	/* blocking atoms go asynchronous; SYSLET_IOC_WAIT */
/*
 * A context only moves to a thread with the caller's security identity, and
 * never away from a traced caller; SYSLET_OUTCOME_KILLED; a pending signal
 * ends a submission between chains.
 */
#define SYSLET_FEAT_SAME_IDENTITY	(1ULL << 3)
/*
 * A cachemiss keeps the program's thread: its thread id (the leader's is
 * the process id), thread-directed pending signals, children and PI futex
 * ownership stay the program's (see SYSLET_IOC_SUBMIT).
 */
#define SYSLET_FEAT_SAME_THREAD		(1ULL << 4)
/*
 * SYSLET_IOC_CANCEL and SYSLET_OUTCOME_CANCELLED; SYSLET_SUBMIT_TIMEOUT and
 * SYSLET_OUTCOME_TIMED_OUT.
 */
#define SYSLET_FEAT_CANCEL		(1ULL << 5)
/* SYSLET_SUBMIT_RETURN_ON_BLOCK. */
#define SYSLET_FEAT_RETURN_ON_BLOCK	(1ULL << 6)
/*
 * Concurrent batches: each chain of a submission that blocks gets a carrier
 * of its own, and the chains after it run on in the caller's context before
 * the ioctl returns (see SYSLET_IOC_SUBMIT).
 */
#define SYSLET_FEAT_CONCURRENT_BATCH	(1ULL << 7)
/*
 * Thread-free I/O: a chain whose last atom is a pread64, preadv, pwrite64 or
 * pwritev of a block device opened with O_DIRECT goes asynchronous without
 * a hand-off, its I/O queued to the device (see SYSLET_IOC_SUBMIT).
 */
#define SYSLET_FEAT_THREAD_FREE_IO	(1ULL << 8)
/* SYSLET_IOC_REGISTER_BUFFERS and SYSLET_ATOM_FIXED_BUFFER. */
#define SYSLET_FEAT_FIXED_BUFFERS	(1ULL << 9)

/*
 * struct syslet_atom - one system call of a chain, in user memory.
 *
 * @nr:		x86-64 system call number, or a SYSLET_OP_* operation.
 * @flags:	SYSLET_ATOM_* bits; unknown bits end the chain with -EINVAL.
 * @result:	user address of a __s64 that receives the call's return
 *		value, or 0 for none. Written before the next atom is read,
 *		so a later atom can take it as an argument by pointer.
 * @next:	user address of the next atom; 0 ends the chain. May point
 *		back (loops end through stop flags or the atom budget).
 * @args:	the six arguments: the values themselves, or, for each n with
 *		SYSLET_ATOM_ARG_PTR(n) set, the user address of a __u64 read
 *		when the atom runs.
 * @cookie:	opaque to the kernel; reported with the chain's outcome.
 *
 * Atoms are read from user memory as they run, not copied at submission:
 * the atoms of a chain that went asynchronous, and every word and buffer
 * they name, must stay valid and unchanged until its completion is in the
 * ring. An atom rewritten meanwhile runs as rewritten (with its new
 * cookie), inside the old chain.
 */
struct syslet_atom {
	__u32 nr;
	__u32 flags;
	__u64 result;
	__u64 next;
	__u64 args[6];
	__u64 cookie;
};

/* syslet_atom.flags */
#define SYSLET_ATOM_ARG_PTR(n)		(1U << (n))	/* n = 0..5 */
#define SYSLET_ATOM_STOP_NONZERO	(1U << 8)	/* stop if result != 0 */
#define SYSLET_ATOM_STOP_ZERO		(1U << 9)	/* stop if result == 0 */
#define SYSLET_ATOM_STOP_NEGATIVE	(1U << 10)	/* stop if result < 0 */
#define SYSLET_ATOM_STOP_NONPOSITIVE	(1U << 11)	/* stop if result <= 0 */
/* On a stop, go on at the atom right after this one in memory. */
#define SYSLET_ATOM_SKIP_ON_STOP	(1U << 12)
/*
 * The buffer of this pread64 or pwrite64 (args[1], args[2]) lies in the
 * registered buffer SYSLET_ATOM_BUFFER_INDEX(flags) (see
 * SYSLET_IOC_REGISTER_BUFFERS): thread-free I/O then uses the pages pinned
 * at registration instead of pinning the buffer's pages for each I/O, as
 * io_uring's IORING_OP_READ_FIXED/WRITE_FIXED do. Any other call, or the
 * vectored ones, end the chain with -EINVAL. Seccomp still judges the call
 * as the pread64/pwrite64 it names; then, if no buffers are registered,
 * the index is out of range, the range is not inside that buffer, or the
 * caller's memory map is not the one that registered them (after execve),
 * the atom's result is -EFAULT and the call does not run. On the usual
 * path (a system call: buffered I/O, a regular file, a carrier...) the
 * call reads or writes args[1] in the caller's memory as always, so the
 * data lands in the same pages as long as the buffer's memory is not
 * remapped after registration.
 */
#define SYSLET_ATOM_FIXED_BUFFER	(1U << 13)
/* The registered buffer's index, 0..65535, in bits 16-31 of the flags. */
#define SYSLET_ATOM_BUFFER(index)	((__u32)(index) << 16)
#define SYSLET_ATOM_BUFFER_INDEX(flags)	((__u32)(flags) >> 16)

/*
 * Operations that are not system calls, in syslet_atom.nr.
 * SYSLET_OP_ADD: *(__s64 *)args[0] += (__s64)args[1]; the result is the new
 * value. With it a chain can count its way around a loop.
 */
#define SYSLET_OP_BASE		0x40000000U
#define SYSLET_OP_ADD		(SYSLET_OP_BASE + 0)

/*
 * struct syslet_setup - configure a context; optional, at most once, before
 * the first submission. Zero fields take the default; the kernel writes
 * back the values in force.
 *
 * @atom_budget:	most atoms one chain may run before it ends with
 *			-ELOOP (default 4096, at most syslet_query.max_atom_budget).
 * @flags:		SYSLET_SETUP_* bits.
 * @spares:		cachemiss threads to keep parked, ready to take over a
 *			caller whose atom blocks (default 2, at most
 *			@max_threads - 1: the task left carrying the blocked
 *			chain needs a place under the cap too).
 * @max_threads:	cap on the context's threads: parked spares plus tasks
 *			finishing chains that went asynchronous (default 8, at
 *			most syslet_query.max_threads, 1024; each chain in
 *			flight holds one, and RLIMIT_NPROC bounds them too).
 *			Set-up allocates room for that many. At the cap, or
 *			with no spare parked, a blocking atom blocks the
 *			caller.
 * @max_pending:	cap on completions the kernel holds: chains running
 *			asynchronously plus completions waiting for room in the
 *			ring (default 256, at most 4096). At the cap chains stay
 *			synchronous, so no completion is ever dropped.
 * @ring_entries:	completions the ring holds: a power of two (default 128,
 *			at most 4096).
 * @ring_size:		out: bytes to mmap at offset 0 for the ring (ignored on
 *			input).
 * @reserved:		zero.
 */
struct syslet_setup {
	__u32 atom_budget;
	__u32 flags;
	__u32 spares;
	__u32 max_threads;
	__u32 max_pending;
	__u32 ring_entries;
	__u64 ring_size;
	__u64 reserved[4];
};

/* syslet_setup.flags */
#define SYSLET_SETUP_NO_SPARES	(1U << 0)	/* spares = 0 on purpose: never go async */

/*
 * struct syslet_submit - run a batch of chains.
 *
 * @chains:	user address of an array of @nr_chains __u64, each the user
 *		address of a chain's first atom.
 * @nr_chains:	1 .. syslet_query.max_batch.
 * @flags:	SYSLET_SUBMIT_* bits.
 * @done:	out: chains [0, done) ran to their end synchronously; their
 *		outcomes are in @outcomes.
 * @queued:	out: chains [done, done + queued) went asynchronous, because
 *		an atom of chain @done blocked; each will post exactly one
 *		completion, which SYSLET_IOC_WAIT returns, the chains after
 *		@done too, whether they blocked or not. Without
 *		SYSLET_SUBMIT_RETURN_ON_BLOCK that is every chain from @done on;
 *		with it, chain @done alone (@queued = 1), and the chains from
 *		@done + 1 on did not start: submit them again.
 * @outcomes:	user address of an array of @nr_chains struct syslet_outcome
 *		that receives each chain's outcome, or 0 for none.
 * @timeout_ns:	with SYSLET_SUBMIT_TIMEOUT, the deadline of every chain of
 *		the submission: nanoseconds from the submission (> 0), or,
 *		with SYSLET_SUBMIT_TIMEOUT_ABS too, a CLOCK_MONOTONIC time
 *		(>= 0). Zero without SYSLET_SUBMIT_TIMEOUT.
 * @reserved:	zero.
 *
 * The struct must be writable: one that is not fails with EFAULT before
 * any chain runs.
 *
 * SYSLET_IOC_SUBMIT runs the chains in order, synchronously in the
 * caller's context. If an atom blocks, and the context has a parked spare
 * with exactly the caller's security identity (credentials, seccomp filter,
 * no_new_privs, namespaces, fs and file tables...), room under max_threads
 * and max_pending, the caller is not traced, and the submission allows it,
 * a spare thread takes over the caller's user context and the ioctl returns
 * 0 at once, with @done and @queued set: the program carries on, on another
 * kernel task but as the same thread: its thread id (the leader's is the
 * process id), thread-directed pending signals, children, registers,
 * stack, TLS, FPU state, signal mask, alternate signal stack, robust futex
 * list, rseq area and scheduling (policy, priority, nice, affinity, I/O
 * priority) follow it; thread CPU-time clocks and perf events opened on
 * the thread stay with the task (README, "What moves with a context").
 * Meanwhile the blocked task finishes chain @done in the kernel, under the
 * id the spare had, and then parks as a spare itself (the spares a context
 * keeps can thus grow up to max_threads). The chains after @done run on,
 * before the ioctl returns, in the caller's context (by the spare that
 * took it over, which first tops the spares up and waits until one of
 * those it started is parked): each one that blocks is handed to a carrier
 * of its own in the same way, so a batch of N chains that block has N in
 * flight (SYSLET_FEAT_CONCURRENT_BATCH), as far as max_threads and
 * RLIMIT_NPROC allow. At a hand-off that leaves no spare parked with
 * max_threads reached, the blocked task takes the rest too and runs it in
 * turn after its own chain, and the ioctl returns at once; a chain of the
 * rest that blocks when no spare could be made blocks there,
 * synchronously. Their outcomes go to the ring only. If a signal is pending
 * for the caller meanwhile, every chain left goes to one carrier at once,
 * which runs them in turn, and the ioctl returns (with no spare to take
 * over, they run on in the caller's context, where an interruptible sleep
 * ends at once with EINTR). Until a chain of these blocks, SYSLET_IOC_CANCEL
 * does not find it (as for the chains before @done). With
 * SYSLET_SUBMIT_ASYNC_NOW the first carrier takes every chain, in turn.
 * No hand-off happens (the atom blocks synchronously) while the caller is
 * traced or traces a task, owns a PI futex with waiters, has a timer on
 * its thread CPU-time clock armed, has io_uring state tied to it
 * (registered ring fds, a single-issuer ring, requests in flight), or is
 * SCHED_DEADLINE; nor, for a moment, while the process
 * exits or execs, its cgroup is being changed or, for the process leader,
 * another thread holds the leader's task lock (reading or setting the
 * rlimits, fork(), execve(), /proc). Otherwise the ioctl returns 0 once every
 * chain has run, with @done = @nr_chains and @queued = 0 -- or earlier, between two
 * chains, if a signal is pending for the caller: then @done < @nr_chains,
 * @queued = 0, and the chains from @done on did not start. A seccomp KILL
 * also ends the submission (see SYSLET_OUTCOME_KILLED).
 *
 * An atom whose call a signal interrupts while it runs in the caller's
 * context (an interruptible sleep) gets the result -EINTR, also for a stop
 * (SIGSTOP, SIGTSTP, a ptrace stop) or a handler with SA_RESTART, after
 * which the system call would have been restarted: the handler runs, or
 * the stop happens, only once the ioctl returns. A chain carried on
 * after a hand-off blocks every signal: a stop or a cgroup freeze of the
 * process stops its carrier too, before its next atom or, in a call it
 * interrupts, until the process goes on, when the call is restarted as
 * the system call would be (only a traced carrier gets -EINTR then). A
 * carried chain's completion is posted when its chain ends, never held
 * back by a stop of its carrier or of the process. A
 * call that only task work interrupted (io_uring's completions) is
 * restarted, as on the way to user space. An atom's own signal mask
 * (ppoll, pselect6, epoll_pwait, epoll_pwait2) lasts for that atom: the
 * thread has its own mask again before the next atom and when the ioctl
 * returns, so a signal that only the atom's mask let in stays pending.
 *
 * A carried chain runs with the security identity its thread had at the
 * hand-off, and only while that thread (or, once it has exited, the
 * process's leader) still has it: before each atom the carrier compares
 * them, and if the thread has since dropped privileges, installed a
 * seccomp filter, unshared its file table or changed namespaces (what a
 * spare is compared on), the chain ends there with -EPERM and
 * SYSLET_OUTCOME_ABORTED; the atom it was about to run does not run. A
 * gettid atom of a carried chain returns the thread's id, as before the
 * hand-off (/proc/thread-self in a path atom still names the carrier).
 *
 * Thread-free I/O (SYSLET_FEAT_THREAD_FREE_IO): a chain whose last atom
 * (without SYSLET_ATOM_SKIP_ON_STOP) is a pread64, preadv, pwrite64 or
 * pwritev of a block device opened with O_DIRECT goes asynchronous with no
 * hand-off and no thread: once the seccomp filters let
 * the call run, the I/O is queued to the device from the task running the
 * chain (with IOCB_NOWAIT), and the submission goes on at once, as after a
 * hand-off (@done, @queued, the chains after it and where their outcomes go
 * are the same). When the device completes it, the atom's result word is
 * written and the chain's completion posted, from the device's completion;
 * its flags and stop flags are as for any chain. While in flight the I/O
 * cannot be stopped: SYSLET_IOC_CANCEL does not find it and its deadline
 * does not end it. The I/O of the chains of one submission reaches the
 * device together, when the submission ends or a chain of it blocks (a
 * block plug, as io_uring's). It takes the usual path (a system call, which
 * may hand off and which waits for the device as any pread64 does) when
 * the I/O cannot start without waiting (the block layer says EAGAIN, for
 * instance when the device has no free request: the chain never sees that
 * EAGAIN), for a regular file (whose direct I/O may fail with EAGAIN after
 * part of it was issued), for a bio-based block device such as a
 * device-mapper or md one (which may refuse such I/O with EAGAIN when it
 * completes; devices with a request queue -- NVMe, SCSI, virtio-blk,
 * null_blk -- are served), when the result word is not writable,
 * crosses a page or lies in a shared mapping of a file whose writes the
 * kernel tracks (anything but tmpfs and anonymous memory, in practice), in a
 * SYSLET_SUBMIT_SYNC_ONLY submission, and on a carrier. Errors met before
 * the I/O is queued (EINVAL, EFAULT, ...) end the chain at once, as the
 * system call's. Unlike the system call, such I/O is not counted in the
 * thread's /proc/<pid>/io and raises no fsnotify event. As the system call,
 * a write to a block device does not take the freeze protection of the
 * file system that holds the device's node.
 *
 * 32-bit (compat) callers are not served: every ioctl fails with ENOTTY.
 *
 * The ioctl fails (and no chain ran) only if the submission itself is bad.
 * What happens inside a chain (a failed system call, a bad atom address) is
 * that chain's outcome.
 */
struct syslet_submit {
	__u64 chains;
	__u32 nr_chains;
	__u32 flags;
	__u32 done;
	__u32 queued;
	__u64 outcomes;
	__s64 timeout_ns;
	__u64 reserved[2];
};

/*
 * struct syslet_outcome - how a chain ended.
 *
 * @cookie:	cookie of the last atom run (0 if none ran).
 * @result:	its result, or the error that ended the chain: -EFAULT for an
 *		atom that cannot be read, -EINVAL for bad flags, -EOPNOTSUPP
 *		for a system call that may not run as an atom, -ELOOP when the atom
 *		budget ran out, -EINTR on a fatal signal or a seccomp KILL
 *		(SYSLET_OUTCOME_KILLED), -EPERM for a carried chain whose
 *		thread's identity changed (see SYSLET_IOC_SUBMIT); a seccomp
 *		filter's errno as if the call had run.
 * @last_atom:	user address of the last atom run (or read).
 * @atoms_run:	how many atoms ran.
 * @flags:	SYSLET_OUTCOME_* bits.
 */
struct syslet_outcome {
	__u64 cookie;
	__s64 result;
	__u64 last_atom;
	__u32 atoms_run;
	__u32 flags;
};

/* syslet_outcome.flags */
#define SYSLET_OUTCOME_STOPPED	(1U << 0)	/* ended by a stop flag */
#define SYSLET_OUTCOME_ABORTED	(1U << 1)	/* ended by an error of the chain itself */
/*
 * Ended by a seccomp KILL action (with ABORTED, result -EINTR). The process
 * dies: with SIGSYS when the caller's own ioctl returns, or, if the chain was
 * asynchronous (no frame of the caller's left to return to), with SIGKILL.
 * No further chain of the submission runs.
 */
#define SYSLET_OUTCOME_KILLED	(1U << 2)
/*
 * Ended by SYSLET_IOC_CANCEL, result -ECANCELED: the atom it was blocked in
 * was interrupted (and counts in @atoms_run, its result word gets
 * -ECANCELED), or it stopped before its next atom, or it never started.
 */
#define SYSLET_OUTCOME_CANCELLED	(1U << 3)
/* Ended by the submission's deadline (SYSLET_SUBMIT_TIMEOUT), result -ETIME. */
#define SYSLET_OUTCOME_TIMED_OUT	(1U << 4)
/*
 * Never set by the kernel: user space may mark an @outcomes entry with it,
 * as the C helper syslet_submit_all() marks the entry of a chain that went
 * asynchronous (its outcome comes through the ring).
 */
#define SYSLET_OUTCOME_USER	(1U << 31)

/* syslet_submit.flags */
#define SYSLET_SUBMIT_SYNC_ONLY	(1U << 0)	/* never go asynchronous */
/* Go asynchronous before the first atom runs, if a spare is parked. */
#define SYSLET_SUBMIT_ASYNC_NOW	(1U << 1)
/*
 * Post every chain's outcome to the ring, the synchronous ones too (they
 * also go to @outcomes). The places are reserved at submission: EBUSY if
 * the kernel already holds syslet_setup.max_pending completions.
 */
#define SYSLET_SUBMIT_RING	(1U << 2)
/*
 * Every chain of the submission has a deadline (@timeout_ns). A chain
 * still running when it passes is stopped as by SYSLET_IOC_CANCEL --
 * interrupted in an interruptible sleep, else before its next atom -- and
 * one that has not started does not run; their outcomes say
 * SYSLET_OUTCOME_TIMED_OUT, result -ETIME. Synchronous chains too: the
 * caller's own atom is interrupted, and the submission returns. The
 * deadline has hrtimer resolution.
 */
#define SYSLET_SUBMIT_TIMEOUT	(1U << 3)
/* With SYSLET_SUBMIT_TIMEOUT: @timeout_ns is an absolute CLOCK_MONOTONIC time. */
#define SYSLET_SUBMIT_TIMEOUT_ABS	(1U << 4)
/*
 * When a chain goes asynchronous, its carrier takes that chain alone and the
 * ioctl returns at once (@queued = 1); the chains after it do not start. A
 * program that submits the rest again (the C helper syslet_submit_all()
 * does) has a carrier per blocking chain, all in flight together, as a
 * plain submission has (SYSLET_FEAT_CONCURRENT_BATCH), but gets the
 * outcomes of the chains that did not block in @outcomes, not the ring.
 * Not with SYSLET_SUBMIT_SYNC_ONLY (EINVAL).
 */
#define SYSLET_SUBMIT_RETURN_ON_BLOCK	(1U << 5)

/*
 * The completion ring: completions of chains that went asynchronous, in
 * memory shared with the kernel. mmap the file at offset 0 for
 * syslet_setup.ring_size bytes (MAP_SHARED, PROT_READ | PROT_WRITE), after
 * SYSLET_IOC_SETUP or after the first submission. The header comes first;
 * the entries, struct syslet_outcome each, start at @entries_offset.
 *
 * The kernel writes entry (tail & mask), then stores tail + 1 with release
 * semantics. User space loads tail with acquire semantics, reads entries
 * [head, tail), then stores the new head with release semantics; the kernel
 * loads head with acquire semantics before it reuses an entry. Indices are
 * free-running u32s. The kernel trusts nothing it reads there: a head that
 * claims more than @entries free slots counts as a full ring.
 *
 * No completion is lost: when the ring is full, completions wait in the
 * kernel (@overflow counts them) and move into the ring as room appears,
 * which the kernel notices on SYSLET_IOC_WAIT, SYSLET_IOC_SUBMIT, poll and
 * whenever it posts a completion. The file polls readable (EPOLLIN) while
 * the ring or the overflow holds a completion.
 *
 * @head:	written by user space: the next entry to read.
 * @tail:	written by the kernel: one past the last entry written.
 * @entries:	number of entries, a power of two.
 * @mask:	@entries - 1.
 * @overflow:	completions waiting in the kernel for room.
 * @flags:	zero.
 * @entries_offset: offset of the first entry from the start of the mapping.
 */
struct syslet_ring {
	__u32 head;
	__u32 pad0[15];
	__u32 tail;
	__u32 pad1[15];
	__u32 entries;
	__u32 mask;
	__u32 overflow;
	__u32 flags;
	__u64 entries_offset;
	__u64 reserved[5];
};

/*
 * struct syslet_wait - wait for completions in the ring.
 *
 * @min_complete: wait until at least this many completions are in the
 *		ring (1 .. syslet_ring.entries).
 * @flags:	zero.
 * @timeout_ns:	longest wait; 0 does not wait, negative has no limit.
 * @available:	out: completions in the ring (tail - head).
 * @reserved0, @reserved: zero.
 *
 * SYSLET_IOC_WAIT returns 0 once at least @min_complete completions are in
 * the ring, or fails with ETIMEDOUT when the timeout passed first, or EINTR
 * when a signal handler without SA_RESTART ran first. Otherwise a wait a
 * signal broke off is restarted, like read(2) (with its whole timeout).
 */
struct syslet_wait {
	__u32 min_complete;
	__u32 flags;
	__s64 timeout_ns;
	__u32 available;
	__u32 reserved0;
	__u64 reserved[5];
};

/*
 * struct syslet_cancel - stop queued chains.
 *
 * @cookie:	the chains to stop: those whose completion would carry this
 *		cookie now, i.e. the cookie of the atom a chain is running, or
 *		of its first atom if it has not started. Zero with
 *		SYSLET_CANCEL_ALL.
 * @flags:	SYSLET_CANCEL_ALL: every queued chain of the context.
 * @found:	out: how many queued chains were asked to stop.
 * @reserved:	zero.
 *
 * SYSLET_IOC_CANCEL stops queued chains: those of submissions that went
 * asynchronous (a synchronous chain runs in its caller, which a signal
 * interrupts). A chain blocked in an interruptible sleep (a pipe, a
 * socket, poll, epoll, a futex wait, nanosleep...) is woken at once; one
 * in a killable or uninterruptible sleep (disk I/O) finishes that atom
 * and stops before the next; a chain of the batch that has not started
 * does not run. Each posts exactly one completion, with
 * SYSLET_OUTCOME_CANCELLED and result -ECANCELED -- unless it finished
 * before the request reached it: then its completion is the usual one.
 * Completions are posted as the chains stop, normally within
 * milliseconds; SYSLET_IOC_WAIT waits for them.
 *
 * Returns 0 with @found >= 1, or fails with ENOENT when no queued chain
 * matched @cookie (it finished, or never went asynchronous). With
 * SYSLET_CANCEL_ALL it returns 0, @found possibly 0. EINVAL for unknown
 * flags, a non-zero @cookie with SYSLET_CANCEL_ALL or non-zero reserved
 * fields.
 */
struct syslet_cancel {
	__u64 cookie;
	__u32 flags;
	__u32 found;
	__u64 reserved[2];
};

/* syslet_cancel.flags */
#define SYSLET_CANCEL_ALL	(1U << 0)

/*
 * struct syslet_buffers - register buffers for SYSLET_ATOM_FIXED_BUFFER.
 *
 * @iovecs:	user address of an array of @nr struct iovec: the buffers,
 *		whose index in it is the one atoms name.
 * @nr:		1 .. SYSLET_MAX_BUFFERS.
 * @flags:	zero.
 * @reserved:	zero.
 *
 * SYSLET_IOC_REGISTER_BUFFERS pins the pages of every buffer for as long as
 * the context lives (the file's last close), as io_uring's
 * IORING_REGISTER_BUFFERS does; once per context: EBUSY the second time.
 * Each buffer has 1 .. SYSLET_MAX_BUFFER_LEN bytes, at any address, and
 * must be anonymous memory, tmpfs or hugetlbfs (a file whose writes the
 * kernel tracks cannot be pinned for long: EFAULT, as for an unmapped or
 * read-only buffer). The pages count in the process's locked memory (as
 * mlock's), against RLIMIT_MEMLOCK unless the caller has CAP_IPC_LOCK:
 * ENOMEM beyond it, and also when the kernel cannot allocate the table of
 * their pages (16 bytes a page, in one allocation). EINVAL for bad @nr, lengths, flags or reserved fields;
 * nothing is registered after an error. The context need not be set up.
 */
struct syslet_buffers {
	__u64 iovecs;
	__u32 nr;
	__u32 flags;
	__u64 reserved[2];
};

#define SYSLET_MAX_BUFFERS	1024
#define SYSLET_MAX_BUFFER_LEN	(1U << 30)

#define SYSLET_IOC_QUERY	_IOR(SYSLET_IOC_MAGIC, 0x00, struct syslet_query)
#define SYSLET_IOC_SETUP	_IOWR(SYSLET_IOC_MAGIC, 0x01, struct syslet_setup)
#define SYSLET_IOC_SUBMIT	_IOWR(SYSLET_IOC_MAGIC, 0x02, struct syslet_submit)
#define SYSLET_IOC_WAIT		_IOWR(SYSLET_IOC_MAGIC, 0x03, struct syslet_wait)
#define SYSLET_IOC_CANCEL	_IOWR(SYSLET_IOC_MAGIC, 0x04, struct syslet_cancel)
#define SYSLET_IOC_REGISTER_BUFFERS _IOW(SYSLET_IOC_MAGIC, 0x05, struct syslet_buffers)

#endif /* _UAPI_LINUX_SYSLET_H */
