// SPDX-License-Identifier: GPL-2.0
/*
 * The demo `make run` shows in the guest:
 *  1. a chain of three system calls (openat -> read -> close, each taking
 *     the file descriptor the first one returned) run by /dev/syslet in one
 *     ioctl, synchronously, in the caller's context;
 *  2. a chain that blocks (a read from an empty pipe): a spare thread takes
 *     over the caller, the ioctl returns "queued" and the program carries
 *     on -- it even feeds the pipe itself -- while the read completes in
 *     the kernel; its completion is then reaped.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/syscall.h>
#include <syslet.h>

static void show_fdinfo(int fd)
{
	char path[64], text[1024];
	ssize_t n;
	int info;

	snprintf(path, sizeof(path), "/proc/thread-self/fdinfo/%d", fd);
	info = open(path, O_RDONLY);
	n = info >= 0 ? read(info, text, sizeof(text) - 1) : -1;
	if (n > 0) {
		text[n] = '\0';
		printf("%s", text);
	}
	if (info >= 0)
		close(info);
}

int main(void)
{
	const char *path = "/proc/version";
	struct syslet_query q;
	struct syslet_atom a[3];
	struct syslet_outcome o;
	__s64 file = -1, n = -1;
	char buf[256] = { 0 };
	int fd, ret;

	fd = syslet_open();
	if (fd < 0 || syslet_query(fd, &q) < 0) {
		fprintf(stderr, "demo: /dev/syslet: %s\n", strerror(fd < 0 ? -fd : errno));
		return 1;
	}
	printf("demo: /dev/syslet speaks ABI version %u, features %#llx\n",
	       q.abi_version, (unsigned long long)q.features);
	/* One spare thread, parked, ready to take over a caller that blocks;
	 * completions come back through a ring mapped into our memory. */
	struct syslet_setup setup = { .spares = 1 };
	struct syslet_ring_map ring = { 0 };

	ret = syslet_setup(fd, &setup);
	if (ret == 0)
		ret = syslet_ring_mmap(fd, &setup, &ring);
	if (ret < 0) {
		fprintf(stderr, "demo: set-up: %s\n", strerror(-ret));
		return 1;
	}

	syslet_atom_prep(&a[0], SYS_openat, AT_FDCWD, syslet_ptr(path), O_RDONLY, 0, 0, 0);
	syslet_atom_flags(&a[0], SYSLET_ATOM_STOP_NEGATIVE);
	syslet_atom_result(&a[0], &file);
	syslet_atom_link(&a[0], &a[1]);
	syslet_atom_prep(&a[1], SYS_read, 0, syslet_ptr(buf), sizeof(buf) - 1, 0, 0, 0);
	syslet_atom_arg_ptr(&a[1], 0, &file);
	syslet_atom_result(&a[1], &n);
	syslet_atom_link(&a[1], &a[2]);
	syslet_atom_prep(&a[2], SYS_close, 0, 0, 0, 0, 0, 0);
	syslet_atom_arg_ptr(&a[2], 0, &file);
	a[2].cookie = 0xc0ffee;

	printf("demo: one ioctl runs openat(\"%s\") -> read(fd) -> close(fd)\n", path);
	ret = syslet_run_sync(fd, &a[0], &o);
	if (ret < 0) {
		fprintf(stderr, "demo: SYSLET_IOC_SUBMIT: %s\n", strerror(-ret));
		return 1;
	}
	printf("demo: %u atoms ran synchronously; openat gave fd %lld, read %lld bytes:\n",
	       o.atoms_run, (long long)file, (long long)n);
	printf("demo:   %s", buf);
	printf("demo: the chain ended at cookie %#llx with result %lld\n",
	       (unsigned long long)o.cookie, (long long)o.result);
	if (o.atoms_run != 3 || o.result != 0)
		return 1;

	/* 2. A chain that blocks. */
	struct syslet_atom r;
	char msg[32] = { 0 };
	__s64 got = -1;
	int p[2];
	pid_t tid = gettid();

	if (pipe(p) < 0) {
		perror("demo: pipe");
		return 1;
	}
	syslet_atom_prep(&r, SYS_read, p[0], syslet_ptr(msg), sizeof(msg) - 1, 0, 0, 0);
	syslet_atom_result(&r, &got);
	r.cookie = 0xb10c;
	printf("\ndemo: thread %d submits read() from an empty pipe\n", tid);
	ret = syslet_run(fd, &r, &o);
	if (ret != 0) {
		fprintf(stderr, "demo: expected the chain to go asynchronous (%d)\n", ret);
		return 1;
	}
	printf("demo: the ioctl returned \"queued\" at once; the program carries on as thread %d\n",
	       gettid());
	printf("demo: the read is still blocked in the kernel (result slot: %lld); feeding the pipe\n",
	       (long long)got);
	if (write(p[1], "cachemiss done", 14) != 14)
		return 1;
	ret = syslet_wait_reap(fd, &ring, &o, 1, 1, 5000000000LL);
	if (ret != 1) {
		fprintf(stderr, "demo: SYSLET_IOC_WAIT: %d\n", ret);
		return 1;
	}
	printf("demo: completion read from the mmap'd ring: cookie %#llx, result %lld, buffer \"%s\"\n",
	       (unsigned long long)o.cookie, (long long)o.result, msg);
	printf("demo: fdinfo of the context (seen from the thread that carries on):\n");
	show_fdinfo(fd);
	close(fd);
	return o.cookie == 0xb10c && o.result == 14 ? 0 : 1;
}
