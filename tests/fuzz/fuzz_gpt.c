/*
 * libFuzzer target for GPT parsing: the input is a disk image, opened through
 * a RAM disk, and a partition is looked up by name.
 *
 * Input: byte 0 = mode (bit 0: 4096-byte blocks; bits 1-2: which name; bit 3:
 * fix the CRCs of the headers at LBA 1 and the last LBA and of their arrays, so
 * that the semantic checks behind the CRCs get explored; bit 4: place the
 * payload at the end of the disk instead of the start; bit 5: start from a
 * valid GPT with four partitions, one per name, and XOR the payload onto it
 * from LBA 1 (or onto the end) rather than copying it), byte 1 = extra disk
 * blocks beyond the payload; the rest is the payload. Bit 6 takes the MBR path instead:
 * primary partition (bits 1-2) + 1 by number, bit 7 allowing the boot partition.
 *
 * Invariants: the image is a malloc'd buffer of exactly the disk's size, so
 * ASan reports any read outside the disk; no crash, no panic; a returned
 * partition is non-empty, block-aligned and inside the disk, does not cover
 * LBA 0, LBA 1 or the last LBA, reads through it return the disk's bytes at its
 * offset, and requests past its end are refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/storage/gpt.h"
#include "drivers/storage/mbr.h"
#include "drivers/storage/part.h"
#include "drivers/storage/ramdisk.h"
#include "keel/addr.h"
#include "keel/util.h"

#define MAX_IMAGE (1u << 20)

static const char *const names[] = {"rootfs", "a", "data", "abcdefghijklmnopqrstuvwxyz0123456789"};

static uint32_t rd32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Make the header at lba (and its array, where it lies inside the image) pass their CRCs. */
static void fix_crcs(uint8_t *img, uint64_t nblocks, uint32_t bs, uint64_t lba)
{
	uint8_t *h = img + lba * bs;
	uint64_t arr = rd64(h + 72);
	uint64_t bytes = (uint64_t)rd32(h + 80) * rd32(h + 84);

	if (arr < nblocks && bytes <= (nblocks - arr) * bs)
		wr32(h + 88, gpt_crc32(0, img + arr * bs, bytes));
	uint32_t size = rd32(h + 12);
	if (size < 92 || size > bs)
		size = 92;
	wr32(h + 16, 0);
	wr32(h + 16, gpt_crc32(0, h, size));
}

static void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

static void template_header(uint8_t *h, uint64_t my, uint64_t alt, uint64_t first, uint64_t last,
			    uint64_t arr)
{
	memcpy(h, "EFI PART", 8);
	wr32(h + 8, 0x00010000);
	wr32(h + 12, 92);
	wr64(h + 24, my);
	wr64(h + 32, alt);
	wr64(h + 40, first);
	wr64(h + 48, last);
	wr64(h + 72, arr);
	wr32(h + 80, 4);
	wr32(h + 84, 128);
}

/* A valid GPT: 4 entries of 128 bytes (one block), four partitions splitting the usable LBAs. */
static void template_gpt(uint8_t *img, uint64_t nblocks, uint32_t bs)
{
	uint64_t first = 3, last = nblocks - 3, n = (last - first + 1) / 4;
	uint8_t *arr = img + 2 * bs;

	for (unsigned i = 0; i < 4; i++) {
		uint8_t *e = arr + i * 128;
		e[0] = 0xaf;
		e[15] = (uint8_t)(i + 1);
		wr64(e + 32, first + i * n);
		wr64(e + 40, i == 3 ? last : first + (i + 1) * n - 1);
		for (size_t k = 0; names[i][k] != '\0'; k++)
			e[56 + 2 * k] = (uint8_t)names[i][k];
	}
	memcpy(img + (nblocks - 2) * bs, arr, bs);
	template_header(img + bs, 1, nblocks - 1, first, last, 2);
	template_header(img + (nblocks - 1) * bs, nblocks - 1, 1, first, last, nblocks - 2);
	fix_crcs(img, nblocks, bs, 1);
	fix_crcs(img, nblocks, bs, nblocks - 1);
}

static void done_ok(struct blk_req *req, int status)
{
	int *calls = req->ctx;
	if (status != BLK_OK)
		abort();
	(*calls)++;
}

/* gpt: clear of LBAs 0, 1 and the last one; otherwise (MBR) clear of block 0. */
static void check_partition(struct blkdev *p, const uint8_t *img, struct blkdev *disk, bool gpt)
{
	uint32_t spb = disk->block_size / BLK_SECTOR_SIZE;
	uint64_t start = part_start(p);
	static uint8_t buf[4096];

	if (part_parent(p) != disk || p->block_size != disk->block_size || p->nsectors == 0)
		abort();
	if (start % spb != 0 || p->nsectors % spb != 0)
		abort();
	if (start > disk->nsectors || p->nsectors > disk->nsectors - start)
		abort();
	/* Clear of the protective MBR, the primary header and the last LBA (normally the backup header). */
	if (gpt && (start < 2 * spb || start + p->nsectors > disk->nsectors - spb))
		abort();
	if (!gpt && start < spb)
		abort();

	int calls = 0;
	struct blk_seg seg = {ptr_to_pa(buf), disk->block_size};
	struct blk_req req = {
	    .op = BLK_OP_READ, .nsectors = spb, .segs = &seg, .nsegs = 1, .done = done_ok, .ctx = &calls};
	uint64_t ends[2] = {0, p->nsectors - spb};
	for (int i = 0; i < 2; i++) {
		req.sector = ends[i];
		if (blkdev_submit(p, &req) != 0 || calls != i + 1)
			abort();
		if (memcmp(buf, img + (start + ends[i]) * BLK_SECTOR_SIZE, disk->block_size) != 0)
			abort();
	}
	req.sector = p->nsectors;
	if (blkdev_submit(p, &req) != BLK_EINVAL)
		abort();
	req.sector = p->nsectors - spb;
	req.nsectors = 2 * spb;
	seg.len = 0; /* lengths are not reached: the range is refused first */
	if (blkdev_submit(p, &req) != BLK_EINVAL || p->ops->submit(p, &req) != BLK_EINVAL)
		abort();
	req.sector = UINT64_MAX - spb + 1;
	req.nsectors = spb;
	if (p->ops->submit(p, &req) != BLK_EINVAL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t mode = data[0];
	uint32_t bs = (mode & 1) ? 4096 : 512;
	const char *name = names[(mode >> 1) & 3];
	data += 2;
	size -= 2;
	uint64_t nblocks = (size + bs - 1) / bs + data[-1];
	if (nblocks == 0 || nblocks * bs > MAX_IMAGE)
		return 0;

	size_t disk_size = (size_t)(nblocks * bs);
	uint8_t *img = calloc(1, disk_size);
	if (img == NULL)
		return 0;
	bool template = (mode & 32) && nblocks >= 7;
	if (template)
		template_gpt(img, nblocks, bs);
	uint8_t *dst = (mode & 16) ? img + disk_size - size : img + (template ? bs : 0);
	size_t n = template ? MIN(size, disk_size - bs) : size;
	if ((mode & 16) && n < size)
		dst += size - n;
	for (size_t i = 0; i < n; i++)
		dst[i] = template ? dst[i] ^ data[i] : data[i];
	if ((mode & 8) && nblocks >= 2) {
		fix_crcs(img, nblocks, bs, 1);
		fix_crcs(img, nblocks, bs, nblocks - 1);
	}

	struct ramdisk rd;
	if (ramdisk_init(&rd, "fuzz", ptr_to_pa(img), disk_size, false) != 0)
		abort();
	rd.bdev.block_size = bs;
	if (mode & 64) { /* the MBR path: primary partition 1..4, bit 7 allows the boot partition */
		static const char *const numbers[] = {"1", "2", "3", "4"};
		(void)mbr_probe(&rd.bdev);
		struct blkdev *m = mbr_open_partition(&rd.bdev, numbers[(mode >> 1) & 3], mode & 128);
		if (m != NULL) {
			check_partition(m, img, &rd.bdev, false);
			mbr_close_partition(m);
		}
		free(img);
		return 0;
	}
	struct blkdev *p = gpt_open_partition(&rd.bdev, name);
	if (p != NULL) {
		check_partition(p, img, &rd.bdev, true);
		gpt_close_partition(p);
	}
	free(img);
	return 0;
}
