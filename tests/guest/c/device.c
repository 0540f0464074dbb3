// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/syslet as a device: the node, opening, the version/feature query,
 * error returns for bad ioctls and bad pointers, fdinfo, and the module
 * reference an open file holds.
 */
#include <fcntl.h>
#include <linux/syslet.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>

#include "tap.h"

#define MISC_MAJOR 10

static int open_syslet(void)
{
	int fd = open("/dev/syslet", O_RDWR | O_CLOEXEC);

	CHECK(fd >= 0);
	return fd;
}

TEST(node_is_misc_char_device)
{
	struct stat st;

	CHECK(stat("/dev/syslet", &st) == 0);
	CHECK(S_ISCHR(st.st_mode));
	CHECK_EQ(major(st.st_rdev), MISC_MAJOR);
}

TEST(query_reports_abi_version)
{
	struct syslet_query q;
	int fd = open_syslet();

	memset(&q, 0xa5, sizeof(q));
	CHECK(ioctl(fd, SYSLET_IOC_QUERY, &q) == 0);
	CHECK_EQ(q.abi_version, SYSLET_ABI_VERSION);
	CHECK_EQ(q.query_size, sizeof(q));
	for (unsigned int i = 0; i < sizeof(q.reserved) / sizeof(q.reserved[0]); i++)
		CHECK_EQ(q.reserved[i], 0);
}

TEST(query_null_pointer_is_efault)
{
	int fd = open_syslet();

	CHECK_ERR(ioctl(fd, SYSLET_IOC_QUERY, NULL), EFAULT);
}

TEST(query_into_readonly_memory_is_efault)
{
	int fd = open_syslet();
	void *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(ro != MAP_FAILED);
	CHECK_ERR(ioctl(fd, SYSLET_IOC_QUERY, ro), EFAULT);
}

TEST(query_into_kernel_address_is_efault)
{
	int fd = open_syslet();

	CHECK_ERR(ioctl(fd, SYSLET_IOC_QUERY, (void *)0xffffffff81000000UL), EFAULT);
}

TEST(unknown_ioctl_is_enotty)
{
	int fd = open_syslet();
	char buf[64] = { 0 };

	CHECK_ERR(ioctl(fd, _IOR(SYSLET_IOC_MAGIC, 0x1f, struct syslet_query), buf), ENOTTY);
	/* The query's number with another size is another command. */
	CHECK_ERR(ioctl(fd, _IOR(SYSLET_IOC_MAGIC, 0x00, __u64), buf), ENOTTY);
	CHECK_ERR(ioctl(fd, _IO('T', 0x01), 0), ENOTTY);
}

TEST(fdinfo_shows_abi_and_owner)
{
	char path[64], text[1024];
	int fd = open_syslet();
	int info;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	info = open(path, O_RDONLY);
	CHECK(info >= 0);
	n = read(info, text, sizeof(text) - 1);
	CHECK(n > 0);
	text[n] = '\0';
	CHECK(strstr(text, "syslet-abi:\t1\n") != NULL);
	snprintf(path, sizeof(path), "syslet-owner-tgid:\t%d\n", getpid());
	if (!strstr(text, path))
		FAIL("no \"%s\" in fdinfo:\n%s", path, text);
}

TEST(open_file_pins_the_module)
{
	int fd = open_syslet();

	/* O_NONBLOCK: fail at once instead of waiting for the last user. */
	CHECK_ERR(syscall(SYS_delete_module, "syslet", O_NONBLOCK), EWOULDBLOCK);
	close(fd);
}
