#include <stdint.h>

#include "arch.h"
#include "fdt.h"
#include "timer.h"
#include "uart.h"
#include "virtio.h"

#define VIRTIO_MMIO_MAGIC	   0x000
#define VIRTIO_MMIO_VERSION	   0x004
#define VIRTIO_MMIO_DEVICE_ID	   0x008
#define VIRTIO_MMIO_VENDOR_ID	   0x00c
#define VIRTIO_MMIO_DEV_FEATURES   0x010
#define VIRTIO_MMIO_DEV_FEAT_SEL   0x014
#define VIRTIO_MMIO_DRV_FEATURES   0x020
#define VIRTIO_MMIO_DRV_FEAT_SEL   0x024
#define VIRTIO_MMIO_QUEUE_DESC_HI  0x084
#define VIRTIO_MMIO_QUEUE_AVAIL_LO 0x090
#define VIRTIO_MMIO_QUEUE_AVAIL_HI 0x094
#define VIRTIO_MMIO_QUEUE_USED_LO  0x0a0
#define VIRTIO_MMIO_QUEUE_USED_HI  0x0a4
#define VIRTIO_MMIO_CONFIG	   0x100
#define VIRTIO_MAGIC		   0x74726976u

#define STATUS_ACK	   1u
#define STATUS_DRIVER	   2u
#define STATUS_DRIVER_OK   VIRTIO_STATUS_DRIVER_OK
#define STATUS_FEATURES_OK 8u
#define STATUS_NEEDS_RESET VIRTIO_STATUS_NEEDS_RESET
#define STATUS_FAILED	   VIRTIO_STATUS_FAILED

#define VIRTQ_AVAIL_F_NO_INTR 1
#define QSIZE		      8
#define REQ_TIMEOUT_MS	      2000
#define MAX_DATA	      4096

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[QSIZE];
	uint16_t used_event;
};
struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};
struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[QSIZE];
	uint16_t avail_event;
};

/* Queue memory of one device: rings plus the header and status byte of virtio_blk_rw. */
struct virtio_ring {
	struct virtq_desc desc[QSIZE] __attribute__((aligned(16)));
	struct virtq_avail avail __attribute__((aligned(16)));
	struct virtq_used used __attribute__((aligned(16)));
	struct virtio_blk_req_hdr hdr __attribute__((aligned(16)));
	uint8_t status __attribute__((aligned(16)));
};

static volatile struct virtio_ring rings[VIRTIO_BLK_MAX_DEVS];

static uint32_t rd(struct virtio_blk *d, uint32_t off)
{
	return mmio_read32(d->base + off);
}
static void wr(struct virtio_blk *d, uint32_t off, uint32_t v)
{
	mmio_write32(d->base + off, v);
}
static uint64_t pa(const volatile void *p)
{
	return (uint64_t)(uintptr_t)p;
}

uint32_t virtio_blk_read_reg(struct virtio_blk *d, uint32_t off)
{
	return rd(d, off);
}

void virtio_blk_write_reg(struct virtio_blk *d, uint32_t off, uint32_t value)
{
	wr(d, off, value);
}

int virtio_blk_probe_all(struct virtio_blk *devs, int max)
{
	int found = 0;

	if (max > VIRTIO_BLK_MAX_DEVS)
		max = VIRTIO_BLK_MAX_DEVS;
	for (int node = fdt_find_compatible(-1, "virtio,mmio"); node >= 0;
	     node = fdt_find_compatible(node, "virtio,mmio")) {
		uint64_t base, size;
		uint32_t type = 0, num = 0, intid = 0;

		if (fdt_reg(node, 0, &base, &size) || size < 0x200)
			continue;
		if (!fdt_prop_cell(node, "interrupts", 0, &type) &&
		    !fdt_prop_cell(node, "interrupts", 1, &num))
			intid = type == 0 ? 32 + num : type == 1 ? 16 + num : 0;
		uint32_t magic = mmio_read32(base + VIRTIO_MMIO_MAGIC);
		uint32_t id = mmio_read32(base + VIRTIO_MMIO_DEVICE_ID);

		if (magic != VIRTIO_MAGIC || id == 0)
			continue;
		uint32_t version = mmio_read32(base + VIRTIO_MMIO_VERSION);

		gprintf("GUEST: virtio-mmio 0x%lx size=0x%lx intid=%u version=%u device=%u vendor=0x%x\n",
			base, size, intid, version, id, mmio_read32(base + VIRTIO_MMIO_VENDOR_ID));
		if (id == VIRTIO_ID_BLOCK && found < max) {
			struct virtio_blk *d = &devs[found];

			if (version != 2) {
				gprintf("GUEST: FAIL virtio-mmio 0x%lx is a legacy (version %u) transport; "
					"natively "
					"use -global virtio-mmio.force-legacy=false\n",
					base, version);
				return -1;
			}
			d->base = base;
			d->size = size;
			d->intid = intid;
			d->ring = (struct virtio_ring *)&rings[found];
			found++;
		}
	}
	return found;
}

int virtio_blk_probe(struct virtio_blk *d)
{
	int n = virtio_blk_probe_all(d, 1);

	if (n == 0)
		gprintf("GUEST: FAIL no virtio-blk device in the DTB's virtio,mmio nodes\n");
	return n > 0 ? 0 : -1;
}

/* The ring memory is only ever accessed through volatile pointers (the device writes it). */
static volatile struct virtio_ring *ring(struct virtio_blk *d)
{
	return d->ring;
}

volatile struct virtq_desc *virtio_blk_desc(struct virtio_blk *d)
{
	return ring(d)->desc;
}

uint16_t virtio_blk_used_idx(struct virtio_blk *d)
{
	return ring(d)->used.idx;
}

int virtio_blk_init(struct virtio_blk *d)
{
	return virtio_blk_init_features(d, 0);
}

int virtio_blk_init_features(struct virtio_blk *d, uint64_t extra)
{
	return virtio_blk_init_rings(d, extra, 0);
}

int virtio_blk_init_rings(struct virtio_blk *d, uint64_t extra, const uint64_t ring_ipa[3])
{
	volatile struct virtio_ring *r = ring(d);
	uint64_t desc_ipa = ring_ipa ? ring_ipa[0] : pa(r->desc);
	uint64_t avail_ipa = ring_ipa ? ring_ipa[1] : pa(&r->avail);
	uint64_t used_ipa = ring_ipa ? ring_ipa[2] : pa(&r->used);
	uint64_t dev, drv;
	uint32_t status, qmax;

	wr(d, VIRTIO_MMIO_STATUS, 0);
	for (int i = 0; i < 100000 && rd(d, VIRTIO_MMIO_STATUS); i++)
		;
	if (rd(d, VIRTIO_MMIO_STATUS)) {
		gprintf("GUEST: FAIL virtio reset did not complete\n");
		return -1;
	}
	wr(d, VIRTIO_MMIO_STATUS, STATUS_ACK);
	wr(d, VIRTIO_MMIO_STATUS, STATUS_ACK | STATUS_DRIVER);
	wr(d, VIRTIO_MMIO_DEV_FEAT_SEL, 1);
	dev = (uint64_t)rd(d, VIRTIO_MMIO_DEV_FEATURES) << 32;
	wr(d, VIRTIO_MMIO_DEV_FEAT_SEL, 0);
	dev |= rd(d, VIRTIO_MMIO_DEV_FEATURES);
	d->offered = dev;
	if (!(dev & VIRTIO_F_VERSION_1)) {
		gprintf("GUEST: FAIL virtio device features 0x%lx lack VERSION_1\n", dev);
		goto failed;
	}
	/* BLK_SIZE is accepted: this driver keeps requests aligned to the block size it reads. */
	drv = dev & (VIRTIO_F_VERSION_1 | VIRTIO_F_BLK_RO | VIRTIO_F_ACCESS_PLATFORM | VIRTIO_F_BLK_BLK_SIZE |
		     extra);
	if (extra & VIRTIO_DRV_NO_BLK_SIZE)
		drv &= ~VIRTIO_F_BLK_BLK_SIZE;
	d->read_only = !!(dev & VIRTIO_F_BLK_RO);
	wr(d, VIRTIO_MMIO_DRV_FEAT_SEL, 1);
	wr(d, VIRTIO_MMIO_DRV_FEATURES, (uint32_t)(drv >> 32));
	wr(d, VIRTIO_MMIO_DRV_FEAT_SEL, 0);
	wr(d, VIRTIO_MMIO_DRV_FEATURES, (uint32_t)drv);
	wr(d, VIRTIO_MMIO_STATUS, STATUS_ACK | STATUS_DRIVER | STATUS_FEATURES_OK);
	status = rd(d, VIRTIO_MMIO_STATUS);
	if (!(status & STATUS_FEATURES_OK)) {
		/* (an expected refusal for a driver that leaves out BLK_SIZE on purpose) */
		gprintf("GUEST: %svirtio FEATURES_OK refused (status 0x%x, features 0x%lx)\n",
			(extra & VIRTIO_DRV_NO_BLK_SIZE) ? "" : "FAIL ", status, drv);
		goto failed;
	}
	d->features = drv;
	/* Config space is read 32 bits at a time: capacity is a le64 at offset 0. */
	d->capacity = mmio_read32(d->base + VIRTIO_MMIO_CONFIG) |
		      (uint64_t)mmio_read32(d->base + VIRTIO_MMIO_CONFIG + 4) << 32;

	wr(d, VIRTIO_MMIO_QUEUE_SEL, 0);
	if (rd(d, VIRTIO_MMIO_QUEUE_READY)) {
		gprintf("GUEST: FAIL virtio queue 0 ready before set-up\n");
		goto failed;
	}
	qmax = rd(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
	if (qmax == 0) {
		gprintf("GUEST: FAIL virtio queue 0 not available\n");
		goto failed;
	}
	d->qsize = qmax < QSIZE ? (uint16_t)qmax : QSIZE;
	d->avail_idx = d->used_idx = 0;
	for (int i = 0; i < QSIZE; i++) {
		r->desc[i].addr = 0;
		r->desc[i].len = 0;
		r->desc[i].flags = 0;
		r->desc[i].next = 0;
	}
	r->avail.flags = VIRTQ_AVAIL_F_NO_INTR;
	r->avail.idx = 0;
	r->used.flags = 0;
	r->used.idx = 0;
	wr(d, VIRTIO_MMIO_QUEUE_NUM, d->qsize);
	wr(d, VIRTIO_MMIO_QUEUE_DESC_LO, (uint32_t)desc_ipa);
	wr(d, VIRTIO_MMIO_QUEUE_DESC_HI, (uint32_t)(desc_ipa >> 32));
	wr(d, VIRTIO_MMIO_QUEUE_AVAIL_LO, (uint32_t)avail_ipa);
	wr(d, VIRTIO_MMIO_QUEUE_AVAIL_HI, (uint32_t)(avail_ipa >> 32));
	wr(d, VIRTIO_MMIO_QUEUE_USED_LO, (uint32_t)used_ipa);
	wr(d, VIRTIO_MMIO_QUEUE_USED_HI, (uint32_t)(used_ipa >> 32));
	dsb_sy();
	wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(d, VIRTIO_MMIO_STATUS, STATUS_ACK | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
	status = rd(d, VIRTIO_MMIO_STATUS);
	gprintf("GUEST: virtio-blk 0x%lx features=0x%lx capacity=%lu sectors qsize=%u status=0x%x%s\n",
		(uint64_t)d->base, drv, d->capacity, d->qsize, status, d->read_only ? " read-only" : "");
	if (status & (STATUS_NEEDS_RESET | STATUS_FAILED)) {
		if (ring_ipa)
			return 1; /* the caller placed the rings on purpose */
		gprintf("GUEST: FAIL virtio device status 0x%x after DRIVER_OK\n", status);
		return -1;
	}
	return 0;
failed:
	wr(d, VIRTIO_MMIO_STATUS, rd(d, VIRTIO_MMIO_STATUS) | STATUS_FAILED);
	return -1;
}

static void publish(struct virtio_blk *d, uint16_t new_idx)
{
	dmb_sy(); /* descriptors and ring entry before the index */
	ring(d)->avail.idx = new_idx;
	dsb_sy(); /* index before the notification */
	wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

void virtio_blk_bump_avail(struct virtio_blk *d, uint16_t delta)
{
	d->avail_idx = (uint16_t)(d->avail_idx + delta);
	publish(d, d->avail_idx);
}

int virtio_blk_kick(struct virtio_blk *d, uint16_t head, uint32_t timeout_ms, uint32_t *id, uint32_t *len)
{
	volatile struct virtio_ring *r = ring(d);
	uint64_t end;

	r->avail.ring[d->avail_idx % d->qsize] = head;
	virtio_blk_bump_avail(d, 1);

	end = timer_now() + timer_freq() / 1000 * timeout_ms;
	while (r->used.idx == d->used_idx) {
		if (timer_now() > end)
			return 1;
	}
	dmb_sy(); /* used index before the element and the data */
	uint16_t uidx = r->used.idx;
	volatile struct virtq_used_elem *e = &r->used.ring[d->used_idx % d->qsize];

	*id = e->id;
	*len = e->len;
	d->used_idx++;
	wr(d, VIRTIO_MMIO_INT_ACK, rd(d, VIRTIO_MMIO_INT_STATUS));
	if (uidx != d->used_idx) {
		gprintf("GUEST: FAIL virtio used ring: idx=%u (want %u)\n", uidx, d->used_idx);
		return -1;
	}
	return 0;
}

int virtio_blk_rw(struct virtio_blk *d, int write, uint64_t sector, void *buf, uint32_t len)
{
	volatile struct virtio_ring *r = ring(d);
	uint32_t id, used_len;
	int rc;

	if (len > MAX_DATA || d->qsize < 3)
		return -1;
	r->hdr.type = write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	r->hdr.reserved = 0;
	r->hdr.sector = sector;
	r->status = 0xff;
	r->desc[0].addr = pa(&r->hdr);
	r->desc[0].len = sizeof(r->hdr);
	r->desc[0].flags = VIRTQ_DESC_F_NEXT;
	r->desc[0].next = 1;
	r->desc[1].addr = pa(buf);
	r->desc[1].len = len;
	r->desc[1].flags = VIRTQ_DESC_F_NEXT | (write ? 0 : VIRTQ_DESC_F_WRITE);
	r->desc[1].next = 2;
	r->desc[2].addr = pa(&r->status);
	r->desc[2].len = 1;
	r->desc[2].flags = VIRTQ_DESC_F_WRITE;
	r->desc[2].next = 0;

	rc = virtio_blk_kick(d, 0, REQ_TIMEOUT_MS, &id, &used_len);
	if (rc > 0) {
		gprintf("GUEST: FAIL virtio request timed out (used.idx=%u status=0x%x)\n", r->used.idx,
			rd(d, VIRTIO_MMIO_STATUS));
		return -1;
	}
	if (rc < 0)
		return -1;
	if (id != 0) {
		gprintf("GUEST: FAIL virtio used ring: id=%u (want 0)\n", id);
		return -1;
	}
	return r->status;
}
