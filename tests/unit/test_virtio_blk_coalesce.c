/*
 * virtio-blk interrupt coalescing (virtio_blk_params.coalesce_us): a completion that finds the
 * guest busy writes its used entry at once but holds the interrupt, with the driver's
 * notifications off, until a vCPU idles or the deadline passes; a driver that never
 * acknowledged an interrupt, a disk with coalescing off, an idle guest and a completion that
 * leaves the device none of the driver's requests (the one a QD1 guest waits for: it waited for its
 * I/O lately) are interrupted at once. The fake guest drives the device only through MMIO accesses and its
 * own RAM; the fake VM (tests/fakes/vm_work.c) says whether the guest is idle and records the deferred work.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/timer.h"
#include "keel/util.h"
#include "tests/fakes/fake_vgic.h"
#include "tests/fakes/fake_vm_work.h"
#include "tests/fakes/virtio_guest.h"

#define ALL   (~0ULL)
#define QSIZE 128
#define US    1000ULL /* fake_timer_ns per microsecond */

static struct vg *up_opts(const struct vg_opts *o)
{
	struct vg *g = vg_create(o);
	fake_vgic_reset();
	fake_vm_work_reset();
	fake_timer_manual = true;
	fake_timer_ns = 1000000000;
	assert_true(vg_driver_init(g, ALL, QSIZE));
	return g;
}

static struct vg *up(uint32_t coalesce_us)
{
	struct vg_opts o = {.slow = true, .coalesce_us = coalesce_us};
	return up_opts(&o);
}

static void down(struct vg *g)
{
	fake_timer_manual = false;
	assert_true(vg_destroy(g)); /* no byte outside guest RAM or the disk image changed */
}

static unsigned irqs(struct vg *g)
{
	return fake_vgic_count(g->vm, VG_INTID);
}

/* The driver wants an interrupt for its next used entry (EVENT_IDX used_event, as Linux's
 * virtqueue_enable_cb after it has processed the ring). */
static void enable_cb(struct vg *g)
{
	uint16_t *used_event = vg_ptr(g, VG_AVAIL_IPA + 4 + 2 * QSIZE);
	*used_event = vg_used_idx(g);
}

/* Reads of sector i into data slot i, i = first..first+n-1, published without a notify. */
static void queue_reads(struct vg *g, unsigned first, unsigned n)
{
	enable_cb(g);
	vg_queue_reads(g, first, n);
}

/* Reads 0..n-1 completed OK with the disk's bytes. */
static void expect_reads_ok(struct vg *g, unsigned n)
{
	assert_int_equal(vg_used_idx(g), n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(vg_status(g, i), VIRTIO_BLK_S_OK);
		const uint8_t *data = vg_ptr(g, VG_DATA_IPA + 512 * i);
		for (unsigned b = 0; b < 512; b++)
			assert_int_equal(data[b], vg_disk_byte(i * 512 + b));
	}
}

/* Would the driver notify after moving avail idx from old_idx to new_idx (EVENT_IDX)? */
static bool driver_would_notify(struct vg *g, uint16_t old_idx, uint16_t new_idx)
{
	struct virtq_used *u = vg_ptr(g, VG_USED_IPA);
	uint16_t event = *(uint16_t *)&u->ring[QSIZE];
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/* Read i queued, notified and completed by the disk (QD1). */
static void read_done(struct vg *g, unsigned i)
{
	queue_reads(g, i, 1);
	vg_notify(g);
	slowdisk_complete_all(&g->slow);
}

/* A vCPU idles (core: vm_vcpu_idles asks for the deferred work), which then runs. */
static void guest_idles(struct vg *g)
{
	fake_vm_set_busy(false);
	vm_request_work(g->vm, 0);
	vg_run_work(g, 4);
}

/* The driver takes its first interrupt, as Linux does: read the status, acknowledge it. */
static void first_request_acked(struct vg *g)
{
	read_done(g, 0);
	assert_int_equal(irqs(g), 1); /* no acknowledge seen yet: never held */
	assert_int_equal(vg_rd(g, VIRTIO_MMIO_INTERRUPT_STATUS), 1);
	vg_wr(g, VIRTIO_MMIO_INTERRUPT_ACK, 1);
	vg_run_work(g, 4);
}

/* A driver that takes interrupts, a busy guest, reads 1 and 2 in flight and read 1 done: it
 * interrupts iff not held (read 2 is still with the device). */
static void held_one(struct vg *g)
{
	first_request_acked(g);
	fake_vm_set_busy(true);
	queue_reads(g, 1, 2);
	vg_notify(g);
	assert_int_equal(g->slow.count, 2);
	slowdisk_complete_first(&g->slow);
	assert_int_equal(vg_used_idx(g), 2);
}

/*
 * A busy guest at depth: completions hold the interrupt (one deferred release asked for), the
 * driver's new requests go without a notify and are taken by the passes the completions bring,
 * and the interrupt comes when a vCPU idles, once for all of them.
 */
static void test_held_while_busy_released_when_idle(void **state)
{
	(void)state;
	struct vg *g = up(1000);
	first_request_acked(g);
	fake_vm_work_reset();
	fake_vm_set_busy(true);

	queue_reads(g, 1, 2);
	vg_notify(g);
	assert_int_equal(g->slow.count, 2);
	queue_reads(g, 3, 1); /* two in flight: notifications are off */
	slowdisk_complete_all(&g->slow);
	assert_int_equal(vg_used_idx(g), 3); /* the used entries are there at once */
	assert_int_equal(irqs(g), 1);	     /* the interrupt is not */
	uint32_t us = 0;
	assert_int_equal(fake_vm_defers(&us), 1);
	assert_int_equal(us, 1000);
	/* The pass the completions ask for takes the request added without a notify. */
	assert_true(fake_vm_work_calls(g->vm) >= 1);
	vg_run_work(g, 4);
	assert_int_equal(g->slow.count, 1);
	assert_int_equal(irqs(g), 1);
	assert_false(driver_would_notify(g, 4, 5)); /* held: the next buffer needs no notify either */

	guest_idles(g);
	assert_int_equal(irqs(g), 2); /* one interrupt for the three */
	assert_int_equal(vg_rd(g, VIRTIO_MMIO_INTERRUPT_STATUS), 1);
	vg_wr(g, VIRTIO_MMIO_INTERRUPT_ACK, 1);

	/* An idle guest is interrupted at once; with nothing in flight or held the ring is armed. */
	enable_cb(g);
	slowdisk_complete_all(&g->slow);
	assert_int_equal(irqs(g), 3);
	vg_run_work(g, 4);
	assert_true(driver_would_notify(g, 4, 5));
	expect_reads_ok(g, 4);
	struct virtio_blk_stats st = vg_blk_stats(g);
	assert_int_equal(st.irq_idle_releases, 1);
	assert_int_equal(st.irq_late_releases, 0);
	assert_int_equal(st.notifications, 2);
	down(g);
}

/*
 * The completion a QD1 guest waits for is not held: the only used entry since the last
 * interrupt, which carried one too, nothing else with the device, notifications on. Two at once
 * are held, even once the device has run dry (the guest is busy: it has not seen them yet).
 */
static void test_lone_completion_not_held(void **state)
{
	(void)state;
	struct vg *g = up(1000);
	first_request_acked(g);
	fake_vm_set_busy(true);

	for (unsigned i = 1; i < 3; i++) {
		read_done(g, i);
		assert_int_equal(irqs(g), i + 1); /* QD1: at once */
		assert_true(driver_would_notify(g, (uint16_t)(i + 1), (uint16_t)(i + 2)));
		vg_wr(g, VIRTIO_MMIO_INTERRUPT_ACK, 1);
	}
	assert_int_equal(vg_blk_stats(g).irq_holds, 0);

	queue_reads(g, 3, 2);
	vg_notify(g);
	slowdisk_complete_all(&g->slow);
	vg_run_work(g, 4); /* the ring is empty, nothing in flight */
	assert_int_equal(irqs(g), 3);
	guest_idles(g);
	assert_int_equal(irqs(g), 4);
	vg_wr(g, VIRTIO_MMIO_INTERRUPT_ACK, 1);

	/* That interrupt carried two: the guest ran at depth. Its next lone completion waits once
	 * (for the idle); the one after, the guest at depth 1 again, does not. */
	fake_vm_set_busy(true);
	read_done(g, 5);
	vg_run_work(g, 4);
	assert_int_equal(irqs(g), 4);
	guest_idles(g);
	assert_int_equal(irqs(g), 5);
	vg_wr(g, VIRTIO_MMIO_INTERRUPT_ACK, 1);
	fake_vm_set_busy(true);
	read_done(g, 6);
	vg_run_work(g, 4);
	assert_int_equal(irqs(g), 6);
	vg_wr(g, VIRTIO_MMIO_INTERRUPT_ACK, 1);
	expect_reads_ok(g, 7);
	struct virtio_blk_stats st = vg_blk_stats(g);
	assert_int_equal(st.irq_holds, 2); /* the driver asked for one of reads 3 and 4 (used_event) */
	assert_int_equal(st.irq_idle_releases, 2);
	down(g);
}

/* A pass of the deferred work at `at` microseconds after the hold (another completion, the tick). */
static void pass_at(struct vg *g, uint64_t held_ns, uint64_t at)
{
	fake_timer_ns = held_ns + at * US;
	vm_request_work(g->vm, 0);
	vg_run_work(g, 4);
}

/*
 * A guest that stays busy gets its interrupt by the deadline, not before; one that carries fewer
 * than VIRTIO_BLK_HOLD_BATCH used entries, by VIRTIO_BLK_HOLD_STRETCH deadlines.
 */
static void test_held_until_deadline(void **state)
{
	(void)state;
	struct vg *g = up(1000);
	held_one(g);
	uint64_t t0 = fake_timer_ns;
	assert_int_equal(irqs(g), 1);

	pass_at(g, t0, 999);
	assert_int_equal(irqs(g), 1);
	uint32_t us = 0;
	assert_int_equal(fake_vm_defers(&us), 2); /* the release is asked for again, for what is left */
	assert_int_equal(us, 1);

	pass_at(g, t0, 1000); /* one used entry: it waits for more, up to three deadlines */
	assert_int_equal(irqs(g), 1);
	assert_int_equal(fake_vm_defers(&us), 3);
	assert_int_equal(us, 2000);
	pass_at(g, t0, 2999);
	assert_int_equal(irqs(g), 1);
	pass_at(g, t0, 3000);
	assert_int_equal(irqs(g), 2);
	assert_int_equal(vg_blk_stats(g).irq_late_releases, 1);
	assert_true(driver_would_notify(g, 3, 4)); /* one in flight, none held: armed */
	enable_cb(g);				   /* the driver took the interrupt */
	slowdisk_complete_all(&g->slow);	   /* read 2, the last: at once */
	assert_int_equal(irqs(g), 3);
	expect_reads_ok(g, 3);
	down(g);
}

/* A hold of VIRTIO_BLK_HOLD_BATCH used entries or more ends at the first deadline. */
static void test_batch_released_at_deadline(void **state)
{
	(void)state;
	struct vg *g = up(1000);
	first_request_acked(g);
	fake_vm_set_busy(true);
	queue_reads(g, 1, VIRTIO_BLK_HOLD_BATCH + 1);
	vg_notify(g);
	uint64_t t0 = fake_timer_ns;
	for (unsigned i = 0; i < VIRTIO_BLK_HOLD_BATCH; i++)
		slowdisk_complete_first(&g->slow);
	assert_int_equal(vg_used_idx(g), 1 + VIRTIO_BLK_HOLD_BATCH);
	assert_int_equal(irqs(g), 1);
	pass_at(g, t0, 999);
	assert_int_equal(irqs(g), 1);
	pass_at(g, t0, 1000);
	assert_int_equal(irqs(g), 2);
	assert_int_equal(vg_blk_stats(g).irq_late_releases, 1);
	slowdisk_complete_all(&g->slow);
	expect_reads_ok(g, 2 + VIRTIO_BLK_HOLD_BATCH);
	down(g);
}

/*
 * A guest that has not waited for its I/O (no WFI, no completion poll) for
 * VIRTIO_BLK_LONE_IDLE_DEADLINES is CPU-bound at depth with a device faster than itself: its lone completions
 * are held too (and taken by the deadline, stretched for a small batch). Once it has waited lately, they are
 * not.
 */
static void test_lone_completion_held_when_cpu_bound(void **state)
{
	(void)state;
	struct vg *g = up(1000);
	first_request_acked(g);
	fake_vm_set_busy(true);
	uint64_t t0 = fake_timer_ns, now_us = t0 / US;
	fake_vm_set_last_idle_us(now_us - 1000 * VIRTIO_BLK_LONE_IDLE_DEADLINES - 1);

	read_done(g, 1); /* lone: nothing else with the device, the last interrupt carried one */
	assert_int_equal(irqs(g), 1);
	assert_int_equal(vg_blk_stats(g).irq_holds, 1);
	vg_run_work(g, 4);
	assert_int_equal(irqs(g), 1);
	/* Nothing is with the device: the next request is notified (it must not wait for the release). */
	assert_true(driver_would_notify(g, 2, 3));
	pass_at(g, t0, 1000);
	assert_int_equal(irqs(g), 1);
	pass_at(g, t0, 3000);
	assert_int_equal(irqs(g), 2);
	vg_wr(g, VIRTIO_MMIO_INTERRUPT_ACK, 1);

	/* It waited lately (just within): a QD1 guest, interrupted at once. */
	fake_vm_set_last_idle_us(fake_timer_ns / US - 1000 * VIRTIO_BLK_LONE_IDLE_DEADLINES);
	read_done(g, 2);
	assert_int_equal(irqs(g), 3);
	assert_int_equal(vg_blk_stats(g).irq_holds, 1);
	vg_wr(g, VIRTIO_MMIO_INTERRUPT_ACK, 1);

	/* Another vCPU's WFI stamped its idle time after the device read the clock: just now. */
	fake_vm_set_last_idle_us(fake_timer_ns / US + 5);
	read_done(g, 3);
	assert_int_equal(irqs(g), 4);
	assert_int_equal(vg_blk_stats(g).irq_holds, 1);
	expect_reads_ok(g, 4);
	down(g);
}

/* The other way to have waited for its I/O lately: the guest sat in a completion poll (in its
 * notify). A lone completion soon after one goes at once; four deadlines later it is held. */
static void test_lone_completion_after_a_poll(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true, .coalesce_us = 1000, .pollable = true, .poll_us = 500};
	struct vg *g = up_opts(&o);
	g->slow.ready_in = 1;
	first_request_acked(g); /* read 0: reaped by the poll in its notify */
	assert_int_equal(vg_blk_stats(g).poll_hits, 1);
	fake_vm_set_busy(true);
	fake_vm_set_last_idle_us(fake_timer_ns / US - 1000 * VIRTIO_BLK_LONE_IDLE_DEADLINES - 1);
	g->blk->queues[0].ab[0].off = true; /* the next ones are not polled: their completions interrupt */

	read_done(g, 1); /* lone, just after the poll */
	assert_int_equal(vg_blk_stats(g).polls, 1);
	assert_int_equal(irqs(g), 2);
	assert_int_equal(vg_blk_stats(g).irq_holds, 0);
	vg_wr(g, VIRTIO_MMIO_INTERRUPT_ACK, 1);

	fake_timer_ns += (1000 * VIRTIO_BLK_LONE_IDLE_DEADLINES + 1) * US;
	fake_vm_set_last_idle_us(fake_timer_ns / US - 1000 * VIRTIO_BLK_LONE_IDLE_DEADLINES - 1);
	read_done(g, 2); /* lone, but the poll was four deadlines ago: a CPU-bound guest, held */
	assert_int_equal(irqs(g), 2);
	assert_int_equal(vg_blk_stats(g).irq_holds, 1);
	guest_idles(g);
	assert_int_equal(irqs(g), 3);
	expect_reads_ok(g, 3);
	down(g);
}

/*
 * A lone large request turns notifications off while it runs (virtio_blk.c lone_large), yet its
 * completion is the one a QD1 guest waits for: not held. With a second request in flight,
 * notifications off mean what they did before (requests may have been added unseen): held.
 */
static void test_lone_large_completion_not_held(void **state)
{
	(void)state;
	struct vg *g = up(1000);
	first_request_acked(g);
	fake_vm_set_busy(true);
	const uint32_t big = (VIRTIO_BLK_POLL_LARGE_SECTORS + 8) * 512;
	struct vg_req r = {VIRTIO_BLK_T_IN, 16, VG_DATA_IPA + 0x10000, big, true};

	enable_cb(g);
	vg_blk_submit(g, 1, &r);
	assert_false(driver_would_notify(g, 2, 3)); /* quiet while it runs */
	slowdisk_complete_all(&g->slow);
	assert_int_equal(irqs(g), 2); /* at once */
	assert_int_equal(vg_blk_stats(g).irq_holds, 0);
	vg_run_work(g, 4);
	assert_true(driver_would_notify(g, 2, 3));
	vg_wr(g, VIRTIO_MMIO_INTERRUPT_ACK, 1);

	/* Large and small in flight, the small one done first: held (the guest is at depth). */
	enable_cb(g);
	vg_blk_queue(g, 2, &r);
	struct vg_req sr = {VIRTIO_BLK_T_IN, 3, VG_DATA_IPA + 512 * 3, 512, true};
	vg_blk_queue(g, 3, &sr);
	vg_notify(g);
	assert_int_equal(g->slow.count, 2);
	struct blk_req *large = g->slow.queue[0]; /* the small one completes first */
	g->slow.queue[0] = g->slow.queue[1];
	g->slow.queue[1] = large;
	slowdisk_complete_first(&g->slow);
	assert_int_equal(irqs(g), 2);
	assert_int_equal(vg_blk_stats(g).irq_holds, 1);
	slowdisk_complete_all(&g->slow);
	guest_idles(g);
	assert_int_equal(irqs(g), 3);
	assert_int_equal(vg_used_idx(g), 4);
	for (unsigned i = 1; i < 4; i++)
		assert_int_equal(vg_status(g, i), VIRTIO_BLK_S_OK);
	const uint8_t *data = vg_ptr(g, VG_DATA_IPA + 0x10000);
	for (unsigned b = 0; b < big; b++)
		assert_int_equal(data[b], vg_disk_byte(16 * 512 + b));
	down(g);
}

/* Never held: a driver that has not acknowledged an interrupt (it polls), or coalescing off. */
static void test_not_held_without_ack_or_when_off(void **state)
{
	(void)state;
	struct vg *g = up(1000);
	fake_vm_set_busy(true);
	for (unsigned i = 0; i < 3; i++) {
		read_done(g, i);
		assert_int_equal(irqs(g), i + 1);
		assert_true(driver_would_notify(g, (uint16_t)(i + 1), (uint16_t)(i + 2)));
	}
	expect_reads_ok(g, 3);
	assert_int_equal(vg_blk_stats(g).irq_holds, 0);
	down(g);

	g = up(0);
	held_one(g);
	assert_int_equal(irqs(g), 2);
	slowdisk_complete_all(&g->slow);
	assert_int_equal(fake_vm_defers(NULL), 0);
	down(g);
}

/* A driver reset drops a held interrupt (InterruptStatus is 0 again) and the need to acknowledge. */
static void test_reset_drops_held(void **state)
{
	(void)state;
	struct vg *g = up(1000);
	held_one(g);
	assert_true(g->blk->queues[0].irq_held);
	vg_wr(g, VIRTIO_MMIO_STATUS, 0);
	assert_false(g->blk->queues[0].irq_held);
	assert_false(g->blk->mmio.driver_acks);
	assert_int_equal(vg_rd(g, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	fake_vm_set_busy(false);
	vm_request_work(g->vm, 0);
	slowdisk_complete_all(&g->slow); /* read 2, orphaned by the reset */
	vg_run_work(g, 4);
	assert_int_equal(irqs(g), 1); /* nothing delivered after the reset */
	down(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_held_while_busy_released_when_idle),
	    cmocka_unit_test(test_lone_completion_not_held),
	    cmocka_unit_test(test_held_until_deadline),
	    cmocka_unit_test(test_batch_released_at_deadline),
	    cmocka_unit_test(test_lone_completion_held_when_cpu_bound),
	    cmocka_unit_test(test_lone_completion_after_a_poll),
	    cmocka_unit_test(test_lone_large_completion_not_held),
	    cmocka_unit_test(test_not_held_without_ack_or_when_off),
	    cmocka_unit_test(test_reset_drops_held),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
