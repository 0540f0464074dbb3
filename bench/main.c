// SPDX-License-Identifier: GPL-2.0
/*
 * The syslet benchmarks, run in the guest by `make bench`: every section
 * measures syslets side by side with the alternatives in this one boot.
 * Under TCG absolute times are emulated and mean little; compare ratios.
 *
 *   syslet-bench [SECTION...]   cheap handoff threads blockdev tree rtlat
 *                               (all of them when none is named)
 */
#include <string.h>

#include "bench.h"

static const struct {
	const char *name;
	void (*run)(void);
} sections[] = {
	{ "cheap", bench_cheap },	{ "handoff", bench_handoff },
	{ "threads", bench_threads },	{ "blockdev", bench_blockdev },
	{ "tree", bench_tree },		{ "rtlat", bench_rtlat },
};

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("bench: medians of %d repetitions [min..max]; TSC ticks or IOPS; compare "
	       "ratios only\n\n", REPS);
	for (unsigned int i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		int wanted = argc < 2;

		for (int a = 1; a < argc; a++)
			wanted |= !strcmp(argv[a], sections[i].name);
		if (wanted)
			sections[i].run();
	}
	return 0;
}
