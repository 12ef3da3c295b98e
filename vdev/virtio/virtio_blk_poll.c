/* virtio-blk completion polling: after a notify, wait (bounded by time) for a lone request. */
#include "arch/barrier.h"
#include "arch/cpu.h"
#include "arch/timer.h"
#include "core/irq.h"
#include "keel/util.h"
#include "vdev/virtio/virtio_blk_int.h"

/* --- completion polling ------------------------------------------------------ */

/* Lock held. A quarter of the way to the new sample: one outlier does not stop polling. */
static void poll_estimate(struct vblk_queue *bq, unsigned c, uint32_t sample_us)
{
	bq->poll_est_us[c] = (uint32_t)(((uint64_t)bq->poll_est_us[c] * 3 + sample_us) / 4);
}

/* Does this epoch poll lone requests (the mode, or the trial of polling while the mode is off)? */
static bool ab_polls(const struct virtio_blk_poll_ab *ab)
{
	return !(ab->off ^ ab->trial);
}

/* Lock held. Start a measuring epoch of the polling choice (one clock read). */
static void ab_start(struct vblk_queue *bq, struct virtio_blk_poll_ab *ab, uint64_t now)
{
	ab->t0_us = now;
	ab->req0 = bq->stats.requests;
	ab->count = 0;
	ab->judged = 0;
	ab->waited = 0;
}

/*
 * Lock held. The epoch is over: requests per second; a trial that beat the mode by the margin wins.
 * An epoch that starts with a change of mode (a trial's first, the mode's first after a lost
 * trial) only settles: a guest at depth built up requests under one mode that complete in a burst
 * under the other (polling after not polling), and measured from the change that burst would win.
 * Two observations need no rate. An unpolled epoch in which the guest seldom waited for its lone
 * request before adding the next (busy): polling, which holds the guest at its notify, cannot pay;
 * a trial of not polling wins, and the unpolled mode tries polling only once the guest waits again.
 * A polled epoch with as many other requests as lone ones (deep): the guest works at depth, where
 * polling holds it to one request at a time; the next trial comes soon, whatever the last phase
 * confirmed.
 */
static void ab_end(struct vblk_queue *bq, struct virtio_blk_poll_ab *ab, uint64_t now)
{
	uint64_t dt = now - ab->t0_us;
	if (dt > VIRTIO_BLK_AB_EPOCH_MAX_US || dt == 0) {
		ab_start(bq, ab, now); /* idle gaps or a change of phase: not a measure of either mode */
		return;
	}
	uint64_t reqs = bq->stats.requests - ab->req0, rate = reqs * 1000000u / dt;
	bool polled = ab_polls(ab);
	bool busy = !polled && ab->judged >= VIRTIO_BLK_AB_JUDGED_MIN &&
		    ab->waited * VIRTIO_BLK_AB_WAIT_ONE_IN < ab->judged;
	bool deep = polled && reqs >= 2u * ab->count;
	bq->stats.poll_busy_epochs += busy;
	bq->stats.poll_deep_epochs += deep;
	if (ab->settle) {
		ab->settle = false; /* the mode changed at its start: what it saw was partly the other's */
	} else if (ab->trial) {
		ab->trial = false;
		ab->since = 0;
		if (busy || rate * 100 > ab->rate * (100 + VIRTIO_BLK_AB_MARGIN_PCT)) {
			ab->off = !ab->off; /* the trial's mode stays: no change to settle */
			ab->every = VIRTIO_BLK_AB_EVERY_MIN;
			ab->rate = rate;
			bq->stats.poll_switches++;
		} else {
			ab->settle = true; /* back to the mode */
			if (ab->every < VIRTIO_BLK_AB_EVERY_MAX)
				ab->every *= 2; /* confirmed: try less often */
		}
	} else {
		ab->rate = rate;
		if (busy || deep)
			ab->every = VIRTIO_BLK_AB_EVERY_MIN; /* a phase the last confirmation did not see */
		if (busy)
			ab->since = 0; /* no trial of polling while the guest has more to do */
		else if (++ab->since >= ab->every) {
			ab->trial = true;
			ab->settle = true;
			bq->stats.poll_trials++;
		}
	}
	ab_start(bq, ab, now);
}

/*
 * Lock held. Poll this lone request of size class c? Polling pays when the guest would otherwise
 * idle until the completion; it costs a guest that had more to submit or to do (it then waits at
 * its notify). Nothing the device sees tells the two apart, so the request rate decides: lone
 * requests come in epochs of VIRTIO_BLK_AB_EPOCH, after `every` epochs the other mode runs a short
 * epoch to settle and one measured, and the faster wins. Each size class has its own choice: a
 * phase of small requests at depth that turns polling off leaves it on for large ones (and the
 * other way round), which would otherwise wait a trial or more (1000 requests or so) to get it back.
 */
static bool ab_poll(struct vblk_queue *bq, unsigned c)
{
	struct virtio_blk_poll_ab *ab = &bq->ab[c];
	if (ab->every == 0) { /* first use */
		ab->every = VIRTIO_BLK_AB_EVERY_MIN;
		ab_start(bq, ab, timer_us());
	}
	bool poll = ab_polls(ab);
	if (++ab->count >= (ab->settle ? VIRTIO_BLK_AB_SETTLE : VIRTIO_BLK_AB_EPOCH))
		ab_end(bq, ab, timer_us());
	if (!poll)
		bq->stats.poll_off++;
	return poll;
}

/* Lock held. Worth waiting for the lone request in flight, of size class c? */
static bool poll_worth(struct vblk_queue *bq, unsigned c)
{
	if (bq->poll_est_us[c] <= bq->dev->poll_us)
		return true;
	/* Recent lone requests of this class took longer than the window: probe now and then. */
	if (++bq->poll_skipped[c] < VIRTIO_BLK_POLL_PROBE) {
		bq->stats.poll_skips[c]++;
		return false;
	}
	bq->poll_skipped[c] = 0;
	return true;
}

static bool can_poll(const struct virtio_blk *d)
{
	const struct blkdev *b = d->bdev;
	return d->poll_us != 0 && b->ops->completion_ready != NULL && b->ops->poll != NULL;
}

const char *virtio_blk_poll_mode(const struct virtio_blk *d)
{
	if (!can_poll(d))
		return "disabled";
	_Static_assert(VIRTIO_BLK_POLL_LARGE_SECTORS == 128, "the strings below say 64 KiB");
	/* Each queue measures its own choice: report the busiest queue's (a hint, no lock). */
	const struct vblk_queue *bq = &d->queues[0];
	for (unsigned q = 1; q < d->mmio.nqueues; q++)
		if (READ_ONCE(d->queues[q].stats.requests) > READ_ONCE(bq->stats.requests))
			bq = &d->queues[q];
	/* A class not used yet (every == 0) has no choice of its own to report. */
	bool small_off = bq->ab[0].off, large_off = bq->ab[1].off;
	if (bq->ab[0].every == 0)
		small_off = large_off;
	if (bq->ab[1].every == 0)
		large_off = small_off;
	if (small_off == large_off)
		return small_off ? "off" : "on";
	return small_off ? "off up to 64 KiB, on above" : "on up to 64 KiB, off above";
}

/* Lock held, at the end of a notify's pump: poll its lone request? Its size class, or -1. */
int vblk_lone_poll_due(struct vblk_queue *bq)
{
	if (!can_poll(bq->dev) || bq->ninflight != 1 || bq->pumping || READ_ONCE(bq->dev->mmio.resetting))
		return -1;
	/* With one request in flight, the last one submitted is it, or an older one in a QD>1 tail. */
	unsigned c = bq->last_large;
	if (!ab_poll(bq, c)) {
		bq->lone_unpolled = true; /* its outcome: vblk_lone_judge */
		bq->lone_class = (uint8_t)c;
		return -1;
	}
	return poll_worth(bq, c) ? (int)c : -1;
}

/*
 * The guest added its next request before it could have seen the unpolled lone one complete: while
 * that was in flight, or found by a pass its completion brought (notifications off), the guest not
 * re-entered yet. Otherwise the next request came by the driver's notify after the completion: the
 * guest waited (a QD1 guest, busy or idle on its way to wait, is this).
 */
void vblk_lone_judge(struct vblk_queue *bq)
{
	if (!bq->lone_unpolled)
		return;
	bq->lone_unpolled = false;
	struct virtio_blk_poll_ab *ab = &bq->ab[bq->lone_class];
	if (ab->judged == UINT16_MAX)
		return;
	ab->judged++;
	ab->waited += bq->ninflight == 0 && bq->pass_by_notify;
}

/*
 * After a notify that left exactly one request in flight: wait for it up to poll_us, so the guest
 * returns from its notify to a completed request (a QD1 guest would otherwise go idle, and come
 * back through an interrupt). The CPU sleeps between looks (hyp_wait_irq_until): the completion
 * comes as the controller's interrupt, or as a kick from the CPU that took it, and a spinning CPU
 * would take the host core an emulated controller runs on. A controller whose completion wakes
 * nothing here (no usable interrupt) sleeps to the deadline: its polls miss, and the estimate
 * turns polling off (poll_worth). Any other pending physical interrupt ends the wait: keel's tick,
 * a kick, the guest's timer are never delayed. Each look reads only memory the device writes.
 */
void vblk_poll_lone_request(struct vblk_queue *bq, unsigned c)
{
	struct virtio_blk *d = bq->dev;
	struct blkdev *b = d->bdev;

	enum { POLL_HIT, POLL_MISS, POLL_BREAK } r;
	uint64_t t0 = timer_us(), now = t0, deadline = t0 + d->poll_us, clock_reads = 1;
	for (;;) {
		if (b->ops->completion_ready(b))
			b->ops->poll(b); /* reaps; req_done completes to the guest */
		/* (Another CPU's interrupt handler may have completed it too.) */
		if (READ_ONCE(bq->ninflight) == 0) {
			r = POLL_HIT;
			break;
		}
		if (cpu_irq_pending()) {
			r = POLL_BREAK;
			break;
		}
		now = timer_us();
		clock_reads++;
		if (now >= deadline) {
			r = POLL_MISS;
			break;
		}
		hyp_wait_irq_until(deadline);
	}
	if (r != POLL_MISS) {
		now = timer_us();
		clock_reads++;
	}
	uint32_t waited = (uint32_t)MIN(now - t0, (uint64_t)VIRTIO_BLK_POLL_US_MAX);

	vblk_lock(bq);
	vblk_release_irq(bq); /* the guest waits in its notify for what was reaped: no coalescing */
	bq->polled_us = now;  /* the guest waited for its I/O (the lone-completion rule) */
	bq->stats.poll_clock_reads += clock_reads;
	bq->stats.polls++;
	bq->stats.polls_large += c;
	bq->stats.poll_wait_us += waited;
	switch (r) {
	case POLL_HIT:
		bq->stats.poll_hits++;
		bq->stats.poll_hits_large += c;
		poll_estimate(bq, c, waited);
		break;
	case POLL_MISS:
		bq->stats.poll_misses++;
		poll_estimate(bq, c, 2 * d->poll_us); /* at least this long; a run of misses stops polling */
		bq->poll_skipped[c] = 0;
		break;
	case POLL_BREAK:
		bq->stats.poll_breaks++;
		break;
	}
	vblk_unlock(bq);
}
