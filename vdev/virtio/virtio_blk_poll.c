/* virtio-blk completion polling: after a notify, wait (bounded by time) for a lone request. */
#include "arch/barrier.h"
#include "arch/cpu.h"
#include "arch/timer.h"
#include "keel/util.h"
#include "vdev/virtio/virtio_blk_int.h"

/* --- completion polling ------------------------------------------------------ */

/* Poll checks between two looks at the interrupt state (cheap: ISR_EL1). */
#define POLL_CHECK_EVERY 32u
/*
 * The clock is read about this often while polling, not every few checks: where the counter is
 * emulated (QEMU TCG) each read takes the emulator's global lock, and a tight loop of them slows
 * the very device being polled and every other CPU. The stride (checks per clock read) adapts.
 */
#define POLL_CLOCK_US	20u
#define POLL_STRIDE_MAX (1u << 16)

/* Lock-free (the polling vCPU only). dt: microseconds the last stride took. */
static uint32_t next_stride(uint32_t stride, uint64_t dt)
{
	if (dt < POLL_CLOCK_US / 2 && stride < POLL_STRIDE_MAX)
		return stride * 2;
	if (dt > POLL_CLOCK_US * 2 && stride > POLL_CHECK_EVERY)
		return stride / 2;
	return stride;
}

/* Lock held. A quarter of the way to the new sample: one outlier does not stop polling. */
static void poll_estimate(struct virtio_blk *d, unsigned c, uint32_t sample_us)
{
	d->poll_est_us[c] = (uint32_t)(((uint64_t)d->poll_est_us[c] * 3 + sample_us) / 4);
}

void vblk_poll_note_more(struct virtio_blk *d)
{
	d->deep_left = VIRTIO_BLK_DEEP_HOLD;
	d->watch = false;
}

void vblk_poll_note_lone_done(struct virtio_blk *d)
{
	if (!d->watch)
		return;
	d->watch = false;
	if (d->deep_left > 0)
		d->deep_left--;
}

/*
 * Lock held. Does the guest wait for its lone request? Not while it has shown that it submits
 * more (deep_left): a wait would hold back its next submission. A guest held to one request at a
 * time by the waits themselves shows it at a probe (one lone request in VIRTIO_BLK_DEPTH_PROBE
 * not polled). An unpolled lone request is watched: what comes first, a new request or its end?
 */
static bool guest_waits(struct virtio_blk *d)
{
	if (d->deep_left > 0) {
		d->stats.poll_deep++;
		d->watch = true;
		return false;
	}
	if (++d->depth_probe >= VIRTIO_BLK_DEPTH_PROBE) {
		d->depth_probe = 0;
		d->stats.poll_probes++;
		d->watch = true;
		return false;
	}
	return true;
}

/* Lock held. Worth waiting for the lone request in flight, of size class c? */
static bool poll_worth(struct virtio_blk *d, unsigned c)
{
	if (d->poll_est_us[c] <= d->poll_us)
		return true;
	/* Recent lone requests of this class took longer than the window: probe now and then. */
	if (++d->poll_skipped[c] < VIRTIO_BLK_POLL_PROBE) {
		d->stats.poll_skips[c]++;
		return false;
	}
	d->poll_skipped[c] = 0;
	return true;
}

/*
 * After a notify: if exactly one request is in flight, wait for it up to poll_us, so the guest
 * returns from its notify to a completed request (a QD1 guest would otherwise go idle, and come
 * back through an interrupt). The wait reads only memory the device writes, and ends when a
 * physical interrupt is pending: keel's tick, a kick and the guest's timer are never delayed.
 */
void vblk_poll_lone_request(struct virtio_blk *d)
{
	struct virtio_mmio *t = &d->mmio;
	struct blkdev *b = d->bdev;

	if (d->poll_us == 0 || b->ops->completion_ready == NULL || b->ops->poll == NULL)
		return;
	spin_lock(&t->lock);
	/* With one request in flight, the last one submitted is it, or an older one in a QD>1 tail. */
	unsigned c = d->last_large;
	bool lone = d->ninflight == 1 && !d->pumping && !t->resetting && guest_waits(d) && poll_worth(d, c);
	spin_unlock(&t->lock);
	if (!lone)
		return;

	enum { POLL_HIT, POLL_MISS, POLL_BREAK } r;
	uint32_t stride = d->poll_stride < POLL_CHECK_EVERY ? POLL_CHECK_EVERY : d->poll_stride;
	uint64_t t0 = timer_us(), now = t0, clock_reads = 1;
	for (unsigned n = 1;; n++) {
		if (b->ops->completion_ready(b))
			b->ops->poll(b); /* reaps; req_done completes to the guest */
		/* (Another CPU's interrupt handler may have completed it too.) */
		if (READ_ONCE(d->ninflight) == 0) {
			r = POLL_HIT;
			break;
		}
		if (n % POLL_CHECK_EVERY == 0 && cpu_irq_pending()) {
			r = POLL_BREAK;
			break;
		}
		if (n % stride == 0) {
			uint64_t prev = now;
			now = timer_us();
			clock_reads++;
			stride = next_stride(stride, now - prev);
			n = 0;
			if (now - t0 >= d->poll_us) {
				r = POLL_MISS;
				break;
			}
		}
		cpu_relax();
	}
	if (r != POLL_MISS) {
		now = timer_us();
		clock_reads++;
	}
	uint32_t waited = (uint32_t)MIN(now - t0, (uint64_t)VIRTIO_BLK_POLL_US_MAX);

	spin_lock(&t->lock);
	d->poll_stride = stride;
	d->stats.poll_clock_reads += clock_reads;
	d->stats.polls++;
	d->stats.polls_large += c;
	d->stats.poll_wait_us += waited;
	switch (r) {
	case POLL_HIT:
		d->stats.poll_hits++;
		d->stats.poll_hits_large += c;
		poll_estimate(d, c, waited);
		break;
	case POLL_MISS:
		d->stats.poll_misses++;
		poll_estimate(d, c, 2 * d->poll_us); /* at least this long; a run of misses stops polling */
		d->poll_skipped[c] = 0;
		break;
	case POLL_BREAK:
		d->stats.poll_breaks++;
		break;
	}
	spin_unlock(&t->lock);
}
