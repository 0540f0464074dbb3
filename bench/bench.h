/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared pieces of the syslet benchmarks (make bench): timing, statistics
 * and the two kinds of output lines.
 *
 * Every figure is printed twice: a line for people (median [min..max] and
 * the ratio to the section's baseline), and a "data SERIES X Y..." line
 * from which scripts/bench-report.sh draws the tables and plots.
 */
#ifndef SYSLET_BENCH_H
#define SYSLET_BENCH_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

/* Ends the benchmark, saying where and why, unless @cond holds. */
#define CHECK(cond)                                                                 \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "bench: %s:%d: %s failed (errno %d: %s)\n", \
				__FILE__, __LINE__, #cond, errno, strerror(errno)); \
			abort();                                                    \
		}                                                                   \
	} while (0)

/* Repetitions of each timed loop; the median is reported. */
#define REPS 7

/*
 * Short intervals in TSC ticks: fine-grained whatever the guest's clock
 * source, and ratios do not need the frequency. Long runs (IOPS) use
 * CLOCK_MONOTONIC through now_ns().
 */
static inline double now_ticks(void)
{
	return (double)__rdtsc();
}

static inline double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

struct stat3 {
	double median, min, max;
};

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static inline void sort_doubles(double *v, long n)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
}

/* Sorts @v. */
static inline struct stat3 summarize(double *v, int n)
{
	sort_doubles(v, n);
	return (struct stat3){ v[n / 2], v[0], v[n - 1] };
}

/* The value at fraction @q (0..1) of the sorted @v. */
static inline double percentile(const double *v, long n, double q)
{
	long i = (long)(q * (n - 1));

	return n ? v[i] : 0;
}

/* Runs @expr REPS times and summarizes the values it gives. */
#define MEASURE(expr)                                         \
	({                                                    \
		double v_[REPS];                              \
		for (int r_ = 0; r_ < REPS; r_++)             \
			v_[r_] = (expr);                      \
		summarize(v_, REPS);                          \
	})

/* One line for people: @s in @unit, and its ratio to @base. */
static inline void row(const char *name, const char *unit, struct stat3 s, double base)
{
	printf("%-40s %10.1f %-8s [%.1f..%.1f]  ratio %.2f\n", name, s.median, unit, s.min,
	       s.max, s.median / base);
}

void bench_cheap(void);
void bench_handoff(void);
void bench_threads(void);
void bench_blockdev(void);
void bench_tree(void);
void bench_rtlat(void);

#endif /* SYSLET_BENCH_H */
