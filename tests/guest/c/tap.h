/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small TAP harness for the in-guest C tests, after kselftest_harness.h:
 * each TEST() runs in a forked child, so a crash or a hang fails that case
 * only; CHECK() ends the case at the first failed condition and says where.
 *
 *   TEST(name) { int fd = open(...); CHECK(fd >= 0); CHECK_ERR(ioctl(...), EFAULT); }
 *
 * Output: "ok N name" or "not ok N name", with "# ..." lines for details.
 * The program exits 0 only when every case passed.
 */
#ifndef SYSLET_TAP_H
#define SYSLET_TAP_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TAP_MAX_TESTS 256
#define TAP_TIMEOUT_S 120

struct tap_test {
	const char *name;
	void (*fn)(void);
	int line;
};

/* The user the unprivileged cases run as. */
#define TAP_NOBODY 65534

/* Drops every privilege of the calling process: uid and gid nobody, no
 * supplementary groups, no capabilities left. 0 or -1. */
int setgroups(size_t size, const unsigned int *list);
static inline int tap_become(unsigned int uid, unsigned int gid, unsigned int group)
{
	unsigned int groups[1] = { group };

	if (setgroups(group ? 1 : 0, groups) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
		return -1;
	return geteuid() == uid && getegid() == gid ? 0 : -1;
}

static inline int tap_become_nobody(void)
{
	return tap_become(TAP_NOBODY, TAP_NOBODY, 0);
}

/* Writes @text to the file @path; 0 or -1. */
static inline int tap_write_file(const char *path, const char *text)
{
	int f = open(path, O_WRONLY);
	ssize_t len = (ssize_t)strlen(text), n;

	if (f < 0)
		return -1;
	n = write(f, text, len);
	close(f);
	return n == len ? 0 : -1;
}

/* Reads the file @path into @buf as a string; its length, or -1. */
static inline ssize_t tap_read_text(const char *path, char *buf, size_t size)
{
	int f = open(path, O_RDONLY);
	ssize_t len;

	if (f < 0)
		return -1;
	len = read(f, buf, size - 1);
	close(f);
	if (len < 0)
		return -1;
	buf[len] = '\0';
	return len;
}

/* A thread body that writes "later" (5 bytes) to @fd after @delay_ms. */
struct tap_feeder {
	int fd;
	unsigned int delay_ms;
};

static inline void *tap_feed_later(void *arg)
{
	struct tap_feeder *f = arg;

	usleep(f->delay_ms * 1000);
	if (write(f->fd, "later", 5) != 5)
		abort();
	return NULL;
}

/* Live (not zombie) threads of this process, from /proc/self/task. */
static inline int tap_live_threads(void)
{
	struct dirent *d;
	DIR *dir = opendir("/proc/self/task");
	int n = 0;

	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		char path[300], stat[512], *state;
		ssize_t len;
		int f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", d->d_name);
		f = open(path, O_RDONLY);
		if (f < 0)
			continue;
		len = read(f, stat, sizeof(stat) - 1);
		close(f);
		if (len <= 0)
			continue;
		stat[len] = '\0';
		state = strrchr(stat, ')');
		if (state && state[1] == ' ' && state[2] != 'Z' && state[2] != 'X')
			n++;
	}
	closedir(dir);
	return n;
}

/*
 * The process's thread count as the kernel keeps it (signal->nr_threads,
 * "Threads:" in /proc/self/status): one atomic reading. Counting the
 * entries of /proc/self/task is not one while cachemisses run: a hand-off
 * moves thread ids and the leadership between tasks, so a directory walk
 * can meet one task under two ids (or miss one).
 */
static inline int tap_thread_count(void)
{
	char line[128];
	FILE *f = fopen("/proc/self/status", "r");
	int n = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

static struct tap_test tap_tests[TAP_MAX_TESTS];
static int tap_count;

static inline void tap_register(const char *name, void (*fn)(void), int line)
{
	if (tap_count < TAP_MAX_TESTS)
		tap_tests[tap_count++] = (struct tap_test){ name, fn, line };
}

#define TEST(name)							\
	static void test_##name(void);					\
	__attribute__((constructor)) static void tap_reg_##name(void)	\
	{								\
		tap_register(#name, test_##name, __LINE__);		\
	}								\
	static void test_##name(void)

#define FAIL(...)							\
	do {								\
		printf("# %s:%d: ", __FILE__, __LINE__);		\
		printf(__VA_ARGS__);					\
		printf("\n");						\
		fflush(stdout);						\
		_exit(1);						\
	} while (0)

#define CHECK(cond)							\
	do {								\
		if (!(cond))						\
			FAIL("check failed: %s (errno %d: %s)", #cond,	\
			     errno, strerror(errno));			\
	} while (0)

/* Expect a call that returns -1 and sets errno to @err. */
#define CHECK_ERR(expr, err)						\
	do {								\
		errno = 0;						\
		long __r = (long)(expr);				\
		if (__r != -1 || errno != (err))			\
			FAIL("%s returned %ld, errno %d (%s); wanted -1, %s", \
			     #expr, __r, errno, strerror(errno), #err);	\
	} while (0)

#define CHECK_EQ(a, b)							\
	do {								\
		long long __a = (long long)(a), __b = (long long)(b);	\
		if (__a != __b)						\
			FAIL("%s == %lld, wanted %s == %lld", #a, __a, #b, __b); \
	} while (0)

static int tap_cmp(const void *a, const void *b)
{
	return ((const struct tap_test *)a)->line - ((const struct tap_test *)b)->line;
}

int main(void)
{
	int failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	qsort(tap_tests, tap_count, sizeof(tap_tests[0]), tap_cmp);
	printf("1..%d\n", tap_count);
	for (int i = 0; i < tap_count; i++) {
		int status;
		pid_t pid;

		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			const char *t = getenv("TAP_TIMEOUT");

			alarm(t ? (unsigned int)atoi(t) : TAP_TIMEOUT_S);
			tap_tests[i].fn();
			fflush(stdout);
			_exit(0);
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid) {
			printf("not ok %d %s # fork/wait failed\n", i + 1, tap_tests[i].name);
			failed++;
			continue;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("ok %d %s\n", i + 1, tap_tests[i].name);
		} else {
			if (WIFSIGNALED(status))
				printf("# killed by signal %d%s\n", WTERMSIG(status),
				       WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
			printf("not ok %d %s\n", i + 1, tap_tests[i].name);
			failed++;
		}
	}
	return failed ? 1 : 0;
}

#endif /* SYSLET_TAP_H */
