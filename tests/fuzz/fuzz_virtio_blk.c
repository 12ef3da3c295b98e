/*
 * libFuzzer target for the virtio-blk device: the input is a program of
 * guest actions (write guest RAM, MMIO reads/writes anywhere in the region,
 * notifies, well-formed-ish requests, backend completions, resets).
 *
 * Invariants: guest RAM is a malloc'd buffer of exactly its size, so ASan
 * reports any device access outside the VM; the disk image is followed by a
 * canary that must stay intact; no crash, no panic; after a final reset every
 * request slot is free again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fakes/fake_vgic.h"
#include "tests/fakes/virtio_guest.h"

#define RAM_IPA	  0x40000000ULL
#define RAM_SIZE  0x10000u /* 64 KiB */
#define DISK_SIZE 0x10000u /* 64 KiB */
#define CANARY	  0x1000u
#define MMIO_BASE 0x0a000000ULL
#define INTID	  48u
#define DESC_OFF  0x0000u
#define AVAIL_OFF 0x1000u
#define USED_OFF  0x2000u
#define HDR_OFF	  0x3000u
#define DATA_OFF  0x4000u

static uint8_t *ram;
static uint8_t *disk; /* DISK_SIZE + CANARY */
static struct guest_mem mem;
static struct mmio_bus bus;
static struct ramdisk rd;
static struct slowdisk slow;
static struct virtio_blk *blk;
static int vm_marker;

struct input {
	const uint8_t *p;
	size_t n;
};

static uint32_t take(struct input *in, unsigned bytes)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < bytes && in->n > 0; i++, in->p++, in->n--)
		v |= (uint32_t)in->p[0] << (8 * i);
	return v;
}

static int mmio(uint64_t off, uint8_t size, bool write, uint64_t value)
{
	struct mmio_access a = {
	    .ipa = ipa_init(MMIO_BASE + off),
	    .size = size,
	    .write = write,
	    .value = value,
	    .reg64 = true,
	};
	return mmio_bus_dispatch(&bus, NULL, &a);
}

static void wr(uint64_t off, uint32_t v)
{
	mmio(off, 4, true, v);
}

/* The Linux init sequence, so the fuzzer reaches request processing quickly. */
static void driver_init(uint32_t feature_lo, uint16_t qsize)
{
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, 1);
	wr(VIRTIO_MMIO_STATUS, 3);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, feature_lo & (uint32_t)blk->mmio.device_features);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
	wr(VIRTIO_MMIO_STATUS, 0xb);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(VIRTIO_MMIO_QUEUE_NUM, qsize);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)(RAM_IPA + DESC_OFF));
	wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(RAM_IPA + AVAIL_OFF));
	wr(VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(RAM_IPA + USED_OFF));
	wr(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	wr(VIRTIO_MMIO_STATUS, 0xf);
}

/* A request in the fuzzer's hands: header + one data buffer + status, at slot s. */
static void template_request(struct input *in)
{
	unsigned s = take(in, 1) % 32;
	uint32_t type = take(in, 1) % 16;
	uint64_t sector = take(in, 2);
	uint32_t len = take(in, 2) % (RAM_SIZE - DATA_OFF);
	uint16_t flags = (uint16_t)take(in, 1);
	uint16_t qsize = blk->mmio.queues[0].size ? blk->mmio.queues[0].size : 1;
	struct virtq_desc *desc = (struct virtq_desc *)(ram + DESC_OFF);
	struct virtio_blk_outhdr *h = (struct virtio_blk_outhdr *)(ram + HDR_OFF + 16 * s);
	uint16_t d0 = (uint16_t)((3 * s) % qsize);

	h->type = type;
	h->sector = sector;
	desc[d0] = (struct virtq_desc){RAM_IPA + HDR_OFF + 16 * s, 16, VIRTQ_DESC_F_NEXT,
				       (uint16_t)((d0 + 1) % qsize)};
	desc[(d0 + 1) % qsize] = (struct virtq_desc){
	    RAM_IPA + DATA_OFF, len, (uint16_t)(VIRTQ_DESC_F_NEXT | (flags & VIRTQ_DESC_F_WRITE)),
	    (uint16_t)((d0 + 2) % qsize)};
	desc[(d0 + 2) % qsize] = (struct virtq_desc){RAM_IPA + HDR_OFF + 0x800 + s, 1, VIRTQ_DESC_F_WRITE, 0};
	struct virtq_avail *a = (struct virtq_avail *)(ram + AVAIL_OFF);
	a->ring[a->idx % qsize] = d0;
	a->idx++;
}

static void setup_once(void)
{
	ram = malloc(RAM_SIZE); /* exact size: ASan flags any access beyond it */
	disk = malloc(DISK_SIZE + CANARY);
	blk = malloc(sizeof(*blk));
	if (ram == NULL || disk == NULL || blk == NULL)
		abort();
	mem.ranges[0] = (struct gmem_range){ipa_init(RAM_IPA), ptr_to_pa(ram), RAM_SIZE};
	mem.count = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size};
	if (ram == NULL)
		setup_once();

	memset(ram, 0, RAM_SIZE);
	memset(disk, 0x11, DISK_SIZE);
	memset(disk + DISK_SIZE, 0xc5, CANARY);
	memset(&bus, 0, sizeof(bus));
	fake_vgic_reset();

	uint32_t cfg = take(&in, 1);
	uint32_t poll = take(&in, 1); /* bit 0: a pollable slowdisk; bits 1-7: when it reports ready */
	if (ramdisk_init(&rd, "ram0", ptr_to_pa(disk), DISK_SIZE, cfg & 1) != 0)
		abort();
	rd.bdev.max_seg_size = (cfg & 2) ? 1024 : rd.bdev.max_seg_size;
	struct blkdev *bdev = &rd.bdev;
	if (cfg & 4) {
		slowdisk_init(&slow, &rd.bdev, 1 + (cfg >> 4));
		if (poll & 1) {
			slowdisk_make_pollable(&slow);
			slow.ready_in = poll >> 1;
		}
		bdev = &slow.bdev;
	}
	struct virtio_blk_params p = {
	    .vm = (struct vm *)&vm_marker,
	    .name = "fuzz/vda",
	    .mem = &mem,
	    .base = ipa_init(MMIO_BASE),
	    .intid = INTID,
	    .bdev = bdev,
	    .serial = "fuzz",
	    .read_only = (cfg & 8) != 0,
	    .poll_us = (poll & 1) ? 2 : 0, /* short: the window's length is not what is fuzzed */
	};
	if (virtio_blk_init(blk, &p, &bus) != 0)
		abort();

	unsigned steps = 0;
	while (in.n > 0 && steps++ < 256) {
		switch (take(&in, 1) % 11) {
		case 0: { /* guest writes its RAM */
			uint32_t off = take(&in, 2) % RAM_SIZE;
			uint32_t len = take(&in, 1);
			len = MIN(len, (uint32_t)in.n);
			len = MIN(len, RAM_SIZE - off);
			memcpy(ram + off, in.p, len);
			in.p += len;
			in.n -= len;
			break;
		}
		case 1: {				     /* any MMIO store */
			uint32_t off = take(&in, 2) % 0x220; /* includes a little past the region */
			uint8_t sz = (uint8_t)(1u << (take(&in, 1) % 4));
			mmio(off, sz, true, take(&in, 4));
			break;
		}
		case 2: { /* any MMIO load */
			uint32_t off = take(&in, 2) % 0x220;
			uint8_t sz = (uint8_t)(1u << (take(&in, 1) % 4));
			mmio(off, sz, false, 0);
			break;
		}
		case 3:
			wr(VIRTIO_MMIO_QUEUE_NOTIFY, take(&in, 1) % 2);
			break;
		case 4: {
			uint32_t f = take(&in, 4);
			driver_init(f, (uint16_t)(1u << (take(&in, 1) % 9)));
			break;
		}
		case 5:
			if (cfg & 4)
				slowdisk_complete_all(&slow);
			break;
		case 6:
			template_request(&in);
			break;
		case 7: {
			struct virtq_avail *a = (struct virtq_avail *)(ram + AVAIL_OFF);
			a->idx = (uint16_t)take(&in, 2);
			break;
		}
		case 8:
			virtio_blk_poll(blk);
			break;
		case 9:
			wr(VIRTIO_MMIO_STATUS, 0);
			break;
		case 10:
			if (cfg & 4)
				slow.fail_next = true;
			break;
		}
	}

	/* Drain, reset: every slot must come back and the disk's tail must be untouched. */
	if (cfg & 4)
		slowdisk_complete_all(&slow);
	wr(VIRTIO_MMIO_STATUS, 0);
	if (blk->nfree != VIRTIO_BLK_SLOTS || blk->ninflight != 0 || blk->norphaned != 0)
		abort();
	for (unsigned i = 0; i < CANARY; i++)
		if (disk[DISK_SIZE + i] != 0xc5)
			abort();
	return 0;
}
