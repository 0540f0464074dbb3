// SPDX-License-Identifier: GPL-2.0
/*
 * A directory walk, which io_uring cannot do asynchronously (it has no
 * getdents): list 16 directories of 64 files each and fstatat() every
 * entry, on tmpfs.
 *
 *  - plain calls: per directory open, getdents64 until it returns 0,
 *    fstatat per entry, close;
 *  - a pool of 4 threads doing the plain walk of one directory each;
 *  - syslets, the same calls in two chains per directory: openat and both
 *    getdents64 (the descriptor passed by pointer from openat's result),
 *    then, once the names are known, every fstatat and the close.
 *
 * Nothing blocks on tmpfs, so the chains run synchronously: this measures
 * what batching saves, and what a thread pool costs, on metadata work.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <syslet.h>

#include "bench.h"

#define DIRS 16
#define FILES 64
#define POOL_THREADS 4

struct linux_dirent64 {
	unsigned long long d_ino;
	long long d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static char paths[DIRS][32];

static void build_tree(void)
{
	char name[sizeof(paths[0]) + 16];

	mkdir("/tmp/tree", 0755);
	for (int d = 0; d < DIRS; d++) {
		snprintf(paths[d], sizeof(paths[d]), "/tmp/tree/d%02d", d);
		mkdir(paths[d], 0755);
		for (int f = 0; f < FILES; f++) {
			snprintf(name, sizeof(name), "%.31s/file-%03d", paths[d], f);
			int fd = open(name, O_CREAT | O_WRONLY, 0644);

			if (fd < 0)
				abort();
			close(fd);
		}
	}
}

/* Calls @fn on every name in the getdents64 buffer @buf of @len bytes. */
static int for_each_name(char *buf, long len, void (*fn)(const char *, void *), void *arg)
{
	int n = 0;

	for (long at = 0; at < len;) {
		struct linux_dirent64 *e = (struct linux_dirent64 *)(buf + at);

		at += e->d_reclen;
		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		fn(e->d_name, arg);
		n++;
	}
	return n;
}

static void stat_name(const char *name, void *arg)
{
	struct stat st;

	if (fstatat(*(int *)arg, name, &st, AT_SYMLINK_NOFOLLOW))
		abort();
}

/* The plain walk of directory @d; returns the entries seen. */
static int walk_dir(int d)
{
	char buf[8192];
	long len;
	int fd = open(paths[d], O_RDONLY | O_DIRECTORY), n = 0;

	if (fd < 0)
		abort();
	while ((len = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0)
		n += for_each_name(buf, len, stat_name, &fd);
	if (len < 0)
		abort();
	close(fd);
	return n;
}

static double plain_walk(void)
{
	double t0 = now_ticks();

	for (int d = 0; d < DIRS; d++)
		if (walk_dir(d) != FILES)
			abort();
	return now_ticks() - t0;
}

static atomic_int next_dir;

static void *pool_worker(void *arg)
{
	(void)arg;
	for (int d; (d = atomic_fetch_add(&next_dir, 1)) < DIRS;)
		if (walk_dir(d) != FILES)
			abort();
	return NULL;
}

/* A pool started per walk would measure thread creation: start it once. */
static pthread_barrier_t go, gone;

static void *pool_thread(void *arg)
{
	for (;;) {
		pthread_barrier_wait(&go);
		if (atomic_load(&next_dir) < 0)
			return NULL;
		pool_worker(arg);
		pthread_barrier_wait(&gone);
	}
}

static double pool_walk(void)
{
	double t0 = now_ticks();

	atomic_store(&next_dir, 0);
	pthread_barrier_wait(&go);
	pthread_barrier_wait(&gone);
	return now_ticks() - t0;
}

/* The syslet walk: state of the second chain, built from the first's names. */
struct stat_chain {
	struct syslet_atom atoms[FILES + 1];
	struct stat st[FILES];
	__s64 dfd;
	int n;
};

static void add_stat_atom(const char *name, void *arg)
{
	struct stat_chain *c = arg;
	struct syslet_atom *a = &c->atoms[c->n];

	if (c->n == FILES)
		abort();
	syslet_atom_prep(a, SYS_newfstatat, 0, syslet_ptr(name), syslet_ptr(&c->st[c->n]),
			 AT_SYMLINK_NOFOLLOW, 0, 0);
	syslet_atom_arg_ptr(a, 0, &c->dfd);
	a->flags |= SYSLET_ATOM_STOP_NONZERO;
	a->next = syslet_ptr(a + 1);
	c->n++;
}

static double syslet_walk(int fd)
{
	static char buf[2][8192];
	static struct stat_chain c;
	struct syslet_atom list[3];
	struct syslet_outcome o;
	__s64 len[2];
	double t0 = now_ticks();

	for (int d = 0; d < DIRS; d++) {
		syslet_atom_prep(&list[0], SYS_openat, AT_FDCWD, syslet_ptr(paths[d]),
				 O_RDONLY | O_DIRECTORY, 0, 0, 0);
		syslet_atom_result(&list[0], &c.dfd);
		syslet_atom_flags(&list[0], SYSLET_ATOM_STOP_NEGATIVE);
		for (int i = 0; i < 2; i++) {
			syslet_atom_prep(&list[i + 1], SYS_getdents64, 0, syslet_ptr(buf[i]),
					 sizeof(buf[i]), 0, 0, 0);
			syslet_atom_arg_ptr(&list[i + 1], 0, &c.dfd);
			syslet_atom_result(&list[i + 1], &len[i]);
			syslet_atom_link(&list[i], &list[i + 1]);
		}
		/* The second getdents64 must find the end: 64 names fit in 8 KiB. */
		if (syslet_run_sync(fd, list, &o) || o.atoms_run != 3 || len[0] <= 0 || len[1])
			abort();
		c.n = 0;
		for_each_name(buf[0], len[0], add_stat_atom, &c);
		syslet_atom_prep(&c.atoms[c.n], SYS_close, 0, 0, 0, 0, 0, 0);
		syslet_atom_arg_ptr(&c.atoms[c.n], 0, &c.dfd);
		if (c.n != FILES || syslet_run_sync(fd, c.atoms, &o) || o.atoms_run != FILES + 1 ||
		    o.result)
			abort();
	}
	return now_ticks() - t0;
}

void bench_tree(void)
{
	struct syslet_setup setup = { .flags = SYSLET_SETUP_NO_SPARES };
	pthread_t pool[POOL_THREADS];
	int fd = syslet_open();
	struct stat3 s;
	double plain;

	if (fd < 0 || syslet_setup(fd, &setup))
		abort();
	build_tree();
	pthread_barrier_init(&go, NULL, POOL_THREADS + 1);
	pthread_barrier_init(&gone, NULL, POOL_THREADS + 1);
	for (int t = 0; t < POOL_THREADS; t++)
		if (pthread_create(&pool[t], NULL, pool_thread, NULL))
			abort();

	printf("## directory walk: %d directories x %d files, getdents64 + fstatat each "
	       "(ratio to plain calls)\n", DIRS, FILES);
	s = MEASURE(plain_walk());
	plain = s.median;
	row("plain calls", "ticks", s, plain);
	s = MEASURE(pool_walk());
	row("pool of 4 threads", "ticks", s, plain);
	printf("data tree-pool 0 %.3f\n", s.median / plain);
	s = MEASURE(syslet_walk(fd));
	row("syslets, 2 chains per directory", "ticks", s, plain);
	printf("data tree-syslet 0 %.3f\n", s.median / plain);
	printf("\n");

	atomic_store(&next_dir, -1);
	pthread_barrier_wait(&go);
	for (int t = 0; t < POOL_THREADS; t++)
		pthread_join(pool[t], NULL);
	close(fd);
}
