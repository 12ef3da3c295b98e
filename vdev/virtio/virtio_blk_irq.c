/*
 * virtio-blk's interrupt decision: whether used entries interrupt the guest now or are held back
 * while it is busy (interrupt coalescing, virtio_blk_params.coalesce_us), and when a held interrupt
 * is released. Lock held throughout (contracts in virtio_blk_int.h).
 */
#include "vdev/virtio/virtio_blk_int.h"

#include "arch/timer.h"
#include "core/vm.h"

/* Lock held. Interrupt the guest for every used entry so far. */
static void signal_used(struct virtio_blk *d)
{
	d->irq_held = false; /* this interrupt carries any held one */
	d->last_batch = d->used_since_irq;
	d->used_since_irq = 0;
	virtio_mmio_signal_used(&d->mmio);
}

/* Lock held. Deliver the interrupt held back by coalescing, if any. */
void vblk_release_irq(struct virtio_blk *d)
{
	if (d->irq_held)
		signal_used(d);
}

/* Lock held. The device still has some of the driver's requests: in flight, waiting for
 * submission, or waiting for a slot. */
static bool work_outstanding(const struct virtio_blk *d)
{
	return d->ninflight != 0 || d->pending_first != SLOT_NONE || d->stalled;
}

/* Lock held. The guest waited for its I/O lately: it trapped on WFI, or sat in a completion poll.
 * Another vCPU's WFI may stamp its idle time after this clock read (no lock orders the two): a
 * stamp later than now is "just now", not one from long ago. */
static bool waited_lately(const struct virtio_blk *d)
{
	uint64_t now = timer_us(), w = (uint64_t)d->coalesce_us * VIRTIO_BLK_LONE_IDLE_DEADLINES;
	uint64_t idle = vm_last_idle_us(d->mmio.vm);
	return idle >= now || now - idle <= w || now - d->polled_us <= w;
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
static bool may_hold(const struct virtio_blk *d)
{
	if (d->coalesce_us == 0 || !d->mmio.driver_acks || vm_guest_idle(d->mmio.vm))
		return false;
	bool lone = d->last_batch <= 1 && d->used_since_irq <= 1 && !work_outstanding(d) &&
		    d->notify != VBLK_NOTIFY_QUIET;
	return !lone || !waited_lately(d);
}

void vblk_flush_irq(struct virtio_blk *d)
{
	if (!d->irq_check)
		return;
	d->irq_check = false;
	/* One interrupt line for every queue (virtio-mmio): raise it if any queue wants one. */
	bool want = false;
	for (unsigned q = 0; q < d->mmio.nqueues; q++)
		if (virtq_needs_interrupt(&d->mmio.queues[q])) /* false for a queue not ready */
			want = true;
	if (!want)
		return;
	if (!may_hold(d)) {
		signal_used(d);
		return;
	}
	d->stats.irq_holds++;
	if (!d->irq_held) {
		d->irq_held = true;
		d->held_since = timer_us();
		vm_defer_work(d->mmio.vm, d->coalesce_us); /* the release: idle or deadline */
	}
}

void vblk_release_due(struct virtio_blk *d)
{
	if (!d->irq_held)
		return;
	if (vm_guest_idle(d->mmio.vm)) {
		d->stats.irq_idle_releases++;
		vblk_release_irq(d);
		return;
	}
	uint64_t age = timer_us() - d->held_since;
	/* A small batch (a guest slower than its device) waits longer, until it has grown. */
	uint64_t due = d->coalesce_us;
	if (d->used_since_irq < VIRTIO_BLK_HOLD_BATCH)
		due *= VIRTIO_BLK_HOLD_STRETCH;
	if (age >= due) {
		d->stats.irq_late_releases++;
		vblk_release_irq(d);
		return;
	}
	vm_defer_work(d->mmio.vm, (uint32_t)((age < d->coalesce_us ? d->coalesce_us : due) - age));
}
