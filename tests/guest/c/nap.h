/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Cachemisses on demand for the in-guest C tests: a context with parked
 * spares and a chain of one nanosleep atom, which blocks, so that a spare
 * takes over the caller's context.
 */
#ifndef SYSLET_NAP_H
#define SYSLET_NAP_H

#include <dirent.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <syslet.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

struct nap {
	struct syslet_atom atom;
	struct timespec ts;
	struct syslet_ring_map ring;
};

/* A context with @spares parked spares, and a nap of @ns in @n. */
static inline int nap_ctx(struct nap *n, unsigned int spares, long ns)
{
	struct syslet_setup s = { .spares = spares, .max_threads = spares + 2 };
	int fd = syslet_open();

	CHECK(fd >= 0);
	CHECK_EQ(syslet_setup(fd, &s), 0);
	CHECK_EQ(syslet_ring_mmap(fd, &s, &n->ring), 0);
	for (int i = 0; i < 500 && syslet_fdinfo_value(fd, "syslet-spares") < spares; i++)
		usleep(10 * 1000);
	n->ts = (struct timespec){ 0, ns };
	syslet_atom_prep(&n->atom, SYS_nanosleep, syslet_ptr(&n->ts), 0, 0, 0, 0, 0);
	return fd;
}

/* Runs the nap; returns 1 if it went asynchronous (and reaps it), else 0. */
static inline int nap_run(int fd, struct nap *n)
{
	struct syslet_outcome o;
	int ret = syslet_run(fd, &n->atom, &o);

	CHECK(ret == 0 || ret == 1);
	if (ret == 0)
		CHECK_EQ(syslet_wait_reap(fd, &n->ring, &o, 1, 1, 5000000000LL), 1);
	CHECK_EQ(o.result, 0);
	return ret == 0;
}

/* The one thread of this process other than the caller: its id, else -1. */
static inline pid_t nap_other_thread(void)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *d;
	pid_t other = -1, me = gettid();
	int n = 0;

	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		pid_t t = atoi(d->d_name);

		if (t > 0 && t != me) {
			other = t;
			n++;
		}
	}
	closedir(dir);
	return n == 1 ? other : -1;
}

/* A context with its ring mapped, for tests that use both. */
struct spare_ctx {
	int fd;
	struct syslet_ring_map ring;
};

/*
 * Opens and sets up a context with @spares spares (threads up to twice
 * that, at most 32) and a ring of @ring_entries (0: the default), and
 * waits until the spares are parked.
 */
static inline void spare_ctx_open(struct spare_ctx *c, unsigned int spares,
				  unsigned int ring_entries)
{
	struct syslet_setup s = {
		.spares = spares,
		.max_threads = 2 * spares + 2 < 32 ? 2 * spares + 2 : 32,
		.ring_entries = ring_entries,
	};

	c->fd = syslet_open();
	CHECK(c->fd >= 0);
	CHECK_EQ(syslet_setup(c->fd, &s), 0);
	CHECK_EQ(syslet_ring_mmap(c->fd, &s, &c->ring), 0);
	for (int i = 0; i < 2000 && syslet_fdinfo_value(c->fd, "syslet-spares") < spares; i++)
		usleep(2000);
	CHECK(syslet_fdinfo_value(c->fd, "syslet-spares") >= spares);
}

#endif /* SYSLET_NAP_H */
