/* GPT partitions: table parsing (hostile images), and the partition window's bounds, offsets and forwarding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drivers/storage/blk_share.h"
#include "drivers/storage/gpt.h"
#include "drivers/storage/part.h"
#include "drivers/storage/ramdisk.h"
#include "drivers/storage/storage.h"
#include "keel/addr.h"
#include "keel/util.h"
#include "tests/fakes/fake_blk.h"

/* --- an independent GPT writer ------------------------------------------------ */

static uint32_t ref_crc32(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < len; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

struct tpart {
	const char *name;
	uint64_t first, last; /* LBAs */
	uint8_t type;	      /* first byte of the type GUID; 0 = unused entry */
};

struct timg {
	uint8_t *buf;
	size_t size;
	uint32_t bs;
	uint64_t nblocks;
	uint32_t nentries, esize;
	uint64_t arr_blocks;
	uint64_t prim_arr, back_arr, back_hdr;
	uint64_t first_usable, last_usable;
};

static uint8_t *blk(struct timg *t, uint64_t lba)
{
	return t->buf + lba * t->bs;
}
static uint8_t *prim_hdr(struct timg *t)
{
	return blk(t, 1);
}
static uint8_t *back_hdr(struct timg *t)
{
	return blk(t, t->back_hdr);
}

static uint8_t *entry(struct timg *t, uint64_t arr_lba, unsigned i)
{
	return blk(t, arr_lba) + (size_t)i * t->esize;
}

static void set_name(uint8_t *e, const char *name)
{
	memset(e + 56, 0, 72);
	for (size_t i = 0; name[i] != '\0' && i < 36; i++)
		e[56 + 2 * i] = (uint8_t)name[i];
}

static void write_entries(struct timg *t, uint64_t arr_lba, const struct tpart *p, unsigned n)
{
	memset(blk(t, arr_lba), 0, t->arr_blocks * t->bs);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *e = entry(t, arr_lba, i);
		memset(e, 0, t->esize);
		e[0] = p[i].type;
		for (int k = 1; k < 16; k++)
			e[k] = p[i].type ? (uint8_t)(0x40 + k) : 0;
		for (int k = 0; k < 16; k++)
			e[16 + k] = (uint8_t)(i * 16 + k + 1); /* unique GUID */
		put64(e + 32, p[i].first);
		put64(e + 40, p[i].last);
		set_name(e, p[i].name);
	}
}

/* Recompute a header's CRC from its (possibly edited) fields; header_size clamped so this never overruns. */
static void rehash_hdr(struct timg *t, uint8_t *h)
{
	uint32_t size = get32(h + 12);
	if (size < 92 || size > t->bs)
		size = 92;
	put32(h + 16, 0);
	put32(h + 16, ref_crc32(h, size));
}

/* Recompute both arrays' CRCs (sane geometry) into both headers, then the header CRCs. */
static void rehash_all(struct timg *t)
{
	put32(prim_hdr(t) + 88, ref_crc32(blk(t, t->prim_arr), (size_t)t->nentries * t->esize));
	put32(back_hdr(t) + 88, ref_crc32(blk(t, t->back_arr), (size_t)t->nentries * t->esize));
	rehash_hdr(t, prim_hdr(t));
	rehash_hdr(t, back_hdr(t));
}

static void write_header(struct timg *t, uint8_t *h, uint64_t my, uint64_t alt, uint64_t arr)
{
	memset(h, 0, t->bs);
	memcpy(h, "EFI PART", 8);
	put32(h + 8, 0x00010000);
	put32(h + 12, 92);
	put64(h + 24, my);
	put64(h + 32, alt);
	put64(h + 40, t->first_usable);
	put64(h + 48, t->last_usable);
	for (int k = 0; k < 16; k++)
		h[56 + k] = (uint8_t)(0xa0 + k);
	put64(h + 72, arr);
	put32(h + 80, t->nentries);
	put32(h + 84, t->esize);
}

/* A disk of nblocks blocks filled with a pattern, then a protective MBR, both GPTs and the entries. */
static void img_make_n(struct timg *t, uint32_t bs, uint64_t nblocks, uint32_t nentries, uint32_t esize,
		       const struct tpart *p, unsigned n)
{
	memset(t, 0, sizeof(*t));
	t->bs = bs;
	t->nblocks = nblocks;
	t->size = (size_t)(bs * nblocks);
	t->buf = malloc(t->size);
	assert_non_null(t->buf);
	for (size_t i = 0; i < t->size; i++)
		t->buf[i] = (uint8_t)(i * 131u + (i >> 9) + 7u);
	t->nentries = nentries;
	t->esize = esize;
	t->arr_blocks = ((uint64_t)nentries * esize + bs - 1) / bs;
	t->prim_arr = 2;
	t->back_hdr = nblocks - 1;
	t->back_arr = nblocks - 1 - t->arr_blocks;
	t->first_usable = 2 + t->arr_blocks;
	t->last_usable = t->back_arr - 1;
	memset(blk(t, 0), 0, bs);
	t->buf[510] = 0x55;
	t->buf[511] = 0xaa;
	t->buf[446 + 4] = 0xee;
	write_header(t, prim_hdr(t), 1, t->back_hdr, t->prim_arr);
	write_header(t, back_hdr(t), t->back_hdr, 1, t->back_arr);
	write_entries(t, t->prim_arr, p, n);
	write_entries(t, t->back_arr, p, n);
	rehash_all(t);
}

static void img_make(struct timg *t, uint32_t bs, uint64_t nblocks, const struct tpart *p, unsigned n)
{
	img_make_n(t, bs, nblocks, 128, 128, p, n);
}

static void img_free(struct timg *t)
{
	free(t->buf);
}

/* A RAM disk over the image, with the image's block size. */
static void rd_over(struct ramdisk *rd, struct timg *t)
{
	assert_int_equal(ramdisk_init(rd, "disk", ptr_to_pa(t->buf), t->size, false), 0);
	rd->bdev.block_size = t->bs;
}

/* Three partitions, the middle one "rootfs", for 512-byte (2048 blocks) or 4096-byte (256 blocks) disks. */
static const struct tpart parts512[] = {
    {"boot", 34, 133, 1},
    {"rootfs", 134, 1133, 2},
    {"data", 1134, 2014, 3},
};
static const struct tpart parts4k[] = {
    {"boot", 6, 15, 1},
    {"rootfs", 16, 115, 2},
    {"data", 116, 250, 3},
};

/* --- tests ---------------------------------------------------------------------- */

static void test_crc32(void **state)
{
	(void)state;
	assert_int_equal(gpt_crc32(0, "123456789", 9), 0xcbf43926u);
	assert_int_equal(gpt_crc32(gpt_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
	assert_int_equal(gpt_crc32(0, "", 0), 0);
	uint8_t b[300];
	for (unsigned i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(i * 7);
	assert_int_equal(gpt_crc32(0, b, sizeof(b)), ref_crc32(b, sizeof(b)));
}

static void check_rw(struct timg *t, struct blkdev *disk, struct blkdev *p, uint64_t start_lba, uint64_t nlba)
{
	uint32_t bs = t->bs;
	uint64_t start = start_lba * bs;
	uint64_t len = nlba * bs;
	uint8_t *before = malloc(t->size);
	uint8_t *buf = malloc(bs);
	struct done_rec r;

	assert_ptr_equal(part_parent(p), disk);
	assert_int_equal(part_start(p), start_lba * (bs / 512));
	assert_int_equal(p->nsectors, nlba * (bs / 512));
	assert_int_equal(p->block_size, bs);
	assert_int_equal(p->flags, disk->flags);
	assert_int_equal(p->max_sectors, disk->max_sectors);

	/* Reads see the partition's bytes. */
	assert_int_equal(blk_rw(p, BLK_OP_READ, 0, buf, bs, &r), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, BLK_OK);
	assert_memory_equal(buf, t->buf + start, bs);
	assert_int_equal(blk_rw(p, BLK_OP_READ, p->nsectors - bs / 512, buf, bs, &r), 0);
	assert_memory_equal(buf, t->buf + start + len - bs, bs);

	/* Writes at both ends land at the partition's offsets and nowhere else. */
	memcpy(before, t->buf, t->size);
	memset(buf, 0x5a, bs);
	assert_int_equal(blk_rw(p, BLK_OP_WRITE, 0, buf, bs, &r), 0);
	assert_int_equal(r.status, BLK_OK);
	memset(buf, 0xa5, bs);
	assert_int_equal(blk_rw(p, BLK_OP_WRITE, p->nsectors - bs / 512, buf, bs, &r), 0);
	assert_int_equal(r.status, BLK_OK);
	for (size_t i = 0; i < t->size; i++) {
		if (i >= start && i < start + bs)
			assert_int_equal(t->buf[i], 0x5a);
		else if (i >= start + len - bs && i < start + len)
			assert_int_equal(t->buf[i], 0xa5);
		else if (t->buf[i] != before[i])
			fail_msg("byte %zu outside the written blocks changed", i);
	}
	free(before);
	free(buf);
}

static void test_open_512(void **state)
{
	(void)state;
	struct timg t;
	struct ramdisk rd;
	img_make(&t, 512, 2048, parts512, 3);
	rd_over(&rd, &t);

	struct blkdev *p = gpt_open_partition(&rd.bdev, "rootfs");
	assert_non_null(p);
	assert_true(part_is_part(p));
	check_rw(&t, &rd.bdev, p, 134, 1000);
	struct blkdev *q = gpt_open_partition(&rd.bdev, "data");
	assert_non_null(q);
	check_rw(&t, &rd.bdev, q, 1134, 2014 - 1134 + 1);
	gpt_close_partition(p);
	gpt_close_partition(q);
	assert_false(part_is_part(p));
	img_free(&t);
}

static void test_open_4096(void **state)
{
	(void)state;
	struct timg t;
	struct ramdisk rd;
	img_make(&t, 4096, 256, parts4k, 3);
	rd_over(&rd, &t);

	struct blkdev *p = gpt_open_partition(&rd.bdev, "rootfs");
	assert_non_null(p);
	check_rw(&t, &rd.bdev, p, 16, 100);

	/* Misaligned to the 4 KiB block: refused by the front door, nothing written. */
	uint8_t buf[512] = {0};
	struct done_rec r;
	assert_int_equal(blk_rw(p, BLK_OP_WRITE, 1, buf, 512, &r), BLK_EINVAL);
	assert_int_equal(r.calls, 0);
	gpt_close_partition(p);

	/* The same disk seen with 512-byte blocks has no GPT at byte 512. */
	rd.bdev.block_size = 512;
	assert_null(gpt_open_partition(&rd.bdev, "rootfs"));
	img_free(&t);

	/* And a 512-byte-block image seen as 4096: LBA 1 is byte 4096, not 512. */
	img_make(&t, 512, 2048, parts512, 3);
	rd_over(&rd, &t);
	rd.bdev.block_size = 4096;
	assert_null(gpt_open_partition(&rd.bdev, "rootfs"));
	img_free(&t);
}

static void test_bounds(void **state)
{
	(void)state;
	struct timg t;
	struct ramdisk rd;
	img_make(&t, 512, 2048, parts512, 3);
	rd_over(&rd, &t);
	struct blkdev *p = gpt_open_partition(&rd.bdev, "rootfs");
	assert_non_null(p);
	uint64_t n = p->nsectors;
	uint8_t *before = malloc(t.size);
	memcpy(before, t.buf, t.size);
	uint8_t buf[1024];
	memset(buf, 0xee, sizeof(buf));
	struct done_rec r;

	assert_int_equal(blk_rw(p, BLK_OP_WRITE, n, buf, 512, &r), BLK_EINVAL);
	assert_int_equal(blk_rw(p, BLK_OP_WRITE, n - 1, buf, 1024, &r), BLK_EINVAL);
	assert_int_equal(blk_rw(p, BLK_OP_READ, n, buf, 512, &r), BLK_EINVAL);
	assert_int_equal(blk_rw(p, BLK_OP_WRITE, UINT64_MAX, buf, 512, &r), BLK_EINVAL);
	assert_int_equal(blk_rw(p, BLK_OP_WRITE, UINT64_MAX - 1, buf, 1024, &r), BLK_EINVAL);
	assert_int_equal(blk_rw(p, BLK_OP_WRITE, 0, buf, 0, &r), BLK_EINVAL);
	assert_int_equal(r.calls, 0);

	/* Discard / write-zeroes are offset and bounded too. */
	struct blk_req dreq = {
	    .op = BLK_OP_DISCARD, .sector = n - 1, .nsectors = 2, .done = rec_done, .ctx = &r};
	assert_int_equal(blkdev_submit(p, &dreq), BLK_EINVAL);
	dreq = (struct blk_req){
	    .op = BLK_OP_WRITE_ZEROES, .sector = UINT64_MAX, .nsectors = 2, .done = rec_done, .ctx = &r};
	assert_int_equal(blkdev_submit(p, &dreq), BLK_EINVAL);

	/* The window's own check, for a caller that bypasses blkdev_submit. */
	struct blk_seg seg = {ptr_to_pa(buf), 1024};
	struct blk_req raw = {.op = BLK_OP_WRITE,
			      .sector = n - 1,
			      .nsectors = 2,
			      .segs = &seg,
			      .nsegs = 1,
			      .done = rec_done,
			      .ctx = &r};
	assert_int_equal(p->ops->submit(p, &raw), BLK_EINVAL);
	raw.sector = UINT64_MAX;
	assert_int_equal(p->ops->submit(p, &raw), BLK_EINVAL);
	raw.sector = 0;
	raw.nsectors = 0;
	assert_int_equal(p->ops->submit(p, &raw), BLK_EINVAL);
	raw.op = (enum blk_op)42;
	assert_int_equal(p->ops->submit(p, &raw), BLK_EINVAL);
	raw.op = BLK_OP_FLUSH;
	raw.nsectors = 1;
	assert_int_equal(p->ops->submit(p, &raw), BLK_EINVAL);
	assert_int_equal(r.calls, 0);
	assert_memory_equal(before, t.buf, t.size);

	/* In range: the last sector, discard of the last two, and a flush (passes through unoffset). */
	assert_int_equal(blk_rw(p, BLK_OP_WRITE, n - 1, buf, 512, &r), 0);
	assert_int_equal(r.status, BLK_OK);
	dreq = (struct blk_req){
	    .op = BLK_OP_DISCARD, .sector = n - 2, .nsectors = 2, .done = rec_done, .ctx = &r};
	assert_int_equal(blkdev_submit(p, &dreq), 0);
	assert_int_equal(r.status, BLK_OK);
	struct blk_req freq = {.op = BLK_OP_FLUSH, .done = rec_done, .ctx = &r};
	assert_int_equal(blkdev_submit(p, &freq), 0);
	assert_int_equal(r.calls, 3);
	size_t end = (134 + 1000) * 512;
	for (size_t i = 0; i < t.size; i++) {
		if (i >= end - 1024 && i < end)
			assert_int_equal(t.buf[i], 0);
		else if (t.buf[i] != before[i])
			fail_msg("byte %zu outside the partition's last two sectors changed", i);
	}

	gpt_close_partition(p);
	free(before);
	img_free(&t);
}

static void test_names(void **state)
{
	(void)state;
	static const char long36[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	const struct tpart ps[] = {
	    {"rootfs", 34, 133, 1}, {long36, 134, 233, 1},
	    {"ghost", 234, 333, 0}, /* unused entry: its name means nothing */
	    {"", 334, 433, 1},	    {"Data", 434, 533, 1},
	};
	struct timg t;
	struct ramdisk rd;
	img_make(&t, 512, 2048, ps, 5);
	rd_over(&rd, &t);

	struct blkdev *p = gpt_open_partition(&rd.bdev, long36);
	assert_non_null(p);
	assert_int_equal(part_start(p), 134);
	gpt_close_partition(p);
	assert_null(gpt_open_partition(&rd.bdev, "root"));
	assert_null(gpt_open_partition(&rd.bdev, "rootfs2"));
	assert_null(gpt_open_partition(&rd.bdev, "ghost"));
	assert_null(gpt_open_partition(&rd.bdev, "data")); /* case matters */
	assert_null(gpt_open_partition(&rd.bdev, "missing"));
	assert_null(gpt_open_partition(&rd.bdev, ""));
	assert_null(gpt_open_partition(&rd.bdev, "abcdefghijklmnopqrstuvwxyz0123456789X"));
	assert_null(gpt_open_partition(&rd.bdev, "r\xc3\xb6otfs"));

	/* A unit with a high byte never equals an ASCII character. */
	uint8_t *e = entry(&t, t.prim_arr, 4);
	e[56 + 1] = 0x01;
	memcpy(entry(&t, t.back_arr, 4), e, t.esize);
	rehash_all(&t);
	assert_null(gpt_open_partition(&rd.bdev, "Data"));
	img_free(&t);
}

/* Corruptions applied to a header (and rehashed unless they are the CRC itself). */
enum hmut {
	HM_CRC,
	HM_SIG,
	HM_REVISION,
	HM_HSIZE_SMALL,
	HM_HSIZE_BIG,
	HM_HSIZE_HUGE,
	HM_MY_LBA,
	HM_FIRST0,
	HM_FIRST1,
	HM_LAST_IS_DISK_LAST,
	HM_LAST_HUGE,
	HM_FIRST_GT_LAST,
	HM_ALT_IN_USABLE,
	HM_NENTRIES0,
	HM_NENTRIES_MANY,
	HM_NENTRIES_HUGE,
	HM_ESIZE_SMALL,
	HM_ESIZE_ODD,
	HM_ESIZE_HUGE,
	HM_ARRAY_TOO_BIG,
	HM_ARR_LBA_HUGE,
	HM_ARR_LBA_WRAP,
	HM_ARR_LBA_0,
	HM_ARR_LBA_LAST,
	HM_ARR_IN_USABLE,
	HM_ARR_PAST_END,
	HM_ENTRIES_CRC,
	HM_ARRAY_BYTE,
	HM_COUNT
};

static void mutate_hdr(struct timg *t, bool backup, enum hmut m)
{
	uint8_t *h = backup ? back_hdr(t) : prim_hdr(t);
	uint64_t my = backup ? t->back_hdr : 1;
	uint64_t arr = backup ? t->back_arr : t->prim_arr;

	switch (m) {
	case HM_CRC:
		h[16] ^= 1;
		return;
	case HM_SIG:
		h[0] = 'e';
		break;
	case HM_REVISION:
		put32(h + 8, 0x00020000);
		break;
	case HM_HSIZE_SMALL:
		put32(h + 12, 91);
		break;
	case HM_HSIZE_BIG:
		put32(h + 12, t->bs + 1);
		break;
	case HM_HSIZE_HUGE:
		put32(h + 12, 0xffffffffu);
		break;
	case HM_MY_LBA:
		put64(h + 24, my + 1);
		break;
	case HM_FIRST0:
		put64(h + 40, 0);
		break;
	case HM_FIRST1:
		put64(h + 40, 1);
		break;
	case HM_LAST_IS_DISK_LAST:
		put64(h + 48, t->nblocks - 1);
		break;
	case HM_LAST_HUGE:
		put64(h + 48, UINT64_MAX);
		break;
	case HM_FIRST_GT_LAST:
		put64(h + 40, t->last_usable + 1);
		break;
	case HM_ALT_IN_USABLE:
		put64(h + 32, t->first_usable + 3);
		break;
	case HM_NENTRIES0:
		put32(h + 80, 0);
		break;
	case HM_NENTRIES_MANY:
		put32(h + 80, 1025);
		break;
	case HM_NENTRIES_HUGE:
		put32(h + 80, 0xffffffffu);
		break;
	case HM_ESIZE_SMALL:
		put32(h + 84, 64);
		break;
	case HM_ESIZE_ODD:
		put32(h + 84, 132);
		break;
	case HM_ESIZE_HUGE:
		put32(h + 84, 0xfffffff8u);
		break;
	case HM_ARRAY_TOO_BIG:
		put32(h + 80, 1024); /* 128 KiB */
		break;
	case HM_ARR_LBA_HUGE:
		put64(h + 72, UINT64_MAX);
		break;
	case HM_ARR_LBA_WRAP:
		put64(h + 72, UINT64_MAX - 1);
		break;
	case HM_ARR_LBA_0:
		put64(h + 72, 0);
		break;
	case HM_ARR_LBA_LAST:
		put64(h + 72, t->nblocks - 1);
		break;
	case HM_ARR_IN_USABLE:
		put64(h + 72, t->first_usable + 10);
		break;
	case HM_ARR_PAST_END:
		put64(h + 72, t->nblocks - 2);
		break;
	case HM_ENTRIES_CRC:
		put32(h + 88, get32(h + 88) ^ 0x100);
		break;
	case HM_ARRAY_BYTE:
		blk(t, arr)[200] ^= 0x80; /* a byte of entry 1's name */
		return;
	case HM_COUNT:
		break;
	}
	rehash_hdr(t, h);
}

static void test_corrupt_headers(void **state)
{
	(void)state;
	for (uint32_t bs = 512; bs <= 4096; bs *= 8) {
		const struct tpart *ps = bs == 512 ? parts512 : parts4k;
		uint64_t nblocks = bs == 512 ? 2048 : 256;
		uint64_t want = ps[1].first * (bs / 512);
		for (int m = 0; m < HM_COUNT; m++) {
			struct timg t;
			struct ramdisk rd;

			/* Primary broken: the backup serves, with the same partition. */
			img_make(&t, bs, nblocks, ps, 3);
			rd_over(&rd, &t);
			mutate_hdr(&t, false, (enum hmut)m);
			struct blkdev *p = gpt_open_partition(&rd.bdev, "rootfs");
			if (p == NULL)
				fail_msg("bs %u mutation %d on the primary: backup not used", bs, m);
			assert_int_equal(part_start(p), want);
			assert_int_equal(p->nsectors, (ps[1].last - ps[1].first + 1) * (bs / 512));
			gpt_close_partition(p);

			/* Both broken: nothing. */
			mutate_hdr(&t, true, (enum hmut)m);
			if (gpt_open_partition(&rd.bdev, "rootfs") != NULL)
				fail_msg("bs %u mutation %d on both headers: opened anyway", bs, m);

			/* Backup broken only: the primary serves. */
			img_free(&t);
			img_make(&t, bs, nblocks, ps, 3);
			rd_over(&rd, &t);
			mutate_hdr(&t, true, (enum hmut)m);
			p = gpt_open_partition(&rd.bdev, "rootfs");
			assert_non_null(p);
			assert_int_equal(part_start(p), want);
			gpt_close_partition(p);
			img_free(&t);
		}
	}
}

/* Bad entries, in both arrays (rehashed): the partition must not open. */
static void test_bad_entries(void **state)
{
	(void)state;
	struct {
		struct tpart p[3];
	} cases[] = {
	    {{{"boot", 34, 133, 1}, {"rootfs", 500, 499, 1}, {"data", 1134, 2014, 1}}},
	    {{{"boot", 34, 133, 1}, {"rootfs", 134, UINT64_MAX, 1}, {"data", 1134, 2014, 1}}},
	    {{{"boot", 34, 133, 1}, {"rootfs", 0, 100, 1}, {"data", 1134, 2014, 1}}},
	    {{{"boot", 34, 133, 1}, {"rootfs", 1, 33, 1}, {"data", 1134, 2014, 1}}},
	    {{{"boot", 34, 133, 1}, {"rootfs", 33, 100, 1}, {"data", 1134, 2014, 1}}},
	    {{{"boot", 34, 133, 1}, {"rootfs", 1134, 2015, 1}, {"data", 134, 1133, 1}}},
	    {{{"boot", 34, 133, 1}, {"rootfs", 2000, 2047, 1}, {"data", 134, 1133, 1}}},
	    {{{"boot", 34, 133, 1}, {"rootfs", UINT64_MAX, UINT64_MAX, 1}, {"data", 134, 1133, 1}}},
	    /* duplicate name */
	    {{{"rootfs", 34, 133, 1}, {"rootfs", 134, 1133, 1}, {"data", 1134, 2014, 1}}},
	    /* overlapping another partition (by one LBA, either side) */
	    {{{"boot", 34, 134, 1}, {"rootfs", 134, 1133, 1}, {"data", 1134, 2014, 1}}},
	    {{{"boot", 34, 133, 1}, {"rootfs", 134, 1133, 1}, {"data", 1133, 2014, 1}}},
	    {{{"boot", 34, 2014, 1}, {"rootfs", 134, 1133, 1}, {"data", 0, 0, 0}}},
	    /* unused type GUID */
	    {{{"boot", 34, 133, 1}, {"rootfs", 134, 1133, 0}, {"data", 1134, 2014, 1}}},
	};
	for (unsigned c = 0; c < ARRAY_SIZE(cases); c++) {
		struct timg t;
		struct ramdisk rd;
		img_make(&t, 512, 2048, cases[c].p, 3);
		rd_over(&rd, &t);
		if (gpt_open_partition(&rd.bdev, "rootfs") != NULL)
			fail_msg("case %u opened", c);
		img_free(&t);
	}

	/* An invalid (first > last) other entry covers nothing, so it does not count as an overlap. */
	const struct tpart ok[] = {{"boot", 900, 100, 1}, {"rootfs", 134, 1133, 1}};
	struct timg t;
	struct ramdisk rd;
	img_make(&t, 512, 2048, ok, 2);
	rd_over(&rd, &t);
	struct blkdev *p = gpt_open_partition(&rd.bdev, "rootfs");
	assert_non_null(p);
	gpt_close_partition(p);
	img_free(&t);
}

/* Entry counts and sizes other than 128 x 128, and a table that only just fits. */
static void test_geometry(void **state)
{
	(void)state;
	struct {
		uint32_t bs, nentries, esize;
		uint64_t nblocks;
	} g[] = {
	    {512, 4, 128, 64},	   {512, 1, 128, 16},	  {512, 3, 256, 64},	 {512, 512, 128, 4096},
	    {4096, 1024, 64, 256}, {4096, 16, 4096, 256}, {512, 128, 136, 2048}, {4096, 1, 128, 8},
	};
	for (unsigned i = 0; i < ARRAY_SIZE(g); i++) {
		struct timg t;
		struct ramdisk rd;
		uint32_t esize = g[i].esize < 128 ? 128 : g[i].esize;
		/* Probe geometry for usable LBAs, then place one partition at the start of the usable range.
		 */
		img_make_n(&t, g[i].bs, g[i].nblocks, g[i].nentries, esize, NULL, 0);
		const struct tpart p = {"x", t.first_usable, t.last_usable, 1};
		img_free(&t);
		img_make_n(&t, g[i].bs, g[i].nblocks, g[i].nentries, esize, &p, 1);
		rd_over(&rd, &t);
		struct blkdev *d = gpt_open_partition(&rd.bdev, "x");
		bool fits = (uint64_t)g[i].nentries * esize <= GPT_MAX_ARRAY_BYTES &&
			    g[i].nentries <= GPT_MAX_ENTRIES;
		if (fits) {
			assert_non_null(d);
			assert_int_equal(part_start(d), t.first_usable * (g[i].bs / 512));
			gpt_close_partition(d);
		} else {
			assert_null(d);
		}
		img_free(&t);
	}
}

/* An enlarged disk: the backup is where the primary says, not at the end. */
static void test_backup_not_at_end(void **state)
{
	(void)state;
	struct timg t;
	struct ramdisk rd;
	img_make(&t, 512, 2048, parts512, 3);
	uint8_t *big = calloc(1, 4096 * 512);
	memcpy(big, t.buf, t.size);
	free(t.buf);
	t.buf = big;
	t.size = 4096 * 512;
	rd_over(&rd, &t);
	struct blkdev *p = gpt_open_partition(&rd.bdev, "data");
	assert_non_null(p);
	gpt_close_partition(p);
	/* Primary array bad, primary header good: the backup at its alternate LBA (2047) serves. */
	t.buf[2 * 512 + 40] ^= 1;
	p = gpt_open_partition(&rd.bdev, "data");
	assert_non_null(p);
	assert_int_equal(part_start(p), 1134);
	gpt_close_partition(p);
	/* Primary header bad too: its alternate LBA cannot be trusted, and the disk's last LBA has nothing.
	 */
	t.buf[512 + 16] ^= 1;
	assert_null(gpt_open_partition(&rd.bdev, "data"));
	img_free(&t);
}

/*
 * A backup whose usable range covers the (intact header's) primary array must not be used: a guest owning
 * that range could forge an array matching the primary's CRC.
 */
static void test_backup_covering_primary_array(void **state)
{
	(void)state;
	struct timg t;
	struct ramdisk rd;
	img_make(&t, 512, 2048, parts512, 3);
	rd_over(&rd, &t);
	/* Backup: its array elsewhere (LBA 2014..2045 is its normal place), usable from LBA 2. */
	put64(back_hdr(&t) + 40, 2);
	const struct tpart ps[] = {{"boot", 2, 133, 1}, {"rootfs", 134, 1133, 2}};
	write_entries(&t, t.back_arr, ps, 2);
	rehash_all(&t);
	t.buf[2 * 512 + 40] ^= 1; /* primary array CRC now wrong; primary header intact */
	assert_null(gpt_open_partition(&rd.bdev, "rootfs"));
	img_free(&t);
}

static void test_small_and_odd_devices(void **state)
{
	(void)state;
	uint8_t *buf = calloc(1, 8192);
	struct ramdisk rd;
	assert_int_equal(ramdisk_init(&rd, "tiny", ptr_to_pa(buf), 3 * 512, false), 0);
	assert_null(gpt_open_partition(&rd.bdev, "x"));
	assert_int_equal(ramdisk_init(&rd, "odd", ptr_to_pa(buf), 8192, false), 0);
	rd.bdev.block_size = 8192;
	assert_null(gpt_open_partition(&rd.bdev, "x"));
	rd.bdev.block_size = 1024 + 512;
	assert_null(gpt_open_partition(&rd.bdev, "x"));
	rd.bdev.block_size = 0;
	assert_null(gpt_open_partition(&rd.bdev, "x"));
	free(buf);
}

/* Devices that take small requests: the table is read in pieces. */
static void test_small_requests(void **state)
{
	(void)state;
	struct timg t;
	struct ramdisk rd;
	img_make(&t, 512, 2048, parts512, 3);
	rd_over(&rd, &t);
	rd.bdev.max_seg_size = 512;
	struct blkdev *p = gpt_open_partition(&rd.bdev, "rootfs");
	assert_non_null(p);
	assert_int_equal(p->max_seg_size, 512);
	gpt_close_partition(p);
	rd.bdev.max_seg_size = RAMDISK_MAX_SEG_SIZE;
	rd.bdev.max_sectors = 3;
	p = gpt_open_partition(&rd.bdev, "rootfs");
	assert_non_null(p);
	gpt_close_partition(p);
	rd.bdev.max_sectors = 0;
	assert_null(gpt_open_partition(&rd.bdev, "rootfs"));
	img_free(&t);

	img_make(&t, 4096, 256, parts4k, 3);
	rd_over(&rd, &t);
	rd.bdev.max_seg_size = 4096;
	p = gpt_open_partition(&rd.bdev, "rootfs");
	assert_non_null(p);
	gpt_close_partition(p);
	rd.bdev.max_seg_size = 2048; /* cannot read one block */
	assert_null(gpt_open_partition(&rd.bdev, "rootfs"));
	img_free(&t);
}

static void test_pool(void **state)
{
	(void)state;
	struct timg t;
	struct ramdisk rd;
	struct blkdev *p[PART_MAX];
	img_make(&t, 512, 2048, parts512, 3);
	rd_over(&rd, &t);
	for (unsigned i = 0; i < PART_MAX; i++) {
		p[i] = gpt_open_partition(&rd.bdev, "boot");
		assert_non_null(p[i]);
	}
	assert_null(gpt_open_partition(&rd.bdev, "boot"));
	gpt_close_partition(p[3]);
	p[3] = gpt_open_partition(&rd.bdev, "data");
	assert_non_null(p[3]);
	assert_string_equal(p[3]->name, "disk:data");
	for (unsigned i = 0; i < PART_MAX; i++)
		gpt_close_partition(p[i]);
	/* part_open's own checks. */
	assert_null(part_open(&rd.bdev, "x", 2040, 9));
	assert_null(part_open(&rd.bdev, "x", UINT64_MAX, 2));
	assert_null(part_open(&rd.bdev, "x", 0, 0));
	struct blkdev *w = part_open(&rd.bdev, "x", 0, 2048);
	assert_non_null(w);
	gpt_close_partition(w);
	rd.bdev.block_size = 4096;
	assert_null(part_open(&rd.bdev, "x", 4, 8));
	assert_null(part_open(&rd.bdev, "x", 8, 4));
	img_free(&t);
}

/* --- an asynchronous parent: queues requests, completes them on poll in reverse order --- */

#define ADISK_Q 512

struct adisk {
	struct blkdev bdev;
	uint8_t *mem;
	struct blk_req *q[ADISK_Q];
	unsigned n;
	unsigned cap; /* EBUSY beyond this many queued */
	unsigned submits;
};

static int adisk_submit(struct blkdev *dev, struct blk_req *req)
{
	struct adisk *a = dev->priv;
	if (a->n >= a->cap)
		return BLK_EBUSY;
	a->q[a->n++] = req;
	a->submits++;
	return 0;
}

static void adisk_poll(struct blkdev *dev)
{
	struct adisk *a = dev->priv;
	struct blk_req *q[ADISK_Q];
	unsigned n = a->n;
	memcpy(q, a->q, n * sizeof(q[0]));
	a->n = 0;
	while (n > 0) {
		struct blk_req *r = q[--n];
		uint8_t *d = a->mem + r->sector * 512;
		for (unsigned i = 0; i < r->nsegs; i++) {
			if (r->op == BLK_OP_READ)
				memcpy(pa_to_ptr(r->segs[i].pa), d, r->segs[i].len);
			else if (r->op == BLK_OP_WRITE)
				memcpy(d, pa_to_ptr(r->segs[i].pa), r->segs[i].len);
			d += r->segs[i].len;
		}
		r->done(r, BLK_OK);
	}
}

static int adisk_cancel(struct blkdev *dev, struct blk_req *req)
{
	struct adisk *a = dev->priv;
	for (unsigned i = 0; i < a->n; i++) {
		if (a->q[i] != req)
			continue;
		memmove(&a->q[i], &a->q[i + 1], (a->n - i - 1) * sizeof(a->q[0]));
		a->n--;
		req->done(req, BLK_ECANCELED);
		return 0;
	}
	return -1;
}

static const struct blkdev_ops adisk_ops = {
    .submit = adisk_submit, .poll = adisk_poll, .cancel = adisk_cancel};

static bool adisk_ready(struct blkdev *dev)
{
	return ((struct adisk *)dev->priv)->n > 0;
}

static const struct blkdev_ops adisk_pollable_ops = {
    .submit = adisk_submit, .poll = adisk_poll, .completion_ready = adisk_ready, .cancel = adisk_cancel};

static void adisk_init(struct adisk *a, struct timg *t)
{
	memset(a, 0, sizeof(*a));
	a->mem = t->buf;
	a->cap = ADISK_Q;
	a->bdev = (struct blkdev){.name = "adisk",
				  .nsectors = t->size / 512,
				  .block_size = t->bs,
				  .max_segs = 4,
				  .max_seg_size = 8192,
				  .max_sectors = 64,
				  .flags = BLKDEV_F_FLUSH,
				  .ops = &adisk_ops,
				  .priv = a};
}

#define NREQ 200

/* A partition offers the parent's cheap completion check (completion polling), only if it has one. */
static void test_completion_ready_passes_through(void **state)
{
	(void)state;
	struct timg t;
	struct adisk a;
	img_make(&t, 512, 2048, parts512, 3);
	adisk_init(&a, &t);
	struct blkdev *p = part_open(&a.bdev, "x", 0, 64);
	assert_non_null(p);
	assert_null(p->ops->completion_ready);
	gpt_close_partition(p);
	a.bdev.ops = &adisk_pollable_ops;
	p = part_open(&a.bdev, "x", 0, 64);
	assert_non_null(p);
	assert_non_null(p->ops->completion_ready);
	assert_false(p->ops->completion_ready(p));
	a.n = 1; /* the parent has something to reap */
	assert_true(p->ops->completion_ready(p));
	a.n = 0;
	gpt_close_partition(p);
	img_free(&t);
}

static void test_async(void **state)
{
	(void)state;
	struct timg t;
	struct adisk a;
	img_make(&t, 512, 2048, parts512, 3);
	adisk_init(&a, &t);

	/* The table itself is read through the poll path of blkdev_read_sync. */
	struct blkdev *p = gpt_open_partition(&a.bdev, "rootfs");
	assert_non_null(p);
	assert_int_equal(p->max_segs, 4);
	assert_int_equal(p->flags, BLKDEV_F_FLUSH);

	static uint8_t bufs[NREQ][512];
	static struct blk_seg segs[NREQ];
	static struct blk_req reqs[NREQ];
	static struct done_rec recs[NREQ];
	unsigned accepted = 0;
	for (unsigned i = 0; i < NREQ; i++) {
		memset(bufs[i], (int)(i + 1), 512);
		segs[i] = (struct blk_seg){ptr_to_pa(bufs[i]), 512};
		reqs[i] = (struct blk_req){.op = BLK_OP_WRITE,
					   .sector = i,
					   .nsectors = 1,
					   .segs = &segs[i],
					   .nsegs = 1,
					   .done = rec_done,
					   .ctx = &recs[i]};
		int rc = blkdev_submit(p, &reqs[i]);
		if (i < PART_SLOTS) {
			assert_int_equal(rc, 0);
			accepted++;
		} else {
			assert_int_equal(rc, BLK_EBUSY); /* every forwarding slot is in flight */
		}
	}
	assert_int_equal(a.n, PART_SLOTS);
	/* Forwarded copies carry the offset; the caller's requests are untouched. */
	for (unsigned i = 0; i < a.n; i++)
		assert_int_equal(a.q[i]->sector, 134 + i);
	for (unsigned i = 0; i < NREQ; i++) {
		assert_int_equal(reqs[i].sector, i);
		assert_int_equal(recs[i].calls, 0);
	}
	p->ops->poll(p); /* forwards to the parent's poll */
	for (unsigned i = 0; i < accepted; i++) {
		assert_int_equal(recs[i].calls, 1);
		assert_int_equal(recs[i].status, BLK_OK);
		assert_ptr_equal(recs[i].req, &reqs[i]);
		assert_int_equal(t.buf[(134 + i) * 512], (uint8_t)(i + 1));
	}
	/* Slots are free again: the rest go through. */
	for (unsigned i = PART_SLOTS; i < NREQ; i++)
		assert_int_equal(blkdev_submit(p, &reqs[i]), 0);
	p->ops->poll(p);
	for (unsigned i = PART_SLOTS; i < NREQ; i++)
		assert_int_equal(recs[i].calls, 1);

	/* The parent refusing (busy) frees the slot and passes the status up. */
	a.cap = 2;
	for (unsigned i = 0; i < 3; i++) {
		recs[i] = (struct done_rec){0};
		assert_int_equal(blkdev_submit(p, &reqs[i]), i < 2 ? 0 : BLK_EBUSY);
	}
	p->ops->poll(p);
	assert_int_equal(recs[0].calls + recs[1].calls + recs[2].calls, 2);
	a.cap = ADISK_Q;
	for (unsigned i = 0; i < PART_SLOTS; i++) {
		recs[i] = (struct done_rec){0};
		assert_int_equal(blkdev_submit(p, &reqs[i]), 0);
	}
	p->ops->poll(p);
	for (unsigned i = 0; i < PART_SLOTS; i++)
		assert_int_equal(recs[i].calls, 1);

	/* A flush reaches the parent at sector 0, not offset. */
	struct done_rec fr = {0};
	struct blk_req freq = {.op = BLK_OP_FLUSH, .done = rec_done, .ctx = &fr};
	assert_int_equal(blkdev_submit(p, &freq), 0);
	assert_int_equal(a.q[0]->sector, 0);
	assert_int_equal(a.q[0]->op, BLK_OP_FLUSH);
	p->ops->poll(p);
	assert_int_equal(fr.calls, 1);

	/* Cancel goes through to the parent's copy; done once, the slot comes back. */
	for (unsigned i = 0; i < 3; i++) {
		recs[i] = (struct done_rec){0};
		assert_int_equal(blkdev_submit(p, &reqs[i]), 0);
	}
	assert_int_equal(blkdev_cancel(p, &reqs[1]), 0);
	assert_int_equal(recs[1].calls, 1);
	assert_int_equal(recs[1].status, BLK_ECANCELED);
	assert_ptr_equal(recs[1].req, &reqs[1]);
	assert_int_equal(a.n, 2);
	p->ops->poll(p);
	assert_int_equal(recs[0].calls, 1);
	assert_int_equal(recs[1].calls, 1);
	assert_int_equal(recs[2].calls, 1);
	assert_true(blkdev_cancel(p, &reqs[1]) < 0); /* completed: unknown */
	for (unsigned i = 0; i < PART_SLOTS; i++) {
		recs[i] = (struct done_rec){0};
		assert_int_equal(blkdev_submit(p, &reqs[i]), 0); /* every slot free again */
	}
	p->ops->poll(p);
	gpt_close_partition(p);
	img_free(&t);
}

/* Resubmitting from inside done (as virtio-blk's flush-after-write does) gets a slot. */
static struct blkdev *chain_dev;
static int chain_left;

static void chain_done(struct blk_req *req, int status)
{
	assert_int_equal(status, BLK_OK);
	if (chain_left-- > 0)
		assert_int_equal(blkdev_submit(chain_dev, req), 0);
}

static void test_resubmit_from_done(void **state)
{
	(void)state;
	struct timg t;
	struct ramdisk rd;
	img_make(&t, 512, 2048, parts512, 3);
	rd_over(&rd, &t);
	chain_dev = gpt_open_partition(&rd.bdev, "boot");
	assert_non_null(chain_dev);
	uint8_t buf[512];
	struct blk_seg seg = {ptr_to_pa(buf), 512};
	struct blk_req req = {
	    .op = BLK_OP_READ, .sector = 3, .nsectors = 1, .segs = &seg, .nsegs = 1, .done = chain_done};
	chain_left = 3 * PART_SLOTS; /* nests that deep: the ramdisk completes inside submit */
	assert_int_equal(blkdev_submit(chain_dev, &req), 0);
	assert_int_equal(chain_left, -1);
	gpt_close_partition(chain_dev);
	img_free(&t);
}

static void test_storage_open(void **state)
{
	(void)state;
	struct timg t;
	struct ramdisk rd;
	img_make(&t, 4096, 256, parts4k, 3);
	rd_over(&rd, &t);
	assert_int_equal(storage_register("ufs", &rd.bdev), 0);
	struct vm_disk_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.backend, "ufs");
	strcpy(cfg.partition, "data");
	/* A controller's disks come as share clients (blk_share.h) over the partition or the device. */
	struct blkdev *c = storage_open(&cfg);
	assert_non_null(c);
	assert_true(share_is_client(c));
	struct blkdev *p = share_target(c);
	assert_int_equal(part_start(p), 116 * 8);
	assert_int_equal(c->nsectors, (250 - 116 + 1) * 8);
	share_close(c);
	gpt_close_partition(p);
	strcpy(cfg.partition, "nope");
	assert_null(storage_open(&cfg));
	cfg.partition[0] = '\0';
	c = storage_open(&cfg);
	assert_non_null(c);
	assert_ptr_equal(share_target(c), &rd.bdev);
	share_close(c);
	img_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32),
	    cmocka_unit_test(test_completion_ready_passes_through),
	    cmocka_unit_test(test_open_512),
	    cmocka_unit_test(test_open_4096),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_corrupt_headers),
	    cmocka_unit_test(test_bad_entries),
	    cmocka_unit_test(test_geometry),
	    cmocka_unit_test(test_backup_not_at_end),
	    cmocka_unit_test(test_backup_covering_primary_array),
	    cmocka_unit_test(test_small_and_odd_devices),
	    cmocka_unit_test(test_small_requests),
	    cmocka_unit_test(test_pool),
	    cmocka_unit_test(test_async),
	    cmocka_unit_test(test_resubmit_from_done),
	    cmocka_unit_test(test_storage_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
