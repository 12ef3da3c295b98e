/*
 * Sub-block virtio-blk requests through the disk's bounce buffer (contract: virtio_blk.h). One such
 * request runs at a time per disk, alone (vblk_rmw_may_submit): it claims the disk (d->rmw_gate) and
 * starts once nothing else is in flight, whichever queue it came from; its phases are backend
 * requests on the bounce pages, built and copied here on the VM's own vCPU (its queue's pass, that
 * queue's lock held). The gate itself is atomics, shared by every queue without a lock.
 */
#include "arch/barrier.h"
#include <string.h>

#include "keel/util.h"
#include "vdev/virtio/virtio_blk_int.h"

#define BOUNCE_PAGE 4096u

enum { PH_NONE, PH_START, PH_READ, PH_WRITE };

static unsigned segs_per_page(const struct blkdev *b)
{
	return (BOUNCE_PAGE + b->max_seg_size - 1) / b->max_seg_size;
}

void vblk_rmw_init(struct virtio_blk *d, const struct virtio_blk_params *p)
{
	const struct blkdev *b = d->bdev;
	struct virtio_blk_rmw *r = &d->rmw;
	unsigned per = segs_per_page(b);
	unsigned limit = MIN(b->max_segs, VIRTIO_BLK_BOUNCE_SEGS);
	uint64_t bytes = 0;

	r->piece_max = 0;
	r->owner = NULL;
	r->phase = PH_NONE;
	if (b->block_size <= BLK_SECTOR_SIZE || p->bounce == NULL)
		return;
	for (unsigned i = 0; i < VIRTIO_BLK_BOUNCE_PAGES && p->bounce[i] != NULL && (i + 1) * per <= limit;
	     i++) {
		r->pages[i] = p->bounce[i];
		bytes += BOUNCE_PAGE;
	}
	/* One piece is one backend request: within max_sectors and max_segs, whole blocks. */
	bytes = MIN(bytes, (uint64_t)b->max_sectors * BLK_SECTOR_SIZE);
	bytes -= bytes % b->block_size;
	r->piece_max = (uint32_t)bytes;
}

bool vblk_rmw_available(const struct virtio_blk *d)
{
	return d->rmw.piece_max > 0;
}

void vblk_rmw_start(struct vblk_queue *bq, struct virtio_blk_slot *s, unsigned nsegs, uint64_t sector,
		    uint64_t nsectors)
{
	s->rmw = true;
	s->rmw_due = true; /* the pump runs the first phase once the request may start */
	s->split_nsegs = (uint16_t)nsegs;
	s->req.sector = sector;
	s->req.nsectors = nsectors;
	s->req.segs = s->segs;
	s->req.nsegs = nsegs;
	bq->stats.rmw_requests++;
}

/* Orphans of a reset (they may still DMA): a sub-block request does not start beside them. */
static bool any_orphans(const struct virtio_blk *d)
{
	for (unsigned q = 0; q < d->mmio.nqueues; q++)
		if (READ_ONCE(d->queues[q].norphaned) != 0)
			return true;
	return false;
}

/* The gate's holder, if it blocks others: an orphan keeps the bounce buffer but blocks nothing. */
static bool gate_blocks(const struct virtio_blk_slot *g)
{
	return g != NULL && !READ_ONCE(g->orphaned);
}

/*
 * bq stops for the gate: noted, so that the gate's release asks it for work. Noted first, then the
 * gate looked at again (vblk_rmw_release does the opposite): a release in between is not missed.
 */
static bool wait_for_gate(struct vblk_queue *bq)
{
	struct virtio_blk *d = bq->dev;

	bq->stats.rmw_waits++;
	__atomic_fetch_or(&d->rmw_waiters, 1u << bq->q, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&d->rmw_gate, __ATOMIC_SEQ_CST) == NULL)
		vblk_request_work(bq); /* released meanwhile: look again soon */
	return false;
}

void vblk_rmw_drained(struct virtio_blk *d)
{
	struct virtio_blk_slot *g = __atomic_load_n(&d->rmw_gate, __ATOMIC_SEQ_CST);
	if (g != NULL && READ_ONCE(d->rmw.owner) != g)
		vblk_request_work(vblk_queue_of(d, g));
}

void vblk_inflight_done(struct virtio_blk *d, uint32_t n)
{
	if (n != 0 && __atomic_sub_fetch(&d->inflight_total, n, __ATOMIC_SEQ_CST) == 0)
		vblk_rmw_drained(d);
}

bool vblk_rmw_may_submit(struct vblk_queue *bq, struct virtio_blk_slot *s)
{
	struct virtio_blk *d = bq->dev;
	struct virtio_blk_rmw *r = &d->rmw;
	struct virtio_blk_slot *g = __atomic_load_n(&d->rmw_gate, __ATOMIC_SEQ_CST);

	if (g != s && s->rmw) {
		/* Claim the disk: from now on no queue submits anything else. */
		if (g != NULL || !__atomic_compare_exchange_n(&d->rmw_gate, &g, s, false, __ATOMIC_SEQ_CST,
							      __ATOMIC_SEQ_CST))
			return wait_for_gate(bq);
		g = s;
	}
	if (g == s) {
		if (r->owner != s) {
			/* Claimed (the claim before the look: a submission that did not see it is counted),
			 * and it starts once the disk has drained; the completion that drains it asks for
			 * work (vblk_inflight_done). */
			if (__atomic_load_n(&d->inflight_total, __ATOMIC_SEQ_CST) != 0 || any_orphans(d)) {
				bq->stats.rmw_waits++;
				return false;
			}
			WRITE_ONCE(r->owner, s);
			r->phase = PH_START;
			r->sector = s->req.sector;
			r->end = s->req.sector + s->req.nsectors;
			r->gseg = 0;
			r->goff = 0;
		}
		__atomic_add_fetch(&d->inflight_total, 1, __ATOMIC_SEQ_CST);
		return true;
	}
	/* Anything else: counted first, then the gate looked at (a claim does the opposite). */
	if (!gate_blocks(g)) {
		__atomic_add_fetch(&d->inflight_total, 1, __ATOMIC_SEQ_CST);
		if (!gate_blocks(__atomic_load_n(&d->rmw_gate, __ATOMIC_SEQ_CST)))
			return true;
		vblk_inflight_done(d, 1); /* may be what the claim waits for */
	}
	return wait_for_gate(bq);
}

bool vblk_rmw_more(const struct virtio_blk *d, const struct virtio_blk_slot *s)
{
	return s->rmw && d->rmw.owner == s && d->rmw.phase != PH_NONE;
}

void vblk_rmw_release(struct virtio_blk *d, const struct virtio_blk_slot *s)
{
	if (__atomic_load_n(&d->rmw_gate, __ATOMIC_RELAXED) != s)
		return;
	if (d->rmw.owner == s) {
		WRITE_ONCE(d->rmw.owner, NULL);
		d->rmw.phase = PH_NONE;
	}
	__atomic_store_n(&d->rmw_gate, NULL, __ATOMIC_SEQ_CST);
	/* Every queue that stopped for it looks again (on its own vCPU). */
	uint32_t w = __atomic_exchange_n(&d->rmw_waiters, 0, __ATOMIC_SEQ_CST);
	for (; w != 0; w &= w - 1)
		vblk_request_work(&d->queues[__builtin_ctz(w)]);
}

/* Copy len bytes between the bounce buffer at off and the owner's guest data at the cursor. */
static void copy_guest(struct vblk_queue *bq, struct virtio_blk_slot *s, uint32_t off, uint32_t len,
		       bool to_guest)
{
	struct virtio_blk *d = bq->dev;
	struct virtio_blk_rmw *r = &d->rmw;

	bq->stats.bytes_copied += len;
	bq->stats.rmw_bytes += len;
	while (len > 0) {
		if (r->gseg >= s->split_nsegs)
			panic("%s: sub-block copy beyond the request's data", d->mmio.name);
		const struct blk_seg *g = &s->segs[r->gseg];
		uint32_t n = MIN(len, g->len - r->goff);
		n = MIN(n, BOUNCE_PAGE - off % BOUNCE_PAGE);
		uint8_t *b = (uint8_t *)r->pages[off / BOUNCE_PAGE] + off % BOUNCE_PAGE;
		uint8_t *gp = pa_to_ptr(pa_add(g->pa, r->goff));
		if (to_guest)
			memcpy(gp, b, n);
		else
			memcpy(b, gp, n);
		off += n;
		len -= n;
		r->goff += n;
		if (r->goff == g->len) {
			r->gseg++;
			r->goff = 0;
		}
	}
}

/* The current piece: the blocks covering r->sector on, at most piece_max bytes. */
static void next_piece(struct virtio_blk *d)
{
	struct virtio_blk_rmw *r = &d->rmw;
	uint32_t per_block = d->bdev->block_size / BLK_SECTOR_SIZE;
	uint64_t end_blk = r->end + (per_block - r->end % per_block) % per_block;

	r->first = r->sector - r->sector % per_block;
	r->bytes = (uint32_t)((MIN(end_blk, r->first + r->piece_max / BLK_SECTOR_SIZE) - r->first) *
			      BLK_SECTOR_SIZE);
}

/* The guest's sectors in the current piece end here. */
static uint64_t piece_guest_end(const struct virtio_blk_rmw *r)
{
	return MIN(r->end, r->first + r->bytes / BLK_SECTOR_SIZE);
}

/* s->req: read or write the current piece's blocks through the bounce pages. */
static void set_req(struct vblk_queue *bq, struct virtio_blk_slot *s, enum blk_op op)
{
	struct virtio_blk *d = bq->dev;
	struct virtio_blk_rmw *r = &d->rmw;
	uint32_t mss = d->bdev->max_seg_size;
	uint32_t left = r->bytes;
	unsigned n = 0;

	for (unsigned i = 0; left > 0; i++) {
		uint32_t in_page = MIN(left, BOUNCE_PAGE);
		paddr_t pa = ptr_to_pa(r->pages[i]);
		left -= in_page;
		while (in_page > 0) {
			uint32_t piece = MIN(in_page, mss);
			r->segs[n].pa = pa;
			r->segs[n].len = piece;
			n++;
			pa = pa_add(pa, piece);
			in_page -= piece;
		}
	}
	s->req.op = op;
	s->req.sector = r->first;
	s->req.nsectors = r->bytes / BLK_SECTOR_SIZE;
	s->req.segs = r->segs;
	s->req.nsegs = n;
	bq->stats.rmw_parts++;
}

/* Copy the guest's part of the current piece: to the guest (a read) or into the bounce (a merge). */
static void copy_piece(struct vblk_queue *bq, struct virtio_blk_slot *s, bool to_guest)
{
	struct virtio_blk_rmw *r = &bq->dev->rmw;
	uint64_t gend = piece_guest_end(r);
	copy_guest(bq, s, (uint32_t)((r->sector - r->first) * BLK_SECTOR_SIZE),
		   (uint32_t)((gend - r->sector) * BLK_SECTOR_SIZE), to_guest);
}

enum vblk_rmw_step vblk_rmw_next(struct vblk_queue *bq, struct virtio_blk_slot *s)
{
	struct virtio_blk *d = bq->dev;
	struct virtio_blk_rmw *r = &d->rmw;
	bool write = s->type == VIRTIO_BLK_T_OUT;

	switch (r->phase) {
	case PH_START:
		break;
	case PH_READ:
		copy_piece(bq, s, !write);
		if (write) {
			/* Merged in the bounce buffer: write the whole blocks back, now. */
			set_req(bq, s, BLK_OP_WRITE);
			r->phase = PH_WRITE;
			return VBLK_RMW_SUBMIT;
		}
		r->sector = piece_guest_end(r);
		break;
	case PH_WRITE:
		r->sector = piece_guest_end(r);
		break;
	default:
		panic("%s: sub-block request in phase %u", d->mmio.name, r->phase);
	}
	if (r->sector == r->end) {
		r->phase = PH_NONE;
		return VBLK_RMW_DONE;
	}
	next_piece(d);
	if (write && r->sector == r->first && piece_guest_end(r) == r->first + r->bytes / BLK_SECTOR_SIZE) {
		/* The guest's bytes cover the piece's blocks: nothing to preserve, no read. */
		copy_piece(bq, s, false);
		set_req(bq, s, BLK_OP_WRITE);
		r->phase = PH_WRITE;
		return VBLK_RMW_SUBMIT;
	}
	set_req(bq, s, BLK_OP_READ);
	r->phase = PH_READ;
	return VBLK_RMW_SUBMIT;
}
