/*
 * libFuzzer target for the virtio-blk device: two VMs' disks on one fake storage controller. The
 * input is a program of guest actions on either disk (write guest RAM, MMIO reads/writes anywhere
 * in the region, notifies, well-formed-ish requests, resets) and of controller events (complete
 * any queued request, out of order, with success or failure; stall; refuse when its shared depth
 * is used up, then wake the refused disks; cancel at once or on the next poll). After each action
 * the VMs' vCPU loops run the work hooks that were asked for (as core/vm.c vm_run_work does).
 * Each disk has 1..3 request queues (VIRTIO_BLK_F_MQ from 2, chosen by the input), each with its
 * own rings: requests, notifies and hostile avail indexes go to any queue, beside healthy ones.
 *
 * Invariants: each VM's RAM is a malloc'd buffer of exactly its size, so ASan reports any device
 * access outside its VM (including into the other VM); the disk image is followed by a canary that
 * must stay intact; no crash, no panic; completion context (controller completions, polling,
 * cancels) never pops a ring or submits; after a quiet drain no live disk holds a request it never
 * resumed, nor a ring with notifications off (no lost wake-up); quiesce eventually holds and after
 * the final reset every request slot is free again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/timer.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fakes/fake_vgic.h"
#include "tests/fakes/fake_vm_work.h"
#include "tests/fakes/virtio_guest.h"

#define NDISK	  2
#define RAM_IPA	  0x40000000ULL
#define RAM_SIZE  0x20000u /* 128 KiB per VM */
#define PART_SIZE 0x8000u  /* each disk: 32 KiB of the one image */
#define DISK_SIZE (NDISK * PART_SIZE)
#define CANARY	  0x1000u
#define MMIO_BASE 0x0a000000ULL
#define INTID	  48u
#define DESC_OFF  0x0000u
#define AVAIL_OFF 0x1000u
#define USED_OFF  0x2000u
#define HDR_OFF	  0x3000u
#define DATA_OFF  0x4000u
#define DATA_END  0x10000u /* queues 1.. have their rings above (MQ_OFF) */
#define MQ_OFF	  0x10000u /* queue q >= 1: desc, avail, used at MQ_OFF + 0x3000 * (q - 1) */
#define NQ	  3u
#define CTL_MAX	  16u

/* --- the shared controller: one queue of `depth` entries for both disks ----------------------- */

struct ctl_entry {
	struct blk_req *req;
	unsigned owner;
	bool cancel_pending; /* cancelled, completes with BLK_ECANCELED on the next completion pass */
};

static struct {
	struct ctl_entry q[CTL_MAX];
	unsigned count, depth;
	bool refused[NDISK];
	bool stuck;	 /* poll completes nothing */
	bool cancel_now; /* cancel completes inside the call */
	bool ready;	 /* completion_ready's answer */
	bool in_completion;
	struct blkdev front[NDISK];
	struct ramdisk part[NDISK];
} ctl;

static void fail(void)
{
	abort();
}

static unsigned front_id(const struct blkdev *dev)
{
	return (unsigned)(dev - ctl.front);
}

static int ctl_submit(struct blkdev *dev, struct blk_req *req)
{
	if (ctl.in_completion)
		fail(); /* completion context submitted */
	unsigned id = front_id(dev);
	uint32_t per_block = dev->block_size / BLK_SECTOR_SIZE;
	if ((req->op == BLK_OP_READ || req->op == BLK_OP_WRITE) &&
	    (req->sector % per_block != 0 || req->nsectors % per_block != 0))
		fail(); /* sub-block I/O reached a 4 KiB-block backend */
	if (ctl.count >= ctl.depth) {
		ctl.refused[id] = true;
		return BLK_EBUSY;
	}
	ctl.q[ctl.count++] = (struct ctl_entry){req, id, false};
	return 0;
}

static void wake_refused(void)
{
	for (unsigned k = 0; k < NDISK; k++) {
		if (ctl.refused[k]) {
			ctl.refused[k] = false;
			blkdev_wake(&ctl.front[k]);
		}
	}
}

/* Complete queue entry i: mode 0 through the partition (real data), 1 I/O error. */
static void ctl_complete(unsigned i, unsigned mode)
{
	struct ctl_entry e = ctl.q[i];
	memmove(&ctl.q[i], &ctl.q[i + 1], (ctl.count - i - 1) * sizeof(ctl.q[0]));
	ctl.count--;
	bool outer = ctl.in_completion;
	ctl.in_completion = true;
	if (e.cancel_pending) {
		e.req->done(e.req, BLK_ECANCELED);
	} else if (mode == 1) {
		e.req->done(e.req, BLK_EIO);
	} else {
		int rc = blkdev_submit(&ctl.part[e.owner].bdev, e.req);
		if (rc != 0)
			e.req->done(e.req, rc);
	}
	wake_refused();
	ctl.in_completion = outer;
}

static void ctl_poll(struct blkdev *dev)
{
	(void)dev;
	while (!ctl.stuck && ctl.count > 0)
		ctl_complete(0, 0);
}

static bool ctl_ready(struct blkdev *dev)
{
	(void)dev;
	return ctl.ready && ctl.count > 0 && !ctl.stuck;
}

static int ctl_cancel(struct blkdev *dev, struct blk_req *req)
{
	(void)dev;
	for (unsigned i = 0; i < ctl.count; i++) {
		if (ctl.q[i].req != req)
			continue;
		if (ctl.cancel_now) {
			ctl.q[i].cancel_pending = true;
			ctl_complete(i, 0);
		} else {
			ctl.q[i].cancel_pending = true;
		}
		return 0;
	}
	return BLK_EINVAL;
}

static const struct blkdev_ops ctl_ops = {
    .submit = ctl_submit,
    .poll = ctl_poll,
    .completion_ready = ctl_ready,
    .cancel = ctl_cancel,
};

/* --- the two VMs ---------------------------------------------------------------------------- */

struct fvm {
	uint8_t *ram;
	struct guest_mem mem;
	struct mmio_bus bus;
	struct virtio_blk *blk;
	void *bounce[VIRTIO_BLK_BOUNCE_PAGES]; /* given to the disk when it has 4 KiB blocks */
	int marker;
	struct vm *vm;
};

static struct fvm vms[NDISK];
static uint8_t *disk; /* DISK_SIZE + CANARY */

static int mmio(struct fvm *v, uint64_t off, uint8_t size, bool write, uint64_t value)
{
	struct mmio_access a = {
	    .ipa = ipa_init(MMIO_BASE + off),
	    .size = size,
	    .write = write,
	    .value = value,
	    .reg64 = true,
	};
	return mmio_bus_dispatch(&v->bus, NULL, &a);
}

static void wr(struct fvm *v, uint64_t off, uint32_t val)
{
	mmio(v, off, 4, true, val);
}

/* Where queue q's descriptor table lies (avail and used follow a page apart each). */
static uint32_t ring_off(unsigned q)
{
	return q == 0 ? DESC_OFF : MQ_OFF + 0x3000u * (q - 1);
}

/* The Linux init sequence, so the fuzzer reaches request processing quickly; every queue offered. */
static void driver_init(struct fvm *v, uint32_t feature_lo, uint16_t qsize)
{
	wr(v, VIRTIO_MMIO_STATUS, 0);
	wr(v, VIRTIO_MMIO_STATUS, 1);
	wr(v, VIRTIO_MMIO_STATUS, 3);
	wr(v, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(v, VIRTIO_MMIO_DRIVER_FEATURES, feature_lo & (uint32_t)v->blk->mmio.device_features);
	wr(v, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(v, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
	wr(v, VIRTIO_MMIO_STATUS, 0xb);
	for (unsigned q = 0; q < v->blk->mmio.nqueues; q++) {
		uint32_t o = ring_off(q);
		wr(v, VIRTIO_MMIO_QUEUE_SEL, q);
		wr(v, VIRTIO_MMIO_QUEUE_NUM, qsize);
		wr(v, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)(RAM_IPA + o));
		wr(v, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
		wr(v, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(RAM_IPA + o + (AVAIL_OFF - DESC_OFF)));
		wr(v, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
		wr(v, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(RAM_IPA + o + (USED_OFF - DESC_OFF)));
		wr(v, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
		wr(v, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	wr(v, VIRTIO_MMIO_STATUS, 0xf);
}

/* A request in the fuzzer's hands: header + one data buffer + status, at slot s of queue q. */
static void template_request(struct fvm *v, struct input *in)
{
	unsigned s = take(in, 1) % 32;
	unsigned q = (s >> 3) % v->blk->mmio.nqueues;
	uint32_t type = take(in, 1) % 16;
	uint64_t sector = take(in, 2);
	uint32_t len = take(in, 2) % (DATA_END - DATA_OFF);
	uint16_t flags = (uint16_t)take(in, 1);
	if (sector & 0x8000)
		sector = (sector & 0x7fff) % 80; /* near the disk: inside it, or across its end */
	if (flags & 0x10)
		len &= ~511u; /* whole sectors (sub-block I/O on 4 KiB-block disks) */
	uint16_t qsize = v->blk->mmio.queues[q].size ? v->blk->mmio.queues[q].size : 1;
	struct virtq_desc *desc = (struct virtq_desc *)(v->ram + ring_off(q));
	struct virtio_blk_outhdr *h = (struct virtio_blk_outhdr *)(v->ram + HDR_OFF + 16 * s);
	uint16_t d0 = (uint16_t)((3 * s) % qsize);

	h->type = type;
	h->sector = sector;
	desc[d0] = (struct virtq_desc){RAM_IPA + HDR_OFF + 16 * s, 16, VIRTQ_DESC_F_NEXT,
				       (uint16_t)((d0 + 1) % qsize)};
	desc[(d0 + 1) % qsize] = (struct virtq_desc){
	    RAM_IPA + DATA_OFF, len, (uint16_t)(VIRTQ_DESC_F_NEXT | (flags & VIRTQ_DESC_F_WRITE)),
	    (uint16_t)((d0 + 2) % qsize)};
	desc[(d0 + 2) % qsize] = (struct virtq_desc){RAM_IPA + HDR_OFF + 0x800 + s, 1, VIRTQ_DESC_F_WRITE, 0};
	struct virtq_avail *a = (struct virtq_avail *)(v->ram + ring_off(q) + (AVAIL_OFF - DESC_OFF));
	a->ring[a->idx % qsize] = d0;
	a->idx++;
}

/* Each VM's vCPU loop: run the work that was asked for (a pass each, more if it says so). */
static void run_work(unsigned passes)
{
	for (unsigned k = 0; k < NDISK; k++) {
		for (unsigned n = 0; n < passes && fake_vm_work_take(vms[k].vm); n++)
			if (virtio_blk_work(vms[k].blk))
				vm_request_work(vms[k].vm, 0);
	}
}

/* Chains popped from every queue of b (no lock: the fuzzer is single-threaded). */
static uint64_t popped(const struct virtio_blk *b)
{
	uint64_t n = 0;
	for (unsigned q = 0; q < b->mmio.nqueues; q++)
		n += b->queues[q].stats.requests;
	return n;
}

/* A completion-context action must not pop either ring. */
static void completion_context(void (*fn)(unsigned), unsigned arg)
{
	uint64_t before[NDISK];
	for (unsigned k = 0; k < NDISK; k++)
		before[k] = popped(vms[k].blk);
	ctl.in_completion = true;
	fn(arg);
	ctl.in_completion = false;
	for (unsigned k = 0; k < NDISK; k++)
		if (popped(vms[k].blk) != before[k])
			fail();
}

static void act_complete(unsigned arg)
{
	if (ctl.count > 0)
		ctl_complete((arg >> 1) % ctl.count, arg & 1);
}

static void act_poll(unsigned k)
{
	virtio_blk_poll(vms[k].blk); /* polling from one VM reaps the other's requests too */
}

static void setup_once(void)
{
	disk = malloc(DISK_SIZE + CANARY);
	if (disk == NULL)
		abort();
	for (unsigned k = 0; k < NDISK; k++) {
		struct fvm *v = &vms[k];
		v->ram = malloc(RAM_SIZE); /* exact size: ASan flags any access beyond it */
		v->blk = malloc(sizeof(*v->blk));
		if (v->ram == NULL || v->blk == NULL)
			abort();
		v->mem.ranges[0] = (struct gmem_range){ipa_init(RAM_IPA), ptr_to_pa(v->ram), RAM_SIZE};
		v->mem.count = 1;
		v->vm = (struct vm *)&v->marker;
		for (unsigned i = 0; i < VIRTIO_BLK_BOUNCE_PAGES; i++)
			if ((v->bounce[i] = aligned_alloc(4096, 4096)) == NULL)
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[NDISK] = {"fuzz0/vda", "fuzz1/vda"};
	struct input in = {data, size};
	if (disk == NULL)
		setup_once();

	memset(disk, 0x11, DISK_SIZE);
	memset(disk + DISK_SIZE, 0xc5, CANARY);
	memset(&ctl, 0, sizeof(ctl));
	fake_vgic_reset();
	fake_vm_work_reset();

	uint32_t cfg = take(&in, 1);
	uint32_t cfg2 = take(&in, 1);
	ctl.depth = 1 + (cfg >> 4) % CTL_MAX;
	ctl.cancel_now = (cfg2 & 1) != 0;
	ctl.ready = (cfg2 & 2) != 0;
	for (unsigned k = 0; k < NDISK; k++) {
		struct fvm *v = &vms[k];
		memset(v->ram, 0, RAM_SIZE);
		memset(&v->bus, 0, sizeof(v->bus));
		if (ramdisk_init(&ctl.part[k], "part", ptr_to_pa(disk + k * PART_SIZE), PART_SIZE,
				 (cfg >> k) & 1) != 0)
			abort();
		if (cfg & 4)
			ctl.part[k].bdev.max_seg_size = 1024;
		ctl.front[k] = ctl.part[k].bdev;
		ctl.front[k].name = "ctl";
		ctl.front[k].ops = &ctl_ops;
		ctl.front[k].priv = NULL;
		if (cfg2 & 8) {
			/* Small limits: most requests are split into parts (virtio_blk_split.c). */
			ctl.front[k].max_sectors = 8;
			ctl.front[k].max_segs = 3;
		}
		struct virtio_blk_params p = {
		    .vm = v->vm,
		    .name = names[k],
		    .mem = &v->mem,
		    .base = ipa_init(MMIO_BASE),
		    .intid = INTID,
		    .bdev = &ctl.front[k],
		    .serial = "fuzz",
		    .read_only = (cfg & 8) != 0 && k == 1,
		    .poll_us = (cfg2 & 4) ? 2 : 0, /* short: the window's length is not what is fuzzed */
		    .coalesce_us = (cfg & 16) ? 1000 : 0,  /* held while the guest is busy (op 15) */
		    .nqueues = 1 + ((cfg2 >> 5) + k) % NQ, /* 1..3 queues (F_MQ from 2) */
		};
		if (cfg2 & 16) {
			/* A 4 KiB-block backend (a UFS LU): sub-block I/O by read-modify-write. */
			ctl.front[k].block_size = 4096;
			p.bounce = v->bounce;
		}
		if (virtio_blk_init(v->blk, &p, &v->bus) != 0)
			abort();
	}

	unsigned steps = 0;
	while (in.n > 0 && steps++ < 256) {
		uint32_t op = take(&in, 1);
		struct fvm *v = &vms[(op >> 7) & 1];
		unsigned k = (unsigned)(v - vms);
		switch (op % 16) {
		case 0: { /* guest writes its RAM */
			uint32_t off = take(&in, 2) % RAM_SIZE;
			uint32_t len = take(&in, 1);
			len = MIN(len, (uint32_t)in.n);
			len = MIN(len, RAM_SIZE - off);
			memcpy(v->ram + off, in.p, len);
			in.p += len;
			in.n -= len;
			break;
		}
		case 1: {				     /* any MMIO store */
			uint32_t off = take(&in, 2) % 0x220; /* includes a little past the region */
			uint8_t sz = (uint8_t)(1u << (take(&in, 1) % 4));
			mmio(v, off, sz, true, take(&in, 4));
			break;
		}
		case 2: { /* any MMIO load */
			uint32_t off = take(&in, 2) % 0x220;
			uint8_t sz = (uint8_t)(1u << (take(&in, 1) % 4));
			mmio(v, off, sz, false, 0);
			break;
		}
		case 3:
			wr(v, VIRTIO_MMIO_QUEUE_NOTIFY, take(&in, 1) % (NQ + 1)); /* one past the last too */
			break;
		case 4: {
			uint32_t f = take(&in, 4);
			driver_init(v, f, (uint16_t)(1u << (take(&in, 1) % 9)));
			break;
		}
		case 5: /* the controller completes one request, any of them, either VM's */
			completion_context(act_complete, take(&in, 1));
			break;
		case 6:
		case 7:
			template_request(v, &in);
			break;
		case 8: { /* a hostile avail index on any queue */
			uint32_t x = take(&in, 2);
			unsigned q = (op >> 4) % v->blk->mmio.nqueues;
			struct virtq_avail *a =
			    (struct virtq_avail *)(v->ram + ring_off(q) + (AVAIL_OFF - DESC_OFF));
			a->idx = (uint16_t)x;
			break;
		}
		case 9:
			completion_context(act_poll, k);
			break;
		case 10:
			wr(v, VIRTIO_MMIO_STATUS, 0); /* driver reset: cancels, waits by time, orphans */
			break;
		case 11:
			ctl.stuck = !ctl.stuck;
			break;
		case 12: /* the VM stops: quiesce (repeatable), then maybe its reset */
			if (virtio_blk_quiesce(v->blk) && (op & 0x40))
				virtio_blk_reset(v->blk);
			break;
		case 13: /* the vCPU loop runs late: skip this step's work */
			continue;
		case 14:
			ctl.cancel_now = !ctl.cancel_now;
			break;
		case 15:
			if (op & 0x40) {
				fake_vm_set_busy((op & 0x20) != 0); /* the guest busy, or idle (its WFI) */
				/* It last waited for its I/O just now, or long ago (CPU-bound at depth). */
				fake_vm_set_last_idle_us((op & 0x10) ? 0 : timer_us());
			} else
				ctl.ready = !ctl.ready;
			break;
		}
		run_work(2);
	}

	/* Quiet drain: the controller finishes everything, the vCPUs run what they are asked. The
	 * guest idles: a held interrupt's release (its deferred work) comes. */
	ctl.stuck = false;
	fake_vm_set_busy(false);
	for (unsigned k = 0; k < NDISK; k++)
		for (unsigned q = 0; q < vms[k].blk->mmio.nqueues; q++)
			if (vms[k].blk->queues[q].irq_held)
				vm_request_work(vms[k].vm, 0);
	for (unsigned round = 0; round < 4096; round++) {
		completion_context(act_poll, 0);
		run_work(1);
		if (ctl.count == 0 && !fake_vm_work_pending(vms[0].vm) && !fake_vm_work_pending(vms[1].vm))
			break;
	}
	for (unsigned k = 0; k < NDISK; k++) {
		struct virtio_blk *b = vms[k].blk;
		for (unsigned q = 0; q < b->mmio.nqueues; q++) {
			const struct vblk_queue *bq = &b->queues[q];
			bool live = virtio_mmio_live(&b->mmio) && b->mmio.queues[q].ready && !b->quiescing;
			/* No lost wake-up: a live queue holds no request it will never resume. */
			if (live && (bq->pending_first != 0xffffu || bq->ninflight != 0))
				fail();
			/* Nor a ring whose notifications are off with nothing in flight to bring the next
			 * pass: the queue's flag, and its ring's (a queue left quiet beside armed ones). */
			if (live && (bq->notify != VBLK_NOTIFY_ARMED || b->mmio.queues[q].notify_off))
				fail();
			/* Nor an interrupt still held once the guest idled (its release ran). */
			if (virtio_mmio_live(&b->mmio) && !b->quiescing && bq->irq_held)
				fail();
		}
		/* Nor the disk still claimed by a sub-block request, or counted in flight. */
		if (virtio_mmio_live(&b->mmio) && !b->quiescing &&
		    (b->rmw_gate != NULL || b->inflight_total != 0))
			fail();
	}
	/* Stop both VMs: quiesce must come true once the controller completes; then reset. */
	for (unsigned k = 0; k < NDISK; k++) {
		bool ok = false;
		for (unsigned round = 0; round < 64 && !ok; round++) {
			ok = virtio_blk_quiesce(vms[k].blk);
			ctl_poll(NULL);
		}
		if (!ok)
			fail();
		virtio_blk_reset(vms[k].blk);
		struct virtio_blk *b = vms[k].blk;
		for (unsigned q = 0; q < b->mmio.nqueues; q++) {
			const struct vblk_queue *bq = &b->queues[q];
			if (bq->nfree != bq->nslots || bq->ninflight != 0 || bq->norphaned != 0)
				fail();
		}
		if (b->rmw_gate != NULL || b->inflight_total != 0)
			fail();
	}
	for (unsigned i = 0; i < CANARY; i++)
		if (disk[DISK_SIZE + i] != 0xc5)
			fail();
	return 0;
}
