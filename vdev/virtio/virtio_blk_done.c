/*
 * virtio-blk completions that never wait for a queue's lock. The backend's done callback pushes
 * the slot on its queue's lock-free list and finishes the list only if that lock is free; a holder
 * finishes what was left when it releases the lock (vblk_unlock). So an interrupt handler or a
 * poll, on any CPU and maybe another VM's, never spins on a lock held by a vCPU of this VM, whose
 * host thread may not even run under emulation; it leaves the work to that vCPU instead.
 *
 * Why nothing is left behind: a completer pushes, then (full barrier) tries the lock; a holder
 * releases the lock, then (full barrier) looks at the list. Of two such store-then-load sequences
 * one sees the other's store: the completer finds the lock free, or the last holder to release it
 * finds the slot. A holder that finds the lock taken again leaves the list to the new holder.
 */
#include "arch/barrier.h"
#include "core/vm.h"
#include "keel/util.h"
#include "vdev/virtio/virtio_blk_int.h"

_Static_assert(VM_MAX_VCPUS <= 32, "kick targets fit a 32-bit mask");

void vblk_drain_done(struct vblk_queue *bq)
{
	struct virtio_mmio *t = &bq->dev->mmio;
	uint32_t kick = 0;

	for (;;) {
		smp_mb(); /* the push or the release before the look (see above) */
		if (__atomic_load_n(&bq->done_list, __ATOMIC_RELAXED) == NULL)
			break;
		if (!spin_trylock(&bq->lock)) {
			/* Its holder (or a later one) finishes them when it releases the lock. */
			__atomic_fetch_add(&bq->stats.done_left, 1, __ATOMIC_RELAXED);
			break;
		}
		/* Take the whole list; it was built newest first: finish in completion order. */
		struct virtio_blk_slot *s = __atomic_exchange_n(&bq->done_list, NULL, __ATOMIC_ACQUIRE);
		struct virtio_blk_slot *fifo = NULL;
		while (s != NULL) {
			struct virtio_blk_slot *next = s->done_next;
			s->done_next = fifo;
			fifo = s;
			s = next;
		}
		while (fifo != NULL) {
			s = fifo;
			fifo = s->done_next;
			s->done_next = NULL;
			__atomic_store_n(&s->done_queued, false, __ATOMIC_RELAXED);
			vblk_complete_locked(bq, s, s->done_rc, &kick);
		}
		spin_unlock(&bq->lock); /* not vblk_unlock: this loop looks again itself */
	}
	/* Outside the lock: a kick may interrupt another CPU. */
	while (kick != 0) {
		unsigned v = (unsigned)__builtin_ctz(kick);
		kick &= kick - 1;
		vm_request_work(t->vm, (uint16_t)v);
	}
}

void vblk_req_done(struct blk_req *req, int rc)
{
	struct virtio_blk_slot *s = req->ctx;
	struct virtio_blk *d = s->dev;
	struct vblk_queue *bq = vblk_queue_of(d, s);

	if (__atomic_exchange_n(&s->done_queued, true, __ATOMIC_RELAXED))
		panic("%s: backend completed request slot %u twice", d->mmio.name, vblk_slot_index(d, s));
	s->done_rc = rc;
	struct virtio_blk_slot *head = __atomic_load_n(&bq->done_list, __ATOMIC_RELAXED);
	do
		s->done_next = head;
	while (
	    !__atomic_compare_exchange_n(&bq->done_list, &head, s, true, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	vblk_drain_done(bq);
}
