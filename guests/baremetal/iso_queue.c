/* test=iso's attack queue: see iso.h. */
#include <stdint.h>

#include "arch.h"
#include "iso.h"
#include "lib.h"
#include "uart.h"
#include "virtio.h"

#define F_SIZE_MAX (1ull << 1)
#define F_SEG_MAX  (1ull << 2)

#define ST_ACK	       1u
#define ST_DRIVER      2u
#define ST_FEATURES_OK 8u

#define MMIO_DEV_FEATURES   0x010
#define MMIO_DEV_FEAT_SEL   0x014
#define MMIO_DRV_FEATURES   0x020
#define MMIO_DRV_FEAT_SEL   0x024
#define MMIO_QUEUE_DESC_HI  0x084
#define MMIO_QUEUE_AVAIL_LO 0x090
#define MMIO_QUEUE_AVAIL_HI 0x094
#define MMIO_QUEUE_USED_LO  0x0a0
#define MMIO_QUEUE_USED_HI  0x0a4
#define MMIO_CONFIG	    0x100

/* ---- the attack queue ---- */

int iq_init(struct iq *iq)
{
	struct virtio_blk *d = iq->d;
	uint64_t devf, drv, end = ms_now() + 1000;
	uint32_t qmax;

	virtio_blk_write_reg(d, VIRTIO_MMIO_STATUS, 0);
	while (virtio_blk_read_reg(d, VIRTIO_MMIO_STATUS) && ms_now() < end)
		;
	if (virtio_blk_read_reg(d, VIRTIO_MMIO_STATUS)) {
		gprintf("GUEST: FAIL ISO: device reset did not complete in 1 s\n");
		return -1;
	}
	virtio_blk_write_reg(d, VIRTIO_MMIO_STATUS, ST_ACK | ST_DRIVER);
	virtio_blk_write_reg(d, MMIO_DEV_FEAT_SEL, 1);
	devf = (uint64_t)virtio_blk_read_reg(d, MMIO_DEV_FEATURES) << 32;
	virtio_blk_write_reg(d, MMIO_DEV_FEAT_SEL, 0);
	devf |= virtio_blk_read_reg(d, MMIO_DEV_FEATURES);
	drv = devf & (VIRTIO_F_VERSION_1 | VIRTIO_F_INDIRECT_DESC | VIRTIO_F_ACCESS_PLATFORM |
		      VIRTIO_F_BLK_BLK_SIZE | F_SIZE_MAX | F_SEG_MAX);
	if (!(drv & VIRTIO_F_INDIRECT_DESC)) {
		gprintf("GUEST: FAIL ISO: INDIRECT_DESC not offered (0x%lx)\n", devf);
		return -1;
	}
	virtio_blk_write_reg(d, MMIO_DRV_FEAT_SEL, 1);
	virtio_blk_write_reg(d, MMIO_DRV_FEATURES, (uint32_t)(drv >> 32));
	virtio_blk_write_reg(d, MMIO_DRV_FEAT_SEL, 0);
	virtio_blk_write_reg(d, MMIO_DRV_FEATURES, (uint32_t)drv);
	virtio_blk_write_reg(d, VIRTIO_MMIO_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (!(virtio_blk_read_reg(d, VIRTIO_MMIO_STATUS) & ST_FEATURES_OK)) {
		gprintf("GUEST: FAIL ISO: FEATURES_OK refused\n");
		return -1;
	}
	iq->size_max = (drv & F_SIZE_MAX) ? virtio_blk_read_reg(d, MMIO_CONFIG + 8) : 65536;
	iq->seg_max = (drv & F_SEG_MAX) ? virtio_blk_read_reg(d, MMIO_CONFIG + 12) : 1;
	virtio_blk_write_reg(d, VIRTIO_MMIO_QUEUE_SEL, 0);
	qmax = virtio_blk_read_reg(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
	iq->qsize = 1;
	while (iq->qsize * 2 <= qmax && iq->qsize * 2 <= IQ_MAX)
		iq->qsize *= 2;
	iq->avail_idx = iq->used_idx = 0;
	memset((void *)iq->desc, 0, IQ_MAX * sizeof(struct virtq_desc));
	memset((void *)iq->avail, 0, 2 * (IQ_MAX + 3));
	memset((void *)iq->used, 0, 8 * (IQ_MAX + 1));
	iq->avail[0] = 1; /* VIRTQ_AVAIL_F_NO_INTR: completions are polled */

	uint64_t a[3] = {(uintptr_t)iq->desc, (uintptr_t)iq->avail, (uintptr_t)iq->used};

	virtio_blk_write_reg(d, VIRTIO_MMIO_QUEUE_NUM, iq->qsize);
	virtio_blk_write_reg(d, VIRTIO_MMIO_QUEUE_DESC_LO, (uint32_t)a[0]);
	virtio_blk_write_reg(d, MMIO_QUEUE_DESC_HI, (uint32_t)(a[0] >> 32));
	virtio_blk_write_reg(d, MMIO_QUEUE_AVAIL_LO, (uint32_t)a[1]);
	virtio_blk_write_reg(d, MMIO_QUEUE_AVAIL_HI, (uint32_t)(a[1] >> 32));
	virtio_blk_write_reg(d, MMIO_QUEUE_USED_LO, (uint32_t)a[2]);
	virtio_blk_write_reg(d, MMIO_QUEUE_USED_HI, (uint32_t)(a[2] >> 32));
	dsb_sy();
	virtio_blk_write_reg(d, VIRTIO_MMIO_QUEUE_READY, 1);
	virtio_blk_write_reg(d, VIRTIO_MMIO_STATUS,
			     ST_ACK | ST_DRIVER | ST_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	return 0;
}

static volatile struct virtq_desc *iq_table(struct iq *iq, uint16_t head)
{
	return &iq->itab[(uint32_t)head * iq->itab_entries];
}

/* Request `head`: header (IN, sector), nseg data buffers already in its table, status. */
void iq_set(struct iq *iq, uint16_t head, uint64_t sector, uint32_t nseg)
{
	volatile struct virtq_desc *t = iq_table(iq, head);
	volatile struct virtio_blk_req_hdr *h = &iq->hdr[head];
	volatile uint8_t *st = &iq->status[16u * head];

	h->type = VIRTIO_BLK_T_IN;
	h->reserved = 0;
	h->sector = sector;
	*st = 0xff;
	t[0].addr = (uintptr_t)h;
	t[0].len = sizeof(*h);
	t[0].flags = VIRTQ_DESC_F_NEXT;
	t[0].next = 1;
	for (uint32_t i = 1; i <= nseg; i++) {
		t[i].flags = VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE;
		t[i].next = (uint16_t)(i + 1);
	}
	t[nseg + 1].addr = (uintptr_t)st;
	t[nseg + 1].len = 1;
	t[nseg + 1].flags = VIRTQ_DESC_F_WRITE;
	t[nseg + 1].next = 0;
	iq->desc[head].addr = (uintptr_t)t;
	iq->desc[head].len = (nseg + 2) * sizeof(struct virtq_desc);
	iq->desc[head].flags = VIRTQ_DESC_F_INDIRECT;
	iq->desc[head].next = 0;
}

void iq_seg(struct iq *iq, uint16_t head, uint32_t i, uint64_t addr, uint32_t len)
{
	volatile struct virtq_desc *t = iq_table(iq, head);

	t[1 + i].addr = addr;
	t[1 + i].len = len;
}

void iq_push(struct iq *iq, uint16_t head)
{
	iq->avail[2 + iq->avail_idx % iq->qsize] = head;
	iq->avail_idx++;
}

void iq_publish(struct iq *iq, int notify)
{
	dmb_sy();
	iq->avail[1] = iq->avail_idx;
	dsb_sy();
	if (notify)
		virtio_blk_write_reg(iq->d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}
