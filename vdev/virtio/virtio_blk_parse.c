/* virtio-blk request parsing: header, data and status of a popped chain become a backend request. */
#include "arch/barrier.h"
#include <string.h>

#include "keel/util.h"
#include "vdev/virtio/virtio_blk_int.h"

/* --- chain helpers: byte ranges of the readable / writable parts --------- */

static void part_bounds(const struct virtq_chain *c, bool writable, unsigned *first, unsigned *end)
{
	*first = writable ? c->nreadable : 0;
	*end = writable ? c->nbufs : c->nreadable;
}

/* Copy len bytes at offset off of the device-readable part (the caller checked the length). */
static void copy_from_readable(const struct virtq_chain *c, uint32_t off, void *dst, uint32_t len)
{
	uint8_t *out = dst;
	for (unsigned i = 0; i < c->nreadable && len > 0; i++) {
		const struct virtq_buf *b = &c->bufs[i];
		if (off >= b->len) {
			off -= b->len;
			continue;
		}
		uint32_t n = MIN(len, b->len - off);
		memcpy(out, (const uint8_t *)pa_to_ptr(b->pa) + off, n);
		out += n;
		len -= n;
		off = 0;
	}
}

/* Copy len bytes to the start of the device-writable part (the caller checked the length). */
static void copy_to_writable(const struct virtq_chain *c, const void *src, uint32_t len)
{
	const uint8_t *in = src;
	for (unsigned i = c->nreadable; i < c->nbufs && len > 0; i++) {
		const struct virtq_buf *b = &c->bufs[i];
		uint32_t n = MIN(len, b->len);
		memcpy(pa_to_ptr(b->pa), in, n);
		in += n;
		len -= n;
	}
}

/*
 * Describe [off, off+len) of one part as backend segments, splitting at the
 * backend's max_seg_size. Returns the count, or -1 if more than max are needed.
 */
static int build_segs(const struct virtio_blk *d, const struct virtq_chain *c, bool writable, uint32_t off,
		      uint32_t len, struct blk_seg *segs, unsigned max)
{
	uint32_t max_seg = d->bdev->max_seg_size;
	unsigned first, end, n = 0;

	part_bounds(c, writable, &first, &end);
	for (unsigned i = first; i < end && len > 0; i++) {
		const struct virtq_buf *b = &c->bufs[i];
		if (off >= b->len) {
			off -= b->len;
			continue;
		}
		paddr_t pa = pa_add(b->pa, off);
		uint32_t avail = MIN(len, b->len - off);
		off = 0;
		len -= avail;
		while (avail > 0) {
			uint32_t piece = MIN(avail, max_seg);
			if (n >= max)
				return -1;
			segs[n].pa = pa;
			segs[n].len = piece;
			n++;
			pa = pa_add(pa, piece);
			avail -= piece;
		}
	}
	return (int)n;
}

static bool in_capacity(const struct virtio_blk *d, uint64_t sector, uint64_t nsectors)
{
	uint64_t cap = d->bdev->nsectors;
	return sector <= cap && nsectors <= cap - sector;
}

static bool block_aligned(const struct virtio_blk *d, uint64_t sector, uint64_t nsectors)
{
	uint32_t per_block = d->bdev->block_size / BLK_SECTOR_SIZE;
	return sector % per_block == 0 && nsectors % per_block == 0;
}

static bool sectors_ok(const struct virtio_blk *d, uint64_t sector, uint64_t nsectors)
{
	return in_capacity(d, sector, nsectors) && block_aligned(d, sector, nsectors);
}

#define REJECT(bq, c, status, len, ...)                                                                      \
	do {                                                                                                 \
		virtio_guest_err(&(bq)->dev->mmio, __VA_ARGS__);                                             \
		vblk_complete_now((bq), (c), (status), (len));                                               \
		return;                                                                                      \
	} while (0)

static void handle_rw(struct vblk_queue *bq, const struct virtq_chain *c, uint32_t type, uint64_t sector)
{
	struct virtio_blk *d = bq->dev;
	bool is_write = type == VIRTIO_BLK_T_OUT;
	uint32_t rdata = c->readable_len - sizeof(struct virtio_blk_outhdr);
	uint32_t wdata = c->writable_len - 1;
	uint32_t err_len = c->writable_len == 1 ? 1 : 0;
	uint32_t ok_len = is_write ? err_len : c->writable_len;
	uint32_t len = is_write ? rdata : wdata;

	if (is_write ? wdata != 0 : rdata != 0)
		REJECT(bq, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: %s with data in the wrong direction",
		       c->head, is_write ? "write" : "read");
	if (is_write && d->read_only)
		REJECT(bq, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: write to read-only disk (sector %llu)",
		       c->head, (unsigned long long)sector);
	if (len % BLK_SECTOR_SIZE != 0)
		REJECT(bq, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: data length %u not a multiple of 512",
		       c->head, len);
	uint64_t nsectors = len / BLK_SECTOR_SIZE;
	/* Sub-block I/O goes through the bounce buffer when the disk has one. */
	bool aligned = block_aligned(d, sector, nsectors);
	if (!in_capacity(d, sector, nsectors) || (!aligned && !vblk_rmw_available(d)))
		REJECT(bq, c, VIRTIO_BLK_S_IOERR, err_len,
		       "head %u: sectors %llu+%llu beyond capacity %llu or misaligned to %u", c->head,
		       (unsigned long long)sector, (unsigned long long)nsectors,
		       (unsigned long long)d->bdev->nsectors, d->bdev->block_size);
	if (nsectors == 0) {
		vblk_complete_now(bq, c, VIRTIO_BLK_S_OK, ok_len);
		return;
	}
	if (len > VIRTIO_BLK_SPLIT_MAX_BYTES)
		REJECT(bq, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: %llu sectors exceed keel's limit %u",
		       c->head, (unsigned long long)nsectors, VIRTIO_BLK_SPLIT_MAX_BYTES / BLK_SECTOR_SIZE);

	struct virtio_blk_slot *s = vblk_slot_alloc(bq);
	int nsegs = build_segs(d, c, !is_write, is_write ? sizeof(struct virtio_blk_outhdr) : 0, len, s->segs,
			       VIRTIO_BLK_MAX_SEGS);
	if (nsegs <= 0) {
		vblk_slot_free(bq, s);
		REJECT(bq, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: more than %u data segments", c->head,
		       VIRTIO_BLK_MAX_SEGS);
	}
	if ((unsigned)nsegs > d->seg_max && virtio_mmio_negotiated(&d->mmio, VIRTIO_BLK_F_SEG_MAX)) {
		/* The driver accepted seg_max and broke it: its error (§5.2.4). */
		vblk_slot_free(bq, s);
		REJECT(bq, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: more than seg_max %u data segments",
		       c->head, d->seg_max);
	}
	bq->stats.rw_requests++;
	bq->stats.rw_segs += (unsigned)nsegs;
	if (nsectors > VIRTIO_BLK_POLL_LARGE_SECTORS) {
		bq->stats.large_requests++;
		bq->stats.large_segs += (unsigned)nsegs;
	}
	s->req.op = is_write ? BLK_OP_WRITE : BLK_OP_READ;
	if (!aligned) {
		vblk_rmw_start(bq, s, (unsigned)nsegs, sector, nsectors);
	} else if (nsectors > d->bdev->max_sectors || (unsigned)nsegs > d->seg_max) {
		/* Beyond what the backend takes at once (a driver that ignores SIZE_MAX/SEG_MAX). */
		vblk_split_start(s, (unsigned)nsegs, sector, nsectors);
		bq->stats.split_requests++;
	} else {
		s->req.sector = sector;
		s->req.nsectors = nsectors;
		s->req.segs = s->segs;
		s->req.nsegs = (unsigned)nsegs;
	}
	s->data_bytes = len;
	s->flush_after = is_write && (d->bdev->flags & BLKDEV_F_FLUSH) &&
			 !virtio_mmio_negotiated(&d->mmio, VIRTIO_BLK_F_FLUSH);
	vblk_queue_slot(bq, s, c, type, ok_len, err_len);
}

static void handle_discard_wz(struct vblk_queue *bq, const struct virtq_chain *c, uint32_t type)
{
	struct virtio_blk *d = bq->dev;
	bool discard = type == VIRTIO_BLK_T_DISCARD;
	uint32_t rdata = c->readable_len - sizeof(struct virtio_blk_outhdr);
	uint32_t err_len = c->writable_len == 1 ? 1 : 0;
	struct virtio_blk_discard_write_zeroes range;

	if (!virtio_mmio_negotiated(&d->mmio, discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES))
		REJECT(bq, c, VIRTIO_BLK_S_UNSUPP, err_len, "head %u: request type %u not negotiated",
		       c->head, type);
	if (c->writable_len != 1)
		REJECT(bq, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: discard/write-zeroes with writable data",
		       c->head);
	if (rdata == 0 || rdata % sizeof(range) != 0)
		REJECT(bq, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: range list of %u bytes", c->head, rdata);
	if (rdata / sizeof(range) > d->config.max_discard_seg)
		REJECT(bq, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: %u ranges exceed the limit %u", c->head,
		       (unsigned)(rdata / sizeof(range)), d->config.max_discard_seg);
	copy_from_readable(c, sizeof(struct virtio_blk_outhdr), &range, sizeof(range));
	bq->stats.bytes_copied += sizeof(range);

	/* §5.2.6.2: unknown flags, or unmap on a discard, are UNSUPP. */
	if ((range.flags & ~VIRTIO_BLK_DWZ_F_UNMAP) || (discard && (range.flags & VIRTIO_BLK_DWZ_F_UNMAP)))
		REJECT(bq, c, VIRTIO_BLK_S_UNSUPP, err_len, "head %u: range flags 0x%x unsupported", c->head,
		       range.flags);
	if (d->read_only)
		REJECT(bq, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: discard/write-zeroes on read-only disk",
		       c->head);
	if (!sectors_ok(d, range.sector, range.num_sectors) || range.num_sectors > d->bdev->max_sectors)
		REJECT(bq, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: range %llu+%u beyond capacity or limits",
		       c->head, (unsigned long long)range.sector, range.num_sectors);
	if (range.num_sectors == 0) {
		vblk_complete_now(bq, c, VIRTIO_BLK_S_OK, err_len);
		return;
	}

	struct virtio_blk_slot *s = vblk_slot_alloc(bq);
	s->req.op = discard ? BLK_OP_DISCARD : BLK_OP_WRITE_ZEROES;
	s->req.sector = range.sector;
	s->req.nsectors = range.num_sectors;
	s->req.segs = NULL;
	s->req.nsegs = 0;
	s->data_bytes = 0;
	vblk_queue_slot(bq, s, c, type, err_len, err_len);
}

void vblk_handle_chain(struct vblk_queue *bq, const struct virtq_chain *c)
{
	struct virtio_blk *d = bq->dev;
	struct virtio_blk_outhdr hdr;

	if (c->writable_len == 0) {
		/* Nowhere to put a status: return the chain with nothing written. */
		virtio_guest_err(&d->mmio, "head %u: request without a device-writable status byte", c->head);
		vblk_push_used(bq, c->head, 0);
		bq->stats.errors++;
		return;
	}
	uint32_t err_len = c->writable_len == 1 ? 1 : 0;
	if (c->readable_len < sizeof(hdr))
		REJECT(bq, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: request header shorter than 16 bytes",
		       c->head);
	copy_from_readable(c, 0, &hdr, sizeof(hdr));

	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		handle_rw(bq, c, hdr.type, hdr.sector);
		return;
	case VIRTIO_BLK_T_FLUSH: {
		if (!virtio_mmio_negotiated(&d->mmio, VIRTIO_BLK_F_FLUSH))
			REJECT(bq, c, VIRTIO_BLK_S_UNSUPP, err_len, "head %u: flush not negotiated", c->head);
		/* Any data in a flush is ignored (the driver SHOULD NOT send it). */
		struct virtio_blk_slot *s = vblk_slot_alloc(bq);
		s->req.op = BLK_OP_FLUSH;
		s->req.sector = 0;
		s->req.nsectors = 0;
		s->req.segs = NULL;
		s->req.nsegs = 0;
		s->data_bytes = 0;
		vblk_queue_slot(bq, s, c, hdr.type, err_len, err_len);
		return;
	}
	case VIRTIO_BLK_T_GET_ID: {
		uint32_t wdata = c->writable_len - 1;
		if (c->readable_len != sizeof(hdr))
			REJECT(bq, c, VIRTIO_BLK_S_IOERR, err_len,
			       "head %u: GET_ID with device-readable data", c->head);
		uint32_t n = MIN(wdata, VIRTIO_BLK_ID_BYTES);
		copy_to_writable(c, d->serial, n);
		bq->stats.bytes_copied += n;
		vblk_complete_now(bq, c, VIRTIO_BLK_S_OK, n == wdata ? c->writable_len : n);
		return;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		handle_discard_wz(bq, c, hdr.type);
		return;
	default:
		REJECT(bq, c, VIRTIO_BLK_S_UNSUPP, err_len, "head %u: unsupported request type %u", c->head,
		       hdr.type);
	}
}

bool vblk_answer_bad_chain(struct vblk_queue *bq, const struct virtq_chain *c, const char *why)
{
	struct virtio_mmio *t = &bq->dev->mmio;

	bq->stats.errors++;
	if (c->status_ok) {
		virtio_guest_err(t, "head %u: malformed descriptor chain (%s): IOERR", c->head, why);
		vblk_write_status(c->status_pa, VIRTIO_BLK_S_IOERR);
		vblk_push_used(bq, c->head, 1);
		return true;
	}
	if (c->any_writable) {
		virtio_guest_err(t, "head %u: malformed descriptor chain (%s) with no usable status byte",
				 c->head, why);
		vblk_needs_reset(bq, why);
		return false;
	}
	virtio_guest_err(t, "head %u: malformed descriptor chain (%s) with nothing device-writable", c->head,
			 why);
	vblk_push_used(bq, c->head, 0);
	return true;
}

/*
 * virtio 1.2 §5.2.5: blk_size does not change the request units (always 512 bytes). A disk with
 * larger blocks serves 512-byte-granular I/O by read-modify-write through its bounce buffer
 * (virtio_blk_rmw.c), so any driver is accepted. Without a bounce buffer, a driver that did not
 * negotiate BLK_SIZE cannot know that such I/O fails, so it is refused here instead.
 */
bool vblk_features_ok(struct virtio_mmio *t, uint64_t features)
{
	const struct virtio_blk *d = t->owner;
	if (d->bdev->block_size > BLK_SECTOR_SIZE && !vblk_rmw_available(d) &&
	    !(features & BIT(VIRTIO_BLK_F_BLK_SIZE))) {
		virtio_guest_err(
		    t,
		    "FEATURES_OK refused: the disk has %u-byte blocks and the driver did not accept "
		    "VIRTIO_BLK_F_BLK_SIZE",
		    d->bdev->block_size);
		return false;
	}
	return true;
}
