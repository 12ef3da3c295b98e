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

void vblk_push_used_q(struct virtio_blk *d, unsigned q, uint16_t head, uint32_t len)
{
	/* The queue is ready here (the callers check), so push cannot fail. */
	if (virtq_push(&d->mmio.queues[q], head, len) != 0)
		panic("%s: used ring push failed", d->mmio.name);
	d->irq_check = true;
	if (d->used_since_irq != UINT16_MAX)
		d->used_since_irq++;
}

/* Complete a request that never reached the backend. */
void vblk_complete_now(struct virtio_blk *d, const struct virtq_chain *c, uint8_t status, uint32_t used_len)
{
	vblk_write_status(last_writable_byte(c), status);
	vblk_push_used(d, c->head, used_len);
	if (status != VIRTIO_BLK_S_OK)
		d->stats.errors++;
}

/* Complete a slot (lock held). During a reset the rings are being torn down: touch nothing. */
static void finish_slot(struct virtio_blk *d, struct virtio_blk_slot *s, uint8_t status)
{
	if (!d->mmio.resetting && d->mmio.queues[s->q].ready) {
		vblk_write_status(s->status_pa, status);
		vblk_push_used_q(d, s->q, s->head,
				 status == VIRTIO_BLK_S_OK ? s->used_len_ok : s->used_len_err);
		if (status != VIRTIO_BLK_S_OK)
			d->stats.errors++;
		else if (s->type == VIRTIO_BLK_T_IN)
			d->stats.bytes_read += s->data_bytes;
		else if (s->type == VIRTIO_BLK_T_OUT)
			d->stats.bytes_written += s->data_bytes;
	}
	vblk_slot_free(d, s);
}

static uint8_t status_from_blk(int rc)
{
	if (rc == BLK_OK)
		return VIRTIO_BLK_S_OK;
	return rc == BLK_ENOTSUP ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
}

/* Lock held. Anything for the owner's vCPU to do: a pending (re)submission, a ring that stalled
 * for lack of slots, or one whose notifications are off (the driver may have added buffers). */
static bool wants_work(const struct virtio_blk *d)
{
	return !d->quiescing &&
	       (d->pending_first != SLOT_NONE || d->stalled || d->notify != VBLK_NOTIFY_ARMED);
}

/* Ask the owner VM to run the queue on its own vCPU (never here). Any context. */
static void request_work(struct virtio_blk *d)
{
	vm_request_work(d->mmio.vm, READ_ONCE(d->home_vcpu));
}

/*
 * Lock held. The vCPU that should run the next work: the one driving the queue of the oldest
 * request waiting for submission, else the one driving queue q (the one that last notified it).
 */
static uint16_t work_vcpu(const struct virtio_blk *d, unsigned q)
{
	if (d->pending_first != SLOT_NONE)
		q = d->slots[d->pending_first].q;
	return d->queue_home[q];
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

void vblk_complete_locked(struct virtio_blk *d, struct virtio_blk_slot *s, int rc, uint32_t *kick)
{
	struct virtio_mmio *t = &d->mmio;

	if (s->state != SLOT_INFLIGHT)
		panic("%s: backend completed request slot %u twice", t->name, vblk_slot_index(d, s));
	if (s->orphaned) {
		d->norphaned--;
		vblk_slot_free(d, s);
		if (!d->pumping && wants_work(d)) /* a sub-block request may wait for it */
			*kick |= 1u << READ_ONCE(d->home_vcpu);
		return;
	}
	d->ninflight--;
	if (rc == BLK_EIO)
		d->stats.io_errors++;
	if (rc != BLK_OK && rc != BLK_ECANCELED && virtio_mmio_log_allowed(t))
		log_warn("%s: backend %s failed request (type %u sector %llu): %d", t->name, d->bdev->name,
			 s->type, (unsigned long long)s->req.sector, rc);
	bool more = vblk_split_more(s) || vblk_rmw_more(d, s);
	if (rc == BLK_OK && more && !d->quiescing && !t->resetting) {
		/* A part of a split or sub-block request: the owner's vCPU copies, builds the next. */
		s->split_due = s->split;
		s->rmw_due = s->rmw;
		vblk_pending_push_front(d, s);
	} else if (rc == BLK_OK && more) {
		/* Stopping or resetting: the remaining parts are cancelled, the request failed. */
		finish_slot(d, s, VIRTIO_BLK_S_IOERR);
		if (!d->pumping)
			vblk_flush_irq(d);
	} else if (rc == BLK_OK && s->flush_after && !d->quiescing && !t->resetting) {
		/* Write-through: the write completes to the guest only once it is stable. */
		set_flush(s);
		vblk_pending_push_front(d, s);
	} else {
		finish_slot(d, s, status_from_blk(rc));
		if (!d->pumping)
			vblk_flush_irq(d);
	}
	if (d->pumping)
		d->repump = true; /* the vCPU processing the queue looks again before it stops */
	else if (wants_work(d))
		*kick |= 1u << work_vcpu(d, s->q);
}

/* The backend may take a request it refused with BLK_EBUSY now (any context). */
static void blk_wake(void *ctx)
{
	struct virtio_blk *d = ctx;
	/* Only a hint (whichever vCPU runs the work takes every queue): read it without the lock,
	 * which the wake-up, called for each completion that frees a share, must not contend for. */
	uint16_t first = READ_ONCE(d->pending_first);
	unsigned q = first < VIRTIO_BLK_SLOTS ? READ_ONCE(d->slots[first].q) : 0;
	vm_request_work(d->mmio.vm, READ_ONCE(d->queue_home[q % VIRTIO_BLK_MAX_QUEUES]));
}

/* --- request parsing ------------------------------------------------------ */

/* Queue a parsed request on the pending list. */
void vblk_queue_slot(struct virtio_blk *d, struct virtio_blk_slot *s, const struct virtq_chain *c,
		     uint32_t type, uint32_t used_len_ok, uint32_t used_len_err)
{
	s->dev = d;
	s->q = d->pop_q;
	s->type = type;
	s->head = c->head;
	s->status_pa = last_writable_byte(c);
	s->used_len_ok = used_len_ok;
	s->used_len_err = used_len_err;
	s->req.done = vblk_req_done;
	s->req.ctx = s;
	s->req.owner_kick = backend_kick;
	s->req.owner_ctx = d;
	vblk_pending_push_back(d, s);
}

/* --- the queue pump --------------------------------------------------------- */

/*
 * Lock held. The one request in flight is large (over VIRTIO_BLK_POLL_LARGE_SECTORS): it takes long
 * enough that a driver at depth adds its next requests meanwhile, and its completion's pass takes
 * them all (a notify each otherwise: a CPU-bound guest at 1M QD32 keeps the device at depth 0-1).
 * With one request in flight the last one submitted is it, or an older one in a QD>1 tail.
 */
static bool lone_large(const struct virtio_blk *d)
{
	return d->ninflight == 1 && d->last_large;
}

/*
 * Submit pending requests, then pop and parse new chains, until the queue is empty, the backend is
 * busy, every slot is in use or *budget chains were popped. Lock held; dropped around
 * blkdev_submit because the backend may complete inside it. Returns true when it stopped at the
 * budget with the ring possibly non-empty: notifications are not re-armed then, so the caller must
 * come back (work). When it stops for slots the ring is not re-armed either: the completion that
 * frees a slot asks for work (d->stalled). After a BLK_EBUSY the backend's wake-up does.
 * Its submits carry the batching hint (blk_req.batch): the caller commits them after the last pass.
 */
static bool pump_locked(struct virtio_blk *d, unsigned q, unsigned *budget)
{
	struct virtio_mmio *t = &d->mmio;
	struct virtq *vq = &t->queues[q];

	for (;;) {
		if (!virtio_mmio_live(t) || !vq->ready || d->quiescing)
			return false;

		struct virtio_blk_slot *s = vblk_pending_pop_front(d);
		if (s != NULL && !vblk_rmw_may_submit(d, s)) {
			/* A sub-block request runs alone: resumed by the completion it waits for. */
			vblk_pending_push_front(d, s);
			return false;
		}
		bool next_part = s != NULL && (s->rmw_due || s->split_due); /* not the guest's next */
		if (s != NULL && s->rmw_due) {
			s->rmw_due = false;
			if (vblk_rmw_next(d, s) == VBLK_RMW_DONE) {
				if (!s->flush_after) {
					finish_slot(d, s, VIRTIO_BLK_S_OK);
					continue;
				}
				set_flush(s);
			}
		}
		if (s != NULL && s->split_due) {
			s->split_due = false;
			if (!vblk_split_next(d, s)) {
				finish_slot(d, s, VIRTIO_BLK_S_IOERR);
				continue;
			}
		}
		if (s != NULL) {
			s->state = SLOT_INFLIGHT;
			s->cancelled = false;
			if (!next_part)
				vblk_lone_judge(d); /* the guest's next request: the lone one's outcome */
			d->ninflight++;
			d->last_large = s->req.nsectors > VIRTIO_BLK_POLL_LARGE_SECTORS;
			s->req.batch = true; /* pump() commits the batch when this pass stops */
			virtio_mmio_unlock(t);
			int rc = blkdev_submit(d->bdev, &s->req);
			virtio_mmio_lock(t);
			if (rc == 0)
				continue;
			if (s->orphaned) {
				d->norphaned--;
				vblk_slot_free(d, s);
				continue;
			}
			d->ninflight--;
			if (rc == BLK_EBUSY) {
				/* Keep the order; the backend's wake-up (blk_wake) resumes us. */
				d->stats.busy++;
				vblk_pending_push_front(d, s);
				return false;
			}
			if (rc == BLK_EIO)
				d->stats.io_errors++; /* e.g. a controller that went offline */
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

		d->pop_q = (uint8_t)q;
		switch (virtq_pop(vq, &d->chain)) {
		case VIRTQ_POP_EMPTY:
			if (d->ninflight >= VIRTIO_BLK_QUIET_INFLIGHT || d->irq_held || lone_large(d)) {
				/* Completions will come, each bringing a pass (req_done asks for work), or
				 * the held interrupt's release does (idle or deadline: it runs the pump). */
				virtq_quiet_notify(vq);
				bool lone = d->ninflight < VIRTIO_BLK_QUIET_INFLIGHT && !d->irq_held;
				d->notify = lone ? VBLK_NOTIFY_QUIET_LONE : VBLK_NOTIFY_QUIET;
				d->stats.quiet_passes++;
				return false;
			}
			d->notify = VBLK_NOTIFY_ARMED;
			if (virtq_arm_notify(vq))
				continue;
			return false;
		case VIRTQ_POP_RING_ERROR:
			d->stats.errors++;
			virtio_mmio_set_needs_reset(t, vq->error);
			return false;
		case VIRTQ_POP_BROKEN_CHAIN:
			d->stats.requests++;
			d->stats.errors++;
			virtio_guest_err(
			    t, "head %u: descriptor chain cannot be walked (%s): no status byte to trust",
			    d->chain.head, vq->error);
			virtio_mmio_set_needs_reset(t, vq->error);
			return false;
		case VIRTQ_POP_BAD_CHAIN:
			(*budget)--;
			d->stats.requests++;
			d->stats.queue_requests[q]++;
			if (!vblk_answer_bad_chain(d, &d->chain, vq->error))
				return false;
			continue;
		case VIRTQ_POP_OK:
			(*budget)--;
			d->stats.requests++;
			d->stats.queue_requests[q]++;
			vblk_handle_chain(d, &d->chain);
			continue;
		}
	}
}

/* At most one queue's worth of chains popped per queue and call (VM's own vCPU only). */
static unsigned pop_budget(const struct virtio_blk *d, unsigned q)
{
	uint16_t n = d->mmio.queues[q].size;
	return n ? n : VIRTIO_BLK_QUEUE_SIZE;
}

/*
 * One pass over every queue, each with its own budget, starting one further each pass so that no
 * queue always comes first (slots are shared). True when some queue stopped at its budget.
 * d->notify is per device and ends as the last emptied queue left it. That is "some queue is
 * quiet": a completion during the pass brings another pass (repump), so in the last one ninflight
 * only grows, and a queue emptied after a quiet one is quiet too. A queue that stopped before
 * emptying (slots, BLK_EBUSY, budget) is looked at again by the pass its resumption brings.
 */
static bool pump_queues(struct virtio_blk *d, unsigned *budgets)
{
	unsigned n = d->mmio.nqueues;
	unsigned first = d->next_q < n ? d->next_q : 0;
	bool more = false;

	d->next_q = (uint8_t)((first + 1) % n);
	for (unsigned i = 0; i < n; i++) {
		unsigned q = (first + i) % n;
		if (pump_locked(d, q, &budgets[q]))
			more = true;
	}
	return more;
}

/*
 * A notify while another vCPU of the VM runs a queue pass: leave the work to that pass instead of
 * waiting for the lock it holds. True when handed off. The pass visits every queue and, before it
 * stops, clears `pumping` and then looks at `handoff` (pump_again); this side sets `handoff` and
 * then looks at `pumping`. With a full barrier between each store and load, one of the two sees
 * the other: the pass takes one more turn, or this notify pumps itself. Lock NOT held.
 */
static bool notify_handoff(struct virtio_blk *d)
{
	if (!READ_ONCE(d->pumping))
		return false;
	__atomic_store_n(&d->handoff, true, __ATOMIC_RELAXED);
	smp_mb();
	if (!READ_ONCE(d->pumping))
		return false;
	__atomic_fetch_add(&d->notify_handoffs, 1, __ATOMIC_RELAXED);
	return true;
}

/* Lock held, at the end of a pass that did not stop at its budget: did a notify hand its work to
 * this pass after it looked at the rings (notify_handoff)? Then it takes another turn. */
static bool pump_again(struct virtio_blk *d)
{
	WRITE_ONCE(d->pumping, false);
	smp_mb();
	if (!__atomic_exchange_n(&d->handoff, false, __ATOMIC_ACQUIRE))
		return false;
	d->pumping = true;
	return true;
}

/*
 * Process the queue on the owner's vCPU. True when more remains (the budget ran out). For a notify
 * (notify true), set *poll to the size class of a lone request to poll afterwards (else -1).
 */
static bool pump(struct virtio_blk *d, bool notify, int *poll)
{
	struct virtio_mmio *t = &d->mmio;
	bool more = false;

	if (poll != NULL)
		*poll = -1;
	if (notify && notify_handoff(d))
		return false;
	virtio_mmio_lock(t);
	if (d->pumping) {
		/* Another vCPU of this VM is pumping: it looks again before it stops. */
		d->repump = true;
		virtio_mmio_unlock(t);
		return false;
	}
	d->pumping = true;
	d->pass_by_notify = notify;
	unsigned budgets[VIRTIO_MMIO_MAX_QUEUES];
	for (unsigned q = 0; q < t->nqueues; q++)
		budgets[q] = pop_budget(d, q);
	do {
		d->repump = false;
		/* Before each pass (another vCPU's idle may have asked for one): with the interrupt
		 * delivered, a pass that empties the ring re-arms notifications. */
		vblk_release_due(d);
		more = pump_queues(d, budgets);
	} while (!more && (d->repump || pump_again(d)));
	vblk_flush_irq(d);
	d->pumping = false;
	if (poll != NULL)
		*poll = vblk_lone_poll_due(d);
	virtio_mmio_unlock(t);
	/* Every submit above carried the batching hint: start them all (outside the lock, as submit). */
	blkdev_commit(d->bdev);
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

/* The notify's pump and the polling decision in one hold of the lock (none when handed off). */
static void blk_queue_notify(struct virtio_mmio *t, unsigned q, uint16_t vcpu)
{
	struct virtio_blk *d = blk_of(t);
	int poll;
	/* Where the guest talks to us: work is asked to run there (hints, read without the lock). */
	WRITE_ONCE(d->home_vcpu, vcpu);
	WRITE_ONCE(d->queue_home[q], vcpu);
	if (pump(d, true, &poll))
		request_work(d); /* budget spent: the guest runs, then work resumes */
	if (poll >= 0)
		vblk_poll_lone_request(d, (unsigned)poll);
}

static void blk_driver_ok(struct virtio_mmio *t)
{
	/* Buffers made available before DRIVER_OK are processed now. */
	struct virtio_blk *d = blk_of(t);
	if (pump(d, false, NULL))
		request_work(d);
}

static void blk_unlocked(struct virtio_mmio *t)
{
	vblk_drain_done(blk_of(t));
}

static const struct virtio_dev_ops blk_ops = {
    .config_read = blk_config_read,
    .config_write = NULL,
    .features_ok = vblk_features_ok,
    .queue_notify = blk_queue_notify,
    .driver_ok = blk_driver_ok,
    .reset = vblk_reset,
    .unlocked = blk_unlocked,
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
	d->pending_first = SLOT_NONE;
	d->pending_last = SLOT_NONE;
	for (unsigned i = 0; i < VIRTIO_BLK_SLOTS; i++) {
		d->slots[i].state = SLOT_FREE;
		d->slots[i].dev = d;
		d->free_stack[i] = (uint16_t)(VIRTIO_BLK_SLOTS - 1 - i);
	}
	d->nfree = VIRTIO_BLK_SLOTS;
	unsigned nq = MIN(MAX(p->nqueues, 1u), VIRTIO_BLK_MAX_QUEUES);

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
	return pump(d, false, NULL);
}

void virtio_blk_get_stats(struct virtio_blk *d, struct virtio_blk_stats *out)
{
	virtio_mmio_lock(&d->mmio);
	*out = d->stats;
	out->notifications = __atomic_load_n(&d->mmio.notifications, __ATOMIC_RELAXED);
	out->notify_handoffs = __atomic_load_n(&d->notify_handoffs, __ATOMIC_RELAXED);
	out->done_left = __atomic_load_n(&d->done_left, __ATOMIC_RELAXED);
	out->interrupts = d->mmio.interrupts;
	out->lock_waits = d->mmio.lock_waits;
	out->lock_wait_us = d->mmio.lock_wait_us;
	out->guest_errors = d->mmio.guest_errors;
	out->log_suppressed = d->mmio.log_rl.total_suppressed;
	virtio_mmio_unlock(&d->mmio);
}
