// SPDX-License-Identifier: GPL-2.0
/*
 * Faults and teardown: processes using syslets die at random moments
 * (SIGKILL while chains run, block or complete; exit_group and execve from
 * another thread; fork with chains in flight). After each storm, every
 * process is gone, nothing pins the module, and the task count is back
 * where it was; the guest's final rmmod and kmemleak scan check the rest.
 * SYSLET_STORM_KILLS overrides the number of SIGKILLs (half as many for the
 * storm where the leader hands off).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <syslet.h>
#include <time.h>

#include "tap.h"

static uint64_t rng = 0x5707a11ULL;

static unsigned int rnd(unsigned int n)
{
	rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned int)(rng >> 33) % n;
}

/* Whether /proc/<pid>/task/<tid> is a kernel thread (PF_KTHREAD in stat). */
static int is_kthread(const char *pid, const char *tid)
{
	char path[600], stat[1024], *p;
	unsigned long flags = 0;
	ssize_t len;
	int f;

	snprintf(path, sizeof(path), "/proc/%s/task/%s/stat", pid, tid);
	f = open(path, O_RDONLY);
	if (f < 0)
		return 0;
	len = read(f, stat, sizeof(stat) - 1);
	close(f);
	if (len <= 0)
		return 0;
	stat[len] = '\0';
	p = strrchr(stat, ')');
	/* After the name: state, ppid, pgrp, session, tty_nr, tpgid, flags. */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return 0;
	return !!(flags & 0x00200000);
}

/*
 * User tasks in the system (every thread of every process). Kernel threads
 * are left out: with two CPUs the kernel starts workers as it likes.
 */
static int count_tasks(void)
{
	struct dirent *d, *e;
	DIR *proc = opendir("/proc");
	int n = 0;

	if (!proc)
		return -1;
	while ((d = readdir(proc))) {
		char path[300];
		DIR *task;

		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/task", d->d_name);
		task = opendir(path);
		if (!task)
			continue;
		while ((e = readdir(task)))
			n += e->d_name[0] != '.' && !is_kthread(d->d_name, e->d_name);
		closedir(task);
	}
	closedir(proc);
	return n;
}

static long module_refcnt(void)
{
	FILE *f = fopen("/sys/module/syslet/refcnt", "r");
	long n = -1;

	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

/* Waits until nothing pins the module and the task count is @tasks. */
static int settled(int tasks)
{
	for (int i = 0; i < 500; i++) {
		if (module_refcnt() == 0 && count_tasks() == tasks)
			return 1;
		usleep(10 * 1000);
	}
	printf("# refcnt %ld, tasks %d (want %d)\n", module_refcnt(), count_tasks(), tasks);
	return 0;
}

/* --- what the victims do ---------------------------------------------- */

static int vfd, vpipe[2];
static struct syslet_ring_map vring;

static void victim_setup(void)
{
	struct syslet_setup s = { .spares = 2, .max_threads = 6, .ring_entries = 8,
				  .max_pending = 64 };

	vfd = syslet_open();
	if (vfd < 0 || syslet_setup(vfd, &s) != 0 || syslet_ring_mmap(vfd, &s, &vring) != 0 ||
	    pipe(vpipe) != 0)
		_exit(10);
}

/* Submits chains forever: blocking reads, counted loops, batches. */
static void *submitter(void *arg)
{
	struct syslet_atom a[4], *firsts[4] = { &a[0], &a[1], &a[2], &a[3] };
	struct syslet_outcome o[4];
	static __thread __s64 counter, n;
	char buf[8];

	(void)arg;
	for (;;) {
		switch (rnd(3)) {
		case 0:	/* blocks until the feeder writes */
			syslet_atom_prep(&a[0], SYS_read, vpipe[0], syslet_ptr(buf), 1, 0, 0, 0);
			syslet_atom_result(&a[0], &n);
			syslet_submit(vfd, firsts, 1, o, NULL);
			break;
		case 1:	/* a counted loop of a few hundred atoms */
			counter = -300;
			syslet_atom_prep_add(&a[0], &counter, 1);
			syslet_atom_flags(&a[0], SYSLET_ATOM_STOP_ZERO);
			syslet_atom_link(&a[0], &a[0]);
			syslet_submit(vfd, firsts, 1, o, NULL);
			break;
		default:	/* a batch of cheap calls */
			for (int i = 0; i < 4; i++)
				syslet_atom_prep(&a[i], SYS_getppid, 0, 0, 0, 0, 0, 0);
			syslet_submit(vfd, firsts, 4, o, NULL);
		}
	}
	return NULL;
}

static void *feeder(void *arg)
{
	(void)arg;
	for (;;) {
		usleep(rnd(3000));
		if (write(vpipe[1], "f", 1) != 1)
			_exit(11);
	}
	return NULL;
}

static void *reaper(void *arg)
{
	struct syslet_outcome o[8];

	(void)arg;
	for (;;)
		syslet_wait_reap(vfd, &vring, o, 8, 1, 5 * 1000 * 1000);
	return NULL;
}

/* A process with everything going; it runs until killed. */
static void busy_victim(void)
{
	pthread_t t;

	victim_setup();
	for (int i = 0; i < 3; i++)
		pthread_create(&t, NULL, submitter, NULL);
	pthread_create(&t, NULL, feeder, NULL);
	pthread_create(&t, NULL, reaper, NULL);
	for (;;)
		pause();
}

/* Hands off without end: every chain goes asynchronous at once. */
static void hand_off_forever(void)
{
	struct syslet_atom a, *first = &a;
	struct syslet_outcome o;

	syslet_atom_prep(&a, SYS_getppid, 0, 0, 0, 0, 0, 0);
	for (;;)
		syslet_submit_flags(vfd, &first, 1, &o, SYSLET_SUBMIT_ASYNC_NOW, NULL);
}

static void *sleep_forever(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/*
 * Between hand-offs, forks children that start a thread and exit a moment
 * later; reaps every other one, so that zombies and live children with
 * threads move with this thread's id.
 */
static void *fork_and_hand_off(void *arg)
{
	struct syslet_atom a, *first = &a;
	struct syslet_outcome o;

	(void)arg;
	syslet_atom_prep(&a, SYS_getppid, 0, 0, 0, 0, 0, 0);
	for (unsigned int i = 0;; i++) {
		pid_t c = fork();

		if (c == 0) {
			pthread_t t;

			pthread_create(&t, NULL, sleep_forever, NULL);
			usleep(rnd(3000));
			_exit(0);
		}
		if (c > 0 && (i & 1))
			waitpid(c, NULL, 0);
		for (int k = 0; k < 4; k++)
			syslet_submit_flags(vfd, &first, 1, &o, SYSLET_SUBMIT_ASYNC_NOW, NULL);
	}
	return NULL;
}

/* Every thread hands off, the leader too, and two of them fork. */
static void leader_victim(void)
{
	pthread_t t;

	victim_setup();
	pthread_create(&t, NULL, fork_and_hand_off, NULL);
	pthread_create(&t, NULL, fork_and_hand_off, NULL);
	pthread_create(&t, NULL, reaper, NULL);
	hand_off_forever();
}

static void *exit_later(void *arg)
{
	usleep((uintptr_t)arg);
	_exit(0);	/* exit_group() from a thread that is not the caller */
}

static void *exec_later(void *arg)
{
	usleep((uintptr_t)arg);
	execl("/bin/true", "true", (char *)NULL);
	_exit(12);
}

/* A chain blocks; another thread ends the process with @how. */
static void blocked_victim(void *(*how)(void *))
{
	struct syslet_atom a;
	struct syslet_outcome o;
	char buf[4];
	pthread_t t;

	victim_setup();
	pthread_create(&t, NULL, how, (void *)(uintptr_t)rnd(20000));
	syslet_atom_prep(&a, SYS_read, vpipe[0], syslet_ptr(buf), 1, 0, 0, 0);
	syslet_run(vfd, &a, &o);	/* queued: the carrier stays blocked */
	syslet_run(vfd, &a, &o);	/* and again, or blocks here */
	for (;;)
		pause();
}

/* fork() while a chain is in flight: the child gets no chain, no spare,
 * and EBADFD from the context; the parent's chain still completes. */
static void forking_victim(void)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	char buf[4];
	int status;
	pid_t pid;

	victim_setup();
	/* A spare must be parked, or the read blocks this very thread. */
	for (int i = 0; i < 1000 && syslet_fdinfo_value(vfd, "syslet-spares") < 1; i++)
		usleep(1000);
	syslet_atom_prep(&a, SYS_read, vpipe[0], syslet_ptr(buf), 1, 0, 0, 0);
	a.cookie = 77;
	if (syslet_run(vfd, &a, &o) != 0)
		_exit(13);
	pid = fork();
	if (pid == 0) {
		struct syslet_atom b;

		syslet_atom_prep(&b, SYS_getpid, 0, 0, 0, 0, 0, 0);
		_exit(syslet_run(vfd, &b, &o) == -EBADFD ? 0 : 14);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		_exit(15);
	if (write(vpipe[1], "x", 1) != 1)
		_exit(16);
	if (syslet_wait_reap(vfd, &vring, &o, 1, 1, 5000000000LL) != 1 || o.cookie != 77)
		_exit(17);
	_exit(0);
}

/* --- the storms --------------------------------------------------------- */

/*
 * Forks @victim, SIGKILLs it at a random moment (from "still setting up" to
 * "everything in flight") and reaps it. Returns 1 if it ended otherwise.
 */
static int kill_at_random(void (*victim)(void), int i)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		victim();
	CHECK(pid > 0);
	usleep(rnd(4) ? rnd(60000) : rnd(2000));
	CHECK_EQ(kill(pid, SIGKILL), 0);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		return 0;
	printf("# victim %d ended with status %#x\n", i, status);
	return 1;
}

TEST(random_sigkills_while_chains_run_block_and_complete)
{
	const char *env = getenv("SYSLET_STORM_KILLS");
	int kills = env ? atoi(env) : 240, tasks = count_tasks(), bad = 0;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < kills; i++)
		bad += kill_at_random(busy_victim, i);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(settled(tasks));
	printf("# %d SIGKILLs in %.1f s\n", kills, t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	printf("# hardening: SIGKILL at random moments (running, blocked, completing) | %d | "
	       "%d odd exits, module refcount 0, no task left\n", kills, bad);
	CHECK_EQ(bad, 0);
}

static void ends_by_itself(const char *what, void (*victim)(void *(*)(void *)),
			   void *(*how)(void *), int rounds)
{
	int tasks = count_tasks(), bad = 0;

	for (int i = 0; i < rounds; i++) {
		int status;
		pid_t pid = fork();

		if (pid == 0)
			victim(how);
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			printf("# %s round %d: status %#x\n", what, i, status);
			bad++;
		}
	}
	CHECK(settled(tasks));
	printf("# hardening: %s | %d | %d odd exits, module refcount 0, no task left\n", what,
	       rounds, bad);
	CHECK_EQ(bad, 0);
}

TEST(exit_group_from_another_thread_with_chains_blocked)
{
	ends_by_itself("exit_group from another thread, chains blocked", blocked_victim,
		       exit_later, 40);
}

TEST(execve_from_another_thread_with_chains_blocked)
{
	ends_by_itself("execve from another thread, chains blocked", blocked_victim,
		       exec_later, 40);
}

static void forking(void *(*unused)(void *))
{
	(void)unused;
	forking_victim();
}

TEST(fork_with_a_chain_in_flight)
{
	ends_by_itself("fork with a chain in flight (child gets EBADFD)", forking, NULL, 40);
}

/*
 * SIGKILL at random moments while the leadership moves at every hand-off
 * and the forking threads' children (some of them zombies, each with a
 * thread) move with their parents' ids: spares die on their first way to
 * user space, zombies are reparented while their parents' ids move. This
 * test is the children's subreaper, and reaps the victim and every orphan.
 */
TEST(random_sigkills_while_the_leader_hands_off_and_children_move)
{
	const char *env = getenv("SYSLET_STORM_KILLS");
	int kills = env ? atoi(env) / 2 : 120, tasks, bad = 0, orphans = 0;

	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	tasks = count_tasks();
	for (int i = 0; i < kills; i++) {
		bad += kill_at_random(leader_victim, i);
		/* The victim's children, now ours: each exits in a moment. */
		while (waitpid(-1, NULL, 0) > 0)
			orphans++;
	}
	CHECK(settled(tasks));
	printf("# hardening: SIGKILL at random moments while the leader hands off and children move "
	       "| %d | %d odd exits, %d orphans reaped, module refcount 0, no task left\n",
	       kills, bad, orphans);
	CHECK_EQ(bad, 0);
}
