/*
 * Inside the SDHCI driver: one controller's state (struct sdhci_host), its register access, and
 * what its three parts call of each other. sdhci.c holds the hosts, the blkdev ops, the interrupt,
 * the tick and bring-up; sdhci_ctrl.c the controller primitives and the synchronous command path
 * of probe time; sdhci_engine.c the asynchronous request engine. Internal to drivers/storage.
 */
#ifndef KEEL_DRIVERS_SDHCI_PRIV_H
#define KEEL_DRIVERS_SDHCI_PRIV_H

#include "arch/mmio.h"
#include "arch/spinlock.h"
#include "arch/timer.h"
#include "core/bus_dev.h"
#include "drivers/storage/blkdev.h"
#include "drivers/storage/reg_wait.h"
#include "drivers/storage/sd_card.h"
#include "drivers/storage/sdhci.h"
#include "drivers/storage/sdhci_adma.h"
#include "drivers/storage/sdhci_chunk.h"
#include "drivers/storage/sdhci_err.h"
#include "drivers/storage/sdhci_host.h"
#include "drivers/storage/sdhci_regs.h"
#include "keel/ratelimit.h"

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
	struct blk_doneq done;	/* at most SDHCI_QUEUE_MAX + 1 (submit's bound and the current one) */

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

/* --- register access --------------------------------------------------------- */

static inline bool quirk(const struct sdhci_host *h, uint32_t q)
{
	return (h->quirks->flags & q) != 0;
}

_Static_assert(SDHCI_QUEUE_MAX + 1 <= BLK_DONEQ_LEN, "every request can be in the completion FIFO");

static inline uint32_t rd32(const struct sdhci_host *h, unsigned off)
{
	return mmio_read32(h->regs + off);
}

static inline void wr32(const struct sdhci_host *h, unsigned off, uint32_t v)
{
	mmio_write32(h->regs + off, v);
}

static inline uint16_t rd16(const struct sdhci_host *h, unsigned off)
{
	if (quirk(h, SDHCI_Q_32BIT_ACCESS))
		return (uint16_t)(rd32(h, off & ~3u) >> ((off & 2) * 8));
	return mmio_read16(h->regs + off);
}

static inline uint8_t rd8(const struct sdhci_host *h, unsigned off)
{
	if (quirk(h, SDHCI_Q_32BIT_ACCESS))
		return (uint8_t)(rd32(h, off & ~3u) >> ((off & 3) * 8));
	return mmio_read8(h->regs + off);
}

static inline void wr16(struct sdhci_host *h, unsigned off, uint16_t v)
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

static inline void wr8(struct sdhci_host *h, unsigned off, uint8_t v)
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
static inline bool wait32(const struct sdhci_host *h, unsigned off, uint32_t mask, uint32_t want,
			  uint64_t timeout_us)
{
	return reg_wait32(h->regs + off, mask, want, timeout_us);
}

/* --- sdhci_ctrl.c: controller primitives (lock held or probe time) --------------------------- */

/** Software reset of the lines in what (SDHCI_RESET_*), bounded by time; false if it did not end. */
bool sdhci_reset(struct sdhci_host *h, uint8_t what);
/** Rate-limited error line: a few a second per controller and cause, then the count. */
bool sdhci_log_allowed(struct sdhci_host *h, struct ratelimit *rl);
/** CMD then DAT line reset, stale events cleared; false when a reset did not complete in time. */
bool sdhci_reset_lines(struct sdhci_host *h);
/** The command register's response-type bits for an SD_RSP_* response. */
uint16_t sdhci_resp_flags(uint8_t rsp);
/** Wait for all of want, or any error; returns the status seen (0: timed out), acknowledged. */
uint32_t sdhci_wait_int(struct sdhci_host *h, uint32_t want, uint64_t timeout_us);
/** The card layer's view of the controller (sd_card.c): synchronous commands, clock, bus. */
extern const struct sd_host_ops sdhci_sd_ops;

/* --- sdhci_engine.c: the request engine (lock held unless said otherwise) ------------------- */

/**
 * How req's segments go to the controller (ADMA2, SDMA or PIO), in how many chunks; 0, or a
 * BLK_E* error with *bad the first segment no mode can express.
 */
int sdhci_host_plan(const struct sdhci_host *h, const struct blk_req *req, enum sdhci_path *path,
		    unsigned *splits, unsigned *bad);
/** Queue req's completion with status (called back by sdhci_drain, outside the lock). */
void sdhci_complete(struct sdhci_host *h, struct blk_req *req, int status);
/** End the current request with status and free the controller for the next. */
void sdhci_finish(struct sdhci_host *h, int status);
/**
 * Drive the engine as far as it goes without waiting. defer: called from the interrupt or the
 * tick, where a request may be left for its owner's vCPU; mine: the caller's own request.
 */
void sdhci_run_locked(struct sdhci_host *h, bool defer, const struct blk_req *mine);
/** Lock not held: call the queued completions back, then kick an owner a request was left for. */
void sdhci_drain(struct sdhci_host *h);
/** Lock not held: one pass of the engine from an owner's vCPU (blkdev poll). */
void sdhci_service(struct sdhci_host *h);

#endif
