/*
 * SDHCI controller driver (see sdhci.h). The card protocol (identification,
 * register decoding) lives in sd_card.c, ADMA2 tables in sdhci_adma.c. The
 * controller is in three files (sdhci_priv.h): this one holds the hosts, the
 * blkdev ops, the interrupt, the tick and bring-up; sdhci_ctrl.c reset,
 * clocks and the synchronous command path used at probe time;
 * sdhci_engine.c the asynchronous request engine.
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
#include "drivers/storage/sdhci_priv.h"

#include <string.h>

#include "arch/barrier.h"
#include "core/irq.h"
#include "drivers/storage/storage.h"
#include "keel/addr.h"
#include "keel/log.h"
#include "keel/util.h"

static struct sdhci_host hosts[SDHCI_MAX_HOSTS];
static unsigned nr_hosts;

const struct sdhci_stats *sdhci_get_stats(unsigned i)
{
	return i < nr_hosts ? &hosts[i].stats : NULL;
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
		int rc = sdhci_host_plan(h, req, &path, &splits, &bad);
		if (rc == BLK_EIO) {
			/* Outside the controller's DMA window (e.g. above the BCM2711's 1 GiB): no bounce
			 * copy is made, so the request fails rather than DMA a wrong address. */
			spin_lock(&h->lock);
			h->stats.dma_window_refused++;
			if (sdhci_log_allowed(h, &h->rl_refused))
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
			if (sdhci_log_allowed(h, &h->rl_refused))
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
	if (h->q.count + h->done.count + (h->cur ? 1 : 0) >= SDHCI_QUEUE_MAX ||
	    !sdhci_queue_push(&h->q, req, 0)) {
		spin_unlock(&h->lock);
		return BLK_EBUSY;
	}
	sdhci_contend_note(&h->contend, req, timer_us());
	h->stats.requests++;
	if (h->cur == NULL)
		sdhci_run_locked(h, true, req); /* start this request, not a neighbour's left for its owner */
	spin_unlock(&h->lock);
	sdhci_drain(h);
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
	     (uint16_t)(SDHCI_CMD(SD_CMD_STOP, sdhci_resp_flags(SD_RSP_R1B)) | SDHCI_CMD_TYPE_ABORT));
	h->stats.commands++;
	if (sdhci_wait_int(h, SDHCI_INT_CMD_DONE, ABORT_CMD_US) == 0 && sdhci_log_allowed(h, &h->rl_err))
		log_warn("%s: abort CMD12 got no command complete in %u ms", h->name, ABORT_CMD_US / 1000);
	return sdhci_reset_lines(h);
}

/* Hardware tier, after bounded tries: the controller is not used again; what waits fails (lock held). */
static void go_offline(struct sdhci_host *h, const char *why)
{
	h->offline = true;
	log_err("%s: %s: controller offline, its requests fail", h->name, why);
	wr32(h, SDHCI_SIGNAL_EN, 0);
	struct sdhci_queued e;
	while (sdhci_queue_pop(&h->q, &e))
		sdhci_complete(h, e.req, BLK_EIO);
}

static int sdhci_cancel(struct blkdev *dev, struct blk_req *req)
{
	struct sdhci_host *h = dev->priv;

	spin_lock(&h->lock);
	if (sdhci_queue_remove(&h->q, req)) { /* waiting, maybe between two chunks */
		h->stats.cancels++;
		if (h->deferred == req)
			h->deferred = NULL;
		sdhci_complete(h, req, BLK_ECANCELED); /* not in the controller: no DMA of it runs */
		spin_unlock(&h->lock);
		sdhci_drain(h);
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
		sdhci_finish(h, BLK_ECANCELED);
	} else {
		/* No done: the controller may still access the buffers, their owner must stay stopped. */
		h->cur = NULL;
		h->stats.lost++;
		log_err("%s: request at sector %llu is not completed: the controller may still access its "
			"buffers",
			h->name, (unsigned long long)req->sector);
	}
	uint64_t took = timer_us() - t0;
	if (sdhci_log_allowed(h, &h->rl_err))
		log_info("%s: request at sector %llu aborted in %llu us", h->name,
			 (unsigned long long)req->sector, (unsigned long long)took);
	sdhci_run_locked(h, true, NULL); /* on to the next request (none when offline) */
	spin_unlock(&h->lock);
	sdhci_drain(h);
	return 0;
}

static void sdhci_poll(struct blkdev *dev)
{
	sdhci_service(dev->priv);
}

static void sdhci_irq(void *ctx)
{
	struct sdhci_host *h = ctx;
	spin_lock(&h->lock);
	h->stats.irqs++;
	sdhci_run_locked(h, true, NULL);
	spin_unlock(&h->lock);
	sdhci_drain(h);
}

static void sdhci_tick(void *ctx)
{
	/* Polled fallback and deadlines: cheap when idle (one register read). */
	struct sdhci_host *h = ctx;
	spin_lock(&h->lock);
	const struct blk_req *before = h->cur;
	unsigned step = h->step;
	sdhci_run_locked(h, true, NULL);
	if (before != NULL && (h->cur != before || h->step != step))
		h->stats.tick_progress++;
	spin_unlock(&h->lock);
	sdhci_drain(h);
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
