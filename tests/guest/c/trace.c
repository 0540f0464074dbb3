// SPDX-License-Identifier: GPL-2.0
/*
 * The module's trace events (tracefs events/syslet/): a chain that goes
 * asynchronous shows submit, hand-off (the program keeps its thread id),
 * the atom with its result and the completion, in that order; a synchronous
 * chain shows its atoms and no hand-off; cancel, deadline and a completion
 * that spills into the overflow have their events too.
 *
 * The events go to the global trace buffer, so each case clears it first
 * and looks only for its own cookies. Needs CONFIG_EVENT_TRACING, which the
 * debug kernel's config fragment asks for; without tracefs the cases skip.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <syslet.h>

#include "nap.h"
#include "tap.h"

#define TRACEFS "/sys/kernel/tracing"
#define TRACE_MAX (256 * 1024)

static const char *const events[] = {
	"syslet_submit", "syslet_atom", "syslet_handoff",
	"syslet_complete", "syslet_cancel", "syslet_timeout",
};

static char trace_text[TRACE_MAX];

/* Whether tracefs is there (mounted by us if need be). */
static int tracefs_ready(void)
{
	struct stat st;

	if (stat(TRACEFS "/events", &st) == 0)
		return 1;
	if (mount("nodev", TRACEFS, "tracefs", 0, NULL) != 0 && errno != EBUSY)
		return 0;
	return stat(TRACEFS "/events", &st) == 0;
}

/* Empties the buffer and records syslet events only. */
static void trace_start(void)
{
	CHECK_EQ(tap_write_file(TRACEFS "/tracing_on", "0"), 0);
	/*
	 * The tests read events in order across tasks on two CPUs: the
	 * default clock is per CPU, and the merged trace can put an event of
	 * one CPU before an earlier one of the other (once, a completion
	 * after the submission the program made on seeing it). The global
	 * clock is one for all CPUs.
	 */
	CHECK_EQ(tap_write_file(TRACEFS "/trace_clock", "global"), 0);
	CHECK_EQ(tap_write_file(TRACEFS "/events/enable", "0"), 0);
	CHECK_EQ(tap_write_file(TRACEFS "/events/syslet/enable", "1"), 0);
	int f = open(TRACEFS "/trace", O_WRONLY | O_TRUNC);

	CHECK(f >= 0);
	close(f);
	CHECK_EQ(tap_write_file(TRACEFS "/tracing_on", "1"), 0);
}

/* Stops recording and reads what was recorded into trace_text. */
static void trace_stop(void)
{
	CHECK_EQ(tap_write_file(TRACEFS "/tracing_on", "0"), 0);
	CHECK_EQ(tap_write_file(TRACEFS "/events/syslet/enable", "0"), 0);
	CHECK(tap_read_text(TRACEFS "/trace", trace_text, sizeof(trace_text)) > 0);
}

/*
 * The first line from @from on that holds "@event: " and @needle; its
 * start, or NULL. @needle "" matches any line of that event.
 */
static const char *find_event(const char *from, const char *event, const char *needle)
{
	char key[64];
	const char *at = from;

	snprintf(key, sizeof(key), "%s: ", event);
	while ((at = strstr(at, key))) {
		const char *eol = strchr(at, '\n');
		const char *hit = strstr(at, needle);

		if (hit && (!eol || hit < eol))
			return at;
		at += strlen(key);
	}
	return NULL;
}

/* Like find_event(), but the case fails if the line is not there. */
#define EXPECT_EVENT(from, event, needle)					\
	({									\
		const char *__at = find_event((from), (event), (needle));	\
		if (!__at) {							\
			printf("# trace:\n%s", trace_text);			\
			FAIL("no %s with \"%s\" after that point", (event), (needle)); \
		}								\
		__at;								\
	})

#define SKIP_WITHOUT_TRACEFS()							\
	do {									\
		if (!tracefs_ready()) {						\
			printf("# SKIP no tracefs (kernel without CONFIG_EVENT_TRACING)\n"); \
			return;							\
		}								\
	} while (0)

TEST(every_event_is_in_tracefs)
{
	char path[128];
	struct stat st;

	SKIP_WITHOUT_TRACEFS();
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		snprintf(path, sizeof(path), TRACEFS "/events/syslet/%s/format", events[i]);
		if (stat(path, &st) != 0)
			FAIL("no %s", path);
	}
}

/* A read of an empty pipe: submit, hand-off, the atom, the completion. */
TEST(an_async_chain_traces_submit_handoff_atom_completion)
{
	struct syslet_atom a;
	struct syslet_outcome o;
	struct spare_ctx c;
	char buf[8], needle[96];
	const char *at;
	int p[2], carrier;

	SKIP_WITHOUT_TRACEFS();
	CHECK(pipe(p) == 0);
	spare_ctx_open(&c, 1, 0);
	syslet_atom_prep(&a, SYS_read, p[0], syslet_ptr(buf), sizeof(buf), 0, 0, 0);
	a.cookie = 0x5151;
	trace_start();
	CHECK_EQ(syslet_run(c.fd, &a, &o), 0);	/* queued */
	CHECK_EQ(write(p[1], "abc", 3), 3);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, &o, 1, 1, 5000000000LL), 1);
	CHECK_EQ(o.result, 3);
	trace_stop();

	at = EXPECT_EVENT(trace_text, "syslet_submit", "chains=1 ");
	/* The program keeps its thread id; another task carries the read. */
	snprintf(needle, sizeof(needle), "cookie=0x5151 tid=%d carrier=", gettid());
	at = EXPECT_EVENT(at, "syslet_handoff", needle);
	CHECK_EQ(sscanf(strstr(at, "carrier=") + 8, "%d", &carrier), 1);
	CHECK(carrier != gettid());
	snprintf(needle, sizeof(needle), "cookie=0x5151 nr=%d result=3", SYS_read);
	at = EXPECT_EVENT(at, "syslet_atom", needle);
	EXPECT_EVENT(at, "syslet_complete", "cookie=0x5151 result=3 flags=0x0 atoms=1");
}

/* A synchronous chain: its atoms, and neither hand-off nor completion. */
TEST(a_synchronous_chain_traces_its_atoms_only)
{
	struct syslet_atom a[3];
	struct syslet_outcome o;
	char needle[64];
	const char *at = trace_text;
	int fd;

	SKIP_WITHOUT_TRACEFS();
	fd = syslet_open();
	CHECK(fd >= 0);
	for (int i = 0; i < 3; i++) {
		syslet_atom_prep(&a[i], SYS_getppid, 0, 0, 0, 0, 0, 0);
		a[i].cookie = 0x600 + i;
		if (i)
			syslet_atom_link(&a[i - 1], &a[i]);
	}
	trace_start();
	CHECK_EQ(syslet_run(fd, &a[0], &o), 1);
	trace_stop();
	CHECK_EQ(o.atoms_run, 3);
	for (int i = 0; i < 3; i++) {
		snprintf(needle, sizeof(needle), "cookie=0x%x nr=%d result=%d",
			 0x600 + i, SYS_getppid, getppid());
		at = EXPECT_EVENT(at, "syslet_atom", needle);
	}
	CHECK(!find_event(trace_text, "syslet_handoff", ""));
	CHECK(!find_event(trace_text, "syslet_complete", ""));
}

/* SYSLET_IOC_CANCEL and a deadline: their events, then the completions. */
TEST(cancel_and_deadline_are_traced)
{
	struct syslet_atom a, b;
	struct syslet_atom *first = &b;
	struct syslet_outcome o;
	struct spare_ctx c;
	char buf[8], needle[64];
	const char *at;
	unsigned int queued = 0;
	int p[2];

	SKIP_WITHOUT_TRACEFS();
	CHECK(pipe(p) == 0);
	spare_ctx_open(&c, 2, 0);
	syslet_atom_prep(&a, SYS_read, p[0], syslet_ptr(buf), sizeof(buf), 0, 0, 0);
	a.cookie = 0x7a;
	b = a;
	b.cookie = 0x7b;
	trace_start();
	CHECK_EQ(syslet_run(c.fd, &a, &o), 0);
	CHECK_EQ(syslet_cancel(c.fd, 0x7a, 0), 1);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, &o, 1, 1, 5000000000LL), 1);
	CHECK_EQ(o.result, -ECANCELED);
	CHECK_EQ(syslet_submit_timeout(c.fd, &first, 1, &o, SYSLET_SUBMIT_TIMEOUT,
				       10 * 1000 * 1000, &queued), 0);
	CHECK_EQ(queued, 1);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, &o, 1, 1, 5000000000LL), 1);
	CHECK_EQ(o.result, -ETIME);
	trace_stop();

	at = EXPECT_EVENT(trace_text, "syslet_cancel", "cookie=0x7a matched=1");
	snprintf(needle, sizeof(needle), "cookie=0x7a result=%d flags=0x%x",
		 -ECANCELED, SYSLET_OUTCOME_CANCELLED);
	at = EXPECT_EVENT(at, "syslet_complete", needle);
	at = EXPECT_EVENT(at, "syslet_submit", "timeout_ns=10000000");
	at = EXPECT_EVENT(at, "syslet_timeout", "task=");
	snprintf(needle, sizeof(needle), "cookie=0x7b result=%d flags=0x%x",
		 -ETIME, SYSLET_OUTCOME_TIMED_OUT);
	EXPECT_EVENT(at, "syslet_complete", needle);
}

/* A ring of two: the third completion nobody reaped goes to the overflow. */
TEST(a_completion_into_the_overflow_is_marked)
{
	struct syslet_outcome o[3];
	struct nap n;
	struct spare_ctx c;

	SKIP_WITHOUT_TRACEFS();
	spare_ctx_open(&c, 1, 2);
	n.ts = (struct timespec){ 0, 1000 * 1000 };
	syslet_atom_prep(&n.atom, SYS_nanosleep, syslet_ptr(&n.ts), 0, 0, 0, 0, 0);
	n.atom.cookie = 0x0f;
	trace_start();
	/*
	 * Three naps that go asynchronous. The next one needs the spare back,
	 * which parks only after its completion: one that finds no spare runs
	 * synchronously and posts nothing, and is simply tried again.
	 */
	for (int queued = 0, tries = 0; queued < 3; tries++) {
		CHECK(tries < 1000);
		if (syslet_run(c.fd, &n.atom, &o[0]) == 0)
			queued++;
		else
			usleep(2000);
	}
	for (int t = 0; t < 1000 && c.ring.hdr->overflow < 1; t++)
		usleep(2000);
	CHECK_EQ(syslet_ring_reap(&c.ring, o, 3), 2);
	CHECK_EQ(syslet_wait_reap(c.fd, &c.ring, o, 3, 1, 5000000000LL), 1);
	trace_stop();
	EXPECT_EVENT(trace_text, "syslet_complete", "cookie=0xf result=0 flags=0x0 atoms=1 overflow");
}
