/*
 * virtio-blk's completion polling, end to end: after a notify that leaves one request in flight,
 * keel waits for it (bounded by time) and the guest returns from its notify to a completed request;
 * whether to poll at all is measured (lone requests in epochs, trials of the other mode). A fake
 * guest drives the device through MMIO and its own RAM, over a slowdisk the test completes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/cpu.h"
#include "arch/timer.h"
#include "keel/util.h"
#include "tests/fakes/fake_vgic.h"
#include "tests/fakes/fake_vm_work.h"
#include "tests/fakes/irq_wait.h"
#include "tests/fakes/virtio_guest.h"

#define ALL   (~0ULL)
#define QSIZE 128

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

/* A lone request the backend finishes while keel waits: done when the notify returns. */
static void test_poll_completes_lone_request(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true, .pollable = true, .poll_us = 100000};
	struct vg *g = up(&o, ALL);
	g->slow.ready_in = 50;
	vg_submit_reads(g, 3, 1);
	assert_int_equal(vg_status(g, 3), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_used_idx(g), 1);
	assert_int_equal(vg_irqs(g), 1);
	assert_int_equal(g->slow.ready_calls, 50);
	struct virtio_blk_stats s = vg_blk_stats(g);
	assert_int_equal(s.polls, 1);
	assert_int_equal(s.poll_hits, 1);
	assert_int_equal(s.poll_misses + s.poll_breaks, 0);
	const uint8_t *data = vg_ptr(g, VG_DATA_IPA + 512 * 3);
	for (unsigned i = 0; i < 512; i++)
		assert_int_equal(data[i], vg_disk_byte(3 * 512 + i));
	down(g);
}

/* Between looks the CPU sleeps until an interrupt or the window's end (hyp_wait_irq_until), instead
 * of spinning: on the test's clock a request that never finishes costs one sleep to the deadline
 * and a few clock reads, and the window is kept exactly. */
static void test_poll_sleeps_to_its_deadline(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true, .pollable = true, .poll_us = 4000};
	struct vg *g = up(&o, ALL);
	fake_timer_manual = true;
	fake_timer_ns = 1000000000;
	fake_irq_wait = (struct fake_irq_wait){0};
	vg_submit_reads(g, 0, 1); /* never ready: waits out the window */
	struct virtio_blk_stats s = vg_blk_stats(g);
	assert_int_equal(s.poll_misses, 1);
	assert_int_equal(s.poll_wait_us, 4000);
	assert_int_equal(fake_irq_wait.waits, 1);
	assert_int_equal(fake_irq_wait.deadline_us, 1000000 + 4000);
	assert_int_equal(s.poll_clock_reads, 3);
	assert_int_equal(g->slow.ready_calls, 2); /* a look before the sleep and one after */
	fake_timer_manual = false;
	virtio_blk_poll(g->blk);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	down(g);
}

/* A backend that does not finish within the window: the request stays in flight, the notify
 * returns, and a later completion still reaches the guest. Then polling backs off. */
static void test_poll_window_expires(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true, .pollable = true, .poll_us = 200};
	struct vg *g = up(&o, ALL);
	vg_submit_reads(g, 0, 1); /* never ready */
	assert_int_equal(vg_status(g, 0), 0xff);
	assert_int_equal(g->slow.count, 1);
	struct virtio_blk_stats s = vg_blk_stats(g);
	assert_int_equal(s.polls, 1);
	assert_int_equal(s.poll_misses, 1);
	assert_true(s.poll_wait_us >= 200);
	virtio_blk_poll(g->blk);
	assert_int_equal(vg_status(g, 0), VIRTIO_BLK_S_OK);
	/* One slow request does not stop polling; a run of them does (estimate 100, 175, 231). */
	assert_true(g->blk->queues[0].poll_est_us[0] <= 200);
	vg_submit_reads(g, 1, 1);
	virtio_blk_poll(g->blk);
	vg_submit_reads(g, 2, 1);
	virtio_blk_poll(g->blk);
	assert_int_equal(vg_blk_stats(g).poll_misses, 3);
	assert_true(g->blk->queues[0].poll_est_us[0] > 200);

	/* Only one lone request in VIRTIO_BLK_POLL_PROBE is polled now, and probes that complete in
	 * time turn polling back on. */
	for (unsigned i = 3; i < 2 + VIRTIO_BLK_POLL_PROBE; i++) {
		vg_submit_reads(g, i, 1);
		virtio_blk_poll(g->blk);
	}
	assert_int_equal(vg_blk_stats(g).polls, 3);
	g->slow.ready_in = 1;
	g->slow.ready_calls = 0;
	vg_submit_reads(g, 20, 1); /* the probe */
	assert_int_equal(vg_status(g, 20), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_blk_stats(g).polls, 4);
	/* Fast completions bring the estimate under the window: every lone request is polled again. */
	for (unsigned i = 21; i < 21 + 4 * VIRTIO_BLK_POLL_PROBE && g->blk->queues[0].poll_est_us[0] > 200;
	     i++) {
		g->slow.ready_calls = 0;
		vg_submit_reads(g, i % 40, 1);
		virtio_blk_poll(g->blk);
	}
	assert_true(g->blk->queues[0].poll_est_us[0] <= 200);
	uint64_t polls = vg_blk_stats(g).polls;
	g->slow.ready_calls = 0;
	vg_submit_reads(g, 41, 1);
	assert_int_equal(vg_status(g, 41), VIRTIO_BLK_S_OK);
	assert_int_equal(vg_blk_stats(g).polls, polls + 1);
	down(g);
}

/* Large requests (over 64 KiB) that outlast the window stop polling of large requests only: small
 * lone requests are still polled (a sequential phase does not switch polling off for a whole run). */
static void test_poll_by_request_size(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true, .pollable = true, .poll_us = 200};
	struct vg *g = up(&o, ALL);
	for (unsigned i = 0; i < 3; i++) { /* never ready within the window */
		struct vg_req r = {VIRTIO_BLK_T_IN, 0, VG_DATA_IPA, 256 * 512, true};
		vg_blk_submit(g, i, &r);
		virtio_blk_poll(g->blk);
	}
	struct virtio_blk_stats s = vg_blk_stats(g);
	assert_int_equal(s.polls, 3);
	assert_int_equal(s.polls_large, 3);
	assert_int_equal(s.poll_misses, 3);
	assert_true(g->blk->queues[0].poll_est_us[1] > 200);
	assert_int_equal(g->blk->queues[0].poll_est_us[0], 0);
	/* The next large lone request is not polled... */
	struct vg_req big = {VIRTIO_BLK_T_IN, 0, VG_DATA_IPA, 256 * 512, true};
	vg_blk_submit(g, 3, &big);
	assert_int_equal(vg_blk_stats(g).polls, 3);
	assert_int_equal(vg_blk_stats(g).poll_skips[1], 1);
	virtio_blk_poll(g->blk);
	/* ...but a small one is, and completes inside the notify. */
	g->slow.ready_in = 1;
	g->slow.ready_calls = 0;
	vg_submit_reads(g, 10, 1);
	assert_int_equal(vg_status(g, 10), VIRTIO_BLK_S_OK);
	s = vg_blk_stats(g);
	assert_int_equal(s.polls, 4);
	assert_int_equal(s.poll_hits, 1);
	assert_int_equal(s.polls_large, 3);
	assert_int_equal(s.poll_skips[0], 0);
	down(g);
}

/* A pending physical interrupt ends the wait at once; no polling when off, or with more than one
 * request in flight, or for a backend that cannot be polled. */
static void test_poll_only_when_it_should(void **state)
{
	(void)state;
	struct vg_opts o = {.slow = true, .pollable = true, .poll_us = 1000000};
	struct vg *g = up(&o, ALL);
	fake_cpu_irq_pending = true;
	vg_submit_reads(g, 0, 1);
	fake_cpu_irq_pending = false;
	assert_int_equal(vg_blk_stats(g).poll_breaks, 1);
	assert_true(vg_blk_stats(g).poll_wait_us < 1000000);
	assert_int_equal(vg_status(g, 0), 0xff);
	/* Two in flight (the first is still there): not a lone request. */
	g->slow.ready_in = 1;
	vg_submit_reads(g, 1, 1);
	assert_int_equal(vg_blk_stats(g).polls, 1);
	slowdisk_complete_all(&g->slow);
	virtio_blk_poll(g->blk);
	down(g);

	struct vg_opts off = {.slow = true, .pollable = true, .poll_us = 0};
	g = up(&off, ALL);
	g->slow.ready_in = 1;
	vg_submit_reads(g, 0, 1);
	assert_int_equal(vg_blk_stats(g).polls, 0);
	assert_int_equal(g->slow.ready_calls, 0);
	assert_int_equal(g->slow.count, 1);
	assert_string_equal(virtio_blk_poll_mode(g->blk), "disabled"); /* the report never says "on" */
	slowdisk_complete_all(&g->slow);
	down(g);

	struct vg_opts plain = {.slow = true, .poll_us = 1000};
	g = up(&plain, ALL);
	vg_submit_reads(g, 0, 1);
	assert_int_equal(vg_blk_stats(g).polls, 0);
	assert_string_equal(virtio_blk_poll_mode(g->blk), "disabled"); /* a backend that cannot be polled */
	slowdisk_complete_all(&g->slow);
	down(g);
}

/* One lone request, completed by the poll or else by the interrupt. True if it was polled. */
static bool lone_request(struct vg *g, unsigned i)
{
	uint64_t polls = vg_blk_stats(g).polls;
	vg_submit_reads(g, i % 40, 1);
	bool polled = vg_blk_stats(g).polls != polls;
	if (!polled) {
		slowdisk_complete_all(&g->slow); /* the interrupt */
		vg_run_work(g, 4);
	}
	assert_int_equal(vg_status(g, i % 40), VIRTIO_BLK_S_OK);
	return polled;
}

/* One lone request of a guest whose time per request is poll_cost_us when keel polls its requests
 * and idle_cost_us when it does not (the fake clock moves by that much). True if it was polled. */
static bool timed_lone_request(struct vg *g, unsigned i, uint64_t poll_cost_us, uint64_t idle_cost_us)
{
	bool polled = lone_request(g, i);
	fake_timer_ns += 1000 * (polled ? poll_cost_us : idle_cost_us);
	return polled;
}

/* Teardown: back to the real clock even when a test failed half-way (later tests wait by time). */
static int real_time(void **state)
{
	(void)state;
	fake_timer_manual = false;
	return 0;
}

/* A disk whose lone requests may be polled, ready at the first look, on the test's own clock. */
static struct vg *up_timed_polling(void)
{
	struct vg_opts o = {.slow = true, .pollable = true, .poll_us = 500};
	struct vg *g = up(&o, ALL);
	g->slow.ready_in = 1;
	fake_timer_manual = true;
	fake_timer_ns = 1000000000;
	return g;
}

/* up_timed_polling, then small lone requests that run twice as fast unpolled until the first trial
 * turns polling off for them; *i: the next request index. */
static struct vg *up_polling_turned_off(unsigned *i)
{
	struct vg *g = up_timed_polling();
	for (*i = 0; *i < (VIRTIO_BLK_AB_EVERY_MIN + 2) * VIRTIO_BLK_AB_EPOCH; (*i)++)
		timed_lone_request(g, *i, 200, 100);
	assert_true(g->blk->queues[0].ab[0].off);
	assert_int_equal(vg_blk_stats(g).poll_switches, 1);
	return g;
}

/*
 * Whether lone requests are polled is measured: a guest that has more to do than wait (a queue
 * depth the device never sees) runs faster unpolled, and keel turns polling off after a trial
 * epoch shows it; when polling pays again a later trial turns it back on. The trials back off.
 */
static void test_poll_measured_choice(void **state)
{
	(void)state;
	struct vg *g = up_timed_polling();

	/* Polling first; the first trial (after VIRTIO_BLK_AB_EVERY_MIN epochs, and one to settle)
	 * finds not polling twice as fast, and the mode changes. */
	unsigned i = 0, polled = 0;
	for (; i < (VIRTIO_BLK_AB_EVERY_MIN + 2) * VIRTIO_BLK_AB_EPOCH; i++)
		polled += timed_lone_request(g, i, 200, 100);
	assert_int_equal(polled, VIRTIO_BLK_AB_EVERY_MIN * VIRTIO_BLK_AB_EPOCH);
	assert_true(g->blk->queues[0].ab[0].off);
	assert_string_equal(virtio_blk_poll_mode(g->blk), "off");
	assert_int_equal(vg_blk_stats(g).poll_switches, 1);
	/* Polling now loses its trials: they come less and less often. */
	polled = 0;
	for (unsigned n = 0; n < 40 * VIRTIO_BLK_AB_EPOCH; n++, i++)
		polled += timed_lone_request(g, i, 200, 100);
	assert_true(g->blk->queues[0].ab[0].off);
	assert_int_equal(vg_blk_stats(g).poll_switches, 1);
	/* Trials (a settling epoch and a measured one) after 4, 8 and 16 epochs. */
	assert_true(polled <= 3 * (VIRTIO_BLK_AB_SETTLE + VIRTIO_BLK_AB_EPOCH));
	assert_true(g->blk->queues[0].ab[0].every > VIRTIO_BLK_AB_EVERY_MIN);
	/* The guest now waits for its requests: the next trial of polling wins. */
	for (unsigned n = 0;
	     n < (VIRTIO_BLK_AB_EVERY_MAX + 4) * VIRTIO_BLK_AB_EPOCH && g->blk->queues[0].ab[0].off; n++, i++)
		timed_lone_request(g, i, 100, 300);
	assert_false(g->blk->queues[0].ab[0].off);
	assert_string_equal(virtio_blk_poll_mode(g->blk), "on");
	assert_int_equal(vg_blk_stats(g).poll_switches, 2);
	/* An epoch stretched by an idle gap measures nothing: no switch on it. */
	uint64_t trials = vg_blk_stats(g).poll_trials;
	for (unsigned n = 0; n < 3 * VIRTIO_BLK_AB_EPOCH; n++, i++) {
		if (n % VIRTIO_BLK_AB_EPOCH == 5)
			fake_timer_ns += 1000ull * VIRTIO_BLK_AB_EPOCH_MAX_US;
		timed_lone_request(g, i, 100, 300);
	}
	assert_false(g->blk->queues[0].ab[0].off);
	assert_int_equal(vg_blk_stats(g).poll_trials, trials);
	fake_timer_manual = false;
	down(g);
}

/*
 * A trial is measured after the guest has settled into its mode. A guest at a depth the device
 * never sees runs a little faster unpolled; when polling starts again, the requests it had queued
 * meanwhile complete at first much faster than it can add new ones (here the first
 * VIRTIO_BLK_AB_SETTLE lone requests of polling), then it falls back to one at a time. Measured
 * from the change, polling would win its trial on that burst and stay, slower; measured after the
 * settling epoch it loses.
 */
static void test_poll_trial_settles(void **state)
{
	(void)state;
	unsigned i;
	struct vg *g = up_polling_turned_off(&i);

	uint64_t trials = vg_blk_stats(g).poll_trials;
	unsigned run = 0, polled_burst = 0;
	bool last = false;
	for (unsigned n = 0; n < 40 * VIRTIO_BLK_AB_EPOCH; n++, i++) {
		bool polled = lone_request(g, i);
		run = polled == last ? run + 1 : 1;
		last = polled;
		bool burst = polled && run <= VIRTIO_BLK_AB_SETTLE;
		polled_burst += burst;
		fake_timer_ns += 1000 * (burst ? 10 : polled ? 105 : 100);
	}
	assert_true(vg_blk_stats(g).poll_trials >= trials + 3); /* after 4, 8 and 16 epochs */
	assert_true(polled_burst >= 3 * VIRTIO_BLK_AB_SETTLE);	/* each trial began with the burst */
	assert_true(g->blk->queues[0].ab[0].off);
	assert_int_equal(vg_blk_stats(g).poll_switches, 1);
	fake_timer_manual = false;
	down(g);
}

/* Each request size has its own choice: small requests at depth that turn polling off leave it on
 * for large ones (a 4k QD32 phase before a 1M QD1 one), and the report says which is which. */
static void test_poll_choice_per_size(void **state)
{
	(void)state;
	unsigned i;
	struct vg *g = up_polling_turned_off(&i);
	assert_string_equal(virtio_blk_poll_mode(g->blk), "off"); /* no large request yet */
	/* A large lone request is still polled: it completes inside its notify. */
	uint64_t polls = vg_blk_stats(g).polls;
	struct vg_req big = {VIRTIO_BLK_T_IN, 0, VG_DATA_IPA, 256 * 512, true};
	vg_blk_submit(g, 41, &big);
	assert_int_equal(vg_blk_stats(g).polls, polls + 1);
	assert_int_equal(vg_blk_stats(g).polls_large, 1);
	assert_int_equal(vg_status(g, 41), VIRTIO_BLK_S_OK);
	assert_false(g->blk->queues[0].ab[1].off);
	assert_string_equal(virtio_blk_poll_mode(g->blk), "off up to 64 KiB, on above");
	/* And a small one still is not. */
	polls = vg_blk_stats(g).polls;
	timed_lone_request(g, i, 200, 100);
	assert_int_equal(vg_blk_stats(g).polls, polls);
	fake_timer_manual = false;
	down(g);
}

/* One lone request of a guest with more to submit: unless keel holds it in the notify (polled), it
 * adds another read while the lone one is in flight; both then complete. True if it was polled. */
static bool busy_lone_request(struct vg *g, unsigned i)
{
	uint64_t polls = vg_blk_stats(g).polls;
	vg_submit_reads(g, i % 20, 1);
	bool polled = vg_blk_stats(g).polls != polls;
	if (!polled)
		vg_submit_reads(g, 20 + i % 20, 1);
	slowdisk_complete_all(&g->slow);
	vg_run_work(g, 4);
	assert_int_equal(vg_status(g, i % 20), VIRTIO_BLK_S_OK);
	fake_timer_ns += 1000 * 100; /* the same time per request either way */
	return polled;
}

/*
 * Polling pays only when the guest would otherwise wait for its request. A guest that adds its
 * next request while the lone one is in flight is not polled, even where the request rate cannot
 * tell the modes apart: the first trial of not polling wins on that alone, and no trial of polling
 * follows while it holds. Once the guest waits for each request again, polling gets its trial
 * soon and wins it on the rate.
 */
static void test_poll_off_for_a_busy_guest(void **state)
{
	(void)state;
	struct vg *g = up_timed_polling();
	unsigned i = 0, polled = 0;
	for (; i < (VIRTIO_BLK_AB_EVERY_MIN + 2) * VIRTIO_BLK_AB_EPOCH; i++)
		polled += busy_lone_request(g, i);
	assert_int_equal(polled, VIRTIO_BLK_AB_EVERY_MIN * VIRTIO_BLK_AB_EPOCH);
	assert_true(g->blk->queues[0].ab[0].off);
	assert_int_equal(vg_blk_stats(g).poll_switches, 1);
	assert_true(vg_blk_stats(g).poll_busy_epochs >= 1);
	/* Still busy: no trial of polling, however long. */
	uint64_t trials = vg_blk_stats(g).poll_trials;
	polled = 0;
	for (unsigned n = 0; n < 3 * VIRTIO_BLK_AB_EVERY_MAX * VIRTIO_BLK_AB_EPOCH; n++, i++)
		polled += busy_lone_request(g, i);
	assert_int_equal(polled, 0);
	assert_int_equal(vg_blk_stats(g).poll_trials, trials);
	/* The guest waits for each request now: polling's trial comes after VIRTIO_BLK_AB_EVERY_MIN
	 * epochs (and one to settle), and its rate wins. */
	unsigned n = 0;
	for (; n < (VIRTIO_BLK_AB_EVERY_MIN + 3) * VIRTIO_BLK_AB_EPOCH && g->blk->queues[0].ab[0].off;
	     n++, i++)
		timed_lone_request(g, i, 100, 300);
	assert_false(g->blk->queues[0].ab[0].off);
	assert_int_equal(vg_blk_stats(g).poll_switches, 2);
	fake_timer_manual = false;
	down(g);
}

/*
 * A polled phase that confirmed polling many times (trials far apart) is followed by one at depth:
 * as many requests go to the device beside the lone ones as lone ones. The next trial then comes
 * within VIRTIO_BLK_AB_EVERY_MIN epochs, not after what the last phase confirmed.
 */
static void test_poll_trial_soon_at_depth(void **state)
{
	(void)state;
	struct vg *g = up_timed_polling();
	unsigned i = 0;
	for (; i < 64 * VIRTIO_BLK_AB_EPOCH; i++)
		timed_lone_request(g, i, 100, 300); /* polling wins every trial: they back off */
	assert_false(g->blk->queues[0].ab[0].off);
	assert_int_equal(g->blk->queues[0].ab[0].every, VIRTIO_BLK_AB_EVERY_MAX);
	uint64_t trials = vg_blk_stats(g).poll_trials;
	unsigned lone = 0;
	for (; lone < (VIRTIO_BLK_AB_EVERY_MIN + 2) * VIRTIO_BLK_AB_EPOCH; lone++, i++) {
		vg_queue_reads(g, 40, 2); /* two at once, neither lone (descriptors 120..125 of QSIZE) */
		vg_notify(g);
		slowdisk_complete_all(&g->slow);
		vg_run_work(g, 4);
		timed_lone_request(g, i, 100, 300);
	}
	assert_true(vg_blk_stats(g).poll_deep_epochs >= 1);
	assert_true(vg_blk_stats(g).poll_trials > trials);
	fake_timer_manual = false;
	down(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_poll_completes_lone_request),
	    cmocka_unit_test_teardown(test_poll_sleeps_to_its_deadline, real_time),
	    cmocka_unit_test(test_poll_window_expires),
	    cmocka_unit_test(test_poll_by_request_size),
	    cmocka_unit_test(test_poll_only_when_it_should),
	    cmocka_unit_test_teardown(test_poll_measured_choice, real_time),
	    cmocka_unit_test_teardown(test_poll_trial_settles, real_time),
	    cmocka_unit_test_teardown(test_poll_choice_per_size, real_time),
	    cmocka_unit_test_teardown(test_poll_off_for_a_busy_guest, real_time),
	    cmocka_unit_test_teardown(test_poll_trial_soon_at_depth, real_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
