/*
 * The SDHCI request engine: a request runs as a short program of steps (see sdhci.c), driven from
 * the submitting vCPU, the interrupt and the tick; completions are handed back outside the lock.
 */
#include "drivers/storage/sdhci_priv.h"

#include <string.h>

#include "arch/barrier.h"
#include "arch/cache.h"
#include "drivers/storage/sdhci_pio.h"
#include "keel/addr.h"
#include "keel/log.h"
#include "keel/util.h"

/* --- the request engine (lock held unless said otherwise) ------------------------ */

static void add_step(struct sdhci_host *h, uint8_t kind, uint8_t idx, uint8_t rsp, uint32_t arg,
		     uint16_t xfer, uint32_t timeout_us)
{
	struct sdhci_step *s = &h->steps[h->nsteps++];
	*s = (struct sdhci_step){
	    .kind = kind,
	    .busy = rsp == SD_RSP_R1B,
	    .check_r1 = rsp == SD_RSP_R1 || rsp == SD_RSP_R1B,
	    .cmdreg = SDHCI_CMD(idx, sdhci_resp_flags(rsp) | (kind == STEP_DATA ? SDHCI_CMD_DATA : 0)),
	    .xfer = xfer,
	    .arg = arg,
	    .timeout_us = timeout_us,
	};
}

/* The card address of a 512-byte sector: SDSC cards take byte addresses (capacity <= 4 GiB, checked). */
static uint32_t card_addr(const struct sdhci_host *h, uint64_t sector)
{
	return (uint32_t)(h->card.high_capacity ? sector : sector * SD_BLOCK);
}

static void build_steps(struct sdhci_host *h, const struct blk_req *req, bool recover)
{
	h->nsteps = 0;
	h->step = 0;
	if (recover) {
		/* Whatever state the failed attempt left the card in, CMD12 ends it (failing when idle). */
		add_step(h, STEP_CMD, SD_CMD_STOP, SD_RSP_R1B, 0, 0, CMD_TIMEOUT_US);
		h->steps[0].cmdreg |= SDHCI_CMD_TYPE_ABORT;
		h->steps[0].ignore_err = true;
		h->steps[0].check_r1 = false;
	}
	uint64_t sector = req->sector + h->cur_done; /* this chunk's */
	uint32_t nblk = h->cur_chunk, addr = card_addr(h, sector);
	if (req->op == BLK_OP_FLUSH) {
		/* No write cache (SD 6.0's is never enabled), writes end with CMD13 in transfer state: one
		 * CMD13 so that a card or controller no longer answering never gets a flush "done". */
		add_step(h, STEP_STATUS, SD_CMD_SEND_STATUS, SD_RSP_R1, h->card.rca, 0, CMD_TIMEOUT_US);
		h->busy_deadline = timer_us() + BUSY_TIMEOUT_US;
		return;
	}
	if (req->op == BLK_OP_DISCARD) {
		add_step(h, STEP_CMD, SD_CMD_ERASE_START, SD_RSP_R1, addr, 0, CMD_TIMEOUT_US);
		add_step(h, STEP_CMD, SD_CMD_ERASE_END, SD_RSP_R1, card_addr(h, sector + nblk - 1), 0,
			 CMD_TIMEOUT_US);
		add_step(h, STEP_CMD, SD_CMD_ERASE, SD_RSP_R1B, 0, 0, ERASE_TIMEOUT_US);
		add_step(h, STEP_STATUS, SD_CMD_SEND_STATUS, SD_RSP_R1, h->card.rca, 0, CMD_TIMEOUT_US);
		return;
	}
	bool rd = req->op == BLK_OP_READ, multi = nblk > 1;
	bool cmd23 = multi && h->card.cmd23 && !quirk(h, SDHCI_Q_NO_CMD23);
	bool stop = multi && !cmd23;
	bool auto12 = stop && !quirk(h, SDHCI_Q_NO_AUTO_CMD12);
	uint16_t xfer = (h->cur_path == SDHCI_PATH_PIO ? 0 : SDHCI_XFER_DMA) | SDHCI_XFER_BLKCNT_EN |
			(rd ? SDHCI_XFER_READ : 0) | (multi ? SDHCI_XFER_MULTI : 0) |
			(auto12 ? SDHCI_XFER_AUTO_CMD12 : 0);
	uint8_t idx = rd ? (multi ? SD_CMD_READ_MULTI : SD_CMD_READ_SINGLE)
			 : (multi ? SD_CMD_WRITE_MULTI : SD_CMD_WRITE_SINGLE);

	if (cmd23)
		add_step(h, STEP_CMD, SD_CMD_SET_BLOCK_CNT, SD_RSP_R1, nblk, 0, CMD_TIMEOUT_US);
	add_step(h, STEP_DATA, idx, SD_RSP_R1, addr, xfer, DATA_TIMEOUT_US);
	if (stop && !auto12) {
		add_step(h, STEP_CMD, SD_CMD_STOP, SD_RSP_R1B, 0, 0, BUSY_TIMEOUT_US);
		h->steps[h->nsteps - 1].cmdreg |= SDHCI_CMD_TYPE_ABORT;
	}
	if (!rd)
		add_step(h, STEP_STATUS, SD_CMD_SEND_STATUS, SD_RSP_R1, h->card.rca, 0, CMD_TIMEOUT_US);
}

/* Cache maintenance around DMA on the request's buffers (needed on non-coherent interconnects). */
static void dma_sync(const struct sdhci_host *h, const struct blk_req *req, bool before)
{
	if (h->bus.dma_coherent || h->cur_path == SDHCI_PATH_PIO)
		return;
	for (unsigned i = 0; i < req->nsegs; i++) {
		void *p = pa_to_ptr(req->segs[i].pa);
		if (req->op == BLK_OP_WRITE) {
			if (before)
				dcache_clean_range(p, req->segs[i].len);
		} else {
			/* Before: no dirty line may be evicted over DMA data. After: drop stale lines. */
			dcache_clean_inval_range(p, req->segs[i].len);
		}
	}
}

int sdhci_host_plan(const struct sdhci_host *h, const struct blk_req *req, enum sdhci_path *path,
		    unsigned *splits, unsigned *bad)
{
	const struct sdhci_xfer_caps c = {
	    .adma = h->dma == DMA_ADMA32 || h->dma == DMA_ADMA64,
	    .dma64 = h->dma == DMA_ADMA64,
	    .pio = h->dma == DMA_NONE,
	    .max_lines = SDHCI_ADMA_LINES,
	    .bus = &h->bus,
	};
	return sdhci_plan_xfer(&c, req, path, splits, bad);
}

void sdhci_complete(struct sdhci_host *h, struct blk_req *req, int status)
{
	blk_doneq_push(&h->done, req, status, h->name); /* submit bounds what is held */
	if (status != BLK_OK)
		h->stats.errors++;
}

void sdhci_finish(struct sdhci_host *h, int status)
{
	struct blk_req *req = h->cur;
	if (req->op == BLK_OP_READ)
		dma_sync(h, req, false);
	if (status == BLK_OK && (req->op == BLK_OP_READ || req->op == BLK_OP_WRITE))
		h->stats.bytes += req->nsectors * BLK_SECTOR_SIZE;
	h->cur = NULL;
	sdhci_err_end(&h->err, h->name, req, h->attempt + 1, SDHCI_RETRIES + 1, status, timer_us());
	sdhci_complete(h, req, status);
}

/* The current chunk has moved: the request completes, or waits in the FIFO for its next chunk. */
static void chunk_done(struct sdhci_host *h)
{
	struct blk_req *req = h->cur;
	uint32_t done = h->cur_done + h->cur_chunk;
	if (h->has_tick && h->cur_chunk < req->nsectors) /* split: the owner's next command waits */
		sdhci_pace_note(&h->pace, req->owner_ctx, h->cur_start_us, timer_us());
	if (req->op == BLK_OP_DISCARD || req->op == BLK_OP_FLUSH || done >= req->nsectors) {
		sdhci_finish(h, BLK_OK);
		return;
	}
	sdhci_err_end(&h->err, h->name, req, h->attempt + 1, SDHCI_RETRIES + 1, BLK_OK, timer_us());
	h->cur = NULL;
	if (!sdhci_queue_push(&h->q, req, done)) /* it left the controller: submit bounds queue + cur */
		panic("%s: request queue overflow", h->name);
}

/*
 * Take the next request (or its next chunk) into the controller. False when there is none. While
 * another owner uses the controller too (sdhci_contended), a large read or write moves at most
 * SDHCI_CHUNK_SECTORS per command; chunk_done puts it back in the FIFO between chunks.
 */
static bool start_next(struct sdhci_host *h)
{
	struct sdhci_queued e;
	if (!sdhci_queue_pop(&h->q, &e))
		return false;
	struct blk_req *req = e.req;

	h->cur = req;
	h->attempt = 0;
	h->err.count = 0;
	h->cur_done = e.done;
	h->cur_chunk = (uint32_t)req->nsectors;
	h->cur_start_us = timer_us();
	if (req->op == BLK_OP_READ || req->op == BLK_OP_WRITE) {
		unsigned splits, bad, n;
		if (sdhci_host_plan(h, req, &h->cur_path, &splits, &bad) !=
		    0) { /* submit checked: cannot happen */
			h->cur = NULL;
			sdhci_complete(h, req, BLK_EINVAL);
			return true;
		}
		h->cur_chunk =
		    sdhci_chunk_segs(req, e.done, sdhci_chunk_max(&h->contend, req, e.done, timer_us()),
				     h->chunk_segs, SDHCI_MAX_SEGS, &n);
		if (h->cur_chunk == 0) /* segments checked by plan_xfer, progress is ours */
			panic("%s: no chunk at sector %u of a %llu-sector request", h->name, e.done,
			      (unsigned long long)req->nsectors);
		if (e.done == 0) {
			h->stats.segs_split += splits;
			h->stats.sdma_fallbacks += h->cur_path == SDHCI_PATH_SDMA;
			dma_sync(h, req, true);
		}
		h->stats.chunks += h->cur_chunk < req->nsectors;
		h->stats.pio_requests += e.done == 0 && h->cur_path == SDHCI_PATH_PIO;
		h->chunk_nsegs = n;
		if (h->cur_path == SDHCI_PATH_ADMA) {
			int lines = sdhci_adma_build(h->adma, SDHCI_ADMA_LINES, h->dma == DMA_ADMA64, &h->bus,
						     h->chunk_segs, n, NULL);
			/* The controller reads the table from memory: write it out past the caches. */
			if (!h->bus.dma_coherent && lines > 0)
				dcache_clean_range(h->adma, (size_t)lines * (h->dma == DMA_ADMA64
										 ? SDHCI_ADMA_WORDS_64 * 4
										 : SDHCI_ADMA_WORDS_32 * 4));
		}
	}
	build_steps(h, req, false);
	if (h->settle) { /* an aborted write may leave the card programming: CMD13 until in transfer */
		h->settle = false;
		add_step(h, STEP_STATUS, SD_CMD_SEND_STATUS, SD_RSP_R1, h->card.rca, 0, CMD_TIMEOUT_US);
		struct sdhci_step first = h->steps[h->nsteps - 1];
		memmove(&h->steps[1], &h->steps[0], (h->nsteps - 1) * sizeof(first));
		h->steps[0] = first;
		h->busy_deadline = timer_us() + BUSY_TIMEOUT_US;
	}
	h->need_issue = true;
	return true;
}

/* Program and start the current step. False when the lines did not come free. */
static bool issue_step(struct sdhci_host *h)
{
	const struct sdhci_step *s = &h->steps[h->step];
	bool dat = s->kind == STEP_DATA || s->busy;
	bool abort = (s->cmdreg & SDHCI_CMD_TYPE_ABORT) == SDHCI_CMD_TYPE_ABORT;
	uint32_t inhibit = SDHCI_PS_CMD_INHIBIT | (dat && !abort ? SDHCI_PS_DATA_INHIBIT : 0);

	if (!wait32(h, SDHCI_PRESENT, inhibit, 0, INHIBIT_SPIN_US))
		return false;
	wr32(h, SDHCI_INT_STATUS, 0xffffffffu);
	if (s->kind == STEP_DATA) {
		dma_addr_t d = dma_init(0);
		h->pio_blocks = 0;
		if (h->cur_path == SDHCI_PATH_SDMA) {
			/* Block count 0 first: QEMU's model starts an SDMA transfer (with the last transfer
			 * mode) on an address write whenever the block count is non-zero. */
			wr16(h, SDHCI_BLOCK_COUNT, 0);
			if (!bus_dma_addr(&h->bus, h->chunk_segs[0].pa, h->chunk_segs[0].len, &d))
				panic("%s: SDMA buffer left the DMA window after planning", h->name);
			wr32(h, SDHCI_SDMA_ADDR, (uint32_t)dma_addr(d));
			wr8(h, SDHCI_HOST_CTRL,
			    (uint8_t)((rd8(h, SDHCI_HOST_CTRL) & ~SDHCI_CTRL_DMA_MASK) | SDHCI_CTRL_SDMA));
		} else if (h->cur_path == SDHCI_PATH_ADMA) {
			bus_dma_addr(&h->bus, ptr_to_pa(h->adma), sizeof(h->adma), &d); /* checked at probe */
			uint64_t t = dma_addr(d);
			wr32(h, SDHCI_ADMA_ADDR, (uint32_t)t);
			if (h->dma == DMA_ADMA64)
				wr32(h, SDHCI_ADMA_ADDR + 4, (uint32_t)(t >> 32));
			wr8(h, SDHCI_HOST_CTRL,
			    (uint8_t)((rd8(h, SDHCI_HOST_CTRL) & ~SDHCI_CTRL_DMA_MASK) |
				      (h->dma == DMA_ADMA64 ? SDHCI_CTRL_ADMA2_64 : SDHCI_CTRL_ADMA2_32)));
		}
		wr16(h, SDHCI_BLOCK_SIZE, (uint16_t)(SDHCI_SDMA_BOUNDARY_512K | SD_BLOCK));
		wr16(h, SDHCI_BLOCK_COUNT, (uint16_t)h->cur_chunk);
	}
	wr32(h, SDHCI_ARGUMENT, s->arg);
	wr16(h, SDHCI_XFER_MODE, s->xfer);
	mb(); /* descriptors and data in memory before the controller starts */
	wr16(h, SDHCI_COMMAND, s->cmdreg);
	h->stats.commands++;
	h->waiting = SDHCI_INT_CMD_DONE;
	if (s->kind == STEP_DATA || (s->busy && !quirk(h, SDHCI_Q_NO_BUSY_IRQ)))
		h->waiting |= SDHCI_INT_XFER_DONE;
	h->deadline = timer_us() + s->timeout_us;
	return true;
}

/*
 * The current step failed: st is the controller status (0 when keel's own
 * deadline or check fired), r1 the card status when that was the reason.
 */
static void step_error(struct sdhci_host *h, uint32_t st, uint32_t r1, const char *what)
{
	const struct sdhci_step *s = &h->steps[h->step];
	struct sdhci_err_seen e = {what, (uint8_t)(s->cmdreg >> 8), s->arg, st, r1, 0, 0};
	if (st & SDHCI_INT_AUTO_CMD_ERR)
		e.auto_cmd = rd16(h, SDHCI_AUTO_CMD_ERR);
	if (st & SDHCI_INT_ADMA_ERR)
		e.adma = rd8(h, SDHCI_ADMA_ERR);
	sdhci_reset_lines(h);
	if (s->ignore_err) {
		h->step++;
		h->need_issue = true;
		return;
	}
	if ((st == 0 && r1 == 0) || (st & SDHCI_INT_TIMEOUTS))
		h->stats.timeouts++;
	sdhci_err_note(&h->err, &e); /* logged once, when the request ends (sdhci_err_end) */
	if (h->attempt < SDHCI_RETRIES && !(r1 & SD_R1_FATAL)) {
		h->attempt++;
		h->stats.retries++;
		build_steps(h, h->cur, true);
		h->need_issue = true;
		return;
	}
	sdhci_finish(h, BLK_EIO);
}

static void step_done(struct sdhci_host *h)
{
	const struct sdhci_step *s = &h->steps[h->step];
	uint32_t r = rd32(h, SDHCI_RESPONSE);

	if (s->check_r1 && (r & SD_R1_ERRORS)) {
		step_error(h, 0, r, "card status error");
		return;
	}
	if (s->kind == STEP_STATUS && (SD_R1_STATE(r) != SD_R1_STATE_TRAN || !(r & SD_R1_READY_FOR_DATA))) {
		/* Still programming: ask again (each answer is an interrupt, not a spin). */
		h->stats.busy_polls++;
		if (timer_us() > h->busy_deadline) {
			step_error(h, 0, r, "card stayed busy");
			return;
		}
		h->need_issue = true;
		return;
	}
	h->step++;
	if (h->step == h->nsteps) {
		chunk_done(h);
		return;
	}
	if (h->steps[h->step].kind == STEP_STATUS)
		h->busy_deadline =
		    timer_us() + (h->cur->op == BLK_OP_DISCARD ? ERASE_TIMEOUT_US : BUSY_TIMEOUT_US);
	h->need_issue = true;
}

/*
 * PIO (a controller without DMA): move every block the data port has ready, at most the chunk's
 * (bounded by the chunk, not by the controller). Returns the status the moves raised (QEMU's model
 * completes the transfer inside the last data-port access).
 */
static uint32_t pio_move(struct sdhci_host *h)
{
	bool rd = h->cur->op == BLK_OP_READ;
	uint32_t ready = rd ? SDHCI_PS_BUF_RD_EN : SDHCI_PS_BUF_WR_EN;
	while (h->pio_blocks < h->cur_chunk && (rd32(h, SDHCI_PRESENT) & ready)) {
		uint64_t off = (uint64_t)h->pio_blocks * SD_BLOCK;
		if (!rd && !sdhci_pio_copy(h->chunk_segs, h->chunk_nsegs, off, h->pio_buf, SD_BLOCK, false))
			panic("%s: PIO block %u past the chunk's segments", h->name, h->pio_blocks);
		for (unsigned i = 0; i < SD_BLOCK / 4; i++) {
			if (rd)
				h->pio_buf[i] = rd32(h, SDHCI_BUFFER);
			else
				wr32(h, SDHCI_BUFFER, h->pio_buf[i]);
		}
		if (rd && !sdhci_pio_copy(h->chunk_segs, h->chunk_nsegs, off, h->pio_buf, SD_BLOCK, true))
			panic("%s: PIO block %u past the chunk's segments", h->name, h->pio_blocks);
		h->pio_blocks++;
	}
	uint32_t st = rd32(h, SDHCI_INT_STATUS);
	if (st)
		wr32(h, SDHCI_INT_STATUS, st);
	return st;
}

/*
 * Should the next request wait for its owner to start it? QEMU's controller moves a request's data
 * inside the register write that starts it, on the CPU that writes: started from the interrupt
 * handler or the tick (CPU 0, another VM's vCPU), a neighbour's large transfers would take that
 * VM's time. So from there (defer), a request whose owner can be kicked is left for the owner's
 * own vCPU (its poll), for at most SDHCI_OWNER_WAIT_US, then started here anyway. `mine` is
 * the caller's own request, always started. Lock held.
 */
static bool leave_to_owner(struct sdhci_host *h, bool defer, const struct blk_req *mine)
{
	const struct blk_req *next = sdhci_queue_peek(&h->q);
	if (next == NULL)
		return false;
	if (!defer || next == mine || next->owner_kick == NULL || next->op == BLK_OP_FLUSH) {
		h->deferred = NULL;
		return false;
	}
	uint64_t now = timer_us();
	if (h->deferred != next) {
		h->deferred = next;
		h->deferred_us = now;
		h->kick_fn = next->owner_kick;
		h->kick_ctx = next->owner_ctx;
		h->stats.owner_starts++;
		return true;
	}
	if (now - h->deferred_us < SDHCI_OWNER_WAIT_US)
		return true;
	h->stats.owner_late++; /* the owner did not come: start it here, never leave it stuck */
	h->deferred = NULL;
	return false;
}

/*
 * Drive the engine as far as it goes without waiting. One request or chunk started per call: the
 * next one (a neighbour's, or this one's next chunk) is left to its owner as from interrupt context,
 * so no caller holds the lock or its CPU for more than one command, and each owner's data moves on
 * its own vCPU.
 */
void sdhci_run_locked(struct sdhci_host *h, bool defer, const struct blk_req *mine)
{
	bool started = false;
	for (unsigned guard = 0; guard < 4 * SDHCI_QUEUE_MAX; guard++) {
		if (h->cur == NULL) {
			if (!sdhci_queue_pick(&h->q, &h->pace, timer_us()) ||
			    leave_to_owner(h, defer || started, started ? NULL : mine) || !start_next(h)) {
				/* Idle: drop anything stale so a level interrupt cannot stay raised. */
				uint32_t st = rd32(h, SDHCI_INT_STATUS);
				if (st)
					wr32(h, SDHCI_INT_STATUS, st);
				return;
			}
			started = started || h->cur != NULL; /* a request failing to plan completes at once */
			continue;
		}
		if (h->need_issue) {
			h->need_issue = false;
			if (!issue_step(h))
				step_error(h, 0, 0, "CMD/DAT lines stayed busy");
			continue;
		}
		uint32_t st = rd32(h, SDHCI_INT_STATUS);
		if (st)
			wr32(h, SDHCI_INT_STATUS, st);
		if ((st & SDHCI_INT_DMA) && h->cur_path == SDHCI_PATH_SDMA)
			wr32(h, SDHCI_SDMA_ADDR,
			     rd32(h, SDHCI_SDMA_ADDR)); /* resume past the buffer boundary */
		if (st & SDHCI_INT_ERR_MASK) {
			step_error(h, st, 0, (st & SDHCI_INT_TIMEOUTS) ? "timeout" : "error");
			continue;
		}
		if (h->cur_path == SDHCI_PATH_PIO && h->steps[h->step].kind == STEP_DATA)
			st |= pio_move(h); /* may end the transfer: its complete is read next time */
		h->waiting &= ~st;
		if (h->waiting == 0) {
			step_done(h);
			continue;
		}
		if (timer_us() > h->deadline)
			step_error(h, 0, 0, "no completion before the deadline");
		else
			return; /* wait for the interrupt (or the next poll) */
	}
}

/* Call the done callbacks of finished requests, with no lock held (done may resubmit). */
void sdhci_drain(struct sdhci_host *h)
{
	spin_lock(&h->lock);
	void (*kick)(void *) = h->kick_fn;
	void *kick_ctx = h->kick_ctx;
	h->kick_fn = NULL;
	spin_unlock(&h->lock);
	if (kick)
		kick(kick_ctx);
	blk_doneq_drain(&h->done, &h->lock);
}

/* From the owner's own context (poll): start whatever is next. */
void sdhci_service(struct sdhci_host *h)
{
	spin_lock(&h->lock);
	sdhci_run_locked(h, false, NULL);
	spin_unlock(&h->lock);
	sdhci_drain(h);
}
