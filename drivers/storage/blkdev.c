/* The block-device front door: every request is checked against the device's limits before its driver sees
 * it. */
#include "drivers/storage/blkdev.h"

#include "arch/spinlock.h"
#include "keel/log.h"
#include "keel/util.h"

static bool range_ok(const struct blkdev *dev, const struct blk_req *req)
{
	uint32_t blk_sectors = dev->block_size / BLK_SECTOR_SIZE;

	if (req->nsectors == 0 || req->nsectors > dev->max_sectors)
		return false;
	/* Overflow-safe: sector + nsectors <= capacity. */
	if (req->sector > dev->nsectors || req->nsectors > dev->nsectors - req->sector)
		return false;
	return blk_sectors <= 1 || (req->sector % blk_sectors == 0 && req->nsectors % blk_sectors == 0);
}

static bool segs_ok(const struct blkdev *dev, const struct blk_req *req)
{
	uint64_t total = 0;

	if (req->segs == NULL || req->nsegs == 0 || req->nsegs > dev->max_segs)
		return false;
	for (unsigned i = 0; i < req->nsegs; i++) {
		uint32_t len = req->segs[i].len;
		if (len == 0 || len > dev->max_seg_size)
			return false;
		total += len; /* at most max_segs * 4 GiB: no overflow */
	}
	return total == req->nsectors * BLK_SECTOR_SIZE;
}

int blkdev_submit(struct blkdev *dev, struct blk_req *req)
{
	bool ro = (dev->flags & BLKDEV_F_RO) != 0;

	if (req->done == NULL)
		return BLK_EINVAL;
	switch (req->op) {
	case BLK_OP_READ:
		if (!range_ok(dev, req) || !segs_ok(dev, req))
			return BLK_EINVAL;
		break;
	case BLK_OP_WRITE:
		if (ro || !range_ok(dev, req) || !segs_ok(dev, req))
			return BLK_EINVAL;
		break;
	case BLK_OP_FLUSH:
		if (!(dev->flags & BLKDEV_F_FLUSH))
			return BLK_ENOTSUP;
		if (req->nsegs != 0 || req->nsectors != 0)
			return BLK_EINVAL;
		break;
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES:
		if (!(dev->flags & (req->op == BLK_OP_DISCARD ? BLKDEV_F_DISCARD : BLKDEV_F_WRITE_ZEROES)))
			return BLK_ENOTSUP;
		if (ro || req->nsegs != 0 || !range_ok(dev, req))
			return BLK_EINVAL;
		break;
	default:
		return BLK_EINVAL;
	}
	return dev->ops->submit(dev, req);
}

void blkdev_commit(struct blkdev *dev)
{
	if (dev->ops->commit != NULL)
		dev->ops->commit(dev);
}

int blkdev_cancel(struct blkdev *dev, struct blk_req *req)
{
	if (dev->ops->cancel == NULL)
		return BLK_ENOTSUP;
	return dev->ops->cancel(dev, req);
}

void blkdev_set_wake(struct blkdev *dev, blk_wake_fn fn, void *ctx)
{
	dev->wake_ctx = ctx;
	dev->wake = fn;
}

void blkdev_wake(struct blkdev *dev)
{
	blk_wake_fn fn = dev->wake;
	if (fn)
		fn(dev->wake_ctx);
}

const char *blk_op_name(enum blk_op op)
{
	switch (op) {
	case BLK_OP_READ:
		return "read";
	case BLK_OP_WRITE:
		return "write";
	case BLK_OP_FLUSH:
		return "flush";
	case BLK_OP_DISCARD:
		return "discard";
	default:
		return "op?";
	}
}

void blk_doneq_push(struct blk_doneq *q, struct blk_req *req, int status, const char *driver)
{
	if (q->count >= BLK_DONEQ_LEN)
		panic("%s: completion FIFO overflow", driver); /* each request is in one place only */
	q->ent[(q->head + q->count) % BLK_DONEQ_LEN] = (struct blk_done){req, status};
	q->count++;
}

void blk_doneq_drain(struct blk_doneq *q, struct spinlock *lock)
{
	for (;;) {
		spin_lock(lock);
		if (q->count == 0) {
			spin_unlock(lock);
			return;
		}
		struct blk_done d = q->ent[q->head];
		q->head = (q->head + 1) % BLK_DONEQ_LEN;
		q->count--;
		spin_unlock(lock);
		d.req->done(d.req, d.status);
	}
}
