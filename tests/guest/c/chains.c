// SPDX-License-Identifier: GPL-2.0
/*
 * Synchronous chains: results feeding later arguments, stop flags and
 * branches, counted loops, the atom budget, refused system calls, bad
 * pointers and flags, set-up rules, ownership, seccomp and fatal signals.
 */
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <syslet.h>
#include <time.h>

#include "filter.h"
#include "tap.h"

static int open_ctx(void)
{
	int fd = syslet_open();

	CHECK(fd >= 0);
	return fd;
}

/* Runs one chain and checks the ioctl itself succeeded. */
static struct syslet_outcome run(int fd, struct syslet_atom *first)
{
	struct syslet_outcome o;

	memset(&o, 0xa5, sizeof(o));
	CHECK_EQ(syslet_run_sync(fd, first, &o), 0);
	return o;
}

TEST(open_read_close_passes_results_along)
{
	static const char text[] = "hello, syslet";
	char path[64];
	struct syslet_atom a[3];
	struct syslet_outcome o;
	__s64 file = -1, n = -1, closed = -1;
	char buf[64] = { 0 };
	int fd = open_ctx(), w;

	/* Per user: the suite also runs as nobody, after a run as root. */
	snprintf(path, sizeof(path), "/tmp/chain-read.%d", getuid());
	w = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	CHECK(w >= 0 && write(w, text, strlen(text)) == (ssize_t)strlen(text));
	close(w);

	syslet_atom_prep(&a[0], SYS_openat, AT_FDCWD, syslet_ptr(path), O_RDONLY, 0, 0, 0);
	syslet_atom_result(&a[0], &file);
	syslet_atom_flags(&a[0], SYSLET_ATOM_STOP_NEGATIVE);
	syslet_atom_link(&a[0], &a[1]);
	syslet_atom_prep(&a[1], SYS_read, 0, syslet_ptr(buf), sizeof(buf), 0, 0, 0);
	syslet_atom_arg_ptr(&a[1], 0, &file);
	syslet_atom_result(&a[1], &n);
	syslet_atom_link(&a[1], &a[2]);
	syslet_atom_prep(&a[2], SYS_close, 0, 0, 0, 0, 0, 0);
	syslet_atom_arg_ptr(&a[2], 0, &file);
	syslet_atom_result(&a[2], &closed);
	a[2].cookie = 42;

	o = run(fd, &a[0]);
	CHECK_EQ(o.atoms_run, 3);
	CHECK_EQ(o.flags, 0);
	CHECK_EQ(o.result, 0);
	CHECK_EQ(o.cookie, 42);
	CHECK_EQ(o.last_atom, syslet_ptr(&a[2]));
	CHECK(file >= 0);
	CHECK_EQ(n, strlen(text));
	CHECK(memcmp(buf, text, strlen(text)) == 0);
	CHECK_EQ(closed, 0);
	/* The chain's close really closed the file it opened. */
	CHECK_ERR(fcntl((int)file, F_GETFD), EBADF);
}

/* A two-atom chain whose first atom has @flags; returns the outcome. */
static struct syslet_outcome first_of_two(int fd, struct syslet_atom *a, __u32 flags)
{
	syslet_atom_flags(&a[0], flags);
	syslet_atom_link(&a[0], &a[1]);
	syslet_atom_prep(&a[1], SYS_getppid, 0, 0, 0, 0, 0, 0);
	return run(fd, &a[0]);
}

TEST(stop_nonzero)
{
	struct syslet_atom a[2];
	struct syslet_outcome o;
	int fd = open_ctx();

	syslet_atom_prep(&a[0], SYS_getpid, 0, 0, 0, 0, 0, 0);
	o = first_of_two(fd, a, SYSLET_ATOM_STOP_NONZERO);
	CHECK_EQ(o.atoms_run, 1);
	CHECK_EQ(o.flags, SYSLET_OUTCOME_STOPPED);
	CHECK_EQ(o.result, getpid());

	/* A zero result does not stop it. */
	__s64 word = -1;

	syslet_atom_prep_add(&a[0], &word, 1);
	o = first_of_two(fd, a, SYSLET_ATOM_STOP_NONZERO);
	CHECK_EQ(o.atoms_run, 2);
	CHECK_EQ(o.flags, 0);
}

TEST(stop_zero)
{
	struct syslet_atom a[2];
	struct syslet_outcome o;
	__s64 word = -1;
	int fd = open_ctx();

	syslet_atom_prep_add(&a[0], &word, 1);
	o = first_of_two(fd, a, SYSLET_ATOM_STOP_ZERO);
	CHECK_EQ(o.atoms_run, 1);
	CHECK_EQ(o.flags, SYSLET_OUTCOME_STOPPED);
	CHECK_EQ(o.result, 0);
	CHECK_EQ(word, 0);

	syslet_atom_prep(&a[0], SYS_getpid, 0, 0, 0, 0, 0, 0);
	o = first_of_two(fd, a, SYSLET_ATOM_STOP_ZERO);
	CHECK_EQ(o.atoms_run, 2);
}

TEST(stop_negative)
{
	struct syslet_atom a[2];
	struct syslet_outcome o;
	int fd = open_ctx();

	syslet_atom_prep(&a[0], SYS_close, (__u64)-1, 0, 0, 0, 0, 0);
	o = first_of_two(fd, a, SYSLET_ATOM_STOP_NEGATIVE);
	CHECK_EQ(o.atoms_run, 1);
	CHECK_EQ(o.flags, SYSLET_OUTCOME_STOPPED);
	CHECK_EQ(o.result, -EBADF);

	syslet_atom_prep(&a[0], SYS_getpid, 0, 0, 0, 0, 0, 0);
	o = first_of_two(fd, a, SYSLET_ATOM_STOP_NEGATIVE);
	CHECK_EQ(o.atoms_run, 2);
}

TEST(stop_nonpositive)
{
	struct syslet_atom a[2];
	struct syslet_outcome o;
	__s64 word = -1;
	int fd = open_ctx();

	syslet_atom_prep_add(&a[0], &word, 1);
	o = first_of_two(fd, a, SYSLET_ATOM_STOP_NONPOSITIVE);
	CHECK_EQ(o.atoms_run, 1);
	CHECK_EQ(o.flags, SYSLET_OUTCOME_STOPPED);

	syslet_atom_prep(&a[0], SYS_close, (__u64)-1, 0, 0, 0, 0, 0);
	o = first_of_two(fd, a, SYSLET_ATOM_STOP_NONPOSITIVE);
	CHECK_EQ(o.atoms_run, 1);
	CHECK_EQ(o.result, -EBADF);

	syslet_atom_prep(&a[0], SYS_getpid, 0, 0, 0, 0, 0, 0);
	o = first_of_two(fd, a, SYSLET_ATOM_STOP_NONPOSITIVE);
	CHECK_EQ(o.atoms_run, 2);
}

/*
 * if (close(-1) < 0) errors++; else oks++;
 * a[0] stops on a negative result and then skips to a[1], the "then"
 * branch; otherwise it follows next to a[2], the "else" branch.
 */
static void branch(int fd, __u32 first_nr, __s64 *errors, __s64 *oks)
{
	struct syslet_atom a[3];

	syslet_atom_prep(&a[0], first_nr, (__u64)-1, 0, 0, 0, 0, 0);
	syslet_atom_flags(&a[0], SYSLET_ATOM_STOP_NEGATIVE | SYSLET_ATOM_SKIP_ON_STOP);
	syslet_atom_link(&a[0], &a[2]);
	syslet_atom_prep_add(&a[1], errors, 1);
	syslet_atom_prep_add(&a[2], oks, 1);
	run(fd, &a[0]);
}

TEST(skip_on_stop_makes_a_branch)
{
	__s64 errors = 0, oks = 0;
	int fd = open_ctx();

	branch(fd, SYS_close, &errors, &oks);
	CHECK_EQ(errors, 1);
	CHECK_EQ(oks, 0);
	branch(fd, SYS_getpid, &errors, &oks);
	CHECK_EQ(errors, 1);
	CHECK_EQ(oks, 1);
}

TEST(counted_loop)
{
	struct syslet_atom a[2];
	struct syslet_outcome o;
	__s64 left = 10, calls = 0;
	int fd = open_ctx();

	/* do { calls++; } while (--left != 0); as a[0] -> a[1] -> a[0] ... */
	syslet_atom_prep_add(&a[0], &calls, 1);
	syslet_atom_link(&a[0], &a[1]);
	syslet_atom_prep_add(&a[1], &left, -1);
	syslet_atom_flags(&a[1], SYSLET_ATOM_STOP_ZERO);
	syslet_atom_link(&a[1], &a[0]);
	o = run(fd, &a[0]);
	CHECK_EQ(o.atoms_run, 20);
	CHECK_EQ(o.flags, SYSLET_OUTCOME_STOPPED);
	CHECK_EQ(calls, 10);
	CHECK_EQ(left, 0);
}

TEST(atom_budget_ends_an_endless_loop)
{
	struct syslet_setup s = { .atom_budget = 100 };
	struct syslet_atom a;
	struct syslet_outcome o;
	int fd = open_ctx();

	CHECK_EQ(syslet_setup(fd, &s), 0);
	CHECK_EQ(s.atom_budget, 100);
	syslet_atom_prep(&a, SYS_getpid, 0, 0, 0, 0, 0, 0);
	syslet_atom_link(&a, &a);
	o = run(fd, &a);
	CHECK_EQ(o.result, -ELOOP);
	CHECK_EQ(o.atoms_run, 100);
	CHECK_EQ(o.flags, SYSLET_OUTCOME_ABORTED);
}

/*
 * cgroup.freeze (like a stop or a signal handler) does not wait for a
 * whole batch: the freeze is a pending signal, and a synchronous
 * submission ends between two chains when one is pending. 256 chains of
 * 4096 atoms each; the cgroup is frozen while they run, then thawed.
 */
TEST(cgroup_freeze_does_not_wait_for_a_whole_batch)
{
	static struct syslet_atom loop;
	static struct syslet_atom *firsts[256];
	const char *cg = "/sys/fs/cgroup/syslet-freeze";
	char path[128], events[256];
	int ready[2], result[2], status, done = -1, frozen = 0;
	pid_t child;

	/* Mounting cgroup2 and moving a task need root; security.c runs this
	 * whole file again as uid 65534. */
	if (geteuid() != 0) {
		printf("# needs root: runs in the root pass\n");
		return;
	}
	if (mount("none", "/sys/fs/cgroup", "cgroup2", 0, NULL) != 0)
		CHECK(errno == EBUSY);
	if (mkdir(cg, 0755) != 0)
		CHECK(errno == EEXIST);
	CHECK(pipe(ready) == 0 && pipe(result) == 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		struct syslet_setup s = { .atom_budget = 4096, .flags = SYSLET_SETUP_NO_SPARES };
		int fd = syslet_open(), n, f;

		snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
		f = open(path, O_WRONLY);
		if (fd < 0 || f < 0 || dprintf(f, "%d\n", getpid()) <= 0)
			_exit(10);
		close(f);
		if (syslet_setup(fd, &s) != 0)
			_exit(11);
		syslet_atom_prep(&loop, SYS_getppid, 0, 0, 0, 0, 0, 0);
		syslet_atom_link(&loop, &loop);
		for (int i = 0; i < 256; i++)
			firsts[i] = &loop;
		if (write(ready[1], "r", 1) != 1)
			_exit(12);
		n = syslet_submit_flags(fd, firsts, 256, NULL, SYSLET_SUBMIT_SYNC_ONLY, NULL);
		if (write(result[1], &n, sizeof(n)) != sizeof(n))
			_exit(13);
		_exit(0);
	}
	CHECK(read(ready[0], events, 1) == 1);
	usleep(50 * 1000);
	snprintf(path, sizeof(path), "%s/cgroup.freeze", cg);
	CHECK(tap_write_file(path, "1") == 0);
	snprintf(path, sizeof(path), "%s/cgroup.events", cg);
	for (int i = 0; i < 2000 && !frozen; i++) {
		int f = open(path, O_RDONLY);
		ssize_t len = f >= 0 ? read(f, events, sizeof(events) - 1) : -1;

		if (f >= 0)
			close(f);
		events[len > 0 ? len : 0] = '\0';
		frozen = strstr(events, "frozen 1") != NULL;
		if (!frozen)
			usleep(1000);
	}
	snprintf(path, sizeof(path), "%s/cgroup.freeze", cg);
	CHECK(tap_write_file(path, "0") == 0);
	CHECK(read(result[0], &done, sizeof(done)) == sizeof(done));
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	printf("# frozen %s; %d of 256 chains ran\n", frozen ? "yes" : "no", done);
	CHECK(frozen);
	CHECK(done >= 1 && done < 256);
	rmdir(cg);
}

TEST(refused_system_calls)
{
	static const struct { int nr; const char *name; } refused[] = {
		{ SYS_fork, "fork" }, { SYS_vfork, "vfork" }, { SYS_clone, "clone" },
		{ SYS_clone3, "clone3" }, { SYS_execve, "execve" },
		{ SYS_execveat, "execveat" }, { SYS_exit, "exit" },
		{ SYS_exit_group, "exit_group" }, { SYS_rt_sigreturn, "rt_sigreturn" },
		{ SYS_ptrace, "ptrace" }, { SYS_setuid, "setuid" }, { SYS_setgid, "setgid" },
		{ SYS_setreuid, "setreuid" }, { SYS_setresuid, "setresuid" },
		{ SYS_setfsuid, "setfsuid" }, { SYS_capset, "capset" },
		{ SYS_ioctl, "ioctl (no recursion into /dev/syslet)" },
		{ SYS_seccomp, "seccomp" }, { SYS_prctl, "prctl" }, { SYS_unshare, "unshare" },
		{ SYS_setns, "setns" }, { SYS_io_uring_enter, "io_uring_enter" },
		{ 100000, "an unknown number" },
	};
	int fd = open_ctx();

	for (unsigned int i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct syslet_atom a;
		struct syslet_outcome o;

		/* Harmless arguments, should the call ever run. */
		syslet_atom_prep(&a, refused[i].nr, (__u64)-1, 0, 0, 0, 0, 0);
		if (refused[i].nr == SYS_ioctl) {
			a.args[0] = fd;
			a.args[1] = SYSLET_IOC_QUERY;
		}
		o = run(fd, &a);
		if (o.result != -EOPNOTSUPP || o.atoms_run != 0 ||
		    o.flags != SYSLET_OUTCOME_ABORTED)
			FAIL("%s: result %lld, atoms_run %u, flags %#x", refused[i].name,
			     (long long)o.result, o.atoms_run, o.flags);
	}
}

TEST(bad_atom_addresses_end_the_chain_with_efault)
{
	static const __u64 bad[] = { 1, 0xffffffff81000000ULL, 0x7ffffffff000ULL - 8 };
	struct syslet_atom a;
	struct syslet_outcome o;
	int fd = open_ctx();

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = run(fd, (struct syslet_atom *)(uintptr_t)bad[i]);
		CHECK_EQ(o.result, -EFAULT);
		CHECK_EQ(o.atoms_run, 0);
		CHECK_EQ(o.flags, SYSLET_OUTCOME_ABORTED);
		CHECK_EQ(o.last_atom, bad[i]);
	}
	/* A result pointer into the kernel: the call ran, the store failed. */
	syslet_atom_prep(&a, SYS_getpid, 0, 0, 0, 0, 0, 0);
	a.result = 0xffffffff81000000ULL;
	o = run(fd, &a);
	CHECK_EQ(o.result, -EFAULT);
	CHECK_EQ(o.flags, SYSLET_OUTCOME_ABORTED);
	/* An argument pointer that cannot be read. */
	syslet_atom_prep(&a, SYS_getpid, 0, 0, 0, 0, 0, 0);
	syslet_atom_arg_ptr(&a, 3, (void *)8);
	o = run(fd, &a);
	CHECK_EQ(o.result, -EFAULT);
	CHECK_EQ(o.atoms_run, 0);
}

TEST(unknown_atom_flags_and_ops_are_einval)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	int fd = open_ctx();

	syslet_atom_prep(&a, SYS_getpid, 0, 0, 0, 0, 0, 0);
	a.flags = 1U << 31;
	o = run(fd, &a);
	CHECK_EQ(o.result, -EINVAL);
	CHECK_EQ(o.atoms_run, 0);
	syslet_atom_prep(&a, SYSLET_OP_BASE + 77, 0, 0, 0, 0, 0, 0);
	o = run(fd, &a);
	CHECK_EQ(o.result, -EINVAL);
}

TEST(bad_submissions_are_refused_whole)
{
	struct syslet_atom a;
	struct syslet_submit s;
	struct syslet_query q;
	__u64 chain;
	int fd = open_ctx();

	syslet_atom_prep(&a, SYS_getpid, 0, 0, 0, 0, 0, 0);
	chain = syslet_ptr(&a);
	CHECK_EQ(syslet_query(fd, &q), 0);

	memset(&s, 0, sizeof(s));
	s.chains = syslet_ptr(&chain);
	CHECK_ERR(ioctl(fd, SYSLET_IOC_SUBMIT, &s), EINVAL);		/* no chains */
	s.nr_chains = q.max_batch + 1;
	CHECK_ERR(ioctl(fd, SYSLET_IOC_SUBMIT, &s), EINVAL);		/* too many */
	s.nr_chains = 1;
	s.reserved[1] = 1;
	CHECK_ERR(ioctl(fd, SYSLET_IOC_SUBMIT, &s), EINVAL);		/* reserved */
	s.reserved[1] = 0;
	s.flags = 1U << 30;
	CHECK_ERR(ioctl(fd, SYSLET_IOC_SUBMIT, &s), EINVAL);		/* flags */
	s.flags = 0;
	s.chains = 0;
	CHECK_ERR(ioctl(fd, SYSLET_IOC_SUBMIT, &s), EFAULT);		/* chain array */
	CHECK_ERR(ioctl(fd, SYSLET_IOC_SUBMIT, NULL), EFAULT);
	s.chains = syslet_ptr(&chain);
	CHECK_EQ(ioctl(fd, SYSLET_IOC_SUBMIT, &s), 0);
	CHECK_EQ(s.done, 1);
}

TEST(batch_runs_every_chain_in_order)
{
	struct syslet_atom a[8], *firsts[8];
	struct syslet_outcome o[8];
	__s64 word = 0;
	int fd = open_ctx();

	for (int i = 0; i < 8; i++) {
		syslet_atom_prep_add(&a[i], &word, 1);
		a[i].cookie = 100 + i;
		firsts[i] = &a[i];
	}
	CHECK_EQ(syslet_submit_flags(fd, firsts, 8, o, SYSLET_SUBMIT_SYNC_ONLY, NULL), 8);
	for (int i = 0; i < 8; i++) {
		CHECK_EQ(o[i].cookie, 100 + i);
		CHECK_EQ(o[i].result, i + 1);
	}
}

TEST(setup_rules)
{
	struct syslet_setup s;
	struct syslet_query q;
	struct syslet_atom a;
	int fd = open_ctx();

	CHECK_EQ(syslet_query(fd, &q), 0);
	memset(&s, 0, sizeof(s));
	s.atom_budget = q.max_atom_budget + 1;
	CHECK_EQ(syslet_setup(fd, &s), -EINVAL);
	s.atom_budget = 0;
	s.reserved[3] = 1;
	CHECK_EQ(syslet_setup(fd, &s), -EINVAL);
	s.reserved[3] = 0;
	CHECK_EQ(syslet_setup(fd, &s), 0);
	CHECK_EQ(s.atom_budget, 4096);		/* the documented default */
	CHECK_EQ(syslet_setup(fd, &s), -EBUSY);	/* only once */

	fd = open_ctx();
	syslet_atom_prep(&a, SYS_getpid, 0, 0, 0, 0, 0, 0);
	run(fd, &a);
	CHECK_EQ(syslet_setup(fd, &s), -EBUSY);	/* not after a submission */
}

TEST(context_used_from_a_forked_child_is_ebadfd)
{
	struct syslet_atom a;
	struct syslet_query q;
	struct syslet_outcome o;
	int fd = open_ctx(), status;
	pid_t pid;

	syslet_atom_prep(&a, SYS_getpid, 0, 0, 0, 0, 0, 0);
	pid = fork();
	if (pid == 0) {
		/* Querying the device is fine; using the context is not. */
		if (syslet_query(fd, &q) != 0)
			_exit(1);
		_exit(syslet_run_sync(fd, &a, &o) == -EBADFD ? 0 : 2);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	/* The owner still can. */
	o = run(fd, &a);
	CHECK_EQ(o.result, getpid());
}

/*
 * A process that gets an exited owner's process id is not the owner. The
 * owner A opens a context and forks B, which keeps the descriptor; A exits
 * and is reaped; B makes C with A's id (clone3()'s set_tid, root's; a
 * wrap of the id space does the same for anyone), and C, which inherits
 * the descriptor, gets EBADFD. Until 2026-12-03 the owner was compared by
 * number, and C used the context.
 */
TEST(a_process_with_an_exited_owner_s_id_is_not_the_owner)
{
	int ready[2], go[2], verdict[2], status;
	pid_t a, b = 0;
	char c = 0;

	if (geteuid() != 0) {
		printf("# needs root: runs in the root pass\n");
		return;
	}
	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0);
	CHECK(pipe(ready) == 0 && pipe(go) == 0 && pipe(verdict) == 0);
	a = fork();
	CHECK(a >= 0);
	if (a == 0) {
		/* Not getppid() in B: A may be gone (B reparented) by then. */
		pid_t owner = getpid();
		int fd = open_ctx();

		b = fork();
		if (b == 0) {
			struct clone_args args = { .exit_signal = SIGCHLD };
			struct syslet_atom atom;
			struct syslet_outcome o;
			pid_t kid;

			/* Until A is gone and reaped. */
			if (read(go[0], &c, 1) != 1)
				_exit(1);
			args.set_tid = syslet_ptr(&owner);
			args.set_tid_size = 1;
			/* The id is free once the owner is reaped (EEXIST until
			 * then, should it be reaped a moment later). */
			for (int i = 0; i < 300; i++) {
				kid = syscall(SYS_clone3, &args, sizeof(args));
				if (kid >= 0 || errno != EEXIST)
					break;
				usleep(10 * 1000);
			}
			if (kid == 0) {
				syslet_atom_prep(&atom, SYS_getpid, 0, 0, 0, 0, 0, 0);
				c = getpid() != owner ? 'p' :
				    syslet_run_sync(fd, &atom, &o) == -EBADFD ? 'y' : 'n';
				_exit(write(verdict[1], &c, 1) == 1 ? 0 : 1);
			}
			if (kid < 0) {
				printf("# clone3 with set_tid %d: %s\n", (int)owner, strerror(errno));
				fflush(stdout);
				c = 'c';
			} else {
				waitpid(kid, &status, 0);
			}
			_exit(kid < 0 && write(verdict[1], &c, 1) != 1);
		}
		_exit(b > 0 && write(ready[1], "r", 1) == 1 ? 0 : 1);
	}
	CHECK(read(ready[0], &c, 1) == 1);
	CHECK(waitpid(a, &status, 0) == a && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(write(go[1], "g", 1) == 1);
	CHECK(read(verdict[0], &c, 1) == 1);
	while (waitpid(-1, &status, 0) > 0)
		;
	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) == 0);
	if (c == 'c')
		FAIL("clone3 with set_tid %d failed", (int)a);
	if (c == 'p')
		FAIL("the new process did not get the id asked for");
	CHECK_EQ(c, 'y');
}

TEST(seccomp_errno_filter_applies_to_atoms)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	int fd = open_ctx();

	install_filter(SYS_getppid, SECCOMP_RET_ERRNO | EACCES);
	CHECK_ERR(syscall(SYS_getppid), EACCES);
	syslet_atom_prep(&a, SYS_getppid, 0, 0, 0, 0, 0, 0);
	o = run(fd, &a);
	CHECK_EQ(o.result, -EACCES);
	/* Other calls still run. */
	syslet_atom_prep(&a, SYS_getpid, 0, 0, 0, 0, 0, 0);
	o = run(fd, &a);
	CHECK_EQ(o.result, getpid());
}

TEST(seccomp_trap_filter_fails_the_atom_without_running_it)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	int fd = open_ctx();

	/* No SIGSYS arrives either: the default action would kill us. */
	install_filter(SYS_getppid, SECCOMP_RET_TRAP);
	syslet_atom_prep(&a, SYS_getppid, 0, 0, 0, 0, 0, 0);
	o = run(fd, &a);
	CHECK_EQ(o.result, -ENOSYS);
	CHECK_EQ(o.atoms_run, 1);
}

TEST(seccomp_kill_filter_kills_the_process)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		struct syslet_atom a;
		struct syslet_outcome o;
		int fd = open_ctx();	/* a context of this process */

		install_filter(SYS_getppid, SECCOMP_RET_KILL_PROCESS);
		syslet_atom_prep(&a, SYS_getppid, 0, 0, 0, 0, 0, 0);
		syslet_run_sync(fd, &a, &o);
		_exit(0);	/* must not get here */
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
		FAIL("child status %#x, wanted death by SIGSYS", status);
}

TEST(sigkill_ends_a_long_chain)
{
	struct syslet_setup s = { .atom_budget = 1 << 20 };
	int fd = open_ctx(), status;
	struct timespec t0, t1;
	pid_t pid;

	CHECK_EQ(syslet_setup(fd, &s), 0);
	pid = fork();
	if (pid == 0) {
		struct syslet_atom a;
		struct syslet_outcome o;

		/* Its own context: the parent's belongs to the parent. */
		int cfd = syslet_open();
		struct syslet_setup cs = { .atom_budget = 1 << 20 };

		syslet_setup(cfd, &cs);
		syslet_atom_prep(&a, SYS_getpid, 0, 0, 0, 0, 0, 0);
		syslet_atom_link(&a, &a);
		for (;;)
			syslet_run_sync(cfd, &a, &o);
	}
	CHECK(pid > 0);
	usleep(300 * 1000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* Between atoms, not after a million of them. */
	CHECK(t1.tv_sec - t0.tv_sec < 5);
}

/*
 * An atom's result is what its call returned, whatever the value.
 * lseek() of /proc/self/mem returns the offset it is given: the most
 * negative one, whose negation overflows (with the debug kernel's
 * overflow checks, a panic when the interpreter negated it), and the
 * values of the restart errnos, which only a call that a signal or a
 * notification interrupted is restarted for (an uninterrupted one was
 * restarted 64 times, then reported -EINTR).
 */
TEST(a_result_is_passed_on_whatever_its_value)
{
	static const __s64 offsets[] = { INT64_MIN, -512, -513, -514, -515, -516, -517, INT64_MAX };
	struct syslet_atom a;
	struct syslet_outcome o;
	int fd = open_ctx(), mem = open("/proc/self/mem", O_RDONLY);

	CHECK(mem >= 0);
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		__s64 word = 0;

		syslet_atom_prep(&a, SYS_lseek, mem, (__u64)offsets[i], SEEK_SET, 0, 0, 0);
		syslet_atom_result(&a, &word);
		o = run(fd, &a);
		CHECK_EQ(o.result, offsets[i]);
		CHECK_EQ(word, offsets[i]);
		CHECK_EQ(o.atoms_run, 1);
		CHECK_EQ(o.flags, 0);
	}
	close(mem);
	close(fd);
}

TEST(blocking_atom_runs_synchronously)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	struct timespec t0, t1;
	struct syslet_atom a;
	struct syslet_outcome o;
	int fd = open_ctx();

	syslet_atom_prep(&a, SYS_nanosleep, syslet_ptr(&ts), 0, 0, 0, 0, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	o = run(fd, &a);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK_EQ(o.result, 0);
	CHECK((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) >= 20000000L);
}

/*
 * One thread, so ioctl()'s fdget() borrowed the file and took no
 * reference: an atom that closes the context's own descriptor drops the
 * last one while the chain runs. The submission holds its own, so the
 * chain finishes and the context goes once the ioctl returns.
 */
TEST(a_chain_that_closes_its_own_context_finishes_safely)
{
	struct syslet_atom a[2], *first = &a[0];
	struct syslet_outcome o;
	int fd = open_ctx();

	syslet_atom_prep(&a[0], SYS_close, fd, 0, 0, 0, 0, 0);
	syslet_atom_link(&a[0], &a[1]);
	syslet_atom_prep(&a[1], SYS_getpid, 0, 0, 0, 0, 0, 0);
	memset(&o, 0xa5, sizeof(o));
	CHECK_EQ(syslet_submit_flags(fd, &first, 1, &o, SYSLET_SUBMIT_SYNC_ONLY, NULL), 1);
	CHECK_EQ(o.atoms_run, 2);
	CHECK_EQ(o.flags, 0);
	CHECK_EQ(o.result, getpid());
	CHECK_ERR(fcntl(fd, F_GETFD), EBADF);
}

/*
 * The same through task work: dup2() onto the context's descriptor defers
 * the old file's last fput(), and the deadline that stops the blocking
 * read runs current's task work before the chain ends.
 */
TEST(a_chain_that_replaces_its_own_context_finishes_safely)
{
	struct syslet_atom a[3], *first = &a[0];
	struct syslet_outcome o;
	int fd = open_ctx(), p[2];
	char c;

	CHECK(pipe(p) == 0);
	syslet_atom_prep(&a[0], SYS_dup2, p[1], fd, 0, 0, 0, 0);
	syslet_atom_link(&a[0], &a[1]);
	syslet_atom_prep(&a[1], SYS_read, p[0], syslet_ptr(&c), 1, 0, 0, 0);
	syslet_atom_link(&a[1], &a[2]);
	syslet_atom_prep(&a[2], SYS_getpid, 0, 0, 0, 0, 0, 0);
	memset(&o, 0xa5, sizeof(o));
	CHECK_EQ(syslet_submit_timeout(fd, &first, 1, &o,
				       SYSLET_SUBMIT_SYNC_ONLY | SYSLET_SUBMIT_TIMEOUT,
				       20 * 1000 * 1000, NULL), 1);
	CHECK_EQ(o.atoms_run, 2);
	CHECK_EQ(o.result, -ETIME);
	CHECK(o.flags & SYSLET_OUTCOME_TIMED_OUT);
	/* The descriptor is the pipe's write end now. */
	CHECK_EQ(write(fd, "x", 1), 1);
	close(p[0]);
	close(p[1]);
	close(fd);
}

/*
 * An atom's own signal mask (ppoll(), pselect6(), epoll_pwait()) lasts
 * for that atom. A ppoll() with an empty mask that the submission's
 * deadline interrupts left it on the thread until 2026-12-03: the ioctl
 * returned with SIGUSR1, which the program blocks, unblocked.
 */
TEST(an_atom_s_signal_mask_lasts_for_that_atom)
{
	struct timespec ts = { 5, 0 };
	struct syslet_atom a, *first = &a;
	struct syslet_outcome o;
	sigset_t usr1, now;
	__u64 none = 0;	/* the kernel's sigset_t */
	struct pollfd pfd;
	int fd = open_ctx(), p[2];

	CHECK(pipe(p) == 0);
	pfd = (struct pollfd){ .fd = p[0], .events = POLLIN };
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	CHECK(sigprocmask(SIG_BLOCK, &usr1, NULL) == 0);
	syslet_atom_prep(&a, SYS_ppoll, syslet_ptr(&pfd), 1, syslet_ptr(&ts), syslet_ptr(&none),
			 sizeof(none), 0);
	CHECK_EQ(syslet_submit_timeout(fd, &first, 1, &o,
				       SYSLET_SUBMIT_SYNC_ONLY | SYSLET_SUBMIT_TIMEOUT,
				       20 * 1000 * 1000, NULL), 1);
	CHECK_EQ(o.result, -ETIME);
	CHECK(sigprocmask(SIG_BLOCK, NULL, &now) == 0);
	CHECK(sigismember(&now, SIGUSR1));
	close(p[0]);
	close(p[1]);
	close(fd);
}

/*
 * A struct syslet_submit that cannot be written back (read-only memory)
 * is refused with EFAULT before any chain runs. Until 2026-12-03 a
 * synchronous submission ran its chains and then failed, so the program
 * could not tell what had run.
 */
TEST(a_submission_that_cannot_be_reported_runs_nothing)
{
	struct syslet_atom a;
	__u64 chain = syslet_ptr(&a);
	__s64 word = -1;
	struct syslet_submit *s = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = open_ctx();

	CHECK(s != MAP_FAILED);
	syslet_atom_prep(&a, SYS_getpid, 0, 0, 0, 0, 0, 0);
	syslet_atom_result(&a, &word);
	memset(s, 0, sizeof(*s));
	s->chains = syslet_ptr(&chain);
	s->nr_chains = 1;
	s->flags = SYSLET_SUBMIT_SYNC_ONLY;
	CHECK(mprotect(s, 4096, PROT_READ) == 0);
	CHECK_EQ(syslet_ioctl(fd, SYSLET_IOC_SUBMIT, s), -EFAULT);
	CHECK_EQ(word, -1);
	munmap(s, 4096);
	close(fd);
}

TEST(fdinfo_counts_chains_and_atoms)
{
	struct syslet_atom a[2];
	char path[64], text[2048];
	int fd = open_ctx(), info;
	ssize_t n;

	syslet_atom_prep(&a[0], SYS_getpid, 0, 0, 0, 0, 0, 0);
	syslet_atom_link(&a[0], &a[1]);
	syslet_atom_prep(&a[1], SYS_fork, 0, 0, 0, 0, 0, 0);
	run(fd, &a[0]);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	info = open(path, O_RDONLY);
	CHECK(info >= 0);
	n = read(info, text, sizeof(text) - 1);
	CHECK(n > 0);
	text[n] = '\0';
	if (!strstr(text, "syslet-chains:\t1\n") || !strstr(text, "syslet-atoms:\t1\n") ||
	    !strstr(text, "syslet-refused:\t1\n") || !strstr(text, "syslet-aborted:\t1\n"))
		FAIL("fdinfo:\n%s", text);
}
