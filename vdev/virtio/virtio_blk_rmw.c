/*
 * Sub-block virtio-blk requests through the disk's bounce buffer (contract: virtio_blk.h). One such
 * request runs at a time per disk, alone (vblk_rmw_may_submit); its phases are backend requests on
 * the bounce pages, built and copied here on the VM's own vCPU (the pump). Lock held throughout.
 */
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

void vblk_rmw_start(struct virtio_blk *d, struct virtio_blk_slot *s, unsigned nsegs, uint64_t sector,
		    uint64_t nsectors)
{
	s->rmw = true;
	s->rmw_due = true; /* the pump runs the first phase once the request may start */
	s->split_nsegs = (uint16_t)nsegs;
	s->req.sector = sector;
	s->req.nsectors = nsectors;
	s->req.segs = s->segs;
	s->req.nsegs = nsegs;
	d->stats.rmw_requests++;
}

bool vblk_rmw_may_submit(struct virtio_blk *d, struct virtio_blk_slot *s)
{
	struct virtio_blk_rmw *r = &d->rmw;
	const struct virtio_blk_slot *o = r->owner;

	/* An orphan of a reset keeps the bounce buffer (it may still DMA) but blocks nothing else. */
	if (o != NULL && !o->orphaned)
		return o == s;
	if (!s->rmw)
		return true;
	if (o != NULL || d->ninflight > 0 || d->norphaned > 0) {
		d->stats.rmw_waits++;
		return false;
	}
	r->owner = s;
	r->phase = PH_START;
	r->sector = s->req.sector;
	r->end = s->req.sector + s->req.nsectors;
	r->gseg = 0;
	r->goff = 0;
	return true;
}

bool vblk_rmw_more(const struct virtio_blk *d, const struct virtio_blk_slot *s)
{
	return s->rmw && d->rmw.owner == s && d->rmw.phase != PH_NONE;
}

void vblk_rmw_release(struct virtio_blk *d, const struct virtio_blk_slot *s)
{
	if (d->rmw.owner == s) {
		d->rmw.owner = NULL;
		d->rmw.phase = PH_NONE;
	}
}

/* Copy len bytes between the bounce buffer at off and the owner's guest data at the cursor. */
static void copy_guest(struct virtio_blk *d, struct virtio_blk_slot *s, uint32_t off, uint32_t len,
		       bool to_guest)
{
	struct virtio_blk_rmw *r = &d->rmw;

	d->stats.bytes_copied += len;
	d->stats.rmw_bytes += len;
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
static void set_req(struct virtio_blk *d, struct virtio_blk_slot *s, enum blk_op op)
{
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
	d->stats.rmw_parts++;
}

/* Copy the guest's part of the current piece: to the guest (a read) or into the bounce (a merge). */
static void copy_piece(struct virtio_blk *d, struct virtio_blk_slot *s, bool to_guest)
{
	struct virtio_blk_rmw *r = &d->rmw;
	uint64_t gend = piece_guest_end(r);
	copy_guest(d, s, (uint32_t)((r->sector - r->first) * BLK_SECTOR_SIZE),
		   (uint32_t)((gend - r->sector) * BLK_SECTOR_SIZE), to_guest);
}

enum vblk_rmw_step vblk_rmw_next(struct virtio_blk *d, struct virtio_blk_slot *s)
{
	struct virtio_blk_rmw *r = &d->rmw;
	bool write = s->type == VIRTIO_BLK_T_OUT;

	switch (r->phase) {
	case PH_START:
		break;
	case PH_READ:
		copy_piece(d, s, !write);
		if (write) {
			/* Merged in the bounce buffer: write the whole blocks back, now. */
			set_req(d, s, BLK_OP_WRITE);
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
		copy_piece(d, s, false);
		set_req(d, s, BLK_OP_WRITE);
		r->phase = PH_WRITE;
		return VBLK_RMW_SUBMIT;
	}
	set_req(d, s, BLK_OP_READ);
	r->phase = PH_READ;
	return VBLK_RMW_SUBMIT;
}
