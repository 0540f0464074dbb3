// SPDX-License-Identifier: GPL-2.0
/*
 * The takeover is invisible: after any number of cachemisses the program's
 * thread keeps its thread id (the leader its process id), the signals sent
 * to that id, its PI futexes, robust list and children. Each case would
 * fail if the id stayed with the task that carries the blocked chain.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <syslet.h>
#include <time.h>

#include "nap.h"
#include "tap.h"

#define NAP_NS (20 * 1000 * 1000)

/* Naps @rounds times, checking the id after each; returns how many went async. */
static int naps_keep_id(int fd, struct nap *n, int rounds)
{
	pid_t tid = gettid();
	int async = 0;

	for (int i = 0; i < rounds; i++) {
		async += nap_run(fd, n);
		CHECK_EQ(gettid(), tid);
	}
	return async;
}

/* Field @field (1-based, as in proc(5)) of /proc/self/task/@tid/stat. */
static long task_stat_field(pid_t tid, int field)
{
	char path[64], buf[1024], *p;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	if (tap_read_text(path, buf, sizeof(buf)) <= 0)
		return -1000;
	p = strrchr(buf, ')');	/* field 2 is "(comm)" */
	if (!p)
		return -1000;
	/* p + 2 is field 3, the state: a letter. */
	if (field == 3)
		return p[2];
	p += 2;
	for (int i = 3; i < field && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtol(p, NULL, 10) : -1000;
}

/* Runs @fn in a new thread (not the leader) and waits for it. */
struct body {
	void (*fn)(void);
};

static void *run_body(void *arg)
{
	((struct body *)arg)->fn();
	return NULL;
}

static void in_a_thread(void (*fn)(void))
{
	struct body b = { fn };
	pthread_t t;

	CHECK(pthread_create(&t, NULL, run_body, &b) == 0);
	CHECK(pthread_join(t, NULL) == 0);
}

/* A thread waits for this before it goes on. */
static void wait_flag(atomic_int *flag)
{
	for (int i = 0; i < 5000 && !atomic_load(flag); i++)
		usleep(1000);
	CHECK(atomic_load(flag));
}

struct worker {
	int fd;
	struct nap n;
	pid_t tid;
	int async;
	atomic_int ready, go;
};

static void *naps_in_a_thread(void *arg)
{
	struct worker *w = arg;

	w->tid = gettid();
	w->async = naps_keep_id(w->fd, &w->n, 4);
	atomic_store(&w->ready, 1);
	return NULL;
}

TEST(a_thread_keeps_its_id_across_cachemisses)
{
	struct worker w = { 0 };
	struct syslet_query q;
	pthread_t t;

	w.fd = nap_ctx(&w.n, 2, NAP_NS);
	CHECK_EQ(syslet_query(w.fd, &q), 0);
	CHECK(q.features & SYSLET_FEAT_SAME_THREAD);
	CHECK(pthread_create(&t, NULL, naps_in_a_thread, &w) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(w.async >= 2);
}

/*
 * The leader's id is the process id: it stays the program's, /proc/<pid>
 * describes the running program (not a task asleep in a chain), and the
 * parent reaps the process as usual.
 */
TEST(the_leader_keeps_the_process_id)
{
	int status;
	pid_t child = fork();

	CHECK(child >= 0);
	if (child == 0) {
		struct nap n;
		pid_t pid = getpid(), ppid = getppid();
		int fd = nap_ctx(&n, 2, NAP_NS), async = 0;

		for (int i = 0; i < 6; i++) {
			async += nap_run(fd, &n);
			if (gettid() != pid || getpid() != pid || getppid() != ppid)
				_exit(1);
			/* Reading its own stat: the program runs, it is not asleep. */
			if (task_stat_field(pid, 3) != 'R')
				_exit(2);
		}
		_exit(async >= 3 ? 7 : 3);
	}
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 7);
}

/* /proc/self/task/<tid> is the program's thread: its name, its state. */
static void proc_task_body(void)
{
	char path[64], comm[32] = "";
	struct nap n;
	int fd = nap_ctx(&n, 2, NAP_NS), async;
	pid_t tid = gettid();

	CHECK(prctl(PR_SET_NAME, "id-test", 0, 0, 0) == 0);
	async = naps_keep_id(fd, &n, 4);
	CHECK(async >= 2);
	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
	CHECK(tap_read_text(path, comm, sizeof(comm)) > 0);
	CHECK(strcmp(comm, "id-test\n") == 0);
	CHECK_EQ(task_stat_field(tid, 3), 'R');
}

TEST(proc_task_describes_the_program_thread)
{
	in_a_thread(proc_task_body);
}

static _Atomic pid_t usr1_tid;
static atomic_int usr1_count, usr2_count;

static void on_usr1(int sig)
{
	(void)sig;
	atomic_store(&usr1_tid, gettid());
	atomic_fetch_add(&usr1_count, 1);
}

static void on_usr2(int sig)
{
	(void)sig;
	atomic_fetch_add(&usr2_count, 1);
}

static void *naps_then_wait_for_usr1(void *arg)
{
	struct worker *w = arg;

	w->tid = gettid();
	w->async = naps_keep_id(w->fd, &w->n, 4);
	atomic_store(&w->ready, 1);
	for (int i = 0; i < 3000 && !atomic_load(&usr1_count); i++)
		usleep(1000);
	return NULL;
}

/*
 * pthread_kill() from another thread uses the id glibc cached when the
 * thread started: the signal reaches the thread that runs the program.
 */
TEST(pthread_kill_from_another_thread_reaches_the_program)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct worker w = { 0 };
	pthread_t t;

	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	w.fd = nap_ctx(&w.n, 2, NAP_NS);
	CHECK(pthread_create(&t, NULL, naps_then_wait_for_usr1, &w) == 0);
	wait_flag(&w.ready);
	CHECK(w.async >= 2);
	CHECK(pthread_kill(t, SIGUSR1) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK_EQ(atomic_load(&usr1_count), 1);
	CHECK_EQ(atomic_load(&usr1_tid), w.tid);
}

/* A signal pending for the thread (blocked) is still pending after the cachemiss. */
TEST(a_pending_thread_signal_moves_with_the_context)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigset_t mask, pending;
	struct nap n;
	int fd = nap_ctx(&n, 2, NAP_NS);

	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	CHECK(pthread_sigmask(SIG_BLOCK, &mask, NULL) == 0);
	CHECK(syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1) == 0);
	CHECK(naps_keep_id(fd, &n, 3) >= 1);
	CHECK(sigpending(&pending) == 0);
	CHECK(sigismember(&pending, SIGUSR1));
	CHECK_EQ(atomic_load(&usr1_count), 0);
	CHECK(pthread_sigmask(SIG_UNBLOCK, &mask, NULL) == 0);
	CHECK_EQ(atomic_load(&usr1_count), 1);
	CHECK_EQ(atomic_load(&usr1_tid), gettid());
}

/*
 * A signal sent to the id a carrier has now (found in /proc/self/task) is
 * for that task, not for the program: it must never be delivered to a
 * context the carrier takes over later.
 */
TEST(signals_for_a_carrier_never_reach_the_program)
{
	struct sigaction sa = { .sa_handler = on_usr2 };
	struct syslet_setup s = { .spares = 1, .max_threads = 3 };
	struct syslet_ring_map ring = { 0 };
	struct syslet_atom a;
	struct syslet_outcome o;
	struct nap n;
	char buf[8];
	pid_t carrier;
	int fd = syslet_open(), p[2], async = 0;

	CHECK(fd >= 0 && pipe(p) == 0);
	CHECK_EQ(syslet_setup(fd, &s), 0);
	CHECK_EQ(syslet_ring_mmap(fd, &s, &ring), 0);
	for (int i = 0; i < 500 && syslet_fdinfo_value(fd, "syslet-spares") < 1; i++)
		usleep(10 * 1000);
	CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
	syslet_atom_prep(&a, SYS_read, p[0], syslet_ptr(buf), 1, 0, 0, 0);
	CHECK_EQ(syslet_run(fd, &a, &o), 0);
	carrier = nap_other_thread();	/* the program and the carrier, no spare */
	CHECK(carrier > 0);
	CHECK(syscall(SYS_tgkill, getpid(), carrier, SIGUSR2) == 0);
	CHECK(write(p[1], "x", 1) == 1);
	CHECK_EQ(syslet_wait_reap(fd, &ring, &o, 1, 1, 5000000000LL), 1);
	/* The carrier parks and takes the program over at the next cachemisses. */
	n.ring = ring;
	n.ts = (struct timespec){ 0, NAP_NS };
	syslet_atom_prep(&n.atom, SYS_nanosleep, syslet_ptr(&n.ts), 0, 0, 0, 0, 0);
	for (int i = 0; i < 500 && syslet_fdinfo_value(fd, "syslet-spares") < 1; i++)
		usleep(1000);
	async = naps_keep_id(fd, &n, 4);
	CHECK(async >= 2);
	usleep(50 * 1000);
	CHECK_EQ(atomic_load(&usr2_count), 0);
}

static void *naps_then_pause(void *arg)
{
	struct worker *w = arg;

	w->tid = gettid();
	w->async = naps_keep_id(w->fd, &w->n, 3);
	atomic_store(&w->ready, 1);
	for (;;)
		pause();	/* a cancellation point */
	return NULL;
}

/*
 * pthread_cancel() signals the id glibc cached: after cachemisses on both
 * sides it cancels exactly its target, which joins as cancelled.
 */
TEST(pthread_cancel_cancels_exactly_its_target)
{
	struct timespec deadline;
	struct nap n;
	int fd = nap_ctx(&n, 3, NAP_NS);

	for (int round = 0; round < 3; round++) {
		struct worker w = { .fd = fd, .n = n };
		void *ret = NULL;
		pthread_t t;

		CHECK(pthread_create(&t, NULL, naps_then_pause, &w) == 0);
		wait_flag(&w.ready);
		naps_keep_id(fd, &n, 2);
		CHECK(pthread_cancel(t) == 0);
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += 5;
		CHECK(pthread_timedjoin_np(t, &ret, &deadline) == 0);
		CHECK(ret == PTHREAD_CANCELED);
		CHECK(w.async >= 1);
	}
}

static void *naps_then_wait_go(void *arg)
{
	struct worker *w = arg;

	w->tid = gettid();
	w->async = naps_keep_id(w->fd, &w->n, 3);
	atomic_store(&w->ready, 1);
	wait_flag(&w->go);
	/* After setuid() in the other thread: glibc changed this one too. */
	w->async += naps_keep_id(w->fd, &w->n, 2);
	return NULL;
}

static long status_uid(pid_t tid)
{
	char path[64], buf[2048], *u;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	if (tap_read_text(path, buf, sizeof(buf)) <= 0)
		return -1;
	u = strstr(buf, "\nUid:\t");
	return u ? strtol(u + 6, NULL, 10) : -1;
}

/*
 * setuid() in a threaded program signals every thread glibc knows, by the
 * id it cached, and waits for each: it returns after cachemisses, and each
 * of the program's threads is then nobody, in the kernel's eyes too.
 */
TEST(setuid_in_a_threaded_program_returns)
{
	struct worker w = { 0 };
	pthread_t t;

	CHECK(getuid() == 0);
	w.fd = nap_ctx(&w.n, 3, NAP_NS);
	CHECK(pthread_create(&t, NULL, naps_then_wait_go, &w) == 0);
	wait_flag(&w.ready);
	CHECK(naps_keep_id(w.fd, &w.n, 3) >= 1);
	CHECK(setgroups(0, NULL) == 0);
	CHECK(setgid(TAP_NOBODY) == 0);
	CHECK(setuid(TAP_NOBODY) == 0);
	CHECK_EQ(status_uid(gettid()), TAP_NOBODY);
	CHECK_EQ(status_uid(w.tid), TAP_NOBODY);
	atomic_store(&w.go, 1);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(w.async >= 2);
	CHECK_EQ(getuid(), TAP_NOBODY);
}

static void pi_mutex_init(pthread_mutex_t *m, int robust)
{
	pthread_mutexattr_t at;

	CHECK(pthread_mutexattr_init(&at) == 0);
	CHECK(pthread_mutexattr_setprotocol(&at, PTHREAD_PRIO_INHERIT) == 0);
	if (robust)
		CHECK(pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST) == 0);
	CHECK(pthread_mutex_init(m, &at) == 0);
}

struct pi_waiter {
	pthread_mutex_t *m;
	atomic_int got;
};

static void *lock_pi(void *arg)
{
	struct pi_waiter *pw = arg;

	if (pthread_mutex_lock(pw->m) != 0)
		return (void *)1;
	atomic_store(&pw->got, 1);
	pthread_mutex_unlock(pw->m);
	return NULL;
}

/* The futex word of a glibc mutex: owner id, and the waiters bit. */
static unsigned int mutex_word(pthread_mutex_t *m)
{
	return atomic_load((_Atomic unsigned int *)&m->__data.__lock);
}

static void wait_for_pi_waiter(pthread_mutex_t *m)
{
	for (int i = 0; i < 2000 && !(mutex_word(m) & 0x80000000u); i++)
		usleep(1000);
	CHECK(mutex_word(m) & 0x80000000u);	/* FUTEX_WAITERS */
	usleep(20 * 1000);	/* and asleep in FUTEX_LOCK_PI */
}

/*
 * A contended PI mutex (a waiter already attached in the kernel) locked
 * before a cachemiss unlocks after it, and the waiter gets it. The
 * pi_state belongs to the task, so such a caller's chain blocks
 * synchronously; either way the program must see no difference.
 */
static void contended_pi_body(void)
{
	struct timespec deadline;
	pthread_mutex_t m;
	struct pi_waiter pw = { .m = &m };
	struct nap n;
	pthread_t t;
	void *ret = (void *)2;
	int fd = nap_ctx(&n, 2, NAP_NS), async;

	pi_mutex_init(&m, 0);
	CHECK(pthread_mutex_lock(&m) == 0);
	CHECK(pthread_create(&t, NULL, lock_pi, &pw) == 0);
	wait_for_pi_waiter(&m);
	async = naps_keep_id(fd, &n, 2);
	CHECK_EQ(mutex_word(&m) & 0x3fffffffu, gettid());
	CHECK(pthread_mutex_unlock(&m) == 0);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	CHECK(pthread_timedjoin_np(t, &ret, &deadline) == 0);
	CHECK(ret == NULL);
	CHECK(atomic_load(&pw.got));
	/* Later naps, with no waiter, go asynchronous again. */
	async += naps_keep_id(fd, &n, 3);
	CHECK(async >= 1);
	printf("# %d of 5 naps went asynchronous\n", async);
}

TEST(a_contended_pi_mutex_locked_before_a_cachemiss_unlocks_after_it)
{
	in_a_thread(contended_pi_body);
}

/*
 * A PI mutex locked, uncontended, before a cachemiss: a SCHED_FIFO waiter
 * that comes after it finds the owner by id, and boosts the thread that
 * runs the program (proc(5) priority -11 for FIFO 10); unlock hands over.
 */
TEST(priority_inheritance_boosts_the_thread_running_the_program)
{
	struct sched_param sp = { .sched_priority = 10 };
	struct timespec deadline;
	pthread_attr_t at;
	pthread_mutex_t m;
	struct pi_waiter pw = { .m = &m };
	struct nap n;
	pthread_t t;
	void *ret = (void *)2;
	long prio = 0;
	int fd = nap_ctx(&n, 2, NAP_NS);

	pi_mutex_init(&m, 0);
	CHECK(pthread_mutex_lock(&m) == 0);
	CHECK(naps_keep_id(fd, &n, 3) >= 1);
	CHECK_EQ(task_stat_field(gettid(), 18), 20);	/* SCHED_OTHER, nice 0 */
	CHECK(pthread_attr_init(&at) == 0);
	CHECK(pthread_attr_setinheritsched(&at, PTHREAD_EXPLICIT_SCHED) == 0);
	CHECK(pthread_attr_setschedpolicy(&at, SCHED_FIFO) == 0);
	CHECK(pthread_attr_setschedparam(&at, &sp) == 0);
	CHECK(pthread_create(&t, &at, lock_pi, &pw) == 0);
	wait_for_pi_waiter(&m);
	for (int i = 0; i < 1000 && (prio = task_stat_field(gettid(), 18)) != -11; i++)
		usleep(1000);
	CHECK_EQ(prio, -11);
	CHECK(pthread_mutex_unlock(&m) == 0);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	CHECK(pthread_timedjoin_np(t, &ret, &deadline) == 0);
	CHECK(ret == NULL);
	CHECK_EQ(task_stat_field(gettid(), 18), 20);
}

struct robust {
	int fd;
	struct nap n;
	pthread_mutex_t *m;
	int async;
};

static void *lock_nap_and_die(void *arg)
{
	struct robust *r = arg;

	if (pthread_mutex_lock(r->m) != 0)
		return (void *)1;
	r->async = naps_keep_id(r->fd, &r->n, 3);
	return NULL;	/* exits holding the mutex */
}

/*
 * A thread that exits holding a robust mutex after cachemisses: the
 * kernel's clean-up at its exit finds it the owner (by id), and the next
 * locker learns EOWNERDEAD.
 */
TEST(a_robust_mutex_owner_death_is_seen_after_cachemisses)
{
	struct timespec deadline;
	pthread_mutex_t m;
	struct robust r;
	pthread_t t;
	void *ret = (void *)2;

	pi_mutex_init(&m, 1);
	r = (struct robust){ .m = &m };
	r.fd = nap_ctx(&r.n, 2, NAP_NS);
	CHECK(pthread_create(&t, NULL, lock_nap_and_die, &r) == 0);
	CHECK(pthread_join(t, &ret) == 0);
	CHECK(ret == NULL);
	CHECK(r.async >= 1);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 3;
	CHECK_EQ(pthread_mutex_timedlock(&m, &deadline), EOWNERDEAD);
	CHECK(pthread_mutex_consistent(&m) == 0);
	CHECK(pthread_mutex_unlock(&m) == 0);
}

struct parent {
	pid_t child;
	int status;
	int async;
};

/*
 * Forks a child that runs @setup(@arg) (0: done), says it is ready and then
 * waits for ever. Returns its pid once it is ready, else -1.
 */
static pid_t fork_ready_child(int (*setup)(void *), void *arg)
{
	int ready[2];
	pid_t child;
	char c;

	if (pipe(ready) != 0)
		return -1;
	child = fork();
	if (child == 0) {
		if (setup(arg) != 0 || write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	if (child > 0 && read(ready[0], &c, 1) != 1)
		child = -1;
	close(ready[0]);
	close(ready[1]);
	return child;
}

static int die_with_parent(void *arg)
{
	(void)arg;
	return prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void *fork_nap_close(void *arg)
{
	struct parent *pa = arg;
	struct nap n;
	int fd = nap_ctx(&n, 2, NAP_NS);

	pa->child = fork_ready_child(die_with_parent, NULL);
	if (pa->child < 0)
		return (void *)2;
	pa->async = naps_keep_id(fd, &n, 3);
	/* Every carrier and spare of the context exits. */
	close(fd);
	usleep(200 * 1000);
	/* Still this thread's child (__WNOTHREAD), and alive. */
	pa->status = waitpid(pa->child, NULL, WNOHANG | __WNOTHREAD);
	return NULL;
}

/*
 * A child's parent is the thread that forked it, and its PR_SET_PDEATHSIG
 * fires when that thread exits: the tasks that carried the thread's chains
 * exiting must not kill it.
 */
TEST(children_outlive_the_carriers_of_their_parent_thread)
{
	struct parent pa = { 0 };
	pthread_t t;
	void *ret = (void *)3;

	CHECK(pthread_create(&t, NULL, fork_nap_close, &pa) == 0);
	CHECK(pthread_join(t, &ret) == 0);
	CHECK(ret == NULL);
	CHECK(pa.async >= 1);
	CHECK_EQ(pa.status, 0);
	CHECK(kill(pa.child, SIGKILL) == 0);
	CHECK(waitpid(pa.child, NULL, 0) == pa.child);
}

/* A child with a second thread, which reports its getppid() on demand. */
struct threaded_child {
	pid_t child;
	int async, go[2], report[2];
};

static void *report_ppid_on_demand(void *arg)
{
	struct threaded_child *tc = arg;
	pid_t ppid;
	char c;

	if (read(tc->go[0], &c, 1) != 1)
		_exit(1);
	ppid = getppid();
	if (write(tc->report[1], &ppid, sizeof(ppid)) != sizeof(ppid))
		_exit(2);
	for (;;)
		pause();
}

static int start_reporter(void *arg)
{
	pthread_t t;

	return pthread_create(&t, NULL, report_ppid_on_demand, arg);
}

static void *fork_threaded_then_nap(void *arg)
{
	struct threaded_child *tc = arg;
	struct nap n;
	int fd = nap_ctx(&n, 2, NAP_NS);

	tc->child = fork_ready_child(start_reporter, tc);
	if (tc->child < 0)
		return (void *)2;
	/*
	 * The child's threads have this thread as their parent; it hands off
	 * once, so that its id ends on another task than the one it forked
	 * from (which carries the nap, parks, and exits below).
	 */
	for (int i = 0; i < 5 && !tc->async; i++)
		tc->async = nap_run(fd, &n);
	/* Every carrier and spare of the context exits... */
	close(fd);
	usleep(200 * 1000);
	/* ...and then the thread that forked: its children go to another. */
	return NULL;
}

/*
 * Every thread of a child process names the thread that forked it as its
 * parent, not only the child's leader: when the parent thread's id moves to
 * another task, so do all of them. Once the parent only of the leader moved,
 * the child's second thread kept the task that had carried the chain, freed
 * once it exited (getppid() read freed memory), and the parent thread's
 * exit hit the BUG_ON() in forget_original_parent() (a crash any program
 * could cause).
 */
TEST(a_child_s_threads_follow_their_parent_thread_s_hand_off)
{
	struct threaded_child tc = { 0 };
	pthread_t t;
	void *ret = (void *)3;
	pid_t ppid = 0;

	CHECK(pipe(tc.go) == 0 && pipe(tc.report) == 0);
	CHECK(pthread_create(&t, NULL, fork_threaded_then_nap, &tc) == 0);
	CHECK(pthread_join(t, &ret) == 0);
	CHECK(ret == NULL);
	CHECK_EQ(tc.async, 1);
	CHECK(write(tc.go[1], "g", 1) == 1);
	CHECK(read(tc.report[0], &ppid, sizeof(ppid)) == sizeof(ppid));
	/* Another thread of this process is its parent now. */
	CHECK_EQ(ppid, getpid());
	CHECK(kill(tc.child, SIGKILL) == 0);
	CHECK(waitpid(tc.child, NULL, 0) == tc.child);
}

static void *exec_shell(void *arg)
{
	(void)arg;
	execl("/bin/busybox", "sh", "-c", "exit 3", (char *)NULL);
	return (void *)1;
}

/*
 * exec from a thread takes the leader's id (de_thread()): after the
 * leader's context moved between tasks, it still works, and the parent
 * sees the new program's exit.
 */
TEST(exec_from_a_thread_after_the_leader_went_async)
{
	int status;
	pid_t child = fork();

	CHECK(child >= 0);
	if (child == 0) {
		struct nap n;
		pthread_t t;
		int fd = nap_ctx(&n, 2, NAP_NS), async = 0;

		for (int i = 0; i < 4; i++)
			async += nap_run(fd, &n);
		if (async < 2 || gettid() != getpid())
			_exit(1);
		if (pthread_create(&t, NULL, exec_shell, NULL) != 0)
			_exit(2);
		pthread_join(t, NULL);
		_exit(4);
	}
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 3);
}

static atomic_int storm_stop, storm_made, storm_spawned;

/* Waits for the end of the storm; the last thread made then execs. */
static void *wait_then_maybe_exec(void *arg)
{
	long index = (long)arg;

	while (!atomic_load(&storm_stop))
		usleep(1000);
	if (index == atomic_load(&storm_made) - 1)
		execl("/bin/busybox", "true", (char *)NULL);
	return NULL;
}

/* Makes up to 64 threads, one every millisecond or so, during the storm. */
static void *spawn_threads(void *arg)
{
	pthread_t t;

	(void)arg;
	for (long i = 0; i < 64 && !atomic_load(&storm_stop); i++) {
		if (pthread_create(&t, NULL, wait_then_maybe_exec, (void *)i) != 0)
			break;
		pthread_detach(t);
		atomic_fetch_add(&storm_made, 1);
		usleep(1000);
	}
	atomic_store(&storm_spawned, 1);
	return NULL;
}

/*
 * The leadership moves at every hand-off of the leader's context: threads
 * created meanwhile must join the process under its leader of the moment
 * (copy_process() looks at it again under tasklist_lock), and an exec
 * from one of them then takes the leader's id as usual.
 */
TEST(threads_made_while_the_leadership_moves_can_exec)
{
	for (int round = 0; round < 3; round++) {
		int status;
		pid_t child = fork();

		CHECK(child >= 0);
		if (child == 0) {
			struct syslet_atom a, *first = &a;
			struct syslet_outcome o;
			struct nap n;
			unsigned int queued;
			pthread_t spawner;
			int fd = nap_ctx(&n, 2, NAP_NS), async = 0;

			if (pthread_create(&spawner, NULL, spawn_threads, NULL) != 0)
				_exit(2);
			syslet_atom_prep(&a, SYS_getppid, 0, 0, 0, 0, 0, 0);
			/* Hand-offs all the while the threads are made. */
			for (int i = 0; i < 20000 && (i < 300 || !atomic_load(&storm_spawned)); i++) {
				queued = 0;
				if (syslet_submit_flags(fd, &first, 1, &o,
							SYSLET_SUBMIT_ASYNC_NOW, &queued) != 0)
					_exit(3);
				async += queued;
				if (queued &&
				    syslet_wait_reap(fd, &n.ring, &o, 1, 1, 5000000000LL) != 1)
					_exit(4);
				if (gettid() != getpid())
					_exit(5);
			}
			pthread_join(spawner, NULL);
			if (async < 100 || atomic_load(&storm_made) < 1)
				_exit(6);
			/* The last thread made execs; the others end with the exec. */
			atomic_store(&storm_stop, 1);
			for (;;)
				pause();
		}
		CHECK(waitpid(child, &status, 0) == child);
		CHECK(WIFEXITED(status));
		CHECK_EQ(WEXITSTATUS(status), 0);
	}
}

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U	/* linux/memfd.h: executable, said explicitly */
#endif

static atomic_int rlimit_stop;
static atomic_long rlimit_calls, rlimit_bad;

/*
 * Sets a soft limit to one of two values in turn, so the old one is always
 * one of them: RLIMIT_NOFILE through pid 0 (current), and RLIMIT_CPU, which
 * arms the process's CPU timer through the leader, through the leader's id
 * from another thread (prlimit64() of another thread of the caller's
 * process).
 */
struct limit_loop {
	int resource;
	int by_leader_id;
	rlim_t value[2];
};

static const struct limit_loop nofile_loop = { RLIMIT_NOFILE, 0, { 500, 600 } };
static const struct limit_loop cpu_loop = { RLIMIT_CPU, 1, { 1000000, 1000001 } };

static void *prlimit_loop(void *arg)
{
	const struct limit_loop *l = arg;
	struct rlimit lim, old;

	if (getrlimit(l->resource, &lim) != 0)
		atomic_fetch_add(&rlimit_bad, 1);
	for (long i = 0; !atomic_load(&rlimit_stop); i++) {
		lim.rlim_cur = l->value[i & 1];
		if (prlimit(l->by_leader_id ? getpid() : 0, l->resource, &lim, &old) != 0 ||
		    (old.rlim_cur != l->value[0] && old.rlim_cur != l->value[1]))
			atomic_fetch_add(&rlimit_bad, 1);
		atomic_fetch_add(&rlimit_calls, 1);
	}
	return NULL;
}

/* fork() copies the rlimits (copy_signal()); the child exits at once. */
static void *fork_loop(void *arg)
{
	(void)arg;
	while (!atomic_load(&rlimit_stop)) {
		pid_t child = fork();

		if (child == 0)
			_exit(0);
		if (child < 0 || waitpid(child, NULL, 0) != child)
			atomic_fetch_add(&rlimit_bad, 1);
		atomic_fetch_add(&rlimit_calls, 1);
	}
	return NULL;
}

/*
 * execve() reads RLIMIT_STACK (bprm_mm_init()) before it looks at the
 * file; one that is not a program fails with ENOEXEC, nothing replaced.
 */
static void *exec_loop(void *arg)
{
	char *argv[] = { "x", NULL }, *envp[] = { NULL };
	int fd = memfd_create("not-a-program", MFD_EXEC);

	(void)arg;
	if (fd < 0 || write(fd, "not a program\n", 14) != 14) {
		atomic_fetch_add(&rlimit_bad, 1);
		return NULL;
	}
	while (!atomic_load(&rlimit_stop)) {
		if (syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH) != -1 ||
		    errno != ENOEXEC)
			atomic_fetch_add(&rlimit_bad, 1);
		atomic_fetch_add(&rlimit_calls, 1);
	}
	close(fd);
	return NULL;
}

/*
 * The leader hands its context off again and again, with a getppid chain
 * that goes asynchronous at once, for 3 s and at least 200 hand-offs
 * (however slow the machine, within 60 s): each moves the leadership.
 * @async counts the hand-offs, @sync the chains that ran synchronously
 * because the hand-off was refused (e.g. while another thread held the
 * leader's lock).
 */
static void hand_off_leadership(int *async, int *sync)
{
	struct syslet_atom a, *first = &a;
	struct syslet_outcome o;
	struct timespec start, now;
	struct nap n;
	int fd = nap_ctx(&n, 2, NAP_NS);

	*async = *sync = 0;
	syslet_atom_prep(&a, SYS_getppid, 0, 0, 0, 0, 0, 0);
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		unsigned int queued = 0;
		int done = syslet_submit_flags(fd, &first, 1, &o,
					       SYSLET_SUBMIT_ASYNC_NOW, &queued);

		CHECK(done + queued == 1);
		if (queued)
			CHECK_EQ(syslet_wait_reap(fd, &n.ring, &o, 1, 1, 5000000000LL), 1);
		*async += queued;
		*sync += done;
		CHECK_EQ(gettid(), getpid());
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - start.tv_sec < 3 || *async < 200) &&
		 now.tv_sec - start.tv_sec < 60);
	close(fd);
}

/*
 * The process's rlimits are used under its leader's lock, and every
 * hand-off of the leader's context moves the leadership: threads that use
 * them meanwhile (prlimit64(), fork(), execve(), and RLIMIT_CPU, which arms
 * the process's CPU timer through the leader) must find the leader of the
 * moment. A move between their lock and unlock once left the old
 * leader's lock held for ever (lockdep: bad unlock balance; then the
 * machine spun), a denial of service by any program.
 */
TEST(rlimit_users_race_the_leadership_moving)
{
	void *(*loops[])(void *) = { prlimit_loop, prlimit_loop, prlimit_loop, fork_loop,
				     exec_loop };
	const void *args[] = { &nofile_loop, &nofile_loop, &cpu_loop, NULL, NULL };
	const int nloops = sizeof(loops) / sizeof(loops[0]);
	pthread_t t[5];
	struct rlimit lim;
	int async, sync;

	CHECK(getrlimit(RLIMIT_NOFILE, &lim) == 0);
	lim.rlim_cur = nofile_loop.value[0];
	CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
	CHECK(getrlimit(RLIMIT_CPU, &lim) == 0);
	lim.rlim_cur = cpu_loop.value[0];
	CHECK(setrlimit(RLIMIT_CPU, &lim) == 0);
	for (int i = 0; i < nloops; i++)
		CHECK(pthread_create(&t[i], NULL, loops[i], (void *)args[i]) == 0);
	hand_off_leadership(&async, &sync);
	atomic_store(&rlimit_stop, 1);
	for (int i = 0; i < nloops; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	printf("# %d hand-offs, %d refused, %ld calls of rlimit users\n", async,
	       sync, atomic_load(&rlimit_calls));
	CHECK_EQ(atomic_load(&rlimit_bad), 0);
	CHECK(async >= 200);
	CHECK(atomic_load(&rlimit_calls) >= 100);
	CHECK(getrlimit(RLIMIT_NOFILE, &lim) == 0);
	CHECK(lim.rlim_cur == 500 || lim.rlim_cur == 600);
}

static atomic_int tkill_stop, tkill_acks;
static atomic_long tkill_sent, tkill_lost;

static void ack_usr2(int sig)
{
	(void)sig;
	atomic_fetch_add(&tkill_acks, 1);
}

/*
 * Sends SIGUSR2 to the leader by its thread id (tgkill(), as
 * pthread_kill() does), one at a time: each must reach the leader's
 * handler within 2 s.
 */
static void *tgkill_loop(void *arg)
{
	while (!atomic_load(&tkill_stop)) {
		int before = atomic_load(&tkill_acks);
		struct timespec t0, now;

		CHECK(syscall(SYS_tgkill, getpid(), getpid(), SIGUSR2) == 0);
		atomic_fetch_add(&tkill_sent, 1);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (atomic_load(&tkill_acks) == before) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - t0.tv_sec >= 2) {
				atomic_fetch_add(&tkill_lost, 1);
				return arg;
			}
			sched_yield();
		}
	}
	return arg;
}

/*
 * A signal sent by thread id is looked up, then queued under the
 * siglock; a hand-off in between moves the id to the spare. Until
 * 2026-12-03 the signal was then queued on the carrier, which blocks every
 * signal: the handler never ran (and glibc's setuid(), which waits for
 * each thread's, could hang). Now the sender follows the id (patch 31).
 */
TEST(signals_sent_by_thread_id_during_hand_offs_all_arrive)
{
	struct sigaction sa = { .sa_handler = ack_usr2, .sa_flags = SA_RESTART };
	pthread_t t;
	int async, sync;

	CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
	CHECK(pthread_create(&t, NULL, tgkill_loop, NULL) == 0);
	hand_off_leadership(&async, &sync);
	atomic_store(&tkill_stop, 1);
	CHECK(pthread_join(t, NULL) == 0);
	printf("# hardening: tgkill() of the leader racing hand-offs | %d hand-offs, "
	       "%ld signals | %ld lost\n", async, atomic_load(&tkill_sent),
	       atomic_load(&tkill_lost));
	CHECK_EQ(atomic_load(&tkill_lost), 0);
	CHECK(async >= 200);
	CHECK(atomic_load(&tkill_sent) >= 100);
}

static atomic_int pgid_stop;
static atomic_long pgid_calls, pgid_bad;

/* setpgid(0, 0) makes the process a group of its own, then changes nothing. */
static void *setpgid_loop(void *arg)
{
	(void)arg;
	while (!atomic_load(&pgid_stop)) {
		if (setpgid(0, 0) != 0 || getpgid(0) != getpid())
			atomic_fetch_add(&pgid_bad, 1);
		atomic_fetch_add(&pgid_calls, 1);
	}
	return NULL;
}

/*
 * setpgid() and setsid() act on the process's leader. They took it before
 * tasklist_lock, where a hand-off of the leader's context moves the
 * leadership: a call that straddled a move worked on a thread that no
 * longer led, and setpgid(0, 0) failed with ESRCH (setsid() took the
 * session id from a pid that was no longer the process's). In a child,
 * which is no session leader and whose group may change.
 */
TEST(setpgid_races_the_leadership_moving)
{
	int status;
	pid_t child = fork();

	CHECK(child >= 0);
	if (child == 0) {
		pthread_t t[2];
		int async, sync;

		for (int i = 0; i < 2; i++)
			CHECK(pthread_create(&t[i], NULL, setpgid_loop, NULL) == 0);
		hand_off_leadership(&async, &sync);
		atomic_store(&pgid_stop, 1);
		for (int i = 0; i < 2; i++)
			CHECK(pthread_join(t[i], NULL) == 0);
		printf("# %d hand-offs, %d refused, %ld setpgid() calls, %ld wrong\n", async,
		       sync, atomic_load(&pgid_calls), atomic_load(&pgid_bad));
		CHECK_EQ(atomic_load(&pgid_bad), 0);
		CHECK(async >= 200);
		CHECK(atomic_load(&pgid_calls) >= 100);
		fflush(stdout);
		_exit(0);
	}
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

/*
 * After another thread's execve() (which kills the parked spares while
 * they wait) a context kept across the exec (no O_CLOEXEC) goes on: the
 * dead spares' places are freed and new spares made. The new image runs
 * this before main() when SYSLET_AFTER_EXEC says which descriptor and ring
 * size to use, and exits 0 if a nap went asynchronous.
 */
__attribute__((constructor)) static void after_exec(void)
{
	const char *env = getenv("SYSLET_AFTER_EXEC");
	struct nap n;
	int fd, async = 0;
	size_t ring_size;

	if (!env || sscanf(env, "%d:%zu", &fd, &ring_size) != 2)
		return;
	n.ring.hdr = mmap(NULL, ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (n.ring.hdr == MAP_FAILED)
		_exit(10);
	n.ring.entries = (void *)((char *)n.ring.hdr + n.ring.hdr->entries_offset);
	n.ring.size = ring_size;
	n.ts = (struct timespec){ 0, NAP_NS };
	syslet_atom_prep(&n.atom, SYS_nanosleep, syslet_ptr(&n.ts), 0, 0, 0, 0, 0);
	for (int i = 0; i < 20 && !async; i++) {
		struct syslet_outcome o;
		int ret = syslet_run(fd, &n.atom, &o);

		if (ret == 0 && syslet_wait_reap(fd, &n.ring, &o, 1, 1, 5000000000LL) != 1)
			_exit(11);
		async = ret == 0;
		if (!async)
			usleep(20 * 1000);
	}
	_exit(async ? 0 : 12);
}

static void *exec_self(void *arg)
{
	execl("/proc/self/exe", "after-exec", (char *)NULL);
	(void)arg;
	return (void *)1;
}

TEST(a_context_kept_across_exec_gets_new_spares)
{
	int status;
	pid_t child = fork();

	CHECK(child >= 0);
	if (child == 0) {
		struct syslet_setup s = { .spares = 2, .max_threads = 4 };
		struct syslet_ring_map ring = { 0 };
		struct syslet_outcome o;
		struct syslet_atom a;
		struct timespec ts = { 0, NAP_NS };
		char env[64];
		pthread_t t;
		int fd = open(SYSLET_DEVICE, O_RDWR);	/* kept across exec */

		if (fd < 0 || syslet_setup(fd, &s) || syslet_ring_mmap(fd, &s, &ring))
			_exit(2);
		for (int i = 0; i < 500 && syslet_fdinfo_value(fd, "syslet-spares") < 2; i++)
			usleep(10 * 1000);
		syslet_atom_prep(&a, SYS_nanosleep, syslet_ptr(&ts), 0, 0, 0, 0, 0);
		if (syslet_run(fd, &a, &o) != 0 ||
		    syslet_wait_reap(fd, &ring, &o, 1, 1, 5000000000LL) != 1)
			_exit(3);
		for (int i = 0; i < 500 && syslet_fdinfo_value(fd, "syslet-spares") < 2; i++)
			usleep(10 * 1000);
		snprintf(env, sizeof(env), "%d:%llu", fd, (unsigned long long)s.ring_size);
		setenv("SYSLET_AFTER_EXEC", env, 1);
		if (pthread_create(&t, NULL, exec_self, NULL) != 0)
			_exit(4);
		pthread_join(t, NULL);
		_exit(5);
	}
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

static atomic_int race_stop;

/*
 * Hands off without end (ASYNC_NOW) from whichever thread runs this, and
 * every eighth round forks a child that exits at once and is not reaped:
 * zombie children go with the thread id from task to task.
 */
static void *hand_off_and_fork(void *arg)
{
	int fd = *(int *)arg;
	struct syslet_atom a, *first = &a;
	struct syslet_outcome o;

	syslet_atom_prep(&a, SYS_getppid, 0, 0, 0, 0, 0, 0);
	for (unsigned int i = 0; !atomic_load(&race_stop); i++) {
		unsigned int queued = 0;

		if (i % 8 == 7 && fork() == 0)
			_exit(0);
		syslet_submit_flags(fd, &first, 1, &o, SYSLET_SUBMIT_ASYNC_NOW, &queued);
	}
	return NULL;
}

static void *exit_group_soon(void *arg)
{
	usleep((unsigned int)(uintptr_t)arg);
	_exit(9);
}

/*
 * A process ends (exit_group() from a thread of its own) while every thread
 * hands its context off, the leader's included, and their unreaped children
 * move with them: spares are killed on their way to user space with a
 * context they just took, zombies are handed to a new parent. The parent
 * of the process sees it exit as usual, and the kernel stays clean (a
 * leader released twice, or a child list left pointing at a freed task,
 * would show in KASAN or the log check).
 */
TEST(exit_group_races_hand_offs_and_children_moving)
{
	int bad = 0, rounds = 60;

	for (int round = 0; round < rounds; round++) {
		int status;
		pid_t child = fork();

		CHECK(child >= 0);
		if (child == 0) {
			struct nap n;
			pthread_t t;
			int fd = nap_ctx(&n, 3, NAP_NS);

			for (int i = 0; i < 2; i++)
				pthread_create(&t, NULL, hand_off_and_fork, &fd);
			pthread_create(&t, NULL, exit_group_soon,
				       (void *)(uintptr_t)(1000 + (round * 7919) % 30000));
			hand_off_and_fork(&fd);
			_exit(10);
		}
		if (waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 9) {
			printf("# round %d: status %#x\n", round, status);
			bad++;
		}
	}
	printf("# hardening: exit_group while every thread hands off and forks | %d | %d odd exits\n",
	       rounds, bad);
	CHECK_EQ(bad, 0);
}

/*
 * A thread with a timer on its thread CPU-time clock armed does not hand
 * off: such a timer finds its thread by id but is queued on the task that
 * held the id when it was armed, so it cannot follow the id. Before
 * 2026-12-03 the id moved anyway; once the thread had ended, deleting the
 * timer found no task, warned ("timer_lock_sighand") and freed it while it
 * was still queued on the old task, a use-after-free when that task next
 * ran or exited. The thread's naps block in place while the timer is
 * armed; with no such timer, the same naps hand off.
 */
static timer_t cpu_timer;

static void *naps_with_a_cpu_timer(void *arg)
{
	struct worker *w = arg;
	/* A signal to deliver (it never comes): SIGEV_NONE timers are not
	 * queued at all. */
	struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN + 3 };
	struct itimerspec its = { .it_value = { 3600, 0 } };

	CHECK(timer_create(CLOCK_THREAD_CPUTIME_ID, &ev, &cpu_timer) == 0);
	CHECK(timer_settime(cpu_timer, 0, &its, NULL) == 0);
	w->async = naps_keep_id(w->fd, &w->n, 3);
	return NULL;
}

TEST(a_thread_with_a_cpu_time_timer_armed_keeps_its_context)
{
	struct worker w = { 0 };
	pthread_t t;

	w.fd = nap_ctx(&w.n, 2, NAP_NS);
	CHECK(pthread_create(&t, NULL, naps_with_a_cpu_timer, &w) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK_EQ(w.async, 0);
	/* Its thread is gone; the process deletes the timer, as at exit. */
	CHECK(timer_delete(cpu_timer) == 0);
	CHECK(naps_keep_id(w.fd, &w.n, 3) >= 1);
	close(w.fd);
	/* The context's threads exit (a carrier with a timer left queued
	 * would touch it then). */
	usleep(300 * 1000);
}
