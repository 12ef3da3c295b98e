/* MBR partitions: primary partitions by number, hostile entries refused, the boot partition guarded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "drivers/storage/blk_share.h"
#include "drivers/storage/mbr.h"
#include "drivers/storage/part.h"
#include "drivers/storage/ramdisk.h"
#include "drivers/storage/storage.h"
#include "keel/addr.h"
#include "tests/fakes/fake_blk.h"

struct timg {
	uint8_t *buf;
	size_t size;
	uint32_t bs;
};

struct tentry {
	uint8_t status, type;
	uint32_t first, count; /* in blocks */
};

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* An image of nblocks blocks of bs bytes whose block 0 holds the given four entries. */
static void img_make(struct timg *t, uint32_t bs, uint32_t nblocks, const struct tentry e[4], bool sig)
{
	t->bs = bs;
	t->size = (size_t)bs * nblocks;
	t->buf = calloc(1, t->size);
	assert_non_null(t->buf);
	for (unsigned i = 0; i < 4; i++) {
		uint8_t *p = t->buf + 446 + 16 * i;
		p[0] = e[i].status;
		p[4] = e[i].type;
		put32(p + 8, e[i].first);
		put32(p + 12, e[i].count);
	}
	if (sig) {
		t->buf[510] = 0x55;
		t->buf[511] = 0xaa;
	}
	for (size_t i = bs; i < t->size; i++) /* recognisable contents */
		t->buf[i] = (uint8_t)(i / bs * 31 + i);
}

static void rd_over(struct ramdisk *rd, struct timg *t)
{
	assert_int_equal(ramdisk_init(rd, "disk", ptr_to_pa(t->buf), t->size, false), 0);
	rd->bdev.block_size = t->bs;
}

/* The Raspberry Pi layout: FAT boot partition first, then a Linux partition; 3 and 4 unused. */
static const struct tentry pi[4] = {
    {0x00, 0x0c, 8, 64},
    {0x00, 0x83, 72, 160},
    {0, 0, 0, 0},
    {0, 0, 0, 0},
};

/* p is blocks [first, first + count) of t: both ends read right, a write lands there and nowhere else. */
static void check_window(struct timg *t, struct blkdev *p, uint32_t first, uint32_t count)
{
	uint32_t bs = t->bs;
	uint8_t *buf = malloc(bs);
	uint8_t *before = malloc(t->size);
	struct done_rec r;

	assert_true(part_is_part(p));
	assert_int_equal(part_start(p), (uint64_t)first * (bs / 512));
	assert_int_equal(p->nsectors, (uint64_t)count * (bs / 512));
	assert_int_equal(blk_rw(p, BLK_OP_READ, 0, buf, bs, &r), 0);
	assert_int_equal(r.status, BLK_OK);
	assert_memory_equal(buf, t->buf + (size_t)first * bs, bs);
	assert_int_equal(blk_rw(p, BLK_OP_READ, p->nsectors - bs / 512, buf, bs, &r), 0);
	assert_memory_equal(buf, t->buf + (size_t)(first + count - 1) * bs, bs);
	memcpy(before, t->buf, t->size);
	memset(buf, 0x5a, bs);
	assert_int_equal(blk_rw(p, BLK_OP_WRITE, p->nsectors - bs / 512, buf, bs, &r), 0);
	assert_int_equal(r.status, BLK_OK);
	for (size_t i = 0; i < t->size; i++) {
		bool inside = i >= (size_t)(first + count - 1) * bs && i < (size_t)(first + count) * bs;
		if (inside)
			assert_int_equal(t->buf[i], 0x5a);
		else if (t->buf[i] != before[i])
			fail_msg("byte %zu outside the written block changed", i);
	}
	/* A request past the window's end is refused, not forwarded. */
	assert_int_not_equal(blk_rw(p, BLK_OP_READ, p->nsectors, buf, bs, &r), 0);
	free(buf);
	free(before);
}

static void test_probe(void **state)
{
	(void)state;
	struct timg t;
	struct ramdisk rd;
	img_make(&t, 512, 256, pi, true);
	rd_over(&rd, &t);
	assert_int_equal(mbr_probe(&rd.bdev), PTABLE_MBR);
	t.buf[446 + 16 * 2 + 4] = 0xee; /* a protective (or hybrid) entry: the disk is GPT */
	assert_int_equal(mbr_probe(&rd.bdev), PTABLE_GPT);
	t.buf[511] = 0;
	assert_int_equal(mbr_probe(&rd.bdev), PTABLE_NONE);
	free(t.buf);
}

static void test_open_by_number_512_and_4096(void **state)
{
	(void)state;
	const uint32_t sizes[] = {512, 4096};
	for (unsigned k = 0; k < 2; k++) {
		struct timg t;
		struct ramdisk rd;
		img_make(&t, sizes[k], 256, pi, true);
		rd_over(&rd, &t);
		struct blkdev *p = mbr_open_partition(&rd.bdev, "2", false);
		assert_non_null(p);
		check_window(&t, p, 72, 160);
		mbr_close_partition(p);
		assert_false(part_is_part(p));
		free(t.buf);
	}
}

static void test_boot_partition_needs_permission(void **state)
{
	(void)state;
	struct timg t;
	struct ramdisk rd;
	img_make(&t, 512, 256, pi, true);
	rd_over(&rd, &t);
	assert_null(mbr_open_partition(&rd.bdev, "1", false)); /* the first FAT partition */
	struct blkdev *p = mbr_open_partition(&rd.bdev, "1", true);
	assert_non_null(p);
	check_window(&t, p, 8, 64);
	mbr_close_partition(p);
	/* An active entry is the boot partition, whatever its type; the FAT one is then ordinary. */
	t.buf[446 + 16] = 0x80;
	assert_null(mbr_open_partition(&rd.bdev, "2", false));
	p = mbr_open_partition(&rd.bdev, "1", false);
	assert_non_null(p);
	mbr_close_partition(p);
	free(t.buf);
}

static void test_bad_numbers(void **state)
{
	(void)state;
	struct timg t;
	struct ramdisk rd;
	img_make(&t, 512, 256, pi, true);
	rd_over(&rd, &t);
	const char *bad[] = {"", "0", "02", "3", "4", "5", "12", "x", "2a", "-1", "99999999999"};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(mbr_open_partition(&rd.bdev, bad[i], true));
	t.buf[510] = 0; /* no signature: no MBR at all */
	assert_null(mbr_open_partition(&rd.bdev, "2", true));
	free(t.buf);
}

static void test_hostile_entries(void **state)
{
	(void)state;
	static const struct {
		struct tentry e2;
		const char *why;
	} cases[] = {
	    {{0, 0x83, 0, 16}, "starts at block 0 (over the table)"},
	    {{0, 0x83, 250, 16}, "runs past the disk's end"},
	    {{0, 0x83, 0xfffffff0u, 0x20}, "first + count wraps 32 bits"},
	    {{0, 0x83, 100, 0}, "empty"},
	    {{0, 0x83, 60, 16}, "overlaps the boot partition"},
	    {{0, 0x05, 72, 160}, "an extended container"},
	    {{0, 0x0f, 72, 160}, "an extended container (LBA)"},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tentry e[4] = {pi[0], cases[i].e2, pi[2], pi[3]};
		struct timg t;
		struct ramdisk rd;
		img_make(&t, 512, 256, e, true);
		rd_over(&rd, &t);
		struct blkdev *p = mbr_open_partition(&rd.bdev, "2", true);
		if (p != NULL)
			fail_msg("case %u (%s) was accepted", i, cases[i].why);
		free(t.buf);
	}
	/* A partition overlapping an extended container elsewhere is refused too. */
	struct tentry e[4] = {pi[0], pi[1], {0, 0x05, 200, 40}, pi[3]};
	struct timg t;
	struct ramdisk rd;
	img_make(&t, 512, 256, e, true);
	rd_over(&rd, &t);
	assert_null(mbr_open_partition(&rd.bdev, "2", true));
	free(t.buf);
}

static void test_storage_open_follows_the_table(void **state)
{
	(void)state;
	struct timg t;
	struct ramdisk rd;
	img_make(&t, 4096, 256, pi, true);
	rd_over(&rd, &t);
	assert_int_equal(storage_register("sd", &rd.bdev), 0);
	struct vm_disk_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.backend, "sd");
	strcpy(cfg.partition, "2");
	struct blkdev *c = storage_open(&cfg);
	assert_non_null(c);
	assert_true(share_is_client(c));
	struct blkdev *p = share_target(c);
	assert_int_equal(part_start(p), 72u * 8);
	assert_int_equal(c->nsectors, 160u * 8);
	share_close(c);
	mbr_close_partition(p);
	strcpy(cfg.partition, "1"); /* the boot partition, without allow-boot-partition */
	assert_null(storage_open(&cfg));
	cfg.allow_boot_partition = true;
	c = storage_open(&cfg);
	assert_non_null(c);
	p = share_target(c);
	assert_int_equal(part_start(p), 8u * 8);
	share_close(c);
	mbr_close_partition(p);
	strcpy(cfg.partition, "rootfs"); /* a GPT name on an MBR disk */
	assert_null(storage_open(&cfg));
	free(t.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_probe),
	    cmocka_unit_test(test_open_by_number_512_and_4096),
	    cmocka_unit_test(test_boot_partition_needs_permission),
	    cmocka_unit_test(test_bad_numbers),
	    cmocka_unit_test(test_hostile_entries),
	    cmocka_unit_test(test_storage_open_follows_the_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
