/*
 * virtio-blk requests above the backend's limits (virtio_blk_split.c): a fake guest that ignores
 * SIZE_MAX/SEG_MAX, as U-Boot does, sends one large descriptor; keel splits it into backend
 * requests issued one at a time from the VM's own vCPU and writes the status once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keel/util.h"
#include "tests/fakes/fake_vgic.h"
#include "tests/fakes/fake_vm_work.h"
#include "tests/fakes/virtio_guest.h"

#define ALL   (~0ULL)
#define QSIZE 128
/* U-Boot's largest read of a 44 MB kernel Image seen on keel: one descriptor. */
#define UBOOT_SECTORS 31192u
#define BIG_RAM	      (17u << 20)
#define BIG_DISK      32768u /* 16 MiB */

static struct vg *up_with(const struct vg_opts *o, uint64_t want)
{
	struct vg *g = vg_create(o);
	fake_vgic_reset();
	fake_vm_work_reset();
	assert_true(vg_driver_init(g, want, QSIZE));
	return g;
}

static struct vg *up(const struct vg_opts *o)
{
	return up_with(o, ALL);
}

static void down(struct vg *g)
{
	assert_true(vg_destroy(g)); /* no byte outside guest RAM or the disk image changed */
}

static unsigned irqs(struct vg *g)
{
	return fake_vgic_count(g->vm, VG_INTID);
}

/* The guest's buffer at ipa holds the disk's bytes from sector on, len bytes. */
static void assert_read_data(struct vg *g, uint64_t ipa, uint64_t sector, uint64_t len)
{
	const uint8_t *p = vg_ptr(g, ipa);
	for (uint64_t i = 0; i < len; i++)
		if (p[i] != vg_disk_byte(sector * 512 + i))
			fail_msg("byte %llu of the read differs", (unsigned long long)i);
}

/* The one request in flight at the slowdisk. */
static struct blk_req *in_flight(struct vg *g)
{
	assert_int_equal(g->slow.count, 1);
	return g->slow.queue[0];
}

/* A 31192-sector read in one descriptor, over a 4 MiB-per-request backend: four parts, in order,
 * each issued from the VM's vCPU after the previous completed; one status, one interrupt. */
static void test_uboot_sized_read(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true, .ram_size = BIG_RAM, .disk_sectors = BIG_DISK};
	struct vg *g = up(&o);
	uint32_t max = g->slow.bdev.max_sectors; /* the ramdisk's 8192 */
	uint64_t sector = 1000;
	struct vg_req r = {VIRTIO_BLK_T_IN, sector, VG_DATA_IPA, UBOOT_SECTORS * 512u, true};
	uint16_t head = vg_blk_submit(g, 0, &r);

	uint64_t next = sector;
	uint64_t ipa = VG_DATA_IPA;
	for (unsigned part = 0; part < 4; part++) {
		struct blk_req *req = in_flight(g);
		uint64_t n = MIN((uint64_t)max, sector + UBOOT_SECTORS - next);
		assert_int_equal(req->op, BLK_OP_READ);
		assert_int_equal(req->sector, next);
		assert_int_equal(req->nsectors, n);
		/* Zero copy: the part's segments are the guest's own pages, where this part's data goes. */
		assert_ptr_equal(pa_to_ptr(req->segs[0].pa), vg_ptr(g, ipa));
		assert_int_equal(vg_status(g, 0), 0xff);
		assert_int_equal(vg_used_idx(g), 0);
		slowdisk_complete_all(&g->slow);
		next += n;
		ipa += n * 512;
		if (part < 3) {
			/* Completion context only asked for work: nothing more was submitted there. */
			assert_int_equal(g->slow.count, 0);
			assert_int_equal(vg_status(g, 0), 0xff);
			assert_int_equal(irqs(g), 0);
			assert_int_equal(vg_run_work(g, 1), 1);
		}
	}
	assert_int_equal(next, sector + UBOOT_SECTORS);
	assert_int_equal(g->slow.count, 0);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_used_idx(g), 1);
	assert_int_equal(vg_used_elem(g, 0).id, head);
	assert_int_equal(vg_used_elem(g, 0).len, UBOOT_SECTORS * 512u + 1);
	assert_int_equal(irqs(g), 1);
	assert_read_data(g, VG_DATA_IPA, sector, UBOOT_SECTORS * 512ull);
	struct virtio_blk_stats s = vg_blk_stats(g);
	assert_int_equal(s.split_requests, 1);
	assert_int_equal(s.split_parts, 4);
	assert_int_equal(s.bytes_read, UBOOT_SECTORS * 512ull);
	assert_int_equal(s.errors, 0);
	assert_int_equal(g->blk->queues[0].nfree, VIRTIO_BLK_SLOTS);
	down(g);
}

/* Part boundaries inside segments: 1536-byte segments, 8-sector parts, odd guest offset; a write
 * and a read back, with the synchronous ramdisk (parts run back to back on the notifying vCPU). */
static void test_parts_cut_segments(void **state)
{
	(void)state;
	struct vg_opts o = {.max_seg_size = 1536, .max_sectors = 8};
	struct vg *g = up(&o);
	uint32_t len = 45 * 512;
	uint8_t *src = vg_ptr(g, VG_DATA_IPA + 0x100);
	for (uint32_t i = 0; i < len; i++)
		src[i] = (uint8_t)(i * 13 + 5);
	struct vg_req w = {VIRTIO_BLK_T_OUT, 300, VG_DATA_IPA + 0x100, len, false};
	vg_blk_submit(g, 0, &w);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	for (uint32_t i = 0; i < len; i++)
		if (g->disk[300 * 512 + i] != (uint8_t)(i * 13 + 5))
			fail_msg("disk byte %u differs", i);
	assert_int_equal(g->disk[300 * 512 + len], vg_disk_byte(300 * 512ull + len)); /* not beyond */
	assert_int_equal(g->disk[300 * 512 - 1], vg_disk_byte(300 * 512ull - 1));

	struct vg_req r = {VIRTIO_BLK_T_IN, 300, VG_DATA_IPA + 0x30100, len, true};
	vg_blk_submit(g, 1, &r);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_OK);
	assert_memory_equal(vg_ptr(g, VG_DATA_IPA + 0x30100), src, len);
	struct virtio_blk_stats s = vg_blk_stats(g);
	assert_int_equal(s.split_requests, 2);
	assert_int_equal(s.split_parts, 2 * 6); /* 45 sectors in parts of 8 */
	down(g);
}

/* More segments than the backend takes at once, within its max_sectors, from a driver that did not
 * accept SEG_MAX (as U-Boot): split by segments. */
static void test_split_by_segments(void **state)
{
	(void)state;
	struct vg_opts o = {.max_seg_size = 1024, .max_segs = 2, .slow = true};
	struct vg *g = up_with(&o, ALL & ~BIT(VIRTIO_BLK_F_SEG_MAX) & ~BIT(VIRTIO_BLK_F_SIZE_MAX));
	struct vg_req r = {VIRTIO_BLK_T_IN, 2, VG_DATA_IPA + 0x100, 4096, true};
	vg_blk_submit(g, 0, &r);
	for (unsigned part = 0; part < 2; part++) {
		struct blk_req *req = in_flight(g);
		assert_int_equal(req->nsegs, 2);
		assert_int_equal(req->sector, 2 + 4 * part);
		slowdisk_complete_all(&g->slow);
		vg_run_work(g, 1);
	}
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	assert_read_data(g, VG_DATA_IPA + 0x100, 2, 4096);
	down(g);
}

/* A failing middle part: IOERR once, no further part, nothing reported as read. */
static void test_failing_middle_part(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true, .max_sectors = 8};
	struct vg *g = up(&o);
	struct vg_req r = {VIRTIO_BLK_T_IN, 16, VG_DATA_IPA, 24 * 512, true};
	uint16_t head = vg_blk_submit(g, 0, &r);
	slowdisk_complete_all(&g->slow); /* part 1 of 3 */
	vg_run_work(g, 1);
	assert_int_equal(in_flight(g)->sector, 24);
	g->slow.fail_next = true;
	slowdisk_complete_all(&g->slow); /* part 2 fails */
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(vg_used_idx(g), 1);
	assert_int_equal(vg_used_elem(g, 0).id, head);
	assert_int_equal(vg_used_elem(g, 0).len, 0);
	assert_int_equal(irqs(g), 1);
	vg_run_work(g, 4);
	assert_int_equal(g->slow.count, 0); /* part 3 never issued */
	struct virtio_blk_stats s = vg_blk_stats(g);
	assert_int_equal(s.io_errors, 1);
	assert_int_equal(s.errors, 1);
	assert_int_equal(s.bytes_read, 0);
	assert_int_equal(s.split_parts, 2);
	assert_int_equal(g->blk->queues[0].nfree, VIRTIO_BLK_SLOTS);
	down(g);
}

/* A driver reset between parts drops the rest; one during a part cancels it and issues no more. */
static void test_reset_between_parts(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true, .max_sectors = 8};
	struct vg *g = up(&o);
	uint8_t *data = vg_ptr(g, VG_DATA_IPA);
	memset(data, 0x5a, 24 * 512);
	struct vg_req w = {VIRTIO_BLK_T_OUT, 100, VG_DATA_IPA, 24 * 512, false};
	vg_blk_submit(g, 0, &w);
	slowdisk_complete_all(&g->slow); /* part 1 written; part 2 awaits the vCPU */
	vg_wr(g, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(vg_run_work(g, 4) <= 4, true);
	assert_int_equal(g->slow.count, 0);
	assert_int_equal(g->disk[100 * 512], 0x5a);
	assert_int_equal(g->disk[108 * 512], vg_disk_byte(108 * 512ull)); /* part 2 never written */
	assert_int_equal(vg_used_idx(g), 0);
	assert_int_equal(vg_status(g, 0), 0xff);
	assert_int_equal(g->blk->queues[0].nfree, VIRTIO_BLK_SLOTS);

	/* Reset with part 2 in flight: waited for, then nothing more. */
	assert_true(vg_driver_init(g, ALL, QSIZE));
	vg_blk_submit(g, 1, &w);
	slowdisk_complete_all(&g->slow);
	vg_run_work(g, 1);
	assert_int_equal(in_flight(g)->sector, 108);
	vg_wr(g, VIRTIO_MMIO_STATUS, 0); /* the reset polls the backend: part 2 completes */
	vg_run_work(g, 4);
	assert_int_equal(g->slow.count, 0);
	assert_int_equal(g->disk[116 * 512], vg_disk_byte(116 * 512ull)); /* part 3 never written */
	assert_int_equal(vg_used_idx(g), 0);
	assert_int_equal(g->blk->queues[0].nfree, VIRTIO_BLK_SLOTS);

	/* And a VM stop between parts (quiesce): no more parts, the device idles. */
	assert_true(vg_driver_init(g, ALL, QSIZE));
	struct vg_req w2 = {VIRTIO_BLK_T_OUT, 200, VG_DATA_IPA, 24 * 512, false};
	vg_blk_submit(g, 2, &w2);
	assert_int_equal(g->slow.count, 1);
	slowdisk_complete_all(&g->slow);
	assert_true(virtio_blk_quiesce(g->blk));
	vg_run_work(g, 4);
	assert_int_equal(g->slow.count, 0);
	assert_int_equal(g->disk[208 * 512], vg_disk_byte(208 * 512ull));
	assert_int_equal(vg_status(g, 2), 0xff); /* never reported as done */
	down(g);
}

/* Above keel's cap (64 MiB) or above what VIRTIO_BLK_MAX_SEGS segments hold: IOERR, nothing issued. */
static void test_split_cap(void **state)
{
	(void)state;
	uint32_t big = VIRTIO_BLK_SPLIT_MAX_BYTES + 512;
	struct vg_opts o = {.slow = true, .ram_size = big + 0x20000, .disk_sectors = big / 512 + 8};
	struct vg *g = up(&o);
	struct vg_req r = {VIRTIO_BLK_T_IN, 0, VG_DATA_IPA, big, true};
	vg_blk_submit(g, 0, &r);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(g->slow.count, 0);
	assert_int_equal(vg_blk_stats(g).split_requests, 0);
	/* 64 MiB exactly is taken. */
	r.data_len = VIRTIO_BLK_SPLIT_MAX_BYTES;
	vg_blk_submit(g, 1, &r);
	assert_int_equal(g->slow.count, 1);
	for (unsigned i = 0; i < 64 && g->slow.count; i++) {
		slowdisk_complete_all(&g->slow);
		vg_run_work(g, 1);
	}
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_blk_stats(g).split_parts, VIRTIO_BLK_SPLIT_MAX_BYTES / (8192 * 512));
	down(g);

	/* 2 MiB in 4 KiB segments is 512 of them: more than a request may become. */
	struct vg_opts small = {.max_seg_size = 4096, .ram_size = 4u << 20, .disk_sectors = 8192};
	g = up(&small);
	struct vg_req r2 = {VIRTIO_BLK_T_IN, 0, VG_DATA_IPA, 2u << 20, true};
	vg_blk_submit(g, 0, &r2);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_IOERR);
	r2.data_len = VIRTIO_BLK_MAX_SEGS * 4096;
	vg_blk_submit(g, 1, &r2);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_OK);
	down(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uboot_sized_read),	cmocka_unit_test(test_parts_cut_segments),
	    cmocka_unit_test(test_split_by_segments),	cmocka_unit_test(test_failing_middle_part),
	    cmocka_unit_test(test_reset_between_parts), cmocka_unit_test(test_split_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
