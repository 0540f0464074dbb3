// SPDX-License-Identifier: GPL-2.0
/*
 * Built with -m32: a 32-bit program, whose ioctls take the compat path.
 * /dev/syslet refuses them all with ENOTTY (atoms are x86-64 system calls,
 * and a takeover moves a 64-bit user context only). Exits 0 if every
 * command was refused that way; takeover.c runs it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/syslet.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void)
{
	static const unsigned long cmds[] = {
		SYSLET_IOC_QUERY, SYSLET_IOC_SETUP, SYSLET_IOC_SUBMIT, SYSLET_IOC_WAIT,
	};
	char arg[256] = { 0 };
	int fd = open("/dev/syslet", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		perror("open /dev/syslet");
		return 1;
	}
	for (unsigned int i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		errno = 0;
		if (ioctl(fd, cmds[i], arg) != -1 || errno != ENOTTY) {
			printf("# compat ioctl %#lx: errno %d, wanted ENOTTY\n", cmds[i], errno);
			return 2;
		}
	}
	return 0;
}
