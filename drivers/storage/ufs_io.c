/*
 * UFS driver, the request path (see ufs_priv.h): the wait and done FIFOs, building a request into a
 * slot and ringing it, completion (SCSI-level retries, statistics, cache maintenance), reaping and
 * deadlines. Everything here runs with h->lock held but ufs_drain_done.
 */
#include "arch/barrier.h"
#include "arch/cache.h"
#include "arch/timer.h"
#include "drivers/storage/ufs_priv.h"
#include "keel/log.h"
#include "keel/util.h"

/* Rate-limited error logging (lock held): a few lines a second per controller, then a count of the rest. */
bool ufs_log_allowed(struct ufs_host *h)
{
	return ratelimit_log_allowed(&h->rl, timer_us(), h->name);
}

/* After the device wrote [pa, pa+len): discard stale lines, but never drop a neighbour's data in a shared
 * line. */
static void dma_sync_after_read(paddr_t pa, uint32_t len)
{
	uint64_t a = pa_addr(pa), end = a + len;
	uint64_t lo = ALIGN_UP(a, (uint64_t)UFS_DMA_EDGE), hi = ALIGN_DOWN(end, (uint64_t)UFS_DMA_EDGE);

	if (lo >= hi) {
		dcache_clean_inval_range(pa_to_ptr(pa), len);
		return;
	}
	if (a < lo)
		dcache_clean_inval_range(pa_to_ptr(pa), lo - a);
	dcache_inval_range(pa_to_ptr(pa_init(lo)), hi - lo);
	if (hi < end)
		dcache_clean_inval_range(pa_to_ptr(pa_init(hi)), end - hi);
}

/* --- done and wait FIFOs (lock held) ---------------------------------------- */

void ufs_done_push(struct ufs_host *h, struct blk_req *req, int status)
{
	blk_doneq_push(&h->doneq, req, status, h->name);
	if (status != BLK_OK)
		h->stats.errors++;
}

/* Call the completions, one at a time, with no lock held: done may resubmit. */
void ufs_drain_done(struct ufs_host *h)
{
	blk_doneq_drain(&h->doneq, &h->lock);
}

void ufs_waitq_push_back(struct ufs_host *h, struct blk_req *req, uint8_t resets)
{
	h->waitq[(h->wq_head + h->wq_count) % UFS_WAITQ_LEN] = (struct ufs_wait){req, resets, false};
	h->wq_count++;
}

void ufs_waitq_push_front(struct ufs_host *h, struct blk_req *req, uint8_t resets)
{
	h->wq_head = (h->wq_head + UFS_WAITQ_LEN - 1) % UFS_WAITQ_LEN;
	h->waitq[h->wq_head] = (struct ufs_wait){req, resets, false};
	h->wq_count++;
}

/* Take the i-th waiting entry out of the FIFO, keeping the others' order. */
void ufs_waitq_remove_at(struct ufs_host *h, unsigned i)
{
	for (unsigned j = i; j + 1 < h->wq_count; j++)
		h->waitq[(h->wq_head + j) % UFS_WAITQ_LEN] = h->waitq[(h->wq_head + j + 1) % UFS_WAITQ_LEN];
	h->wq_count--;
}

/* Index of req in the wait FIFO, or -1. */
int ufs_waitq_find(const struct ufs_host *h, const struct blk_req *req)
{
	for (unsigned i = 0; i < h->wq_count; i++)
		if (h->waitq[(h->wq_head + i) % UFS_WAITQ_LEN].req == req)
			return (int)i;
	return -1;
}

/* After a reset's bring-up (no DMA of a requeued request can still happen): complete the ones cancelled
 * meanwhile. */
void ufs_waitq_drop_cancelled(struct ufs_host *h)
{
	for (unsigned i = 0; i < h->wq_count;) {
		struct ufs_wait *w = &h->waitq[(h->wq_head + i) % UFS_WAITQ_LEN];
		if (!w->cancel) {
			i++;
			continue;
		}
		ufs_done_push(h, w->req, BLK_ECANCELED);
		ufs_waitq_remove_at(h, i);
	}
}

/* --- building and issuing requests (lock held) ------------------------------ */

int ufs_free_slot(const struct ufs_host *h)
{
	uint32_t free = h->slot_mask & ~(h->busy | h->poisoned);
	return free ? (int)ctz32(free) : -1;
}

/* Write the command UPIU, PRDT and UTRD of req into slot s. The request was validated by submit. */
static void build_io(struct ufs_host *h, unsigned s, struct blk_req *req)
{
	struct ufs_mem *m = h->mem;
	uint8_t *ucd = m->ucd[s];
	struct ufs_prd *prdt = (struct ufs_prd *)(void *)(ucd + UFS_UCD_PRDT_OFF);
	uint8_t cdb[UFS_CDB_LEN];
	uint32_t shift = h->lba_shift - 9;
	uint64_t lba = req->sector >> shift;
	uint32_t blocks = (uint32_t)(req->nsectors >> shift);
	uint32_t dd = UFS_UTRD_DD_NONE, exp_len = 0;
	uint8_t flags = 0;
	int nprd = 0;
	unsigned bad;

	switch (req->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE: {
		bool write = req->op == BLK_OP_WRITE;
		nprd = ufs_prdt_build(prdt, UFS_PRDT_MAX, req->segs, req->nsegs, &bad);
		if (nprd < 0)
			panic("%s: a validated request no longer fits the PRDT", h->name);
		ufs_cdb_rw(cdb, write, lba, blocks);
		exp_len = (uint32_t)(req->nsectors * BLK_SECTOR_SIZE);
		dd = write ? UFS_UTRD_DD_WRITE : UFS_UTRD_DD_READ;
		flags = write ? UFS_UPIU_FLAG_WRITE : UFS_UPIU_FLAG_READ;
		for (unsigned i = 0; i < req->nsegs && !h->dma_coherent; i++) {
			void *p = pa_to_ptr(req->segs[i].pa);
			if (write)
				dcache_clean_range(p, req->segs[i].len);
			else
				dcache_clean_inval_range(p, req->segs[i].len);
		}
		break;
	}
	case BLK_OP_FLUSH:
		/* LBA 0, 0 blocks: the whole LU; completes once the data is on the medium. */
		ufs_cdb_simple(cdb, SCSI_SYNC_CACHE10);
		break;
	case BLK_OP_DISCARD: {
		uint8_t *params = ucd + UFS_UCD_SCRATCH_OFF;
		ufs_unmap_params(params, lba, blocks);
		prdt[0] = (struct ufs_prd){(uint32_t)ptr_pa(params), (uint32_t)(ptr_pa(params) >> 32), 0,
					   UFS_UNMAP_PARAM_LEN - 1};
		nprd = 1;
		ufs_cdb_unmap(cdb);
		exp_len = UFS_UNMAP_PARAM_LEN;
		dd = UFS_UTRD_DD_WRITE;
		flags = UFS_UPIU_FLAG_WRITE;
		break;
	}
	default:
		panic("%s: unvalidated op %d", h->name, (int)req->op);
	}
	ufs_upiu_command(ucd, UFS_LUN, (uint8_t)s, flags, exp_len, cdb);
	ufs_utrd_fill(&m->utrl[s], ptr_pa(ucd), dd, (unsigned)nprd, true);
	if (!h->dma_coherent) { /* coherent: ring()'s barrier is all the controller needs */
		dcache_clean_inval_range(ucd, UFS_UCD_SIZE);
		dcache_clean_range(&m->utrl[s], sizeof(m->utrl[s]));
	}
}

/*
 * Doorbell batching: ufs_issue only marks a slot unrung; ufs_ring writes all unrung bits in one UTRLDBR
 * write (QEMU's model takes every set bit of one write in one pass, and each register access is costly
 * under emulation). Who rings: a submit without the batching hint (taking a batch's bits with it), the
 * batch's commit, each service pass (the tick rings a batch whose commit never came), the start of
 * waiters (once per pass) and a SCSI-level retry (at once). A reset requeues unrung slots unchanged.
 */
void ufs_ring(struct ufs_host *h)
{
	uint32_t bits = h->unrung;

	if (bits == 0 || h->state != UFS_UP) /* a reset clears unrung as it leaves UP */
		return;
	for (uint32_t b = bits; b; b &= b - 1) {
		struct ufs_slot *sl = &h->slots[ctz32(b)];
		sl->rung_us = h->now_us;
		sl->deadline_us = sl->rung_us + UFS_IO_TIMEOUT_US;
	}
	h->unrung = 0;
	h->issued |= bits;
	h->stats.doorbells++;
	mb(); /* descriptors and data visible to the controller before the doorbell */
	wr(h, UFS_REG_UTRLDBR, bits);
}

/* Build req into slot s and leave its doorbell bit for ufs_ring (a first issue and a retry alike). */
static void build_unrung(struct ufs_host *h, unsigned s, struct blk_req *req)
{
	build_io(h, s, req);
	h->unrung |= 1u << s;
	h->stats.commands++;
}

void ufs_issue(struct ufs_host *h, unsigned s, struct blk_req *req, uint8_t resets)
{
	struct ufs_slot *sl = &h->slots[s];

	sl->req = req;
	sl->resets = resets;
	sl->retries = 0;
	sl->aborting = false;
	sl->gen++;
	h->busy |= 1u << s;
	build_unrung(h, s, req);
}

/* Move waiting requests into free slots, in order; one doorbell write for all of them. */
void ufs_start_waiters(struct ufs_host *h)
{
	while (h->state == UFS_UP && h->wq_count > 0) {
		int s = ufs_free_slot(h);
		if (s < 0)
			break;
		struct ufs_wait w = h->waitq[h->wq_head];
		h->wq_head = (h->wq_head + 1) % UFS_WAITQ_LEN;
		h->wq_count--;
		ufs_issue(h, (unsigned)s, w.req, w.resets);
	}
	ufs_ring(h);
}

/* --- completion (lock held) ------------------------------------------------- */

static void complete_slot(struct ufs_host *h, unsigned s, bool from_irq)
{
	struct ufs_mem *m = h->mem;
	struct ufs_slot *sl = &h->slots[s];
	struct blk_req *req = sl->req;
	struct ufs_result r;

	h->issued &= ~(1u << s);
	if (!h->dma_coherent) {
		dcache_clean_inval_range(&m->utrl[s], sizeof(m->utrl[s])); /* lines shared with other UTRDs */
		dcache_inval_range(m->ucd[s] + UFS_UCD_RSP_OFF, UFS_UCD_RSP_LEN);
	}
	ufs_rsp_parse(m->ucd[s] + UFS_UCD_RSP_OFF, READ_ONCE(m->utrl[s].dw2), &r);
	enum ufs_verdict v = ufs_scsi_verdict(&r, (uint8_t)s);

	if (v == UFS_RETRY && sl->retries < UFS_SCSI_RETRIES && !sl->aborting) {
		sl->retries++;
		h->stats.retries++;
		build_unrung(h, s, req);
		ufs_ring(h);
		return;
	}
	int status = v == UFS_OK ? BLK_OK : (sl->aborting ? BLK_ECANCELED : BLK_EIO);
	if (!from_irq)
		h->stats.polled++;
	uint64_t lat = h->now_us - sl->rung_us;
	h->stats.lat_sum_us += lat;
	h->stats.lat_max_us = MAX(h->stats.lat_max_us, lat);
	if (status == BLK_OK) {
		h->consec_resets = 0;
		switch (req->op) {
		case BLK_OP_READ:
			h->stats.reads++;
			h->stats.bytes_read += req->nsectors * BLK_SECTOR_SIZE;
			for (unsigned i = 0; i < req->nsegs && !h->dma_coherent; i++)
				dma_sync_after_read(req->segs[i].pa, req->segs[i].len);
			break;
		case BLK_OP_WRITE:
			h->stats.writes++;
			h->stats.bytes_written += req->nsectors * BLK_SECTOR_SIZE;
			break;
		case BLK_OP_FLUSH:
			h->stats.flushes++;
			break;
		default:
			h->stats.unmaps++;
			break;
		}
	} else if (status != BLK_ECANCELED && ufs_log_allowed(h)) {
		log_warn("%s: %s of sector %llu+%llu failed: ocs 0x%x upiu 0x%02x tag %u response 0x%x "
			 "status 0x%x "
			 "sense %x/%02x/%02x (%s)",
			 h->name, blk_op_name(req->op), (unsigned long long)req->sector,
			 (unsigned long long)req->nsectors, r.ocs, r.trans, r.tag, r.response, r.status,
			 r.sense_key, r.asc, r.ascq, ufs_sense_key_name(r.sense_key));
	}
	sl->req = NULL;
	h->busy &= ~(1u << s);
	req->done_us = h->now_us;
	ufs_done_push(h, req, status);
}

/* Reap finished slots; note controller errors. */
void ufs_reap(struct ufs_host *h, bool from_irq)
{
	if (h->state != UFS_UP)
		return;
	uint32_t is = rd(h, UFS_REG_IS);
	if (is)
		wr(h, UFS_REG_IS,
		   is); /* write-one-to-clear, before reading the doorbell: no lost completion */
	if (h->issued) {
		uint32_t done = h->issued & ~rd(h, UFS_REG_UTRLDBR);
		if (done) {
			mb(); /* doorbell read before the descriptors the controller wrote */
			while (done) {
				unsigned s = ctz32(done);
				done &= done - 1;
				complete_slot(h, s, from_irq);
			}
		}
	}
	if (is & UFS_IS_FATAL) {
		h->stats.fatal_errors++;
		log_err("%s: controller error IS 0x%x (UECPA 0x%x UECDL 0x%x UECN 0x%x UECT 0x%x UECDME "
			"0x%x): reset",
			h->name, is, rd(h, UFS_REG_UECPA), rd(h, UFS_REG_UECDL), rd(h, UFS_REG_UECN),
			rd(h, UFS_REG_UECT), rd(h, UFS_REG_UECDME));
		h->reset_pending = true;
		h->reset_fatal = true;
	}
}

void ufs_check_timeouts(struct ufs_host *h)
{
	uint64_t now = h->now_us;

	if (h->state != UFS_UP)
		return;
	for (uint32_t pend = h->issued; pend; pend &= pend - 1) {
		unsigned s = ctz32(pend);
		struct ufs_slot *sl = &h->slots[s];
		if (now <= sl->deadline_us)
			continue;
		h->stats.timeouts++;
		log_err("%s: slot %u (%s of sector %llu+%llu) had no completion after %u ms: reset", h->name,
			s, blk_op_name(sl->req->op), (unsigned long long)sl->req->sector,
			(unsigned long long)sl->req->nsectors, UFS_IO_TIMEOUT_US / 1000);
		sl->deadline_us = UINT64_MAX; /* counted once */
		h->reset_pending = true;
	}
}
