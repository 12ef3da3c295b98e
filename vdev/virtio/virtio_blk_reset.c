/* virtio-blk reset and quiesce: what is in flight is cancelled, waited for by time, then orphaned. */
#include "arch/barrier.h"
#include "arch/cpu.h"
#include "arch/timer.h"
#include "keel/util.h"
#include "vdev/virtio/virtio_blk.h"
#include "vdev/virtio/virtio_blk_int.h"

/* Requests of every queue submitted to the backend (hints, read without the queues' locks). */
static unsigned inflight(const struct virtio_blk *d)
{
	unsigned n = 0;
	for (unsigned q = 0; q < d->mmio.nqueues; q++)
		n += READ_ONCE(d->queues[q].ninflight);
	return n;
}

/* Queue lock held: orphan what bq still has in flight after the reset's wait. */
static void orphan_in_flight(struct vblk_queue *bq)
{
	struct virtio_blk *d = bq->dev;

	if (bq->ninflight == 0)
		return;
	/* Hardware tier: the backend did not finish in time. Never reuse those slots' memory. */
	log_err("%s: reset: %u requests of queue %u still in flight on %s after %u us; orphaning them",
		d->mmio.name, bq->ninflight, bq->q, d->bdev->name, VIRTIO_BLK_RESET_WAIT_US);
	for (unsigned i = 0; i < VIRTIO_BLK_SLOTS; i++) {
		struct virtio_blk_slot *s = &d->slots[i];
		if (s->q == bq->q && s->state == SLOT_INFLIGHT && !s->orphaned) {
			s->orphaned = true;
			bq->norphaned++;
		}
	}
	vblk_inflight_done(d, bq->ninflight); /* orphans block no submission; the gate counts them */
	bq->ninflight = 0;
}

/*
 * The driver wrote 0 to Status (t->resetting: nothing is popped or pushed from now on; each queue's
 * lock is taken below after it was set, so no holder still touches a ring afterwards). Cancel what
 * is in flight, wait for it by time (VIRTIO_BLK_RESET_WAIT_US), then orphan what remains: those
 * slots are never reused before their completion, and quiesce stays false while they exist.
 */
void vblk_reset(struct virtio_mmio *t)
{
	struct virtio_blk *d = t->owner;

	for (unsigned q = 0; q < t->nqueues; q++) {
		struct vblk_queue *bq = &d->queues[q];
		vblk_lock(bq);
		vblk_drop_pending(bq);
		vblk_unlock(bq);
	}
	vblk_cancel_in_flight(d);

	uint64_t t0 = timer_us();
	while (inflight(d) > 0 && timer_us() - t0 < VIRTIO_BLK_RESET_WAIT_US) {
		vblk_poll_backend(d);
		cpu_relax();
	}

	for (unsigned q = 0; q < t->nqueues; q++) {
		struct vblk_queue *bq = &d->queues[q];
		vblk_lock(bq);
		orphan_in_flight(bq);
		vblk_drop_pending(bq); /* write-through follow-ups queued while we waited */
		bq->irq_check = false;
		bq->irq_held = false; /* the transport clears InterruptStatus */
		bq->used_since_irq = 0;
		bq->last_batch = 0;
		vblk_unlock(bq);
	}
}

bool virtio_blk_quiesce(struct virtio_blk *d)
{
	struct virtio_mmio *t = &d->mmio;
	bool busy = false;

	WRITE_ONCE(d->quiescing, true); /* every pass stops at its next look; no follow-up is queued */
	for (unsigned q = 0; q < t->nqueues; q++) {
		struct vblk_queue *bq = &d->queues[q];
		vblk_lock(bq);
		busy = busy || bq->pumping;
		vblk_drop_pending(bq);
		vblk_unlock(bq);
	}
	if (busy)
		return false; /* a vCPU is still leaving a pass (not yet stopped): ask again */
	vblk_cancel_in_flight(d);
	vblk_poll_backend(d);
	bool idle = true;
	for (unsigned q = 0; q < t->nqueues; q++) {
		struct vblk_queue *bq = &d->queues[q];
		vblk_lock(bq);
		vblk_drop_pending(bq);
		idle = idle && bq->ninflight == 0 && bq->norphaned == 0 && !bq->pumping;
		vblk_unlock(bq);
	}
	return idle;
}

void virtio_blk_reset(struct virtio_blk *dev)
{
	virtio_mmio_reset(&dev->mmio);
	for (unsigned q = 0; q < dev->mmio.nqueues; q++)
		WRITE_ONCE(dev->queues[q].home, 0); /* a hint, written by notifies without the lock */
	WRITE_ONCE(dev->home_vcpu, 0);
	WRITE_ONCE(dev->next_q, 0);
	WRITE_ONCE(dev->quiescing, false);
}
