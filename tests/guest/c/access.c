// SPDX-License-Identifier: GPL-2.0
/*
 * Who may open /dev/syslet: the node's mode (the kernel makes it 0600,
 * root) and the module's `disabled` and `group` parameters (io_uring's
 * io_uring_disabled and io_uring_group). The cases reload the module with
 * parameters; the last one puts it back as the guest's init left it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <syslet.h>

#include "tap.h"

#define GROUP 4242

/* Reloads the module with @params; the node comes back with the kernel's mode. */
static int reload(const char *params)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rmmod syslet && insmod /lib/syslet.ko %s", params);
	if (system(cmd) != 0)
		return -1;
	/* devtmpfs makes the node as the device registers. */
	for (int i = 0; i < 100 && access("/dev/syslet", F_OK) != 0; i++)
		usleep(10 * 1000);
	return access("/dev/syslet", F_OK);
}

/* errno of open() of /dev/syslet as @uid:@gid with @group, in a child. */
static int open_as(unsigned int uid, unsigned int gid, unsigned int group)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		int fd;

		if (tap_become(uid, gid, group) != 0)
			_exit(255);
		fd = syslet_open();
		_exit(fd >= 0 ? 0 : errno);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

TEST(the_kernel_makes_the_node_root_only)
{
	struct stat st;

	CHECK_EQ(reload(""), 0);
	CHECK_EQ(stat("/dev/syslet", &st), 0);
	CHECK(S_ISCHR(st.st_mode));
	CHECK_EQ(st.st_mode & 07777, 0600);
	CHECK_EQ(st.st_uid, 0);
	CHECK_EQ(open_as(1000, 1000, 0), EACCES);
	CHECK_EQ(open_as(0, 0, 0), 0);
	/* The administrator grants it, e.g. to a group. */
	CHECK_EQ(chown("/dev/syslet", 0, GROUP), 0);
	CHECK_EQ(chmod("/dev/syslet", 0660), 0);
	CHECK_EQ(open_as(1000, 1000, GROUP), 0);
	CHECK_EQ(open_as(1000, 1000, 0), EACCES);
}

TEST(disabled_2_refuses_everyone)
{
	CHECK_EQ(reload("disabled=2"), 0);
	CHECK_EQ(chmod("/dev/syslet", 0666), 0);
	CHECK_EQ(open_as(0, 0, 0), EPERM);
	CHECK_EQ(open_as(1000, 1000, GROUP), EPERM);
}

TEST(disabled_1_admits_the_admin_and_the_group)
{
	CHECK_EQ(reload("disabled=1 group=4242"), 0);
	CHECK_EQ(chmod("/dev/syslet", 0666), 0);
	CHECK_EQ(open_as(0, 0, 0), 0);
	CHECK_EQ(open_as(1000, 1000, GROUP), 0);
	CHECK_EQ(open_as(1000, GROUP, 0), 0);	/* primary group counts too */
	CHECK_EQ(open_as(1000, 1000, 0), EPERM);
	CHECK_EQ(open_as(TAP_NOBODY, TAP_NOBODY, 0), EPERM);
}

TEST(a_context_made_before_keeps_working)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	int fd;

	CHECK_EQ(reload("disabled=1"), 0);
	fd = syslet_open();	/* root: CAP_SYS_ADMIN */
	CHECK(fd >= 0);
	CHECK_EQ(tap_become_nobody(), 0);
	CHECK(syslet_open() < 0 && errno == EACCES);	/* node is 0600 */
	syslet_atom_prep(&a, SYS_getpid, 0, 0, 0, 0, 0, 0);
	CHECK_EQ(syslet_run_sync(fd, &a, &o), 0);
	CHECK_EQ(o.result, getpid());
}

TEST(module_back_to_the_guest_defaults)
{
	CHECK_EQ(reload(""), 0);
	CHECK_EQ(chmod("/dev/syslet", 0666), 0);
	CHECK_EQ(open_as(TAP_NOBODY, TAP_NOBODY, 0), 0);
	printf("# hardening: opens by root, group members and others under node mode 0600/0660 "
	       "and disabled=0/1/2 (c-access, every case) | 13 | each allowed or refused as "
	       "documented\n");
}
