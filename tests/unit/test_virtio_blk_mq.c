/*
 * virtio-blk multi-queue (VIRTIO_BLK_F_MQ): num_queues, a queue per vCPU whose completions land
 * on its own used ring and whose work is asked of the vCPU that drives it, queues that never wait
 * for each other's locks, a hostile queue beside healthy ones, and resets with several queues in
 * flight. The fake guest drives the device only
 * through MMIO accesses and its own RAM; every test ends by checking the guard zones.
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

#define ALL   (~0ULL)
#define QSIZE 128

static struct vcpu vcpus[2];

static struct vg *up(const struct vg_opts *o, uint64_t want)
{
	struct vg *g = vg_create(o);
	fake_vgic_reset();
	fake_vm_work_reset();
	for (unsigned i = 0; i < 2; i++)
		vcpus[i].index = i;
	assert_true(vg_driver_init(g, want, QSIZE));
	return g;
}

static void down(struct vg *g)
{
	assert_true(vg_destroy(g));
}

/* The guest on vCPU `cpu` uses its queue `q` (as Linux maps a queue to each vCPU). */
static void on(struct vg *g, unsigned cpu, unsigned q)
{
	g->as_vcpu = &vcpus[cpu];
	vg_use_queue(g, q);
}

static uint16_t read_req(struct vg *g, unsigned slot, uint64_t sector)
{
	struct vg_req r = {VIRTIO_BLK_T_IN, sector, VG_DATA_IPA + 512 * slot, 512, true};
	return vg_blk_submit(g, slot, &r);
}

/* The vCPUs' loops run the work asked for and the backend completes, a few rounds. */
static void settle(struct vg *g)
{
	for (unsigned i = 0; i < 4; i++) {
		vg_run_work(g, 4);
		slowdisk_complete_all(&g->slow);
	}
}

static void expect_used(struct vg *g, unsigned q, uint16_t idx, uint16_t head, uint32_t len)
{
	vg_use_queue(g, q);
	assert_true((uint16_t)(vg_used_idx(g) - idx) >= 1);
	struct virtq_used_elem e = vg_used_elem(g, idx);
	assert_int_equal(e.id, head);
	assert_int_equal(e.len, len);
}

static void test_num_queues(void **state)
{
	(void)state;
	/* One queue: no F_MQ. */
	struct vg *g = up(NULL, ALL);
	assert_false(g->features & BIT(VIRTIO_BLK_F_MQ));
	assert_int_equal(g->nqueues, 1);
	down(g);
	/* Two vCPUs: two queues. */
	struct vg_opts o = {.nqueues = 2};
	g = up(&o, ALL);
	assert_true(g->features & BIT(VIRTIO_BLK_F_MQ));
	assert_int_equal(g->nqueues, 2);
	assert_int_equal(g->blk->mmio.nqueues, 2);
	/* A third queue does not exist: QueueSel past num_queues reads QueueNumMax 0. */
	vg_wr(g, VIRTIO_MMIO_QUEUE_SEL, 2);
	assert_int_equal(vg_rd(g, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	down(g);
	/* Many vCPUs: bounded. */
	o.nqueues = 64;
	g = up(&o, ALL);
	assert_int_equal(g->nqueues, VIRTIO_BLK_MAX_QUEUES);
	down(g);
	/* A driver that does not take F_MQ uses queue 0 alone, and it works. */
	o.nqueues = 2;
	g = up(&o, ~BIT(VIRTIO_BLK_F_MQ));
	assert_int_equal(g->nqueues, 1);
	uint16_t h = read_req(g, 0, 3);
	expect_used(g, 0, 0, h, 513);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	down(g);
}

/* Each vCPU's requests complete on its own queue, and a backend's wake-up goes to that vCPU. */
static void test_queue_per_vcpu(void **state)
{
	(void)state;
	struct vg_opts o = {.nqueues = 2, .slow = true, .slow_capacity = 1};
	struct vg *g = up(&o, ALL);
	on(g, 1, 1);
	uint16_t h1 = read_req(g, 1, 11); /* in flight */
	uint16_t h2 = read_req(g, 2, 12); /* refused (BLK_EBUSY): pending on queue 1 */
	on(g, 0, 0);
	uint16_t h0 = read_req(g, 0, 10); /* pending behind it */
	assert_int_equal(g->slow.count, 1);
	fake_vm_work_reset();
	slowdisk_complete_all(&g->slow);
	/* The oldest waiting request is queue 1's: its vCPU is asked, not the last notifier (0). */
	assert_true(fake_vm_work_pending(g->vm));
	assert_int_equal(fake_vm_work_last_hint(g->vm), 1);
	settle(g);
	expect_used(g, 1, 0, h1, 513);
	expect_used(g, 1, 1, h2, 513);
	expect_used(g, 0, 0, h0, 513);
	vg_use_queue(g, 0);
	assert_int_equal(vg_used_idx(g), 1); /* nothing of queue 1's on queue 0's ring */
	vg_use_queue(g, 1);
	assert_int_equal(vg_used_idx(g), 2);
	for (unsigned s = 0; s < 3; s++)
		assert_int_equal(vg_status(g, s), VIRTIO_BLK_S_OK);
	struct virtio_blk_stats st;
	virtio_blk_get_stats(g->blk, &st);
	assert_int_equal(st.queue_requests[0], 1);
	assert_int_equal(st.queue_requests[1], 2);
	down(g);
}

/* A queue full of malformed chains beside a healthy one: errors stay on the hostile queue. */
static void test_hostile_queue_beside_healthy(void **state)
{
	(void)state;
	struct vg_opts o = {.nqueues = 2};
	struct vg *g = up(&o, ALL);
	on(g, 1, 1);
	/* Queue 1: data outside guest RAM, then a header too short; each gets IOERR. */
	struct vg_req bad = {VIRTIO_BLK_T_IN, 0, VG_RAM_IPA + VG_RAM_SIZE - 256, 512, true};
	uint16_t hb = vg_blk_submit(g, 5, &bad);
	vg_set_desc(g, 40, VG_HDR_IPA, 8, VIRTQ_DESC_F_NEXT, 41);
	vg_set_desc(g, 41, VG_STATUS_IPA + 6, 1, VIRTQ_DESC_F_WRITE, 0);
	*(uint8_t *)vg_ptr(g, VG_STATUS_IPA + 6) = 0xff;
	vg_publish(g, 40);
	vg_notify(g);
	/* Queue 0 on the other vCPU, before and after: served. */
	on(g, 0, 0);
	memset(vg_ptr(g, VG_DATA_IPA), 0, 512 * 2);
	uint16_t h0 = read_req(g, 0, 7);
	uint16_t h1 = read_req(g, 1, 8);
	expect_used(g, 1, 0, hb, 1);
	expect_used(g, 1, 1, 40, 1);
	assert_int_equal(vg_status(g, 5), VIRTIO_BLK_S_IOERR);
	assert_int_equal(vg_status(g, 6), VIRTIO_BLK_S_IOERR);
	expect_used(g, 0, 0, h0, 513);
	expect_used(g, 0, 1, h1, 513);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_OK);
	assert_memory_equal(vg_ptr(g, VG_DATA_IPA), g->disk + 7 * 512, 512);
	assert_int_equal(vg_rd(g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	/* A ring that cannot be read on queue 1 breaks the device (status is device-wide, §2.1.2). */
	on(g, 1, 1);
	struct virtq_avail *a = vg_ptr(g, vg_avail_ipa(1));
	a->idx = (uint16_t)(a->idx + QSIZE + 1); /* more entries than the ring holds */
	vg_notify(g);
	assert_true(vg_rd(g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	down(g);
}

/*
 * A queue flooding the device does not starve the other: each queue has its own share of the slots
 * and its own pass, so queue 1 with more requests than its share, all notified, leaves queue 0's
 * request to be taken at once by queue 0's own notify.
 */
static void test_queue_flood_leaves_the_other_its_slots(void **state)
{
	(void)state;
	struct vg_opts o = {.nqueues = 2, .slow = true, .slow_capacity = 200};
	struct vg *g = up(&o, ALL);
	const unsigned share = VIRTIO_BLK_SLOTS / 2, flood = share + 8;
	on(g, 1, 1);
	for (unsigned i = 0; i < flood; i++) {
		uint16_t head = (uint16_t)(3 * i);
		vg_set_desc(g, head, VG_HDR_IPA + 16 * i, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(head + 1));
		vg_set_desc(g, (uint16_t)(head + 1), VG_DATA_IPA + 512 * i, 512,
			    VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, (uint16_t)(head + 2));
		vg_set_desc(g, (uint16_t)(head + 2), VG_STATUS_IPA + i, 1, VIRTQ_DESC_F_WRITE, 0);
		struct virtio_blk_outhdr *hdr = vg_ptr(g, VG_HDR_IPA + 16 * i);
		hdr->type = VIRTIO_BLK_T_IN;
		hdr->sector = i;
		vg_publish(g, head);
	}
	vg_notify(g);
	/* Queue 1 has its share in flight; the rest waits in its ring, not in another queue's slots. */
	assert_int_equal(g->slow.count, share);
	assert_true(g->blk->queues[1].stalled);
	assert_int_equal(g->blk->queues[0].nfree, VIRTIO_BLK_SLOTS - share);
	on(g, 0, 0);
	read_req(g, flood + 1, 60);
	assert_int_equal(g->slow.count, share + 1);
	slowdisk_complete_all(&g->slow);
	assert_int_equal(vg_status(g, flood + 1), VIRTIO_BLK_S_OK);
	assert_memory_equal(vg_ptr(g, VG_DATA_IPA + 512 * (flood + 1)), g->disk + 60 * 512, 512);
	/* Queue 1's stalled ring resumes through work on its own vCPU. */
	assert_true(fake_vm_work_pending(g->vm));
	assert_int_equal(fake_vm_work_last_hint(g->vm), 1);
	settle(g);
	struct virtio_blk_stats st;
	virtio_blk_get_stats(g->blk, &st);
	assert_int_equal(st.queue_requests[0], 1);
	assert_int_equal(st.queue_requests[1], flood);
	vg_use_queue(g, 1);
	assert_int_equal(vg_used_idx(g), flood);
	for (unsigned i = 0; i < flood; i++)
		assert_int_equal(vg_status(g, i), VIRTIO_BLK_S_OK);
	down(g);
}

/* The notify the hook sends from inside a submit, from the other vCPU, while the first one is in a
 * pass: of the same queue (handed off) or of its own queue (served at once). */
static struct {
	struct vg *g;
	unsigned pumped; /* the queue whose pass is running */
	unsigned q;	 /* the queue (and vCPU) that notifies */
	unsigned fired;
	uint16_t head;
} late;

static void notify_from_other_vcpu(struct slowdisk *s, struct blk_req *req)
{
	(void)s;
	(void)req;
	if (late.fired++ != 0)
		return;
	struct vg *g = late.g;
	struct vcpu *was_vcpu = g->as_vcpu;
	unsigned was_q = g->cur_q;
	struct spinlock *held = &g->blk->queues[late.pumped].lock;
	assert_int_equal(held->v, 0); /* dropped around submit */
	spin_lock(held); /* as if the pumping vCPU held it: nothing may wait for it (the fake aborts) */
	on(g, late.q, late.q);
	late.head = read_req(g, 9, 90);
	spin_unlock(held);
	g->as_vcpu = was_vcpu;
	vg_use_queue(g, was_q);
}

/*
 * Two vCPUs notify the same queue at once: the second finds the first in that queue's pass and
 * leaves the queue to it without waiting for its lock. Its request is taken although the pass had
 * looked at the ring already: the pass looks again before it stops.
 */
static void test_notify_during_a_pass_is_handed_off(void **state)
{
	(void)state;
	struct vg_opts o = {.nqueues = 2, .slow = true, .slow_capacity = 16};
	struct vg *g = up(&o, ALL);
	late.g = g;
	late.pumped = 0;
	late.q = 0;
	late.fired = 0;
	g->slow.on_submit = notify_from_other_vcpu;
	on(g, 1, 0); /* vCPU 1 drives queue 0 this time; vCPU 0 notifies it during the pass */
	uint16_t h = read_req(g, 1, 10);
	g->slow.on_submit = NULL;
	assert_int_equal(late.fired, 2);
	/* Both requests are with the backend after that one notify's pass. */
	assert_int_equal(g->slow.count, 2);
	struct virtio_blk_stats st;
	virtio_blk_get_stats(g->blk, &st);
	assert_int_equal(st.notify_handoffs, 1);
	assert_int_equal(st.notifications, 2);
	assert_int_equal(st.queue_requests[0], 2);
	assert_int_equal(st.lock_waits, 0);
	assert_false(g->blk->queues[0].pumping);
	assert_false(g->blk->queues[0].handoff);
	/* The handing-off vCPU is still where the queue's work is asked for. */
	assert_int_equal(g->blk->queues[0].home, 0);
	slowdisk_complete_all(&g->slow);
	expect_used(g, 0, 0, h, 513);
	expect_used(g, 0, 1, late.head, 513);
	assert_int_equal(vg_status(g, 9), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_OK);
	assert_memory_equal(vg_ptr(g, VG_DATA_IPA + 512 * 9), g->disk + 90 * 512, 512);
	/* A notify when no pass runs takes the lock and pumps itself: no hand-off. */
	on(g, 0, 0);
	read_req(g, 2, 20);
	virtio_blk_get_stats(g->blk, &st);
	assert_int_equal(st.notify_handoffs, 1);
	assert_int_equal(g->slow.count, 1);
	slowdisk_complete_all(&g->slow);
	down(g);
}

/*
 * Two vCPUs on their own queues never wait for each other: vCPU 1's notify of queue 1, while
 * vCPU 0 holds queue 0's lock in its pass, is parsed, submitted and completed under queue 1's lock
 * alone (the fake lock aborts on a second acquisition of queue 0's), and its interrupt is raised.
 */
static void test_queues_do_not_wait_for_each_other(void **state)
{
	(void)state;
	struct vg_opts o = {.nqueues = 2, .slow = true, .slow_capacity = 16};
	struct vg *g = up(&o, ALL);
	late.g = g;
	late.pumped = 0;
	late.q = 1;
	late.fired = 0;
	g->slow.on_submit = notify_from_other_vcpu;
	on(g, 0, 0);
	uint16_t h = read_req(g, 1, 10);
	g->slow.on_submit = NULL;
	assert_int_equal(g->slow.count, 2);
	struct virtio_blk_stats st;
	virtio_blk_get_stats(g->blk, &st);
	assert_int_equal(st.notify_handoffs, 0);
	assert_int_equal(st.lock_waits, 0);
	assert_int_equal(st.queue_requests[0], 1);
	assert_int_equal(st.queue_requests[1], 1);
	/* Queue 1's completion while queue 0's lock is held: finished at once, on queue 1's ring. */
	unsigned irqs = vg_irqs(g);
	spin_lock(&g->blk->queues[0].lock);
	slowdisk_complete_all(&g->slow);
	expect_used(g, 1, 0, late.head, 513);
	assert_int_equal(vg_status(g, 9), VIRTIO_BLK_S_OK);
	assert_true(vg_irqs(g) > irqs);
	vg_use_queue(g, 0);
	assert_int_equal(vg_used_idx(g), 0); /* left to queue 0's holder */
	spin_unlock(&g->blk->queues[0].lock);
	vblk_drain_done(&g->blk->queues[0]); /* what its holder does as it releases the lock */
	expect_used(g, 0, 0, h, 513);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_OK);
	assert_memory_equal(vg_ptr(g, VG_DATA_IPA + 512 * 9), g->disk + 90 * 512, 512);
	assert_memory_equal(vg_ptr(g, VG_DATA_IPA + 512 * 1), g->disk + 10 * 512, 512);
	down(g);
}

/*
 * The interrupt line is the transport's: a completion that finds its lock held (a vCPU's register
 * access) does not wait for it; the holder raises the interrupt as it releases the lock.
 */
static void test_interrupt_left_to_the_transport_lock_holder(void **state)
{
	(void)state;
	struct vg_opts o = {.nqueues = 2, .slow = true, .slow_capacity = 16};
	struct vg *g = up(&o, ALL);
	on(g, 1, 1);
	uint16_t h = read_req(g, 3, 30);
	unsigned irqs = vg_irqs(g);
	virtio_mmio_lock(&g->blk->mmio);
	slowdisk_complete_all(&g->slow);
	expect_used(g, 1, 0, h, 513); /* the used entry is written at once */
	assert_int_equal(vg_irqs(g), irqs);
	virtio_mmio_unlock(&g->blk->mmio);
	assert_true(vg_irqs(g) > irqs);
	assert_int_equal(vg_rd(g, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING,
			 VIRTIO_MMIO_INT_VRING);
	assert_int_equal(vg_status(g, 3), VIRTIO_BLK_S_OK);
	down(g);
}

/*
 * A sub-block request runs alone across queues: on a 4 KiB-block disk, queue 1's 512-byte write
 * claims the disk while queue 0 has a read in flight, starts only once that read completes, and
 * queue 0's next read waits until the read-modify-write is done; the bytes around it are kept.
 */
static void test_sub_block_request_runs_alone_across_queues(void **state)
{
	(void)state;
	struct vg_opts o = {.nqueues = 2, .slow = true, .slow_capacity = 16, .block_size = 4096};
	struct vg *g = up(&o, ~BIT(VIRTIO_BLK_F_BLK_SIZE));
	on(g, 0, 0);
	struct vg_req r0 = {VIRTIO_BLK_T_IN, 64, VG_DATA_IPA, 4096, true};
	uint16_t h0 = vg_blk_submit(g, 0, &r0);
	assert_int_equal(g->slow.count, 1);
	on(g, 1, 1);
	memset(vg_ptr(g, VG_DATA_IPA + 0x2000), 0x5a, 512);
	struct vg_req w = {VIRTIO_BLK_T_OUT, 9, VG_DATA_IPA + 0x2000, 512, false};
	uint16_t hw = vg_blk_submit(g, 1, &w);
	assert_int_equal(g->slow.count, 1); /* claimed, waiting for queue 0's read */
	assert_non_null(g->blk->rmw_gate);
	on(g, 0, 0);
	struct vg_req r1 = {VIRTIO_BLK_T_IN, 128, VG_DATA_IPA + 0x4000, 4096, true};
	uint16_t h1 = vg_blk_submit(g, 2, &r1);
	assert_int_equal(g->slow.count, 1); /* held while the disk is claimed */
	/* Queue 0's read completes: the disk drained, work is asked for (queue 1 starts its request,
	 * queue 0's waits on). */
	fake_vm_work_reset();
	slowdisk_complete_all(&g->slow);
	assert_true(fake_vm_work_pending(g->vm));
	expect_used(g, 0, 0, h0, 4097);
	vg_run_work(g, 4);
	assert_int_equal(g->slow.count, 1); /* the block's read, alone */
	for (unsigned i = 0; i < 16 && g->slow.count != 0; i++) {
		assert_int_equal(g->slow.count, 1); /* never anything beside a phase */
		slowdisk_complete_all(&g->slow);
		vg_run_work(g, 4);
		if (g->blk->rmw_gate == NULL)
			break;
	}
	expect_used(g, 1, 0, hw, 1);
	assert_null(g->blk->rmw_gate);
	/* The gate's release let queue 0's read go. */
	for (unsigned i = 0; i < 4 && vg_status(g, 2) == 0xff; i++) {
		slowdisk_complete_all(&g->slow);
		vg_run_work(g, 4);
	}
	expect_used(g, 0, 1, h1, 4097);
	for (unsigned s = 0; s < 3; s++)
		assert_int_equal(vg_status(g, s), VIRTIO_BLK_S_OK);
	assert_memory_equal(vg_ptr(g, VG_DATA_IPA), g->disk + 64 * 512, 4096);
	assert_memory_equal(vg_ptr(g, VG_DATA_IPA + 0x4000), g->disk + 128 * 512, 4096);
	for (unsigned i = 0; i < 512; i++)
		assert_int_equal(g->disk[9 * 512 + i], 0x5a);
	for (uint64_t i = 8 * 512; i < 16 * 512; i++)
		if (i < 9 * 512 || i >= 10 * 512)
			assert_int_equal(g->disk[i], vg_disk_byte(i));
	assert_int_equal(g->blk->inflight_total, 0);
	down(g);
}

/* A driver reset with requests of both queues in flight and pending: every queue is drained. */
static void test_reset_with_queues_in_flight(void **state)
{
	(void)state;
	struct vg_opts o = {.nqueues = 2, .slow = true, .slow_capacity = 3};
	struct vg *g = up(&o, ALL);
	slowdisk_make_cancellable(&g->slow, false);
	on(g, 0, 0);
	read_req(g, 0, 1);
	read_req(g, 1, 2);
	on(g, 1, 1);
	read_req(g, 2, 3);
	read_req(g, 3, 4); /* refused: pending */
	assert_int_equal(g->slow.count, 3);
	vg_wr(g, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(g->slow.count, 0);
	assert_int_equal(g->blk->queues[0].ninflight, 0);
	assert_int_equal(g->blk->queues[0].norphaned, 0);
	for (unsigned q = 0; q < 2; q++)
		assert_int_equal(g->blk->queues[q].nfree, VIRTIO_BLK_SLOTS / 2);
	for (unsigned q = 0; q < 2; q++) {
		vg_use_queue(g, q);
		assert_int_equal(vg_used_idx(g), 0); /* the rings were being torn down */
	}
	for (unsigned s = 0; s < 4; s++)
		assert_int_equal(vg_status(g, s), 0xff);
	/* Both queues come back. */
	g->as_vcpu = NULL;
	assert_true(vg_driver_init(g, ALL, QSIZE));
	on(g, 1, 1);
	uint16_t h = read_req(g, 4, 5);
	slowdisk_complete_all(&g->slow);
	expect_used(g, 1, 0, h, 513);
	assert_int_equal(vg_status(g, 4), VIRTIO_BLK_S_OK);
	/* VM-level quiesce and reset with both queues busy. */
	on(g, 0, 0);
	read_req(g, 5, 6);
	on(g, 1, 1);
	read_req(g, 6, 7);
	bool idle = false;
	for (unsigned i = 0; i < 4 && !idle; i++)
		idle = virtio_blk_quiesce(g->blk);
	assert_true(idle);
	virtio_blk_reset(g->blk);
	for (unsigned q = 0; q < 2; q++)
		assert_int_equal(g->blk->queues[q].nfree, VIRTIO_BLK_SLOTS / 2);
	down(g);
}

/* Every register word of the shadow page reads as a trapped read of it does (config included). */
static void expect_shadow_current(struct vg *g, const uint32_t *shadow)
{
	uint32_t config_end = VIRTIO_MMIO_CONFIG + sizeof(struct virtio_blk_config) / 4 * 4;
	for (uint32_t off = 0; off < config_end; off += 4) {
		bool readable = off >= VIRTIO_MMIO_CONFIG;
		if (!readable) {
			spin_lock(&g->blk->mmio.lock);
			(void)virtio_mmio_reg_value(&g->blk->mmio, off, &readable);
			spin_unlock(&g->blk->mmio.lock);
		}
		uint32_t want = readable ? vg_rd(g, off) : 0;
		if (shadow[off / 4] != want)
			fail_msg("QueueSel %u: shadow word 0x%x is 0x%x, a trapped read 0x%x",
				 g->blk->mmio.queue_sel, off, shadow[off / 4], want);
	}
}

/* The read-only shadow page follows QueueSel over every queue (QueueNumMax, QueueReady per queue),
 * num_queues in the config, and InterruptStatus after a completion on a queue other than 0. */
static void test_shadow_follows_each_queue(void **state)
{
	(void)state;
	struct vg_opts o = {.nqueues = 3};
	struct vg *g = vg_create(&o);
	fake_vgic_reset();
	fake_vm_work_reset();
	uint32_t *shadow = aligned_alloc(VIRTIO_MMIO_SHADOW_SIZE, VIRTIO_MMIO_SHADOW_SIZE);
	assert_non_null(shadow);
	memset(shadow, 0xa5, VIRTIO_MMIO_SHADOW_SIZE);
	virtio_mmio_attach_shadow(&g->blk->mmio, shadow);
	assert_int_equal(shadow[(VIRTIO_MMIO_CONFIG + 32) / 4] >> 16, 3); /* num_queues */
	/* Before the driver: no queue ready, each selectable one has its QueueNumMax. */
	for (uint32_t q = 0; q <= 3; q++) {
		vg_wr(g, VIRTIO_MMIO_QUEUE_SEL, q);
		assert_int_equal(shadow[VIRTIO_MMIO_QUEUE_NUM_MAX / 4], q < 3 ? VIRTIO_BLK_QUEUE_SIZE : 0);
		expect_shadow_current(g, shadow);
	}
	for (unsigned i = 0; i < 2; i++)
		vcpus[i].index = i;
	assert_true(vg_driver_init(g, ALL, QSIZE)); /* leaves QueueSel at the last queue */
	for (uint32_t q = 0; q <= 3; q++) {
		vg_wr(g, VIRTIO_MMIO_QUEUE_SEL, q);
		assert_int_equal(shadow[VIRTIO_MMIO_QUEUE_READY / 4], q < 3 ? 1 : 0);
		expect_shadow_current(g, shadow);
	}
	/* A completion on queue 2 raises InterruptStatus in the shadow before the guest looks. */
	vg_wr(g, VIRTIO_MMIO_QUEUE_SEL, 0);
	on(g, 1, 2);
	uint16_t h = read_req(g, 0, 9);
	expect_used(g, 2, 0, h, 513);
	assert_int_equal(shadow[VIRTIO_MMIO_INTERRUPT_STATUS / 4] & VIRTIO_MMIO_INT_VRING,
			 VIRTIO_MMIO_INT_VRING);
	expect_shadow_current(g, shadow);
	/* A reset readies no queue again, whichever QueueSel held. */
	vg_wr(g, VIRTIO_MMIO_QUEUE_SEL, 2);
	vg_wr(g, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(shadow[VIRTIO_MMIO_QUEUE_READY / 4], 0);
	expect_shadow_current(g, shadow);
	virtio_mmio_attach_shadow(&g->blk->mmio, NULL);
	free(shadow);
	down(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_num_queues),
	    cmocka_unit_test(test_queue_per_vcpu),
	    cmocka_unit_test(test_hostile_queue_beside_healthy),
	    cmocka_unit_test(test_queue_flood_leaves_the_other_its_slots),
	    cmocka_unit_test(test_notify_during_a_pass_is_handed_off),
	    cmocka_unit_test(test_queues_do_not_wait_for_each_other),
	    cmocka_unit_test(test_interrupt_left_to_the_transport_lock_holder),
	    cmocka_unit_test(test_sub_block_request_runs_alone_across_queues),
	    cmocka_unit_test(test_reset_with_queues_in_flight),
	    cmocka_unit_test(test_shadow_follows_each_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
