/*
 * End-to-end tests of virtio-blk: a fake guest drives the device only through
 * MMIO accesses and its own RAM, as Linux does; the backend is a ramdisk
 * (optionally behind an asynchronous "slowdisk"). Every test ends by checking
 * the guard zones around guest RAM and the disk image.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/timer.h"
#include "core/vm.h"
#include "keel/util.h"
#include "tests/fakes/fake_vgic.h"
#include "tests/fakes/fake_vm_work.h"
#include "tests/fakes/virtio_guest.h"

#define ALL	 (~0ULL)
#define QSIZE	 128
#define NO_FLUSH (~BIT(VIRTIO_BLK_F_FLUSH))

static struct vg *up(const struct vg_opts *o, uint64_t want)
{
	struct vg *g = vg_create_fresh(o);
	assert_true(vg_driver_init(g, want, QSIZE));
	return g;
}

static void down(struct vg *g)
{
	assert_true(vg_destroy(g)); /* no byte outside guest RAM or the disk image changed */
}

static void expect_used(struct vg *g, uint16_t idx, uint16_t head, uint32_t len)
{
	assert_true((uint16_t)(vg_used_idx(g) - idx) >= 1);
	struct virtq_used_elem e = vg_used_elem(g, idx);
	assert_int_equal(e.id, head);
	assert_int_equal(e.len, len);
}

/* --- the happy path ------------------------------------------------------------- */

static void test_features_and_config(void **state)
{
	(void)state;
	struct vg *g = up(NULL, ALL);
	uint64_t f = g->features;
	assert_true(f & BIT(VIRTIO_F_VERSION_1));
	assert_true(f & BIT(VIRTIO_F_INDIRECT_DESC));
	assert_true(f & BIT(VIRTIO_F_EVENT_IDX));
	assert_true(f & BIT(VIRTIO_BLK_F_SEG_MAX));
	assert_true(f & BIT(VIRTIO_BLK_F_SIZE_MAX));
	assert_true(f & BIT(VIRTIO_BLK_F_BLK_SIZE));
	assert_true(f & BIT(VIRTIO_BLK_F_FLUSH));
	assert_true(f & BIT(VIRTIO_BLK_F_DISCARD));
	assert_true(f & BIT(VIRTIO_BLK_F_WRITE_ZEROES));
	assert_false(f & BIT(VIRTIO_BLK_F_RO));
	assert_false(f & BIT(VIRTIO_BLK_F_MQ));
	assert_false(f & BIT(VIRTIO_BLK_F_CONFIG_WCE));
	assert_false(f & BIT(VIRTIO_F_RING_PACKED));
	/* capacity is 64-bit: two 32-bit reads. */
	assert_int_equal(vg_rd(g, 0x100), VG_DISK_SECTORS);
	assert_int_equal(vg_rd(g, 0x104), 0);
	/*
	 * seg_max: as many segments as keel takes, less header and status so that a chain fits the
	 * queue size; size_max: the backend's segment size (a driver merges contiguous pages up to it),
	 * seg_max * size_max within keel's 64 MiB request limit (above max_sectors: split).
	 */
	uint32_t seg_max = MIN(VIRTIO_BLK_MAX_SEGS, VIRTIO_BLK_QUEUE_SIZE - 2);
	assert_int_equal(vg_rd(g, 0x10c), seg_max); /* seg_max */
	assert_int_equal(vg_rd(g, 0x108),
			 MIN(RAMDISK_MAX_SEG_SIZE, VIRTIO_BLK_SPLIT_MAX_BYTES / seg_max)); /* size_max */
	assert_int_equal(vg_rd(g, 0x114), 512);						   /* blk_size */
	assert_int_equal(vg_rd(g, 0x124), RAMDISK_MAX_SECTORS); /* max_discard_sectors */
	assert_int_equal(vg_rd(g, 0x128), 1);			/* max_discard_seg */
	assert_int_equal(vg_rd(g, 0x12c), 1);			/* discard_sector_alignment */
	uint64_t v;
	assert_int_equal(vg_access(g, 0x120, 1, false, &v), 0); /* writeback */
	assert_int_equal(v, 0);
	down(g);

	struct vg_opts ro = {.param_ro = true};
	g = up(&ro, ALL);
	assert_true(g->features & BIT(VIRTIO_BLK_F_RO));
	assert_false(g->features & BIT(VIRTIO_BLK_F_DISCARD));
	assert_false(g->features & BIT(VIRTIO_BLK_F_WRITE_ZEROES));
	down(g);

	struct vg_opts small = {.max_seg_size = 1024, .max_segs = 64, .flags_clear = BLKDEV_F_FLUSH};
	g = up(&small, ALL);
	assert_false(g->features & BIT(VIRTIO_BLK_F_FLUSH));
	assert_int_equal(vg_rd(g, 0x108), 4096);   /* Linux never goes below a page */
	assert_int_equal(vg_rd(g, 0x10c), 64 / 4); /* each 4 KiB segment becomes 4 backend segments */
	down(g);
}

static void test_read(void **state)
{
	(void)state;
	struct vg *g = up(NULL, ALL);
	struct vg_req r = {VIRTIO_BLK_T_IN, 10, VG_DATA_IPA, 4 * 512, true};
	uint16_t head = vg_blk_submit(g, 0, &r);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	expect_used(g, 0, head, 4 * 512 + 1);
	const uint8_t *data = vg_ptr(g, VG_DATA_IPA);
	for (unsigned i = 0; i < 4 * 512; i++)
		assert_int_equal(data[i], vg_disk_byte(10 * 512 + i));
	assert_int_equal(vg_irqs(g), 1);
	assert_int_equal(vg_rd(g, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	struct virtio_blk_stats s = vg_blk_stats(g);
	assert_int_equal(s.requests, 1);
	assert_int_equal(s.bytes_read, 2048);
	assert_int_equal(s.bytes_written, 0);
	assert_int_equal(s.notifications, 1);
	assert_int_equal(s.interrupts, 1);
	assert_int_equal(s.bytes_copied, 0);
	assert_int_equal(s.errors, 0);
	/* The last sector of the disk. */
	r.sector = VG_DISK_SECTORS - 1;
	r.data_len = 512;
	vg_blk_submit(g, 1, &r);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(data[511], vg_disk_byte((VG_DISK_SECTORS - 1) * 512ull + 511));
	down(g);
}

static void test_write(void **state)
{
	(void)state;
	struct vg *g = up(NULL, ALL);
	uint8_t *data = vg_ptr(g, VG_DATA_IPA);
	for (unsigned i = 0; i < 8192; i++)
		data[i] = (uint8_t)(i * 13 + 1);
	struct vg_req w = {VIRTIO_BLK_T_OUT, 100, VG_DATA_IPA, 8192, false};
	uint16_t head = vg_blk_submit(g, 0, &w);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	expect_used(g, 0, head, 1);
	assert_memory_equal(g->disk + 100 * 512, data, 8192);
	assert_int_equal(g->disk[100 * 512 - 1], vg_disk_byte(100 * 512 - 1)); /* neighbours untouched */
	assert_int_equal(g->disk[116 * 512], vg_disk_byte(116 * 512));
	struct virtio_blk_stats s = vg_blk_stats(g);
	assert_int_equal(s.bytes_written, 8192);
	assert_int_equal(s.bytes_copied, 0);
	/* Read it back into another buffer. */
	struct vg_req r = {VIRTIO_BLK_T_IN, 100, VG_DATA_IPA + 0x10000, 8192, true};
	vg_blk_submit(g, 1, &r);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_OK);
	assert_memory_equal(vg_ptr(g, VG_DATA_IPA + 0x10000), data, 8192);
	down(g);
}

static void test_flush_get_id(void **state)
{
	(void)state;
	struct vg_opts o = {.serial = "KEEL-SERIAL-0001"};
	struct vg *g = up(&o, ALL);
	struct vg_req fl = {VIRTIO_BLK_T_FLUSH, 0, 0, 0, false};
	vg_blk_submit(g, 0, &fl);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	expect_used(g, 0, 0, 1);

	uint8_t *id = vg_ptr(g, VG_DATA_IPA);
	memset(id, 0xee, 20);
	struct vg_req gi = {VIRTIO_BLK_T_GET_ID, 0, VG_DATA_IPA, 20, true};
	vg_blk_submit(g, 1, &gi);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_OK);
	expect_used(g, 1, 3, 21);
	assert_memory_equal(id, "KEEL-SERIAL-0001\0\0\0\0", 20);
	assert_int_equal(vg_blk_stats(g).bytes_copied, 20);
	assert_int_equal(vg_blk_stats(g).bytes_read, 0);
	down(g);

	/* FLUSH offered but not negotiated: requests are UNSUPP, writes are still write-through. */
	g = up(NULL, NO_FLUSH);
	vg_blk_submit(g, 0, &fl);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_UNSUPP);
	struct vg_req w = {VIRTIO_BLK_T_OUT, 0, VG_DATA_IPA, 512, false};
	vg_blk_submit(g, 1, &w);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_OK);
	down(g);
}

static void put_range(struct vg *g, uint64_t sector, uint32_t num, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes *r = vg_ptr(g, VG_MISC_IPA);
	r->sector = sector;
	r->num_sectors = num;
	r->flags = flags;
}

static void test_discard_write_zeroes(void **state)
{
	(void)state;
	struct vg *g = up(NULL, ALL);
	struct vg_req dz = {VIRTIO_BLK_T_DISCARD, 0, VG_MISC_IPA, 16, false};
	put_range(g, 8, 4, 0);
	vg_blk_submit(g, 0, &dz);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	for (unsigned i = 0; i < 4 * 512; i++)
		assert_int_equal(g->disk[8 * 512 + i], 0);
	assert_int_equal(g->disk[12 * 512], vg_disk_byte(12 * 512));
	assert_int_equal(vg_blk_stats(g).bytes_copied, 16);

	put_range(g, 20, 1, VIRTIO_BLK_DWZ_F_UNMAP); /* unmap on a discard: UNSUPP */
	vg_blk_submit(g, 1, &dz);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_UNSUPP);
	put_range(g, 20, 1, 2); /* reserved flag */
	vg_blk_submit(g, 2, &dz);
	assert_int_equal(vg_status(g, 2), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(g->disk[20 * 512], vg_disk_byte(20 * 512));

	struct vg_req wz = {VIRTIO_BLK_T_WRITE_ZEROES, 0, VG_MISC_IPA, 16, false};
	put_range(g, 30, 2, VIRTIO_BLK_DWZ_F_UNMAP); /* allowed on write zeroes */
	vg_blk_submit(g, 3, &wz);
	assert_int_equal(vg_status(g, 3), VIRTIO_BLK_S_OK);
	assert_int_equal(g->disk[30 * 512 + 1023], 0);
	assert_int_equal(g->disk[32 * 512], vg_disk_byte(32 * 512));

	put_range(g, VG_DISK_SECTORS - 1, 2, 0); /* runs past the end */
	vg_blk_submit(g, 4, &wz);
	assert_int_equal(vg_status(g, 4), VIRTIO_BLK_S_IOERR);
	put_range(g, 0xffffffffffffffffULL, 2, 0); /* wraps */
	vg_blk_submit(g, 5, &wz);
	assert_int_equal(vg_status(g, 5), VIRTIO_BLK_S_IOERR);
	struct vg_req two = {VIRTIO_BLK_T_DISCARD, 0, VG_MISC_IPA, 32, false}; /* > max_discard_seg */
	vg_blk_submit(g, 6, &two);
	assert_int_equal(vg_status(g, 6), VIRTIO_BLK_S_IOERR);
	struct vg_req odd = {VIRTIO_BLK_T_DISCARD, 0, VG_MISC_IPA, 12, false};
	vg_blk_submit(g, 7, &odd);
	assert_int_equal(vg_status(g, 7), VIRTIO_BLK_S_IOERR);
	down(g);

	/* Not negotiated: UNSUPP. */
	g = up(NULL, ~(BIT(VIRTIO_BLK_F_DISCARD) | BIT(VIRTIO_BLK_F_WRITE_ZEROES)));
	put_range(g, 8, 4, 0);
	vg_blk_submit(g, 0, &dz);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(g->disk[8 * 512], vg_disk_byte(8 * 512));
	down(g);
}

/* --- bad requests: IOERR / UNSUPP, still completed ------------------------------ */

static void test_bad_requests(void **state)
{
	(void)state;
	struct vg *g = up(NULL, ~BIT(VIRTIO_F_EVENT_IDX)); /* one interrupt per completion */
	struct {
		struct vg_req r;
		uint8_t status;
	} cases[] = {
	    {{VIRTIO_BLK_T_IN, VG_DISK_SECTORS, VG_DATA_IPA, 512, true}, VIRTIO_BLK_S_IOERR},
	    {{VIRTIO_BLK_T_IN, VG_DISK_SECTORS - 1, VG_DATA_IPA, 1024, true}, VIRTIO_BLK_S_IOERR},
	    {{VIRTIO_BLK_T_OUT, VG_DISK_SECTORS - 1, VG_DATA_IPA, 1024, false}, VIRTIO_BLK_S_IOERR},
	    {{VIRTIO_BLK_T_IN, 0xffffffffffffffffULL, VG_DATA_IPA, 512, true}, VIRTIO_BLK_S_IOERR},
	    {{VIRTIO_BLK_T_OUT, 0xfffffffffffffffeULL, VG_DATA_IPA, 1024, false}, VIRTIO_BLK_S_IOERR},
	    {{VIRTIO_BLK_T_IN, 0, VG_DATA_IPA, 511, true}, VIRTIO_BLK_S_IOERR},
	    {{VIRTIO_BLK_T_OUT, 0, VG_DATA_IPA, 700, false}, VIRTIO_BLK_S_IOERR},
	    {{VIRTIO_BLK_T_IN, 0, VG_DATA_IPA, 512, false}, VIRTIO_BLK_S_IOERR}, /* read into readable */
	    {{VIRTIO_BLK_T_OUT, 0, VG_DATA_IPA, 512, true}, VIRTIO_BLK_S_IOERR}, /* write from writable */
	    {{2, 0, VG_DATA_IPA, 512, false}, VIRTIO_BLK_S_UNSUPP},		 /* legacy SCSI */
	    {{VIRTIO_BLK_T_GET_LIFETIME, 0, VG_DATA_IPA, 8, true}, VIRTIO_BLK_S_UNSUPP},
	    {{VIRTIO_BLK_T_SECURE_ERASE, 0, VG_MISC_IPA, 16, false}, VIRTIO_BLK_S_UNSUPP},
	    {{0x80000001u, 0, VG_DATA_IPA, 512, false}, VIRTIO_BLK_S_UNSUPP}, /* legacy barrier bit */
	    {{VIRTIO_BLK_T_GET_ID, 0, VG_DATA_IPA, 20, false}, VIRTIO_BLK_S_IOERR},
	};
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		uint16_t head = vg_blk_submit(g, i, &cases[i].r);
		assert_int_equal(vg_status(g, i), cases[i].status);
		/* Nothing was written at the front of the writable part: len covers the status only if alone.
		 */
		expect_used(g, (uint16_t)i, head, cases[i].r.data_len && cases[i].r.data_writable ? 0 : 1);
	}
	assert_int_equal(vg_blk_stats(g).errors, ARRAY_SIZE(cases));
	assert_int_equal(vg_blk_stats(g).io_errors, 0); /* the guest's mistakes, not the device's */
	assert_int_equal(vg_blk_stats(g).bytes_read + vg_blk_stats(g).bytes_written, 0);
	assert_int_equal(vg_irqs(g), ARRAY_SIZE(cases));
	/* The disk is untouched. */
	for (uint64_t i = 0; i < g->disk_size; i++)
		if (g->disk[i] != vg_disk_byte(i))
			fail_msg("disk byte %llu changed", (unsigned long long)i);
	/* Still live. */
	assert_int_equal(vg_rd(g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	down(g);
}

static void test_read_only(void **state)
{
	(void)state;
	struct vg_opts o = {.backend_ro = true};
	struct vg *g = up(&o, ALL);
	assert_true(g->features & BIT(VIRTIO_BLK_F_RO));
	memset(vg_ptr(g, VG_DATA_IPA), 0x77, 512);
	struct vg_req w = {VIRTIO_BLK_T_OUT, 5, VG_DATA_IPA, 512, false};
	vg_blk_submit(g, 0, &w);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(g->disk[5 * 512], vg_disk_byte(5 * 512));
	struct vg_req z = {VIRTIO_BLK_T_WRITE_ZEROES, 0, VG_MISC_IPA, 16, false};
	put_range(g, 5, 1, 0);
	vg_blk_submit(g, 1, &z);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_UNSUPP); /* not offered on a read-only disk */
	struct vg_req r = {VIRTIO_BLK_T_IN, 5, VG_DATA_IPA, 512, true};
	vg_blk_submit(g, 2, &r);
	assert_int_equal(vg_status(g, 2), VIRTIO_BLK_S_OK);
	down(g);
}

/* --- framing: the device must not assume descriptor layout (§2.6.4) -------------- */

static void test_any_layout(void **state)
{
	(void)state;
	struct vg *g = up(NULL, ALL);
	struct virtio_blk_outhdr *h = vg_ptr(g, VG_MISC_IPA);
	uint8_t *buf = vg_ptr(g, VG_DATA_IPA);

	/* Header split 5 + 11 across two descriptors; data and status share one writable descriptor. */
	h->type = VIRTIO_BLK_T_IN;
	h->reserved = 0;
	h->sector = 3;
	buf[1024] = 0xff;
	vg_set_desc(g, 0, VG_MISC_IPA, 5, VIRTQ_DESC_F_NEXT, 1);
	vg_set_desc(g, 1, VG_MISC_IPA + 5, 11, VIRTQ_DESC_F_NEXT, 2);
	vg_set_desc(g, 2, VG_DATA_IPA, 1025, VIRTQ_DESC_F_WRITE, 0);
	vg_publish(g, 0);
	vg_notify(g);
	assert_int_equal(buf[1024], VIRTIO_BLK_S_OK);
	expect_used(g, 0, 0, 1025);
	assert_int_equal(buf[0], vg_disk_byte(3 * 512));
	assert_int_equal(buf[1023], vg_disk_byte(5 * 512 - 1));

	/* A write whose header and data sit in one readable descriptor; data split oddly too. */
	uint8_t *w = vg_ptr(g, VG_DATA_IPA + 0x8000);
	struct virtio_blk_outhdr wh = {VIRTIO_BLK_T_OUT, 0, 40};
	memcpy(w, &wh, 16);
	for (unsigned i = 0; i < 1024; i++)
		w[16 + i] = (uint8_t)(0x30 + i);
	vg_set_desc(g, 3, VG_DATA_IPA + 0x8000, 16 + 100, VIRTQ_DESC_F_NEXT, 4);
	vg_set_desc(g, 4, VG_DATA_IPA + 0x8000 + 116, 1024 - 100, VIRTQ_DESC_F_NEXT, 5);
	vg_set_desc(g, 5, VG_STATUS_IPA, 1, VIRTQ_DESC_F_WRITE, 0);
	vg_publish(g, 3);
	vg_notify(g);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	assert_memory_equal(g->disk + 40 * 512, w + 16, 1024);
	assert_int_equal(vg_blk_stats(g).bytes_copied, 0); /* only the header was copied by keel */
	down(g);
}

static void test_indirect_request(void **state)
{
	(void)state;
	struct vg *g = up(NULL, ALL);
	struct virtq_desc *t = vg_ptr(g, VG_MISC_IPA);
	struct virtio_blk_outhdr *h = vg_ptr(g, VG_HDR_IPA);
	h->type = VIRTIO_BLK_T_IN;
	h->sector = 7;
	*(uint8_t *)vg_ptr(g, VG_STATUS_IPA) = 0xff;
	t[0] = (struct virtq_desc){VG_HDR_IPA, 16, VIRTQ_DESC_F_NEXT, 1};
	t[1] = (struct virtq_desc){VG_DATA_IPA, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2};
	t[2] = (struct virtq_desc){VG_DATA_IPA + 0x4000, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3};
	t[3] = (struct virtq_desc){VG_STATUS_IPA, 1, VIRTQ_DESC_F_WRITE, 0};
	vg_set_desc(g, 9, VG_MISC_IPA, 4 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	vg_publish(g, 9);
	vg_notify(g);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	expect_used(g, 0, 9, 1025);
	assert_int_equal(*(uint8_t *)vg_ptr(g, VG_DATA_IPA + 0x4000), vg_disk_byte(8 * 512));
	down(g);

	/* An indirect table at any alignment (the spec sets none): read correctly, served. */
	g = up(NULL, ALL);
	t = vg_ptr(g, VG_MISC_IPA + 8);
	h = vg_ptr(g, VG_HDR_IPA);
	h->type = VIRTIO_BLK_T_IN;
	h->sector = 3;
	*(uint8_t *)vg_ptr(g, VG_STATUS_IPA) = 0xff;
	struct virtq_desc ut[3] = {{VG_HDR_IPA, 16, VIRTQ_DESC_F_NEXT, 1},
				   {VG_DATA_IPA, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2},
				   {VG_STATUS_IPA, 1, VIRTQ_DESC_F_WRITE, 0}};
	memcpy(t, ut, sizeof(ut));
	vg_set_desc(g, 9, VG_MISC_IPA + 8, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	vg_publish(g, 9);
	vg_notify(g);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	expect_used(g, 0, 9, 513);
	assert_int_equal(*(uint8_t *)vg_ptr(g, VG_DATA_IPA + 5), vg_disk_byte(3 * 512 + 5));
	down(g);

	/* Without the feature the same request cannot be walked: DEVICE_NEEDS_RESET, nothing used. */
	g = up(NULL, ~BIT(VIRTIO_F_INDIRECT_DESC));
	t = vg_ptr(g, VG_MISC_IPA);
	t[0] = (struct virtq_desc){VG_HDR_IPA, 16, VIRTQ_DESC_F_NEXT, 1};
	t[1] = (struct virtq_desc){VG_STATUS_IPA, 1, VIRTQ_DESC_F_WRITE, 0};
	*(uint8_t *)vg_ptr(g, VG_STATUS_IPA) = 0xff;
	vg_set_desc(g, 9, VG_MISC_IPA, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	vg_publish(g, 9);
	vg_notify(g);
	assert_true(vg_rd(g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_int_equal(vg_used_idx(g), 0);
	assert_int_equal(vg_status(g, 0), 0xff);
	assert_int_equal(vg_blk_stats(g).errors, 1);
	down(g);
}

/* --- hostile chains and rings ----------------------------------------------------- */

/* A 4 KiB-block backend without a bounce buffer: a driver that does not take BLK_SIZE cannot finish
 * FEATURES_OK (§5.2.5). (With one, sub-block I/O is served: test_virtio_blk_rmw.c.) */
static void test_blk_size_must_be_negotiated(void **state)
{
	(void)state;
	struct vg_opts o = {.block_size = 4096, .no_bounce = true};
	struct vg *g = vg_create(&o);
	fake_vgic_reset();
	assert_false(vg_driver_init(g, ALL & ~BIT(VIRTIO_BLK_F_BLK_SIZE), QSIZE));
	assert_int_equal(vg_rd(g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK, 0);
	assert_true(vg_destroy(g));
	/* With BLK_SIZE it works, and 4 KiB-aligned I/O is served. */
	g = up(&o, ALL);
	assert_int_equal(vg_rd(g, 0x114), 4096); /* config blk_size */
	struct vg_req r = {VIRTIO_BLK_T_IN, 8, VG_DATA_IPA, 4096, true};
	vg_blk_submit(g, 0, &r);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	/* 512-byte-granular I/O on it is an I/O error, never success. */
	struct vg_req odd = {VIRTIO_BLK_T_IN, 9, VG_DATA_IPA, 4096, true};
	vg_blk_submit(g, 1, &odd);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_IOERR);
	down(g);
	/* A 512-byte backend accepts a driver without BLK_SIZE. */
	g = up(NULL, ALL & ~BIT(VIRTIO_BLK_F_BLK_SIZE));
	down(g);
}

/* The answer rule (virtq_pop): a malformed chain never looks like success to its driver. */
static void test_malformed_chains(void **state)
{
	(void)state;
	struct vg *g = up(NULL, ~BIT(VIRTIO_F_EVENT_IDX)); /* one interrupt per completion */
	uint16_t n = 0;
	/* Data buffer outside guest RAM, status byte inside: IOERR there, the used length counts it. */
	struct vg_req r = {VIRTIO_BLK_T_IN, 0, VG_RAM_IPA + VG_RAM_SIZE - 256, 512, true};
	uint16_t head = vg_blk_submit(g, 0, &r);
	expect_used(g, n++, head, 1);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_IOERR);
	/* A wrapping data buffer: the same. */
	struct vg_req w = {VIRTIO_BLK_T_OUT, 0, 0xfffffffffffff000ULL, 0x2000, false};
	head = vg_blk_submit(g, 1, &w);
	expect_used(g, n++, head, 1);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_IOERR);
	/* Readable after writable, ending in a writable status byte: IOERR. */
	*(uint8_t *)vg_ptr(g, VG_STATUS_IPA + 2) = 0xff;
	vg_set_desc(g, 13, VG_DATA_IPA, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 14);
	vg_set_desc(g, 14, VG_HDR_IPA, 16, VIRTQ_DESC_F_NEXT, 15);
	vg_set_desc(g, 15, VG_STATUS_IPA + 2, 1, VIRTQ_DESC_F_WRITE, 0);
	vg_publish(g, 13);
	vg_notify(g);
	expect_used(g, n++, 13, 1);
	assert_int_equal(vg_status(g, 2), VIRTIO_BLK_S_IOERR);
	/* No writable byte at all: nowhere for a status; returned untouched. */
	vg_set_desc(g, 16, VG_HDR_IPA, 16, 0, 0);
	vg_publish(g, 16);
	vg_notify(g);
	expect_used(g, n++, 16, 0);
	/* Header shorter than 16 bytes: IOERR in the status byte. */
	vg_set_desc(g, 17, VG_HDR_IPA, 8, VIRTQ_DESC_F_NEXT, 18);
	vg_set_desc(g, 18, VG_STATUS_IPA + 3, 1, VIRTQ_DESC_F_WRITE, 0);
	*(uint8_t *)vg_ptr(g, VG_STATUS_IPA + 3) = 0xff;
	vg_publish(g, 17);
	vg_notify(g);
	expect_used(g, n++, 17, 1);
	assert_int_equal(vg_status(g, 3), VIRTIO_BLK_S_IOERR);
	assert_int_equal(vg_blk_stats(g).errors, n);
	assert_int_equal(vg_irqs(g), n);
	/* The device is still live and serves a good request. */
	assert_int_equal(vg_rd(g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	struct vg_req ok = {VIRTIO_BLK_T_IN, 1, VG_DATA_IPA, 512, true};
	vg_blk_submit(g, 20, &ok);
	assert_int_equal(vg_status(g, 20), VIRTIO_BLK_S_OK);
	down(g);
}

/* Chains whose status byte cannot be trusted: DEVICE_NEEDS_RESET, no used entry, nothing written. */
static void expect_needs_reset(struct vg *g, uint16_t head)
{
	*(uint8_t *)vg_ptr(g, VG_STATUS_IPA) = 0xff;
	vg_publish(g, head);
	vg_notify(g);
	assert_true(vg_rd(g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_int_equal(vg_used_idx(g), 0);
	assert_int_equal(vg_status(g, 0), 0xff);
	assert_int_equal(vg_blk_stats(g).errors, 1);
	down(g);
}

static void test_untrustworthy_chains(void **state)
{
	(void)state;
	struct vg *g = up(NULL, ALL);
	vg_set_desc(g, 10, VG_HDR_IPA, 16, VIRTQ_DESC_F_NEXT, QSIZE + 5); /* next out of range */
	expect_needs_reset(g, 10);
	g = up(NULL, ALL);
	vg_set_desc(g, 11, VG_HDR_IPA, 16, VIRTQ_DESC_F_NEXT, 12); /* a loop */
	vg_set_desc(g, 12, VG_STATUS_IPA, 1, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 11);
	expect_needs_reset(g, 11);
	g = up(NULL, ALL);
	vg_set_desc(g, 13, VG_STATUS_IPA, 1, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 14); /* ends readable */
	vg_set_desc(g, 14, VG_HDR_IPA, 16, 0, 0);
	expect_needs_reset(g, 13);
	g = up(NULL, ALL);
	vg_set_desc(g, 15, VG_HDR_IPA, 8, VIRTQ_DESC_F_NEXT, 16); /* malformed, status outside RAM */
	vg_set_desc(g, 16, VG_RAM_IPA + VG_RAM_SIZE, 1, VIRTQ_DESC_F_WRITE, 0);
	expect_needs_reset(g, 15);
	/* An indirect table nested in another. */
	g = up(NULL, ALL);
	struct virtq_desc *t = vg_ptr(g, VG_MISC_IPA);
	t[0] = (struct virtq_desc){VG_MISC_IPA, 16, VIRTQ_DESC_F_INDIRECT, 0};
	vg_set_desc(g, 17, VG_MISC_IPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_needs_reset(g, 17);
}

static void test_ring_error_needs_reset(void **state)
{
	(void)state;
	struct vg *g = up(NULL, ALL);
	struct virtq_avail *a = vg_ptr(g, VG_AVAIL_IPA);
	a->idx = QSIZE + 1; /* claims more entries than the ring holds */
	vg_notify(g);
	uint32_t st = vg_rd(g, VIRTIO_MMIO_STATUS);
	assert_true(st & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_true(st & VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(vg_rd(g, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(vg_irqs(g), 1);
	assert_int_equal(vg_used_idx(g), 0);
	/* Further notifies do nothing. */
	a->idx = 1;
	vg_notify(g);
	assert_int_equal(vg_used_idx(g), 0);
	/* Reset and re-initialise: the device works again. */
	assert_true(vg_driver_init(g, ALL, QSIZE));
	struct vg_req ok = {VIRTIO_BLK_T_IN, 1, VG_DATA_IPA, 512, true};
	vg_blk_submit(g, 0, &ok);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	down(g);

	/* A head index out of range is also a ring error. */
	g = up(NULL, ALL);
	vg_publish(g, QSIZE + 3);
	vg_notify(g);
	assert_true(vg_rd(g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	down(g);
}

/* --- interrupt suppression -------------------------------------------------------- */

static void test_interrupt_suppression(void **state)
{
	(void)state;
	struct vg *g = up(NULL, ~BIT(VIRTIO_F_EVENT_IDX));
	struct virtq_avail *a = vg_ptr(g, VG_AVAIL_IPA);
	struct vg_req r = {VIRTIO_BLK_T_IN, 1, VG_DATA_IPA, 512, true};
	a->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	vg_blk_submit(g, 0, &r);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_irqs(g), 0);
	a->flags = 0;
	vg_blk_submit(g, 1, &r);
	assert_int_equal(vg_irqs(g), 1);
	down(g);

	g = up(NULL, ALL);
	a = vg_ptr(g, VG_AVAIL_IPA);
	uint16_t *used_event = &a->ring[QSIZE];
	uint16_t *avail_event = (uint16_t *)&((struct virtq_used *)vg_ptr(g, VG_USED_IPA))->ring[QSIZE];
	vg_blk_submit(g, 0, &r);
	assert_int_equal(vg_irqs(g), 1);
	assert_int_equal(*avail_event, 1); /* the device asks to be kicked for the next entry */
	*used_event = 3;		   /* interrupt only once entry 3 is used */
	vg_blk_submit(g, 1, &r);
	vg_blk_submit(g, 2, &r);
	assert_int_equal(vg_irqs(g), 1);
	vg_blk_submit(g, 3, &r);
	assert_int_equal(vg_irqs(g), 2);
	/* Several requests in one kick complete with one interrupt. */
	*used_event = 4;
	for (unsigned i = 4; i < 8; i++) {
		struct virtio_blk_outhdr *h = vg_ptr(g, VG_HDR_IPA + 16 * i);
		h->type = VIRTIO_BLK_T_IN;
		h->sector = i;
		vg_set_desc(g, (uint16_t)(3 * i), VG_HDR_IPA + 16 * i, 16, VIRTQ_DESC_F_NEXT,
			    (uint16_t)(3 * i + 1));
		vg_set_desc(g, (uint16_t)(3 * i + 1), VG_STATUS_IPA + i, 1, VIRTQ_DESC_F_WRITE, 0);
		vg_publish(g, (uint16_t)(3 * i));
	}
	vg_notify(g);
	assert_int_equal(vg_used_idx(g), 8);
	assert_int_equal(vg_irqs(g), 3);
	down(g);
}

/* The driver's side of EVENT_IDX (Linux's vring_need_event): must it notify for old..new? */
static bool driver_would_notify(struct vg *g, uint16_t old_idx, uint16_t new_idx)
{
	struct virtq_used *u = vg_ptr(g, VG_USED_IPA);
	if (!(g->features & BIT(VIRTIO_F_EVENT_IDX)))
		return !(u->flags & VIRTQ_USED_F_NO_NOTIFY);
	uint16_t event = *(uint16_t *)&u->ring[QSIZE];
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/*
 * With VIRTIO_BLK_QUIET_INFLIGHT (2) or more requests in flight, a pass that empties the ring
 * turns the driver's notifications off: what the driver adds meanwhile is taken by the pass that
 * each completion asks of the VM's vCPU, with no notify. Below that the ring is armed again.
 */
static void test_notify_off_while_in_flight(void **state)
{
	(void)state;
	uint64_t feats[] = {ALL, ~BIT(VIRTIO_F_EVENT_IDX)};
	for (unsigned f = 0; f < 2; f++) {
		struct vg_opts o = {.slow = true};
		struct vg *g = up(&o, feats[f]);
		vg_queue_reads(g, 0, 1);
		vg_notify(g);
		assert_true(driver_would_notify(g, 1, 2)); /* one in flight: notifications stay on */
		vg_queue_reads(g, 1, 1);
		vg_notify(g);
		assert_int_equal(g->slow.count, 2);
		assert_false(driver_would_notify(g, 2, 3)); /* two in flight: off */
		assert_int_equal(vg_blk_stats(g).quiet_passes, 1);

		/* The driver adds three without notifying; a completion asks for a pass, which takes them. */
		vg_queue_reads(g, 2, 3);
		assert_int_equal(vg_blk_stats(g).requests, 2);
		fake_vm_work_reset();
		slowdisk_complete_all(&g->slow);
		assert_int_equal(vg_blk_stats(g).requests, 2); /* never in completion context */
		assert_true(fake_vm_work_calls(g->vm) >= 1);
		vg_run_work(g, 4);
		assert_int_equal(vg_blk_stats(g).requests, 5);
		assert_int_equal(g->slow.count, 3);
		assert_false(driver_would_notify(g, 5, 6)); /* three in flight: still off */

		/* Everything completes: the next pass arms the ring for the driver's next buffer. */
		slowdisk_complete_all(&g->slow);
		vg_run_work(g, 4);
		assert_true(driver_would_notify(g, 5, 6));
		struct virtio_blk_stats st = vg_blk_stats(g);
		assert_int_equal(st.notifications, 2);
		assert_int_equal(vg_used_idx(g), 5);
		for (unsigned i = 0; i < 5; i++) {
			assert_int_equal(vg_status(g, i), VIRTIO_BLK_S_OK);
			const uint8_t *data = vg_ptr(g, VG_DATA_IPA + 512 * i);
			for (unsigned b = 0; b < 512; b++)
				assert_int_equal(data[b], vg_disk_byte(i * 512 + b));
		}
		down(g);
	}
}

/*
 * One large request in flight (over VIRTIO_BLK_POLL_LARGE_SECTORS) also turns notifications off
 * (lone_large): a driver at depth adds its next requests while it runs, and its completion's pass
 * takes them. A lone small one leaves them on (test_notify_off_while_in_flight).
 */
static void test_notify_off_for_a_lone_large_request(void **state)
{
	(void)state;
	uint64_t feats[] = {ALL, ~BIT(VIRTIO_F_EVENT_IDX)};
	const uint32_t big = (VIRTIO_BLK_POLL_LARGE_SECTORS + 8) * 512;
	for (unsigned f = 0; f < 2; f++) {
		struct vg_opts o = {.slow = true};
		struct vg *g = up(&o, feats[f]);
		struct vg_req r = {VIRTIO_BLK_T_IN, 16, VG_DATA_IPA, big, true};
		vg_blk_submit(g, 0, &r);
		assert_int_equal(g->slow.count, 1);
		assert_false(driver_would_notify(g, 1, 2));
		assert_int_equal(vg_blk_stats(g).quiet_passes, 1);

		/* Two small reads added without a notify: the large one's completion brings the pass. */
		for (unsigned i = 1; i < 3; i++) {
			struct vg_req sr = {VIRTIO_BLK_T_IN, i, VG_DATA_IPA + big + 512 * i, 512, true};
			vg_blk_queue(g, i, &sr);
		}
		fake_vm_work_reset();
		slowdisk_complete_all(&g->slow);
		assert_int_equal(vg_blk_stats(g).requests, 1);
		assert_true(fake_vm_work_calls(g->vm) >= 1);
		vg_run_work(g, 4);
		assert_int_equal(vg_blk_stats(g).requests, 3);
		assert_int_equal(g->slow.count, 2);

		slowdisk_complete_all(&g->slow);
		vg_run_work(g, 4);
		assert_true(driver_would_notify(g, 3, 4)); /* nothing in flight: armed */
		assert_int_equal(vg_blk_stats(g).notifications, 1);
		assert_int_equal(vg_used_idx(g), 3);
		for (unsigned i = 0; i < 3; i++)
			assert_int_equal(vg_status(g, i), VIRTIO_BLK_S_OK);
		const uint8_t *data = vg_ptr(g, VG_DATA_IPA);
		for (unsigned b = 0; b < big; b++)
			assert_int_equal(data[b], vg_disk_byte(16 * 512 + b));
		for (unsigned i = 1; i < 3; i++) {
			data = vg_ptr(g, VG_DATA_IPA + big + 512 * i);
			for (unsigned b = 0; b < 512; b++)
				assert_int_equal(data[b], vg_disk_byte(i * 512 + b));
		}
		down(g);
	}
}

/* --- zero copy and segment splitting --------------------------------------------- */

static void test_segment_splitting(void **state)
{
	(void)state;
	struct vg_opts o = {.max_seg_size = 1024, .slow = true};
	struct vg *g = up(&o, ALL);
	struct vg_req r = {VIRTIO_BLK_T_IN, 2, VG_DATA_IPA + 0x100, 4096, true};
	vg_blk_submit(g, 0, &r);
	assert_int_equal(g->slow.count, 1);
	struct blk_req *req = g->slow.queue[0];
	assert_int_equal(req->nsegs, 4);
	for (unsigned i = 0; i < 4; i++) {
		/* Zero copy: the segments are the guest's own buffer. */
		assert_ptr_equal(pa_to_ptr(req->segs[i].pa), vg_ptr(g, VG_DATA_IPA + 0x100 + 1024 * i));
		assert_int_equal(req->segs[i].len, 1024);
	}
	assert_int_equal(vg_status(g, 0), 0xff); /* not complete yet */
	assert_int_equal(vg_used_idx(g), 0);
	slowdisk_complete_all(&g->slow);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_used_idx(g), 1);
	assert_int_equal(vg_irqs(g), 1);
	down(g);

	/* Larger than the backend's max_sectors (a conforming driver never sends it): split into
	 * several backend requests (test_virtio_blk_split.c). */
	struct vg_opts few = {.max_sectors = 8};
	g = up(&few, ALL);
	/* size_max stays the backend's segment size: a conforming driver's request may exceed max_sectors. */
	assert_int_equal(vg_rd(g, 0x108),
			 MIN(RAMDISK_MAX_SEG_SIZE, VIRTIO_BLK_SPLIT_MAX_BYTES / vg_rd(g, 0x10c)));
	assert_true((uint64_t)vg_rd(g, 0x108) * vg_rd(g, 0x10c) > 8 * 512);
	vg_blk_submit(g, 0, &r);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_blk_stats(g).split_requests, 0);
	r.data_len = 8192;
	vg_blk_submit(g, 1, &r);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_blk_stats(g).split_requests, 1);
	r.data_len = 4096;
	down(g);

	/* More segments than seg_max from a driver that accepted SEG_MAX: IOERR (one that did not is
	 * split, test_virtio_blk_split.c). */
	struct vg_opts tight = {.max_seg_size = 1024, .max_segs = 2};
	g = up(&tight, ALL);
	vg_blk_submit(g, 0, &r);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(vg_blk_stats(g).split_requests, 0);
	down(g);
}

/* --- asynchronous backend: EBUSY, failures, reset with requests in flight -------- */

/* More requests than keel has slots: the rest wait in the ring and are taken as slots free up. */
static void test_more_requests_than_slots(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true};
	struct vg *g = vg_create(&o);
	fake_vgic_reset();
	fake_vm_work_reset();
	assert_true(vg_driver_init(g, ALL, 256));
	unsigned n = VIRTIO_BLK_SLOTS + 16; /* 3 descriptors each: fits a 256-entry queue */
	vg_submit_reads(g, 0, n);
	assert_int_equal(g->slow.count, VIRTIO_BLK_SLOTS);
	assert_int_equal(g->blk->queues[0].nfree, 0);
	/* Completions free slots and ask for work; the VM's vCPU takes the rest of the ring. */
	slowdisk_complete_all(&g->slow);
	assert_int_equal(g->slow.count, 0);
	assert_true(fake_vm_work_pending(g->vm));
	vg_run_work(g, 4);
	assert_int_equal(g->slow.count, 16);
	slowdisk_complete_all(&g->slow);
	vg_run_work(g, 4);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(vg_status(g, i), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_used_idx(g), n);
	assert_int_equal(g->blk->queues[0].nfree, VIRTIO_BLK_SLOTS);
	down(g);
}

/*
 * One notify with several requests: each reaches the backend with the batching hint and the pump
 * commits once, after the last (also when it stops at a BLK_EBUSY).
 */
static void test_pump_commits_batch_once(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true};
	struct vg *g = up(&o, ALL);
	vg_queue_reads(g, 0, 6);
	unsigned c0 = g->slow.commits; /* DRIVER_OK's pump pass commits too */
	vg_notify(g);
	assert_int_equal(g->slow.count, 6);
	assert_int_equal(g->slow.hinted, 6);
	assert_int_equal(g->slow.commits, c0 + 1);
	assert_int_equal(g->slow.count_at_commit, 6); /* after the last submit */
	slowdisk_complete_all(&g->slow);
	vg_run_work(g, 4);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(vg_status(g, i), VIRTIO_BLK_S_OK);
	down(g);

	/* The pass that stops at a refusal commits what it submitted before it. */
	o.slow_capacity = 2;
	g = up(&o, ALL);
	vg_queue_reads(g, 0, 5);
	c0 = g->slow.commits;
	vg_notify(g);
	assert_int_equal(g->slow.count, 2);
	assert_int_equal(g->slow.commits, c0 + 1);
	assert_int_equal(g->slow.count_at_commit, 2);
	unsigned total = 0;
	for (unsigned round = 0; round < 4 && vg_used_idx(g) < 5; round++) {
		unsigned c = g->slow.commits;
		slowdisk_complete_all(&g->slow);
		unsigned passes = vg_run_work(g, 1);
		total += passes;
		assert_int_equal(g->slow.commits, c + passes); /* each pump pass commits once */
		if (passes > 0)
			assert_int_equal(g->slow.count_at_commit, g->slow.count);
	}
	assert_true(total >= 2); /* the refused ones came back through work, committed each time */
	slowdisk_complete_all(&g->slow);
	assert_int_equal(vg_used_idx(g), 5);
	down(g);
}

static void test_backend_busy(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true, .slow_capacity = 2};
	struct vg *g = up(&o, ALL);
	vg_submit_reads(g, 0, 5);
	assert_int_equal(g->slow.count, 2);	       /* the rest waits for a completion */
	assert_int_equal(vg_blk_stats(g).requests, 3); /* the third was popped, then refused with EBUSY */
	slowdisk_complete_all(&g->slow);	       /* the backend's wake-up asks for work... */
	assert_int_equal(vg_used_idx(g), 2);
	vg_run_work(g, 1); /* ...which resumes the queue on the VM's vCPU */
	assert_int_equal(g->slow.count, 2);
	slowdisk_complete_all(&g->slow);
	vg_run_work(g, 1);
	slowdisk_complete_all(&g->slow);
	assert_int_equal(g->slow.count, 0);
	assert_int_equal(vg_used_idx(g), 5);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(vg_status(g, i), VIRTIO_BLK_S_OK);
		assert_int_equal(*(uint8_t *)vg_ptr(g, VG_DATA_IPA + 512 * i), vg_disk_byte(512ull * i));
	}
	assert_int_equal(vg_blk_stats(g).bytes_read, 5 * 512);

	/* A backend failure is IOERR, and len 0 for a read (the data may not have been written). */
	g->slow.fail_next = true;
	vg_submit_reads(g, 10, 1);
	slowdisk_complete_all(&g->slow);
	assert_int_equal(vg_status(g, 10), VIRTIO_BLK_S_IOERR);
	expect_used(g, 5, 30, 0);
	assert_int_equal(vg_blk_stats(g).errors, 1);
	assert_int_equal(vg_blk_stats(g).io_errors, 1); /* counted as the device's error */
	down(g);
}

static void test_write_through_without_flush(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true};
	struct vg *g = up(&o, NO_FLUSH);
	struct vg_req w = {VIRTIO_BLK_T_OUT, 9, VG_DATA_IPA, 512, false};
	vg_blk_submit(g, 0, &w);
	assert_int_equal(g->slow.queue[0]->op, BLK_OP_WRITE);
	struct blk_req *req = g->slow.queue[0];
	g->slow.count = 0;
	blkdev_submit(g->slow.inner, req);	 /* the write completes... */
	assert_int_equal(vg_status(g, 0), 0xff); /* ...but is reported only after a flush */
	assert_int_equal(g->slow.count, 0);	 /* submitted by the VM's own vCPU, not here */
	assert_true(vg_run_work(g, 1) == 1);
	assert_int_equal(g->slow.count, 1);
	assert_int_equal(g->slow.queue[0]->op, BLK_OP_FLUSH);
	slowdisk_complete_all(&g->slow);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	down(g);
}

static void test_reset_quiesces_in_flight(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true, .slow_capacity = 3};
	struct vg *g = up(&o, ALL);
	uint8_t *data = vg_ptr(g, VG_DATA_IPA);
	memset(data, 0x5a, 512 * 5);
	for (unsigned i = 0; i < 5; i++) {
		struct vg_req w = {VIRTIO_BLK_T_OUT, 200 + i, VG_DATA_IPA + 512 * i, 512, false};
		vg_blk_submit(g, i, &w);
	}
	assert_int_equal(g->slow.count, 3);
	unsigned before = vg_irqs(g);
	vg_wr(g, VIRTIO_MMIO_STATUS, 0);
	/* The reset waited for the three in flight; the two never submitted were dropped. */
	assert_int_equal(g->slow.count, 0);
	assert_int_equal(vg_rd(g, VIRTIO_MMIO_STATUS), 0);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(g->disk[(200 + i) * 512], 0x5a);
	for (unsigned i = 3; i < 5; i++)
		assert_int_equal(g->disk[(200 + i) * 512], vg_disk_byte((200 + i) * 512ull));
	/* Queue state was being torn down: no used entries, no interrupt, status bytes untouched. */
	assert_int_equal(vg_used_idx(g), 0);
	assert_int_equal(vg_irqs(g), before);
	assert_int_equal(vg_status(g, 0), 0xff);
	assert_int_equal(g->blk->queues[0].nfree, VIRTIO_BLK_SLOTS);
	/* And the device comes back. */
	assert_true(vg_driver_init(g, ALL, QSIZE));
	vg_submit_reads(g, 0, 1);
	slowdisk_complete_all(&g->slow);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	down(g);
}

static void test_reset_with_stuck_backend(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true};
	struct vg *g = up(&o, ALL);
	vg_submit_reads(g, 0, 2);
	g->slow.stuck = true;
	vg_wr(g, VIRTIO_MMIO_STATUS, 0); /* bounded: gives up and orphans the two slots */
	assert_int_equal(vg_rd(g, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(g->blk->queues[0].norphaned, 2);
	assert_int_equal(g->blk->queues[0].nfree, VIRTIO_BLK_SLOTS - 2);
	assert_true(vg_driver_init(g, ALL, QSIZE));
	/* The late completions free their slots and touch nothing of the new session. */
	g->slow.stuck = false;
	slowdisk_complete_all(&g->slow);
	assert_int_equal(g->blk->queues[0].norphaned, 0);
	assert_int_equal(g->blk->queues[0].nfree, VIRTIO_BLK_SLOTS);
	assert_int_equal(vg_used_idx(g), 0);
	vg_submit_reads(g, 5, 1);
	slowdisk_complete_all(&g->slow);
	assert_int_equal(vg_status(g, 5), VIRTIO_BLK_S_OK);
	expect_used(g, 0, 15, 513);
	down(g);
}

static void test_buffers_before_driver_ok(void **state)
{
	(void)state;
	struct vg *g = vg_create(NULL);
	fake_vgic_reset();
	/* Notifies before the queue is live are spurious and ignored (no access to guest RAM). */
	vg_wr(g, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(vg_blk_stats(g).requests, 0);
	assert_true(vg_driver_init(g, ALL, QSIZE));
	down(g);
}

/* --- isolation: budgeted queue processing, wake-ups, quiesce and reset ------------------------ */

/* A hostile "second vCPU" of the guest: every request the backend takes puts another in the ring. */
static unsigned refills;

static void refill_on_submit(struct slowdisk *s, struct blk_req *req)
{
	(void)req;
	struct vg *g = s->hook_ctx;
	if (refills == 0)
		return;
	refills--;
	vg_publish(g, 0); /* the same read again: the avail ring never runs dry */
}

/* One notify or work call pops at most one queue's worth, then says more remains; the guest runs in
 * between and the rest is still processed, without further notifies. */
static void test_pump_budget(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true};
	struct vg *g = up(&o, ALL);
	g->slow.inline_done = true;
	g->slow.on_submit = refill_on_submit;
	g->slow.hook_ctx = g;
	refills = 100000; /* far more than a budget: without one the notify would not return soon */
	vg_submit_reads(g, 0, 1);
	assert_int_equal(vg_blk_stats(g).requests, QSIZE); /* exactly one queue's worth */
	assert_int_equal(vg_blk_stats(g).work_yields, 1);
	assert_int_equal(fake_vm_work_calls(g->vm), 1); /* and asked to come back */
	assert_int_equal(vg_used_idx(g), QSIZE);
	/* Each work pass is bounded the same way and asks again while the guest keeps the ring full. */
	assert_true(virtio_blk_work(g->blk));
	assert_int_equal(vg_blk_stats(g).requests, 2 * QSIZE);
	/* The guest stops refilling; the entries it left are processed by work alone (no notify). */
	refills = 10;
	uint64_t notifies = vg_blk_stats(g).notifications;
	unsigned passes = vg_run_work(g, 8);
	assert_true(passes >= 1 && passes < 8);
	assert_false(fake_vm_work_pending(g->vm));
	assert_int_equal(vg_blk_stats(g).notifications, notifies);
	uint16_t avail = ((struct virtq_avail *)vg_ptr(g, VG_AVAIL_IPA))->idx;
	assert_int_equal(vg_used_idx(g), avail);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	/* Once empty the ring is re-armed (EVENT_IDX: avail_event = next entry): the guest notifies. */
	assert_int_equal(*(uint16_t *)vg_ptr(g, VG_USED_IPA + 4 + 8 * QSIZE), avail);
	assert_false(virtio_blk_work(g->blk));
	down(g);
}

/* Completing a request (the fake interrupt) leaves new avail entries alone: it only finishes the
 * slot, injects, and asks the VM's vCPU (the one that notified) for work. */
static void test_completion_never_pops(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true};
	struct vg *g = vg_create(&o);
	fake_vgic_reset();
	fake_vm_work_reset();
	assert_true(vg_driver_init(g, ALL, 256));
	/* Fill every slot (notified from vCPU 2), then publish more without a notify. */
	unsigned n = VIRTIO_BLK_SLOTS;
	vg_submit_reads(g, 0, n - 1);
	struct vcpu *v = calloc(1, sizeof(*v));
	assert_non_null(v);
	v->index = 2;
	struct vg_req r = {VIRTIO_BLK_T_IN, n - 1, VG_DATA_IPA + 512 * (n - 1), 512, true};
	uint16_t d0 = (uint16_t)(3 * (n - 1));
	vg_blk_submit(g, n - 1, &r); /* builds and notifies (vCPU NULL) ... */
	struct mmio_access acc = {.ipa = ipa_init(VG_MMIO_BASE + VIRTIO_MMIO_QUEUE_NOTIFY),
				  .size = 4,
				  .write = true,
				  .value = 0,
				  .reg64 = true};
	assert_int_equal(mmio_bus_dispatch(&g->bus, v, &acc), 0); /* ... and vCPU 2 notifies again */
	(void)d0;
	assert_int_equal(g->blk->queues[0].nfree, 0);
	for (unsigned i = n; i < n + 8; i++) {
		struct vg_req x = {VIRTIO_BLK_T_IN, i, VG_DATA_IPA + 512 * i, 512, true};
		uint16_t h = (uint16_t)(3 * i);
		vg_set_desc(g, h, VG_HDR_IPA + 16ull * i, 16, VIRTQ_DESC_F_NEXT, h + 1);
		((struct virtio_blk_outhdr *)vg_ptr(g, VG_HDR_IPA + 16ull * i))->type = x.type;
		((struct virtio_blk_outhdr *)vg_ptr(g, VG_HDR_IPA + 16ull * i))->sector = x.sector;
		vg_set_desc(g, h + 1, x.data_ipa, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, h + 2);
		vg_set_desc(g, h + 2, VG_STATUS_IPA + i, 1, VIRTQ_DESC_F_WRITE, 0);
		*(uint8_t *)vg_ptr(g, VG_STATUS_IPA + i) = 0xff;
		vg_publish(g, h);
	}
	uint64_t popped = vg_blk_stats(g).requests;
	assert_int_equal(popped, n);
	unsigned irq_before = vg_irqs(g);
	fake_vm_work_reset();

	slowdisk_complete_all(&g->slow);		    /* the "interrupt handler" */
	assert_int_equal(vg_blk_stats(g).requests, popped); /* nothing popped or parsed here */
	assert_int_equal(g->slow.count, 0);		    /* nothing submitted */
	assert_int_equal(vg_used_idx(g), n);		    /* but every completion reached the guest */
	assert_true(vg_irqs(g) > irq_before);
	assert_int_equal(fake_vm_work_calls(g->vm) >= 1, 1);
	assert_int_equal(fake_vm_work_last_hint(g->vm), 2); /* the vCPU that last notified */
	for (unsigned i = n; i < n + 8; i++)
		assert_int_equal(vg_status(g, i), 0xff);

	vg_run_work(g, 4); /* on the VM's own vCPU: the new entries are taken */
	assert_int_equal(vg_blk_stats(g).requests, n + 8);
	assert_int_equal(g->slow.count, 8);
	slowdisk_complete_all(&g->slow);
	vg_run_work(g, 4);
	for (unsigned i = n; i < n + 8; i++)
		assert_int_equal(vg_status(g, i), VIRTIO_BLK_S_OK);
	free(v);
	down(g);
}

/* Another user of the backend fills it: this disk's request is refused with EBUSY while it has
 * nothing of its own in flight. The backend's wake-up resumes it through the work hook. */
static unsigned foreign_done;

static void foreign_req_done(struct blk_req *req, int rc)
{
	(void)req;
	assert_int_equal(rc, BLK_OK);
	foreign_done++;
}

static void test_busy_wake_resumes_idle_disk(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true, .slow_capacity = 2};
	struct vg *g = up(&o, ALL);
	static uint8_t buf[2][512];
	static struct blk_seg seg[2];
	static struct blk_req foreign[2];
	foreign_done = 0;
	for (unsigned i = 0; i < 2; i++) {
		seg[i] = (struct blk_seg){ptr_to_pa(buf[i]), 512};
		foreign[i] = (struct blk_req){.op = BLK_OP_READ,
					      .sector = i,
					      .nsectors = 1,
					      .segs = &seg[i],
					      .nsegs = 1,
					      .done = foreign_req_done};
		assert_int_equal(blkdev_submit(&g->slow.bdev, &foreign[i]), 0);
	}
	vg_submit_reads(g, 0, 1);
	assert_int_equal(vg_blk_stats(g).busy, 1);
	assert_int_equal(g->blk->queues[0].ninflight,
			 0); /* nothing of its own in flight: no completion of ours */
	assert_int_equal(vg_status(g, 0), 0xff);
	/* Work before the wake-up (e.g. asked by something else) finds the backend still busy. */
	assert_false(virtio_blk_work(g->blk));
	assert_int_equal(g->slow.count, 2);
	fake_vm_work_reset();

	slowdisk_complete_all(&g->slow); /* the neighbour's requests finish; the backend wakes us */
	assert_int_equal(foreign_done, 2);
	assert_true(fake_vm_work_pending(g->vm));
	assert_int_equal(g->slow.count, 0); /* the wake-up itself submits nothing */
	assert_int_equal(vg_run_work(g, 2), 1);
	assert_int_equal(g->slow.count, 1); /* the next work call submitted it */
	slowdisk_complete_all(&g->slow);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(*(uint8_t *)vg_ptr(g, VG_DATA_IPA), vg_disk_byte(0));
	down(g);
}

/* Quiesce: pops nothing more, drops never-submitted requests, cancels each in-flight request once,
 * and is true only when the backend has completed them all. The VM-level reset comes after. */
static void test_quiesce_then_reset(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true, .slow_capacity = 3};
	struct vg *g = up(&o, ALL);
	slowdisk_make_cancellable(&g->slow, false); /* aborts complete on the next poll */
	vg_submit_reads(g, 0, 5);		    /* 3 in flight, 1 refused (pending), 1 in the ring */
	assert_int_equal(g->slow.count, 3);
	g->slow.stuck = true; /* the controller has not confirmed the aborts yet */
	assert_false(virtio_blk_quiesce(g->blk));
	assert_int_equal(g->slow.cancels, 3);
	assert_int_equal(g->blk->queues[0].nfree, VIRTIO_BLK_SLOTS - 3); /* the pending one was dropped */
	assert_false(virtio_blk_quiesce(g->blk));
	assert_int_equal(g->slow.cancels, 3); /* once each */
	/* Stopped: neither a notify nor work pops the guest's ring now. */
	uint64_t popped = vg_blk_stats(g).requests;
	vg_submit_reads(g, 10, 1);
	assert_false(virtio_blk_work(g->blk));
	assert_int_equal(vg_blk_stats(g).requests, popped);
	g->slow.stuck = false;
	assert_true(virtio_blk_quiesce(g->blk)); /* the backend completed the aborted requests */
	assert_int_equal(g->blk->queues[0].ninflight, 0);
	assert_int_equal(g->blk->queues[0].nfree, VIRTIO_BLK_SLOTS);
	virtio_blk_reset(g->blk); /* the VM-level reset hook */
	assert_int_equal(vg_rd(g, VIRTIO_MMIO_STATUS), 0);
	assert_true(vg_driver_init(g, ALL, QSIZE));
	vg_submit_reads(g, 0, 1);
	slowdisk_complete_all(&g->slow);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	down(g);
}

/* A driver reset whose requests the backend cannot finish waits by time, not poll count, orphans
 * them, and the VM-level quiesce stays false until they complete. */
static void test_reset_bounded_by_time(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true};
	struct vg *g = up(&o, ALL);
	vg_submit_reads(g, 0, 2);
	g->slow.stuck = true;
	uint64_t t0 = timer_us();
	vg_wr(g, VIRTIO_MMIO_STATUS, 0);
	uint64_t took = timer_us() - t0;
	assert_true(took >= VIRTIO_BLK_RESET_WAIT_US);
	assert_true(took < 20 * VIRTIO_BLK_RESET_WAIT_US);
	assert_int_equal(g->blk->queues[0].norphaned, 2);
	assert_false(virtio_blk_quiesce(g->blk)); /* orphans may still DMA: the VM is not reloaded */
	g->slow.stuck = false;
	assert_true(virtio_blk_quiesce(g->blk));
	assert_int_equal(g->blk->queues[0].norphaned, 0);
	virtio_blk_reset(g->blk);
	down(g);

	/* A backend that can abort: the reset cancels and returns without waiting out the window. */
	g = up(&o, ALL);
	slowdisk_make_cancellable(&g->slow, true);
	vg_submit_reads(g, 0, 3);
	t0 = timer_us();
	vg_wr(g, VIRTIO_MMIO_STATUS, 0);
	assert_true(timer_us() - t0 < VIRTIO_BLK_RESET_WAIT_US);
	assert_int_equal(g->slow.cancels, 3);
	assert_int_equal(g->slow.count, 0);
	assert_int_equal(g->blk->queues[0].norphaned, 0);
	assert_int_equal(g->blk->queues[0].nfree, VIRTIO_BLK_SLOTS);
	assert_int_equal(vg_used_idx(g), 0); /* the rings were being torn down: nothing written */
	down(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_features_and_config),
	    cmocka_unit_test(test_read),
	    cmocka_unit_test(test_write),
	    cmocka_unit_test(test_flush_get_id),
	    cmocka_unit_test(test_discard_write_zeroes),
	    cmocka_unit_test(test_bad_requests),
	    cmocka_unit_test(test_read_only),
	    cmocka_unit_test(test_any_layout),
	    cmocka_unit_test(test_indirect_request),
	    cmocka_unit_test(test_blk_size_must_be_negotiated),
	    cmocka_unit_test(test_malformed_chains),
	    cmocka_unit_test(test_untrustworthy_chains),
	    cmocka_unit_test(test_ring_error_needs_reset),
	    cmocka_unit_test(test_interrupt_suppression),
	    cmocka_unit_test(test_notify_off_while_in_flight),
	    cmocka_unit_test(test_notify_off_for_a_lone_large_request),
	    cmocka_unit_test(test_segment_splitting),
	    cmocka_unit_test(test_backend_busy),
	    cmocka_unit_test(test_pump_commits_batch_once),
	    cmocka_unit_test(test_more_requests_than_slots),
	    cmocka_unit_test(test_write_through_without_flush),
	    cmocka_unit_test(test_reset_quiesces_in_flight),
	    cmocka_unit_test(test_reset_with_stuck_backend),
	    cmocka_unit_test(test_buffers_before_driver_ok),
	    cmocka_unit_test(test_pump_budget),
	    cmocka_unit_test(test_completion_never_pops),
	    cmocka_unit_test(test_busy_wake_resumes_idle_disk),
	    cmocka_unit_test(test_quiesce_then_reset),
	    cmocka_unit_test(test_reset_bounded_by_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
