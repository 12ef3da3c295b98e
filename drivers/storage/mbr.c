/*
 * MBR partitions: a primary partition of a DOS-partitioned disk, by number,
 * handed out as a window (drivers/storage/part.c). Block 0 may have been
 * written by a guest: every field is range-checked before it addresses the disk.
 */
#include "drivers/storage/mbr.h"

#include <string.h>

#include "arch/spinlock.h"
#include "drivers/storage/gpt.h"
#include "drivers/storage/part.h"
#include "drivers/storage/storage.h"
#include "keel/log.h"
#include "keel/util.h"

#define MBR_ENTRIES	   4u
#define MBR_TABLE	   446u
#define MBR_ENTRY_SIZE	   16u
#define MBR_SIG		   510u
#define MBR_TYPE_GPT	   0xeeu
#define MBR_ACTIVE	   0x80u
#define MBR_MAX_BLOCK_SIZE GPT_MAX_BLOCK_SIZE

struct mbr_entry {
	uint8_t status;
	uint8_t type;
	uint64_t first; /* in logical blocks */
	uint64_t count;
};

static struct spinlock mbr_lock = SPINLOCK_INIT;
static uint8_t blk0[MBR_MAX_BLOCK_SIZE] __attribute__((aligned(MBR_MAX_BLOCK_SIZE)));

static bool is_extended(uint8_t type)
{
	return type == 0x05 || type == 0x0f || type == 0x85;
}

static bool is_boot_type(uint8_t type)
{
	switch (type) {
	case 0x01: /* FAT12 */
	case 0x04: /* FAT16 < 32 MiB */
	case 0x06: /* FAT16 */
	case 0x0b: /* FAT32 (CHS) */
	case 0x0c: /* FAT32 (LBA), the Raspberry Pi's boot partition */
	case 0x0e: /* FAT16 (LBA) */
	case 0xef: /* EFI system partition */
		return true;
	default:
		return false;
	}
}

/* Block 0 into blk0 (caller holds mbr_lock); false, logged, when unreadable. */
static bool read_blk0(struct blkdev *dev)
{
	if (dev->block_size < BLK_SECTOR_SIZE || dev->block_size > MBR_MAX_BLOCK_SIZE ||
	    dev->nsectors < dev->block_size / BLK_SECTOR_SIZE) {
		log_err("storage: %s: block size %u is not supported for MBR", dev->name, dev->block_size);
		return false;
	}
	int rc = blkdev_read_sync(dev, 0, blk0, dev->block_size, MBR_READ_TIMEOUT_US);
	if (rc != 0) {
		log_err("storage: %s: reading block 0 failed (%d)", dev->name, rc);
		return false;
	}
	return blk0[MBR_SIG] == 0x55 && blk0[MBR_SIG + 1] == 0xaa;
}

static void decode(struct mbr_entry e[MBR_ENTRIES])
{
	for (unsigned i = 0; i < MBR_ENTRIES; i++) {
		const uint8_t *p = &blk0[MBR_TABLE + i * MBR_ENTRY_SIZE];
		e[i] = (struct mbr_entry){p[0], p[4], get_le32(p + 8), get_le32(p + 12)};
	}
}

enum ptable_kind mbr_probe(struct blkdev *dev)
{
	struct mbr_entry e[MBR_ENTRIES];
	enum ptable_kind kind = PTABLE_NONE;

	spin_lock(&mbr_lock);
	if (read_blk0(dev)) {
		decode(e);
		kind = PTABLE_MBR;
		for (unsigned i = 0; i < MBR_ENTRIES; i++)
			if (e[i].type == MBR_TYPE_GPT)
				kind = PTABLE_GPT;
	}
	spin_unlock(&mbr_lock);
	return kind;
}

/* The boot partition's index, or MBR_ENTRIES when the disk has none. */
static unsigned boot_index(const struct mbr_entry e[MBR_ENTRIES])
{
	for (unsigned i = 0; i < MBR_ENTRIES; i++)
		if (e[i].type != 0 && (e[i].status & MBR_ACTIVE))
			return i;
	for (unsigned i = 0; i < MBR_ENTRIES; i++)
		if (is_boot_type(e[i].type))
			return i;
	return MBR_ENTRIES;
}

static struct blkdev *open_entry(struct blkdev *dev, const struct mbr_entry e[MBR_ENTRIES], unsigned idx,
				 bool allow_boot, const char *label)
{
	const struct mbr_entry *p = &e[idx];
	uint64_t spb = dev->block_size / BLK_SECTOR_SIZE;
	uint64_t nblocks = dev->nsectors / spb;

	if (p->type == 0 || p->count == 0) {
		log_err("storage: %s: MBR partition %u is unused", dev->name, idx + 1);
		return NULL;
	}
	if (is_extended(p->type)) {
		log_err("storage: %s: MBR partition %u is an extended container, not a partition", dev->name,
			idx + 1);
		return NULL;
	}
	if (p->first == 0 || !range_within(p->first, p->count, 0, nblocks)) {
		log_err("storage: %s: MBR partition %u (blocks %llu+%llu) is outside the disk's %llu blocks",
			dev->name, idx + 1, (unsigned long long)p->first, (unsigned long long)p->count,
			(unsigned long long)nblocks);
		return NULL;
	}
	for (unsigned j = 0; j < MBR_ENTRIES; j++) {
		if (j == idx || e[j].type == 0 || e[j].count == 0 || e[j].type == MBR_TYPE_GPT)
			continue;
		/* An extended container holds logical partitions elsewhere on the disk: it counts too. */
		if (p->first < e[j].first + e[j].count && e[j].first < p->first + p->count) {
			log_err("storage: %s: MBR partition %u overlaps partition %u", dev->name, idx + 1,
				j + 1);
			return NULL;
		}
	}
	if (idx == boot_index(e) && !allow_boot) {
		log_err("storage: %s: MBR partition %u is the boot partition; the disk node must say "
			"allow-boot-partition to give it to a VM",
			dev->name, idx + 1);
		return NULL;
	}
	struct blkdev *part = part_open(dev, label, p->first * spb, p->count * spb);
	if (part != NULL)
		log_info("storage: %s: MBR partition %u (type 0x%02x) is blocks %llu..%llu", dev->name,
			 idx + 1, p->type, (unsigned long long)p->first,
			 (unsigned long long)(p->first + p->count - 1));
	return part;
}

struct blkdev *mbr_open_partition(struct blkdev *dev, const char *number, bool allow_boot)
{
	struct mbr_entry e[MBR_ENTRIES];
	struct blkdev *part = NULL;

	unsigned n = 0;
	for (const char *c = number; *c != '\0'; c++) {
		if (*c < '0' || *c > '9' || n > 99 || (c == number && *c == '0')) {
			log_err("storage: %s: MBR partition \"%.40s\" must be a number 1..4", dev->name,
				number);
			return NULL;
		}
		n = n * 10 + (unsigned)(*c - '0');
	}
	if (n == 0 || n > MBR_ENTRIES) {
		log_err("storage: %s: MBR partition %u is a logical partition; only 1..4 are supported",
			dev->name, n);
		return NULL;
	}
	spin_lock(&mbr_lock);
	if (!read_blk0(dev)) {
		log_err("storage: %s: no MBR; cannot open partition %u", dev->name, n);
	} else {
		decode(e);
		part = open_entry(dev, e, n - 1, allow_boot, number);
	}
	spin_unlock(&mbr_lock);
	return part;
}

void mbr_close_partition(struct blkdev *part)
{
	part_close(part);
}
