/*
 * Sub-block virtio-blk requests on a 4 KiB-block backend (virtio_blk_rmw.c): a driver that did not
 * accept BLK_SIZE (as U-Boot) reads and writes 512-byte units; keel serves them by read-modify-write
 * through the disk's bounce buffer, one request at a time, from the VM's own vCPU.
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

#define ALL	  (~0ULL)
#define NO_BS	  (~BIT(VIRTIO_BLK_F_BLK_SIZE))
#define QSIZE	  128
#define BS	  4096u
#define PER_BLOCK (BS / 512u)

/* Every request the backend sees is whole 4 KiB blocks. */
static void check_aligned(struct slowdisk *s, struct blk_req *req)
{
	(void)s;
	if (req->op == BLK_OP_READ || req->op == BLK_OP_WRITE) {
		assert_int_equal(req->sector % PER_BLOCK, 0);
		assert_int_equal(req->nsectors % PER_BLOCK, 0);
	}
}

static struct vg *up(struct vg_opts *o)
{
	o->block_size = BS;
	o->slow = true;
	struct vg *g = vg_create(o);
	g->slow.on_submit = check_aligned;
	fake_vgic_reset();
	fake_vm_work_reset();
	assert_true(vg_driver_init(g, NO_BS, QSIZE)); /* FEATURES_OK taken without BLK_SIZE */
	return g;
}

static void down(struct vg *g)
{
	assert_true(vg_destroy(g));
}

/* Complete what the backend holds and run the vCPU's work, until nothing is in flight. */
static void settle(struct vg *g)
{
	for (unsigned i = 0; i < 64; i++) {
		vg_run_work(g, 4);
		if (g->slow.count == 0)
			return;
		slowdisk_complete_all(&g->slow);
	}
	fail_msg("requests still in flight");
}

static void assert_disk_orig(struct vg *g, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++)
		if (g->disk[i] != vg_disk_byte(i))
			fail_msg("disk byte %llu changed", (unsigned long long)i);
}

/* Sectors 9..11 of block 1: the block is read into the bounce, the three sectors copied out. */
static void test_unaligned_read(void **state)
{
	(void)state;
	struct vg_opts o = {0};
	struct vg *g = up(&o);
	struct vg_req r = {VIRTIO_BLK_T_IN, 9, VG_DATA_IPA + 0x100, 3 * 512, true};
	uint16_t head = vg_blk_submit(g, 0, &r);
	assert_int_equal(g->slow.count, 1);
	struct blk_req *req = g->slow.queue[0];
	assert_int_equal(req->op, BLK_OP_READ);
	assert_int_equal(req->sector, 8);
	assert_int_equal(req->nsectors, 8);
	/* Not the guest's memory: the bounce buffer. */
	assert_ptr_not_equal(pa_to_ptr(req->segs[0].pa), vg_ptr(g, VG_DATA_IPA + 0x100));
	slowdisk_complete_all(&g->slow);
	assert_int_equal(vg_status(g, 0), 0xff); /* the copy runs on the vCPU, not in completion */
	vg_run_work(g, 1);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_used_elem(g, 0).id, head);
	assert_int_equal(vg_used_elem(g, 0).len, 3 * 512 + 1);
	const uint8_t *p = vg_ptr(g, VG_DATA_IPA + 0x100);
	for (unsigned i = 0; i < 3 * 512; i++)
		if (p[i] != vg_disk_byte(9 * 512 + i))
			fail_msg("byte %u of the read differs", i);
	assert_int_equal(p[-1], 0);
	assert_int_equal(p[3 * 512], 0); /* nothing beyond the guest's buffer */
	struct virtio_blk_stats s = vg_blk_stats(g);
	assert_int_equal(s.rmw_requests, 1);
	assert_int_equal(s.rmw_parts, 1);
	assert_int_equal(s.rmw_bytes, 3 * 512);
	assert_int_equal(s.bytes_copied, 3 * 512);
	assert_int_equal(s.bytes_read, 3 * 512);
	/* A block-aligned read stays zero-copy and uncounted. */
	struct vg_req a = {VIRTIO_BLK_T_IN, 16, VG_DATA_IPA + 0x4000, BS, true};
	vg_blk_submit(g, 1, &a);
	assert_ptr_equal(pa_to_ptr(g->slow.queue[0]->segs[0].pa), vg_ptr(g, VG_DATA_IPA + 0x4000));
	settle(g);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_blk_stats(g).bytes_copied, 3 * 512);
	assert_int_equal(vg_blk_stats(g).rmw_requests, 1);
	down(g);
}

/* One sector written into the middle of a block: read, merge, write; the neighbours are kept. */
static void test_unaligned_write(void **state)
{
	(void)state;
	struct vg_opts o = {0};
	struct vg *g = up(&o);
	memset(vg_ptr(g, VG_DATA_IPA), 0x5a, 512);
	struct vg_req w = {VIRTIO_BLK_T_OUT, 10, VG_DATA_IPA, 512, false};
	vg_blk_submit(g, 0, &w);
	assert_int_equal(g->slow.queue[0]->op, BLK_OP_READ);
	slowdisk_complete_all(&g->slow);
	vg_run_work(g, 1);
	assert_int_equal(g->slow.count, 1);
	assert_int_equal(g->slow.queue[0]->op, BLK_OP_WRITE);
	assert_int_equal(g->slow.queue[0]->sector, 8);
	assert_int_equal(vg_status(g, 0), 0xff);
	settle(g);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	for (unsigned i = 0; i < 512; i++)
		assert_int_equal(g->disk[10 * 512 + i], 0x5a);
	assert_disk_orig(g, 8 * 512, 10 * 512);
	assert_disk_orig(g, 11 * 512, 16 * 512);
	struct virtio_blk_stats s = vg_blk_stats(g);
	assert_int_equal(s.rmw_parts, 2);
	assert_int_equal(s.bytes_written, 512);
	assert_int_equal(s.rmw_bytes, 512);
	down(g);
}

/* 300 sectors from sector 3, over 64 KiB bounce pieces, through 1536-byte guest segments: written
 * then read back. Pieces: [0,128) read+write, [128,256) whole blocks (write only), [256,304) r+w. */
static void test_spanning_pieces(void **state)
{
	(void)state;
	struct vg_opts o = {.max_seg_size = 1536};
	struct vg *g = up(&o);
	uint32_t len = 300 * 512;
	uint8_t *src = vg_ptr(g, VG_DATA_IPA + 0x100);
	for (uint32_t i = 0; i < len; i++)
		src[i] = (uint8_t)(i * 13 + 5);
	struct vg_req w = {VIRTIO_BLK_T_OUT, 3, VG_DATA_IPA + 0x100, len, false};
	vg_blk_submit(g, 0, &w);
	settle(g);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	for (uint32_t i = 0; i < len; i++)
		if (g->disk[3 * 512 + i] != (uint8_t)(i * 13 + 5))
			fail_msg("disk byte %u differs", i);
	assert_disk_orig(g, 0, 3 * 512);
	assert_disk_orig(g, 303 * 512, 304 * 512);
	assert_int_equal(vg_blk_stats(g).rmw_parts, 5);

	struct vg_req r = {VIRTIO_BLK_T_IN, 3, VG_DATA_IPA + 0x40100, len, true};
	vg_blk_submit(g, 1, &r);
	settle(g);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_OK);
	assert_memory_equal(vg_ptr(g, VG_DATA_IPA + 0x40100), src, len);
	struct virtio_blk_stats s = vg_blk_stats(g);
	assert_int_equal(s.rmw_parts, 5 + 3);
	assert_int_equal(s.rmw_bytes, 2ull * len);
	assert_int_equal(s.errors, 0);
	down(g);
}

/* A failed read phase: IOERR, nothing written, the block unchanged. A failed write phase: IOERR. */
static void test_phase_errors(void **state)
{
	(void)state;
	struct vg_opts o = {0};
	struct vg *g = up(&o);
	memset(vg_ptr(g, VG_DATA_IPA), 0x5a, 512);
	struct vg_req w = {VIRTIO_BLK_T_OUT, 10, VG_DATA_IPA, 512, false};
	vg_blk_submit(g, 0, &w);
	g->slow.fail_next = true;
	slowdisk_complete_all(&g->slow);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_IOERR);
	vg_run_work(g, 4);
	assert_int_equal(g->slow.count, 0); /* no write phase */
	assert_disk_orig(g, 8 * 512, 16 * 512);

	vg_blk_submit(g, 1, &w);
	slowdisk_complete_all(&g->slow);
	vg_run_work(g, 1);
	g->slow.fail_next = true;
	slowdisk_complete_all(&g->slow); /* the write phase fails */
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_IOERR);

	struct vg_req r = {VIRTIO_BLK_T_IN, 9, VG_DATA_IPA + 0x1000, 512, true};
	vg_blk_submit(g, 2, &r);
	g->slow.fail_next = true;
	slowdisk_complete_all(&g->slow);
	assert_int_equal(vg_status(g, 2), VIRTIO_BLK_S_IOERR);
	struct virtio_blk_stats s = vg_blk_stats(g);
	assert_int_equal(s.io_errors, 3);
	assert_int_equal(s.bytes_written + s.bytes_read, 0);
	assert_int_equal(g->blk->queues[0].nfree, VIRTIO_BLK_SLOTS);
	assert_null(g->blk->rmw.owner);
	/* The disk still serves sub-block requests. */
	vg_blk_submit(g, 3, &r);
	settle(g);
	assert_int_equal(vg_status(g, 3), VIRTIO_BLK_S_OK);
	down(g);
}

/* A reset after the read phase (merge not yet run), or during it: nothing is ever written. */
static void test_reset_mid_rmw(void **state)
{
	(void)state;
	struct vg_opts o = {0};
	struct vg *g = up(&o);
	memset(vg_ptr(g, VG_DATA_IPA), 0x5a, 512);
	struct vg_req w = {VIRTIO_BLK_T_OUT, 10, VG_DATA_IPA, 512, false};
	vg_blk_submit(g, 0, &w);
	slowdisk_complete_all(&g->slow); /* read done; merge + write await the vCPU */
	vg_wr(g, VIRTIO_MMIO_STATUS, 0);
	vg_run_work(g, 4);
	assert_int_equal(g->slow.count, 0);
	assert_disk_orig(g, 8 * 512, 16 * 512);
	assert_int_equal(vg_used_idx(g), 0);
	assert_null(g->blk->rmw.owner);

	/* Reset with the read phase in flight: the reset's poll completes it; no write follows. */
	assert_true(vg_driver_init(g, NO_BS, QSIZE));
	vg_blk_submit(g, 1, &w);
	assert_int_equal(g->slow.count, 1);
	vg_wr(g, VIRTIO_MMIO_STATUS, 0);
	vg_run_work(g, 4);
	assert_int_equal(g->slow.count, 0);
	assert_disk_orig(g, 8 * 512, 16 * 512);
	assert_int_equal(g->blk->queues[0].nfree, VIRTIO_BLK_SLOTS);

	/* A VM stop after the read phase: the same. */
	assert_true(vg_driver_init(g, NO_BS, QSIZE));
	vg_blk_submit(g, 2, &w);
	slowdisk_complete_all(&g->slow);
	assert_true(virtio_blk_quiesce(g->blk));
	vg_run_work(g, 4);
	assert_int_equal(g->slow.count, 0);
	assert_disk_orig(g, 8 * 512, 16 * 512);
	down(g);
}

/* An RMW runs alone: an aligned write of the same block queued behind it waits, then lands (the
 * later write wins); an RMW queued behind an aligned write waits for the disk to drain. */
static void test_write_behind_rmw(void **state)
{
	(void)state;
	struct vg_opts o = {0};
	struct vg *g = up(&o);
	memset(vg_ptr(g, VG_DATA_IPA), 0x11, 512);
	memset(vg_ptr(g, VG_DATA_IPA + 0x1000), 0x22, BS);
	struct vg_req w1 = {VIRTIO_BLK_T_OUT, 9, VG_DATA_IPA, 512, false};
	struct vg_req w2 = {VIRTIO_BLK_T_OUT, 8, VG_DATA_IPA + 0x1000, BS, false};
	vg_blk_submit(g, 0, &w1);
	vg_blk_submit(g, 1, &w2);
	assert_int_equal(g->slow.count, 1); /* only the RMW's read */
	slowdisk_complete_all(&g->slow);
	vg_run_work(g, 1);
	assert_int_equal(g->slow.count, 1); /* only the RMW's write */
	assert_ptr_not_equal(pa_to_ptr(g->slow.queue[0]->segs[0].pa), vg_ptr(g, VG_DATA_IPA + 0x1000));
	settle(g);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_OK);
	for (unsigned i = 0; i < BS; i++)
		assert_int_equal(g->disk[8 * 512 + i], 0x22);

	/* The other order: the RMW waits until the aligned write completed. */
	memset(vg_ptr(g, VG_DATA_IPA + 0x1000), 0x33, BS);
	vg_blk_submit(g, 2, &w2);
	vg_blk_submit(g, 3, &w1);
	assert_int_equal(g->slow.count, 1);
	assert_ptr_equal(pa_to_ptr(g->slow.queue[0]->segs[0].pa), vg_ptr(g, VG_DATA_IPA + 0x1000));
	assert_true(vg_blk_stats(g).rmw_waits > 0);
	settle(g);
	assert_int_equal(vg_status(g, 2), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_status(g, 3), VIRTIO_BLK_S_OK);
	for (unsigned i = 0; i < BS; i++)
		assert_int_equal(g->disk[8 * 512 + i], i / 512 == 1 ? 0x11 : 0x33);
	assert_int_equal(g->blk->queues[0].nfree, VIRTIO_BLK_SLOTS);
	down(g);
}

/* Guest-controlled sizes stay bounded: beyond capacity is IOERR; without a bounce buffer, sub-block
 * I/O is refused at FEATURES_OK (and IOERR if a driver with BLK_SIZE still sends it). */
static void test_limits(void **state)
{
	(void)state;
	struct vg_opts o = {.disk_sectors = 64};
	struct vg *g = up(&o);
	struct vg_req r = {VIRTIO_BLK_T_IN, 63, VG_DATA_IPA, 1024, true};
	vg_blk_submit(g, 0, &r);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(g->slow.count, 0);
	r.data_len = 512;
	vg_blk_submit(g, 1, &r); /* the last sector */
	settle(g);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_OK);
	down(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unaligned_read),  cmocka_unit_test(test_unaligned_write),
	    cmocka_unit_test(test_spanning_pieces), cmocka_unit_test(test_phase_errors),
	    cmocka_unit_test(test_reset_mid_rmw),   cmocka_unit_test(test_write_behind_rmw),
	    cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
