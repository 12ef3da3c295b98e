/*
 * UFS host controller driver (see drivers/storage/ufs.h).
 *
 * Locking: one spinlock per controller guards the slot, wait and done
 * bookkeeping and every doorbell write. Completion callbacks run with no
 * driver lock held (they may resubmit): finished requests go on a done FIFO
 * that ufs_drain_done() empties after the lock is dropped. keel runs with
 * interrupts masked at EL2, so the lock is never taken re-entrantly.
 *
 * Bring-up and reset run the controller single-threaded (state DOWN or
 * RESETTING): the command slots are then driven synchronously by polling, and
 * the interrupt handler, poll and tick leave the hardware alone.
 *
 * This file: probe, the blkdev ops and the service path (interrupt, poll, tick); the rest is split by job
 * (see ufs_priv.h).
 */
#include "drivers/storage/ufs.h"

#include <string.h>

#include "arch/barrier.h"
#include "arch/cache.h"
#include "arch/timer.h"
#include "core/irq.h"
#include "drivers/pci.h"
#include "drivers/storage/storage.h"
#include "drivers/storage/ufs_priv.h"
#include "keel/log.h"
#include "keel/util.h"

static struct ufs_mem ufs_dma_mem[UFS_MAX_HOSTS] __attribute__((aligned(4096)));
struct ufs_host ufs_hosts[UFS_MAX_HOSTS];
unsigned ufs_nr_hosts;

/* --- service: interrupt, poll, tick ------------------------------------------- */

void ufs_service(struct ufs_host *h, bool from_irq, bool check_time)
{
	spin_lock(&h->lock);
	h->now_us = timer_us();
	if (from_irq)
		h->stats.irqs++; /* under the lock: the interrupt may run beside the tick (irq_route) */
	ufs_reap(h, from_irq);
	if (check_time)
		ufs_check_timeouts(h);
	bool reset = h->reset_pending && h->state == UFS_UP;
	if (!reset)
		ufs_start_waiters(h); /* rings too what a batch left unrung (its commit never came) */
	spin_unlock(&h->lock);
	ufs_drain_done(h);
	if (reset)
		ufs_reset(h);
}

static void ufs_irq(void *ctx)
{
	ufs_service(ctx, true, false);
}

static void ufs_log_stats(struct ufs_host *h)
{
	const struct ufs_stats *s = &h->stats;
	log_info(
	    "%s: %llu commands: %llu reads (%llu KiB), %llu writes (%llu KiB), %llu flushes, %llu unmaps; "
	    "%llu errors, %llu retries, %llu timeouts, %llu resets, %llu segments refused, %llu split; "
	    "%llu irqs, %llu polled, %llu waited",
	    h->name, (unsigned long long)s->commands, (unsigned long long)s->reads,
	    (unsigned long long)(s->bytes_read >> 10), (unsigned long long)s->writes,
	    (unsigned long long)(s->bytes_written >> 10), (unsigned long long)s->flushes,
	    (unsigned long long)s->unmaps, (unsigned long long)s->errors, (unsigned long long)s->retries,
	    (unsigned long long)s->timeouts, (unsigned long long)s->resets,
	    (unsigned long long)s->segs_refused, (unsigned long long)s->segs_split,
	    (unsigned long long)s->irqs, (unsigned long long)s->polled, (unsigned long long)s->waited);
	/* A second line: one of this length would overrun the console's 256-byte line. */
	log_info("%s: %llu doorbell writes; %llu cancelled (%llu by ABORT TASK, %llu by reset), %llu lost; "
		 "latency avg %llu us max %llu us",
		 h->name, (unsigned long long)s->doorbells, (unsigned long long)s->cancels,
		 (unsigned long long)s->tm_aborts, (unsigned long long)s->abort_resets,
		 (unsigned long long)s->lost,
		 (unsigned long long)(s->lat_sum_us /
				      MAX(s->reads + s->writes + s->flushes + s->unmaps + s->errors, 1)),
		 (unsigned long long)s->lat_max_us);
}

static void ufs_tick(void *ctx)
{
	struct ufs_host *h = ctx;

	ufs_service(h, false, true);
}

/* --- blkdev ops -------------------------------------------------------------- */

/* Can the controller address every segment without a copy? Counts and logs the refusals. */
static int check_segs(struct ufs_host *h, const struct blk_req *req)
{
	unsigned bad = 0;
	int why = 0;

	for (unsigned i = 0; i < req->nsegs && !why; i++) {
		uint64_t pa = pa_addr(req->segs[i].pa), len = req->segs[i].len;
		if (pa % UFS_PRD_ALIGN || len % UFS_PRD_ALIGN || len == 0)
			why = 1;
		else if (!h->addr64 && pa + len > (1ULL << 32))
			why = 2;
		bad = i;
	}
	if (!why && ufs_prdt_count(req->segs, req->nsegs) > UFS_PRDT_MAX)
		why = 3;
	if (!why)
		return 0;
	spin_lock(&h->lock);
	h->stats.segs_refused++;
	if (ufs_log_allowed(h))
		log_warn("%s: %s of sector %llu refused: segment %u (0x%llx+%u) %s; no bounce copy is made",
			 h->name, blk_op_name(req->op), (unsigned long long)req->sector, bad,
			 (unsigned long long)pa_addr(req->segs[bad].pa), req->segs[bad].len,
			 why == 1   ? "is not dword aligned"
			 : why == 2 ? "is above 4 GiB (controller has 32-bit DMA)"
				    : "needs too many PRDT entries");
	spin_unlock(&h->lock);
	return BLK_EINVAL;
}

static int ufs_submit(struct blkdev *dev, struct blk_req *req)
{
	struct ufs_host *h = dev->priv;
	uint64_t per = 1ULL << (h->lba_shift - 9);
	unsigned extra = 0;

	switch (req->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE:
	case BLK_OP_DISCARD:
		if (req->nsectors == 0 || req->sector % per || req->nsectors % per ||
		    req->sector > dev->nsectors || req->nsectors > dev->nsectors - req->sector ||
		    req->nsectors > UFS_MAX_SECTORS)
			return BLK_EINVAL;
		if (req->op == BLK_OP_DISCARD) {
			if (!h->unmap)
				return BLK_ENOTSUP;
			break;
		}
		if (req->segs == NULL || req->nsegs == 0 || check_segs(h, req) != 0)
			return BLK_EINVAL;
		extra = ufs_prdt_count(req->segs, req->nsegs) - req->nsegs;
		break;
	case BLK_OP_FLUSH:
		break;
	default:
		return BLK_ENOTSUP;
	}

	spin_lock(&h->lock);
	if (h->state == UFS_DEAD) {
		spin_unlock(&h->lock);
		return BLK_EIO;
	}
	h->stats.segs_split += extra;
	h->now_us = req->submit_us ? req->submit_us : timer_us();
	int s = (h->state == UFS_UP && h->wq_count == 0) ? ufs_free_slot(h) : -1;
	bool batch = req->batch;
	int rc = 0;
	if (s >= 0) {
		ufs_issue(h, (unsigned)s, req, 0);
	} else if (h->wq_count < UFS_WAITQ_ADMIT) {
		ufs_waitq_push_back(h, req, 0);
		h->stats.waited++;
	} else {
		rc = BLK_EBUSY;
	}
	if (!batch)
		ufs_ring(h); /* with the bits a batch left so far: a submit without the hint delays no one */
	spin_unlock(&h->lock);
	return rc;
}

/*
 * End of a batch: ring what hinted submits left unrung. The timeouts start at the submits' clock
 * (h->now_us, a moment earlier): no counter read here.
 */
static void ufs_commit(struct blkdev *dev)
{
	struct ufs_host *h = dev->priv;

	spin_lock(&h->lock);
	ufs_ring(h);
	spin_unlock(&h->lock);
}

static void ufs_poll(struct blkdev *dev)
{
	ufs_service(dev->priv, false, true);
}

/* The controller writes a slot's OCS into its UTRD before it clears the doorbell bit. */
static bool ufs_completion_ready(struct blkdev *dev)
{
	struct ufs_host *h = dev->priv;
	for (uint32_t b = READ_ONCE(h->issued); b; b &= b - 1) {
		struct ufs_utrd *d = &h->mem->utrl[ctz32(b)];
		if (!h->dma_coherent) /* the line holds other UTRDs: clean too, as complete_slot does */
			dcache_clean_inval_range(&d->dw2, sizeof(d->dw2));
		if ((READ_ONCE(d->dw2) & UFS_OCS_MASK) != UFS_OCS_INVALID)
			return true;
	}
	return false;
}

static void ufs_report(struct blkdev *dev)
{
	ufs_log_stats(dev->priv);
}

static const struct blkdev_ops ufs_ops = {
    .submit = ufs_submit,
    .poll = ufs_poll,
    .completion_ready = ufs_completion_ready,
    .report = ufs_report,
    .cancel = ufs_cancel,
    .commit = ufs_commit,
};

const struct ufs_stats *ufs_stats(const struct blkdev *dev)
{
	for (unsigned i = 0; i < ufs_nr_hosts; i++)
		if (dev == &ufs_hosts[i].bdev)
			return &ufs_hosts[i].stats;
	return NULL;
}

/* --- probe ------------------------------------------------------------------- */

static bool is_ufs(const struct pci_dev *d)
{
	return (d->vendor == 0x1b36 && d->device == 0x0013) || (d->class_code >> 8) == 0x0109;
}

static int ufs_probe_one(struct ufs_host *h, struct pci_dev *pd, struct ufs_mem *m, unsigned idx)
{
	memset(h, 0, sizeof(*h));
	h->name[0] = 'u';
	h->name[1] = 'f';
	h->name[2] = 's';
	h->name[3] = (char)('0' + idx);
	h->pci = pd;
	h->dma_coherent = pd->dma_coherent;
	h->mem = m;
	h->state = UFS_DOWN;
	h->lock = (struct spinlock)SPINLOCK_INIT;

	if (pa_addr(pd->bar[0]) == 0 || pd->bar_size[0] < UFS_REG_SPAN) {
		log_err("%s: PCIe %02x:%02x.%x has no usable BAR 0", h->name, pd->bus, pd->dev, pd->fn);
		return -1;
	}
	pci_enable(pd);
	h->regs = pa_to_ptr(pd->bar[0]);
	uint32_t cap = rd(h, UFS_REG_CAP);
	uint32_t ver = rd(h, UFS_REG_VER);
	if (cap == 0xffffffffu) {
		log_err("%s: registers read all-ones: not decoding", h->name);
		pci_disable(pd);
		return -1;
	}
	h->nutrs = MIN(UFS_CAP_NUTRS(cap), (unsigned)UFS_MAX_SLOTS);
	h->nutmrs = MIN(UFS_CAP_NUTMRS(cap), (unsigned)UFS_MAX_TM_SLOTS);
	h->slot_mask = h->nutrs == 32 ? 0xffffffffu : (1u << h->nutrs) - 1;
	h->addr64 = (cap & UFS_CAP_64AS) != 0;
	if (!h->addr64 && ptr_pa(m) + sizeof(*m) > (1ULL << 32)) {
		log_err("%s: 32-bit DMA only and keel's memory is above 4 GiB", h->name);
		pci_disable(pd);
		return -1;
	}

	uint64_t t0 = timer_us();
	if (ufs_hc_bringup(h) != 0 || ufs_lu_capacity(h) != 0) {
		log_err("%s: bring-up failed; the controller is not used", h->name);
		wr(h, UFS_REG_IE, 0);
		wr(h, UFS_REG_HCE, 0);
		pci_disable(pd);
		return -1;
	}
	uint64_t t1 = timer_us();

	h->bdev = (struct blkdev){
	    .name = h->name,
	    .nsectors = h->lba_count << (h->lba_shift - 9),
	    .block_size = 1u << h->lba_shift,
	    .max_segs = UFS_MAX_SEGS,
	    .max_seg_size = UFS_MAX_SEG_SIZE,
	    .max_sectors = UFS_MAX_SECTORS,
	    .queue_depth = h->nutrs,
	    .share_depth = UFS_SHARE_DEPTH,
	    .fair_bytes = UFS_FAIR_BYTES,
	    .flags = BLKDEV_F_FLUSH | (h->unmap ? BLKDEV_F_DISCARD : 0),
	    .ops = &ufs_ops,
	    .priv = h,
	};
	h->intid = pd->intid;
	bool irq = h->intid >= 32 && irq_register(h->intid, false, ufs_irq, h) == 0;
	if (hyp_tick_register(ufs_tick, h) != 0 && !irq) {
		log_err("%s: neither an interrupt nor a tick slot: not used", h->name);
		wr(h, UFS_REG_IE, 0);
		pci_disable(pd);
		return -1;
	}
	if (irq) {
		h->bdev.intid = h->intid;
	} else {
		wr(h, UFS_REG_IE, 0); /* no handler: keep the line quiet, poll instead */
		log_warn("%s: no usable INTx (intid %u): completions are polled at %u Hz", h->name, h->intid,
			 HYP_TICK_HZ);
	}
	h->state = UFS_UP;
	log_info(
	    "%s: UFSHCI %x.%x%x at 0x%llx, %u slots, %u TM slots, %s DMA, intid %u; LU %u: %llu blocks of %u "
	    "bytes%s; up in %llu us",
	    h->name, (ver >> 8) & 0xffu, (ver >> 4) & 0xfu, ver & 0xfu,
	    (unsigned long long)pa_addr(pd->bar[0]), h->nutrs, h->nutmrs, h->addr64 ? "64-bit" : "32-bit",
	    irq ? h->intid : 0, UFS_LUN, (unsigned long long)h->lba_count, 1u << h->lba_shift,
	    h->unmap ? ", UNMAP" : "", (unsigned long long)(t1 - t0));
	return 0;
}

int ufs_probe_all(const void *fdt)
{
	(void)fdt; /* controllers are found on PCIe */
	int rc = 0;

	for (unsigned i = 0; ufs_nr_hosts < UFS_MAX_HOSTS; i++) {
		struct pci_dev *pd = pci_dev_at(i);
		if (pd == NULL)
			break;
		if (!is_ufs(pd) || pd->claimed)
			continue;
		pd->claimed = true;
		struct ufs_host *h = &ufs_hosts[ufs_nr_hosts];
		if (ufs_probe_one(h, pd, &ufs_dma_mem[ufs_nr_hosts], ufs_nr_hosts) != 0) {
			rc = -1;
			continue;
		}
		/* The first controller's LU 0 is the "ufs" backend; a second one is "ufs1". */
		storage_register(ufs_nr_hosts == 0 ? "ufs" : "ufs1", &h->bdev);
		ufs_nr_hosts++;
	}
	return rc;
}
