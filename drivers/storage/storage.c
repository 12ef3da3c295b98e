/* Storage registry and VM disk resolution (see drivers/storage/storage.h). */
#include "drivers/storage/storage.h"

#include <string.h>

#include "arch/timer.h"
#include "drivers/storage/blk_share.h"
#include "drivers/storage/gpt.h"
#include "drivers/storage/mbr.h"
#include "drivers/storage/ramdisk.h"
#include "keel/addr.h"
#include "keel/log.h"

#define STORAGE_MAX 4
#define RAMDISK_MAX 4

struct storage_entry {
	const char *backend;
	struct blkdev *dev;
};

static struct storage_entry entries[STORAGE_MAX];
static unsigned nr_entries;
static struct ramdisk ramdisks[RAMDISK_MAX];
static unsigned nr_ramdisks;

int storage_register(const char *backend, struct blkdev *dev)
{
	if (nr_entries >= STORAGE_MAX)
		return BLK_EBUSY;
	entries[nr_entries++] = (struct storage_entry){backend, dev};
	log_info("storage: %s is %s, %llu sectors of 512 bytes, block %u", dev->name, backend,
		 (unsigned long long)dev->nsectors, dev->block_size);
	return 0;
}

struct blkdev *storage_find(const char *backend)
{
	for (unsigned i = 0; i < nr_entries; i++)
		if (strcmp(entries[i].backend, backend) == 0)
			return entries[i].dev;
	return NULL;
}

struct blkdev *storage_open(const struct vm_disk_config *disk)
{
	if (strcmp(disk->backend, "ram") == 0) {
		if (nr_ramdisks >= RAMDISK_MAX) {
			log_err("storage: too many RAM disks");
			return NULL;
		}
		struct ramdisk *rd = &ramdisks[nr_ramdisks];
		if (ramdisk_init(rd, "ram", disk->ram.base, disk->ram.size, disk->read_only) != 0) {
			log_err("storage: RAM disk at 0x%llx is unusable",
				(unsigned long long)pa_addr(disk->ram.base));
			return NULL;
		}
		nr_ramdisks++;
		return &rd->bdev;
	}
	struct blkdev *whole = storage_find(disk->backend);
	if (whole == NULL) {
		log_err("storage: no %s device was found", disk->backend);
		return NULL;
	}
	struct blkdev *target = whole;
	enum ptable_kind kind = PTABLE_NONE;
	if (disk->partition[0] != '\0') {
		/* The disk's own table decides how the partition is named: GPT by name, MBR by number.
		 * A disk without an MBR signature is tried as GPT (its header has its own CRC). */
		kind = mbr_probe(whole);
		if (kind == PTABLE_MBR)
			target = mbr_open_partition(whole, disk->partition, disk->allow_boot_partition);
		else
			target = gpt_open_partition(whole, disk->partition);
		if (target == NULL)
			return NULL;
	}
	/* Every disk on a controller goes through its fair share of it (blk_share.h). */
	struct blkdev *client = share_open(whole, target, target->name);
	if (client == NULL && kind == PTABLE_MBR)
		mbr_close_partition(target);
	else if (client == NULL && target != whole)
		gpt_close_partition(target);
	return client;
}

/*
 * Boot-time synchronous reads. The request lives in static storage, not on the
 * stack: a request that timed out may still complete later, and must find its
 * context alive. Until it does, further synchronous reads are refused.
 */
static struct {
	struct blk_req req;
	struct blk_seg seg;
	volatile bool done;
	volatile int status;
	bool busy;
} sync_io;

static void sync_done(struct blk_req *req, int status)
{
	(void)req;
	sync_io.status = status;
	sync_io.done = true;
	sync_io.busy = false;
}

int blkdev_read_sync(struct blkdev *dev, uint64_t sector, void *buf, uint32_t bytes, uint64_t timeout_us)
{
	if (sync_io.busy) {
		log_err("storage: %s: an earlier boot-time read never completed", dev->name);
		return BLK_EIO;
	}
	sync_io.done = false;
	sync_io.status = 0;
	sync_io.seg = (struct blk_seg){ptr_to_pa(buf), bytes};
	sync_io.req = (struct blk_req){
	    .op = BLK_OP_READ,
	    .sector = sector,
	    .nsectors = bytes / BLK_SECTOR_SIZE,
	    .segs = &sync_io.seg,
	    .nsegs = 1,
	    .done = sync_done,
	    .ctx = NULL,
	};
	sync_io.busy = true;
	int rc = blkdev_submit(dev, &sync_io.req);
	if (rc != 0) {
		sync_io.busy = false;
		return rc;
	}
	uint64_t end = timer_us() + timeout_us;
	while (!sync_io.done) {
		if (dev->ops->poll)
			dev->ops->poll(dev);
		if (timer_us() > end) {
			log_err("storage: %s: boot-time read of sector %llu timed out", dev->name,
				(unsigned long long)sector);
			return BLK_EIO;
		}
	}
	return sync_io.status;
}
