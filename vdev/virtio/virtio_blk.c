/* virtio-blk over a blkdev: parse requests from popped chains, hand segments to the backend, complete. */
#include "vdev/virtio/virtio_blk.h"

#include <errno.h>
#include <string.h>

#include "arch/barrier.h"
#include "arch/cpu.h"
#include "arch/timer.h"
#include "core/vm.h"
#include "keel/util.h"

#define SLOT_NONE 0xffffu

enum slot_state { SLOT_FREE, SLOT_PENDING, SLOT_INFLIGHT };

static struct virtio_blk *blk_of(struct virtio_mmio *t)
{
	return t->owner;
}

/* --- slots ---------------------------------------------------------------- */

static uint16_t slot_index(const struct virtio_blk *d, const struct virtio_blk_slot *s)
{
	return (uint16_t)(s - d->slots);
}

static struct virtio_blk_slot *slot_alloc(struct virtio_blk *d)
{
	if (d->nfree == 0)
		panic("%s: no free request slot", d->mmio.name); /* the pump checks first */
	struct virtio_blk_slot *s = &d->slots[d->free_stack[--d->nfree]];
	s->state = SLOT_PENDING;
	s->flush_after = false;
	s->orphaned = false;
	s->cancelled = false;
	s->next = SLOT_NONE;
	return s;
}

static void slot_free(struct virtio_blk *d, struct virtio_blk_slot *s)
{
	s->state = SLOT_FREE;
	d->free_stack[d->nfree++] = slot_index(d, s);
}

static void pending_push_back(struct virtio_blk *d, struct virtio_blk_slot *s)
{
	uint16_t i = slot_index(d, s);
	s->state = SLOT_PENDING;
	s->next = SLOT_NONE;
	if (d->pending_last == SLOT_NONE)
		d->pending_first = i;
	else
		d->slots[d->pending_last].next = i;
	d->pending_last = i;
}

static void pending_push_front(struct virtio_blk *d, struct virtio_blk_slot *s)
{
	uint16_t i = slot_index(d, s);
	s->state = SLOT_PENDING;
	s->next = d->pending_first;
	d->pending_first = i;
	if (d->pending_last == SLOT_NONE)
		d->pending_last = i;
}

static struct virtio_blk_slot *pending_pop_front(struct virtio_blk *d)
{
	if (d->pending_first == SLOT_NONE)
		return NULL;
	struct virtio_blk_slot *s = &d->slots[d->pending_first];
	d->pending_first = s->next;
	if (d->pending_first == SLOT_NONE)
		d->pending_last = SLOT_NONE;
	s->next = SLOT_NONE;
	return s;
}

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

/* The last device-writable byte: where the status goes. The chain has writable_len >= 1. */
static paddr_t last_writable_byte(const struct virtq_chain *c)
{
	const struct virtq_buf *b = &c->bufs[c->nbufs - 1];
	return pa_add(b->pa, b->len - 1);
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

/* --- completion ----------------------------------------------------------- */

static void write_status_byte(paddr_t pa, uint8_t status)
{
	*(volatile uint8_t *)pa_to_ptr(pa) = status;
}

static void push_used(struct virtio_blk *d, uint16_t head, uint32_t len)
{
	/* The queue is ready here (the callers check), so push cannot fail. */
	if (virtq_push(&d->mmio.queues[0], head, len) != 0)
		panic("%s: used ring push failed", d->mmio.name);
	d->irq_check = true;
}

static void flush_irq(struct virtio_blk *d)
{
	if (!d->irq_check)
		return;
	d->irq_check = false;
	if (virtq_needs_interrupt(&d->mmio.queues[0]))
		virtio_mmio_signal_used(&d->mmio);
}

/* Complete a request that never reached the backend. */
static void complete_now(struct virtio_blk *d, const struct virtq_chain *c, uint8_t status, uint32_t used_len)
{
	write_status_byte(last_writable_byte(c), status);
	push_used(d, c->head, used_len);
	if (status != VIRTIO_BLK_S_OK)
		d->stats.errors++;
}

/* Complete a slot (lock held). During a reset the rings are being torn down: touch nothing. */
static void finish_slot(struct virtio_blk *d, struct virtio_blk_slot *s, uint8_t status)
{
	if (!d->mmio.resetting && d->mmio.queues[0].ready) {
		write_status_byte(s->status_pa, status);
		push_used(d, s->head, status == VIRTIO_BLK_S_OK ? s->used_len_ok : s->used_len_err);
		if (status != VIRTIO_BLK_S_OK)
			d->stats.errors++;
		else if (s->type == VIRTIO_BLK_T_IN)
			d->stats.bytes_read += s->data_bytes;
		else if (s->type == VIRTIO_BLK_T_OUT)
			d->stats.bytes_written += s->data_bytes;
	}
	slot_free(d, s);
}

static uint8_t status_from_blk(int rc)
{
	if (rc == BLK_OK)
		return VIRTIO_BLK_S_OK;
	return rc == BLK_ENOTSUP ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
}

/* Lock held. Anything for the owner's vCPU to do: a pending (re)submission, or a ring that stalled
 * for lack of slots. */
static bool wants_work(const struct virtio_blk *d)
{
	return !d->quiescing && (d->pending_first != SLOT_NONE || d->stalled);
}

/* Lock held. Ask the owner VM to run the queue on its own vCPU (never here). */
static void request_work(struct virtio_blk *d)
{
	vm_request_work(d->mmio.vm, d->home_vcpu);
}

/*
 * Completion context: any CPU's interrupt handler, any vCPU's polling (maybe another VM's), or the
 * backend's submit itself. Finish the slot and decide the interrupt; never pop, parse or submit.
 */
static void req_done(struct blk_req *req, int rc)
{
	struct virtio_blk_slot *s = req->ctx;
	struct virtio_blk *d = s->dev;
	struct virtio_mmio *t = &d->mmio;

	spin_lock(&t->lock);
	if (s->state != SLOT_INFLIGHT)
		panic("%s: backend completed request slot %u twice", t->name, slot_index(d, s));
	if (s->orphaned) {
		d->norphaned--;
		slot_free(d, s);
		spin_unlock(&t->lock);
		return;
	}
	d->ninflight--;
	if (rc != BLK_OK && rc != BLK_ECANCELED && virtio_mmio_log_allowed(t))
		log_warn("%s: backend %s failed request (type %u sector %llu): %d", t->name, d->bdev->name,
			 s->type, (unsigned long long)s->req.sector, rc);
	if (rc == BLK_OK && s->flush_after && !d->quiescing && !t->resetting) {
		/* Write-through: the write completes to the guest only once it is stable. */
		s->flush_after = false;
		s->req.op = BLK_OP_FLUSH;
		s->req.sector = 0;
		s->req.nsectors = 0;
		s->req.segs = NULL;
		s->req.nsegs = 0;
		pending_push_front(d, s);
	} else {
		finish_slot(d, s, status_from_blk(rc));
		if (!d->pumping)
			flush_irq(d);
	}
	bool kick = false;
	if (d->pumping)
		d->repump = true; /* the vCPU processing the queue looks again before it stops */
	else
		kick = wants_work(d);
	if (kick)
		request_work(d);
	spin_unlock(&t->lock);
}

/* The backend may take a request it refused with BLK_EBUSY now (any context). */
static void blk_wake(void *ctx)
{
	struct virtio_blk *d = ctx;
	vm_request_work(d->mmio.vm, READ_ONCE(d->home_vcpu));
}

/* --- request parsing ------------------------------------------------------ */

/* Queue a parsed request on the pending list. */
static void queue_slot(struct virtio_blk *d, struct virtio_blk_slot *s, const struct virtq_chain *c,
		       uint32_t type, uint32_t used_len_ok, uint32_t used_len_err)
{
	s->dev = d;
	s->type = type;
	s->head = c->head;
	s->status_pa = last_writable_byte(c);
	s->used_len_ok = used_len_ok;
	s->used_len_err = used_len_err;
	s->req.done = req_done;
	s->req.ctx = s;
	pending_push_back(d, s);
}

static bool sectors_ok(const struct virtio_blk *d, uint64_t sector, uint64_t nsectors)
{
	uint64_t cap = d->bdev->nsectors;
	uint32_t per_block = d->bdev->block_size / BLK_SECTOR_SIZE;

	if (sector > cap || nsectors > cap - sector)
		return false;
	return sector % per_block == 0 && nsectors % per_block == 0;
}

#define REJECT(d, c, status, len, ...)                                                                       \
	do {                                                                                                 \
		virtio_guest_err(&(d)->mmio, __VA_ARGS__);                                                   \
		complete_now((d), (c), (status), (len));                                                     \
		return;                                                                                      \
	} while (0)

static void handle_rw(struct virtio_blk *d, const struct virtq_chain *c, uint32_t type, uint64_t sector)
{
	bool is_write = type == VIRTIO_BLK_T_OUT;
	uint32_t rdata = c->readable_len - sizeof(struct virtio_blk_outhdr);
	uint32_t wdata = c->writable_len - 1;
	uint32_t err_len = c->writable_len == 1 ? 1 : 0;
	uint32_t ok_len = is_write ? err_len : c->writable_len;
	uint32_t len = is_write ? rdata : wdata;

	if (is_write ? wdata != 0 : rdata != 0)
		REJECT(d, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: %s with data in the wrong direction",
		       c->head, is_write ? "write" : "read");
	if (is_write && d->read_only)
		REJECT(d, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: write to read-only disk (sector %llu)",
		       c->head, (unsigned long long)sector);
	if (len % BLK_SECTOR_SIZE != 0)
		REJECT(d, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: data length %u not a multiple of 512",
		       c->head, len);
	uint64_t nsectors = len / BLK_SECTOR_SIZE;
	if (!sectors_ok(d, sector, nsectors))
		REJECT(d, c, VIRTIO_BLK_S_IOERR, err_len,
		       "head %u: sectors %llu+%llu beyond capacity %llu or misaligned to %u", c->head,
		       (unsigned long long)sector, (unsigned long long)nsectors,
		       (unsigned long long)d->bdev->nsectors, d->bdev->block_size);
	if (nsectors == 0) {
		complete_now(d, c, VIRTIO_BLK_S_OK, ok_len);
		return;
	}
	if (nsectors > d->bdev->max_sectors)
		REJECT(d, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: %llu sectors exceed the device limit %u",
		       c->head, (unsigned long long)nsectors, d->bdev->max_sectors);

	struct virtio_blk_slot *s = slot_alloc(d);
	int nsegs = build_segs(d, c, !is_write, is_write ? sizeof(struct virtio_blk_outhdr) : 0, len, s->segs,
			       d->seg_max);
	if (nsegs <= 0) {
		slot_free(d, s);
		REJECT(d, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: more than %u data segments", c->head,
		       d->seg_max);
	}
	s->req.op = is_write ? BLK_OP_WRITE : BLK_OP_READ;
	s->req.sector = sector;
	s->req.nsectors = nsectors;
	s->req.segs = s->segs;
	s->req.nsegs = (unsigned)nsegs;
	s->data_bytes = len;
	s->flush_after = is_write && (d->bdev->flags & BLKDEV_F_FLUSH) &&
			 !virtio_mmio_negotiated(&d->mmio, VIRTIO_BLK_F_FLUSH);
	queue_slot(d, s, c, type, ok_len, err_len);
}

static void handle_discard_wz(struct virtio_blk *d, const struct virtq_chain *c, uint32_t type)
{
	bool discard = type == VIRTIO_BLK_T_DISCARD;
	uint32_t rdata = c->readable_len - sizeof(struct virtio_blk_outhdr);
	uint32_t err_len = c->writable_len == 1 ? 1 : 0;
	struct virtio_blk_discard_write_zeroes range;

	if (!virtio_mmio_negotiated(&d->mmio, discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES))
		REJECT(d, c, VIRTIO_BLK_S_UNSUPP, err_len, "head %u: request type %u not negotiated", c->head,
		       type);
	if (c->writable_len != 1)
		REJECT(d, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: discard/write-zeroes with writable data",
		       c->head);
	if (rdata == 0 || rdata % sizeof(range) != 0)
		REJECT(d, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: range list of %u bytes", c->head, rdata);
	if (rdata / sizeof(range) > d->config.max_discard_seg)
		REJECT(d, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: %u ranges exceed the limit %u", c->head,
		       (unsigned)(rdata / sizeof(range)), d->config.max_discard_seg);
	copy_from_readable(c, sizeof(struct virtio_blk_outhdr), &range, sizeof(range));
	d->stats.bytes_copied += sizeof(range);

	/* §5.2.6.2: unknown flags, or unmap on a discard, are UNSUPP. */
	if ((range.flags & ~VIRTIO_BLK_DWZ_F_UNMAP) || (discard && (range.flags & VIRTIO_BLK_DWZ_F_UNMAP)))
		REJECT(d, c, VIRTIO_BLK_S_UNSUPP, err_len, "head %u: range flags 0x%x unsupported", c->head,
		       range.flags);
	if (d->read_only)
		REJECT(d, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: discard/write-zeroes on read-only disk",
		       c->head);
	if (!sectors_ok(d, range.sector, range.num_sectors) || range.num_sectors > d->bdev->max_sectors)
		REJECT(d, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: range %llu+%u beyond capacity or limits",
		       c->head, (unsigned long long)range.sector, range.num_sectors);
	if (range.num_sectors == 0) {
		complete_now(d, c, VIRTIO_BLK_S_OK, err_len);
		return;
	}

	struct virtio_blk_slot *s = slot_alloc(d);
	s->req.op = discard ? BLK_OP_DISCARD : BLK_OP_WRITE_ZEROES;
	s->req.sector = range.sector;
	s->req.nsectors = range.num_sectors;
	s->req.segs = NULL;
	s->req.nsegs = 0;
	s->data_bytes = 0;
	queue_slot(d, s, c, type, err_len, err_len);
}

static void handle_chain(struct virtio_blk *d, const struct virtq_chain *c)
{
	struct virtio_blk_outhdr hdr;

	if (c->writable_len == 0) {
		/* Nowhere to put a status: return the chain with nothing written. */
		virtio_guest_err(&d->mmio, "head %u: request without a device-writable status byte", c->head);
		push_used(d, c->head, 0);
		d->stats.errors++;
		return;
	}
	uint32_t err_len = c->writable_len == 1 ? 1 : 0;
	if (c->readable_len < sizeof(hdr))
		REJECT(d, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: request header shorter than 16 bytes",
		       c->head);
	copy_from_readable(c, 0, &hdr, sizeof(hdr));

	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		handle_rw(d, c, hdr.type, hdr.sector);
		return;
	case VIRTIO_BLK_T_FLUSH: {
		if (!virtio_mmio_negotiated(&d->mmio, VIRTIO_BLK_F_FLUSH))
			REJECT(d, c, VIRTIO_BLK_S_UNSUPP, err_len, "head %u: flush not negotiated", c->head);
		/* Any data in a flush is ignored (the driver SHOULD NOT send it). */
		struct virtio_blk_slot *s = slot_alloc(d);
		s->req.op = BLK_OP_FLUSH;
		s->req.sector = 0;
		s->req.nsectors = 0;
		s->req.segs = NULL;
		s->req.nsegs = 0;
		s->data_bytes = 0;
		queue_slot(d, s, c, hdr.type, err_len, err_len);
		return;
	}
	case VIRTIO_BLK_T_GET_ID: {
		uint32_t wdata = c->writable_len - 1;
		if (c->readable_len != sizeof(hdr))
			REJECT(d, c, VIRTIO_BLK_S_IOERR, err_len, "head %u: GET_ID with device-readable data",
			       c->head);
		uint32_t n = MIN(wdata, VIRTIO_BLK_ID_BYTES);
		copy_to_writable(c, d->serial, n);
		d->stats.bytes_copied += n;
		complete_now(d, c, VIRTIO_BLK_S_OK, n == wdata ? c->writable_len : n);
		return;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		handle_discard_wz(d, c, hdr.type);
		return;
	default:
		REJECT(d, c, VIRTIO_BLK_S_UNSUPP, err_len, "head %u: unsupported request type %u", c->head,
		       hdr.type);
	}
}

/* --- the queue pump --------------------------------------------------------- */

/*
 * Submit pending requests, then pop and parse new chains, until the queue is empty, the backend is
 * busy, every slot is in use or *budget chains were popped. Lock held; dropped around
 * blkdev_submit because the backend may complete inside it. Returns true when it stopped at the
 * budget with the ring possibly non-empty: notifications are not re-armed then, so the caller must
 * come back (work). When it stops for slots the ring is not re-armed either: the completion that
 * frees a slot asks for work (d->stalled). After a BLK_EBUSY the backend's wake-up does.
 */
static bool pump_locked(struct virtio_blk *d, unsigned *budget)
{
	struct virtio_mmio *t = &d->mmio;
	struct virtq *vq = &t->queues[0];

	for (;;) {
		if (!virtio_mmio_live(t) || !vq->ready || d->quiescing)
			return false;

		struct virtio_blk_slot *s = pending_pop_front(d);
		if (s != NULL) {
			s->state = SLOT_INFLIGHT;
			s->cancelled = false;
			d->ninflight++;
			spin_unlock(&t->lock);
			int rc = blkdev_submit(d->bdev, &s->req);
			spin_lock(&t->lock);
			if (rc == 0)
				continue;
			if (s->orphaned) {
				d->norphaned--;
				slot_free(d, s);
				continue;
			}
			d->ninflight--;
			if (rc == BLK_EBUSY) {
				/* Keep the order; the backend's wake-up (blk_wake) resumes us. */
				d->stats.busy++;
				pending_push_front(d, s);
				return false;
			}
			if (virtio_mmio_log_allowed(t))
				log_warn("%s: backend %s refused request (type %u sector %llu): %d", t->name,
					 d->bdev->name, s->type, (unsigned long long)s->req.sector, rc);
			finish_slot(d, s, status_from_blk(rc));
			continue;
		}

		if (d->nfree == 0) {
			d->stalled = true; /* resumed by a completion */
			return false;
		}
		d->stalled = false;
		if (*budget == 0) {
			d->stats.work_yields++;
			return true;
		}

		switch (virtq_pop(vq, &d->chain)) {
		case VIRTQ_POP_EMPTY:
			if (virtq_arm_notify(vq))
				continue;
			return false;
		case VIRTQ_POP_RING_ERROR:
			d->stats.errors++;
			virtio_mmio_set_needs_reset(t, vq->error);
			return false;
		case VIRTQ_POP_BAD_CHAIN:
			(*budget)--;
			d->stats.requests++;
			d->stats.errors++;
			virtio_guest_err(t, "head %u: malformed descriptor chain: %s", d->chain.head,
					 vq->error);
			push_used(d, d->chain.head, 0);
			continue;
		case VIRTQ_POP_OK:
			(*budget)--;
			d->stats.requests++;
			handle_chain(d, &d->chain);
			continue;
		}
	}
}

/* At most one queue's worth of chains popped per call (VM's own vCPU only). */
static unsigned pop_budget(const struct virtio_blk *d)
{
	uint16_t n = d->mmio.queues[0].size;
	return n ? n : VIRTIO_BLK_QUEUE_SIZE;
}

/* Process the queue on the owner's vCPU. True when more remains (the budget ran out). */
static bool pump(struct virtio_blk *d)
{
	struct virtio_mmio *t = &d->mmio;
	bool more = false;

	spin_lock(&t->lock);
	if (d->pumping) {
		/* Another vCPU of this VM is pumping: it looks again before it stops. */
		d->repump = true;
		spin_unlock(&t->lock);
		return false;
	}
	d->pumping = true;
	unsigned budget = pop_budget(d);
	do {
		d->repump = false;
		more = pump_locked(d, &budget);
	} while (d->repump && !more);
	flush_irq(d);
	d->pumping = false;
	spin_unlock(&t->lock);
	return more;
}

/* --- transport ops ---------------------------------------------------------- */

static bool blk_config_read(struct virtio_mmio *t, uint32_t offset, unsigned size, uint32_t *value)
{
	const struct virtio_blk *d = blk_of(t);
	uint32_t v = 0;

	if (offset >= sizeof(d->config) || size > sizeof(d->config) - offset)
		return false;
	memcpy(&v, (const uint8_t *)&d->config + offset, size); /* little-endian host */
	*value = v;
	return true;
}

/* --- completion polling ------------------------------------------------------ */

/* Poll checks between two looks at the clock and the interrupt state. */
#define POLL_CHECK_EVERY 32u

/* Lock held. A quarter of the way to the new sample: one outlier does not stop polling. */
static void poll_estimate(struct virtio_blk *d, uint32_t sample_us)
{
	d->poll_est_us = (uint32_t)(((uint64_t)d->poll_est_us * 3 + sample_us) / 4);
}

/* Lock held. Worth waiting for the lone request in flight? */
static bool poll_worth(struct virtio_blk *d)
{
	if (d->poll_est_us <= d->poll_us)
		return true;
	/* Recent lone requests took longer than the window: probe now and then. */
	if (++d->poll_skipped < VIRTIO_BLK_POLL_PROBE)
		return false;
	d->poll_skipped = 0;
	return true;
}

/*
 * After a notify: if exactly one request is in flight, wait for it up to poll_us, so the guest
 * returns from its notify to a completed request (a QD1 guest would otherwise go idle, and come
 * back through an interrupt). The wait reads only memory the device writes, and ends when a
 * physical interrupt is pending: keel's tick, a kick and the guest's timer are never delayed.
 */
static void poll_lone_request(struct virtio_blk *d)
{
	struct virtio_mmio *t = &d->mmio;
	struct blkdev *b = d->bdev;

	if (d->poll_us == 0 || b->ops->completion_ready == NULL || b->ops->poll == NULL)
		return;
	spin_lock(&t->lock);
	bool lone = d->ninflight == 1 && !d->pumping && !t->resetting && poll_worth(d);
	spin_unlock(&t->lock);
	if (!lone)
		return;

	enum { POLL_HIT, POLL_MISS, POLL_BREAK } r;
	uint64_t t0 = timer_us(), now = t0;
	for (unsigned n = 1;; n++) {
		if (b->ops->completion_ready(b))
			b->ops->poll(b); /* reaps; req_done completes to the guest */
		/* (Another CPU's interrupt handler may have completed it too.) */
		if (READ_ONCE(d->ninflight) == 0) {
			r = POLL_HIT;
			break;
		}
		if (n % POLL_CHECK_EVERY == 0) {
			if (cpu_irq_pending()) {
				r = POLL_BREAK;
				break;
			}
			now = timer_us();
			if (now - t0 >= d->poll_us) {
				r = POLL_MISS;
				break;
			}
		}
		cpu_relax();
	}
	if (r != POLL_MISS)
		now = timer_us();
	uint32_t waited = (uint32_t)MIN(now - t0, (uint64_t)VIRTIO_BLK_POLL_US_MAX);

	spin_lock(&t->lock);
	d->stats.polls++;
	d->stats.poll_wait_us += waited;
	switch (r) {
	case POLL_HIT:
		d->stats.poll_hits++;
		poll_estimate(d, waited);
		break;
	case POLL_MISS:
		d->stats.poll_misses++;
		poll_estimate(d, 2 * d->poll_us); /* at least this long; a run of misses stops polling */
		d->poll_skipped = 0;
		break;
	case POLL_BREAK:
		d->stats.poll_breaks++;
		break;
	}
	spin_unlock(&t->lock);
}

/* Remember where the guest talks to us: work is asked to run there. */
static void note_home(struct virtio_blk *d)
{
	struct virtio_mmio *t = &d->mmio;
	spin_lock(&t->lock);
	d->home_vcpu = t->notify_vcpu;
	spin_unlock(&t->lock);
}

static void blk_queue_notify(struct virtio_mmio *t, unsigned q)
{
	(void)q; /* one queue */
	struct virtio_blk *d = blk_of(t);
	note_home(d);
	if (pump(d))
		vm_request_work(t->vm, d->home_vcpu); /* budget spent: the guest runs, then work resumes */
	poll_lone_request(d);
}

static void blk_driver_ok(struct virtio_mmio *t)
{
	/* Buffers made available before DRIVER_OK are processed now. */
	struct virtio_blk *d = blk_of(t);
	if (pump(d))
		vm_request_work(t->vm, d->home_vcpu);
}

/* Lock held. Drop the requests that never reached the backend: nothing of them touched the disk. */
static void drop_pending(struct virtio_blk *d)
{
	struct virtio_blk_slot *s;
	while ((s = pending_pop_front(d)) != NULL)
		slot_free(d, s);
	d->stalled = false;
}

/*
 * Ask the backend to abort every in-flight request not yet cancelled (orphans included), once.
 * Called without the lock: done may run inside blkdev_cancel. The slots stay INFLIGHT until their
 * done, and nothing is popped meanwhile (resetting or quiescing), so none is reused under us.
 */
static void cancel_in_flight(struct virtio_blk *d)
{
	struct virtio_mmio *t = &d->mmio;

	for (unsigned i = 0; i < VIRTIO_BLK_SLOTS; i++) {
		struct virtio_blk_slot *s = &d->slots[i];
		spin_lock(&t->lock);
		bool go = s->state == SLOT_INFLIGHT && !s->cancelled;
		if (go) {
			s->cancelled = true;
			d->stats.cancels++;
		}
		spin_unlock(&t->lock);
		if (go)
			(void)blkdev_cancel(d->bdev, &s->req); /* ENOTSUP / unknown: wait for it instead */
	}
}

static void poll_backend(struct virtio_blk *d)
{
	if (d->bdev->ops->poll)
		d->bdev->ops->poll(d->bdev);
}

/*
 * The driver wrote 0 to Status (t->resetting: nothing is popped or pushed). Cancel what is in
 * flight, wait for it by time (VIRTIO_BLK_RESET_WAIT_US), then orphan what remains: those slots
 * are never reused before their completion, and quiesce stays false while they exist.
 */
static void blk_reset(struct virtio_mmio *t)
{
	struct virtio_blk *d = blk_of(t);

	spin_lock(&t->lock);
	drop_pending(d);
	spin_unlock(&t->lock);
	cancel_in_flight(d);

	uint64_t t0 = timer_us();
	while (READ_ONCE(d->ninflight) > 0 && timer_us() - t0 < VIRTIO_BLK_RESET_WAIT_US) {
		poll_backend(d);
		cpu_relax();
	}

	spin_lock(&t->lock);
	if (d->ninflight > 0) {
		/* Hardware tier: the backend did not finish in time. Never reuse those slots' memory. */
		log_err("%s: reset: %u requests still in flight on %s after %u us; orphaning them", t->name,
			d->ninflight, d->bdev->name, VIRTIO_BLK_RESET_WAIT_US);
		for (unsigned i = 0; i < VIRTIO_BLK_SLOTS; i++) {
			struct virtio_blk_slot *s = &d->slots[i];
			if (s->state == SLOT_INFLIGHT && !s->orphaned) {
				s->orphaned = true;
				d->norphaned++;
			}
		}
		d->ninflight = 0;
	}
	drop_pending(d); /* write-through follow-ups queued while we waited */
	d->irq_check = false;
	spin_unlock(&t->lock);
}

static const struct virtio_dev_ops blk_ops = {
    .config_read = blk_config_read,
    .config_write = NULL,
    .features_ok = NULL,
    .queue_notify = blk_queue_notify,
    .driver_ok = blk_driver_ok,
    .reset = blk_reset,
};

/* --- setup ------------------------------------------------------------------ */

static bool backend_usable(const struct blkdev *b)
{
	uint32_t bs = b->block_size;
	return b->ops != NULL && b->ops->submit != NULL && b->nsectors > 0 && bs >= BLK_SECTOR_SIZE &&
	       bs <= 65536 && (bs & (bs - 1)) == 0 && b->max_segs > 0 && b->max_seg_size >= BLK_SECTOR_SIZE &&
	       (uint64_t)b->max_sectors * BLK_SECTOR_SIZE >= bs;
}

/*
 * Advertise size_max and seg_max so that a conforming driver's requests fit
 * the backend: at most d->seg_max segments after splitting at max_seg_size,
 * and seg_max * size_max within max_sectors. Guests rarely have contiguous
 * pages, so keep seg_max high and shrink size_max first (not below a page).
 */
static void compute_limits(const struct virtio_blk *d, uint32_t *seg_max_out, uint32_t *size_max_out)
{
	const struct blkdev *b = d->bdev;
	uint64_t max_bytes = (uint64_t)b->max_sectors * BLK_SECTOR_SIZE;
	uint64_t size_max = MIN((uint64_t)b->max_seg_size, max_bytes / d->seg_max);

	if (size_max < VIRTIO_BLK_MIN_SIZE_MAX)
		size_max = VIRTIO_BLK_MIN_SIZE_MAX;
	uint64_t pieces = (size_max + b->max_seg_size - 1) / b->max_seg_size;
	uint64_t seg_max = MAX(d->seg_max / pieces, 1u);
	if (seg_max * size_max > max_bytes)
		seg_max = MAX(max_bytes / size_max, 1u);
	*seg_max_out = (uint32_t)seg_max;
	*size_max_out = (uint32_t)size_max;
}

int virtio_blk_init(struct virtio_blk *d, const struct virtio_blk_params *p, struct mmio_bus *bus)
{
	struct blkdev *b = p->bdev;

	if (b == NULL || !backend_usable(b))
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->bdev = b;
	d->read_only = p->read_only || (b->flags & BLKDEV_F_RO);
	d->poll_us = MIN(p->poll_us, VIRTIO_BLK_POLL_US_MAX);
	/* A chain is header + data + status and may not exceed the queue size (§2.7.5.3.1). */
	d->seg_max = MIN(MIN(b->max_segs, VIRTIO_BLK_MAX_SEGS), VIRTIO_BLK_QUEUE_SIZE - 2);
	/* NUL-padded; a 20-byte serial has no terminator (§5.2.6). */
	for (unsigned i = 0; p->serial && i < sizeof(d->serial) && p->serial[i]; i++)
		d->serial[i] = p->serial[i];
	d->pending_first = SLOT_NONE;
	d->pending_last = SLOT_NONE;
	for (unsigned i = 0; i < VIRTIO_BLK_SLOTS; i++) {
		d->slots[i].state = SLOT_FREE;
		d->slots[i].dev = d;
		d->free_stack[i] = (uint16_t)(VIRTIO_BLK_SLOTS - 1 - i);
	}
	d->nfree = VIRTIO_BLK_SLOTS;

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

	struct virtio_mmio_params mp = {
	    .vm = p->vm,
	    .name = p->name,
	    .mem = p->mem,
	    .base = p->base,
	    .intid = p->intid,
	    .device_id = VIRTIO_ID_BLOCK,
	    .device_features = features,
	    .nqueues = 1,
	    .queue_max = VIRTIO_BLK_QUEUE_SIZE,
	    .ops = &blk_ops,
	    .owner = d,
	};
	int rc = virtio_mmio_init(&d->mmio, &mp, bus);
	if (rc == 0)
		blkdev_set_wake(b, blk_wake, d); /* a BLK_EBUSY refusal is resumed by the backend */
	return rc;
}

void virtio_blk_poll(struct virtio_blk *d)
{
	poll_backend(d);
}

bool virtio_blk_work(struct virtio_blk *d)
{
	return pump(d);
}

bool virtio_blk_quiesce(struct virtio_blk *d)
{
	struct virtio_mmio *t = &d->mmio;

	spin_lock(&t->lock);
	d->quiescing = true; /* pump_locked stops at its next look; req_done queues no follow-up */
	bool busy = d->pumping;
	drop_pending(d);
	spin_unlock(&t->lock);
	if (busy)
		return false; /* a vCPU is still leaving the pump (not yet stopped): ask again */
	cancel_in_flight(d);
	poll_backend(d);
	spin_lock(&t->lock);
	drop_pending(d);
	bool idle = d->ninflight == 0 && d->norphaned == 0 && !d->pumping;
	spin_unlock(&t->lock);
	return idle;
}

void virtio_blk_get_stats(struct virtio_blk *d, struct virtio_blk_stats *out)
{
	spin_lock(&d->mmio.lock);
	*out = d->stats;
	out->notifications = d->mmio.notifications;
	out->interrupts = d->mmio.interrupts;
	out->guest_errors = d->mmio.guest_errors;
	out->log_suppressed = d->mmio.log_rl.total_suppressed;
	spin_unlock(&d->mmio.lock);
}

void virtio_blk_reset(struct virtio_blk *dev)
{
	virtio_mmio_reset(&dev->mmio);
	spin_lock(&dev->mmio.lock);
	dev->quiescing = false;
	dev->home_vcpu = 0;
	spin_unlock(&dev->mmio.lock);
}
