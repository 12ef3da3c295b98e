/* Partition windows over a parent block device (see drivers/storage/part.h). */
#include "drivers/storage/part.h"

#include "arch/spinlock.h"
#include "keel/log.h"
#include "keel/util.h"

/*
 * One forwarded request: a copy of the caller's request with the sector offset
 * and done/ctx redirected here. The caller's request is never modified, so it
 * stays valid for its owner however the parent completes ours.
 */
struct part_slot {
	struct blk_req fwd;
	struct blk_req *orig;
	struct part *part;
	bool busy;
};

struct part {
	struct blkdev bdev;
	struct blkdev *parent;
	uint64_t start; /**< first parent sector */
	bool used;
	struct spinlock lock; /**< guards free_stack, nfree and the slots' busy flags */
	uint16_t nfree;
	uint16_t free_stack[PART_SLOTS];
	struct part_slot slots[PART_SLOTS];
	char name[PART_NAME_SIZE];
};

static struct part parts[PART_MAX];
static struct spinlock pool_lock = SPINLOCK_INIT;

static struct part_slot *slot_get(struct part *p)
{
	struct part_slot *s = NULL;

	spin_lock(&p->lock);
	if (p->nfree > 0) {
		s = &p->slots[p->free_stack[--p->nfree]];
		s->busy = true;
	}
	spin_unlock(&p->lock);
	return s;
}

static void slot_put(struct part *p, struct part_slot *s)
{
	uint16_t i = (uint16_t)(s - p->slots);

	spin_lock(&p->lock);
	if (!s->busy || p->nfree >= PART_SLOTS)
		panic("%s: request slot %u released twice", p->bdev.name, i);
	s->busy = false;
	p->free_stack[p->nfree++] = i;
	spin_unlock(&p->lock);
}

static void part_done(struct blk_req *fwd, int status)
{
	struct part_slot *s = fwd->ctx;
	struct blk_req *orig = s->orig;

	orig->done_us = fwd->done_us; /* the driver's clock, for the layers above */
	/* Free the slot first: the caller's done may submit again (and want a slot). */
	slot_put(s->part, s);
	orig->done(orig, status);
}

static int part_submit(struct blkdev *dev, struct blk_req *req)
{
	struct part *p = dev->priv;
	uint64_t sector = 0;

	/* blkdev_submit already checked this against dev; check again here, where the offset is added. */
	switch (req->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE:
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES:
		if (req->nsectors == 0 || req->sector > dev->nsectors ||
		    req->nsectors > dev->nsectors - req->sector)
			return BLK_EINVAL;
		sector = p->start + req->sector; /* part_open: start + nsectors <= parent's nsectors */
		break;
	case BLK_OP_FLUSH:
		if (req->nsectors != 0 || req->nsegs != 0)
			return BLK_EINVAL;
		break; /* flushes the whole parent: a cache has no per-partition flush */
	default:
		return BLK_EINVAL;
	}

	struct part_slot *s = slot_get(p);
	if (s == NULL)
		return BLK_EBUSY; /* every slot is in flight: a completion will free one */
	s->orig = req;
	s->fwd = *req;
	s->fwd.sector = sector;
	s->fwd.done = part_done;
	s->fwd.ctx = s;
	int rc = blkdev_submit(p->parent, &s->fwd);
	/* On success s may already be completed and reused (done may run inside submit): do not touch it. */
	if (rc != 0)
		slot_put(p, s); /* the parent will not call done */
	return rc;
}

static void part_poll(struct blkdev *dev)
{
	struct part *p = dev->priv;

	if (p->parent->ops->poll)
		p->parent->ops->poll(p->parent);
}

/*
 * Cancel through the parent: find the slot forwarding req and cancel its copy (the parent calls
 * part_done, which completes req). The owner does not submit on this partition while it cancels
 * (one user per partition), so the slot found cannot be reused for another of its requests meanwhile.
 */
static int part_cancel(struct blkdev *dev, struct blk_req *req)
{
	struct part *p = dev->priv;
	struct blk_req *fwd = NULL;

	spin_lock(&p->lock);
	for (unsigned i = 0; i < PART_SLOTS && fwd == NULL; i++)
		if (p->slots[i].busy && p->slots[i].orig == req)
			fwd = &p->slots[i].fwd;
	spin_unlock(&p->lock);
	if (fwd == NULL)
		return -1; /* completed already */
	return blkdev_cancel(p->parent, fwd);
}

/* The parent's cheap completion check, so completion polling works on a partition too. */
static bool part_completion_ready(struct blkdev *dev)
{
	struct part *p = dev->priv;

	return p->parent->ops->completion_ready(p->parent);
}

/* The batch went to the parent (the forwarded copies carry the hint): end it there. */
static void part_commit(struct blkdev *dev)
{
	struct part *p = dev->priv;

	blkdev_commit(p->parent);
}

static void part_report(struct blkdev *dev)
{
	struct part *p = dev->priv;

	if (p->parent->ops->report)
		p->parent->ops->report(p->parent);
}

static const struct blkdev_ops part_ops = {
    .submit = part_submit,
    .poll = part_poll,
    .report = part_report,
    .cancel = part_cancel,
    .commit = part_commit,
};

/* For a parent that can be polled cheaply (blkdev_ops.completion_ready). */
static const struct blkdev_ops part_ops_pollable = {
    .submit = part_submit,
    .poll = part_poll,
    .completion_ready = part_completion_ready,
    .report = part_report,
    .cancel = part_cancel,
    .commit = part_commit,
};

static void name_append(char *dst, size_t size, size_t *len, const char *src)
{
	while (*src != '\0' && *len + 1 < size)
		dst[(*len)++] = *src++;
	dst[*len] = '\0';
}

struct blkdev *part_open(struct blkdev *parent, const char *label, uint64_t start, uint64_t nsectors)
{
	uint32_t blk_sectors = parent->block_size / BLK_SECTOR_SIZE;

	if (blk_sectors == 0 || nsectors == 0 || start % blk_sectors != 0 || nsectors % blk_sectors != 0 ||
	    !range_within(start, nsectors, 0, parent->nsectors)) {
		log_err("storage: %s: partition %s (sector %llu, %llu sectors) is empty, misaligned or "
			"outside the device",
			parent->name, label, (unsigned long long)start, (unsigned long long)nsectors);
		return NULL;
	}

	struct part *p = NULL;
	spin_lock(&pool_lock);
	for (unsigned i = 0; i < PART_MAX; i++) {
		if (!parts[i].used) {
			p = &parts[i];
			p->used = true;
			break;
		}
	}
	spin_unlock(&pool_lock);
	if (p == NULL) {
		log_err("storage: %s: partition %s: more than %u partitions are open", parent->name, label,
			PART_MAX);
		return NULL;
	}

	size_t len = 0;
	name_append(p->name, sizeof(p->name), &len, parent->name);
	name_append(p->name, sizeof(p->name), &len, ":");
	name_append(p->name, sizeof(p->name), &len, label);
	p->parent = parent;
	p->start = start;
	p->lock = (struct spinlock)SPINLOCK_INIT;
	for (unsigned i = 0; i < PART_SLOTS; i++) {
		p->slots[i] = (struct part_slot){.part = p};
		p->free_stack[i] = (uint16_t)(PART_SLOTS - 1 - i);
	}
	p->nfree = PART_SLOTS;
	p->bdev = (struct blkdev){
	    .name = p->name,
	    .nsectors = nsectors,
	    .block_size = parent->block_size,
	    .max_segs = parent->max_segs,
	    .max_seg_size = parent->max_seg_size,
	    .max_sectors = parent->max_sectors,
	    .flags = parent->flags,
	    .ops = parent->ops->completion_ready ? &part_ops_pollable : &part_ops,
	    .priv = p,
	};
	return &p->bdev;
}

static struct part *part_of(const struct blkdev *dev)
{
	for (unsigned i = 0; i < PART_MAX; i++)
		if (dev == &parts[i].bdev && parts[i].used)
			return &parts[i];
	return NULL;
}

bool part_is_part(const struct blkdev *dev)
{
	spin_lock(&pool_lock);
	bool r = part_of(dev) != NULL;
	spin_unlock(&pool_lock);
	return r;
}

uint64_t part_start(const struct blkdev *part)
{
	const struct part *p = part->priv;
	return p->start;
}

struct blkdev *part_parent(const struct blkdev *part)
{
	const struct part *p = part->priv;
	return p->parent;
}

void part_close(struct blkdev *dev)
{
	spin_lock(&pool_lock);
	struct part *p = part_of(dev);
	if (p == NULL)
		panic("storage: closing %s, which is not an open partition", dev->name);
	spin_lock(&p->lock);
	if (p->nfree != PART_SLOTS)
		panic("storage: closing %s with %u requests in flight", dev->name, PART_SLOTS - p->nfree);
	spin_unlock(&p->lock);
	p->used = false;
	spin_unlock(&pool_lock);
}
