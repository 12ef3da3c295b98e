/* virtio-blk request slots: each queue's free stack and pending list, dropping and cancelling them. */
#include "arch/barrier.h"
#include "vdev/virtio/virtio_blk_int.h"

#include "keel/util.h"

void vblk_lock(struct vblk_queue *bq)
{
	virtio_lock_counted(&bq->lock, &bq->stats.lock_waits, &bq->stats.lock_wait_us);
}

void vblk_unlock(struct vblk_queue *bq)
{
	spin_unlock(&bq->lock);
	vblk_drain_done(bq);
}

uint16_t vblk_slot_index(const struct virtio_blk *d, const struct virtio_blk_slot *s)
{
	return (uint16_t)(s - d->slots);
}

struct virtio_blk_slot *vblk_slot_alloc(struct vblk_queue *bq)
{
	struct virtio_blk *d = bq->dev;
	if (bq->nfree == 0)
		panic("%s: no free request slot on queue %u", d->mmio.name,
		      bq->q); /* the pump checks first */
	struct virtio_blk_slot *s = &d->slots[bq->free_stack[--bq->nfree]];
	s->state = SLOT_PENDING;
	s->flush_after = false;
	s->orphaned = false;
	s->cancelled = false;
	s->split = false;
	s->split_due = false;
	s->rmw = false;
	s->rmw_due = false;
	s->next = SLOT_NONE;
	return s;
}

void vblk_slot_free(struct vblk_queue *bq, struct virtio_blk_slot *s)
{
	vblk_rmw_release(bq->dev, s);
	s->state = SLOT_FREE;
	bq->free_stack[bq->nfree++] = vblk_slot_index(bq->dev, s);
}

void vblk_pending_push_back(struct vblk_queue *bq, struct virtio_blk_slot *s)
{
	struct virtio_blk *d = bq->dev;
	uint16_t i = vblk_slot_index(d, s);
	s->state = SLOT_PENDING;
	s->next = SLOT_NONE;
	if (bq->pending_last == SLOT_NONE)
		bq->pending_first = i;
	else
		d->slots[bq->pending_last].next = i;
	bq->pending_last = i;
}

void vblk_pending_push_front(struct vblk_queue *bq, struct virtio_blk_slot *s)
{
	uint16_t i = vblk_slot_index(bq->dev, s);
	s->state = SLOT_PENDING;
	s->next = bq->pending_first;
	bq->pending_first = i;
	if (bq->pending_last == SLOT_NONE)
		bq->pending_last = i;
}

struct virtio_blk_slot *vblk_pending_pop_front(struct vblk_queue *bq)
{
	if (bq->pending_first == SLOT_NONE)
		return NULL;
	struct virtio_blk_slot *s = &bq->dev->slots[bq->pending_first];
	bq->pending_first = s->next;
	if (bq->pending_first == SLOT_NONE)
		bq->pending_last = SLOT_NONE;
	s->next = SLOT_NONE;
	return s;
}

void vblk_drop_pending(struct vblk_queue *bq)
{
	struct virtio_blk_slot *s;
	while ((s = vblk_pending_pop_front(bq)) != NULL)
		vblk_slot_free(bq, s);
	bq->stalled = false;
	bq->notify = VBLK_NOTIFY_ARMED; /* the queue is being reset or stopped: nothing to look for */
}

void vblk_cancel_in_flight(struct virtio_blk *d)
{
	for (unsigned i = 0; i < VIRTIO_BLK_SLOTS; i++) {
		struct virtio_blk_slot *s = &d->slots[i];
		struct vblk_queue *bq = vblk_queue_of(d, s);
		vblk_lock(bq);
		bool go = s->state == SLOT_INFLIGHT && !s->cancelled;
		if (go) {
			s->cancelled = true;
			bq->stats.cancels++;
		}
		vblk_unlock(bq);
		if (go)
			(void)blkdev_cancel(d->bdev, &s->req); /* ENOTSUP / unknown: wait for it instead */
	}
}
