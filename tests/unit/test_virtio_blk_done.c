/*
 * virtio-blk completions never wait for a queue's lock (virtio_blk_done.c): a completion that
 * finds it held leaves its slot to the holder, which finishes it when it releases the lock, in
 * completion order; one that finds it free finishes whatever was left before it too. The fake
 * lock aborts on a second acquisition, so a completion that waited would fail these tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/vm.h"
#include "keel/util.h"
#include "tests/fakes/fake_vgic.h"
#include "tests/fakes/fake_vm_work.h"
#include "tests/fakes/virtio_guest.h"
#include "vdev/virtio/virtio_blk_int.h"

#define QSIZE 64

static struct vg *up(unsigned capacity)
{
	struct vg_opts o = {.slow = true, .slow_capacity = capacity};
	struct vg *g = vg_create(&o);
	fake_vgic_reset();
	fake_vm_work_reset();
	assert_true(vg_driver_init(g, ~0ULL, QSIZE));
	return g;
}

static uint16_t read_req(struct vg *g, unsigned slot, uint64_t sector)
{
	struct vg_req r = {VIRTIO_BLK_T_IN, sector, VG_DATA_IPA + 512 * slot, 512, true};
	return vg_blk_submit(g, slot, &r);
}

/* Completions while a vCPU of the VM holds the lock: left to it, finished at its release, in order. */
static void test_completion_leaves_its_slot_to_the_holder(void **state)
{
	(void)state;
	struct vg *g = up(8);
	uint16_t h[3];
	for (unsigned i = 0; i < 3; i++)
		h[i] = read_req(g, i, 20 + i);
	assert_int_equal(g->slow.count, 3);
	unsigned irqs = vg_irqs(g);

	vblk_lock(&g->blk->queues[0]);	 /* the VM's vCPU, in a queue pass */
	slowdisk_complete_all(&g->slow); /* the controller's interrupt, on another CPU */
	/* Nothing is finished yet, and nobody waited for the lock. */
	assert_int_equal(vg_used_idx(g), 0);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(vg_status(g, i), 0xff);
	assert_int_equal(g->blk->queues[0].ninflight, 3);
	assert_non_null(g->blk->queues[0].done_list);
	assert_int_equal(g->blk->queues[0].stats.lock_waits, 0);
	vblk_unlock(&g->blk->queues[0]);

	/* The holder finished them as it released the lock, in the order they completed. */
	assert_null(g->blk->queues[0].done_list);
	assert_int_equal(g->blk->queues[0].ninflight, 0);
	assert_int_equal(vg_used_idx(g), 3);
	for (unsigned i = 0; i < 3; i++) {
		struct virtq_used_elem e = vg_used_elem(g, (uint16_t)i);
		assert_int_equal(e.id, h[i]);
		assert_int_equal(e.len, 513);
		assert_int_equal(vg_status(g, i), VIRTIO_BLK_S_OK);
		assert_memory_equal(vg_ptr(g, VG_DATA_IPA + 512 * i), g->disk + (20 + i) * 512, 512);
	}
	assert_true(vg_irqs(g) > irqs);
	struct virtio_blk_stats st = vg_blk_stats(g);
	assert_int_equal(st.done_left, 3);
	assert_int_equal(st.lock_waits, 0);
	assert_int_equal(st.bytes_read, 3 * 512);
	assert_true(vg_destroy(g));
}

/* A completion that finds the lock free finishes the ones left before it as well, oldest first. */
static void test_free_lock_finishes_what_was_left(void **state)
{
	(void)state;
	struct vg *g = up(8);
	uint16_t h0 = read_req(g, 0, 5);
	uint16_t h1 = read_req(g, 1, 6);
	vblk_lock(&g->blk->queues[0]);
	slowdisk_complete_first(&g->slow); /* left */
	assert_int_equal(vg_used_idx(g), 0);
	spin_unlock(&g->blk->queues[0].lock); /* a release that does not look (none in keel does this) */
	assert_int_equal(vg_used_idx(g), 0);
	slowdisk_complete_first(&g->slow); /* the lock is free: finishes both */
	assert_int_equal(vg_used_idx(g), 2);
	assert_int_equal(vg_used_elem(g, 0).id, h0);
	assert_int_equal(vg_used_elem(g, 1).id, h1);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_blk_stats(g).done_left, 1);
	assert_true(vg_destroy(g));
}

/* A completion left to the holder that makes work (a refused request can go now) still asks the
 * owner's vCPU for it, after the release. */
static void test_left_completion_still_asks_for_work(void **state)
{
	(void)state;
	struct vg *g = up(1);
	read_req(g, 0, 1);
	uint16_t h1 = read_req(g, 1, 2); /* refused (BLK_EBUSY): pending */
	assert_int_equal(g->slow.count, 1);
	fake_vm_work_reset();
	vblk_lock(&g->blk->queues[0]);
	slowdisk_complete_first(&g->slow);
	vblk_unlock(&g->blk->queues[0]);
	assert_true(fake_vm_work_pending(g->vm));
	vg_run_work(g, 4);
	slowdisk_complete_all(&g->slow);
	assert_int_equal(vg_used_idx(g), 2);
	assert_int_equal(vg_used_elem(g, 1).id, h1);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_OK);
	assert_true(vg_destroy(g));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_completion_leaves_its_slot_to_the_holder),
	    cmocka_unit_test(test_free_lock_finishes_what_was_left),
	    cmocka_unit_test(test_left_completion_still_asks_for_work),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
