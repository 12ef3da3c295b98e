/* RAM-backed block device: synchronous copies between the image and the request's segments. */
#include "drivers/storage/ramdisk.h"

#include <errno.h>
#include <string.h>

#include "keel/addr.h"
#include "keel/util.h"

static int ramdisk_submit(struct blkdev *dev, struct blk_req *req)
{
	struct ramdisk *rd = dev->priv;
	/* blkdev_submit checked the range against nsectors, which ramdisk_init derived from size. */
	uint8_t *disk = (uint8_t *)pa_to_ptr(rd->base) + req->sector * BLK_SECTOR_SIZE;

	switch (req->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE:
		for (unsigned i = 0; i < req->nsegs; i++) {
			void *mem = pa_to_ptr(req->segs[i].pa);
			if (req->op == BLK_OP_READ)
				memcpy(mem, disk, req->segs[i].len);
			else
				memcpy(disk, mem, req->segs[i].len);
			disk += req->segs[i].len;
		}
		break;
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES:
		memset(disk, 0, req->nsectors * BLK_SECTOR_SIZE);
		break;
	case BLK_OP_FLUSH:
		break; /* RAM has no volatile cache to write back */
	}
	req->done(req, BLK_OK);
	return 0;
}

static const struct blkdev_ops ramdisk_ops = {
    .submit = ramdisk_submit,
    .poll = NULL,
};

int ramdisk_init(struct ramdisk *rd, const char *name, paddr_t base, uint64_t size, bool read_only)
{
	if (size == 0 || size % BLK_SECTOR_SIZE != 0 || pa_addr(base) + size < pa_addr(base))
		return -EINVAL;
	rd->base = base;
	rd->size = size;
	rd->bdev = (struct blkdev){
	    .name = name,
	    .nsectors = size / BLK_SECTOR_SIZE,
	    .block_size = BLK_SECTOR_SIZE,
	    .max_segs = RAMDISK_MAX_SEGS,
	    .max_seg_size = RAMDISK_MAX_SEG_SIZE,
	    .max_sectors = RAMDISK_MAX_SECTORS,
	    .queue_depth = 64, /* completes inline: depth does not limit it */
	    .flags =
		BLKDEV_F_FLUSH | BLKDEV_F_DISCARD | BLKDEV_F_WRITE_ZEROES | (read_only ? BLKDEV_F_RO : 0),
	    .ops = &ramdisk_ops,
	    .priv = rd,
	};
	return 0;
}
