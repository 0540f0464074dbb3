// SPDX-License-Identifier: GPL-2.0
/*
 * The takeover is secure and race-free: after a cachemiss the program never
 * runs with another thread's privileges, filters or registers, on a guest
 * where two CPUs can race.
 */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <syslet.h>
#include <time.h>
#include <xmmintrin.h>

#include "../../../bench/uring.h"
#include "nap.h"
#include "tap.h"

static int online_cpus(void)
{
	char buf[64] = "";
	int f = open("/sys/devices/system/cpu/online", O_RDONLY), a, b;

	if (f < 0 || read(f, buf, sizeof(buf) - 1) <= 0)
		return -1;
	close(f);
	if (sscanf(buf, "%d-%d", &a, &b) == 2)
		return b - a + 1;
	return 1;
}

TEST(the_guest_has_two_cpus_online)
{
	/* Races between a spare and its claimer need two CPUs to show. */
	CHECK(online_cpus() >= 2);
	CHECK(sysconf(_SC_NPROCESSORS_ONLN) >= 2);
}

/*
 * A program that sets up as root and then drops privileges in the calling
 * thread only (the raw system call, or glibc's setresuid(), which reaches
 * only the threads glibc knows: never the spares) must not be root again
 * after a cachemiss.
 */
TEST(dropped_privileges_stay_dropped_after_a_cachemiss)
{
	struct nap n;
	int fd, secret, async = 0;

	CHECK(getuid() == 0);
	secret = open("/tmp/takeover-secret", O_CREAT | O_WRONLY | O_TRUNC, 0600);
	CHECK(secret >= 0);
	close(secret);
	fd = nap_ctx(&n, 2, 20 * 1000 * 1000);
	CHECK_EQ(syslet_fdinfo_value(fd, "syslet-spares"), 2);

	CHECK(syscall(SYS_setgroups, 0, NULL) == 0);
	CHECK(syscall(SYS_setresgid, TAP_NOBODY, TAP_NOBODY, TAP_NOBODY) == 0);
	CHECK(syscall(SYS_setresuid, TAP_NOBODY, TAP_NOBODY, TAP_NOBODY) == 0);
	for (int i = 0; i < 4; i++) {
		async += nap_run(fd, &n);
		CHECK_EQ(syscall(SYS_getuid), TAP_NOBODY);
		CHECK_EQ(syscall(SYS_geteuid), TAP_NOBODY);
		CHECK_EQ(syscall(SYS_getgid), TAP_NOBODY);
		CHECK_ERR(open("/tmp/takeover-secret", O_RDONLY), EACCES);
	}
	/* The root spares were sent away; the next ones are nobody's. */
	CHECK(syslet_fdinfo_value(fd, "syslet-spares-retired") >= 1);
	CHECK(async >= 1);
	printf("# hardening: drop root in one thread (raw setresuid), then blocking atoms | "
	       "4 (%d went asynchronous) | uid 65534 after each, root-only file EACCES, "
	       "%ld root spares retired\n", async,
	       syslet_fdinfo_value(fd, "syslet-spares-retired"));
}

/*
 * A chain of two atoms, a read of an empty pipe and then system call @nr
 * (its result to @word), submitted so that the read blocks and a carrier
 * goes on with the chain; wake_carried() writes the pipe and reaps it.
 */
struct carried {
	struct syslet_atom a[2];
	struct nap n;
	int p[2], fd;
	char byte;
};

static void carry_read_then(struct carried *c, __u32 nr, __s64 *word)
{
	struct syslet_outcome o;

	CHECK(pipe(c->p) == 0);
	c->fd = nap_ctx(&c->n, 2, 1000);
	c->byte = 0;
	syslet_atom_prep(&c->a[0], SYS_read, c->p[0], syslet_ptr(&c->byte), 1, 0, 0, 0);
	syslet_atom_link(&c->a[0], &c->a[1]);
	syslet_atom_prep(&c->a[1], nr, 0, 0, 0, 0, 0, 0);
	syslet_atom_result(&c->a[1], word);
	CHECK_EQ(syslet_run(c->fd, &c->a[0], &o), 0);	/* queued: a carrier reads */
}

static struct syslet_outcome wake_carried(struct carried *c)
{
	struct syslet_outcome o;

	CHECK_EQ(write(c->p[1], "x", 1), 1);
	CHECK_EQ(syslet_wait_reap(c->fd, &c->n.ring, &o, 1, 1, 5000000000LL), 1);
	CHECK_EQ(c->byte, 'x');
	return o;
}

/*
 * A chain carried on after a hand-off runs with the identity its thread
 * had then. Once the thread drops root, the chain's next atoms -- which
 * the program can still write -- do not run: the chain ends before the
 * next one with -EPERM, SYSLET_OUTCOME_ABORTED. Until 2026-12-03 they ran
 * as root.
 */
TEST(a_carried_chain_stops_once_its_thread_drops_privileges)
{
	struct syslet_outcome o;
	struct carried c;
	__s64 euid = -1;

	CHECK(getuid() == 0);
	carry_read_then(&c, SYS_geteuid, &euid);
	CHECK(syscall(SYS_setresuid, TAP_NOBODY, TAP_NOBODY, TAP_NOBODY) == 0);
	o = wake_carried(&c);
	CHECK_EQ(o.atoms_run, 1);
	CHECK_EQ(o.result, -EPERM);
	CHECK(o.flags & SYSLET_OUTCOME_ABORTED);
	CHECK_EQ(euid, -1);
	printf("# hardening: drop root while a chain is carried, then wake it | 1 | "
	       "next atom not run, -EPERM\n");
}

/*
 * A gettid atom of a chain carried on after a hand-off returns the id of
 * the program thread it was submitted from, as the same atom does before
 * the hand-off: not the carrier's. Until 2026-12-03 it returned the id the
 * carrier took from the spare -- a cachemiss the program could see.
 */
TEST(a_carried_gettid_atom_returns_the_thread_s_id)
{
	struct syslet_outcome o;
	struct carried c;
	__s64 tid = -1;

	carry_read_then(&c, SYS_gettid, &tid);
	o = wake_carried(&c);
	CHECK_EQ(o.atoms_run, 2);
	CHECK_EQ(o.result, gettid());
	CHECK_EQ(tid, gettid());
}

/*
 * A thread with a filesystem context of its own (unshare(CLONE_FS), then
 * chdir) keeps it across a cachemiss: spares share the process's.
 */
TEST(a_private_working_directory_stays_after_a_cachemiss)
{
	struct nap n;
	char cwd[64];
	int fd = nap_ctx(&n, 2, 20 * 1000 * 1000);

	CHECK_EQ(syslet_fdinfo_value(fd, "syslet-spares"), 2);
	CHECK(unshare(CLONE_FS) == 0);
	CHECK(chdir("/tmp") == 0);
	for (int i = 0; i < 3; i++) {
		nap_run(fd, &n);
		CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
		if (strcmp(cwd, "/tmp"))
			FAIL("cwd %s after nap %d, wanted /tmp", cwd, i);
	}
	CHECK(syslet_fdinfo_value(fd, "syslet-went-async") >= 1);
}

/* The cgroup v2 path of the calling thread ("0::/path"), in @buf. */
static void thread_cgroup(char *buf, size_t len)
{
	int f = open("/proc/thread-self/cgroup", O_RDONLY);
	ssize_t n = f >= 0 ? read(f, buf, len - 1) : -1;

	if (f >= 0)
		close(f);
	buf[n > 0 ? n : 0] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
}

/*
 * A thread moved into a threaded cgroup of its own (its own cpu or pids
 * limits) stays there across a cachemiss: spares made before are in the
 * process's cgroup.
 */
TEST(a_thread_in_its_own_cgroup_stays_there_after_a_cachemiss)
{
	const char *p = "/sys/fs/cgroup/syslet-proc", *t = "/sys/fs/cgroup/syslet-proc/thread";
	char path[128], tid[32], now[128];
	struct nap n;
	int fd, async = 0;

	if (mount("none", "/sys/fs/cgroup", "cgroup2", 0, NULL) != 0)
		CHECK(errno == EBUSY);
	if (mkdir(p, 0755) != 0)
		CHECK(errno == EEXIST);
	snprintf(path, sizeof(path), "%s/cgroup.procs", p);
	snprintf(tid, sizeof(tid), "%d", getpid());
	CHECK(tap_write_file(path, tid) == 0);
	fd = nap_ctx(&n, 2, 20 * 1000 * 1000);
	CHECK_EQ(syslet_fdinfo_value(fd, "syslet-spares"), 2);
	if (mkdir(t, 0755) != 0)
		CHECK(errno == EEXIST);
	snprintf(path, sizeof(path), "%s/cgroup.type", t);
	CHECK(tap_write_file(path, "threaded") == 0);
	snprintf(path, sizeof(path), "%s/cgroup.threads", t);
	snprintf(tid, sizeof(tid), "%d", gettid());
	CHECK(tap_write_file(path, tid) == 0);
	for (int i = 0; i < 3; i++) {
		async += nap_run(fd, &n);
		thread_cgroup(now, sizeof(now));
		if (strcmp(now, "0::/syslet-proc/thread"))
			FAIL("after nap %d the thread is in %s", i, now);
	}
	CHECK(async >= 1);
}

/* no_new_privs and a filter that answers getppid with @action. */
static int install_getppid_filter_action(unsigned int flags, unsigned int action)
{
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, action),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = insns };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static int install_getppid_filter(unsigned int flags)
{
	return install_getppid_filter_action(flags, SECCOMP_RET_ERRNO | EPERM);
}

/*
 * A thread that installs a seccomp filter (without TSYNC) and no_new_privs
 * after the spares exist keeps them across a cachemiss.
 */
TEST(a_seccomp_filter_installed_after_setup_holds_after_a_cachemiss)
{
	struct nap n;
	int fd = nap_ctx(&n, 2, 20 * 1000 * 1000);

	CHECK_EQ(syslet_fdinfo_value(fd, "syslet-spares"), 2);
	CHECK(install_getppid_filter(0) == 0);
	for (int i = 0; i < 4; i++) {
		nap_run(fd, &n);
		CHECK_ERR(syscall(SYS_getppid), EPERM);
		CHECK_EQ(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 1);
		CHECK_EQ(prctl(PR_GET_SECCOMP, 0, 0, 0, 0), 2);
	}
	CHECK(syslet_fdinfo_value(fd, "syslet-went-async") >= 1);
	printf("# hardening: seccomp filter and no_new_privs set after the spares, then "
	       "blocking atoms | 4 | filter and no_new_privs hold after each\n");
}

/* The same, unprivileged: a filter is all a nobody can add. */
TEST(a_seccomp_filter_holds_after_a_cachemiss_unprivileged)
{
	struct nap n;
	int fd;

	CHECK(tap_become_nobody() == 0);
	fd = nap_ctx(&n, 2, 20 * 1000 * 1000);
	CHECK(install_getppid_filter(0) == 0);
	for (int i = 0; i < 3; i++) {
		nap_run(fd, &n);
		CHECK_ERR(syscall(SYS_getppid), EPERM);
	}
	CHECK(syslet_fdinfo_value(fd, "syslet-went-async") >= 1);
}

/* A filter spread with TSYNC reaches the spares: they keep serving. */
TEST(a_tsync_filter_keeps_the_spares)
{
	struct nap n;
	int fd = nap_ctx(&n, 2, 20 * 1000 * 1000);

	CHECK(install_getppid_filter(SECCOMP_FILTER_FLAG_TSYNC) == 0);
	CHECK_EQ(nap_run(fd, &n), 1);
	CHECK_ERR(syscall(SYS_getppid), EPERM);
	CHECK_EQ(syslet_fdinfo_value(fd, "syslet-spares-retired"), 0);
}

/* One thread's stricter identity is never imposed on another either. */
struct shared_nap {
	int fd;
	struct nap *n;
	int ok;
};

static void *filtered_naps(void *arg)
{
	struct shared_nap *s = arg;

	if (install_getppid_filter(0) != 0)
		return NULL;
	for (int i = 0; i < 3; i++) {
		s->n->atom.result = 0;
		nap_run(s->fd, s->n);
		if (syscall(SYS_getppid) != -1 || errno != EPERM)
			return NULL;
	}
	s->ok = 1;
	return NULL;
}

TEST(a_filtered_threads_carriers_never_serve_another_thread)
{
	struct nap n, mine;
	struct shared_nap s;
	pthread_t t;
	int fd = nap_ctx(&n, 2, 20 * 1000 * 1000);

	mine = n;
	syslet_atom_prep(&mine.atom, SYS_nanosleep, syslet_ptr(&mine.ts), 0, 0, 0, 0, 0);
	s = (struct shared_nap){ fd, &n, 0 };
	CHECK(pthread_create(&t, NULL, filtered_naps, &s) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(s.ok);
	/* The filtered thread's carriers are parked now; this thread has no filter. */
	for (int i = 0; i < 4; i++) {
		nap_run(fd, &mine);
		CHECK(syscall(SYS_getppid) == getppid());
		CHECK(syscall(SYS_getppid) > 0);
		CHECK_EQ(prctl(PR_GET_SECCOMP, 0, 0, 0, 0), 0);
	}
}

/*
 * A traced thread runs its chains synchronously: its context never leaves
 * the task its tracer follows.
 */
TEST(a_traced_thread_never_leaves_its_tracer)
{
	int status;
	pid_t child = fork();

	CHECK(child >= 0);
	if (child == 0) {
		struct nap n;
		pid_t tid = gettid();
		int fd, async = 0;

		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
			_exit(10);
		raise(SIGSTOP);
		fd = nap_ctx(&n, 2, 20 * 1000 * 1000);
		for (int i = 0; i < 3; i++)
			async += nap_run(fd, &n);
		if (async != 0 || gettid() != tid)
			_exit(11);
		if (syslet_fdinfo_value(fd, "syslet-went-async") != 0 ||
		    syslet_fdinfo_value(fd, "syslet-blocked-sync") < 3)
			_exit(12);
		_exit(0);
	}
	/* The tracer: let every stop go on, passing signals through. */
	for (;;) {
		CHECK(waitpid(child, &status, __WALL) == child);
		if (WIFEXITED(status) || WIFSIGNALED(status))
			break;
		int sig = WSTOPSIG(status);

		CHECK(ptrace(PTRACE_CONT, child, NULL,
			     (void *)(long)(sig == SIGSTOP || sig == SIGTRAP ? 0 : sig)) == 0);
	}
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	printf("# hardening: traced caller (PTRACE_TRACEME), blocking atoms | 3 | "
	       "all synchronous, thread id unchanged\n");
}

/* PTRACE_SEIZE of a thread that already has spares: the same. */
TEST(a_seized_thread_runs_its_chains_synchronously)
{
	int go[2], done[2], status;
	char c;
	pid_t child;

	CHECK(pipe(go) == 0 && pipe(done) == 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		struct nap n;
		int fd = nap_ctx(&n, 2, 20 * 1000 * 1000);
		long before;

		if (nap_run(fd, &n) != 1)	/* untraced: asynchronous */
			_exit(10);
		before = syslet_fdinfo_value(fd, "syslet-went-async");
		if (write(done[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(11);
		/* Now traced. */
		for (int i = 0; i < 3; i++)
			if (nap_run(fd, &n) != 0)
				_exit(12);
		if (syslet_fdinfo_value(fd, "syslet-went-async") != before)
			_exit(13);
		_exit(0);
	}
	CHECK(read(done[0], &c, 1) == 1);
	/* Seize every thread the program may be running on. */
	CHECK(ptrace(PTRACE_SEIZE, child, NULL, NULL) == 0);
	{
		char path[64];
		struct dirent *d;
		DIR *dir;

		snprintf(path, sizeof(path), "/proc/%d/task", child);
		dir = opendir(path);
		CHECK(dir);
		while ((d = readdir(dir)))
			if (d->d_name[0] != '.' && atoi(d->d_name) != child)
				ptrace(PTRACE_SEIZE, atoi(d->d_name), NULL, NULL);
		closedir(dir);
	}
	CHECK(write(go[1], "g", 1) == 1);
	for (;;) {
		pid_t who = waitpid(-1, &status, __WALL);

		CHECK(who > 0);
		if (who == child && (WIFEXITED(status) || WIFSIGNALED(status)))
			break;
		if (WIFSTOPPED(status))
			ptrace(PTRACE_CONT, who, NULL, NULL);
	}
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

/*
 * A tracer that attaches while the thread hands off keeps the thread it
 * attached to. PTRACE_SEIZE can come after the engine's own check of the
 * caller and before the exchange of identities, so the exchange checks
 * again under tasklist_lock, where ptrace_attach() links the tracee (until
 * 2026-12-03 it did not: the id could move to an untraced spare, and the
 * tracer's next request by that id failed with ESRCH). Each round seizes
 * the program's leader by its id, interrupts it, waits for its stop and
 * detaches, while the leader naps 100 us at a time, handing off each time
 * it is not traced.
 */
TEST(a_tracer_attaching_during_hand_offs_keeps_its_thread)
{
	int status, esrch = 0, rounds = 400;
	pid_t child = fork();

	CHECK(child >= 0);
	if (child == 0) {
		struct syslet_outcome o[16];
		struct nap n;
		int fd = nap_ctx(&n, 4, 100 * 1000);

		/* No result is checked: a ptrace stop interrupts a nap. */
		for (;;)
			if (syslet_run(fd, &n.atom, o) == 0)
				syslet_wait_reap(fd, &n.ring, o, 16, 1, 1000000000LL);
	}
	usleep(300 * 1000);
	for (int i = 0; i < rounds; i++) {
		CHECK(ptrace(PTRACE_SEIZE, child, NULL, NULL) == 0);
		if (ptrace(PTRACE_INTERRUPT, child, NULL, NULL) != 0) {
			CHECK_EQ(errno, ESRCH);
			esrch++;
			break;
		}
		CHECK(waitpid(child, &status, __WALL) == child);
		CHECK(WIFSTOPPED(status));
		CHECK(ptrace(PTRACE_DETACH, child, NULL, NULL) == 0);
		usleep(37);
	}
	kill(child, SIGKILL);
	while (waitpid(-1, &status, __WALL) > 0)
		;
	if (esrch)
		FAIL("the leader's id moved to an untraced task while it was seized");
	printf("# hardening: PTRACE_SEIZE racing hand-offs | %d | "
	       "the id never left the seized task\n", rounds);
}

/*
 * A seccomp KILL action met by an atom after its chain went asynchronous
 * kills the process at once: the carrier never returns to user space,
 * where the forced SIGSYS would act.
 */
TEST(a_seccomp_kill_after_a_cachemiss_kills_the_process)
{
	int status;
	pid_t child = fork();

	CHECK(child >= 0);
	if (child == 0) {
		struct syslet_atom ppid;
		struct syslet_outcome o;
		struct nap n;
		int fd = nap_ctx(&n, 2, 20 * 1000 * 1000);

		syslet_atom_prep(&ppid, SYS_getppid, 0, 0, 0, 0, 0, 0);
		syslet_atom_link(&n.atom, &ppid);
		if (install_getppid_filter_action(0, SECCOMP_RET_KILL_PROCESS) != 0)
			_exit(10);
		if (syslet_run(fd, &n.atom, &o) != 0)
			_exit(11);	/* it went synchronous: not this case */
		sleep(5);
		_exit(0);
	}
	CHECK(waitpid(child, &status, 0) == child);
	if (WIFEXITED(status))
		FAIL("the process survived (exit %d)", WEXITSTATUS(status));
	CHECK(WIFSIGNALED(status));
	CHECK(WTERMSIG(status) == SIGKILL || WTERMSIG(status) == SIGSYS);
	printf("# hardening: seccomp KILL_PROCESS met by an asynchronous chain | 1 | "
	       "process killed (signal %d)\n", WTERMSIG(status));
}

/*
 * A process-directed signal never lands on a carrier: it blocks every
 * signal from the hand-off on, so the signal reaches the thread that runs
 * the program, and the blocked atom is not interrupted. The leader's task
 * is the carrier here (its id went to the spare that runs the program).
 */
static volatile sig_atomic_t usr1_seen;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen++;
}

TEST(process_signals_reach_the_program_not_the_carrier)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	struct syslet_setup s = { .spares = 1, .max_threads = 4 };
	struct syslet_ring_map ring = { 0 };
	struct syslet_atom a;
	struct syslet_outcome o;
	struct tap_feeder f;
	pthread_t t;
	char buf[8];
	__s64 n = 0;
	int fd = syslet_open(), p[2];

	CHECK(getpid() == gettid());	/* the leader submits */
	CHECK(fd >= 0 && pipe(p) == 0);
	CHECK_EQ(syslet_setup(fd, &s), 0);
	CHECK_EQ(syslet_ring_mmap(fd, &s, &ring), 0);
	for (int i = 0; i < 500 && syslet_fdinfo_value(fd, "syslet-spares") < 1; i++)
		usleep(10 * 1000);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	syslet_atom_prep(&a, SYS_read, p[0], syslet_ptr(buf), sizeof(buf), 0, 0, 0);
	syslet_atom_result(&a, &n);
	CHECK_EQ(syslet_run(fd, &a, &o), 0);	/* queued: the leader's task carries it */
	CHECK_EQ(gettid(), getpid());	/* the program keeps the leader's id */
	for (int i = 0; i < 5; i++) {
		CHECK(kill(getpid(), SIGUSR1) == 0);
		usleep(20 * 1000);
	}
	f = (struct tap_feeder){ p[1], 50 };
	CHECK(pthread_create(&t, NULL, tap_feed_later, &f) == 0);
	CHECK_EQ(syslet_wait_reap(fd, &ring, &o, 1, 1, 5000000000LL), 1);
	pthread_join(t, NULL);
	CHECK_EQ(o.result, 5);
	CHECK(usr1_seen >= 1);
}

/*
 * A signal pending for the caller acts between two chains instead of after
 * the whole batch (a stop, the freezer, a handler): the submission ends
 * there. Chain 0 reads what a thread writes just before it signals the
 * caller; chains 1 and 2 would read an empty pipe.
 */
struct poke {
	int fd;
	pthread_t target;
};

static void *write_then_signal(void *arg)
{
	struct poke *p = arg;

	usleep(30 * 1000);
	if (write(p->fd, "x", 1) != 1)
		abort();
	pthread_kill(p->target, SIGUSR1);
	return NULL;
}

TEST(a_pending_signal_ends_a_submission_between_chains)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct syslet_query q;
	struct syslet_atom a[3], *firsts[3] = { &a[0], &a[1], &a[2] };
	struct syslet_outcome o[3];
	struct poke pk;
	pthread_t t;
	unsigned int queued = 99;
	char buf[3];
	int fd = syslet_open(), p[2], empty[2], done;

	CHECK(fd >= 0 && pipe(p) == 0 && pipe(empty) == 0);
	CHECK_EQ(syslet_query(fd, &q), 0);
	CHECK(q.features & SYSLET_FEAT_SAME_IDENTITY);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	syslet_atom_prep(&a[0], SYS_read, p[0], syslet_ptr(&buf[0]), 1, 0, 0, 0);
	syslet_atom_prep(&a[1], SYS_read, empty[0], syslet_ptr(&buf[1]), 1, 0, 0, 0);
	syslet_atom_prep(&a[2], SYS_read, empty[0], syslet_ptr(&buf[2]), 1, 0, 0, 0);
	pk = (struct poke){ p[1], pthread_self() };
	CHECK(pthread_create(&t, NULL, write_then_signal, &pk) == 0);
	usr1_seen = 0;
	/*
	 * The signal comes a moment after the byte: chain 0 has it, and the
	 * submission ends after chain 0, or after chain 1 if the signal came
	 * while chain 1 already waited (its read then reports EINTR). Never
	 * does chain 2 start.
	 */
	done = syslet_submit_flags(fd, firsts, 3, o, SYSLET_SUBMIT_SYNC_ONLY, &queued);
	CHECK(done == 1 || done == 2);
	CHECK_EQ(queued, 0);
	CHECK_EQ(o[0].result, 1);
	if (done == 2)
		CHECK_EQ(o[1].result, -EINTR);
	pthread_join(t, NULL);
	CHECK_EQ(usr1_seen, 1);
}

/*
 * A sigsuspend-style atom (ppoll with a temporary mask) that a signal
 * interrupts after its chain went asynchronous must not leave its saved
 * mask behind in the carrier: the next context the carrier takes over
 * would get it on its way to user space. Here the leader's chain is
 * interrupted in the carrier (the only other thread then), and thread B,
 * whose mask differs, then lands on that carrier, the only spare.
 */
static volatile sig_atomic_t usr1_count, usr2_count;

static void count_usr1(int sig)
{
	(void)sig;
	usr1_count++;
}

static void count_usr2(int sig)
{
	(void)sig;
	usr2_count++;
}

struct nap_on {
	int fd;
	struct nap *n;
	int went_async;
	int usr2_blocked;
};

static void *nap_with_own_mask(void *arg)
{
	struct nap_on *b = arg;
	sigset_t mask, now;

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);	/* SIGUSR2 stays unblocked */
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	b->went_async = nap_run(b->fd, b->n);
	/*
	 * A handler's frame keeps the mask to restore: the saved one, if a
	 * sigsuspend-style call left it set in this task. Run one.
	 */
	pthread_kill(pthread_self(), SIGUSR2);
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	b->usr2_blocked = sigismember(&now, SIGUSR2);
	return NULL;
}

TEST(a_saved_sigmask_never_moves_to_another_context)
{
	struct sigaction sa = { .sa_handler = count_usr1 };
	struct sigaction sa2 = { .sa_handler = count_usr2 };
	struct syslet_atom pp;
	struct syslet_outcome o;
	struct timespec ts = { 0, 300 * 1000 * 1000 };
	sigset_t mask, temp;
	struct nap n, nb;
	struct nap_on b;
	pthread_t t;
	pid_t leader = gettid(), carrier;
	int fd;

	CHECK(getpid() == leader);
	fd = nap_ctx(&n, 1, 20 * 1000 * 1000);
	CHECK_EQ(syslet_fdinfo_value(fd, "syslet-spares"), 1);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	CHECK(sigaction(SIGUSR2, &sa2, NULL) == 0);
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	CHECK(sigprocmask(SIG_SETMASK, &mask, NULL) == 0);
	sigemptyset(&temp);
	syslet_atom_prep(&pp, SYS_ppoll, 0, 0, syslet_ptr(&ts), syslet_ptr(&temp), 8, 0);
	CHECK_EQ(syslet_run(fd, &pp, &o), 0);	/* the leader's task carries it */
	CHECK_EQ(gettid(), leader);
	carrier = nap_other_thread();
	CHECK(carrier > 0);
	/* At the carrier, whose ppoll mask lets SIGUSR1 in, if nothing stops it. */
	CHECK(syscall(SYS_tgkill, getpid(), carrier, SIGUSR1) == 0);
	CHECK_EQ(syslet_wait_reap(fd, &n.ring, &o, 1, 1, 5000000000LL), 1);
	/* Thread B, with SIGUSR2 unblocked, lands on the parked carrier. */
	nb = n;
	syslet_atom_prep(&nb.atom, SYS_nanosleep, syslet_ptr(&nb.ts), 0, 0, 0, 0, 0);
	b = (struct nap_on){ fd, &nb, 0, -1 };
	CHECK(pthread_create(&t, NULL, nap_with_own_mask, &b) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(b.went_async);
	CHECK_EQ(b.usr2_blocked, 0);
	CHECK_EQ(usr1_count, 0);
	CHECK_EQ(usr2_count, 1);	/* its handler ran, in B */
}

/*
 * The program keeps its thread's scheduling across a cachemiss: policy and
 * RT priority, nice, CPU affinity, timer slack and I/O priority. The spares were made
 * before the thread changed them.
 */
TEST(scheduling_follows_the_context)
{
	struct sched_param sp = { .sched_priority = 10 }, now;
	cpu_set_t one, got;
	struct nap n;
	int fd = nap_ctx(&n, 2, 20 * 1000 * 1000), async = 0;

	CHECK_EQ(syslet_fdinfo_value(fd, "syslet-spares"), 2);
	CHECK(setpriority(PRIO_PROCESS, 0, 7) == 0);	/* this thread only */
	CHECK(prctl(PR_SET_TIMERSLACK, 123456, 0, 0, 0) == 0);
	/* ioprio_set(IOPRIO_WHO_PROCESS, this thread, best effort level 3) */
	CHECK(syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 3) == 0);
	CPU_ZERO(&one);
	CPU_SET(1, &one);
	CHECK(sched_setaffinity(0, sizeof(one), &one) == 0);
	for (int i = 0; i < 3; i++) {
		async += nap_run(fd, &n);
		errno = 0;
		CHECK_EQ(getpriority(PRIO_PROCESS, 0), 7);
		CHECK_EQ(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), 123456);
		CHECK_EQ(syscall(SYS_ioprio_get, 1, 0), (2 << 13) | 3);
		CHECK(sched_getaffinity(0, sizeof(got), &got) == 0);
		CHECK(CPU_EQUAL(&got, &one));
		CHECK_EQ(sched_getcpu(), 1);
	}
	CHECK(sched_setscheduler(0, SCHED_FIFO, &sp) == 0);
	for (int i = 0; i < 3; i++) {
		async += nap_run(fd, &n);
		CHECK_EQ(sched_getscheduler(0), SCHED_FIFO);
		CHECK(sched_getparam(0, &now) == 0);
		CHECK_EQ(now.sched_priority, 10);
	}
	/* Back to normal: a spare made while FIFO must not bring it back. */
	sp.sched_priority = 0;
	CHECK(sched_setscheduler(0, SCHED_OTHER, &sp) == 0);
	for (int i = 0; i < 3; i++) {
		async += nap_run(fd, &n);
		CHECK_EQ(sched_getscheduler(0), SCHED_OTHER);
	}
	CHECK(async >= 5);
}

/* sched_setattr(2), which glibc does not wrap. */
struct sched_attr_v1 {
	__u32 size, sched_policy;
	__u64 sched_flags;
	__s32 sched_nice;
	__u32 sched_priority;
	__u64 sched_runtime, sched_deadline, sched_period;
	__u32 sched_util_min, sched_util_max;
};

/*
 * A fair thread's own time slice and the task flags it set with prctl()
 * (PR_SET_IO_FLUSHER, PR_MCE_KILL early) follow it too.
 */
TEST(time_slice_and_prctl_task_flags_follow_the_context)
{
	struct sched_attr_v1 a = { .size = sizeof(a), .sched_policy = SCHED_OTHER,
				   .sched_runtime = 3 * 1000 * 1000 };
	struct nap n;
	int fd = nap_ctx(&n, 2, 20 * 1000 * 1000), async = 0;

	CHECK_EQ(syslet_fdinfo_value(fd, "syslet-spares"), 2);
	CHECK(syscall(SYS_sched_setattr, 0, &a, 0) == 0);
	CHECK(prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) == 0);
	CHECK(prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY, 0, 0) == 0);
	for (int i = 0; i < 3; i++) {
		async += nap_run(fd, &n);
		memset(&a, 0, sizeof(a));
		CHECK(syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0) == 0);
		CHECK_EQ(a.sched_runtime, 3 * 1000 * 1000);
		CHECK_EQ(prctl(PR_GET_IO_FLUSHER, 0, 0, 0, 0), 1);
		CHECK_EQ(prctl(PR_MCE_KILL_GET, 0, 0, 0, 0), PR_MCE_KILL_EARLY);
	}
	CHECK(async >= 2);
}

/*
 * The carrier keeps running the caller's chain with the caller's
 * scheduling: an RT caller's blocked I/O is not demoted.
 */
TEST(the_carrier_keeps_the_callers_rt_priority)
{
	struct sched_param sp = { .sched_priority = 10 };
	struct syslet_setup s = { .spares = 1, .max_threads = 3 };
	struct syslet_ring_map ring = { 0 };
	struct syslet_atom a;
	struct syslet_outcome o;
	char path[64], stat[1024], *p;
	pid_t carrier;
	int fd = syslet_open(), pp[2], field;

	CHECK(fd >= 0 && pipe(pp) == 0);
	CHECK_EQ(syslet_setup(fd, &s), 0);
	CHECK_EQ(syslet_ring_mmap(fd, &s, &ring), 0);
	for (int i = 0; i < 500 && syslet_fdinfo_value(fd, "syslet-spares") < 1; i++)
		usleep(10 * 1000);
	CHECK(sched_setscheduler(0, SCHED_FIFO, &sp) == 0);
	syslet_atom_prep(&a, SYS_read, pp[0], syslet_ptr(path), 1, 0, 0, 0);
	CHECK_EQ(syslet_run(fd, &a, &o), 0);
	CHECK_EQ(sched_getscheduler(0), SCHED_FIFO);
	carrier = nap_other_thread();
	CHECK(carrier > 0);
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", carrier);
	CHECK(tap_read_text(path, stat, sizeof(stat)) > 0);
	/* Fields 40 and 41 (proc(5)): rt_priority, policy. */
	p = strrchr(stat, ')');
	CHECK(p);
	for (field = 2; field < 40 && p; field++)
		p = strchr(p + 1, ' ');
	CHECK(p);
	CHECK_EQ(strtol(p + 1, &p, 10), 10);
	CHECK_EQ(strtol(p + 1, NULL, 10), SCHED_FIFO);
	CHECK(write(pp[1], "x", 1) == 1);
	CHECK_EQ(syslet_wait_reap(fd, &ring, &o, 1, 1, 5000000000LL), 1);
	sp.sched_priority = 0;
	CHECK(sched_setscheduler(0, SCHED_OTHER, &sp) == 0);
}

/*
 * A SCHED_DEADLINE thread's bandwidth was admitted for its task and cannot
 * follow its context: its atoms block synchronously, and it stays a
 * deadline thread.
 */
TEST(a_sched_deadline_thread_stays_synchronous)
{
	struct sched_attr_v1 a = { .size = sizeof(a), .sched_policy = 6 /* SCHED_DEADLINE */,
				   .sched_runtime = 30 * 1000 * 1000,
				   .sched_deadline = 100 * 1000 * 1000,
				   .sched_period = 100 * 1000 * 1000 };
	struct nap n;
	int fd = nap_ctx(&n, 2, 5 * 1000 * 1000);

	CHECK_EQ(nap_run(fd, &n), 1);	/* before: a cachemiss */
	CHECK(syscall(SYS_sched_setattr, 0, &a, 0) == 0);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(nap_run(fd, &n), 0);
		CHECK_EQ(sched_getscheduler(0), 6);
	}
	a.sched_policy = SCHED_OTHER;
	a.sched_runtime = a.sched_deadline = a.sched_period = 0;
	CHECK(syscall(SYS_sched_setattr, 0, &a, 0) == 0);
	CHECK_EQ(nap_run(fd, &n), 1);	/* and after */
}

/*
 * RDTSC faulting (PR_SET_TSC) is per thread: a spare made before the
 * thread asked for it is sent away rather than let the program read the
 * TSC again.
 */
TEST(tsc_faulting_stays_on_after_a_cachemiss)
{
	struct nap n;
	int fd = nap_ctx(&n, 2, 20 * 1000 * 1000), async = 0, mode = 0;

	CHECK_EQ(syslet_fdinfo_value(fd, "syslet-spares"), 2);
	CHECK(prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0) == 0);
	for (int i = 0; i < 3; i++) {
		async += nap_run(fd, &n);
		CHECK(prctl(PR_GET_TSC, &mode, 0, 0, 0) == 0);
		CHECK_EQ(mode, PR_TSC_SIGSEGV);
	}
	CHECK(syslet_fdinfo_value(fd, "syslet-spares-retired") >= 2);
	CHECK(async >= 1);
}

/*
 * io_uring state tied to a task (here a SINGLE_ISSUER ring, which takes
 * submissions from its creator only) keeps the thread's chains
 * synchronous; once the ring is gone, they go asynchronous again. A
 * thread that merely used io_uring is not held back.
 */
TEST(a_thread_bound_to_an_io_uring_ring_stays_synchronous)
{
	struct { __u32 w[30]; } params = { { 0 } };	/* struct io_uring_params */
	struct nap n;
	int fd = nap_ctx(&n, 2, 20 * 1000 * 1000), ring, async = 0;

	CHECK(nap_run(fd, &n) == 1);	/* before: a cachemiss */
	params.w[2] = 1U << 12;		/* .flags = IORING_SETUP_SINGLE_ISSUER */
	ring = syscall(SYS_io_uring_setup, 4, &params);
	CHECK(ring >= 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(nap_run(fd, &n), 0);
	close(ring);
	/*
	 * The ring goes away asynchronously (its teardown's task work may cut
	 * a nap short: an atom is never restarted, it reports EINTR), then
	 * hand-offs come back.
	 */
	for (int i = 0; i < 100 && !async; i++) {
		struct syslet_outcome o;
		int ret = syslet_run(fd, &n.atom, &o);

		CHECK(ret == 0 || ret == 1);
		async = ret == 0;
		if (async)
			CHECK_EQ(syslet_wait_reap(fd, &n.ring, &o, 1, 1, 5000000000LL), 1);
		else
			usleep(10 * 1000);
	}
	CHECK(async);
}

/*
 * A thread that used io_uring (a plain ring, its read completed and
 * reaped; the ring still open) is not held back: nothing of io_uring's is
 * tied to its task then (the task references io_uring keeps cached are
 * not requests in flight).
 */
TEST(a_thread_that_used_io_uring_still_hands_off)
{
	struct uring u = { 0 };
	struct nap n;
	char buf[4];
	int fd = nap_ctx(&n, 2, 20 * 1000 * 1000), file, async = 0;

	file = open("/tmp/uring-file", O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(file >= 0 && write(file, "abcd", 4) == 4);
	CHECK_EQ(uring_init(&u, 8), 0);
	uring_prep_read(&u, file, buf, 4, 0, 0, 1);
	CHECK_EQ(uring_submit(&u, 1), 1);
	CHECK_EQ(uring_reap(&u), 1);
	CHECK(memcmp(buf, "abcd", 4) == 0);
	for (int i = 0; i < 3; i++)
		async += nap_run(fd, &n);
	CHECK(async >= 2);
	uring_exit(&u);
	close(file);
}

/*
 * io_uring completes a request by task work on its submitter, which
 * interrupts the submitter's sleep (TIF_NOTIFY_SIGNAL) as a signal would.
 * A nanosleep atom so interrupted is restarted for the time left, as the
 * way back to user space restarts a plain nanosleep: it returns 0 after
 * the whole 100 ms, not EINTR.
 */
static long long mono_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec * 1000000000LL + now.tv_nsec;
}

static void *feed_pipe_later(void *arg)
{
	usleep(30 * 1000);
	if (write(*(int *)arg, "z", 1) != 1)
		abort();
	return NULL;
}

TEST(an_atom_interrupted_by_io_uring_task_work_is_restarted)
{
	struct uring u = { 0 };
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	struct syslet_atom a;
	struct syslet_outcome o;
	long long t0, slept;
	pthread_t t;
	char c;
	int p[2], fd = syslet_open();

	CHECK(fd >= 0);
	CHECK(pipe(p) == 0);
	CHECK_EQ(uring_init(&u, 8), 0);
	/* A read of an empty pipe: pending until the thread writes. */
	uring_prep_read(&u, p[0], &c, 1, 0, 0, 7);
	CHECK_EQ(uring_submit(&u, 0), 1);
	CHECK_EQ(pthread_create(&t, NULL, feed_pipe_later, &p[1]), 0);
	syslet_atom_prep(&a, SYS_nanosleep, syslet_ptr(&ts), 0, 0, 0, 0, 0);
	t0 = mono_ns();
	CHECK_EQ(syslet_run_sync(fd, &a, &o), 0);
	slept = mono_ns() - t0;
	CHECK_EQ(pthread_join(t, NULL), 0);
	printf("# nanosleep atom: result %lld after %lld ms\n", (long long)o.result,
	       slept / 1000000);
	CHECK_EQ(o.result, 0);
	CHECK(slept >= 100 * 1000 * 1000);
	CHECK_EQ(uring_submit(&u, 1), 0);
	CHECK_EQ(uring_reap(&u), 1);
	uring_exit(&u);
}

struct hog {
	int file;
	off_t size;
	volatile int done;
};

/*
 * Holds the file's inode lock for a while: a tmpfs fallocate() of 256 MiB,
 * or of half the space /tmp has if that is less.
 */
static void *hold_inode_lock(void *arg)
{
	struct hog *h = arg;

	if (fallocate(h->file, 0, 0, h->size) != 0)
		abort();
	h->done = 1;
	return NULL;
}

/*
 * A lock that is merely contended. The atom's pwrite() waits for the inode
 * lock a fallocate() on the same tmpfs file holds (both threads on one CPU,
 * so the waiter does not spin on the running owner). Without PREEMPT_RT an
 * rwsem waiter sleeps through schedule(): the context is handed off. On
 * PREEMPT_RT the rwsem is an rtmutex, whose rt_mutex_pre_schedule() calls
 * the scheduler's hook in TASK_RUNNING: patch 1 ignores that, the atom
 * waits in the caller, and nothing is handed off.
 */
TEST(a_contended_sleeping_lock_hands_off_only_without_preempt_rt)
{
	struct utsname u;
	struct syslet_atom a;
	struct syslet_outcome o;
	struct hog h = { 0 };
	struct statvfs vfs;
	struct stat st;
	cpu_set_t one;
	pthread_t t;
	struct nap n;
	int fd = nap_ctx(&n, 2, 0), rt, ret, tries = 0;

	CHECK_EQ(uname(&u), 0);
	rt = strstr(u.version, "PREEMPT_RT") != NULL;
	printf("# %s kernel\n", rt ? "PREEMPT_RT" : "non-RT");
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	CHECK_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
	h.file = open("/tmp/contended", O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(h.file >= 0);
	CHECK_EQ(fstatvfs(h.file, &vfs), 0);
	h.size = (off_t)vfs.f_bavail * vfs.f_bsize / 2;
	if (h.size > 256 << 20)
		h.size = 256 << 20;
	CHECK_EQ(pthread_create(&t, NULL, hold_inode_lock, &h), 0);
	/* The thread inherited the affinity; wait until it allocates. */
	do {
		CHECK_EQ(fstat(h.file, &st), 0);
		if (st.st_blocks == 0)
			usleep(1000);
	} while (st.st_blocks == 0 && ++tries < 2000);
	CHECK(st.st_blocks > 0);
	syslet_atom_prep(&a, SYS_pwrite64, h.file, syslet_ptr("x"), 1, 0, 0, 0);
	ret = syslet_run(fd, &a, &o);
	CHECK(ret == 0 || ret == 1);
	if (ret == 0)
		CHECK_EQ(syslet_wait_reap(fd, &n.ring, &o, 1, 1, 30000000000LL), 1);
	CHECK_EQ(o.result, 1);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK(h.done);
	if (rt)
		CHECK_EQ(ret, 1);	/* waited in the caller */
	else
		CHECK_EQ(ret, 0);	/* handed off */
	close(h.file);
	unlink("/tmp/contended");
}

/* A 32-bit program gets ENOTTY for every command (/bin/syslet-compat32). */
TEST(compat_callers_are_refused)
{
	int status;
	pid_t child = fork();

	CHECK(child >= 0);
	if (child == 0) {
		execl("/bin/syslet-compat32", "syslet-compat32", (char *)NULL);
		_exit(127);
	}
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

/*
 * Several threads, each with its own TLS, pthread_self(), stack canary and
 * FPU control state, go through thousands of cachemisses in all; every
 * value is checked after every one. A context written into a spare still
 * running on another CPU would show here as another thread's value.
 */
#define STRESS_THREADS 4
#define STRESS_ROUNDS 400

static __thread unsigned long tls_id;
static int stress_async[STRESS_THREADS];

static void *stress(void *arg)
{
	long id = (long)arg;
	pthread_t self = pthread_self();
	volatile unsigned long canary = 0xc0ffee00 + id;
	/* Rounding mode and masks differ per thread. */
	unsigned int mxcsr = 0x1f80 | ((unsigned int)(id & 3) << 13) | (id & 1 ? 0x8040 : 0);
	unsigned short cw = 0x037f | (unsigned short)((id & 3) << 10), cw_now;
	struct nap n;
	int fd = nap_ctx(&n, 1, 50 * 1000);

	tls_id = 0x7000 + id;
	_mm_setcsr(mxcsr);
	__asm__ volatile("fldcw %0" : : "m"(cw));
	for (int i = 0; i < STRESS_ROUNDS; i++) {
		stress_async[id] += nap_run(fd, &n);
		__asm__ volatile("fnstcw %0" : "=m"(cw_now));
		if (tls_id != 0x7000 + (unsigned long)id || !pthread_equal(pthread_self(), self) ||
		    canary != 0xc0ffee00 + (unsigned long)id || _mm_getcsr() != mxcsr ||
		    cw_now != cw)
			FAIL("thread %ld round %d: tls %#lx mxcsr %#x cw %#x", id, i, tls_id,
			     _mm_getcsr(), cw_now);
	}
	close(fd);
	return NULL;
}

TEST(contexts_stay_with_their_threads_under_stress)
{
	pthread_t t[STRESS_THREADS];
	int total = 0;

	for (long i = 0; i < STRESS_THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, stress, (void *)i) == 0);
	for (int i = 0; i < STRESS_THREADS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	for (int i = 0; i < STRESS_THREADS; i++)
		total += stress_async[i];
	printf("# hardening: TLS, pthread_self, canary, MXCSR and x87 control word per "
	       "thread across cachemisses, 4 threads, two CPUs | %d cachemisses | "
	       "every value intact after each\n", total);
	CHECK(total >= STRESS_THREADS * STRESS_ROUNDS / 2);
}

/*
 * A carrier's atom with a signal mask of its own lets it take none of the
 * program's signals. ppoll() installs its mask for the wait and, when a
 * signal interrupts it, leaves it in place for the way to user space to
 * restore, which a carrier never takes: until 2026-12-03 the carrier kept
 * the program's SIGUSR1 (its handler never ran) and, parked, dequeued it
 * with a warning in the kernel log. The program blocks SIGUSR1; a chain
 * reads an empty pipe (a hand-off), then ppoll()s with an empty mask; the
 * signal comes during the ppoll. Now it stays pending for the program,
 * whose handler runs once it unblocks it.
 */
TEST(a_carrier_s_ppoll_mask_takes_none_of_the_program_s_signals)
{
	int status;
	pid_t child = fork();

	CHECK(child >= 0);
	if (child == 0) {
		struct sigaction sa = { .sa_handler = count_usr1 };
		struct timespec ts = { 1, 0 };
		struct syslet_atom a[2];
		struct syslet_outcome o;
		sigset_t usr1, none, pending;
		int p[2];
		char byte;
		struct nap n;
		int fd = nap_ctx(&n, 2, 1000);

		usr1_count = 0;
		sigemptyset(&none);
		sigemptyset(&usr1);
		sigaddset(&usr1, SIGUSR1);
		if (sigaction(SIGUSR1, &sa, NULL) != 0 || sigprocmask(SIG_BLOCK, &usr1, NULL) != 0 ||
		    pipe(p) != 0)
			_exit(10);
		syslet_atom_prep(&a[0], SYS_read, p[0], syslet_ptr(&byte), 1, 0, 0, 0);
		syslet_atom_link(&a[0], &a[1]);
		syslet_atom_prep(&a[1], SYS_ppoll, 0, 0, syslet_ptr(&ts), syslet_ptr(&none), 8, 0);
		if (syslet_run(fd, &a[0], &o) != 0)
			_exit(11);	/* not a hand-off: not this case */
		if (write(p[1], "x", 1) != 1)
			_exit(12);
		usleep(100 * 1000);	/* the carrier is in ppoll() */
		kill(getpid(), SIGUSR1);
		if (syslet_wait_reap(fd, &n.ring, &o, 1, 1, 5000000000LL) != 1)
			_exit(13);
		usleep(200 * 1000);	/* the carrier parks */
		if (sigpending(&pending) != 0 || !sigismember(&pending, SIGUSR1))
			_exit(14);	/* a thread of the context took it */
		sigprocmask(SIG_UNBLOCK, &usr1, NULL);
		_exit(usr1_count == 1 ? 0 : 15);
	}
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

/*
 * A vfork child's context never leaves its task, even with
 * SYSLET_SUBMIT_ASYNC_NOW: its parent waits for it to exit or exec. A
 * thread made with CLONE_VFORK submits a chain that asks to go
 * asynchronous at once; it runs synchronously. Until 2026-12-03 the
 * context moved to a spare and the process was then killed (SIGKILL from
 * the module's fallback when the child could not park).
 */
static int vfork_ctx;

static int async_now_from_a_vfork_child(void *arg)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	struct syslet_atom *first = &a;
	unsigned int queued = 99;
	int *verdict = arg;

	syslet_atom_prep(&a, SYS_getppid, 0, 0, 0, 0, 0, 0);
	*verdict = syslet_submit_flags(vfork_ctx, &first, 1, &o, SYSLET_SUBMIT_ASYNC_NOW,
				       &queued) == 1 && queued == 0 && o.result == getppid() ? 1 : 2;
	return 0;
}

TEST(a_vfork_child_s_context_never_leaves_its_task)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	int status;
	pid_t child = fork();

	CHECK(child >= 0);
	if (child == 0) {
		struct nap n;
		int verdict = 0;

		vfork_ctx = nap_ctx(&n, 2, 1000);
		if (clone(async_now_from_a_vfork_child, stack + sizeof(stack),
			  CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
			  CLONE_SYSVSEM | CLONE_VFORK, &verdict) < 0)
			_exit(10);
		_exit(verdict == 1 ? 0 : 10 + verdict);
	}
	CHECK(waitpid(child, &status, 0) == child);
	if (WIFSIGNALED(status))
		FAIL("the process was killed by signal %d", WTERMSIG(status));
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

/*
 * A stop of the process (SIGSTOP, then SIGCONT) does not fail a chain that
 * went asynchronous: its carrier stops with the process and its call goes
 * on once the process is continued, as the same system call made by the
 * program would. Until 2026-12-03 the stop woke the carrier and its atom
 * got -EINTR (the child then exits with 14).
 */
TEST(a_stop_and_continue_of_the_process_does_not_fail_a_carried_chain)
{
	int p[2], ready[2], status;
	char c;
	pid_t child;

	CHECK(pipe(p) == 0 && pipe(ready) == 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		struct syslet_atom a;
		struct syslet_outcome o;
		struct nap n;
		char byte = 0;
		int fd = nap_ctx(&n, 2, 1000);

		syslet_atom_prep(&a, SYS_read, p[0], syslet_ptr(&byte), 1, 0, 0, 0);
		if (syslet_run(fd, &a, &o) != 0)
			_exit(10);	/* not queued: not this case */
		if (write(ready[1], "q", 1) != 1)
			_exit(11);
		/* The wait itself is restarted after the stop. */
		if (syslet_wait_reap(fd, &n.ring, &o, 1, 1, 20000000000LL) != 1)
			_exit(12);
		if (o.result == -EINTR)
			_exit(14);
		_exit(o.result == 1 && byte == 'x' ? 0 : 13);
	}
	CHECK(read(ready[0], &c, 1) == 1);
	usleep(100 * 1000);	/* the carrier sleeps in the read */
	CHECK(kill(child, SIGSTOP) == 0);
	CHECK(waitpid(child, &status, WUNTRACED) == child && WIFSTOPPED(status));
	usleep(100 * 1000);
	CHECK(kill(child, SIGCONT) == 0);
	usleep(100 * 1000);
	CHECK(write(p[1], "x", 1) == 1);
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

/*
 * A parked spare runs no user code and blocks every signal: a tracer
 * cannot unblock them (PTRACE_SETSIGMASK fails with EPERM, as for an
 * io_uring worker). Until 2026-12-03 it could, and a signal it then let in
 * made the spare pick a handler of the program's that it cannot run: a
 * kernel WARNING, and the signal was lost.
 */
TEST(a_tracer_cannot_unblock_a_parked_spare_s_signals)
{
	__u64 none = 0;	/* the kernel's sigset_t */
	int ready[2], status;
	pid_t child, spare;

	CHECK(pipe(ready) == 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		struct nap n;

		/* Gone with the test, whatever it checks first. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		nap_ctx(&n, 1, 1000);
		spare = nap_other_thread();
		if (write(ready[1], &spare, sizeof(spare)) != sizeof(spare))
			_exit(10);
		sleep(30);
		_exit(0);
	}
	CHECK(read(ready[0], &spare, sizeof(spare)) == sizeof(spare));
	CHECK(spare > 0);
	CHECK(ptrace(PTRACE_ATTACH, spare, NULL, NULL) == 0);
	CHECK(waitpid(spare, &status, __WALL) == spare && WIFSTOPPED(status));
	CHECK_ERR(ptrace(PTRACE_SETSIGMASK, spare, (void *)sizeof(none), &none), EPERM);
	CHECK(ptrace(PTRACE_DETACH, spare, NULL, NULL) == 0);
	CHECK(kill(child, SIGKILL) == 0);
	CHECK(waitpid(child, &status, 0) == child);
}

/* The threads of this process other than current, at most @max; how many. */
static int other_threads(pid_t *tids, int max)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *d;
	pid_t me = gettid();
	int n = 0;

	if (!dir)
		return 0;
	while (n < max && (d = readdir(dir))) {
		pid_t t = atoi(d->d_name);

		if (t > 0 && t != me)
			tids[n++] = t;
	}
	closedir(dir);
	return n;
}

/*
 * Reaps the two chains' completions until *@got is 2 or none comes within
 * @timeout_ns; whether the one with cookie 2 ended with EINTR among them.
 */
static int reap_both(int fd, struct syslet_ring_map *ring, int *got, __s64 timeout_ns)
{
	struct syslet_outcome o[2];
	int seen = 0;

	while (*got < 2) {
		int r = syslet_wait_reap(fd, ring, o, 2, 1, timeout_ns);

		if (r <= 0)
			break;
		for (int i = 0; i < r; i++)
			seen |= o[i].cookie == 2 && o[i].result == -EINTR;
		*got += r;
	}
	return seen;
}

/*
 * A spare that ran the rest of a batch and carried one of its chains parks
 * again once that chain ends, and posts its completion as it parks. A
 * tracer's stop between the two (PTRACE_INTERRUPT ends the chain's sleep
 * with EINTR, and the stop follows) does not hold the completion back.
 * Until 2026-12-03 the thread took part in the stop before it parked: the
 * completion came only once the tracer let go, and was lost if the thread
 * was killed in the stop (another thread's execve()).
 */
TEST(a_tracer_s_stop_of_a_carrier_does_not_hold_its_completion)
{
	int tid_pipe[2], go[2], verdict[2], status, n, stopped = 0;
	pid_t child, tids[8];
	char c;

	CHECK(pipe(tid_pipe) == 0 && pipe(go) == 0 && pipe(verdict) == 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		struct syslet_setup s = { .spares = 2, .max_threads = 6 };
		struct syslet_ring_map ring = { 0 };
		struct syslet_atom a, b, *firsts[2] = { &a, &b };
		struct syslet_outcome o[2];
		unsigned int queued = 0;
		__u64 count = 0;
		char byte = 0;
		int p[2], fd = syslet_open(), efd = eventfd(0, 0), got = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd < 0 || efd < 0 || pipe(p) != 0 || syslet_setup(fd, &s) != 0 ||
		    syslet_ring_mmap(fd, &s, &ring) != 0)
			_exit(10);
		for (int i = 0; i < 500 && syslet_fdinfo_value(fd, "syslet-spares") < 2; i++)
			usleep(10 * 1000);
		/*
		 * a blocks (the caller's task carries it), then b, on the spare
		 * that went on with the rest: that spare carries b.
		 */
		syslet_atom_prep(&a, SYS_read, efd, syslet_ptr(&count), sizeof(count), 0, 0, 0);
		a.cookie = 1;
		syslet_atom_prep(&b, SYS_read, p[0], syslet_ptr(&byte), 1, 0, 0, 0);
		b.cookie = 2;
		if (syslet_submit(fd, firsts, 2, o, &queued) != 0 || queued != 2)
			_exit(11);
		usleep(200 * 1000);	/* both carriers sleep in their reads */
		n = other_threads(tids, 8);
		if (write(tid_pipe[1], &n, sizeof(n)) != sizeof(n) ||
		    write(tid_pipe[1], tids, n * sizeof(tids[0])) != (ssize_t)(n * sizeof(tids[0])))
			_exit(12);
		/* The tracer has every other thread stopped. */
		if (read(go[0], &c, 1) != 1)
			_exit(13);
		/* Both chains ended with EINTR; b's completion came all the same. */
		c = reap_both(fd, &ring, &got, 2000000000LL) ? 'y' : 'n';
		if (write(verdict[1], &c, 1) != 1)
			_exit(14);
		if (read(go[0], &c, 1) != 1)
			_exit(15);
		/* Detached: whatever is still to come comes now. */
		reap_both(fd, &ring, &got, 5000000000LL);
		_exit(got == 2 ? 0 : 16);
	}
	CHECK(read(tid_pipe[0], &n, sizeof(n)) == sizeof(n));
	CHECK(n > 0 && n <= 8);
	CHECK(read(tid_pipe[0], tids, n * sizeof(tids[0])) == (ssize_t)(n * sizeof(tids[0])));
	for (int i = 0; i < n; i++) {
		/* A spare may leave meanwhile: skip it. */
		if (ptrace(PTRACE_SEIZE, tids[i], NULL, NULL) != 0) {
			tids[i] = 0;
			continue;
		}
		CHECK(ptrace(PTRACE_INTERRUPT, tids[i], NULL, NULL) == 0);
		CHECK(waitpid(tids[i], &status, __WALL) == tids[i]);
		stopped += WIFSTOPPED(status);
	}
	CHECK(stopped >= 2);
	CHECK(write(go[1], "g", 1) == 1);
	CHECK(read(verdict[0], &c, 1) == 1);
	for (int i = 0; i < n; i++)
		if (tids[i])
			ptrace(PTRACE_DETACH, tids[i], NULL, NULL);
	CHECK(write(go[1], "g", 1) == 1);
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	printf("# %d threads stopped by a tracer; the carried chain's completion %s\n",
	       stopped, c == 'y' ? "came while its thread was stopped" : "did not come");
	CHECK_EQ(c, 'y');
}

/*
 * A stop of the process (SIGSTOP, Ctrl-Z) stops a carrier at its next
 * atom, as it stops a thread at its next return from a system call: the
 * stop is reported while a long chain of calls that never sleep is still
 * running, and no atom runs until SIGCONT. Until 2026-12-03 a carrier
 * took part only when a call was interrupted: the stop was reported once
 * the whole chain had run.
 */
TEST(a_stop_of_the_process_stops_its_carriers_between_atoms)
{
	_Atomic long *counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	long at_stop, later;
	int status;
	pid_t child;

	CHECK(counter != MAP_FAILED);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		struct syslet_setup s = { .spares = 2, .max_threads = 4, .atom_budget = 1 << 20 };
		struct syslet_ring_map ring = { 0 };
		struct syslet_atom a, *first = &a;
		struct syslet_outcome o;
		unsigned int queued = 0;
		int fd = syslet_open();

		if (fd < 0 || syslet_setup(fd, &s) != 0 || syslet_ring_mmap(fd, &s, &ring) != 0)
			_exit(10);
		for (int i = 0; i < 500 && syslet_fdinfo_value(fd, "syslet-spares") < 2; i++)
			usleep(10 * 1000);
		syslet_atom_prep(&a, SYSLET_OP_ADD, syslet_ptr(counter), 1, 0, 0, 0, 0);
		syslet_atom_link(&a, &a);
		if (syslet_submit_flags(fd, &first, 1, &o, SYSLET_SUBMIT_ASYNC_NOW, &queued) != 0 ||
		    queued != 1)
			_exit(11);
		if (syslet_wait_reap(fd, &ring, &o, 1, 1, 120000000000LL) != 1)
			_exit(12);
		_exit(o.result == -ELOOP && o.atoms_run == 1 << 20 ? 0 : 13);
	}
	for (int i = 0; i < 10000 && atomic_load(counter) < 1000; i++)
		usleep(1000);
	CHECK(kill(child, SIGSTOP) == 0);
	CHECK(waitpid(child, &status, WUNTRACED) == child && WIFSTOPPED(status));
	at_stop = atomic_load(counter);
	usleep(200 * 1000);
	later = atomic_load(counter);
	CHECK(kill(child, SIGCONT) == 0);
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	printf("# stopped after %ld of %d atoms; %ld ran while stopped\n", at_stop, 1 << 20,
	       later - at_stop);
	CHECK(at_stop < 1 << 20);
	CHECK_EQ(later, at_stop);
}
