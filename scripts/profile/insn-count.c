// SPDX-License-Identifier: GPL-2.0
/*
 * A QEMU TCG plugin that counts the guest kernel's executed instructions
 * by translation block: at exit it writes one line per block,
 * "<start address> <instructions executed>", to the file given as
 * out=PATH. scripts/profile.sh turns them into a profile by function.
 * With user=1 it counts user-space blocks as well.
 *
 * Under TCG with -icount, as `make bench` runs, instructions are what the
 * benchmarks measure, so this is the profile of exactly that cost, with no
 * sampling and nothing changed in the guest.
 *
 * QEMU installs no plugin header on Debian; the few declarations of its
 * plugin API version 1 (QEMU 7.2 and later) used here are below.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct {
	const char *target_name;
	struct {
		int min, cur;
	} version;
	bool system_emulation;
	union {
		struct {
			int smp_vcpus, max_vcpus;
		} system;
	};
} qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t, void *);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, qemu_plugin_vcpu_tb_trans_cb_t);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *, enum qemu_plugin_op,
					      void *, uint64_t);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, qemu_plugin_udata_cb_t, void *);

#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1;

/* The kernel's half of the address space. */
#define KERNEL_START 0xffff800000000000ULL
#define SLOTS (1u << 20)

/* One block (start address and length): a TB translated again lands on it. */
static struct block {
	uint64_t vaddr, insns, count;
} *blocks;
static size_t used;
static const char *out_path = "insn-count.out";
/* user=1: user-space blocks too (every process's, by address). */
static bool with_user;

static struct block *lookup(uint64_t vaddr, uint64_t insns)
{
	uint64_t h = (vaddr ^ insns * 0x9e3779b97f4a7c15ULL) * 0xff51afd7ed558ccdULL;

	for (size_t i = 0; i < SLOTS; i++) {
		struct block *b = &blocks[(h + i) & (SLOTS - 1)];

		if (!b->vaddr) {
			if (used + 1 >= SLOTS)
				return NULL;
			used++;
			b->vaddr = vaddr;
			b->insns = insns;
			return b;
		}
		if (b->vaddr == vaddr && b->insns == insns)
			return b;
	}
	return NULL;
}

static void translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	uint64_t vaddr = qemu_plugin_tb_vaddr(tb), n = qemu_plugin_tb_n_insns(tb);
	struct block *b;

	(void)id;
	if ((vaddr < KERNEL_START && !with_user) || !n)
		return;
	b = lookup(vaddr, n);
	if (b)
		/* One add of the block's length each time it runs. */
		qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->count,
							 n);
}

static void finished(qemu_plugin_id_t id, void *p)
{
	FILE *f = fopen(out_path, "w");

	(void)id;
	(void)p;
	if (!f)
		return;
	for (size_t i = 0; i < SLOTS; i++)
		if (blocks[i].count)
			fprintf(f, "%" PRIx64 " %" PRIu64 "\n", blocks[i].vaddr, blocks[i].count);
	fclose(f);
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
			       char **argv)
{
	(void)info;
	for (int i = 0; i < argc; i++)
		if (!strncmp(argv[i], "out=", 4))
			out_path = argv[i] + 4;
		else if (!strcmp(argv[i], "user=1"))
			with_user = true;
	blocks = calloc(SLOTS, sizeof(*blocks));
	if (!blocks)
		return -1;
	qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
	qemu_plugin_register_atexit_cb(id, finished, NULL);
	return 0;
}
