/*
 * virtio-blk requests above the backend's limits (max_sectors, seg_max): one guest request becomes
 * several backend requests, one at a time, each a window of the request's own segments (zero copy).
 * Runs with the queue's lock held, on the VM's own vCPU (parsing, the pump).
 */
#include "arch/barrier.h"
#include "keel/util.h"
#include "vdev/virtio/virtio_blk_int.h"

void vblk_split_start(struct virtio_blk_slot *s, unsigned nsegs, uint64_t sector, uint64_t nsectors)
{
	s->split = true;
	s->split_due = true; /* the pump builds the first part */
	s->split_nsegs = (uint16_t)nsegs;
	s->split_first = 0;
	s->split_last_len = 0;
	s->split_left = nsectors;
	s->req.sector = sector;
	s->req.nsectors = 0; /* no part yet: the first starts at sector */
	s->req.segs = s->segs;
	s->req.nsegs = 0;
}

bool vblk_split_more(const struct virtio_blk_slot *s)
{
	return s->split && s->split_left > 0;
}

/* Consume the part just done: its whole segments, and the head of a segment it cut short. */
static unsigned consume_part(struct virtio_blk_slot *s)
{
	if (s->req.nsegs == 0)
		return s->split_first;
	unsigned last = s->split_first + s->req.nsegs - 1u;
	struct blk_seg *l = &s->segs[last];
	s->req.sector += s->req.nsectors;
	if (s->split_last_len == l->len)
		return last + 1u;
	l->pa = pa_add(l->pa, l->len);
	l->len = s->split_last_len - l->len;
	return last;
}

bool vblk_split_next(struct vblk_queue *bq, struct virtio_blk_slot *s)
{
	const struct virtio_blk *d = bq->dev;
	uint32_t bs = d->bdev->block_size;
	unsigned first = consume_part(s);
	uint64_t limit = (uint64_t)d->bdev->max_sectors * BLK_SECTOR_SIZE;

	limit -= limit % bs;
	limit = MIN(limit, s->split_left * BLK_SECTOR_SIZE);
	/* As much as fits both limits, then back to a whole number of blocks. */
	uint64_t bytes = 0;
	unsigned n = 0;
	while (first + n < s->split_nsegs && n < d->seg_max && bytes < limit)
		bytes += s->segs[first + n++].len;
	uint64_t want = MIN(bytes, limit);
	want -= want % bs;
	if (want == 0) {
		/* seg_max segments hold less than a block: no part can make progress (a guest's layout). */
		virtio_guest_err(&bq->dev->mmio, "head %u: %u segments hold less than one %u-byte block",
				 s->head, d->seg_max, bs);
		return false;
	}
	uint64_t acc = 0;
	unsigned k = 0;
	while (acc + s->segs[first + k].len < want)
		acc += s->segs[first + k++].len;
	struct blk_seg *l = &s->segs[first + k];
	s->split_first = (uint16_t)first;
	s->split_last_len = l->len;
	l->len = (uint32_t)(want - acc);
	s->req.segs = &s->segs[first];
	s->req.nsegs = k + 1u;
	s->req.nsectors = want / BLK_SECTOR_SIZE;
	s->split_left -= s->req.nsectors;
	bq->stats.split_parts++;
	return true;
}
