// SPDX-License-Identifier: GPL-2.0
/*
 * Security boundaries, as unprivileged users: another user's process
 * cannot use a context it was passed; refused calls and seccomp filters
 * hold (the whole chains suite again, as uid 65534); no kernel address
 * reaches user space through the ring, fdinfo, outcomes or results; the
 * kernel writes only where it was told to, and only where the caller may;
 * every limit is enforced.
 */
#define _GNU_SOURCE
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <syslet.h>

#include "tap.h"

/* Passes @fd over @sock. */
static int send_fd(int sock, int fd)
{
	char byte = 0, cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char byte, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int fd;

	if (recvmsg(sock, &m, 0) != 1 || !(c = CMSG_FIRSTHDR(&m)))
		return -1;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

TEST(a_context_passed_to_another_user_is_ebadfd)
{
	int sv[2], status;
	pid_t owner, other;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	owner = fork();
	if (owner == 0) {
		struct syslet_setup s = { 0 };
		int fd;

		if (tap_become(1000, 1000, 0) != 0)
			_exit(2);
		fd = syslet_open();
		if (fd < 0 || syslet_setup(fd, &s) != 0 || send_fd(sv[0], fd) != 0)
			_exit(3);
		/* Stay alive, the context's owner, until the other is done. */
		if (read(sv[0], &s, 1) != 1)
			_exit(4);
		_exit(0);
	}
	other = fork();
	if (other == 0) {
		struct syslet_atom a, *first = &a;
		struct syslet_setup s = { 0 };
		struct syslet_query q;
		int fd, bad = 0;

		if (tap_become(1001, 1001, 0) != 0)
			_exit(2);
		fd = recv_fd(sv[1]);
		if (fd < 0)
			_exit(3);
		syslet_atom_prep(&a, SYS_getpid, 0, 0, 0, 0, 0, 0);
		bad |= syslet_submit(fd, &first, 1, NULL, NULL) != -EBADFD;
		bad |= syslet_setup(fd, &s) != -EBADFD;
		bad |= syslet_wait(fd, 1, 0) != -EBADFD;
		bad |= syslet_cancel(fd, 0, SYSLET_CANCEL_ALL) != -EBADFD;
		bad |= mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) != MAP_FAILED || errno != EBADFD;
		bad |= syslet_query(fd, &q) != 0;	/* what the device is: harmless */
		bad |= write(sv[1], "x", 1) != 1;
		_exit(bad ? 5 : 0);
	}
	CHECK(owner > 0 && other > 0);
	CHECK_EQ(waitpid(other, &status, 0), other);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	CHECK_EQ(waitpid(owner, &status, 0), owner);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

/*
 * The owner is a thread group, not a number: a process in another PID
 * namespace whose id there equals the owner's id here is not the owner.
 * The ns's init makes a child with that id, and the child, which
 * inherited the descriptor, must get EBADFD.
 */
TEST(an_equal_pid_in_another_namespace_is_not_the_owner)
{
	struct syslet_setup s = { .spares = 0, .flags = SYSLET_SETUP_NO_SPARES };
	pid_t owner = getpid(), child;
	int fd = syslet_open(), status;

	CHECK(fd >= 0);
	CHECK_EQ(syslet_setup(fd, &s), 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		pid_t init;

		if (unshare(CLONE_NEWPID) != 0)
			_exit(20);
		init = fork();
		if (init < 0)
			_exit(21);
		if (init > 0)
			_exit(waitpid(init, &status, 0) == init && WIFEXITED(status) ?
			      WEXITSTATUS(status) : 22);
		/*
		 * pid 1 of the new namespace makes a child whose pid there is
		 * the owner's (clone3's set_tid; forking until the pids got
		 * there took minutes once the suite had used thousands).
		 */
		struct clone_args args = {
			.exit_signal = SIGCHLD,
			.set_tid = (uintptr_t)&owner,
			.set_tid_size = 1,
		};
		pid_t p = syscall(SYS_clone3, &args, sizeof(args));

		if (p < 0)
			_exit(23);
		if (p == 0) {
			if (getpid() != owner)
				_exit(24);
			if (syslet_setup(fd, &s) == -EBADFD && syslet_wait(fd, 1, 0) == -EBADFD)
				_exit(42);
			_exit(25);
		}
		if (waitpid(p, &status, 0) != p || !WIFEXITED(status))
			_exit(26);
		_exit(WEXITSTATUS(status));
	}
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 42);
}

TEST(refused_calls_and_seccomp_hold_unprivileged)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		int log = open("/tmp/c-chains-as-nobody", O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(log, 1);
		dup2(log, 2);
		if (tap_become_nobody() != 0)
			_exit(2);
		execl("/tests/c-chains", "c-chains", (char *)NULL);
		_exit(3);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		/* Its failures, as comments: its own TAP lines are not ours. */
		fflush(stdout);
		if (system("grep -B3 '^not ok' /tmp/c-chains-as-nobody | sed 's/^/# nobody: /'"))
			printf("# no failure lines\n");
	}
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	printf("# hardening: the chains suite (refused calls, seccomp ERRNO/TRAP/KILL, bad "
	       "pointers) as uid %d | 1 | all cases pass\n", TAP_NOBODY);
}

/* The bad addresses the test itself hands the kernel, which outcomes may
 * echo back (last_atom is the address of the atom that could not be read). */
#define PLANTED_NEXT 0xffffffff81000000ULL
#define PLANTED_BUF 0xffff888000000000ULL

/* A kernel address: the upper half, not a small negative errno, not one we
 * planted. */
static int is_kernel_address(uint64_t v)
{
	return v >= 0xffff800000000000ULL && v < (uint64_t)-4095 && v != PLANTED_NEXT &&
	       v != PLANTED_BUF;
}

static long kernel_words(const void *p, size_t len)
{
	const uint64_t *w = p;
	long n = 0;

	for (size_t i = 0; i < len / 8; i++)
		n += is_kernel_address(w[i]);
	return n;
}

TEST(no_kernel_address_reaches_user_space)
{
	struct syslet_setup s = { .spares = 1, .ring_entries = 4 };
	struct syslet_ring_map ring = { 0 };
	struct syslet_atom a[4], *firsts[4] = { &a[0], &a[1], &a[2], &a[3] };
	struct syslet_outcome o[4], r[4];
	__s64 res[4] = { 0 };
	char buf[4], text[4096], path[64];
	long leaks = 0, words = 0;
	int fd, p[2], info;
	ssize_t len;

	CHECK_EQ(tap_become_nobody(), 0);
	fd = syslet_open();
	CHECK(fd >= 0);
	CHECK_EQ(syslet_setup(fd, &s), 0);
	CHECK_EQ(syslet_ring_mmap(fd, &s, &ring), 0);
	/* Spares start in the background: the blocking read below needs one. */
	for (int i = 0; i < 500 && syslet_fdinfo_value(fd, "syslet-spares") < 1; i++)
		usleep(10 * 1000);
	CHECK_EQ(syslet_fdinfo_value(fd, "syslet-spares"), 1);
	CHECK(pipe(p) == 0);
	/* Errors of every kind, in outcomes, results and the ring. */
	syslet_atom_prep(&a[0], SYS_getpid, 0, 0, 0, 0, 0, 0);
	syslet_atom_result(&a[0], &res[0]);
	syslet_atom_link(&a[0], (void *)PLANTED_NEXT);	/* kernel "next" */
	syslet_atom_prep(&a[1], SYS_read, p[0], PLANTED_BUF, 4, 0, 0, 0);
	syslet_atom_result(&a[1], &res[1]);
	syslet_atom_prep(&a[2], SYS_fork, 0, 0, 0, 0, 0, 0);
	syslet_atom_prep(&a[3], SYS_read, p[0], syslet_ptr(buf), 1, 0, 0, 0);	/* blocks */
	syslet_atom_result(&a[3], &res[3]);
	CHECK(write(p[1], "ab", 2) == 2);
	CHECK_EQ(syslet_submit(fd, firsts, 3, o, NULL), 3);
	CHECK_EQ(o[0].result, -EFAULT);
	CHECK_EQ(res[1], -EFAULT);
	CHECK_EQ(syslet_run(fd, &a[3], &o[3]), 1);	/* a byte is left: synchronous */
	CHECK_EQ(syslet_run(fd, &a[3], &o[3]), 1);
	CHECK_EQ(syslet_run(fd, &a[3], &o[3]), 0);	/* empty: asynchronous */
	CHECK(write(p[1], "c", 1) == 1);
	CHECK_EQ(syslet_wait_reap(fd, &ring, r, 4, 1, 5000000000LL), 1);
	leaks += kernel_words(o, sizeof(o)) + kernel_words(r, sizeof(r)) +
		 kernel_words(res, sizeof(res)) + kernel_words(ring.hdr, ring.size);
	words += (sizeof(o) + sizeof(r) + sizeof(res) + ring.size) / 8;
	/* fdinfo: no number there looks like a kernel address. */
	snprintf(path, sizeof(path), "/proc/thread-self/fdinfo/%d", fd);
	info = open(path, O_RDONLY);
	CHECK(info >= 0);
	len = read(info, text, sizeof(text) - 1);
	CHECK(len > 0);
	text[len] = '\0';
	for (char *t = text; *t; t++) {
		if ((*t >= '0' && *t <= '9') && (t == text || t[-1] < '0' || t[-1] > 'z')) {
			uint64_t v = strtoull(t, NULL, 0);

			leaks += is_kernel_address(v) || is_kernel_address(strtoull(t, NULL, 16));
			words++;
		}
	}
	CHECK(strstr(text, "syslet-abi:") != NULL);
	printf("# hardening: kernel addresses in ring, outcomes, results and fdinfo | %ld words | "
	       "%ld found\n", words, leaks);
	CHECK_EQ(leaks, 0);
}

TEST(the_kernel_writes_only_where_the_caller_may)
{
	struct syslet_setup s = { 0 };
	struct syslet_atom a;
	struct syslet_outcome o;
	__s64 *ro;
	void *m;
	int fd;

	CHECK_EQ(tap_become_nobody(), 0);
	fd = syslet_open();
	CHECK(fd >= 0);
	CHECK_EQ(syslet_setup(fd, &s), 0);
	/* A result into a read-only page, into the kernel, into nowhere. */
	ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ro != MAP_FAILED);
	syslet_atom_prep(&a, SYS_getpid, 0, 0, 0, 0, 0, 0);
	a.result = syslet_ptr(ro);
	CHECK_EQ(syslet_run_sync(fd, &a, &o), 0);
	CHECK_EQ(o.result, -EFAULT);
	CHECK_EQ(ro[0], 0);
	a.result = 0xffff888000001000ULL;
	CHECK_EQ(syslet_run_sync(fd, &a, &o), 0);
	CHECK_EQ(o.result, -EFAULT);
	/* ADD into the kernel or a read-only page: refused the same way. */
	syslet_atom_prep_add(&a, (__s64 *)0xffffffff81000000ULL, 1);
	CHECK_EQ(syslet_run_sync(fd, &a, &o), 0);
	CHECK_EQ(o.result, -EFAULT);
	syslet_atom_prep_add(&a, ro, 1);
	CHECK_EQ(syslet_run_sync(fd, &a, &o), 0);
	CHECK_EQ(o.result, -EFAULT);
	CHECK_EQ(ro[0], 0);
	/* Outcomes into a read-only page: the submission fails, nothing written. */
	{
		struct syslet_atom *first = &a;

		syslet_atom_prep(&a, SYS_getpid, 0, 0, 0, 0, 0, 0);
		CHECK_EQ(syslet_submit_flags(fd, &first, 1, (void *)ro, SYSLET_SUBMIT_SYNC_ONLY,
					     NULL), -EFAULT);
		CHECK_EQ(ro[0], 0);
	}
	/* The ring: no page beyond its own, whatever the offset or size. */
	CHECK(mmap(NULL, s.ring_size + 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) ==
	      MAP_FAILED);
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, s.ring_size) == MAP_FAILED);
	CHECK(mmap(NULL, s.ring_size, PROT_READ, MAP_SHARED, fd, 4096) == MAP_FAILED);
	m = mmap(NULL, s.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED);
	CHECK(mremap(m, s.ring_size, s.ring_size + 4096, MREMAP_MAYMOVE) == MAP_FAILED);
	printf("# hardening: writes to read-only, kernel and out-of-ring addresses | 9 | all "
	       "refused, nothing written\n");
}

TEST(every_limit_is_enforced)
{
	struct syslet_setup over[] = {
		{ .max_threads = 1025 }, { .ring_entries = 8192 }, { .ring_entries = 100 },
		{ .max_pending = 4097 }, { .atom_budget = (1 << 20) + 1 }, { .spares = 9 },
	};
	struct syslet_atom a, *firsts[257];
	int fd;

	CHECK_EQ(tap_become_nobody(), 0);
	for (unsigned int i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
		fd = syslet_open();
		CHECK(fd >= 0);
		if (syslet_setup(fd, &over[i]) != -EINVAL)
			FAIL("set-up %u accepted", i);
		close(fd);
	}
	fd = syslet_open();
	CHECK(fd >= 0);
	syslet_atom_prep(&a, SYS_getpid, 0, 0, 0, 0, 0, 0);
	for (int i = 0; i < 257; i++)
		firsts[i] = &a;
	CHECK_EQ(syslet_submit(fd, firsts, 257, NULL, NULL), -EINVAL);
	CHECK_EQ(syslet_submit(fd, firsts, 256, NULL, NULL), 256);
	printf("# hardening: set-ups and batches over the documented limits | 7 | all EINVAL\n");
}

/*
 * Releasing a context never waits for a process that is stopped. The
 * owner makes spares, passes its descriptor to another process and stops
 * (SIGSTOP: its parked spares stop too, handling it); that process's
 * close() is then the release. Until 2026-12-03 the release waited,
 * uninterruptibly, for the stopped spares to leave: the closing thread
 * stayed in D state until someone continued the owner (in a kworker, for
 * a descriptor dropped by unix-socket garbage collection, it held up
 * every deferred fput() of the system). The spares leave once the owner
 * goes on.
 */
struct closer {
	int fd;
	atomic_int done;
};

static void *close_it(void *arg)
{
	struct closer *c = arg;

	close(c->fd);
	atomic_store(&c->done, 1);
	return NULL;
}

TEST(releasing_a_stopped_owner_s_context_does_not_wait_for_it)
{
	struct closer c = { .fd = -1 };
	int sv[2], status, waited_ms = 0;
	pthread_t t;
	pid_t owner;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	owner = fork();
	if (owner == 0) {
		struct syslet_setup s = { .spares = 2, .max_threads = 4 };
		int fd = syslet_open();

		if (fd < 0 || syslet_setup(fd, &s) != 0)
			_exit(1);
		for (int i = 0; i < 500 && syslet_fdinfo_value(fd, "syslet-spares") < 2; i++)
			usleep(10 * 1000);
		if (send_fd(sv[1], fd) != 0)
			_exit(2);
		close(fd);
		raise(SIGSTOP);
		_exit(0);
	}
	CHECK(owner > 0);
	c.fd = recv_fd(sv[0]);
	CHECK(c.fd >= 0);
	CHECK(waitpid(owner, &status, WUNTRACED) == owner && WIFSTOPPED(status));
	usleep(200 * 1000);	/* the spares stop too */
	CHECK(pthread_create(&t, NULL, close_it, &c) == 0);
	while (!atomic_load(&c.done) && waited_ms < 5000) {
		usleep(10 * 1000);
		waited_ms += 10;
	}
	/* Let the owner go on either way, so that the close ends. */
	CHECK(kill(owner, SIGCONT) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(waitpid(owner, &status, 0) == owner);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (waited_ms >= 5000)
		FAIL("close() still waited for the stopped owner's spares after 5 s");
	printf("# hardening: release of a stopped owner's context by another process | 1 | "
	       "close() returned after %d ms\n", waited_ms);
}
