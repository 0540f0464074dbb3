// SPDX-License-Identifier: GPL-2.0
/*
 * Thread-free I/O (SYSLET_FEAT_THREAD_FREE_IO): a pread64, preadv, pwrite64
 * or pwritev that ends its chain, on a block device opened with O_DIRECT, is
 * queued to the device from the caller's context and completes from the
 * device's completion, with no hand-off and no thread waiting for it. The device is null_blk
 * (the guest's init loads it), which completes each read from a timer
 * 50 us after it was queued.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <syslet.h>

#include "filter.h"
#include "nap.h"
#include "tap.h"

#define DEV "/dev/nullb0"
#define BS 4096
#define READS 64
#define WAIT_NS 5000000000LL

static char bufs[READS][BS] __attribute__((aligned(BS)));
static __s64 words[READS];

static int open_dev(void)
{
	int fd = open(DEV, O_RDONLY | O_DIRECT);

	CHECK(fd >= 0);
	return fd;
}

/* A pread64 of block @i of @dev into bufs[i], result in words[i]. */
static void read_atom(struct syslet_atom *a, int dev, int i)
{
	syslet_atom_prep(a, SYS_pread64, dev, syslet_ptr(bufs[i]), BS, (__u64)i * BS, 0, 0);
	syslet_atom_result(a, &words[i]);
	a->cookie = 1000 + i;
	words[i] = -1;
}

static long stat_of(int fd, const char *name)
{
	return syslet_fdinfo_value(fd, name);
}

/* Runs the chain that starts at @a in @c: its outcome, whether it ran
 * synchronously or went asynchronous the usual way (a hand-off). */
static struct syslet_outcome run_either_way(struct spare_ctx *c, struct syslet_atom *a)
{
	struct syslet_outcome o;

	if (syslet_run(c->fd, a, &o) == 0)
		CHECK_EQ(syslet_wait_reap(c->fd, &c->ring, &o, 1, 1, WAIT_NS), 1);
	return o;
}

#define NULLB_CONFIG "/sys/kernel/config/nullb"

/* Writes @value to attribute @attr of configfs null_blk device @name. */
static int nullb_set(const char *name, const char *attr, const char *value)
{
	char path[128];
	int fd, ok;

	snprintf(path, sizeof(path), NULLB_CONFIG "/%s/%s", name, attr);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ok = write(fd, value, strlen(value)) == (ssize_t)strlen(value);
	close(fd);
	return ok ? 0 : -1;
}

/*
 * Makes null_blk device /dev/@name through configfs (the guest's init
 * mounted it and loaded null_blk) with @attrs, pairs of attribute and
 * value ending in NULL, and powers it on. Root only.
 */
static void nullb_make(const char *name, const char *const *attrs)
{
	char path[128];

	snprintf(path, sizeof(path), NULLB_CONFIG "/%s", name);
	CHECK(mkdir(path, 0755) == 0);
	for (; *attrs; attrs += 2)
		CHECK(nullb_set(name, attrs[0], attrs[1]) == 0);
	CHECK(nullb_set(name, "power", "1") == 0);
	snprintf(path, sizeof(path), "/dev/%s", name);
	for (int i = 0; i < 100 && access(path, F_OK) != 0; i++)
		usleep(50 * 1000);
	CHECK(access(path, F_OK) == 0);
}

static void nullb_remove(const char *name)
{
	char path[128];

	CHECK(nullb_set(name, "power", "0") == 0);
	snprintf(path, sizeof(path), NULLB_CONFIG "/%s", name);
	CHECK(rmdir(path) == 0);
}

TEST(the_feature_is_reported)
{
	struct syslet_query q;
	int fd = syslet_open();

	CHECK(fd >= 0);
	CHECK_EQ(syslet_query(fd, &q), 0);
	CHECK(q.features & SYSLET_FEAT_THREAD_FREE_IO);
}

/*
 * One read: the ioctl returns with it queued, no hand-off happened and no
 * thread of the context is busy; its completion brings the result, also
 * written to the result word.
 */
TEST(a_direct_read_that_ends_its_chain_holds_no_thread)
{
	struct syslet_atom a, *first = &a;
	struct syslet_outcome o;
	unsigned int queued = 0;
	struct spare_ctx c;
	int dev = open_dev();
	long threads;

	spare_ctx_open(&c, 2, 0);
	threads = stat_of(c.fd, "syslet-threads");
	read_atom(&a, dev, 0);
	CHECK_EQ(syslet_submit(c.fd, &first, 1, &o, &queued), 0);
	CHECK_EQ(queued, 1);
	CHECK_EQ(stat_of(c.fd, "syslet-went-async"), 0);
	CHECK_EQ(stat_of(c.fd, "syslet-direct-io"), 1);
	CHECK_EQ(stat_of(c.fd, "syslet-threads"), threads);
	CHECK_EQ(stat_of(c.fd, "syslet-spares"), 2);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, &o, 1, 1, WAIT_NS), 1);
	CHECK_EQ(o.cookie, 1000);
	CHECK_EQ(o.result, BS);
	CHECK_EQ(o.atoms_run, 1);
	CHECK_EQ(o.last_atom, syslet_ptr(&a));
	CHECK_EQ(o.flags, 0);
	CHECK_EQ(words[0], BS);
	CHECK_EQ(stat_of(c.fd, "syslet-direct-io-in-flight"), 0);
}

/*
 * Sixty-four reads in one submission, with two spares and a cap of six
 * threads: all sixty-four are in flight at once (null_blk's queue holds
 * 128), none took a thread.
 */
TEST(a_batch_of_direct_reads_is_in_flight_at_once)
{
	struct syslet_atom a[READS], *firsts[READS];
	struct syslet_outcome o[READS];
	unsigned int queued = 0, got = 0;
	unsigned char seen[READS] = { 0 };
	struct spare_ctx c;
	int dev = open_dev();

	spare_ctx_open(&c, 2, READS);
	for (int i = 0; i < READS; i++) {
		read_atom(&a[i], dev, i);
		firsts[i] = &a[i];
	}
	CHECK_EQ(syslet_submit(c.fd, firsts, READS, o, &queued), 0);
	CHECK_EQ(queued, READS);
	CHECK_EQ(stat_of(c.fd, "syslet-went-async"), 0);
	CHECK_EQ(stat_of(c.fd, "syslet-direct-io"), READS);
	while (got < READS) {
		int n = syslet_wait_reap(c.fd, &c.ring, o, READS, 1, WAIT_NS);

		CHECK(n > 0);
		for (int i = 0; i < n; i++) {
			unsigned int k = o[i].cookie - 1000;

			CHECK(k < READS && !seen[k]);
			seen[k] = 1;
			CHECK_EQ(o[i].result, BS);
			CHECK_EQ(words[k], BS);
		}
		got += n;
	}
	usleep(20 * 1000);
	CHECK_EQ(syslet_ring_ready(&c.ring), 0);
}

/*
 * A chain after the read runs on in the caller's context before the ioctl
 * returns, and reports through the ring too (it is after @done); chains
 * before the read report in the submission.
 */
TEST(chains_after_a_direct_read_run_on_and_complete_through_the_ring)
{
	struct syslet_atom a[3], *firsts[3] = { &a[0], &a[1], &a[2] };
	struct syslet_outcome o[3], r[2];
	__s64 res[3] = { 7, 7, 7 };
	unsigned int queued = 0;
	struct spare_ctx c;
	int dev = open_dev();

	spare_ctx_open(&c, 1, 0);
	syslet_atom_prep(&a[0], SYS_getppid, 0, 0, 0, 0, 0, 0);
	read_atom(&a[1], dev, 1);
	syslet_atom_prep(&a[2], SYS_getpid, 0, 0, 0, 0, 0, 0);
	syslet_atom_result(&a[0], &res[0]);
	syslet_atom_result(&a[2], &res[2]);
	a[0].cookie = 1;
	a[2].cookie = 3;
	CHECK_EQ(syslet_submit(c.fd, firsts, 3, o, &queued), 1);
	CHECK_EQ(queued, 2);
	CHECK_EQ(o[0].result, getppid());
	/* The third chain ran before the ioctl returned. */
	CHECK_EQ(res[2], getpid());
	CHECK_EQ(stat_of(c.fd, "syslet-went-async"), 0);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, r, 2, 2, WAIT_NS), 2);
	for (int i = 0; i < 2; i++) {
		if (r[i].cookie == 3) {
			CHECK_EQ(r[i].result, getpid());
		} else {
			CHECK_EQ(r[i].cookie, 1001);
			CHECK_EQ(r[i].result, BS);
		}
	}
	CHECK(r[0].cookie != r[1].cookie);
}

/* With SYSLET_SUBMIT_RETURN_ON_BLOCK the ioctl returns after the read, as
 * after a chain that blocked: the chains after it did not start. */
TEST(return_on_block_returns_after_a_direct_read)
{
	struct syslet_atom a[2], *firsts[2] = { &a[0], &a[1] };
	struct syslet_outcome o[2];
	__s64 res = 7;
	unsigned int queued = 0;
	struct spare_ctx c;
	int dev = open_dev();

	spare_ctx_open(&c, 1, 0);
	read_atom(&a[0], dev, 2);
	syslet_atom_prep(&a[1], SYS_getpid, 0, 0, 0, 0, 0, 0);
	syslet_atom_result(&a[1], &res);
	CHECK_EQ(syslet_submit_flags(c.fd, firsts, 2, o, SYSLET_SUBMIT_RETURN_ON_BLOCK, &queued),
		 0);
	CHECK_EQ(queued, 1);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, o, 2, 1, WAIT_NS), 1);
	CHECK_EQ(o[0].cookie, 1002);
	CHECK_EQ(o[0].result, BS);
	usleep(20 * 1000);
	CHECK_EQ(syslet_ring_ready(&c.ring), 0);
	CHECK_EQ(res, 7);
}

/*
 * Writes and vectored calls go the same way: pwrite64 to the block device,
 * preadv and pwritev (two 2 KiB segments each), in one submission.
 */
TEST(pwrite_preadv_and_pwritev_go_in_flight_too)
{
	struct iovec rv[2] = { { bufs[8], 2048 }, { bufs[8] + 2048, 2048 } };
	struct iovec wv[2] = { { bufs[10], 2048 }, { bufs[10] + 2048, 2048 } };
	struct syslet_atom a[3], *firsts[3] = { &a[0], &a[1], &a[2] };
	struct syslet_outcome o[3];
	unsigned int queued = 0;
	struct spare_ctx c;
	int dev = open(DEV, O_RDWR | O_DIRECT);

	CHECK(dev >= 0);
	spare_ctx_open(&c, 1, 0);
	syslet_atom_prep(&a[0], SYS_pwrite64, dev, syslet_ptr(bufs[9]), BS, 9 * BS, 0, 0);
	syslet_atom_prep(&a[1], SYS_preadv, dev, syslet_ptr(rv), 2, 8 * BS, 0, 0);
	syslet_atom_prep(&a[2], SYS_pwritev, dev, syslet_ptr(wv), 2, 10 * BS, 0, 0);
	for (int i = 0; i < 3; i++) {
		syslet_atom_result(&a[i], &words[8 + i]);
		words[8 + i] = -1;
		a[i].cookie = 2000 + i;
	}
	CHECK_EQ(syslet_submit(c.fd, firsts, 3, o, &queued), 0);
	CHECK_EQ(queued, 3);
	CHECK_EQ(stat_of(c.fd, "syslet-direct-io"), 3);
	CHECK_EQ(stat_of(c.fd, "syslet-went-async"), 0);
	for (int got = 0; got < 3;) {
		int n = syslet_wait_reap(c.fd, &c.ring, o, 3, 1, WAIT_NS);

		CHECK(n > 0);
		for (int i = 0; i < n; i++) {
			CHECK(o[i].cookie >= 2000 && o[i].cookie < 2003);
			CHECK_EQ(o[i].result, BS);
		}
		got += n;
	}
	for (int i = 0; i < 3; i++)
		CHECK_EQ(words[8 + i], BS);
}

/*
 * Reads and writes of a regular file take the usual path: a direct read of
 * one may fail with -EAGAIN from its completion after part of it was
 * issued, and a write holds the file system's freeze protection until it
 * completes. (tmpfs takes O_DIRECT; where it does not, nothing is checked.)
 */
TEST(a_regular_file_takes_the_usual_path)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	struct spare_ctx c;
	int f = open("/tmp/direct-file", O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0600);

	spare_ctx_open(&c, 1, 0);
	if (f < 0) {
		printf("# O_DIRECT on /tmp: %s; nothing to check\n", strerror(errno));
		return;
	}
	syslet_atom_prep(&a, SYS_pwrite64, f, syslet_ptr(bufs[11]), BS, 0, 0, 0);
	o = run_either_way(&c, &a);
	CHECK_EQ(o.result, BS);
	syslet_atom_prep(&a, SYS_pread64, f, syslet_ptr(bufs[12]), BS, 0, 0, 0);
	o = run_either_way(&c, &a);
	CHECK_EQ(o.result, BS);
	CHECK_EQ(stat_of(c.fd, "syslet-direct-io"), 0);
	unlink("/tmp/direct-file");
}

/*
 * A device with one request, busy for 1 ms with each: the reads of a batch
 * that find it taken cannot start without waiting, and the block layer says
 * so (-EAGAIN) from inside the submission. Those run as the system call
 * does, waiting for the request (a hand-off each): every read returns the
 * full block, none -EAGAIN, which a pread64 on a blocking descriptor would
 * never return.
 */
TEST(a_read_the_device_cannot_start_at_once_waits_as_the_call_would)
{
	enum { N = 12 };
	struct syslet_atom a[N], *firsts[N];
	struct syslet_outcome o[N];
	unsigned int queued = 0, got = 0;
	struct spare_ctx c;
	int dev = open("/dev/nullb-shallow", O_RDONLY | O_DIRECT);

	CHECK(dev >= 0);
	spare_ctx_open(&c, 4, 0);
	for (int i = 0; i < N; i++) {
		read_atom(&a[i], dev, i);
		firsts[i] = &a[i];
	}
	CHECK_EQ(syslet_submit(c.fd, firsts, N, o, &queued), 0);
	CHECK_EQ(queued, N);
	while (got < N) {
		int n = syslet_wait_reap(c.fd, &c.ring, o, N, 1, WAIT_NS);

		CHECK(n > 0);
		for (int i = 0; i < n; i++) {
			unsigned int k = o[i].cookie - 1000;

			CHECK(k < N);
			CHECK_EQ(o[i].result, BS);
			CHECK_EQ(words[k], BS);
		}
		got += n;
	}
	/* The first read at least went in flight with no thread. */
	CHECK(stat_of(c.fd, "syslet-direct-io") >= 1);
	close(dev);
}

/* A synchronous-only submission reads synchronously, as before. */
TEST(sync_only_reads_synchronously)
{
	struct syslet_atom a, *first = &a;
	struct syslet_outcome o;
	int fd = syslet_open(), dev = open_dev();

	CHECK(fd >= 0);
	read_atom(&a, dev, 3);
	CHECK_EQ(syslet_submit_flags(fd, &first, 1, &o, SYSLET_SUBMIT_SYNC_ONLY, NULL), 1);
	CHECK_EQ(o.result, BS);
	CHECK_EQ(words[3], BS);
	CHECK_EQ(stat_of(fd, "syslet-direct-io"), 0);
}

/* An atom after the read: the usual path (a system call that blocks). */
TEST(a_read_with_an_atom_after_it_takes_the_usual_path)
{
	struct syslet_atom a[2];
	struct syslet_outcome o;
	struct spare_ctx c;
	int dev = open_dev();

	spare_ctx_open(&c, 1, 0);
	read_atom(&a[0], dev, 4);
	syslet_atom_prep(&a[1], SYS_getpid, 0, 0, 0, 0, 0, 0);
	syslet_atom_link(&a[0], &a[1]);
	a[1].cookie = 2;
	o = run_either_way(&c, &a[0]);
	CHECK_EQ(o.cookie, 2);
	CHECK_EQ(o.result, getpid());
	CHECK_EQ(o.atoms_run, 2);
	CHECK_EQ(words[4], BS);
	CHECK_EQ(stat_of(c.fd, "syslet-direct-io"), 0);
}

/* Without O_DIRECT (the page cache), the usual path too. */
TEST(a_buffered_read_takes_the_usual_path)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	struct spare_ctx c;
	int dev = open(DEV, O_RDONLY);

	CHECK(dev >= 0);
	spare_ctx_open(&c, 1, 0);
	read_atom(&a, dev, 5);
	o = run_either_way(&c, &a);
	CHECK_EQ(o.result, BS);
	CHECK_EQ(stat_of(c.fd, "syslet-direct-io"), 0);
}

/* The caller's seccomp filters judge the read before it is queued. */
TEST(seccomp_judges_a_direct_read_first)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	struct spare_ctx c;
	int dev = open_dev();

	spare_ctx_open(&c, 1, 0);
	install_filter(SYS_pread64, SECCOMP_RET_ERRNO | EACCES);
	read_atom(&a, dev, 6);
	CHECK_EQ(syslet_run(c.fd, &a, &o), 1);
	CHECK_EQ(o.result, -EACCES);
	CHECK_EQ(words[6], -EACCES);
	CHECK_EQ(stat_of(c.fd, "syslet-direct-io"), 0);
	CHECK_EQ(stat_of(c.fd, "syslet-seccomp-denied"), 1);
}

/*
 * Errors the system call would give come back synchronously, and the
 * result word of a read in flight must be writable: a read-only word sends
 * the atom down the usual path, where the write fails (EFAULT).
 */
TEST(bad_reads_fail_as_the_system_call_would)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	struct spare_ctx c;
	int dev = open_dev();
	__s64 *ro;

	spare_ctx_open(&c, 1, 0);
	/* A negative offset. */
	read_atom(&a, dev, 7);
	a.args[3] = (__u64)-4096;
	CHECK_EQ(syslet_run(c.fd, &a, &o), 1);
	CHECK_EQ(o.result, -EINVAL);
	/* An unaligned buffer: O_DIRECT refuses it. */
	read_atom(&a, dev, 7);
	a.args[1] = syslet_ptr(bufs[7] + 1);
	CHECK_EQ(syslet_run(c.fd, &a, &o), 1);
	CHECK_EQ(o.result, -EINVAL);
	/* A buffer that is not mapped. */
	read_atom(&a, dev, 7);
	a.args[1] = 4096;
	CHECK_EQ(syslet_run(c.fd, &a, &o), 1);
	CHECK_EQ(o.result, -EFAULT);
	/* A result word that cannot be written. */
	ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ro != MAP_FAILED);
	read_atom(&a, dev, 7);
	syslet_atom_result(&a, ro);
	o = run_either_way(&c, &a);
	CHECK_EQ(o.result, -EFAULT);
	CHECK(o.flags & SYSLET_OUTCOME_ABORTED);
	CHECK_EQ(stat_of(c.fd, "syslet-direct-io"), 0);
}

/*
 * Closing the context with reads in flight: their completions go nowhere,
 * the context goes once the last one is done, and the module can still be
 * unloaded at the end of the suite (the guest's init checks that).
 */
TEST(closing_with_reads_in_flight_loses_nothing_and_leaks_nothing)
{
	struct syslet_atom a[READS], *firsts[READS];
	struct syslet_outcome o[READS];
	unsigned int queued = 0;
	struct spare_ctx c;
	int dev = open_dev();

	for (int round = 0; round < 20; round++) {
		spare_ctx_open(&c, 1, READS);
		for (int i = 0; i < READS; i++) {
			read_atom(&a[i], dev, i);
			firsts[i] = &a[i];
		}
		CHECK_EQ(syslet_submit(c.fd, firsts, READS, o, &queued), 0);
		CHECK_EQ(queued, READS);
		syslet_ring_munmap(&c.ring);
		close(c.fd);
	}
	/* Every result word is written, whoever reaps. */
	for (int i = 0; i < 200; i++) {
		int left = 0;

		for (int k = 0; k < READS; k++)
			left += words[k] != BS;
		if (!left)
			break;
		usleep(10 * 1000);
	}
	for (int k = 0; k < READS; k++)
		CHECK_EQ(words[k], BS);
}

/*
 * A thread-free write to a block device leaves the freeze protection of the
 * file system that holds the device's node alone, as the pwrite64 system
 * call does. Until 2026-12-03 it took it (vfs_iocb_iter_write()) and
 * nothing dropped it: the next FIFREEZE of that file system waited for
 * ever. The node here is on ext2 (busybox's mke2fs, mounted by the ext4
 * driver) on a memory-backed null_blk device. Root only.
 */
TEST(a_direct_write_leaves_the_node_s_file_system_free_to_freeze)
{
	static const char *const attrs[] = { "memory_backed", "1", "size", "16",
					     "blocksize", "4096", NULL };
	const char *dir = "/tmp/direct-freeze", *node = "/tmp/direct-freeze/nullb0";
	struct syslet_atom a, *first = &a;
	struct syslet_outcome o;
	unsigned int queued = 0;
	struct spare_ctx c;
	struct stat st;
	int dev, status = -1;
	pid_t child;

	if (geteuid() != 0) {
		printf("# needs root: runs in the root pass\n");
		return;
	}
	nullb_make("nullb-freeze", attrs);
	CHECK_EQ(system("mke2fs -F -b 4096 /dev/nullb-freeze >/dev/null 2>&1"), 0);
	CHECK(mkdir(dir, 0755) == 0 || errno == EEXIST);
	CHECK(mount("/dev/nullb-freeze", dir, "ext4", 0, NULL) == 0);
	CHECK(stat(DEV, &st) == 0);
	CHECK(mknod(node, S_IFBLK | 0600, st.st_rdev) == 0);
	dev = open(node, O_RDWR | O_DIRECT);
	CHECK(dev >= 0);

	spare_ctx_open(&c, 1, 0);
	syslet_atom_prep(&a, SYS_pwrite64, dev, syslet_ptr(bufs[12]), BS, 12 * BS, 0, 0);
	CHECK_EQ(syslet_submit(c.fd, &first, 1, &o, &queued), 0);
	CHECK_EQ(queued, 1);
	CHECK_EQ(stat_of(c.fd, "syslet-direct-io"), 1);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, &o, 1, 1, WAIT_NS), 1);
	CHECK_EQ(o.result, BS);
	close(dev);

	/* A child freezes: with a hold left behind it would never return. */
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		int fs = open(dir, O_RDONLY);

		_exit(fs >= 0 && ioctl(fs, FIFREEZE, 0) == 0 ? 0 : 1);
	}
	for (int i = 0; i < 100 && waitpid(child, &status, WNOHANG) == 0; i++)
		usleep(50 * 1000);
	if (status == -1)
		FAIL("FIFREEZE still waits after 5 s: a freeze protection hold was left behind");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	status = open(dir, O_RDONLY);
	CHECK(status >= 0 && ioctl(status, FITHAW, 0) == 0);
	close(status);
	CHECK(unlink(node) == 0);
	/* The I/O's file reference went from its completion: fput() defers
	 * it, and the file pins the mount until then. */
	for (int i = 0; i < 100 && umount(dir) != 0; i++) {
		CHECK(errno == EBUSY);
		usleep(50 * 1000);
	}
	CHECK(umount(dir) != 0 && errno == EINVAL);
	nullb_remove("nullb-freeze");
}

/*
 * A bio-based block device (device mapper, md; here brd's RAM disk, which
 * the test kernels build in) takes the usual path: such a device may
 * refuse I/O that must not wait with EAGAIN from its completion, after it
 * was queued. The read still reads. Root only (the node is root's).
 */
TEST(a_bio_based_device_takes_the_usual_path)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	struct spare_ctx c;
	int dev;

	if (geteuid() != 0) {
		printf("# needs root: runs in the root pass\n");
		return;
	}
	dev = open("/dev/ram0", O_RDONLY | O_DIRECT);
	CHECK(dev >= 0);
	spare_ctx_open(&c, 1, 0);
	read_atom(&a, dev, 13);
	o = run_either_way(&c, &a);
	CHECK_EQ(o.result, BS);
	CHECK_EQ(words[13], BS);
	CHECK_EQ(stat_of(c.fd, "syslet-direct-io"), 0);
	close(dev);
}
