// SPDX-License-Identifier: GPL-2.0
/*
 * The programs built on syslets, run as a user would: the Rust crate's
 * example (user/rust/examples/read_file.rs), and syslet-du (user/du)
 * against the guest's
 * du (busybox's, the only one the guest has): the same lines, in the same
 * order, in every mode, on a tree with nested directories, files of several
 * sizes, a hard link (counted once), a symbolic link to a directory (not
 * followed) and a directory too big for one getdents64 buffer; and plain
 * calls when /dev/syslet cannot be opened.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "tap.h"

#define TREE "/tmp/du-tree"
#define OUT_MAX (64 * 1024)

static void make_file(const char *path, size_t size)
{
	static char block[4096];
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);

	CHECK(fd >= 0);
	memset(block, 'x', sizeof(block));
	while (size) {
		size_t n = size < sizeof(block) ? size : sizeof(block);

		CHECK_EQ(write(fd, block, n), (ssize_t)n);
		size -= n;
	}
	close(fd);
}

/* The tree, made once per case (each case runs in its own process). */
static void make_tree(void)
{
	char path[256];

	if (access(TREE "/done", F_OK) == 0)
		return;
	CHECK(mkdir(TREE, 0755) == 0 || errno == EEXIST);
	for (int a = 0; a < 3; a++) {
		snprintf(path, sizeof(path), TREE "/a%d", a);
		CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
		for (int b = 0; b < 3; b++) {
			snprintf(path, sizeof(path), TREE "/a%d/b%d", a, b);
			CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
			for (int f = 0; f < 5; f++) {
				snprintf(path, sizeof(path), TREE "/a%d/b%d/f%d", a, b, f);
				make_file(path, (size_t)f * 3000);
			}
		}
	}
	make_file(TREE "/a0/big", 300000);
	CHECK(link(TREE "/a0/big", TREE "/a2/b2/link-to-big") == 0 || errno == EEXIST);
	CHECK(symlink("../a0", TREE "/a1/symlink-to-a0") == 0 || errno == EEXIST);
	/* 1,500 names of 60 bytes: about 120 KiB of getdents64 records. */
	CHECK(mkdir(TREE "/wide", 0755) == 0 || errno == EEXIST);
	for (int f = 0; f < 1500; f++) {
		snprintf(path, sizeof(path),
			 TREE "/wide/a-file-name-long-enough-to-fill-getdents-buffers-%05d", f);
		make_file(path, 10);
	}
	make_file(TREE "/done", 0);
}

/*
 * Runs @cmd with sh, its output in @out: stdout, and stderr too with
 * @with_err 1; with -1, @cmd redirects as it likes.
 */
static int run(const char *cmd, char *out, size_t size, int with_err)
{
	char line[512];
	size_t len = 0;
	FILE *p;

	snprintf(line, sizeof(line), "%s%s", cmd,
		 with_err < 0 ? "" : with_err ? " 2>&1" : " 2>/dev/null");
	p = popen(line, "r");
	CHECK(p != NULL);
	while (len + 1 < size) {
		size_t n = fread(out + len, 1, size - 1 - len, p);

		if (n == 0)
			break;
		len += n;
	}
	out[len] = '\0';
	return pclose(p);
}

static char want[OUT_MAX], got[OUT_MAX];

static void same_as_du(const char *du_args, const char *ours)
{
	char cmd[256];

	make_tree();
	snprintf(cmd, sizeof(cmd), "busybox du %s " TREE, du_args);
	CHECK_EQ(run(cmd, want, sizeof(want), 0), 0);
	CHECK(strlen(want) > 0);
	snprintf(cmd, sizeof(cmd), "/bin/syslet-du %s " TREE, ours);
	CHECK_EQ(run(cmd, got, sizeof(got), 0), 0);
	if (strcmp(want, got) != 0) {
		printf("# du %s:\n%s# syslet-du %s:\n%s", du_args, want, ours, got);
		FAIL("syslet-du %s differs from du %s", ours, du_args);
	}
}

TEST(syslet_mode_prints_what_du_prints)
{
	same_as_du("-k", "--mode syslet");
}

TEST(plain_mode_prints_what_du_prints)
{
	same_as_du("-k", "--mode plain");
}

TEST(pool_mode_prints_what_du_prints)
{
	same_as_du("-k", "--mode pool --threads 3");
}

TEST(reading_every_file_changes_nothing)
{
	same_as_du("-k", "--mode syslet --read");
}

TEST(summary_prints_what_du_s_prints)
{
	same_as_du("-sk", "-s");
}

/* A user who may not open /dev/syslet: a note, and plain calls. */
TEST(without_the_device_it_falls_back_to_plain_calls)
{
	struct stat st;
	int status;
	pid_t pid;

	make_tree();
	CHECK_EQ(run("busybox du -k " TREE, want, sizeof(want), 0), 0);
	CHECK_EQ(stat("/dev/syslet", &st), 0);
	CHECK_EQ(chmod("/dev/syslet", 0600), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		CHECK_EQ(tap_become_nobody(), 0);
		CHECK(access("/dev/syslet", R_OK | W_OK) != 0);
		CHECK_EQ(run("/bin/syslet-du " TREE, got, sizeof(got), 0), 0);
		CHECK(strcmp(want, got) == 0);
		/* Only stderr: the note. */
		CHECK_EQ(run("/bin/syslet-du -s " TREE " 2>&1 >/dev/null", got, sizeof(got), -1), 0);
		CHECK(strstr(got, "plain calls instead") != NULL);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	/* The node as it was, for the programs after this one. */
	CHECK_EQ(chmod("/dev/syslet", st.st_mode & 07777), 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(bad_arguments_are_refused)
{
	CHECK_EQ(WEXITSTATUS(run("/bin/syslet-du --mode fast /tmp", got, sizeof(got), 1)), 2);
	CHECK(strstr(got, "usage:") != NULL);
	CHECK_EQ(WEXITSTATUS(run("/bin/syslet-du /does-not-exist", got, sizeof(got), 1)), 1);
	CHECK(strstr(got, "No such file or directory") != NULL);
}

/* The crate's example: a file read by one chain, safe Rust only. */
TEST(the_crates_example_reads_a_file)
{
	make_file("/tmp/example-input", 0);
	CHECK_EQ(tap_write_file("/tmp/example-input", "hello from a chain\n"), 0);
	CHECK_EQ(run("/bin/syslet-read-file /tmp/example-input", got, sizeof(got), 1), 0);
	if (!strstr(got, "19 of 19 bytes") || !strstr(got, "hello from a chain")) {
		printf("# %s", got);
		FAIL("unexpected output");
	}
}
