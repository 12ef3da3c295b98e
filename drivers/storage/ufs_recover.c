/*
 * UFS driver, recovery (see ufs_priv.h and ufs.h): the controller reset (requests retried once or failed,
 * slots the controller keeps poisoned, offline after repeated resets) and cancel (ABORT TASK, UTRLCLR,
 * a bounded wait, then a reset).
 */
#include "arch/barrier.h"
#include "arch/cache.h"
#include "arch/timer.h"
#include "drivers/storage/ufs_priv.h"
#include "keel/log.h"

/* --- reset ------------------------------------------------------------------- */

void ufs_reset(struct ufs_host *h)
{
	spin_lock(&h->lock);
	if (h->state != UFS_UP) {
		spin_unlock(&h->lock);
		return; /* someone else is resetting, or it is offline */
	}
	bool fatal = h->reset_fatal;
	h->state = UFS_RESETTING;
	h->reset_pending = false;
	h->reset_fatal = false;
	h->stats.resets++;
	h->consec_resets++;
	wr(h, UFS_REG_IE, 0);
	/*
	 * Requests the controller had: retried once after a timeout, failed after a controller error
	 * or when a cancel gave up on them. Their done comes only after the controller was disabled
	 * and drained: never for a slot it kept (no DMA after done).
	 */
	uint32_t had = h->busy, retried = 0, poisoned_before = h->poisoned;
	struct blk_req *reqs[UFS_MAX_SLOTS];
	int status[UFS_MAX_SLOTS];
	for (int s = UFS_MAX_SLOTS - 1; s >= 0; s--) {
		struct ufs_slot *sl = &h->slots[s];
		if (!(had & (1u << s)))
			continue;
		reqs[s] = sl->req;
		status[s] = BLK_EIO;
		if (h->unrung & (1u << s)) {
			/* Never reached the controller: back in line, no reset counted against it. */
			ufs_waitq_push_front(h, sl->req, sl->resets);
			retried |= 1u << s;
		} else if (sl->aborting) {
			status[s] = BLK_ECANCELED;
		} else if (!fatal && sl->resets < UFS_RESET_RETRIES) {
			ufs_waitq_push_front(h, sl->req, (uint8_t)(sl->resets + 1));
			retried |= 1u << s;
			h->stats.retries++;
		}
		sl->req = NULL;
	}
	h->busy = 0;
	h->issued = 0;
	h->unrung = 0;
	bool give_up = h->consec_resets > UFS_MAX_CONSEC_RESETS;
	spin_unlock(&h->lock);

	uint64_t t0 = timer_us();
	int rc = -1;
	if (give_up)
		ufs_hc_disable(h); /* offline, but only once nothing can still move data */
	else
		rc = ufs_hc_bringup(h);

	spin_lock(&h->lock);
	h->now_us = timer_us(); /* the waiters are rung below */
	uint32_t lost = had & h->poisoned & ~poisoned_before;
	for (unsigned s = 0; s < UFS_MAX_SLOTS; s++) {
		if (!(had & (1u << s)))
			continue;
		if (lost & (1u << s)) {
			int w = (retried & (1u << s)) ? ufs_waitq_find(h, reqs[s]) : -1;
			if (w >= 0)
				ufs_waitq_remove_at(h, (unsigned)w);
			h->stats.lost++;
			log_err("%s: slot %u never released: its %s of sector %llu is not completed (the "
				"controller may still access its buffers; their owner must stay stopped)",
				h->name, s, blk_op_name(reqs[s]->op), (unsigned long long)reqs[s]->sector);
		} else if (!(retried & (1u << s))) {
			ufs_done_push(h, reqs[s], status[s]);
		}
	}
	ufs_waitq_drop_cancelled(h);
	if (rc == 0) {
		h->state = UFS_UP;
		log_warn("%s: controller reset #%llu done in %llu us; %u requests to retry", h->name,
			 (unsigned long long)h->stats.resets, (unsigned long long)(timer_us() - t0),
			 h->wq_count);
		ufs_start_waiters(h);
	} else {
		h->state = UFS_DEAD;
		log_err("%s: controller could not be recovered: offline, its requests fail", h->name);
		while (h->wq_count > 0) {
			ufs_done_push(h, h->waitq[h->wq_head].req, BLK_EIO);
			h->wq_head = (h->wq_head + 1) % UFS_WAITQ_LEN;
			h->wq_count--;
		}
	}
	spin_unlock(&h->lock);
	ufs_drain_done(h);
}

/* --- cancel -------------------------------------------------------------------- */

/* Does slot s still hold req, as issued in generation gen? (lock held) */
static bool slot_holds(const struct ufs_host *h, unsigned s, const struct blk_req *req, uint32_t gen)
{
	return (h->busy & (1u << s)) && h->slots[s].req == req && h->slots[s].gen == gen;
}

/*
 * ABORT TASK for the command in slot s, through TM slot 0 (reserved by the caller; lock not held: no
 * one else touches the TM list). True when the device reports the task aborted or already finished.
 * A controller that leaves the UTMRD's OCS unwritten does not execute TM requests: not tried again.
 */
static bool tm_abort_task(struct ufs_host *h, unsigned s)
{
	struct ufs_utmrd *d = &h->mem->utmrl[0];
	uint8_t ocs, resp;

	ufs_utmrd_abort_task(d, UFS_LUN, (uint8_t)UFS_MAX_SLOTS, (uint8_t)s);
	if (!h->dma_coherent)
		dcache_clean_inval_range(d, sizeof(*d));
	mb(); /* the descriptor in memory before the doorbell */
	wr(h, UFS_REG_UTMRLDBR, 1u);
	if (!ufs_wait_reg(h, UFS_REG_UTMRLDBR, 1u, 0, UFS_TM_TIMEOUT_US)) {
		wr(h, UFS_REG_UTMRLCLR, ~1u); /* zero clears: take the TM slot back */
		if (!ufs_wait_reg(h, UFS_REG_UTMRLDBR, 1u, 0, UFS_TM_TIMEOUT_US))
			h->tm_unsupported = true; /* the TM slot is stuck: aborts go by UTRLCLR only */
		return false;
	}
	mb(); /* doorbell read before the descriptor the controller wrote */
	if (!h->dma_coherent)
		dcache_inval_range(d, sizeof(*d));
	ufs_utmrd_result(d, &ocs, &resp);
	if (ocs == UFS_OCS_INVALID) {
		h->tm_unsupported = true;
		log_info("%s: the controller does not execute task management requests: aborts clear the "
			 "slot only",
			 h->name);
		return false;
	}
	return ocs == UFS_OCS_SUCCESS &&
	       (resp == UFS_TM_SERVICE_SUCCEEDED || resp == UFS_TM_SERVICE_COMPLETE);
}

int ufs_cancel(struct blkdev *dev, struct blk_req *req)
{
	struct ufs_host *h = dev->priv;

	spin_lock(&h->lock);
	int w = ufs_waitq_find(h, req);
	if (w >= 0) {
		struct ufs_wait *e = &h->waitq[(h->wq_head + (unsigned)w) % UFS_WAITQ_LEN];
		h->stats.cancels++;
		if (h->state == UFS_RESETTING && e->resets > 0) {
			/* Requeued by a reset still draining the controller: completed after it. */
			e->cancel = true;
			spin_unlock(&h->lock);
			return 0;
		}
		ufs_waitq_remove_at(h, (unsigned)w);
		ufs_done_push(h, req, BLK_ECANCELED); /* never reached the controller */
		spin_unlock(&h->lock);
		ufs_drain_done(h);
		return 0;
	}
	int found = -1;
	for (uint32_t b = h->busy; b && found < 0; b &= b - 1)
		if (h->slots[ctz32(b)].req == req)
			found = (int)ctz32(b);
	if (found < 0 || h->state != UFS_UP) {
		spin_unlock(&h->lock);
		return -1; /* completed (its done is called or queued), or unknown */
	}
	unsigned s = (unsigned)found;
	struct ufs_slot *sl = &h->slots[s];
	h->stats.cancels++;
	if (h->unrung & (1u << s)) {
		/* Built but not rung yet (a batch): the controller never saw it, just take it back. */
		h->unrung &= ~(1u << s);
		h->busy &= ~(1u << s);
		sl->req = NULL;
		ufs_done_push(h, req, BLK_ECANCELED);
		spin_unlock(&h->lock);
		ufs_drain_done(h);
		return 0;
	}
	uint32_t gen = sl->gen;
	sl->aborting = true;
	bool tm = !h->tm_unsupported && !h->tm_busy && h->nutmrs > 0;
	h->tm_busy |= tm;
	spin_unlock(&h->lock);

	/* 1. Ask the device to abort the task (UFSHCI: before the slot is cleared). */
	bool tm_ok = tm && tm_abort_task(h, s);

	/* 2. Clear the slot: the controller stops it and releases its doorbell bit. */
	spin_lock(&h->lock);
	h->tm_busy = tm ? false : h->tm_busy;
	if (tm_ok)
		h->stats.tm_aborts++;
	if (slot_holds(h, s, req, gen) && h->state == UFS_UP)
		wr(h, UFS_REG_UTRLCLR, ~(1u << s)); /* zero clears */
	spin_unlock(&h->lock);

	/* 3. Wait, by time, for the bit: reaping completes it (its real status if it finished meanwhile). */
	uint64_t end = timer_us() + UFS_ABORT_TIMEOUT_US;
	for (;;) {
		ufs_service(h, false, false);
		spin_lock(&h->lock);
		bool held = slot_holds(h, s, req, gen);
		spin_unlock(&h->lock);
		if (!held)
			return 0;
		if (timer_us() > end)
			break;
	}

	/* 4. The controller keeps the slot: reset it; the reset fails this request with BLK_ECANCELED. */
	spin_lock(&h->lock);
	bool reset = slot_holds(h, s, req, gen);
	if (reset) {
		h->stats.abort_resets++;
		h->reset_pending = true;
		if (ufs_log_allowed(h))
			log_err("%s: slot %u (%s of sector %llu) still rung %u ms after UTRLCLR%s: reset",
				h->name, s, blk_op_name(req->op), (unsigned long long)req->sector,
				UFS_ABORT_TIMEOUT_US / 1000,
				tm ? (tm_ok ? " and ABORT TASK" : ", ABORT TASK failed") : "");
	}
	spin_unlock(&h->lock);
	if (reset)
		ufs_reset(h); /* no-op when another CPU resets already: that reset completes the request */
	return 0;
}
