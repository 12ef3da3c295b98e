/* virtio-blk request slots: the free stack, the pending list, dropping and cancelling them. */
#include "vdev/virtio/virtio_blk_int.h"

#include "keel/util.h"

uint16_t vblk_slot_index(const struct virtio_blk *d, const struct virtio_blk_slot *s)
{
	return (uint16_t)(s - d->slots);
}

struct virtio_blk_slot *vblk_slot_alloc(struct virtio_blk *d)
{
	if (d->nfree == 0)
		panic("%s: no free request slot", d->mmio.name); /* the pump checks first */
	struct virtio_blk_slot *s = &d->slots[d->free_stack[--d->nfree]];
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

void vblk_slot_free(struct virtio_blk *d, struct virtio_blk_slot *s)
{
	vblk_rmw_release(d, s);
	s->state = SLOT_FREE;
	d->free_stack[d->nfree++] = vblk_slot_index(d, s);
}

void vblk_pending_push_back(struct virtio_blk *d, struct virtio_blk_slot *s)
{
	uint16_t i = vblk_slot_index(d, s);
	s->state = SLOT_PENDING;
	s->next = SLOT_NONE;
	if (d->pending_last == SLOT_NONE)
		d->pending_first = i;
	else
		d->slots[d->pending_last].next = i;
	d->pending_last = i;
}

void vblk_pending_push_front(struct virtio_blk *d, struct virtio_blk_slot *s)
{
	uint16_t i = vblk_slot_index(d, s);
	s->state = SLOT_PENDING;
	s->next = d->pending_first;
	d->pending_first = i;
	if (d->pending_last == SLOT_NONE)
		d->pending_last = i;
}

struct virtio_blk_slot *vblk_pending_pop_front(struct virtio_blk *d)
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

void vblk_drop_pending(struct virtio_blk *d)
{
	struct virtio_blk_slot *s;
	while ((s = vblk_pending_pop_front(d)) != NULL)
		vblk_slot_free(d, s);
	d->stalled = false;
	d->notify = VBLK_NOTIFY_ARMED; /* the queue is being reset or stopped: nothing to look for */
}

void vblk_cancel_in_flight(struct virtio_blk *d)
{
	struct virtio_mmio *t = &d->mmio;

	for (unsigned i = 0; i < VIRTIO_BLK_SLOTS; i++) {
		struct virtio_blk_slot *s = &d->slots[i];
		virtio_mmio_lock(t);
		bool go = s->state == SLOT_INFLIGHT && !s->cancelled;
		if (go) {
			s->cancelled = true;
			d->stats.cancels++;
		}
		virtio_mmio_unlock(t);
		if (go)
			(void)blkdev_cancel(d->bdev, &s->req); /* ENOTSUP / unknown: wait for it instead */
	}
}
