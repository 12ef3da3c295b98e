/* Host-test fake VM + minimal guest virtio-mmio/blk driver (see virtio_guest.h). */
#include "tests/fakes/virtio_guest.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/barrier.h"
#include "tests/fakes/fake_vgic.h"
#include "tests/fakes/fake_vm_work.h"

/* --- slowdisk: an asynchronous backend for in-flight / reset / EBUSY tests --- */

static void complete_one(struct slowdisk *s, struct blk_req *req);

static int slowdisk_submit(struct blkdev *dev, struct blk_req *req)
{
	struct slowdisk *s = dev->priv;
	s->hinted += req->batch;
	if (s->count >= s->capacity || s->count >= sizeof(s->queue) / sizeof(s->queue[0])) {
		s->refused = true;
		return BLK_EBUSY;
	}
	if (s->on_submit)
		s->on_submit(s, req);
	if (s->inline_done) {
		complete_one(s, req);
		return 0;
	}
	s->queue[s->count++] = req;
	return 0;
}

/* Forward a request to the (synchronous) inner device, keeping the outer done callback. */
static bool take_cancelled(struct slowdisk *s, struct blk_req *req)
{
	for (unsigned i = 0; i < s->ncancelled; i++) {
		if (s->cancelled[i] == req) {
			s->cancelled[i] = s->cancelled[--s->ncancelled];
			return true;
		}
	}
	return false;
}

static void complete_one(struct slowdisk *s, struct blk_req *req)
{
	if (take_cancelled(s, req)) {
		req->done(req, BLK_ECANCELED);
		return;
	}
	if (s->fail_next) {
		s->fail_next = false;
		req->done(req, BLK_EIO);
		return;
	}
	int rc = blkdev_submit(s->inner, req);
	if (rc != 0)
		req->done(req, rc);
}

void slowdisk_complete_first(struct slowdisk *s)
{
	if (s->count == 0)
		return;
	struct blk_req *req = s->queue[0];
	memmove(&s->queue[0], &s->queue[1], (s->count - 1) * sizeof(s->queue[0]));
	s->count--;
	complete_one(s, req);
	if (s->refused) { /* capacity freed: a refused submit may succeed now */
		s->refused = false;
		blkdev_wake(&s->bdev);
	}
}

void slowdisk_complete_all(struct slowdisk *s)
{
	/* Completions may submit more (the device resumes inside done): drain in rounds. */
	while (s->count > 0)
		slowdisk_complete_first(s);
}

static void slowdisk_poll(struct blkdev *dev)
{
	struct slowdisk *s = dev->priv;
	if (!s->stuck)
		slowdisk_complete_all(s);
}

static bool slowdisk_completion_ready(struct blkdev *dev)
{
	struct slowdisk *s = dev->priv;
	s->ready_calls++;
	return s->ready_in != 0 && s->ready_calls >= s->ready_in && s->count > 0 && !s->stuck;
}

static void slowdisk_commit(struct blkdev *dev)
{
	struct slowdisk *s = dev->priv;
	s->commits++;
	s->count_at_commit = s->count;
}

static const struct blkdev_ops slowdisk_ops = {
    .submit = slowdisk_submit,
    .poll = slowdisk_poll,
    .commit = slowdisk_commit,
};

static const struct blkdev_ops slowdisk_poll_ops = {
    .submit = slowdisk_submit,
    .poll = slowdisk_poll,
    .completion_ready = slowdisk_completion_ready,
    .commit = slowdisk_commit,
};

void slowdisk_make_pollable(struct slowdisk *s)
{
	s->bdev.ops = &slowdisk_poll_ops;
}

static int slowdisk_cancel(struct blkdev *dev, struct blk_req *req)
{
	struct slowdisk *s = dev->priv;
	s->cancels++;
	for (unsigned i = 0; i < s->count; i++) {
		if (s->queue[i] != req)
			continue;
		if (s->cancel_now) {
			memmove(&s->queue[i], &s->queue[i + 1], (s->count - i - 1) * sizeof(s->queue[0]));
			s->count--;
			req->done(req, BLK_ECANCELED);
		} else if (s->ncancelled < sizeof(s->cancelled) / sizeof(s->cancelled[0])) {
			s->cancelled[s->ncancelled++] = req;
		}
		return 0;
	}
	return BLK_EINVAL; /* unknown: already completed */
}

static const struct blkdev_ops slowdisk_cancel_ops = {
    .submit = slowdisk_submit,
    .poll = slowdisk_poll,
    .cancel = slowdisk_cancel,
    .commit = slowdisk_commit,
};

void slowdisk_make_cancellable(struct slowdisk *s, bool cancel_now)
{
	s->bdev.ops = &slowdisk_cancel_ops;
	s->cancel_now = cancel_now;
}

unsigned vg_run_work(struct vg *g, unsigned max)
{
	unsigned n = 0;
	while (n < max && fake_vm_work_take(g->vm)) {
		n++;
		if (virtio_blk_work(g->blk))
			vm_request_work(g->vm, 0); /* vm_run_work: more remains, come back */
	}
	return n;
}

void slowdisk_init(struct slowdisk *s, struct blkdev *inner, unsigned capacity)
{
	memset(s, 0, sizeof(*s));
	s->inner = inner;
	s->capacity = capacity ? capacity : 256;
	s->bdev = *inner;
	s->bdev.name = "slow0";
	s->bdev.ops = &slowdisk_ops;
	s->bdev.priv = s;
}

/* --- the fake VM ------------------------------------------------------------- */

uint8_t vg_disk_byte(uint64_t off)
{
	return (uint8_t)((off / 512) * 7 + (off % 512));
}

struct virtio_blk_stats vg_blk_stats(struct vg *g)
{
	struct virtio_blk_stats s;
	virtio_blk_get_stats(g->blk, &s);
	return s;
}

struct vg *vg_create(const struct vg_opts *o)
{
	struct vg *g = calloc(1, sizeof(*g));
	if (g == NULL)
		abort();
	g->ram_size = o && o->ram_size ? o->ram_size : VG_RAM_SIZE;
	g->ram_alloc = malloc(g->ram_size + 2 * VG_GUARD);
	g->disk_size = (uint64_t)(o && o->disk_sectors ? o->disk_sectors : VG_DISK_SECTORS) * BLK_SECTOR_SIZE;
	g->disk_alloc = malloc(g->disk_size + 2 * VG_GUARD);
	g->blk = calloc(1, sizeof(*g->blk));
	if (g->ram_alloc == NULL || g->disk_alloc == NULL || g->blk == NULL)
		abort();
	memset(g->ram_alloc, VG_GUARD_BYTE, g->ram_size + 2 * VG_GUARD);
	memset(g->disk_alloc, VG_GUARD_BYTE, g->disk_size + 2 * VG_GUARD);
	g->ram = g->ram_alloc + VG_GUARD;
	g->disk = g->disk_alloc + VG_GUARD;
	memset(g->ram, 0, g->ram_size);
	for (uint64_t i = 0; i < g->disk_size; i++)
		g->disk[i] = vg_disk_byte(i); /* a recognisable disk */

	g->mem.ranges[0] = (struct gmem_range){ipa_init(VG_RAM_IPA), ptr_to_pa(g->ram), g->ram_size};
	g->mem.count = 1;
	g->vm = (struct vm *)&g->vm_marker;

	if (ramdisk_init(&g->rd, "ram0", ptr_to_pa(g->disk), g->disk_size, o && o->backend_ro) != 0)
		abort();
	struct blkdev *bdev = &g->rd.bdev;
	if (o && o->max_segs)
		g->rd.bdev.max_segs = o->max_segs;
	if (o && o->max_seg_size)
		g->rd.bdev.max_seg_size = o->max_seg_size;
	if (o && o->max_sectors)
		g->rd.bdev.max_sectors = o->max_sectors;
	if (o && o->block_size)
		g->rd.bdev.block_size = o->block_size;
	if (o)
		g->rd.bdev.flags &= ~o->flags_clear;
	if (o && o->slow) {
		slowdisk_init(&g->slow, &g->rd.bdev, o->slow_capacity);
		if (o->pollable)
			slowdisk_make_pollable(&g->slow);
		bdev = &g->slow.bdev;
	}
	struct virtio_blk_params p = {
	    .vm = g->vm,
	    .name = "vm1/vda",
	    .mem = &g->mem,
	    .base = ipa_init(VG_MMIO_BASE),
	    .intid = VG_INTID,
	    .bdev = bdev,
	    .serial = o ? o->serial : NULL,
	    .read_only = o && o->param_ro,
	    .poll_us = o ? o->poll_us : 0,
	    .coalesce_us = o ? o->coalesce_us : 0,
	    .nqueues = o ? o->nqueues : 0,
	};
	if (bdev->block_size > BLK_SECTOR_SIZE && !(o && o->no_bounce)) {
		for (unsigned i = 0; i < VIRTIO_BLK_BOUNCE_PAGES; i++)
			if ((g->bounce[i] = aligned_alloc(4096, 4096)) == NULL)
				abort();
		p.bounce = g->bounce;
	}
	if (virtio_blk_init(g->blk, &p, &g->bus) != 0)
		abort();
	return g;
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

bool vg_guards_intact(const struct vg *g)
{
	return all_bytes(g->ram_alloc, VG_GUARD, VG_GUARD_BYTE) &&
	       all_bytes(g->ram + g->ram_size, VG_GUARD, VG_GUARD_BYTE) &&
	       all_bytes(g->disk_alloc, VG_GUARD, VG_GUARD_BYTE) &&
	       all_bytes(g->disk + g->disk_size, VG_GUARD, VG_GUARD_BYTE);
}

bool vg_destroy(struct vg *g)
{
	bool ok = vg_guards_intact(g);
	free(g->ram_alloc);
	free(g->disk_alloc);
	free(g->blk);
	for (unsigned i = 0; i < VIRTIO_BLK_BOUNCE_PAGES; i++)
		free(g->bounce[i]);
	free(g);
	return ok;
}

void *vg_ptr(struct vg *g, uint64_t ipa)
{
	if (ipa < VG_RAM_IPA || ipa >= VG_RAM_IPA + g->ram_size) {
		fprintf(stderr, "vg_ptr: 0x%llx outside guest RAM\n", (unsigned long long)ipa);
		abort();
	}
	return g->ram + (ipa - VG_RAM_IPA);
}

/* --- MMIO --------------------------------------------------------------------- */

int vg_access(struct vg *g, uint64_t off, uint8_t size, bool write, uint64_t *value)
{
	struct mmio_access acc = {
	    .ipa = ipa_init(VG_MMIO_BASE + off),
	    .size = size,
	    .write = write,
	    .value = write ? *value : 0,
	    .reg64 = true,
	};
	int rc = mmio_bus_dispatch(&g->bus, g->as_vcpu, &acc);
	if (!write)
		*value = acc.value;
	return rc;
}

uint32_t vg_rd(struct vg *g, uint64_t off)
{
	uint64_t v = 0;
	if (vg_access(g, off, 4, false, &v) != 0)
		return 0xdeadbeef;
	return (uint32_t)v;
}

void vg_wr(struct vg *g, uint64_t off, uint32_t value)
{
	uint64_t v = value;
	(void)vg_access(g, off, 4, true, &v);
}

bool vg_driver_init(struct vg *g, uint64_t want, uint16_t qsize)
{
	if (vg_rd(g, VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC || vg_rd(g, VIRTIO_MMIO_VERSION) != 2 ||
	    vg_rd(g, VIRTIO_MMIO_DEVICE_ID) != VIRTIO_ID_BLOCK)
		return false;
	vg_wr(g, VIRTIO_MMIO_STATUS, 0);
	vg_wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	vg_wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vg_wr(g, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	uint64_t offered = (uint64_t)vg_rd(g, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	vg_wr(g, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	offered |= vg_rd(g, VIRTIO_MMIO_DEVICE_FEATURES);
	g->features = offered & want;
	vg_wr(g, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vg_wr(g, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(g->features >> 32));
	vg_wr(g, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vg_wr(g, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)g->features);
	uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
	vg_wr(g, VIRTIO_MMIO_STATUS, st);
	if (!(vg_rd(g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK))
		return false;

	/* Fresh rings, as a driver allocates them. */
	g->qsize = qsize;
	g->nqueues = 1;
	if (g->features & BIT(VIRTIO_BLK_F_MQ)) {
		uint32_t lo = vg_rd(g, VIRTIO_MMIO_CONFIG + 32); /* writeback, unused0, num_queues */
		g->nqueues = lo >> 16;
		if (g->nqueues == 0 || g->nqueues > VG_MAX_QUEUES)
			return false;
	}
	for (unsigned q = 0; q < g->nqueues; q++) {
		memset(vg_ptr(g, vg_desc_ipa(q)), 0, 0x3000);
		g->q_avail_idx[q] = 0;
		vg_wr(g, VIRTIO_MMIO_QUEUE_SEL, q);
		if (vg_rd(g, VIRTIO_MMIO_QUEUE_READY) != 0 || vg_rd(g, VIRTIO_MMIO_QUEUE_NUM_MAX) < qsize)
			return false;
		vg_wr(g, VIRTIO_MMIO_QUEUE_NUM, qsize);
		vg_wr(g, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)vg_desc_ipa(q));
		vg_wr(g, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(vg_desc_ipa(q) >> 32));
		vg_wr(g, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)vg_avail_ipa(q));
		vg_wr(g, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(vg_avail_ipa(q) >> 32));
		vg_wr(g, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)vg_used_ipa(q));
		vg_wr(g, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(vg_used_ipa(q) >> 32));
		vg_wr(g, VIRTIO_MMIO_QUEUE_READY, 1);
		if (vg_rd(g, VIRTIO_MMIO_QUEUE_READY) != 1)
			return false;
	}
	g->cur_q = 0;
	g->avail_idx = 0;
	vg_wr(g, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	return vg_rd(g, VIRTIO_MMIO_STATUS) == (st | VIRTIO_STATUS_DRIVER_OK);
}

/* --- rings -------------------------------------------------------------------- */

uint64_t vg_desc_ipa(unsigned q)
{
	return q == 0 ? VG_DESC_IPA : VG_MQ_RING_IPA + 0x3000ull * (q - 1);
}

uint64_t vg_avail_ipa(unsigned q)
{
	return q == 0 ? VG_AVAIL_IPA : vg_desc_ipa(q) + 0x1000;
}

uint64_t vg_used_ipa(unsigned q)
{
	return q == 0 ? VG_USED_IPA : vg_desc_ipa(q) + 0x2000;
}

void vg_use_queue(struct vg *g, unsigned q)
{
	assert(q < VG_MAX_QUEUES);
	g->q_avail_idx[g->cur_q] = g->avail_idx;
	g->cur_q = q;
	g->avail_idx = g->q_avail_idx[q];
}

void vg_set_desc(struct vg *g, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc *d = vg_ptr(g, vg_desc_ipa(g->cur_q) + 16ull * i);
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

void vg_publish(struct vg *g, uint16_t head)
{
	struct virtq_avail *a = vg_ptr(g, vg_avail_ipa(g->cur_q));
	a->ring[g->avail_idx % g->qsize] = head;
	wmb();
	g->avail_idx++;
	a->idx = g->avail_idx;
}

void vg_notify(struct vg *g)
{
	vg_wr(g, VIRTIO_MMIO_QUEUE_NOTIFY, g->cur_q);
}

uint16_t vg_used_idx(struct vg *g)
{
	return ((struct virtq_used *)vg_ptr(g, vg_used_ipa(g->cur_q)))->idx;
}

struct virtq_used_elem vg_used_elem(struct vg *g, uint16_t i)
{
	return ((struct virtq_used *)vg_ptr(g, vg_used_ipa(g->cur_q)))->ring[i % g->qsize];
}

uint16_t vg_blk_submit(struct vg *g, unsigned slot, const struct vg_req *r)
{
	uint16_t d0 = vg_blk_queue(g, slot, r);
	vg_notify(g);
	return d0;
}

uint16_t vg_blk_queue(struct vg *g, unsigned slot, const struct vg_req *r)
{
	uint16_t d0 = (uint16_t)(3 * slot);
	uint64_t hdr_ipa = VG_HDR_IPA + 16ull * slot;
	uint64_t status_ipa = VG_STATUS_IPA + slot;
	struct virtio_blk_outhdr *h = vg_ptr(g, hdr_ipa);

	h->type = r->type;
	h->reserved = 0;
	h->sector = r->sector;
	*(uint8_t *)vg_ptr(g, status_ipa) = 0xff;
	if (r->data_len) {
		vg_set_desc(g, d0, hdr_ipa, 16, VIRTQ_DESC_F_NEXT, d0 + 1);
		vg_set_desc(g, d0 + 1, r->data_ipa, r->data_len,
			    VIRTQ_DESC_F_NEXT | (r->data_writable ? VIRTQ_DESC_F_WRITE : 0), d0 + 2);
		vg_set_desc(g, d0 + 2, status_ipa, 1, VIRTQ_DESC_F_WRITE, 0);
	} else {
		vg_set_desc(g, d0, hdr_ipa, 16, VIRTQ_DESC_F_NEXT, d0 + 1);
		vg_set_desc(g, d0 + 1, status_ipa, 1, VIRTQ_DESC_F_WRITE, 0);
	}
	vg_publish(g, d0);
	return d0;
}

uint8_t vg_status(struct vg *g, unsigned slot)
{
	return *(uint8_t *)vg_ptr(g, VG_STATUS_IPA + slot);
}

struct vg *vg_create_fresh(const struct vg_opts *o)
{
	struct vg *g = vg_create(o);
	fake_vgic_reset();
	fake_vm_work_reset();
	return g;
}

void vg_queue_reads(struct vg *g, unsigned first, unsigned n)
{
	for (unsigned i = first; i < first + n; i++) {
		struct vg_req r = {VIRTIO_BLK_T_IN, i, VG_DATA_IPA + 512 * i, 512, true};
		vg_blk_queue(g, i, &r);
	}
}

void vg_submit_reads(struct vg *g, unsigned first, unsigned n)
{
	for (unsigned i = first; i < first + n; i++) {
		vg_queue_reads(g, i, 1);
		vg_notify(g); /* as vg_blk_submit: each one notified */
	}
}

unsigned vg_irqs(struct vg *g)
{
	return fake_vgic_count(g->vm, VG_INTID);
}
