/* virtio-blk over a blkdev: completion, the queue pump, the transport ops and set-up.
 * The interrupt decision (coalescing) is in virtio_blk_irq.c, reset and quiesce in virtio_blk_reset.c. */
#include "vdev/virtio/virtio_blk.h"
#include "vdev/virtio/virtio_blk_int.h"

#include <errno.h>
#include <string.h>

#include "arch/barrier.h"
#include "core/vm.h"
#include "keel/util.h"

_Static_assert(VIRTIO_BLK_MAX_QUEUES <= VIRTIO_MMIO_MAX_QUEUES, "queues fit the transport");

static struct virtio_blk *blk_of(struct virtio_mmio *t)
{
	return t->owner;
}

/* --- completion ----------------------------------------------------------- */

void vblk_push_used(struct vblk_queue *bq, uint16_t head, uint32_t len)
{
	/* The queue is ready here (the callers check), so push cannot fail. */
	if (virtq_push(&bq->dev->mmio.queues[bq->q], head, len) != 0)
		panic("%s: used ring push failed", bq->dev->mmio.name);
	bq->irq_check = true;
	if (bq->used_since_irq != UINT16_MAX)
		bq->used_since_irq++;
}

/* Complete a request that never reached the backend. */
void vblk_complete_now(struct vblk_queue *bq, const struct virtq_chain *c, uint8_t status, uint32_t used_len)
{
	vblk_write_status(last_writable_byte(c), status);
	vblk_push_used(bq, c->head, used_len);
	if (status != VIRTIO_BLK_S_OK)
		bq->stats.errors++;
}

/*
 * Queue lock held. Is bq's ring ready, and not being torn down? A reset sets `resetting` before it
 * takes each queue's lock (vblk_reset), so a holder that sees it clear may touch the ring; the
 * ready flag is published after the ring's fields (virtq_enable).
 */
static bool ring_usable(const struct vblk_queue *bq)
{
	const struct virtio_mmio *t = &bq->dev->mmio;
	return !READ_ONCE(t->resetting) && __atomic_load_n(&t->queues[bq->q].ready, __ATOMIC_ACQUIRE);
}

/* Complete a slot (lock held). During a reset the rings are being torn down: touch nothing. */
static void finish_slot(struct vblk_queue *bq, struct virtio_blk_slot *s, uint8_t status)
{
	if (ring_usable(bq)) {
		vblk_write_status(s->status_pa, status);
		vblk_push_used(bq, s->head, status == VIRTIO_BLK_S_OK ? s->used_len_ok : s->used_len_err);
		if (status != VIRTIO_BLK_S_OK)
			bq->stats.errors++;
		else if (s->type == VIRTIO_BLK_T_IN)
			bq->stats.bytes_read += s->data_bytes;
		else if (s->type == VIRTIO_BLK_T_OUT)
			bq->stats.bytes_written += s->data_bytes;
	}
	vblk_slot_free(bq, s);
}

static uint8_t status_from_blk(int rc)
{
	if (rc == BLK_OK)
		return VIRTIO_BLK_S_OK;
	return rc == BLK_ENOTSUP ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
}

/* Lock held. Anything for a vCPU to do on bq: a pending (re)submission, a ring that stalled for
 * lack of slots, or one whose notifications are off (the driver may have added buffers). */
static bool wants_work(const struct vblk_queue *bq)
{
	return !READ_ONCE(bq->dev->quiescing) &&
	       (bq->pending_first != SLOT_NONE || bq->stalled || bq->notify != VBLK_NOTIFY_ARMED);
}

void vblk_request_work(struct vblk_queue *bq)
{
	vm_request_work(bq->dev->mmio.vm, READ_ONCE(bq->home));
}

/* Ask for work on the vCPU that last notified any queue (work visits every queue). Any context. */
static void request_work(struct virtio_blk *d)
{
	vm_request_work(d->mmio.vm, READ_ONCE(d->home_vcpu));
}

/* blk_req.owner_kick: the backend wants this disk's vCPU to start its next command (any context). */
static void backend_kick(void *ctx)
{
	struct virtio_blk *d = ctx;
	WRITE_ONCE(d->backend_kicked, true);
	request_work(d);
}

/* The write-through follow-up of a completed write: the same slot becomes a flush. */
static void set_flush(struct virtio_blk_slot *s)
{
	s->flush_after = false;
	s->req.op = BLK_OP_FLUSH;
	s->req.sector = 0;
	s->req.nsectors = 0;
	s->req.segs = NULL;
	s->req.nsegs = 0;
}

void vblk_complete_locked(struct vblk_queue *bq, struct virtio_blk_slot *s, int rc, uint32_t *kick)
{
	struct virtio_blk *d = bq->dev;
	struct virtio_mmio *t = &d->mmio;

	if (s->state != SLOT_INFLIGHT)
		panic("%s: backend completed request slot %u twice", t->name, vblk_slot_index(d, s));
	if (s->orphaned) {
		bq->norphaned--;
		vblk_slot_free(bq, s);
		if (bq->norphaned == 0)
			vblk_rmw_drained(d); /* a sub-block request may wait for it, on any queue */
		if (!bq->pumping && wants_work(bq))
			*kick |= 1u << READ_ONCE(bq->home);
		return;
	}
	bq->ninflight--;
	vblk_inflight_done(d, 1);
	if (rc == BLK_EIO)
		bq->stats.io_errors++;
	if (rc != BLK_OK && rc != BLK_ECANCELED && virtio_mmio_log_allowed(t))
		log_warn("%s: backend %s failed request (type %u sector %llu): %d", t->name, d->bdev->name,
			 s->type, (unsigned long long)s->req.sector, rc);
	bool more = vblk_split_more(s) || vblk_rmw_more(d, s);
	bool stopping = READ_ONCE(d->quiescing) || !ring_usable(bq);
	if (rc == BLK_OK && more && !stopping) {
		/* A part of a split or sub-block request: the owner's vCPU copies, builds the next. */
		s->split_due = s->split;
		s->rmw_due = s->rmw;
		vblk_pending_push_front(bq, s);
	} else if (rc == BLK_OK && more) {
		/* Stopping or resetting: the remaining parts are cancelled, the request failed. */
		finish_slot(bq, s, VIRTIO_BLK_S_IOERR);
		if (!bq->pumping)
			vblk_flush_irq(bq);
	} else if (rc == BLK_OK && s->flush_after && !stopping) {
		/* Write-through: the write completes to the guest only once it is stable. */
		set_flush(s);
		vblk_pending_push_front(bq, s);
	} else {
		finish_slot(bq, s, status_from_blk(rc));
		if (!bq->pumping)
			vblk_flush_irq(bq);
	}
	if (bq->pumping)
		bq->repump = true; /* the vCPU processing the queue looks again before it stops */
	else if (wants_work(bq))
		*kick |= 1u << READ_ONCE(bq->home);
}

/* The backend may take a request it refused with BLK_EBUSY now (any context). */
static void blk_wake(void *ctx)
{
	struct virtio_blk *d = ctx;
	/* Only hints, read without the queues' locks, which the wake-up (called for each completion that
	 * frees a share) must not contend for: every queue with requests waiting is asked for work. */
	bool asked = false;
	for (unsigned q = 0; q < d->mmio.nqueues; q++) {
		struct vblk_queue *bq = &d->queues[q];
		if (READ_ONCE(bq->pending_first) != SLOT_NONE) {
			vblk_request_work(bq);
			asked = true;
		}
	}
	if (!asked) /* refused, not yet put back: the work runs every queue */
		request_work(d);
}

/* --- request parsing ------------------------------------------------------ */

/* Queue a parsed request on the pending list. */
void vblk_queue_slot(struct vblk_queue *bq, struct virtio_blk_slot *s, const struct virtq_chain *c,
		     uint32_t type, uint32_t used_len_ok, uint32_t used_len_err)
{
	struct virtio_blk *d = bq->dev;
	s->dev = d;
	s->q = bq->q;
	s->type = type;
	s->head = c->head;
	s->status_pa = last_writable_byte(c);
	s->used_len_ok = used_len_ok;
	s->used_len_err = used_len_err;
	s->req.done = vblk_req_done;
	s->req.ctx = s;
	s->req.owner_kick = backend_kick;
	s->req.owner_ctx = d;
	vblk_pending_push_back(bq, s);
}

/* --- the queue pump --------------------------------------------------------- */

/*
 * Lock held. The one request in flight is large (over VIRTIO_BLK_POLL_LARGE_SECTORS): it takes long
 * enough that a driver at depth adds its next requests meanwhile, and its completion's pass takes
 * them all (a notify each otherwise: a CPU-bound guest at 1M QD32 keeps the device at depth 0-1).
 * With one request in flight the last one submitted is it, or an older one in a QD>1 tail.
 */
static bool lone_large(const struct vblk_queue *bq)
{
	return bq->ninflight == 1 && bq->last_large;
}

void vblk_needs_reset(struct vblk_queue *bq, const char *why)
{
	struct virtio_mmio *t = &bq->dev->mmio;
	virtio_mmio_lock(t);
	virtio_mmio_set_needs_reset(t, why);
	virtio_mmio_unlock(t);
}

/*
 * Submit bq's pending requests, then pop and parse new chains from its ring, until the ring is
 * empty, the backend is busy, every slot of the queue is in use or *budget chains were popped.
 * Lock held; dropped around blkdev_submit because the backend may complete inside it. Returns true
 * when it stopped at the budget with the ring possibly non-empty: notifications are not re-armed
 * then, so the caller must come back (work). When it stops for slots the ring is not re-armed
 * either: the completion that frees a slot asks for work (bq->stalled). After a BLK_EBUSY the
 * backend's wake-up does. Its submits carry the batching hint (blk_req.batch): the caller commits
 * them after the last pass.
 */
static bool pump_locked(struct vblk_queue *bq, unsigned *budget)
{
	struct virtio_blk *d = bq->dev;
	struct virtio_mmio *t = &d->mmio;
	struct virtq *vq = &t->queues[bq->q];

	for (;;) {
		if (!virtio_mmio_live(t) || !ring_usable(bq) || READ_ONCE(d->quiescing))
			return false;

		struct virtio_blk_slot *s = vblk_pending_pop_front(bq);
		if (s != NULL && !vblk_rmw_may_submit(bq, s)) {
			/* A sub-block request runs alone: resumed when the wait ends. */
			vblk_pending_push_front(bq, s);
			return false;
		}
		bool next_part = s != NULL && (s->rmw_due || s->split_due); /* not the guest's next */
		if (s != NULL && s->rmw_due) {
			s->rmw_due = false;
			if (vblk_rmw_next(bq, s) == VBLK_RMW_DONE) {
				if (!s->flush_after) {
					vblk_inflight_done(d, 1); /* counted by may_submit, not submitted */
					finish_slot(bq, s, VIRTIO_BLK_S_OK);
					continue;
				}
				set_flush(s); /* submitted below, still holding the gate */
			}
		}
		if (s != NULL && s->split_due) {
			s->split_due = false;
			if (!vblk_split_next(bq, s)) {
				vblk_inflight_done(d, 1);
				finish_slot(bq, s, VIRTIO_BLK_S_IOERR);
				continue;
			}
		}
		if (s != NULL) {
			s->state = SLOT_INFLIGHT;
			s->cancelled = false;
			if (!next_part)
				vblk_lone_judge(bq); /* the guest's next request: the lone one's outcome */
			bq->ninflight++;
			bq->last_large = s->req.nsectors > VIRTIO_BLK_POLL_LARGE_SECTORS;
			s->req.batch = true; /* pump() commits the batch when this pass stops */
			vblk_unlock(bq);
			int rc = blkdev_submit(d->bdev, &s->req);
			vblk_lock(bq);
			if (rc == 0)
				continue;
			if (s->orphaned) {
				/* A reset gave up on it meanwhile (and took it out of the count). */
				bq->norphaned--;
				vblk_slot_free(bq, s);
				continue;
			}
			bq->ninflight--;
			vblk_inflight_done(d, 1);
			if (rc == BLK_EBUSY) {
				/* Keep the order; the backend's wake-up (blk_wake) resumes us. */
				bq->stats.busy++;
				vblk_pending_push_front(bq, s);
				return false;
			}
			if (rc == BLK_EIO)
				bq->stats.io_errors++; /* e.g. a controller that went offline */
			if (virtio_mmio_log_allowed(t))
				log_warn("%s: backend %s refused request (type %u sector %llu): %d", t->name,
					 d->bdev->name, s->type, (unsigned long long)s->req.sector, rc);
			finish_slot(bq, s, status_from_blk(rc));
			continue;
		}

		if (bq->nfree == 0) {
			bq->stalled = true; /* resumed by a completion */
			return false;
		}
		bq->stalled = false;
		if (*budget == 0) {
			bq->stats.work_yields++;
			return true;
		}

		switch (virtq_pop(vq, &bq->chain)) {
		case VIRTQ_POP_EMPTY:
			if (bq->ninflight >= VIRTIO_BLK_QUIET_INFLIGHT || bq->irq_held || lone_large(bq)) {
				/* Completions will come, each bringing a pass (req_done asks for work), or
				 * the held interrupt's release does (idle or deadline: it runs the pump). */
				virtq_quiet_notify(vq);
				bool lone = bq->ninflight < VIRTIO_BLK_QUIET_INFLIGHT && !bq->irq_held;
				bq->notify = lone ? VBLK_NOTIFY_QUIET_LONE : VBLK_NOTIFY_QUIET;
				bq->stats.quiet_passes++;
				return false;
			}
			bq->notify = VBLK_NOTIFY_ARMED;
			if (virtq_arm_notify(vq))
				continue;
			return false;
		case VIRTQ_POP_RING_ERROR:
			bq->stats.errors++;
			vblk_needs_reset(bq, vq->error);
			return false;
		case VIRTQ_POP_BROKEN_CHAIN:
			bq->stats.requests++;
			bq->stats.errors++;
			virtio_guest_err(
			    t, "head %u: descriptor chain cannot be walked (%s): no status byte to trust",
			    bq->chain.head, vq->error);
			vblk_needs_reset(bq, vq->error);
			return false;
		case VIRTQ_POP_BAD_CHAIN:
			(*budget)--;
			bq->stats.requests++;
			bq->stats.queue_requests[bq->q]++;
			if (!vblk_answer_bad_chain(bq, &bq->chain, vq->error))
				return false;
			continue;
		case VIRTQ_POP_OK:
			(*budget)--;
			bq->stats.requests++;
			bq->stats.queue_requests[bq->q]++;
			vblk_handle_chain(bq, &bq->chain);
			continue;
		}
	}
}

/* At most one queue's worth of chains popped per call (VM's own vCPU only). */
static unsigned pop_budget(const struct vblk_queue *bq)
{
	uint16_t n = bq->dev->mmio.queues[bq->q].size;
	return n ? n : VIRTIO_BLK_QUEUE_SIZE;
}

/*
 * A notify while another vCPU of the VM runs this queue's pass: leave the work to that pass instead
 * of waiting for the lock it holds. True when handed off. The pass, before it stops, clears
 * `pumping` and then looks at `handoff` (pump_again); this side sets `handoff` and then looks at
 * `pumping`. With a full barrier between each store and load, one of the two sees the other: the
 * pass takes one more turn, or this notify pumps itself. Lock NOT held.
 */
static bool notify_handoff(struct vblk_queue *bq)
{
	if (!READ_ONCE(bq->pumping))
		return false;
	__atomic_store_n(&bq->handoff, true, __ATOMIC_RELAXED);
	smp_mb();
	if (!READ_ONCE(bq->pumping))
		return false;
	__atomic_fetch_add(&bq->stats.notify_handoffs, 1, __ATOMIC_RELAXED);
	return true;
}

/* Lock held, at the end of a pass that did not stop at its budget: did a notify hand its work to
 * this pass after it looked at the ring (notify_handoff)? Then it takes another turn. */
static bool pump_again(struct vblk_queue *bq)
{
	WRITE_ONCE(bq->pumping, false);
	smp_mb();
	if (!__atomic_exchange_n(&bq->handoff, false, __ATOMIC_ACQUIRE))
		return false;
	bq->pumping = true;
	return true;
}

/*
 * Process bq on one of the VM's vCPUs. True when more remains (the budget ran out). For a notify
 * (notify true), set *poll to the size class of a lone request to poll afterwards (else -1).
 */
static bool pump(struct vblk_queue *bq, bool notify, int *poll)
{
	bool more = false;

	if (poll != NULL)
		*poll = -1;
	if (notify && notify_handoff(bq))
		return false;
	vblk_lock(bq);
	if (bq->pumping) {
		/* Another vCPU of this VM is running this queue's pass: it looks again before it stops. */
		bq->repump = true;
		vblk_unlock(bq);
		return false;
	}
	bq->pumping = true;
	bq->pass_by_notify = notify;
	unsigned budget = pop_budget(bq);
	do {
		bq->repump = false;
		/* Before each pass (another vCPU's idle may have asked for one): with the interrupt
		 * delivered, a pass that empties the ring re-arms notifications. */
		vblk_release_due(bq);
		more = pump_locked(bq, &budget);
	} while (!more && (bq->repump || pump_again(bq)));
	vblk_flush_irq(bq);
	bq->pumping = false;
	if (poll != NULL)
		*poll = vblk_lone_poll_due(bq);
	vblk_unlock(bq);
	/* Every submit above carried the batching hint: start them all (outside the lock, as submit). */
	blkdev_commit(bq->dev->bdev);
	return more;
}

/* Work (or DRIVER_OK): every queue, starting one further each time so that none always comes first.
 * True when some queue stopped at its budget. */
static bool pump_all(struct virtio_blk *d)
{
	unsigned n = d->mmio.nqueues;
	unsigned first = READ_ONCE(d->next_q) % n;
	bool more = false;

	WRITE_ONCE(d->next_q, (uint8_t)((first + 1) % n));
	for (unsigned i = 0; i < n; i++)
		if (pump(&d->queues[(first + i) % n], false, NULL))
			more = true;
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

/* The notify's pump and the polling decision in one hold of the queue's lock (none when handed off). */
static void blk_queue_notify(struct virtio_mmio *t, unsigned q, uint16_t vcpu)
{
	struct virtio_blk *d = blk_of(t);
	struct vblk_queue *bq = &d->queues[q];
	int poll;
	/* Where the guest talks to us: work is asked to run there (hints, read without the lock). */
	WRITE_ONCE(d->home_vcpu, vcpu);
	WRITE_ONCE(bq->home, vcpu);
	if (pump(bq, true, &poll))
		vblk_request_work(bq); /* budget spent: the guest runs, then work resumes */
	if (poll >= 0)
		vblk_poll_lone_request(bq, (unsigned)poll);
}

static void blk_driver_ok(struct virtio_mmio *t)
{
	/* Buffers made available before DRIVER_OK are processed now. */
	struct virtio_blk *d = blk_of(t);
	if (pump_all(d))
		request_work(d);
}

static const struct virtio_dev_ops blk_ops = {
    .config_read = blk_config_read,
    .config_write = NULL,
    .features_ok = vblk_features_ok,
    .queue_notify = blk_queue_notify,
    .driver_ok = blk_driver_ok,
    .reset = vblk_reset,
};

/* --- setup ------------------------------------------------------------------ */

int virtio_blk_init(struct virtio_blk *d, const struct virtio_blk_params *p, struct mmio_bus *bus)
{
	struct blkdev *b = p->bdev;

	if (b == NULL || !vblk_backend_usable(b))
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->bdev = b;
	vblk_rmw_init(d, p);
	d->read_only = p->read_only || (b->flags & BLKDEV_F_RO);
	d->poll_us = MIN(p->poll_us, VIRTIO_BLK_POLL_US_MAX);
	d->coalesce_us = MIN(p->coalesce_us, VIRTIO_BLK_COALESCE_US_MAX);
	/* A chain is header + data + status and may not exceed the queue size (§2.7.5.3.1). */
	d->seg_max = MIN(MIN(b->max_segs, VIRTIO_BLK_MAX_SEGS), VIRTIO_BLK_QUEUE_SIZE - 2);
	/* NUL-padded; a 20-byte serial has no terminator (§5.2.6). */
	for (unsigned i = 0; p->serial && i < sizeof(d->serial) && p->serial[i]; i++)
		d->serial[i] = p->serial[i];
	unsigned nq = MIN(MAX(p->nqueues, 1u), VIRTIO_BLK_MAX_QUEUES);
	for (unsigned q = 0; q < VIRTIO_BLK_MAX_QUEUES; q++)
		vblk_queue_init(d, q, nq);

	uint64_t features = vblk_setup_config(d);
	if (nq > 1)
		features |= BIT(VIRTIO_BLK_F_MQ);
	d->config.num_queues = (uint16_t)nq;

	struct virtio_mmio_params mp = {
	    .vm = p->vm,
	    .name = p->name,
	    .mem = p->mem,
	    .base = p->base,
	    .intid = p->intid,
	    .device_id = VIRTIO_ID_BLOCK,
	    .device_features = features,
	    .nqueues = nq,
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
	vblk_poll_backend(d);
}

bool virtio_blk_work(struct virtio_blk *d)
{
	/* The backend asked for its next command to be started here, on this VM's own vCPU. */
	if (READ_ONCE(d->backend_kicked) && __atomic_exchange_n(&d->backend_kicked, false, __ATOMIC_ACQ_REL))
		vblk_poll_backend(d);
	return pump_all(d);
}

_Static_assert(sizeof(struct virtio_blk_stats) % sizeof(uint64_t) == 0, "counters are 64-bit words");

void virtio_blk_get_stats(struct virtio_blk *d, struct virtio_blk_stats *out)
{
	/* Every counter is a uint64_t: the device's are the sum of its queues', word by word. */
	uint64_t *sum = (uint64_t *)out;
	const unsigned words = sizeof(*out) / sizeof(uint64_t);

	memset(out, 0, sizeof(*out));
	for (unsigned q = 0; q < d->mmio.nqueues; q++) {
		struct vblk_queue *bq = &d->queues[q];
		vblk_lock(bq);
		const uint64_t *w = (const uint64_t *)&bq->stats;
		for (unsigned i = 0; i < words; i++)
			sum[i] += w[i];
		vblk_unlock(bq);
	}
	virtio_mmio_lock(&d->mmio);
	out->notifications = __atomic_load_n(&d->mmio.notifications, __ATOMIC_RELAXED);
	out->interrupts = d->mmio.interrupts;
	out->lock_waits += d->mmio.lock_waits;
	out->lock_wait_us += d->mmio.lock_wait_us;
	out->guest_errors = d->mmio.guest_errors;
	out->log_suppressed = d->mmio.log_rl.total_suppressed;
	virtio_mmio_unlock(&d->mmio);
}
