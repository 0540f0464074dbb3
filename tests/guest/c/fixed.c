// SPDX-License-Identifier: GPL-2.0
/*
 * Registered buffers (SYSLET_FEAT_FIXED_BUFFERS): SYSLET_IOC_REGISTER_BUFFERS
 * pins buffers once, and a pread64 or pwrite64 atom with
 * SYSLET_ATOM_FIXED_BUFFER that goes thread-free uses those pages instead of
 * pinning its buffer's for each I/O. The data must land where the program
 * reads it, bad requests and bad atoms must fail clearly, the pages count
 * against RLIMIT_MEMLOCK and are given back when the context goes.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <syslet.h>

#include "filter.h"
#include "nap.h"
#include "tap.h"

#define BS 4096
#define WAIT_NS 5000000000LL
/* A memory-backed null_blk device of our own, made through configfs. */
#define MEMDEV_DIR "/sys/kernel/config/nullb/nullb-fixed"
#define MEMDEV "/dev/nullb-fixed"

static char area[16 * BS] __attribute__((aligned(BS)));

/* A registration that must fail with @err; counted in @refused. */
#define REFUSED(expr, err)				\
	do {						\
		CHECK_EQ((expr), -(err));		\
		refused++;				\
	} while (0)

static long stat_of(int fd, const char *name)
{
	return syslet_fdinfo_value(fd, name);
}

/* A fixed-buffer pread64 or pwrite64 (@nr) of @len bytes at @buf, offset @pos. */
static void fixed_atom(struct syslet_atom *a, long nr, int fd, void *buf, size_t len,
		       __u64 pos, unsigned int index)
{
	syslet_atom_prep(a, nr, fd, syslet_ptr(buf), len, pos, 0, 0);
	syslet_atom_fixed_buffer(a, index);
}

/* Runs @a: its outcome, whether it ran synchronously or went asynchronous. */
static struct syslet_outcome run(struct spare_ctx *c, struct syslet_atom *a)
{
	struct syslet_outcome o;

	if (syslet_run(c->fd, a, &o) == 0)
		CHECK_EQ(syslet_wait_reap(c->fd, &c->ring, &o, 1, 1, WAIT_NS), 1);
	return o;
}

/* VmLck of /proc/self/status, in kB: the locked memory charged to us. */
static long vm_locked_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int memdev_open(void)
{
	int fd = -1;

	if (mkdir(MEMDEV_DIR, 0755) != 0 && errno != EEXIST)
		FAIL("mkdir %s: %s", MEMDEV_DIR, strerror(errno));
	CHECK_EQ(tap_write_file(MEMDEV_DIR "/memory_backed", "1"), 0);
	CHECK_EQ(tap_write_file(MEMDEV_DIR "/irqmode", "2"), 0);
	CHECK_EQ(tap_write_file(MEMDEV_DIR "/completion_nsec", "50000"), 0);
	CHECK_EQ(tap_write_file(MEMDEV_DIR "/size", "4"), 0);
	CHECK_EQ(tap_write_file(MEMDEV_DIR "/blocksize", "4096"), 0);
	CHECK_EQ(tap_write_file(MEMDEV_DIR "/power", "1"), 0);
	for (int i = 0; i < 100 && fd < 0; i++) {
		fd = open(MEMDEV, O_RDWR | O_DIRECT);
		if (fd < 0)
			usleep(20 * 1000);
	}
	CHECK(fd >= 0);
	return fd;
}

static void memdev_remove(int fd)
{
	close(fd);
	CHECK_EQ(tap_write_file(MEMDEV_DIR "/power", "0"), 0);
	CHECK_EQ(rmdir(MEMDEV_DIR), 0);
}

TEST(the_feature_is_reported)
{
	struct syslet_query q;
	int fd = syslet_open();

	CHECK(fd >= 0);
	CHECK_EQ(syslet_query(fd, &q), 0);
	CHECK(q.features & SYSLET_FEAT_FIXED_BUFFERS);
}

/*
 * Blocks written from one registered buffer and read back into another, on
 * a device that keeps its data: each I/O went thread-free, and the bytes
 * are where the program looks, at an offset inside a buffer too.
 */
TEST(fixed_writes_and_reads_move_the_right_bytes)
{
	struct iovec iov[2] = { { area, 4 * BS }, { area + 4 * BS, 8 * BS } };
	char *out = area, *in = area + 4 * BS;
	struct syslet_atom a;
	struct syslet_outcome o;
	struct spare_ctx c;
	int dev = memdev_open();

	spare_ctx_open(&c, 1, 0);
	CHECK_EQ(syslet_register_buffers(c.fd, iov, 2), 0);
	CHECK_EQ(stat_of(c.fd, "syslet-registered-buffers"), 2);
	for (int i = 0; i < 4 * BS; i++)
		out[i] = (char)(i * 7 + i / BS);
	memset(in, 0, 8 * BS);
	for (int b = 0; b < 4; b++) {
		fixed_atom(&a, SYS_pwrite64, dev, out + b * BS, BS, (__u64)b * BS, 0);
		o = run(&c, &a);
		CHECK_EQ(o.result, BS);
	}
	/* Two blocks at once, into the middle of buffer 1. */
	fixed_atom(&a, SYS_pread64, dev, in + 3 * BS, 2 * BS, BS, 1);
	o = run(&c, &a);
	CHECK_EQ(o.result, 2 * BS);
	CHECK(memcmp(in + 3 * BS, out + BS, 2 * BS) == 0);
	CHECK_EQ(in[3 * BS - 1], 0);
	CHECK_EQ(in[5 * BS], 0);
	/* The last block, into buffer 0's first page. */
	memset(out, 0, BS);
	fixed_atom(&a, SYS_pread64, dev, out, BS, 3 * BS, 0);
	o = run(&c, &a);
	CHECK_EQ(o.result, BS);
	for (int i = 0; i < BS; i++)
		CHECK_EQ(out[i], (char)((3 * BS + i) * 7 + 3));
	CHECK_EQ(stat_of(c.fd, "syslet-direct-io"), 6);
	CHECK_EQ(stat_of(c.fd, "syslet-went-async"), 0);
	syslet_ring_munmap(&c.ring);
	close(c.fd);
	memdev_remove(dev);
}

/*
 * On the usual path (a regular file: a system call) a fixed-buffer atom
 * reads and writes its buffer in the program's memory, as the call does.
 */
TEST(a_fixed_atom_on_the_usual_path_runs_as_the_call)
{
	struct iovec iov = { area, 2 * BS };
	struct syslet_atom a;
	struct syslet_outcome o;
	struct spare_ctx c;
	int f = open("/tmp/fixed-file", O_RDWR | O_CREAT | O_TRUNC, 0600);

	CHECK(f >= 0);
	spare_ctx_open(&c, 1, 0);
	CHECK_EQ(syslet_register_buffers(c.fd, &iov, 1), 0);
	memcpy(area, "registered", 10);
	fixed_atom(&a, SYS_pwrite64, f, area, 10, 0, 0);
	o = run(&c, &a);
	CHECK_EQ(o.result, 10);
	memset(area, 0, 16);
	fixed_atom(&a, SYS_pread64, f, area + 3, 10, 0, 0);
	o = run(&c, &a);
	CHECK_EQ(o.result, 10);
	CHECK(memcmp(area + 3, "registered", 10) == 0);
	CHECK_EQ(stat_of(c.fd, "syslet-direct-io"), 0);
	unlink("/tmp/fixed-file");
}

/*
 * A buffer the atom does not name correctly: -EFAULT as its result, for
 * the direct path and the usual one alike, and the call does not run (the
 * file is unchanged). A flag on any other call, an index without the flag:
 * the chain ends with -EINVAL.
 */
TEST(bad_fixed_atoms_fail_clearly)
{
	struct iovec iov = { area + BS, 2 * BS };
	struct syslet_atom a;
	struct syslet_outcome o;
	struct spare_ctx c;
	int dev = open("/dev/nullb0", O_RDONLY | O_DIRECT);
	int f = open("/tmp/fixed-bad", O_RDWR | O_CREAT | O_TRUNC, 0600);

	CHECK(dev >= 0 && f >= 0);
	spare_ctx_open(&c, 1, 0);
	/* Nothing registered yet. */
	fixed_atom(&a, SYS_pread64, dev, area + BS, BS, 0, 0);
	CHECK_EQ(syslet_run(c.fd, &a, &o), 1);
	CHECK_EQ(o.result, -EFAULT);
	CHECK_EQ(o.flags, 0);
	CHECK_EQ(syslet_register_buffers(c.fd, &iov, 1), 0);
	/* No buffer 1. */
	fixed_atom(&a, SYS_pread64, dev, area + BS, BS, 0, 1);
	CHECK_EQ(syslet_run(c.fd, &a, &o), 1);
	CHECK_EQ(o.result, -EFAULT);
	/* One byte before, one byte past the buffer; a wrapping range. */
	fixed_atom(&a, SYS_pread64, dev, area + BS - 512, BS, 0, 0);
	CHECK_EQ(syslet_run(c.fd, &a, &o), 1);
	CHECK_EQ(o.result, -EFAULT);
	fixed_atom(&a, SYS_pread64, dev, area + 2 * BS, BS + 1, 0, 0);
	CHECK_EQ(syslet_run(c.fd, &a, &o), 1);
	CHECK_EQ(o.result, -EFAULT);
	fixed_atom(&a, SYS_pread64, dev, area + 2 * BS, (size_t)-BS, 0, 0);
	CHECK_EQ(syslet_run(c.fd, &a, &o), 1);
	CHECK_EQ(o.result, -EFAULT);
	/* The usual path checks the same, and writes nothing. */
	fixed_atom(&a, SYS_pwrite64, f, area, 10, 0, 0);
	CHECK_EQ(syslet_run(c.fd, &a, &o), 1);
	CHECK_EQ(o.result, -EFAULT);
	CHECK_EQ(lseek(f, 0, SEEK_END), 0);
	/* The whole buffer is fine. */
	fixed_atom(&a, SYS_pread64, dev, area + BS, 2 * BS, 0, 0);
	o = run(&c, &a);
	CHECK_EQ(o.result, 2 * BS);
	/* The flag on another call, the vectored ones included. */
	syslet_atom_prep(&a, SYS_getpid, 0, 0, 0, 0, 0, 0);
	syslet_atom_fixed_buffer(&a, 0);
	CHECK_EQ(syslet_run(c.fd, &a, &o), 1);
	CHECK_EQ(o.result, -EINVAL);
	CHECK(o.flags & SYSLET_OUTCOME_ABORTED);
	syslet_atom_prep(&a, SYS_preadv, dev, syslet_ptr(&iov), 1, 0, 0, 0);
	syslet_atom_fixed_buffer(&a, 0);
	CHECK_EQ(syslet_run(c.fd, &a, &o), 1);
	CHECK_EQ(o.result, -EINVAL);
	CHECK(o.flags & SYSLET_OUTCOME_ABORTED);
	/* An index without the flag. */
	syslet_atom_prep(&a, SYS_pread64, dev, syslet_ptr(area + BS), BS, 0, 0, 0);
	a.flags |= SYSLET_ATOM_BUFFER(0x100);
	CHECK_EQ(syslet_run(c.fd, &a, &o), 1);
	CHECK_EQ(o.result, -EINVAL);
	CHECK(o.flags & SYSLET_OUTCOME_ABORTED);
	CHECK_EQ(stat_of(c.fd, "syslet-direct-io"), 1);
	unlink("/tmp/fixed-bad");
}

/* Seccomp judges the pread64 first, as for any atom. */
TEST(seccomp_judges_a_fixed_read_first)
{
	struct iovec iov = { area, BS };
	struct syslet_atom a;
	struct syslet_outcome o;
	struct spare_ctx c;
	int dev = open("/dev/nullb0", O_RDONLY | O_DIRECT);

	CHECK(dev >= 0);
	spare_ctx_open(&c, 1, 0);
	CHECK_EQ(syslet_register_buffers(c.fd, &iov, 1), 0);
	install_filter(SYS_pread64, SECCOMP_RET_ERRNO | EACCES);
	/* Even with a bad buffer: the filter comes first. */
	fixed_atom(&a, SYS_pread64, dev, area + BS, BS, 0, 0);
	CHECK_EQ(syslet_run(c.fd, &a, &o), 1);
	CHECK_EQ(o.result, -EACCES);
	fixed_atom(&a, SYS_pread64, dev, area, BS, 0, 0);
	CHECK_EQ(syslet_run(c.fd, &a, &o), 1);
	CHECK_EQ(o.result, -EACCES);
	CHECK_EQ(stat_of(c.fd, "syslet-direct-io"), 0);
}

/* Bad registrations: EINVAL, EFAULT, ENOMEM, EBUSY; none leaves anything behind. */
TEST(bad_registrations_are_refused)
{
	struct iovec iov[2] = { { area, BS }, { area + BS, BS } };
	struct syslet_buffers b;
	struct iovec many[SYSLET_MAX_BUFFERS + 1];
	void *ro = mmap(NULL, BS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *gone = mmap(NULL, 2 * BS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = syslet_open(), refused = 0;

	CHECK(fd >= 0 && ro != MAP_FAILED && gone != MAP_FAILED);
	CHECK_EQ(munmap((char *)gone + BS, BS), 0);
	REFUSED(syslet_register_buffers(fd, iov, 0), EINVAL);
	for (int i = 0; i <= SYSLET_MAX_BUFFERS; i++)
		many[i] = (struct iovec){ area, BS };
	REFUSED(syslet_register_buffers(fd, many, SYSLET_MAX_BUFFERS + 1), EINVAL);
	iov[1].iov_len = 0;
	REFUSED(syslet_register_buffers(fd, iov, 2), EINVAL);
	iov[1].iov_len = (size_t)SYSLET_MAX_BUFFER_LEN + 1;
	REFUSED(syslet_register_buffers(fd, iov, 2), EINVAL);
	iov[1] = (struct iovec){ (void *)-BS, 2 * BS };
	REFUSED(syslet_register_buffers(fd, iov, 2), EINVAL);
	memset(&b, 0, sizeof(b));
	b.iovecs = syslet_ptr(iov);
	b.nr = 1;
	b.flags = 1;
	REFUSED(syslet_ioctl(fd, SYSLET_IOC_REGISTER_BUFFERS, &b), EINVAL);
	b.flags = 0;
	b.reserved[1] = 1;
	REFUSED(syslet_ioctl(fd, SYSLET_IOC_REGISTER_BUFFERS, &b), EINVAL);
	REFUSED(syslet_ioctl(fd, SYSLET_IOC_REGISTER_BUFFERS, NULL), EFAULT);
	/* The iovec array, a read-only buffer, a buffer partly unmapped. */
	REFUSED(syslet_register_buffers(fd, (struct iovec *)8, 1), EFAULT);
	iov[1] = (struct iovec){ ro, BS };
	REFUSED(syslet_register_buffers(fd, iov, 2), EFAULT);
	iov[1] = (struct iovec){ gone, 2 * BS };
	REFUSED(syslet_register_buffers(fd, iov, 2), EFAULT);
	/* More than the kernel allocates for a table (1024 GiB: 4 GiB of
	 * bio_vecs): ENOMEM, quietly, even with CAP_IPC_LOCK. */
	for (int i = 0; i < SYSLET_MAX_BUFFERS; i++)
		many[i] = (struct iovec){ area, SYSLET_MAX_BUFFER_LEN };
	REFUSED(syslet_register_buffers(fd, many, SYSLET_MAX_BUFFERS), ENOMEM);
	CHECK_EQ(vm_locked_kb(), 0);
	CHECK_EQ(stat_of(fd, "syslet-registered-buffers"), 0);
	/* After all that, a good one; then no second. */
	iov[1] = (struct iovec){ area + BS, BS };
	CHECK_EQ(syslet_register_buffers(fd, iov, 2), 0);
	CHECK_EQ(stat_of(fd, "syslet-registered-buffers"), 2);
	REFUSED(syslet_register_buffers(fd, iov, 2), EBUSY);
	CHECK_EQ(stat_of(fd, "syslet-registered-buffers"), 2);
	printf("# hardening: bad registrations (counts, lengths, wrapping ranges, flags, reserved words, "
	       "bad pointers, read-only and unmapped buffers, 1,024 GiB as root, a second one) | %d | "
	       "each refused with its errno, nothing pinned or charged (VmLck 0)\n", refused);
}

/*
 * The pages count against RLIMIT_MEMLOCK for a caller without
 * CAP_IPC_LOCK, and are given back when the context goes.
 */
TEST(registered_pages_count_against_rlimit_memlock)
{
	struct rlimit limit = { 64 * 1024, 64 * 1024 };
	struct iovec big = { area, 16 * BS }, small = { area, 12 * BS };
	int fd1 = syslet_open(), fd2 = syslet_open();

	CHECK(fd1 >= 0 && fd2 >= 0);
	CHECK_EQ(tap_become_nobody(), 0);
	CHECK_EQ(setrlimit(RLIMIT_MEMLOCK, &limit), 0);
	CHECK_EQ(vm_locked_kb(), 0);
	/* 17 pages: area is page-aligned, 16 of its pages and none more. */
	big.iov_len = 16 * BS + 1;
	CHECK_EQ(syslet_register_buffers(fd1, &big, 1), -ENOMEM);
	CHECK_EQ(vm_locked_kb(), 0);
	CHECK_EQ(syslet_register_buffers(fd1, &small, 1), 0);
	CHECK_EQ(vm_locked_kb(), 48);
	CHECK_EQ(syslet_register_buffers(fd2, &small, 1), -ENOMEM);
	CHECK_EQ(close(fd1), 0);
	CHECK_EQ(vm_locked_kb(), 0);
	CHECK_EQ(syslet_register_buffers(fd2, &small, 1), 0);
	CHECK_EQ(vm_locked_kb(), 48);
}

/*
 * Closing a context with fixed reads in flight: the pages stay pinned until
 * the last completes, then go with the context (the guest's kernel log and
 * kmemleak are checked at the end of the suite).
 */
TEST(closing_with_fixed_reads_in_flight_loses_nothing)
{
	struct syslet_atom a[16], *firsts[16];
	struct syslet_outcome o[16];
	struct iovec iov = { area, sizeof(area) };
	static __s64 words[16];
	unsigned int queued = 0;
	int dev = open("/dev/nullb0", O_RDONLY | O_DIRECT);

	CHECK(dev >= 0);
	for (int round = 0; round < 20; round++) {
		struct spare_ctx c;

		spare_ctx_open(&c, 1, 0);
		CHECK_EQ(syslet_register_buffers(c.fd, &iov, 1), 0);
		for (int i = 0; i < 16; i++) {
			fixed_atom(&a[i], SYS_pread64, dev, area + i * BS, BS, (__u64)i * BS, 0);
			syslet_atom_result(&a[i], &words[i]);
			words[i] = -1;
			firsts[i] = &a[i];
		}
		CHECK_EQ(syslet_submit(c.fd, firsts, 16, o, &queued), 0);
		CHECK_EQ(queued, 16);
		syslet_ring_munmap(&c.ring);
		close(c.fd);
	}
	for (int i = 0; i < 200; i++) {
		int left = 0;

		for (int k = 0; k < 16; k++)
			left += words[k] != BS;
		if (!left)
			break;
		usleep(10 * 1000);
	}
	for (int k = 0; k < 16; k++)
		CHECK_EQ(words[k], BS);
	/* The last context goes a moment after its last read completed. */
	for (int i = 0; i < 200 && vm_locked_kb() != 0; i++)
		usleep(10 * 1000);
	CHECK_EQ(vm_locked_kb(), 0);
}

/*
 * After execve() a context kept across it (no O_CLOEXEC) still holds the
 * buffers the old image registered, pinned in a memory map that is gone. A
 * fixed atom of the new image must not reach them, even one whose buffer
 * lies at the registered address (this program's own static area, at the
 * same place in both images): its result is -EFAULT on the thread-free path
 * and the usual one, and nothing is read into the new image. The new image
 * runs this before main() when SYSLET_FIXED_AFTER_EXEC names the
 * descriptors, and exits 0 if both atoms were refused so.
 */
__attribute__((constructor)) static void fixed_after_exec(void)
{
	const char *env = getenv("SYSLET_FIXED_AFTER_EXEC");
	int fd, targets[2];

	if (!env || sscanf(env, "%d:%d:%d", &fd, &targets[0], &targets[1]) != 3)
		return;
	memset(area, 0x5a, 2 * BS);
	for (int i = 0; i < 2; i++) {
		struct syslet_atom a;
		struct syslet_outcome o;

		fixed_atom(&a, SYS_pread64, targets[i], area, BS, 0, 0);
		if (syslet_run(fd, &a, &o) != 1)
			_exit(20 + i);
		if (o.result != -EFAULT)
			_exit(30 + i);
	}
	for (int i = 0; i < 2 * BS; i++)
		if (area[i] != 0x5a)
			_exit(40);
	_exit(0);
}

TEST(a_fixed_atom_after_execve_reaches_no_registered_page)
{
	int status;
	pid_t child = fork();

	CHECK(child >= 0);
	if (child == 0) {
		static char block[BS];
		struct iovec iov = { area, 2 * BS };
		struct syslet_setup s = { 0 };
		struct syslet_atom a;
		struct syslet_outcome o;
		/* All three kept across the exec. */
		int fd = open(SYSLET_DEVICE, O_RDWR);
		int dev = open("/dev/nullb0", O_RDONLY | O_DIRECT);
		int file = open("/tmp/fixed-exec", O_RDWR | O_CREAT | O_TRUNC, 0600);
		char env[64];

		memset(block, 'd', BS);
		if (fd < 0 || dev < 0 || file < 0 || pwrite(file, block, BS, 0) != BS ||
		    syslet_setup(fd, &s) != 0 || syslet_register_buffers(fd, &iov, 1) != 0)
			_exit(2);
		/* Before the exec the same atom reads into the registered buffer. */
		fixed_atom(&a, SYS_pread64, file, area, BS, 0, 0);
		if (syslet_run(fd, &a, &o) != 1 || o.result != BS || area[0] != 'd')
			_exit(3);
		snprintf(env, sizeof(env), "%d:%d:%d", fd, dev, file);
		setenv("SYSLET_FIXED_AFTER_EXEC", env, 1);
		execl("/proc/self/exe", "fixed-after-exec", (char *)NULL);
		_exit(4);
	}
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	unlink("/tmp/fixed-exec");
}
