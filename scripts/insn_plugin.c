/*
 * A QEMU TCG plugin for scripts/insn_prof.py: counts the guest instructions QEMU executes, split into
 * keel's (translation blocks starting in [lo, hi), keel's text) per block start, and everyone else's
 * (the VMs') in one sum. Counts are instructions, not time: the same boot gives the same counts
 * whatever else the host is doing.
 *
 *   qemu-system-aarch64 ... -plugin build/host/insn_plugin.so,lo=0x40200000,hi=0x40232000,out=FILE
 *
 * At exit FILE holds "other N" and one "<block start hex> <instructions> <executions>" line per keel
 * block that ran. lo=hi=0 counts everything as other (a native boot).
 *
 * QEMU ships no plugin header in Debian, so the few API entry points used are declared here, as the
 * plugin API (version 2 and later) defines them; QEMU checks qemu_plugin_version when it loads us.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t {
	const char *target_name;
	struct {
		int min;
		int cur;
	} version;
	bool system_emulation;
	union {
		struct {
			int smp_vcpus;
			int max_vcpus;
		} system;
	};
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_scoreboard;
typedef struct {
	struct qemu_plugin_scoreboard *score;
	size_t offset;
} qemu_plugin_u64;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_fn)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*udata_fn)(qemu_plugin_id_t id, void *userdata);
typedef void (*vcpu_udata_fn)(unsigned int vcpu_index, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_fn cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, vcpu_udata_fn cb,
					  enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
						       qemu_plugin_u64 entry, uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, udata_fn cb, void *userdata);
struct qemu_plugin_scoreboard *qemu_plugin_scoreboard_new(size_t element_size);
uint64_t qemu_plugin_u64_sum(qemu_plugin_u64 entry);

EXPORT int qemu_plugin_version = 2;
EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);

#define NBLOCKS (1u << 18) /* keel's text is ~200 KiB: far fewer block starts than this */

struct block {
	uint64_t start;
	uint32_t ninsns;
	uint64_t runs;
};

static struct block blocks[NBLOCKS];
static unsigned nblocks;
static pthread_mutex_t blocks_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t lo, hi;
static const char *out_path = "insn.out";
static qemu_plugin_u64 other;

static void block_ran(unsigned int vcpu_index, void *userdata)
{
	(void)vcpu_index;
	__atomic_add_fetch(&((struct block *)userdata)->runs, 1, __ATOMIC_RELAXED);
}

/* The same block start may be translated again (TB flushes): it keeps its counter. */
static struct block *block_of(uint64_t start, uint32_t ninsns)
{
	uint32_t h = (uint32_t)(((start >> 2) * 2654435761u) & (NBLOCKS - 1));
	while (blocks[h].ninsns != 0 && !(blocks[h].start == start && blocks[h].ninsns == ninsns))
		h = (h + 1) & (NBLOCKS - 1);
	if (blocks[h].ninsns == 0) {
		if (nblocks + 1 >= NBLOCKS)
			return NULL;
		nblocks++;
		blocks[h].start = start;
		blocks[h].ninsns = ninsns;
	}
	return &blocks[h];
}

static void translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	(void)id;
	uint64_t start = qemu_plugin_tb_vaddr(tb);
	uint32_t n = (uint32_t)qemu_plugin_tb_n_insns(tb);

	if (start < lo || start >= hi || n == 0) {
		qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, QEMU_PLUGIN_INLINE_ADD_U64, other, n);
		return;
	}
	pthread_mutex_lock(&blocks_lock); /* vCPU threads translate concurrently */
	struct block *b = block_of(start, n);
	pthread_mutex_unlock(&blocks_lock);
	if (b == NULL)
		qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, QEMU_PLUGIN_INLINE_ADD_U64, other, n);
	else
		qemu_plugin_register_vcpu_tb_exec_cb(tb, block_ran, QEMU_PLUGIN_CB_NO_REGS, b);
}

static void at_exit(qemu_plugin_id_t id, void *userdata)
{
	(void)id;
	(void)userdata;
	FILE *f = fopen(out_path, "w");
	if (f == NULL)
		return;
	fprintf(f, "other %" PRIu64 "\n", qemu_plugin_u64_sum(other));
	for (unsigned i = 0; i < NBLOCKS; i++)
		if (blocks[i].ninsns != 0 && blocks[i].runs != 0)
			fprintf(f, "%" PRIx64 " %u %" PRIu64 "\n", blocks[i].start, blocks[i].ninsns,
				blocks[i].runs);
	fclose(f);
}

int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
	(void)info;
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "lo=", 3) == 0)
			lo = strtoull(argv[i] + 3, NULL, 0);
		else if (strncmp(argv[i], "hi=", 3) == 0)
			hi = strtoull(argv[i] + 3, NULL, 0);
		else if (strncmp(argv[i], "out=", 4) == 0)
			out_path = argv[i] + 4;
		else
			return -1;
	}
	other.score = qemu_plugin_scoreboard_new(sizeof(uint64_t));
	other.offset = 0;
	if (other.score == NULL)
		return -1;
	qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
