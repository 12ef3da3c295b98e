/*
 * virtio-blk's interrupt decision: whether used entries interrupt the guest now or are held back
 * while it is busy (interrupt coalescing, virtio_blk_params.coalesce_us), and when a held interrupt
 * is released. Each queue decides for its own used entries, under its lock (contracts in
 * virtio_blk_int.h); the line they share is raised without waiting for the transport's lock.
 */
#include "vdev/virtio/virtio_blk_int.h"

#include "arch/barrier.h"
#include "arch/timer.h"
#include "core/vm.h"

/* Lock held. Interrupt the guest for every used entry of bq so far. */
static void signal_used(struct vblk_queue *bq)
{
	bq->irq_held = false; /* this interrupt carries any held one */
	bq->last_batch = bq->used_since_irq;
	bq->used_since_irq = 0;
	virtio_mmio_signal_used_async(&bq->dev->mmio);
}

/* Lock held. Deliver the interrupt held back by coalescing, if any. */
void vblk_release_irq(struct vblk_queue *bq)
{
	if (bq->irq_held)
		signal_used(bq);
}

/* Lock held. The queue still has some of the driver's requests: in flight, waiting for
 * submission, or waiting for a slot. */
static bool work_outstanding(const struct vblk_queue *bq)
{
	return bq->ninflight != 0 || bq->pending_first != SLOT_NONE || bq->stalled;
}

/* Lock held. The guest waited for its I/O lately: it trapped on WFI, or sat in a completion poll.
 * Another vCPU's WFI may stamp its idle time after this clock read (no lock orders the two): a
 * stamp later than now is "just now", not one from long ago. */
static bool waited_lately(const struct vblk_queue *bq)
{
	const struct virtio_blk *d = bq->dev;
	uint64_t now = timer_us(), w = (uint64_t)d->coalesce_us * VIRTIO_BLK_LONE_IDLE_DEADLINES;
	uint64_t idle = vm_last_idle_us(d->mmio.vm);
	return idle >= now || now - idle <= w || now - bq->polled_us <= w;
}

/*
 * Lock held. Hold an interrupt back: every vCPU is busy and the driver takes interrupts, unless
 * the guest runs at depth 1: the last interrupt carried one used entry, and so would this one,
 * with nothing else with the device and notifications on (none added unseen), and the guest
 * waited for its I/O lately (VIRTIO_BLK_LONE_IDLE_DEADLINES: idle, or in a completion poll). That
 * is the completion a QD1 guest waits for, busy on its way to idle; holding it only delays it. A
 * guest that has not waited for that long is CPU-bound, at depth with a device faster than itself
 * (one request at the device at a time, the next ones being prepared): it holds. (A device that
 * merely ran dry at depth still holds: the guest is busy with the last batch and has not seen
 * these.)
 */
static bool may_hold(const struct vblk_queue *bq)
{
	const struct virtio_blk *d = bq->dev;
	if (d->coalesce_us == 0 || !READ_ONCE(d->mmio.driver_acks) || vm_guest_idle(d->mmio.vm))
		return false;
	bool lone = bq->last_batch <= 1 && bq->used_since_irq <= 1 && !work_outstanding(bq) &&
		    bq->notify != VBLK_NOTIFY_QUIET;
	return !lone || !waited_lately(bq);
}

void vblk_flush_irq(struct vblk_queue *bq)
{
	struct virtio_blk *d = bq->dev;
	if (!bq->irq_check)
		return;
	bq->irq_check = false;
	/* One interrupt line for every queue (virtio-mmio): each queue raises it for its own entries
	 * (an interrupt another queue raised meanwhile carries them too; the driver looks at every
	 * queue). False for a queue not ready. */
	if (!virtq_needs_interrupt(&d->mmio.queues[bq->q]))
		return;
	if (!may_hold(bq)) {
		signal_used(bq);
		return;
	}
	bq->stats.irq_holds++;
	if (!bq->irq_held) {
		bq->irq_held = true;
		bq->held_since = timer_us();
		vm_defer_work(d->mmio.vm, d->coalesce_us); /* the release: idle or deadline */
	}
}

void vblk_release_due(struct vblk_queue *bq)
{
	const struct virtio_blk *d = bq->dev;
	if (!bq->irq_held)
		return;
	if (vm_guest_idle(d->mmio.vm)) {
		bq->stats.irq_idle_releases++;
		vblk_release_irq(bq);
		return;
	}
	uint64_t age = timer_us() - bq->held_since;
	/* A small batch (a guest slower than its device) waits longer, until it has grown. */
	uint64_t due = d->coalesce_us;
	if (bq->used_since_irq < VIRTIO_BLK_HOLD_BATCH)
		due *= VIRTIO_BLK_HOLD_STRETCH;
	if (age >= due) {
		bq->stats.irq_late_releases++;
		vblk_release_irq(bq);
		return;
	}
	vm_defer_work(d->mmio.vm, (uint32_t)((age < d->coalesce_us ? d->coalesce_us : due) - age));
}
