/* Split-virtqueue engine: validate once, read every guest field once, never trust the ring. */
#include "vdev/virtio/virtq.h"

#include <errno.h>
#include <string.h>

#include "arch/barrier.h"
#include "keel/util.h"

void virtq_init(struct virtq *vq, const struct guest_mem *mem, uint16_t max_size)
{
	vq->mem = mem;
	vq->max_size = max_size;
	virtq_reset(vq);
}

void virtq_reset(struct virtq *vq)
{
	vq->num = vq->max_size;
	vq->desc_ipa = 0;
	vq->avail_ipa = 0;
	vq->used_ipa = 0;
	vq->ready = false;
	vq->size = 0;
	vq->event_idx = false;
	vq->indirect = false;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	vq->last_avail_idx = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_valid = false;
	vq->unsignalled = false;
	vq->notify_off = false;
	vq->error = NULL;
}

static int enable_fail(struct virtq *vq, const char *why)
{
	vq->error = why;
	return -EINVAL;
}

int virtq_enable(struct virtq *vq, uint64_t features)
{
	uint32_t n = vq->num;
	paddr_t desc_pa, avail_pa, used_pa;

	if (n == 0 || n > vq->max_size || (n & (n - 1)) != 0)
		return enable_fail(vq, "queue size not a power of two within QueueNumMax");
	if (!IS_ALIGNED(vq->desc_ipa, VIRTQ_DESC_ALIGN))
		return enable_fail(vq, "descriptor table not 16-byte aligned");
	if (!IS_ALIGNED(vq->avail_ipa, VIRTQ_AVAIL_ALIGN))
		return enable_fail(vq, "available ring not 2-byte aligned");
	if (!IS_ALIGNED(vq->used_ipa, VIRTQ_USED_ALIGN))
		return enable_fail(vq, "used ring not 4-byte aligned");
	if (!gmem_translate(vq->mem, ipa_init(vq->desc_ipa), VIRTQ_DESC_BYTES(n), &desc_pa))
		return enable_fail(vq, "descriptor table outside guest RAM");
	if (!gmem_translate(vq->mem, ipa_init(vq->avail_ipa), VIRTQ_AVAIL_BYTES(n), &avail_pa))
		return enable_fail(vq, "available ring outside guest RAM");
	if (!gmem_translate(vq->mem, ipa_init(vq->used_ipa), VIRTQ_USED_BYTES(n), &used_pa))
		return enable_fail(vq, "used ring outside guest RAM");
	/* The device writes the used ring: it must not land on the driver's areas. */
	if (ranges_overlap(vq->used_ipa, VIRTQ_USED_BYTES(n), vq->desc_ipa, VIRTQ_DESC_BYTES(n)) ||
	    ranges_overlap(vq->used_ipa, VIRTQ_USED_BYTES(n), vq->avail_ipa, VIRTQ_AVAIL_BYTES(n)) ||
	    ranges_overlap(vq->desc_ipa, VIRTQ_DESC_BYTES(n), vq->avail_ipa, VIRTQ_AVAIL_BYTES(n)))
		return enable_fail(vq, "ring areas overlap");

	vq->size = (uint16_t)n;
	vq->event_idx = (features & BIT(VIRTIO_F_EVENT_IDX)) != 0;
	vq->indirect = (features & BIT(VIRTIO_F_INDIRECT_DESC)) != 0;
	vq->desc = pa_to_ptr(desc_pa);
	vq->avail = pa_to_ptr(avail_pa);
	vq->used = pa_to_ptr(used_pa);
	vq->last_avail_idx = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_valid = false;
	vq->unsignalled = false;
	vq->notify_off = false;
	vq->error = NULL;
	/* Last, and after the rest: a queue pass that sees it ready (acquire) sees the ring. */
	__atomic_store_n(&vq->ready, true, __ATOMIC_RELEASE);
	return 0;
}

/* used_event trails the avail ring; avail_event trails the used ring (§2.7.6, §2.7.8). */
static volatile le16 *used_event_field(const struct virtq *vq)
{
	return &vq->avail->ring[vq->size];
}

static volatile le16 *avail_event_field(const struct virtq *vq)
{
	return (volatile le16 *)&vq->used->ring[vq->size];
}

/* One read of each field: the guest may rewrite the descriptor while we look at it. */
static void read_desc(const volatile struct virtq_desc *src, struct virtq_desc *dst)
{
	dst->addr = src->addr;
	dst->len = src->len;
	dst->flags = src->flags;
	dst->next = src->next;
}

/* The walk cannot go on: no status byte can be trusted. */
static enum virtq_pop_result broken_chain(struct virtq *vq, const char *why)
{
	vq->error = why;
	return VIRTQ_POP_BROKEN_CHAIN;
}

/* The chain is refused, but the walk goes on to find its last descriptor (the status byte). */
static enum virtq_pop_result bad_chain(struct virtq *vq, const char *why)
{
	vq->error = why;
	return VIRTQ_POP_BAD_CHAIN;
}

/* One read of each field of a descriptor at any alignment (indirect tables need none). */
static void read_desc_any(const volatile struct virtq_desc *src, struct virtq_desc *dst)
{
	if (IS_ALIGNED((uintptr_t)src, sizeof(uint64_t)))
		read_desc(src, dst);
	else
		memcpy(dst, (const void *)(uintptr_t)src, sizeof(*dst)); /* byte loads: -mstrict-align */
}

static enum virtq_pop_result add_buf(struct virtq *vq, struct virtq_chain *c, const struct virtq_desc *d)
{
	bool writable = (d->flags & VIRTQ_DESC_F_WRITE) != 0;
	paddr_t pa;

	if (d->len == 0)
		return VIRTQ_POP_OK; /* nothing to transfer; harmless, skip it */
	if (!writable && c->nbufs != c->nreadable)
		return bad_chain(vq, "device-readable descriptor after a device-writable one");
	if (c->nbufs >= VIRTQ_CHAIN_MAX_BUFS)
		return bad_chain(vq, "too many buffers in chain");
	if ((uint64_t)c->readable_len + c->writable_len + d->len > UINT32_MAX)
		return bad_chain(vq, "chain longer than 4 GiB");
	if (!gmem_translate(vq->mem, ipa_init(d->addr), d->len, &pa))
		return bad_chain(vq, "buffer outside guest RAM");

	struct virtq_buf *b = &c->bufs[c->nbufs++];
	b->ipa = ipa_init(d->addr);
	b->pa = pa;
	b->len = d->len;
	b->writable = writable;
	if (writable) {
		c->writable_len += d->len;
	} else {
		c->nreadable++;
		c->readable_len += d->len;
	}
	return VIRTQ_POP_OK;
}

enum virtq_pop_result virtq_pop(struct virtq *vq, struct virtq_chain *c)
{
	if (!vq->ready)
		return VIRTQ_POP_EMPTY;

	uint16_t avail_idx = vq->avail->idx;
	uint16_t pending = (uint16_t)(avail_idx - vq->last_avail_idx);
	if (pending == 0)
		return VIRTQ_POP_EMPTY;
	if (pending > vq->size) {
		vq->error = "available index moved more than the queue size ahead";
		return VIRTQ_POP_RING_ERROR;
	}
	/* Read the ring entry only after seeing the index that publishes it. */
	rmb();
	uint16_t head = vq->avail->ring[vq->last_avail_idx & (vq->size - 1)];
	if (head >= vq->size) {
		vq->error = "available ring entry out of range";
		return VIRTQ_POP_RING_ERROR;
	}
	vq->last_avail_idx++;

	c->head = head;
	c->nbufs = 0;
	c->nreadable = 0;
	c->readable_len = 0;
	c->writable_len = 0;

	c->status_ok = false;
	c->any_writable = false;
	c->status_pa = pa_init(0);

	const volatile struct virtq_desc *table = vq->desc;
	uint32_t table_len = vq->size;
	uint32_t budget = vq->size; /* a chain visits each table entry at most once */
	bool in_indirect = false;
	uint16_t idx = head;
	enum virtq_pop_result verdict = VIRTQ_POP_OK;
	struct virtq_desc last = {0}; /* the last non-empty descriptor */

	for (;;) {
		struct virtq_desc d;

		if (budget == 0)
			return broken_chain(vq, "descriptor chain longer than its table (loop?)");
		budget--;
		read_desc_any(&table[idx], &d);

		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/*
			 * A direct chain may end in one indirect descriptor
			 * (§2.7.5.3.2); its WRITE flag is ignored.
			 */
			if (in_indirect)
				return broken_chain(vq, "nested indirect table");
			if (!vq->indirect)
				return broken_chain(vq, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return broken_chain(vq, "indirect descriptor with NEXT set");
			if (d.len == 0 || d.len % sizeof(struct virtq_desc) != 0)
				return broken_chain(vq,
						    "indirect table length not a non-zero multiple of 16");
			if (d.len > VIRTQ_INDIRECT_MAX * sizeof(struct virtq_desc))
				return broken_chain(vq, "indirect table too long");
			const volatile struct virtq_desc *ind = gmem_ptr(vq->mem, ipa_init(d.addr), d.len);
			if (ind == NULL)
				return broken_chain(vq, "indirect table outside guest RAM");
			table = ind;
			table_len = d.len / sizeof(struct virtq_desc);
			budget = table_len;
			in_indirect = true;
			idx = 0;
			continue;
		}

		if (d.len != 0) {
			last = d;
			if (d.flags & VIRTQ_DESC_F_WRITE)
				c->any_writable = true;
		}
		if (verdict == VIRTQ_POP_OK)
			verdict = add_buf(vq, c, &d);
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= table_len)
			return broken_chain(vq, "next index out of range");
		idx = d.next;
	}
	if (verdict != VIRTQ_POP_OK && (last.flags & VIRTQ_DESC_F_WRITE)) {
		paddr_t pa;
		if (gmem_translate(vq->mem, ipa_init(last.addr), last.len, &pa)) {
			c->status_ok = true;
			c->status_pa = pa_add(pa, last.len - 1);
		}
	}
	return verdict;
}

int virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
	if (!vq->ready || head >= vq->size)
		return -EINVAL;
	volatile struct virtq_used_elem *e = &vq->used->ring[vq->used_idx & (vq->size - 1)];
	e->id = head;
	e->len = len;
	/* The element (and the data and status the device wrote) before the index that publishes it. */
	wmb();
	vq->used_idx++;
	vq->used->idx = vq->used_idx;
	vq->unsignalled = true;
	return 0;
}

bool virtq_needs_interrupt(struct virtq *vq)
{
	if (!vq->ready || !vq->unsignalled)
		return false; /* nothing used since the last decision */
	vq->unsignalled = false;
	/* Order the used->idx store before reading the driver's suppression fields. */
	smp_mb();
	uint16_t new_idx = vq->used_idx;
	uint16_t old_idx = vq->signalled_used;
	bool valid = vq->signalled_valid;

	vq->signalled_used = new_idx;
	vq->signalled_valid = true;

	if (!vq->event_idx)
		return !(vq->avail->flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	/* vring_need_event(): did used->idx cross used_event since the last interrupt? */
	uint16_t event = *used_event_field(vq);
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool virtq_arm_notify(struct virtq *vq)
{
	if (!vq->ready)
		return false;
	vq->notify_off = false;
	if (vq->event_idx)
		*avail_event_field(vq) = vq->last_avail_idx;
	else
		vq->used->flags = 0; /* §2.7.10: flags is 0 or VIRTQ_USED_F_NO_NOTIFY without EVENT_IDX */
	/* Publish the request before re-reading avail->idx, or a kick can be lost. */
	smp_mb();
	return vq->avail->idx != vq->last_avail_idx;
}

void virtq_quiet_notify(struct virtq *vq)
{
	if (!vq->ready)
		return;
	vq->notify_off = true;
	/* An avail_event the driver's index has already passed: its next buffers cross no event
	 * (vring_need_event, §2.7.10.2) until the index wraps, 65536 buffers on. */
	if (vq->event_idx)
		*avail_event_field(vq) = (uint16_t)(vq->last_avail_idx - 1);
	else
		vq->used->flags = VIRTQ_USED_F_NO_NOTIFY;
}
