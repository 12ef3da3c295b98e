/* virtio-blk set-up: what a backend must offer, the limits and features keel advertises for it, and
 * each request queue's initial state and share of the slots. */
#include "arch/spinlock.h"
#include "keel/util.h"
#include "vdev/virtio/virtio_blk_int.h"

bool vblk_backend_usable(const struct blkdev *b)
{
	uint32_t bs = b->block_size;
	return b->ops != NULL && b->ops->submit != NULL && b->nsectors > 0 && bs >= BLK_SECTOR_SIZE &&
	       bs <= 65536 && (bs & (bs - 1)) == 0 && b->max_segs > 0 && b->max_seg_size >= BLK_SECTOR_SIZE &&
	       (uint64_t)b->max_sectors * BLK_SECTOR_SIZE >= bs;
}

/*
 * Advertise size_max and seg_max so that a conforming driver's segments fit the backend: at most
 * d->seg_max of them after splitting at max_seg_size. size_max is the backend's own segment size, so
 * a driver merges physically contiguous pages into one segment (Linux does: a 1 MiB read into a
 * huge page is 4 UFS PRDT entries, not 256 page-sized ones, with as few descriptors for keel to walk).
 * seg_max * size_max then allows requests above the backend's max_sectors: those are split into
 * zero-copy parts (virtio_blk_split.c), and seg_max * size_max stays within VIRTIO_BLK_SPLIT_MAX_BYTES.
 */
static void compute_limits(const struct virtio_blk *d, uint32_t *seg_max_out, uint32_t *size_max_out)
{
	const struct blkdev *b = d->bdev;
	uint64_t size_max = MIN((uint64_t)b->max_seg_size, VIRTIO_BLK_SPLIT_MAX_BYTES / d->seg_max);

	if (size_max < VIRTIO_BLK_MIN_SIZE_MAX)
		size_max = VIRTIO_BLK_MIN_SIZE_MAX;
	uint64_t pieces = (size_max + b->max_seg_size - 1) / b->max_seg_size;
	uint64_t seg_max = MAX(d->seg_max / pieces, 1u);
	if (seg_max * size_max > VIRTIO_BLK_SPLIT_MAX_BYTES)
		seg_max = MAX(VIRTIO_BLK_SPLIT_MAX_BYTES / size_max, 1u);
	*seg_max_out = (uint32_t)seg_max;
	*size_max_out = (uint32_t)size_max;
}

uint64_t vblk_setup_config(struct virtio_blk *d)
{
	const struct blkdev *b = d->bdev;
	uint64_t features = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX) |
			    BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_SIZE_MAX) |
			    BIT(VIRTIO_BLK_F_BLK_SIZE);
	if (b->flags & BLKDEV_F_FLUSH)
		features |= BIT(VIRTIO_BLK_F_FLUSH);
	if (d->read_only) {
		features |= BIT(VIRTIO_BLK_F_RO);
	} else {
		if (b->flags & BLKDEV_F_DISCARD)
			features |= BIT(VIRTIO_BLK_F_DISCARD);
		if (b->flags & BLKDEV_F_WRITE_ZEROES)
			features |= BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	}

	uint32_t seg_max, size_max;
	compute_limits(d, &seg_max, &size_max);
	uint32_t per_block = b->block_size / BLK_SECTOR_SIZE;
	d->config.capacity = b->nsectors;
	d->config.size_max = size_max;
	d->config.seg_max = seg_max;
	d->config.blk_size = b->block_size;
	/* One range per request: a single backend request each. */
	d->config.max_discard_sectors = b->max_sectors - b->max_sectors % per_block;
	d->config.max_discard_seg = 1;
	d->config.discard_sector_alignment = per_block;
	d->config.max_write_zeroes_sectors = d->config.max_discard_sectors;
	d->config.max_write_zeroes_seg = 1;
	d->config.write_zeroes_may_unmap = 0;
	return features;
}

void vblk_queue_init(struct virtio_blk *d, unsigned q, unsigned nq)
{
	struct vblk_queue *bq = &d->queues[q];
	unsigned per = VIRTIO_BLK_SLOTS / nq, extra = VIRTIO_BLK_SLOTS % nq;
	unsigned first = q * per + MIN(q, extra), n = q < nq ? per + (q < extra) : 0;
	struct spinlock unlocked = SPINLOCK_INIT;

	bq->lock = unlocked;
	bq->dev = d;
	bq->q = (uint8_t)q;
	bq->pending_first = SLOT_NONE;
	bq->pending_last = SLOT_NONE;
	bq->nslots = (uint16_t)n;
	for (unsigned i = 0; i < n; i++) {
		struct virtio_blk_slot *s = &d->slots[first + i];
		s->state = SLOT_FREE;
		s->dev = d;
		s->q = (uint8_t)q;
		bq->free_stack[i] = (uint16_t)(first + n - 1 - i);
	}
	bq->nfree = (uint16_t)n;
}
