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
#define VIRTIO_MMIO_QUEUE_SEL	   0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX  0x034
#define VIRTIO_MMIO_QUEUE_NUM	   0x038
#define VIRTIO_MMIO_QUEUE_READY	   0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY   0x050
#define VIRTIO_MMIO_INT_STATUS	   0x060
#define VIRTIO_MMIO_INT_ACK	   0x064
#define VIRTIO_MMIO_STATUS	   0x070
#define VIRTIO_MMIO_QUEUE_DESC_LO  0x080
#define VIRTIO_MMIO_QUEUE_DESC_HI  0x084
#define VIRTIO_MMIO_QUEUE_AVAIL_LO 0x090
#define VIRTIO_MMIO_QUEUE_AVAIL_HI 0x094
#define VIRTIO_MMIO_QUEUE_USED_LO  0x0a0
#define VIRTIO_MMIO_QUEUE_USED_HI  0x0a4
#define VIRTIO_MMIO_CONFIG	   0x100
#define VIRTIO_MAGIC		   0x74726976u

#define STATUS_ACK	   1u
#define STATUS_DRIVER	   2u
#define STATUS_DRIVER_OK   4u
#define STATUS_FEATURES_OK 8u
#define STATUS_NEEDS_RESET 64u
#define STATUS_FAILED	   128u

#define F_BLK_RO	  (1ull << 5)
#define F_VERSION_1	  (1ull << 32)
#define F_ACCESS_PLATFORM (1ull << 33)

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_AVAIL_F_NO_INTR 1
#define QSIZE		      8
#define REQ_TIMEOUT_MS	      2000
#define MAX_DATA	      4096

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
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
struct blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

static volatile struct virtq_desc desc[QSIZE] __attribute__((aligned(16)));
static volatile struct virtq_avail avail __attribute__((aligned(16)));
static volatile struct virtq_used used __attribute__((aligned(16)));
static volatile struct blk_req_hdr req_hdr __attribute__((aligned(16)));
static volatile uint8_t req_status __attribute__((aligned(16)));

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

int virtio_blk_probe(struct virtio_blk *d)
{
	int found = 0;

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
		if (id == VIRTIO_ID_BLOCK && !found) {
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
			found = 1;
		}
	}
	if (!found) {
		gprintf("GUEST: FAIL no virtio-blk device in the DTB's virtio,mmio nodes\n");
		return -1;
	}
	return 0;
}

int virtio_blk_init(struct virtio_blk *d)
{
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
	if (!(dev & F_VERSION_1)) {
		gprintf("GUEST: FAIL virtio device features 0x%lx lack VERSION_1\n", dev);
		goto failed;
	}
	drv = dev & (F_VERSION_1 | F_BLK_RO | F_ACCESS_PLATFORM);
	d->read_only = !!(dev & F_BLK_RO);
	wr(d, VIRTIO_MMIO_DRV_FEAT_SEL, 1);
	wr(d, VIRTIO_MMIO_DRV_FEATURES, (uint32_t)(drv >> 32));
	wr(d, VIRTIO_MMIO_DRV_FEAT_SEL, 0);
	wr(d, VIRTIO_MMIO_DRV_FEATURES, (uint32_t)drv);
	wr(d, VIRTIO_MMIO_STATUS, STATUS_ACK | STATUS_DRIVER | STATUS_FEATURES_OK);
	status = rd(d, VIRTIO_MMIO_STATUS);
	if (!(status & STATUS_FEATURES_OK)) {
		gprintf("GUEST: FAIL virtio FEATURES_OK refused (status 0x%x, features 0x%lx)\n", status,
			drv);
		goto failed;
	}
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
		desc[i].addr = 0;
		desc[i].len = 0;
		desc[i].flags = 0;
		desc[i].next = 0;
	}
	avail.flags = VIRTQ_AVAIL_F_NO_INTR;
	avail.idx = 0;
	used.flags = 0;
	used.idx = 0;
	wr(d, VIRTIO_MMIO_QUEUE_NUM, d->qsize);
	wr(d, VIRTIO_MMIO_QUEUE_DESC_LO, (uint32_t)pa(desc));
	wr(d, VIRTIO_MMIO_QUEUE_DESC_HI, (uint32_t)(pa(desc) >> 32));
	wr(d, VIRTIO_MMIO_QUEUE_AVAIL_LO, (uint32_t)pa(&avail));
	wr(d, VIRTIO_MMIO_QUEUE_AVAIL_HI, (uint32_t)(pa(&avail) >> 32));
	wr(d, VIRTIO_MMIO_QUEUE_USED_LO, (uint32_t)pa(&used));
	wr(d, VIRTIO_MMIO_QUEUE_USED_HI, (uint32_t)(pa(&used) >> 32));
	dsb_sy();
	wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(d, VIRTIO_MMIO_STATUS, STATUS_ACK | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
	status = rd(d, VIRTIO_MMIO_STATUS);
	gprintf("GUEST: virtio-blk 0x%lx features=0x%lx capacity=%lu sectors qsize=%u status=0x%x%s\n",
		(uint64_t)d->base, drv, d->capacity, d->qsize, status, d->read_only ? " read-only" : "");
	if (status & (STATUS_NEEDS_RESET | STATUS_FAILED)) {
		gprintf("GUEST: FAIL virtio device status 0x%x after DRIVER_OK\n", status);
		return -1;
	}
	return 0;
failed:
	wr(d, VIRTIO_MMIO_STATUS, rd(d, VIRTIO_MMIO_STATUS) | STATUS_FAILED);
	return -1;
}

int virtio_blk_rw(struct virtio_blk *d, int write, uint64_t sector, void *buf, uint32_t len)
{
	uint16_t slot;
	uint64_t end;

	if (len > MAX_DATA || d->qsize < 3)
		return -1;
	req_hdr.type = write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	req_hdr.reserved = 0;
	req_hdr.sector = sector;
	req_status = 0xff;
	desc[0].addr = pa(&req_hdr);
	desc[0].len = sizeof(req_hdr);
	desc[0].flags = VIRTQ_DESC_F_NEXT;
	desc[0].next = 1;
	desc[1].addr = pa(buf);
	desc[1].len = len;
	desc[1].flags = VIRTQ_DESC_F_NEXT | (write ? 0 : VIRTQ_DESC_F_WRITE);
	desc[1].next = 2;
	desc[2].addr = pa(&req_status);
	desc[2].len = 1;
	desc[2].flags = VIRTQ_DESC_F_WRITE;
	desc[2].next = 0;
	slot = d->avail_idx % d->qsize;
	avail.ring[slot] = 0;
	dmb_sy(); /* descriptors and ring entry before the index */
	avail.idx = ++d->avail_idx;
	dsb_sy(); /* index before the notification */
	wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);

	end = timer_now() + timer_freq() / 1000 * REQ_TIMEOUT_MS;
	while (used.idx == d->used_idx) {
		if (timer_now() > end) {
			gprintf("GUEST: FAIL virtio request timed out (used.idx=%u status=0x%x)\n", used.idx,
				rd(d, VIRTIO_MMIO_STATUS));
			return -1;
		}
	}
	dmb_sy(); /* used index before the element and the data */
	uint16_t uidx = used.idx;
	volatile struct virtq_used_elem *e = &used.ring[d->used_idx % d->qsize];
	uint32_t id = e->id;

	d->used_idx++;
	wr(d, VIRTIO_MMIO_INT_ACK, rd(d, VIRTIO_MMIO_INT_STATUS));
	if (uidx != d->used_idx || id != 0) {
		gprintf("GUEST: FAIL virtio used ring: idx=%u (want %u) id=%u (want 0)\n", uidx, d->used_idx,
			id);
		return -1;
	}
	return req_status;
}
