// SPDX-License-Identifier: GPL-2.0
/*
 * The demo `make run` shows in the guest: what /dev/syslet offers today.
 */
#include <fcntl.h>
#include <linux/syslet.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void)
{
	struct syslet_query q;
	char path[64], text[1024];
	ssize_t n;
	int fd, info;

	fd = open("/dev/syslet", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		perror("open /dev/syslet");
		return 1;
	}
	if (ioctl(fd, SYSLET_IOC_QUERY, &q) < 0) {
		perror("SYSLET_IOC_QUERY");
		return 1;
	}
	printf("demo: /dev/syslet speaks ABI version %u (query size %u, features %#llx)\n",
	       q.abi_version, q.query_size, (unsigned long long)q.features);

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	info = open(path, O_RDONLY);
	n = info >= 0 ? read(info, text, sizeof(text) - 1) : -1;
	if (n > 0) {
		text[n] = '\0';
		printf("demo: %s", text);
	}
	close(fd);
	return 0;
}
