/*
 * SDHCI controller driver (see sdhci.h). The card protocol (identification,
 * register decoding) lives in sd_card.c, ADMA2 tables in sdhci_adma.c; this
 * file owns the controller: reset, clocks, power, the synchronous command
 * path used at probe time, and the asynchronous request engine.
 *
 * A request runs as a short program of steps (e.g. CMD23, CMD25 + ADMA2,
 * CMD13 until the card has finished programming). Each step waits for the
 * controller's command-complete / transfer-complete events; an error or a
 * missed deadline resets the CMD and DAT lines and restarts the request
 * (with a CMD12 first, to bring the card back to the transfer state), at
 * most SDHCI_RETRIES times, then completes it with BLK_EIO; sdhci_err.c logs
 * one line for a request that met errors, naming the bits. A flush is a CMD13.
 *
 * Data moves by ADMA2 straight from the request's segments, at DMA addresses
 * through the controller's bus_dev (DT dma-ranges; outside its window: refused
 * with BLK_EIO, counted). A controller with no DMA at all moves blocks by PIO
 * (counted). A request ADMA2
 * cannot express goes by SDMA if it is one buffer below 4 GiB (counted; the
 * controller still does the copy, the CPU only restarts it at each 512 KiB
 * boundary). Anything else is refused with BLK_EINVAL (counted, logged
 * limited by time): keel never moves a guest's data word by word with its
 * own CPU, which would be another VM's CPU time (no PIO data path).
 *
 * Cancel (blkdev_ops.cancel): a queued request is dropped; the current one is
 * stopped by the SDHCI asynchronous abort (CMD12 as an abort command, then
 * software resets of the CMD and the DAT line), bounded by time, and the
 * engine moves on to the next request (after a CMD13 wait if the card may
 * still be programming).
 */
#include "drivers/storage/sdhci.h"

#include "core/bus_dev.h"

#include <string.h>

#include "arch/barrier.h"
#include "arch/cache.h"
#include "arch/mmio.h"
#include "arch/spinlock.h"
#include "arch/timer.h"
#include "core/irq.h"
#include "drivers/storage/blkdev.h"
#include "drivers/storage/sd_card.h"
#include "drivers/storage/sdhci_adma.h"
#include "drivers/storage/sdhci_chunk.h"
#include "drivers/storage/sdhci_err.h"
#include "drivers/storage/sdhci_host.h"
#include "drivers/storage/sdhci_pio.h"
#include "drivers/storage/sdhci_regs.h"
#include "drivers/storage/storage.h"
#include "keel/addr.h"
#include "keel/log.h"
#include "keel/ratelimit.h"
#include "keel/util.h"

#define SDHCI_MAX_SEGS	   64u
#define SDHCI_MAX_SECTORS  4096u	   /* 2 MiB: well inside the 16-bit block count */
#define SDHCI_MAX_SEG_SIZE (1024u * 1024u) /* split into 64 KiB ADMA2 lines */
#define SDHCI_ADMA_LINES   (SDHCI_MAX_SEGS + SDHCI_MAX_SECTORS * BLK_SECTOR_SIZE / SDHCI_ADMA_LINE_MAX + 1)
#define SDHCI_MAX_STEPS	   6
#define SDHCI_RETRIES	   3u

#define RESET_TIMEOUT_US    100000u
#define CLOCK_TIMEOUT_US    20000u
#define CMD_TIMEOUT_US	    1000000u
#define DATA_TIMEOUT_US	    5000000u
#define BUSY_TIMEOUT_US	    5000000u  /* card programming after a write */
#define ERASE_TIMEOUT_US    30000000u /* erase of up to SDHCI_MAX_SECTORS */
#define INHIBIT_SPIN_US	    1000u
#define SDHCI_OWNER_WAIT_US 20000u  /* a request left for its owner's vCPU: then started anyway */
#define ABORT_CMD_US	    100000u /* the abort CMD12's command complete */

/* Events the engine waits for, and the ones it enables at all. */
#define INT_ERRORS 0x03ff0000u /* error status bits 16..25 */
#define INT_ENABLED                                                                                          \
	(SDHCI_INT_CMD_DONE | SDHCI_INT_XFER_DONE | SDHCI_INT_DMA | SDHCI_INT_DATA_AVAIL |                   \
	 SDHCI_INT_SPACE_AVAIL | INT_ERRORS)
#define INT_SIGNALS (SDHCI_INT_CMD_DONE | SDHCI_INT_XFER_DONE | SDHCI_INT_DMA | INT_ERRORS)

/* --- host state ------------------------------------------------------------ */

enum step_kind { STEP_CMD, STEP_DATA, STEP_STATUS };

struct sdhci_step {
	uint8_t kind;	 /* enum step_kind */
	bool busy;	 /* R1b: also wait for the end of busy */
	bool ignore_err; /* a recovery CMD12: failing is fine */
	bool check_r1;	 /* R1 error bits fail the step */
	uint16_t cmdreg;
	uint16_t xfer;
	uint32_t arg;
	uint32_t timeout_us;
};

enum dma_mode { DMA_ADMA32, DMA_ADMA64, DMA_SDMA, DMA_NONE /* PIO */ };

struct sdhci_done {
	struct blk_req *req;
	int status;
};

struct sdhci_host {
	char name[8];
	volatile uint8_t *regs;
	struct bus_dev bus; /* registers, INTID, DMA window and coherency */
	const struct sdhci_quirks *quirks;
	uint8_t spec; /* SDHCI_SPEC_* */
	uint32_t caps;
	uint32_t base_clock_hz;
	uint32_t max_clock_hz;
	enum dma_mode dma;
	uint16_t xfer_shadow; /* SDHCI_Q_32BIT_ACCESS: transfer mode goes out with the command */
	struct sd_card card;
	struct blkdev bdev;
	struct sdhci_stats stats;

	struct spinlock lock;
	struct sdhci_queue q; /* waiting requests, with their progress (chunks) */
	struct sdhci_contend contend;
	struct sdhci_pace pace; /* the owner whose next command waits after a chunk */
	uint64_t cur_start_us;	/* when the current chunk started */
	bool has_tick;		/* the tick ends pauses: without it, no pacing */
	struct sdhci_done done[SDHCI_QUEUE_MAX + 1];
	unsigned d_head, d_count;

	/* The next request, left for its owner to start (blk_req.owner_kick), and since when. */
	const struct blk_req *deferred;
	uint64_t deferred_us;
	void (*kick_fn)(void *ctx); /* an owner to kick once the lock is dropped (drain) */
	void *kick_ctx;

	/* The request in the controller: its chunk of cur_chunk sectors from sector cur_done on. */
	struct blk_req *cur;
	enum sdhci_path cur_path;
	uint32_t cur_done, cur_chunk;
	struct blk_seg chunk_segs[SDHCI_MAX_SEGS];
	unsigned chunk_nsegs;
	uint32_t pio_blocks; /* blocks of the chunk moved by PIO */
	uint32_t pio_buf[SD_BLOCK / 4];
	bool settle;  /* a write was aborted: the next request first waits (CMD13) for the card */
	bool offline; /* an abort could not stop the controller: every request fails */
	unsigned attempt;
	struct sdhci_step steps[SDHCI_MAX_STEPS];
	unsigned nsteps, step;
	bool need_issue;
	uint32_t waiting;	     /* INT_STATUS events the current step still waits for */
	uint64_t deadline;	     /* of the current step */
	uint64_t busy_deadline;	     /* of CMD13 polling */
	struct sdhci_err err;	     /* the current request's errors, and their log lines */
	struct ratelimit rl_err;     /* line resets, aborts */
	struct ratelimit rl_refused; /* requests refused: segments no DMA mode can express */

	uint32_t adma[SDHCI_ADMA_LINES * SDHCI_ADMA_WORDS_64] __attribute__((aligned(64)));
};

static struct sdhci_host hosts[SDHCI_MAX_HOSTS];
static unsigned nr_hosts;

const struct sdhci_stats *sdhci_get_stats(unsigned i)
{
	return i < nr_hosts ? &hosts[i].stats : NULL;
}

/* --- register access --------------------------------------------------------- */

static inline bool quirk(const struct sdhci_host *h, uint32_t q)
{
	return (h->quirks->flags & q) != 0;
}

static uint32_t rd32(const struct sdhci_host *h, unsigned off)
{
	return mmio_read32(h->regs + off);
}

static void wr32(const struct sdhci_host *h, unsigned off, uint32_t v)
{
	mmio_write32(h->regs + off, v);
}

static uint16_t rd16(const struct sdhci_host *h, unsigned off)
{
	if (quirk(h, SDHCI_Q_32BIT_ACCESS))
		return (uint16_t)(rd32(h, off & ~3u) >> ((off & 2) * 8));
	return mmio_read16(h->regs + off);
}

static uint8_t rd8(const struct sdhci_host *h, unsigned off)
{
	if (quirk(h, SDHCI_Q_32BIT_ACCESS))
		return (uint8_t)(rd32(h, off & ~3u) >> ((off & 3) * 8));
	return mmio_read8(h->regs + off);
}

static void wr16(struct sdhci_host *h, unsigned off, uint16_t v)
{
	if (quirk(h, SDHCI_Q_32BIT_ACCESS)) {
		/* Transfer mode and command share a word and the command write starts the command. */
		if (off == SDHCI_XFER_MODE) {
			h->xfer_shadow = v;
			return;
		}
		if (off == SDHCI_COMMAND) {
			wr32(h, SDHCI_XFER_MODE, h->xfer_shadow | (uint32_t)v << 16);
			return;
		}
		unsigned sh = (off & 2) * 8;
		uint32_t w = rd32(h, off & ~3u) & ~(0xffffu << sh);
		wr32(h, off & ~3u, w | (uint32_t)v << sh);
		return;
	}
	mmio_write16(h->regs + off, v);
}

static void wr8(struct sdhci_host *h, unsigned off, uint8_t v)
{
	if (quirk(h, SDHCI_Q_32BIT_ACCESS)) {
		unsigned sh = (off & 3) * 8;
		uint32_t w = rd32(h, off & ~3u) & ~(0xffu << sh);
		wr32(h, off & ~3u, w | (uint32_t)v << sh);
		return;
	}
	mmio_write8(h->regs + off, v);
}

/* Spin until (reg & mask) == want or timeout_us passes. */
static bool wait32(const struct sdhci_host *h, unsigned off, uint32_t mask, uint32_t want,
		   uint64_t timeout_us)
{
	uint64_t end = timer_us() + timeout_us;
	for (;;) {
		if ((rd32(h, off) & mask) == want)
			return true;
		if (timer_us() > end)
			return (rd32(h, off) & mask) == want;
	}
}

/* --- controller primitives ------------------------------------------------------ */

static bool sdhci_reset(struct sdhci_host *h, uint8_t what)
{
	wr8(h, SDHCI_SW_RESET, what);
	uint64_t end = timer_us() + RESET_TIMEOUT_US;
	while (rd8(h, SDHCI_SW_RESET) & what)
		if (timer_us() > end)
			return false;
	return true;
}

/* Rate-limited error line (lock held): a few a second per controller and cause, then the count. */
static bool log_allowed(struct sdhci_host *h, struct ratelimit *rl)
{
	return ratelimit_log_allowed(rl, timer_us(), h->name);
}

/*
 * After an error or an abort: the CMD and DAT state machines back to idle (the DMA engine stopped),
 * stale events cleared. One reset bit per write, CMD then DAT: QEMU's model acts on a write of
 * exactly one of them and ignores both together. False when a reset did not complete in time.
 */
static bool reset_lines(struct sdhci_host *h)
{
	h->stats.resets++;
	bool ok = sdhci_reset(h, SDHCI_RESET_CMD);
	ok = sdhci_reset(h, SDHCI_RESET_DAT) && ok;
	if (!ok && log_allowed(h, &h->rl_err))
		log_err("%s: CMD/DAT line reset did not complete", h->name);
	wr8(h, SDHCI_ADMA_ERR, 0);
	wr32(h, SDHCI_INT_STATUS, 0xffffffffu);
	return ok;
}

static uint32_t sdhci_set_clock(void *hp, uint32_t hz)
{
	struct sdhci_host *h = hp;
	uint32_t base = h->base_clock_hz, div, actual, sel;

	wr16(h, SDHCI_CLOCK_CTRL, 0);
	if (hz == 0)
		return 0;
	if (h->spec >= SDHCI_SPEC_300) {
		/* 10-bit divided clock: base / (2N), N = 0 is the base clock. */
		div = base <= hz ? 0 : (base + 2 * hz - 1) / (2 * hz);
		if (div > 0x3ff)
			div = 0x3ff;
		actual = div ? base / (2 * div) : base;
		sel = (div & 0xff) << 8 | ((div >> 8) & 0x3) << 6;
	} else {
		/* 8-bit power-of-two divisor: base / (2N), N in 0, 1, 2, 4, ..., 128. */
		uint32_t d = 1;
		while (d < 256 && base / d > hz)
			d *= 2;
		actual = base / d;
		sel = (d / 2) << 8;
	}
	wr16(h, SDHCI_CLOCK_CTRL, (uint16_t)(sel | SDHCI_CLK_INT_EN));
	if (!wait32(h, SDHCI_CLOCK_CTRL & ~3u, SDHCI_CLK_INT_STABLE, SDHCI_CLK_INT_STABLE,
		    CLOCK_TIMEOUT_US)) {
		log_err("%s: internal clock did not stabilise", h->name);
		return 0;
	}
	wr16(h, SDHCI_CLOCK_CTRL, (uint16_t)(sel | SDHCI_CLK_INT_EN | SDHCI_CLK_CARD_EN));
	return actual;
}

static void sdhci_set_bus_width(void *hp, unsigned bits)
{
	struct sdhci_host *h = hp;
	uint8_t c = rd8(h, SDHCI_HOST_CTRL) & (uint8_t) ~(SDHCI_CTRL_4BIT | SDHCI_CTRL_8BIT);
	wr8(h, SDHCI_HOST_CTRL, (uint8_t)(c | (bits == 4 ? SDHCI_CTRL_4BIT : 0)));
}

static void sdhci_set_high_speed(void *hp, bool on)
{
	struct sdhci_host *h = hp;
	uint8_t c = rd8(h, SDHCI_HOST_CTRL) & (uint8_t)~SDHCI_CTRL_HS;
	wr8(h, SDHCI_HOST_CTRL, (uint8_t)(c | (on ? SDHCI_CTRL_HS : 0)));
}

static uint16_t resp_flags(uint8_t rsp)
{
	switch (rsp) {
	case SD_RSP_R1:
	case SD_RSP_R6:
	case SD_RSP_R7:
		return SDHCI_CMD_RESP_48 | SDHCI_CMD_CRC | SDHCI_CMD_INDEX;
	case SD_RSP_R1B:
		return SDHCI_CMD_RESP_48B | SDHCI_CMD_CRC | SDHCI_CMD_INDEX;
	case SD_RSP_R2:
		return SDHCI_CMD_RESP_136 | SDHCI_CMD_CRC;
	case SD_RSP_R3:
		return SDHCI_CMD_RESP_48;
	default:
		return SDHCI_CMD_RESP_NONE;
	}
}

/* The response registers hold bits 119:0 of a 136-bit response (no CRC): shift to CSD/CID bit positions. */
static void read_response(const struct sdhci_host *h, uint8_t rsp, uint32_t out[4])
{
	uint32_t r[4];
	for (unsigned i = 0; i < 4; i++)
		r[i] = rd32(h, SDHCI_RESPONSE + 4 * i);
	if (rsp != SD_RSP_R2) {
		out[0] = r[0];
		out[1] = out[2] = out[3] = 0;
		return;
	}
	out[0] = r[0] << 8;
	for (unsigned i = 1; i < 4; i++)
		out[i] = r[i] << 8 | r[i - 1] >> 24;
}

/* Wait for all of want, or any error; returns the status seen (0: timed out). Acks what it returns. */
static uint32_t wait_int(struct sdhci_host *h, uint32_t want, uint64_t timeout_us)
{
	uint64_t end = timer_us() + timeout_us;
	for (;;) {
		uint32_t st = rd32(h, SDHCI_INT_STATUS);
		if (st & SDHCI_INT_ERR_MASK) {
			wr32(h, SDHCI_INT_STATUS, st);
			return st;
		}
		if ((st & want) == want) {
			wr32(h, SDHCI_INT_STATUS, want);
			return st;
		}
		if (timer_us() > end)
			return 0;
	}
}

/* Synchronous command (probe time, interrupts not signalled): sd_host_ops.cmd. */
static int sdhci_cmd_sync(void *hp, struct sd_cmd *c)
{
	struct sdhci_host *h = hp;
	bool data = c->pio_len != 0, busy = c->rsp == SD_RSP_R1B;
	uint16_t flags = resp_flags(c->rsp) | (data ? SDHCI_CMD_DATA : 0);
	uint32_t inhibit = SDHCI_PS_CMD_INHIBIT | (data || busy ? SDHCI_PS_DATA_INHIBIT : 0);
	uint32_t st;

	memset(c->resp, 0, sizeof(c->resp));
	if (!wait32(h, SDHCI_PRESENT, inhibit, 0, CMD_TIMEOUT_US)) {
		reset_lines(h);
		return SD_EIO;
	}
	wr32(h, SDHCI_INT_STATUS, 0xffffffffu);
	if (data) {
		wr16(h, SDHCI_BLOCK_SIZE, c->pio_len);
		wr16(h, SDHCI_BLOCK_COUNT, 1);
	}
	wr32(h, SDHCI_ARGUMENT, c->arg);
	wr16(h, SDHCI_XFER_MODE, data ? SDHCI_XFER_READ : 0);
	wr16(h, SDHCI_COMMAND, SDHCI_CMD(c->idx, flags));
	h->stats.commands++;

	st = wait_int(h, SDHCI_INT_CMD_DONE, CMD_TIMEOUT_US);
	if (st == 0 || (st & SDHCI_INT_ERR_MASK)) {
		if (st == 0 || (st & SDHCI_INT_TIMEOUTS))
			h->stats.timeouts++;
		reset_lines(h);
		return st == 0 || (st & SDHCI_INT_CMD_TIMEOUT) ? SD_ETIMEDOUT : SD_EIO;
	}
	read_response(h, c->rsp, c->resp);

	if (data) {
		uint8_t *buf = c->pio_buf;
		st = wait_int(h, SDHCI_INT_DATA_AVAIL, DATA_TIMEOUT_US);
		if (st == 0 || (st & SDHCI_INT_ERR_MASK))
			goto data_err;
		for (unsigned i = 0; i + 4 <= c->pio_len; i += 4) {
			uint32_t w = rd32(h, SDHCI_BUFFER);
			for (unsigned k = 0; k < 4; k++)
				buf[i + k] = (uint8_t)(w >> (8 * k));
		}
	}
	if (data || (busy && !quirk(h, SDHCI_Q_NO_BUSY_IRQ))) {
		st = wait_int(h, SDHCI_INT_XFER_DONE, data ? DATA_TIMEOUT_US : BUSY_TIMEOUT_US);
		if (st == 0 || (st & SDHCI_INT_ERR_MASK))
			goto data_err;
	}
	return SD_OK;

data_err:
	if (st == 0 || (st & SDHCI_INT_TIMEOUTS))
		h->stats.timeouts++;
	reset_lines(h);
	return st == 0 || (st & SDHCI_INT_DATA_TIMEOUT) ? SD_ETIMEDOUT : SD_EIO;
}

static const struct sd_host_ops sdhci_sd_ops = {
    .cmd = sdhci_cmd_sync,
    .set_clock = sdhci_set_clock,
    .set_bus_width = sdhci_set_bus_width,
    .set_high_speed = sdhci_set_high_speed,
};

/* --- the request engine (lock held unless said otherwise) ------------------------ */

static void add_step(struct sdhci_host *h, uint8_t kind, uint8_t idx, uint8_t rsp, uint32_t arg,
		     uint16_t xfer, uint32_t timeout_us)
{
	struct sdhci_step *s = &h->steps[h->nsteps++];
	*s = (struct sdhci_step){
	    .kind = kind,
	    .busy = rsp == SD_RSP_R1B,
	    .check_r1 = rsp == SD_RSP_R1 || rsp == SD_RSP_R1B,
	    .cmdreg = SDHCI_CMD(idx, resp_flags(rsp) | (kind == STEP_DATA ? SDHCI_CMD_DATA : 0)),
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

static int plan_xfer(const struct sdhci_host *h, const struct blk_req *req, enum sdhci_path *path,
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

static void complete(struct sdhci_host *h, struct blk_req *req, int status)
{
	unsigned at = (h->d_head + h->d_count) % ARRAY_SIZE(h->done);
	if (h->d_count >= ARRAY_SIZE(h->done))
		panic("%s: completion ring overflow", h->name); /* submit bounds what is held */
	h->done[at] = (struct sdhci_done){req, status};
	h->d_count++;
	if (status != BLK_OK)
		h->stats.errors++;
}

static void finish(struct sdhci_host *h, int status)
{
	struct blk_req *req = h->cur;
	if (req->op == BLK_OP_READ)
		dma_sync(h, req, false);
	if (status == BLK_OK && (req->op == BLK_OP_READ || req->op == BLK_OP_WRITE))
		h->stats.bytes += req->nsectors * BLK_SECTOR_SIZE;
	h->cur = NULL;
	sdhci_err_end(&h->err, h->name, req, h->attempt + 1, SDHCI_RETRIES + 1, status, timer_us());
	complete(h, req, status);
}

/* The current chunk has moved: the request completes, or waits in the FIFO for its next chunk. */
static void chunk_done(struct sdhci_host *h)
{
	struct blk_req *req = h->cur;
	uint32_t done = h->cur_done + h->cur_chunk;
	if (h->has_tick && h->cur_chunk < req->nsectors) /* split: the owner's next command waits */
		sdhci_pace_note(&h->pace, req->owner_ctx, h->cur_start_us, timer_us());
	if (req->op == BLK_OP_DISCARD || req->op == BLK_OP_FLUSH || done >= req->nsectors) {
		finish(h, BLK_OK);
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
		if (plan_xfer(h, req, &h->cur_path, &splits, &bad) != 0) { /* submit checked: cannot happen */
			h->cur = NULL;
			complete(h, req, BLK_EINVAL);
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
	reset_lines(h);
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
	finish(h, BLK_EIO);
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

/* Drive the engine as far as it goes without waiting. */
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
 * One request or chunk started per call: the next one (a neighbour's, or this one's next chunk) is
 * left to its owner as from interrupt context, so no caller holds the lock or its CPU for more than
 * one command, and each owner's data moves on its own vCPU.
 */
static void run_locked(struct sdhci_host *h, bool defer, const struct blk_req *mine)
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
static void drain(struct sdhci_host *h)
{
	spin_lock(&h->lock);
	void (*kick)(void *) = h->kick_fn;
	void *kick_ctx = h->kick_ctx;
	h->kick_fn = NULL;
	spin_unlock(&h->lock);
	if (kick)
		kick(kick_ctx);
	for (;;) {
		spin_lock(&h->lock);
		if (h->d_count == 0) {
			spin_unlock(&h->lock);
			return;
		}
		struct sdhci_done d = h->done[h->d_head];
		h->d_head = (h->d_head + 1) % ARRAY_SIZE(h->done);
		h->d_count--;
		spin_unlock(&h->lock);
		d.req->done(d.req, d.status);
	}
}

/* From the owner's own context (poll): start whatever is next. */
static void service(struct sdhci_host *h)
{
	spin_lock(&h->lock);
	run_locked(h, false, NULL);
	spin_unlock(&h->lock);
	drain(h);
}

/* --- blkdev ops, interrupt and tick ------------------------------------------------ */

static int sdhci_submit(struct blkdev *dev, struct blk_req *req)
{
	struct sdhci_host *h = dev->priv;
	enum sdhci_path path;
	unsigned splits, bad;

	switch (req->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE:
		if (req->nsectors >
		    0xffff) /* blkdev_submit bounds it by max_sectors; the register is 16 bits */
			return BLK_EINVAL;
		int rc = plan_xfer(h, req, &path, &splits, &bad);
		if (rc == BLK_EIO) {
			/* Outside the controller's DMA window (e.g. above the BCM2711's 1 GiB): no bounce
			 * copy is made, so the request fails rather than DMA a wrong address. */
			spin_lock(&h->lock);
			h->stats.dma_window_refused++;
			if (log_allowed(h, &h->rl_refused))
				log_warn("%s: %s at sector %llu refused: segment %u (0x%llx, %u bytes) is "
					 "outside the controller's DMA window",
					 h->name, req->op == BLK_OP_READ ? "read" : "write",
					 (unsigned long long)req->sector, bad,
					 (unsigned long long)pa_addr(req->segs[bad].pa), req->segs[bad].len);
			spin_unlock(&h->lock);
			return BLK_EIO;
		}
		if (rc != 0) {
			spin_lock(&h->lock);
			h->stats.unmappable++;
			if (log_allowed(h, &h->rl_refused))
				log_warn(
				    "%s: %s of %llu sectors at %llu in %u segments refused: neither ADMA2 "
				    "nor "
				    "SDMA can express segment %u (0x%llx, %u bytes); no CPU copy is made",
				    h->name, req->op == BLK_OP_READ ? "read" : "write",
				    (unsigned long long)req->nsectors, (unsigned long long)req->sector,
				    req->nsegs, bad, (unsigned long long)pa_addr(req->segs[bad].pa),
				    req->segs[bad].len);
			spin_unlock(&h->lock);
			return BLK_EINVAL;
		}
		break;
	case BLK_OP_FLUSH:
		break;
	case BLK_OP_DISCARD:
		if (!h->card.can_erase)
			return BLK_ENOTSUP;
		break;
	default:
		return BLK_ENOTSUP;
	}

	spin_lock(&h->lock);
	if (h->offline) {
		spin_unlock(&h->lock);
		return BLK_EIO;
	}
	if (h->q.count + h->d_count + (h->cur ? 1 : 0) >= SDHCI_QUEUE_MAX ||
	    !sdhci_queue_push(&h->q, req, 0)) {
		spin_unlock(&h->lock);
		return BLK_EBUSY;
	}
	sdhci_contend_note(&h->contend, req, timer_us());
	h->stats.requests++;
	if (h->cur == NULL)
		run_locked(h, true, req); /* start this request, not a neighbour's left for its owner */
	spin_unlock(&h->lock);
	drain(h);
	return 0;
}

/*
 * Stop the request in the controller (lock held), as the SDHCI asynchronous abort: CMD12 issued as
 * an abort command, its command complete awaited, then the CMD and DAT lines reset (which stops
 * the DMA engine). Every wait is bounded by time. False when a line reset did not complete.
 */
static bool abort_current(struct sdhci_host *h)
{
	if (!wait32(h, SDHCI_PRESENT, SDHCI_PS_CMD_INHIBIT, 0, INHIBIT_SPIN_US))
		sdhci_reset(h, SDHCI_RESET_CMD); /* a command still running: cut it to send the abort */
	wr32(h, SDHCI_INT_STATUS, 0xffffffffu);
	wr32(h, SDHCI_ARGUMENT, 0);
	wr16(h, SDHCI_XFER_MODE, 0);
	mb();
	wr16(h, SDHCI_COMMAND,
	     (uint16_t)(SDHCI_CMD(SD_CMD_STOP, resp_flags(SD_RSP_R1B)) | SDHCI_CMD_TYPE_ABORT));
	h->stats.commands++;
	if (wait_int(h, SDHCI_INT_CMD_DONE, ABORT_CMD_US) == 0 && log_allowed(h, &h->rl_err))
		log_warn("%s: abort CMD12 got no command complete in %u ms", h->name, ABORT_CMD_US / 1000);
	return reset_lines(h);
}

/* Hardware tier, after bounded tries: the controller is not used again; what waits fails (lock held). */
static void go_offline(struct sdhci_host *h, const char *why)
{
	h->offline = true;
	log_err("%s: %s: controller offline, its requests fail", h->name, why);
	wr32(h, SDHCI_SIGNAL_EN, 0);
	struct sdhci_queued e;
	while (sdhci_queue_pop(&h->q, &e))
		complete(h, e.req, BLK_EIO);
}

static int sdhci_cancel(struct blkdev *dev, struct blk_req *req)
{
	struct sdhci_host *h = dev->priv;

	spin_lock(&h->lock);
	if (sdhci_queue_remove(&h->q, req)) { /* waiting, maybe between two chunks */
		h->stats.cancels++;
		if (h->deferred == req)
			h->deferred = NULL;
		complete(h, req, BLK_ECANCELED); /* not in the controller: no DMA of it runs */
		spin_unlock(&h->lock);
		drain(h);
		return 0;
	}
	if (h->cur != req) {
		spin_unlock(&h->lock);
		return -1; /* completed (its done is called or queued), or unknown */
	}
	h->stats.cancels++;
	uint64_t t0 = timer_us();
	bool stopped = abort_current(h);
	if (!stopped) {
		/*
		 * The DAT line did not reset: the DMA engine may still run. Reset the whole controller
		 * (bounded); the card would then need identifying again, which keel only does at boot:
		 * the controller goes offline either way.
		 */
		stopped = sdhci_reset(h, SDHCI_RESET_ALL);
		go_offline(h, stopped ? "the DAT line did not reset after an abort (full reset done)"
				      : "neither a DAT line nor a full reset completed after an abort");
	}
	if (stopped) {
		h->settle = req->op == BLK_OP_WRITE || req->op == BLK_OP_DISCARD; /* may be programming */
		finish(h, BLK_ECANCELED);
	} else {
		/* No done: the controller may still access the buffers, their owner must stay stopped. */
		h->cur = NULL;
		h->stats.lost++;
		log_err("%s: request at sector %llu is not completed: the controller may still access its "
			"buffers",
			h->name, (unsigned long long)req->sector);
	}
	uint64_t took = timer_us() - t0;
	if (log_allowed(h, &h->rl_err))
		log_info("%s: request at sector %llu aborted in %llu us", h->name,
			 (unsigned long long)req->sector, (unsigned long long)took);
	run_locked(h, true, NULL); /* on to the next request (none when offline) */
	spin_unlock(&h->lock);
	drain(h);
	return 0;
}

static void sdhci_poll(struct blkdev *dev)
{
	service(dev->priv);
}

static void sdhci_irq(void *ctx)
{
	struct sdhci_host *h = ctx;
	spin_lock(&h->lock);
	h->stats.irqs++;
	run_locked(h, true, NULL);
	spin_unlock(&h->lock);
	drain(h);
}

static void sdhci_tick(void *ctx)
{
	/* Polled fallback and deadlines: cheap when idle (one register read). */
	struct sdhci_host *h = ctx;
	spin_lock(&h->lock);
	const struct blk_req *before = h->cur;
	unsigned step = h->step;
	run_locked(h, true, NULL);
	if (before != NULL && (h->cur != before || h->step != step))
		h->stats.tick_progress++;
	spin_unlock(&h->lock);
	drain(h);
}

static void sdhci_report(struct blkdev *dev)
{
	struct sdhci_host *h = dev->priv;
	const struct sdhci_stats *s = &h->stats;
	/* Two lines: one would pass the console's line length and lose its tail. */
	log_info("%s: %llu requests, %llu commands, %llu bytes; %llu errors, %llu retries, %llu timeouts, "
		 "%llu resets; %llu segments split, %llu SDMA fallbacks, %llu refused (no DMA can express "
		 "them), %llu cancelled, %llu lost",
		 h->name, (unsigned long long)s->requests, (unsigned long long)s->commands,
		 (unsigned long long)s->bytes, (unsigned long long)s->errors, (unsigned long long)s->retries,
		 (unsigned long long)s->timeouts, (unsigned long long)s->resets,
		 (unsigned long long)s->segs_split, (unsigned long long)s->sdma_fallbacks,
		 (unsigned long long)s->unmappable, (unsigned long long)s->cancels,
		 (unsigned long long)s->lost);
	log_info("%s: %llu irqs, %llu tick completions, %llu busy polls; %llu chunk commands; %llu next "
		 "requests left to their owner's CPU (%llu started here after the wait)",
		 h->name, (unsigned long long)s->irqs, (unsigned long long)s->tick_progress,
		 (unsigned long long)s->busy_polls, (unsigned long long)s->chunks,
		 (unsigned long long)s->owner_starts, (unsigned long long)s->owner_late);
	if (h->dma == DMA_NONE || s->dma_window_refused)
		log_info(
		    "%s: %llu requests through the data port (no DMA), %llu refused outside the DMA window",
		    h->name, (unsigned long long)s->pio_requests, (unsigned long long)s->dma_window_refused);
}

static const struct blkdev_ops sdhci_blk_ops = {
    .submit = sdhci_submit,
    .poll = sdhci_poll,
    .report = sdhci_report,
    .cancel = sdhci_cancel,
};

/* --- bring-up ------------------------------------------------------------------------- */

static const char *dma_name(enum dma_mode m)
{
	return m == DMA_ADMA64	 ? "ADMA2 64-bit"
	       : m == DMA_ADMA32 ? "ADMA2 32-bit"
	       : m == DMA_SDMA	 ? "SDMA"
				 : "PIO (no DMA)";
}

static int host_init(struct sdhci_host *h, const struct bus_dev *bus, const struct sdhci_quirks *q,
		     const char *where)
{
	const char *why = "";
	paddr_t base = bus->base;
	uint32_t intid = bus->intid;
	dma_addr_t d;

	h->regs = pa_to_ptr(base);
	h->bus = *bus;
	h->quirks = q;
	h->lock = (struct spinlock)SPINLOCK_INIT;

	if (!sdhci_reset(h, SDHCI_RESET_ALL)) {
		log_err("%s: %s at 0x%llx: controller reset did not complete", h->name, q->name,
			(unsigned long long)pa_addr(base));
		return -1;
	}
	h->spec = rd16(h, SDHCI_HOST_VERSION) & 0xff;
	h->caps = rd32(h, SDHCI_CAPS);
	uint32_t mhz = (h->caps >> SDHCI_CAP_BASE_CLK_SHIFT) &
		       (h->spec >= SDHCI_SPEC_300 ? SDHCI_CAP_BASE_CLK_V3 : SDHCI_CAP_BASE_CLK_V2);
	h->base_clock_hz = mhz ? mhz * 1000000u : q->base_clock_hz;
	h->max_clock_hz = q->max_clock_hz ? q->max_clock_hz : 50000000u;
	log_info("%s: %s at 0x%llx (%s), SDHCI spec %u.00, capabilities 0x%08x, base clock %u kHz", h->name,
		 q->name, (unsigned long long)pa_addr(base), where, h->spec + 1u, h->caps,
		 h->base_clock_hz / 1000);
	if (h->base_clock_hz == 0) {
		log_err("%s: no base clock (capabilities report 0 and no quirk gives one)", h->name);
		return -1;
	}
	if (h->caps & SDHCI_CAP_ADMA2 && !quirk(h, SDHCI_Q_NO_ADMA))
		h->dma =
		    (h->caps & SDHCI_CAP_64BIT) && !quirk(h, SDHCI_Q_NO_64BIT_DMA) ? DMA_ADMA64 : DMA_ADMA32;
	else if (h->caps & SDHCI_CAP_SDMA)
		h->dma = DMA_SDMA;
	else
		h->dma = DMA_NONE; /* PIO, on the CPU that starts each command (the card line says so) */
	if (h->dma != DMA_NONE && !bus_dma_addr(&h->bus, ptr_to_pa(h->adma), sizeof(h->adma), &d)) {
		log_err("%s: keel's ADMA2 table at 0x%llx is outside the controller's DMA window", h->name,
			(unsigned long long)pa_addr(ptr_to_pa(h->adma)));
		return -1;
	}

	wr8(h, SDHCI_TIMEOUT_CTRL, 0xe); /* longest data timeout: keel keeps its own deadlines */
	wr32(h, SDHCI_INT_ENABLE, INT_ENABLED);
	wr32(h, SDHCI_SIGNAL_EN, 0);
	wr32(h, SDHCI_INT_STATUS, 0xffffffffu);

	if (!quirk(h, SDHCI_Q_NO_CARD_DETECT) && !(rd32(h, SDHCI_PRESENT) & SDHCI_PS_CARD_PRESENT)) {
		log_info("%s: no card in the slot", h->name);
		return -1;
	}
	uint8_t volt = h->caps & SDHCI_CAP_V33	 ? SDHCI_POWER_330
		       : h->caps & SDHCI_CAP_V30 ? SDHCI_POWER_300
						 : 0;
	if (volt == 0) {
		log_err("%s: controller offers neither 3.3 V nor 3.0 V for an SD card", h->name);
		return -1;
	}
	wr8(h, SDHCI_POWER_CTRL, volt);
	wr8(h, SDHCI_POWER_CTRL, (uint8_t)(volt | SDHCI_POWER_ON));
	if (!(rd8(h, SDHCI_POWER_CTRL) & SDHCI_POWER_ON)) {
		if (!(rd32(h, SDHCI_PRESENT) & SDHCI_PS_CARD_PRESENT)) /* its card detect was not trusted */
			log_info("%s: no card in the slot (bus power stays off): skipped", h->name);
		else
			log_err("%s: bus power did not come on", h->name);
		return -1;
	}

	bool host_hs = (h->caps & SDHCI_CAP_HS) && !quirk(h, SDHCI_Q_NO_HS);
	uint64_t t0 = timer_us();
	int rc = sd_card_init(&h->card, &sdhci_sd_ops, h, host_hs, h->max_clock_hz, &why);
	if (rc != SD_OK) {
		log_err("%s: SD card initialisation failed at %s (%d)", h->name, why, rc);
		wr8(h, SDHCI_POWER_CTRL, 0);
		return -1;
	}
	const struct sd_card *c = &h->card;
	bool ro = !quirk(h, SDHCI_Q_NO_WP) && !(rd32(h, SDHCI_PRESENT) & SDHCI_PS_WRITABLE);
	log_info("%s: SD card identified in %llu us: %s \"%s\" (MID 0x%02x), %llu MiB, CSD v%u, RCA 0x%04x, "
		 "%u-bit, %s %u kHz, %s, CMD23 %s, erase %s%s",
		 h->name, (unsigned long long)(timer_us() - t0), c->high_capacity ? "SDHC/SDXC" : "SDSC",
		 c->product, c->manufacturer, (unsigned long long)(c->capacity >> 20), c->csd_version + 1u,
		 c->rca >> 16, c->bus4 ? 4u : 1u, c->high_speed ? "high speed" : "default speed",
		 c->clock_hz / 1000, dma_name(h->dma), c->cmd23 && !quirk(h, SDHCI_Q_NO_CMD23) ? "yes" : "no",
		 c->can_erase ? "yes" : "no", ro ? ", write-protected" : "");

	h->bdev = (struct blkdev){
	    .name = h->name,
	    .nsectors = c->capacity / BLK_SECTOR_SIZE,
	    .block_size = BLK_SECTOR_SIZE,
	    /* SDMA moves one contiguous buffer: one segment a request. */
	    .max_segs = h->dma == DMA_SDMA ? 1 : SDHCI_MAX_SEGS,
	    .max_seg_size = SDHCI_MAX_SEG_SIZE,
	    .max_sectors = SDHCI_MAX_SECTORS,
	    .queue_depth = 4, /* one command at a time: a short queue keeps shares fair */
	    /* One request at a time: 256 KiB in flight in all keeps a neighbour's wait short. */
	    .fair_bytes = 256u * 1024,
	    .flags = BLKDEV_F_FLUSH | (c->can_erase && !ro ? BLKDEV_F_DISCARD : 0) | (ro ? BLKDEV_F_RO : 0),
	    .ops = &sdhci_blk_ops,
	    .priv = h,
	};
	h->has_tick = hyp_tick_register(sdhci_tick, h) == 0;
	if (!h->has_tick)
		log_warn("%s: no hypervisor tick slot: completions need an interrupt or an explicit poll",
			 h->name);
	if (intid && irq_register(intid, false, sdhci_irq, h) == 0) {
		h->bdev.intid = intid;
		wr32(h, SDHCI_SIGNAL_EN,
		     INT_SIGNALS | (h->dma == DMA_NONE ? SDHCI_INT_DATA_AVAIL | SDHCI_INT_SPACE_AVAIL : 0));
	} else
		log_warn("%s: no interrupt (INTID %u): completions are polled at %u Hz", h->name, intid,
			 HYP_TICK_HZ);
	return 0;
}

struct sdhci_host *sdhci_host_alloc(void)
{
	if (nr_hosts >= SDHCI_MAX_HOSTS)
		return NULL;
	struct sdhci_host *h = &hosts[nr_hosts];
	memset(h, 0, sizeof(*h));
	h->name[0] = 's';
	h->name[1] = 'd';
	h->name[2] = (char)('0' + nr_hosts);
	return h;
}

int sdhci_host_init(struct sdhci_host *h, const struct bus_dev *bus, const struct sdhci_quirks *q,
		    const char *where)
{
	return host_init(h, bus, q, where);
}

void sdhci_host_quiet(struct sdhci_host *h)
{
	wr32(h, SDHCI_SIGNAL_EN, 0);
}

void sdhci_host_commit(struct sdhci_host *h)
{
	nr_hosts++;
	if (storage_register("sd", &h->bdev) != 0)
		log_warn("%s: the storage registry is full", h->name);
}
