/* virtio-blk reset and quiesce: what is in flight is cancelled, waited for by time, then orphaned. */
#include "arch/barrier.h"
#include "arch/cpu.h"
#include "arch/timer.h"
#include "keel/util.h"
#include "vdev/virtio/virtio_blk.h"
#include "vdev/virtio/virtio_blk_int.h"

/*
 * The driver wrote 0 to Status (t->resetting: nothing is popped or pushed). Cancel what is in
 * flight, wait for it by time (VIRTIO_BLK_RESET_WAIT_US), then orphan what remains: those slots
 * are never reused before their completion, and quiesce stays false while they exist.
 */
void vblk_reset(struct virtio_mmio *t)
{
	struct virtio_blk *d = t->owner;

	virtio_mmio_lock(t);
	vblk_drop_pending(d);
	virtio_mmio_unlock(t);
	vblk_cancel_in_flight(d);

	uint64_t t0 = timer_us();
	while (READ_ONCE(d->ninflight) > 0 && timer_us() - t0 < VIRTIO_BLK_RESET_WAIT_US) {
		vblk_poll_backend(d);
		cpu_relax();
	}

	virtio_mmio_lock(t);
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
	vblk_drop_pending(d); /* write-through follow-ups queued while we waited */
	d->irq_check = false;
	d->irq_held = false; /* the transport cleared InterruptStatus */
	d->used_since_irq = 0;
	d->last_batch = 0;
	virtio_mmio_unlock(t);
}

bool virtio_blk_quiesce(struct virtio_blk *d)
{
	struct virtio_mmio *t = &d->mmio;

	virtio_mmio_lock(t);
	d->quiescing = true; /* pump_locked stops at its next look; req_done queues no follow-up */
	bool busy = d->pumping;
	vblk_drop_pending(d);
	virtio_mmio_unlock(t);
	if (busy)
		return false; /* a vCPU is still leaving the pump (not yet stopped): ask again */
	vblk_cancel_in_flight(d);
	vblk_poll_backend(d);
	virtio_mmio_lock(t);
	vblk_drop_pending(d);
	bool idle = d->ninflight == 0 && d->norphaned == 0 && !d->pumping;
	virtio_mmio_unlock(t);
	return idle;
}

void virtio_blk_reset(struct virtio_blk *dev)
{
	virtio_mmio_reset(&dev->mmio);
	virtio_mmio_lock(&dev->mmio);
	dev->quiescing = false;
	dev->home_vcpu = 0;
	for (unsigned q = 0; q < VIRTIO_BLK_MAX_QUEUES; q++)
		dev->queue_home[q] = 0;
	dev->next_q = 0;
	virtio_mmio_unlock(&dev->mmio);
}
