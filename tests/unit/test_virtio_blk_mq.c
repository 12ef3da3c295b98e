/*
 * virtio-blk multi-queue (VIRTIO_BLK_F_MQ): num_queues, a queue per vCPU whose completions land
 * on its own used ring and whose work is asked of the vCPU that drives it, a hostile queue beside
 * healthy ones, and resets with several queues in flight. The fake guest drives the device only
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
	for (unsigned i = 0; i < 4; i++) { /* the vCPUs' loops run the work; the backend completes */
		vg_run_work(g, 4);
		slowdisk_complete_all(&g->slow);
	}
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

/* A queue flooding the device does not starve the other: every pass visits each queue. */
static void test_queues_share_passes(void **state)
{
	(void)state;
	struct vg_opts o = {.nqueues = 2, .slow = true, .slow_capacity = 200};
	struct vg *g = up(&o, ALL);
	/* Queue 1 fills its ring without notifying; queue 0 adds one request and notifies. */
	on(g, 1, 1);
	for (unsigned i = 0; i < 20; i++) {
		struct vg_req r = {VIRTIO_BLK_T_IN, i, VG_DATA_IPA + 512 * i, 512, true};
		uint16_t head = (uint16_t)(3 * i);
		vg_set_desc(g, head, VG_HDR_IPA + 16 * i, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(head + 1));
		vg_set_desc(g, (uint16_t)(head + 1), r.data_ipa, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE,
			    (uint16_t)(head + 2));
		vg_set_desc(g, (uint16_t)(head + 2), VG_STATUS_IPA + i, 1, VIRTQ_DESC_F_WRITE, 0);
		struct virtio_blk_outhdr *hdr = vg_ptr(g, VG_HDR_IPA + 16 * i);
		hdr->type = VIRTIO_BLK_T_IN;
		hdr->sector = i;
		vg_publish(g, head);
	}
	on(g, 0, 0);
	read_req(g, 30, 30);
	/* One pass popped both queues: queue 1's twenty and queue 0's one are with the backend. */
	assert_int_equal(g->slow.count, 21);
	slowdisk_complete_all(&g->slow);
	struct virtio_blk_stats st;
	virtio_blk_get_stats(g->blk, &st);
	assert_int_equal(st.queue_requests[0], 1);
	assert_int_equal(st.queue_requests[1], 20);
	assert_int_equal(vg_status(g, 30), VIRTIO_BLK_S_OK);
	vg_use_queue(g, 1);
	assert_int_equal(vg_used_idx(g), 20);
	down(g);
}

/* The notify the hook sends from inside a submit: the other vCPU's, while the first one pumps. */
static struct {
	struct vg *g;
	unsigned q; /* the queue (and vCPU) that notifies */
	unsigned fired;
	bool lock_free; /* the device lock was free (dropped around submit) when it notified */
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
	late.lock_free = g->blk->mmio.lock.v == 0;
	on(g, late.q, late.q);
	spin_lock(&g->blk->mmio.lock); /* as if the pumping vCPU held it: the notify must not wait */
	late.head = read_req(g, 9, 90);
	spin_unlock(&g->blk->mmio.lock);
	g->as_vcpu = was_vcpu;
	vg_use_queue(g, was_q);
}

/*
 * Two vCPUs notify at once: the second finds the first pumping and leaves its queue to that pass
 * without waiting for the lock (a notify never waits on another vCPU's pass). Its request is taken
 * although its queue was already visited in that pass: the pass looks again before it stops.
 */
static void test_notify_during_a_pass_is_handed_off(void **state)
{
	(void)state;
	struct vg_opts o = {.nqueues = 2, .slow = true, .slow_capacity = 16};
	struct vg *g = up(&o, ALL);
	/* The pass visits queue `first`, then `second`: the hook fires while `second` is pumped,
	 * and notifies `first`, which that pass has emptied already. */
	unsigned first = g->blk->next_q % 2, second = 1 - first;
	late.g = g;
	late.q = first;
	late.fired = 0;
	g->slow.on_submit = notify_from_other_vcpu;
	on(g, second, second);
	read_req(g, 1, 10);
	g->slow.on_submit = NULL;
	assert_int_equal(late.fired, 2);
	assert_true(late.lock_free);
	/* Both requests are with the backend after that one notify's pass. */
	assert_int_equal(g->slow.count, 2);
	struct virtio_blk_stats st;
	virtio_blk_get_stats(g->blk, &st);
	assert_int_equal(st.notify_handoffs, 1);
	assert_int_equal(st.notifications, 2);
	assert_int_equal(st.queue_requests[first], 1);
	assert_int_equal(st.queue_requests[second], 1);
	assert_false(g->blk->pumping);
	assert_false(g->blk->handoff);
	/* The handing-off vCPU is still where its queue's work is asked for. */
	assert_int_equal(g->blk->queue_home[first], first);
	slowdisk_complete_all(&g->slow);
	expect_used(g, first, 0, late.head, 513);
	assert_int_equal(vg_status(g, 9), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_status(g, 1), VIRTIO_BLK_S_OK);
	assert_memory_equal(vg_ptr(g, VG_DATA_IPA + 512 * 9), g->disk + 90 * 512, 512);
	/* A notify when no pass runs takes the lock and pumps itself: no hand-off. */
	on(g, first, first);
	read_req(g, 2, 20);
	virtio_blk_get_stats(g->blk, &st);
	assert_int_equal(st.notify_handoffs, 1);
	assert_int_equal(g->slow.count, 1);
	slowdisk_complete_all(&g->slow);
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
	assert_int_equal(g->blk->ninflight, 0);
	assert_int_equal(g->blk->norphaned, 0);
	assert_int_equal(g->blk->nfree, VIRTIO_BLK_SLOTS);
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
	assert_int_equal(g->blk->nfree, VIRTIO_BLK_SLOTS);
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
	    cmocka_unit_test(test_queues_share_passes),
	    cmocka_unit_test(test_notify_during_a_pass_is_handed_off),
	    cmocka_unit_test(test_reset_with_queues_in_flight),
	    cmocka_unit_test(test_shadow_follows_each_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
