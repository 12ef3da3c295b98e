/* Storage registry and VM disk resolution (see drivers/storage/storage.h). */
#include "drivers/storage/storage.h"

#include <string.h>

#include "arch/timer.h"
#include "drivers/storage/gpt.h"
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
	entries[nr_entries++] = (struct storage_entry){ backend, dev };
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
			log_err("storage: RAM disk at 0x%llx is unusable", (unsigned long long)pa_addr(disk->ram.base));
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
	if (disk->partition[0] == '\0')
		return whole;
	return gpt_open_partition(whole, disk->partition);
}

struct sync_ctx {
	volatile bool done;
	volatile int status;
};

static void sync_done(struct blk_req *req, int status)
{
	struct sync_ctx *c = req->ctx;
	c->status = status;
	c->done = true;
}

int blkdev_read_sync(struct blkdev *dev, uint64_t sector, void *buf, uint32_t bytes, uint64_t timeout_us)
{
	struct sync_ctx c = { false, 0 };
	struct blk_seg seg = { ptr_to_pa(buf), bytes };
	struct blk_req req = {
		.op = BLK_OP_READ, .sector = sector, .nsectors = bytes / BLK_SECTOR_SIZE,
		.segs = &seg, .nsegs = 1, .done = sync_done, .ctx = &c,
	};
	int rc = blkdev_submit(dev, &req);
	if (rc != 0)
		return rc;
	uint64_t end = timer_us() + timeout_us;
	while (!c.done) {
		if (dev->ops->poll)
			dev->ops->poll(dev);
		if (timer_us() > end) {
			log_err("storage: %s: boot-time read of sector %llu timed out", dev->name,
				(unsigned long long)sector);
			return BLK_EIO;
		}
	}
	return c.status;
}
