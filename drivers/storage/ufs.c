/*
 * UFS host controller driver (see drivers/storage/ufs.h).
 *
 * Locking: one spinlock per controller guards the slot, wait and done
 * bookkeeping and every doorbell write. Completion callbacks run with no
 * driver lock held (they may resubmit): finished requests go on a done FIFO
 * that drain_done() empties after the lock is dropped. keel runs with
 * interrupts masked at EL2, so the lock is never taken re-entrantly.
 *
 * Bring-up and reset run the controller single-threaded (state DOWN or
 * RESETTING): the command slots are then driven synchronously by polling, and
 * the interrupt handler, poll and tick leave the hardware alone.
 */
#include "drivers/storage/ufs.h"

#include <string.h>

#include "arch/barrier.h"
#include "arch/cache.h"
#include "arch/spinlock.h"
#include "arch/timer.h"
#include "core/irq.h"
#include "drivers/pci.h"
#include "drivers/storage/storage.h"
#include "drivers/storage/ufs_proto.h"
#include "keel/addr.h"
#include "keel/log.h"
#include "keel/ratelimit.h"
#include "keel/util.h"

#define UFS_MAX_HOSTS	 2
#define UFS_MAX_SLOTS	 32
#define UFS_MAX_TM_SLOTS 8
#define UFS_WAITQ_ADMIT	 256				   /* submissions that may wait for a slot */
#define UFS_WAITQ_LEN	 (UFS_WAITQ_ADMIT + UFS_MAX_SLOTS) /* + requeues after a reset */
#define UFS_DONEQ_LEN	 UFS_WAITQ_LEN
#define UFS_LUN		 0

/*
 * blkdev limits: a segment is at most one PRDT entry, so a request always fits UFS_PRDT_MAX.
 * Many small segments matter more than large ones: a guest's pages are rarely contiguous, and
 * the segment count is what bounds a request's size (virtio-blk has no max-sectors field).
 */
#define UFS_MAX_SEGS	 UFS_PRDT_MAX
#define UFS_MAX_SEG_SIZE UFS_PRD_MAX_BYTES
#define UFS_MAX_SECTORS	 (UFS_MAX_SEGS * (UFS_MAX_SEG_SIZE / 512u)) /* 32 MiB per command */
/* Commands a neighbour's request may wait behind per busy disk (blkdev.share_depth): QEMU's UFS model
 * serves commands one after another, so more in flight only lengthens the queue. */
#define UFS_SHARE_DEPTH 2u

#define UFS_SCSI_RETRIES      4 /* re-issues after UNIT ATTENTION / NOT READY / ABORTED COMMAND / BUSY */
#define UFS_RESET_RETRIES     1 /* controller resets a request survives before BLK_EIO */
#define UFS_MAX_CONSEC_RESETS 3 /* resets without a successful request in between: then offline */

#define UFS_HCE_TIMEOUT_US	   100000u
#define UFS_UIC_TIMEOUT_US	   500000u
#define UFS_LIST_READY_TIMEOUT_US  100000u
#define UFS_INTERNAL_TIMEOUT_US	   1000000u
#define UFS_FDEVICEINIT_TIMEOUT_US 2000000u
#define UFS_DRAIN_TIMEOUT_US	   500000u
#define UFS_LINK_TRIES		   3
#define UFS_NOP_TRIES		   10
#define UFS_TUR_TRIES		   20
#define UFS_TM_TIMEOUT_US	   100000u /* one task management request */
#define UFS_DMA_EDGE		   128u	   /* at least any arm64 cache line */

#define UFS_IE_ENABLED (UFS_IS_UTRCS | UFS_IS_FATAL)

enum ufs_state { UFS_DOWN, UFS_UP, UFS_RESETTING, UFS_DEAD };

/* What the controller reads and writes by DMA: in keel's own memory. */
struct ufs_mem {
	struct ufs_utrd utrl[UFS_MAX_SLOTS] __attribute__((aligned(1024)));
	struct ufs_utmrd utmrl[UFS_MAX_TM_SLOTS] __attribute__((aligned(1024)));
	uint8_t ucd[UFS_MAX_SLOTS][UFS_UCD_SIZE] __attribute__((aligned(UFS_UCD_ALIGN)));
	uint8_t scratch[4096] __attribute__((aligned(4096))); /* data of bring-up commands */
};

struct ufs_slot {
	struct blk_req *req;
	uint64_t rung_us;
	uint64_t deadline_us;
	uint8_t resets;	 /* controller resets this request went through */
	uint8_t retries; /* SCSI-level re-issues */
	bool aborting;	 /* cancel is aborting it: no retry, and a non-success ends as BLK_ECANCELED */
	uint32_t gen;	 /* issue count of this slot: tells a cancelled request from a later one */
};

struct ufs_wait {
	struct blk_req *req;
	uint8_t resets;
	bool cancel; /* cancelled while a reset requeued it: BLK_ECANCELED once the reset is over */
};

struct ufs_done {
	struct blk_req *req;
	int status;
};

struct ufs_host {
	char name[8];
	volatile uint32_t *regs;
	struct pci_dev *pci;
	bool dma_coherent; /* the platform keeps DMA coherent: guest pages need no cache maintenance */
	uint32_t intid;
	unsigned nutrs, nutmrs;
	uint32_t slot_mask;
	bool addr64;
	struct ufs_mem *mem;

	struct spinlock lock; /* guards everything below */
	enum ufs_state state;
	bool reset_pending;
	bool reset_fatal; /* the pending reset follows a controller error: fail, do not retry */
	unsigned consec_resets;
	uint32_t busy;	   /* slots holding a request */
	uint32_t issued;   /* slots whose doorbell bit we set and have not reaped */
	uint32_t poisoned; /* slots the controller never released: never used again */
	struct ufs_slot slots[UFS_MAX_SLOTS];
	struct ufs_wait waitq[UFS_WAITQ_LEN];
	unsigned wq_head, wq_count;
	struct ufs_done doneq[UFS_DONEQ_LEN];
	unsigned dq_head, dq_count;
	struct ratelimit rl; /* request error lines */
	bool tm_unsupported; /* the controller does not execute TM requests: aborts use UTRLCLR only */
	bool tm_busy;	     /* TM slot 0 is in use by a cancel */

	uint32_t lba_shift; /* log2(logical block size) */
	uint64_t lba_count;
	bool unmap;
	struct blkdev bdev;
	struct ufs_stats stats;
};

static struct ufs_mem ufs_dma_mem[UFS_MAX_HOSTS] __attribute__((aligned(4096)));
static struct ufs_host hosts[UFS_MAX_HOSTS];
static unsigned nr_hosts;

/* --- registers and small helpers ------------------------------------------ */

#ifdef KEEL_HOST_TEST
/* Host tests model the controller (its write-one-to-set/clear registers) in tests/unit/test_ufs.c. */
uint32_t ufs_fake_read(uint32_t off);
void ufs_fake_write(uint32_t off, uint32_t v);
static uint32_t rd(const struct ufs_host *h, uint32_t off)
{
	(void)h;
	return ufs_fake_read(off);
}

static void wr(struct ufs_host *h, uint32_t off, uint32_t v)
{
	(void)h;
	ufs_fake_write(off, v);
}
#else
static uint32_t rd(const struct ufs_host *h, uint32_t off)
{
	return h->regs[off / 4];
}

static void wr(struct ufs_host *h, uint32_t off, uint32_t v)
{
	h->regs[off / 4] = v;
}
#endif

static bool wait_reg(const struct ufs_host *h, uint32_t off, uint32_t mask, uint32_t want,
		     uint64_t timeout_us)
{
	uint64_t end = timer_us() + timeout_us;
	for (;;) {
		if ((rd(h, off) & mask) == want)
			return true;
		if (timer_us() > end)
			return (rd(h, off) & mask) == want;
	}
}

static void udelay(uint64_t us)
{
	uint64_t end = timer_us() + us;
	while (timer_us() < end)
		;
}

static unsigned ctz32(uint32_t v)
{
	return (unsigned)__builtin_ctz(v);
}

static uint64_t ptr_pa(const void *p)
{
	return pa_addr(ptr_to_pa(p));
}

static const char *op_name(enum blk_op op)
{
	switch (op) {
	case BLK_OP_READ:
		return "read";
	case BLK_OP_WRITE:
		return "write";
	case BLK_OP_FLUSH:
		return "flush";
	case BLK_OP_DISCARD:
		return "discard";
	default:
		return "op?";
	}
}

/* Rate-limited error logging (lock held): a few lines a second per controller, then a count of the rest. */
static bool log_allowed(struct ufs_host *h)
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

static void done_push(struct ufs_host *h, struct blk_req *req, int status)
{
	if (h->dq_count >= UFS_DONEQ_LEN)
		panic("%s: completion FIFO overflow", h->name); /* each request is in one place only */
	h->doneq[(h->dq_head + h->dq_count) % UFS_DONEQ_LEN] = (struct ufs_done){req, status};
	h->dq_count++;
	if (status != BLK_OK)
		h->stats.errors++;
}

/* Call the completions, one at a time, with no lock held: done may resubmit. */
static void drain_done(struct ufs_host *h)
{
	for (;;) {
		spin_lock(&h->lock);
		if (h->dq_count == 0) {
			spin_unlock(&h->lock);
			return;
		}
		struct ufs_done d = h->doneq[h->dq_head];
		h->dq_head = (h->dq_head + 1) % UFS_DONEQ_LEN;
		h->dq_count--;
		spin_unlock(&h->lock);
		d.req->done(d.req, d.status);
	}
}

static void waitq_push_back(struct ufs_host *h, struct blk_req *req, uint8_t resets)
{
	h->waitq[(h->wq_head + h->wq_count) % UFS_WAITQ_LEN] = (struct ufs_wait){req, resets, false};
	h->wq_count++;
}

static void waitq_push_front(struct ufs_host *h, struct blk_req *req, uint8_t resets)
{
	h->wq_head = (h->wq_head + UFS_WAITQ_LEN - 1) % UFS_WAITQ_LEN;
	h->waitq[h->wq_head] = (struct ufs_wait){req, resets, false};
	h->wq_count++;
}

/* Take the i-th waiting entry out of the FIFO, keeping the others' order. */
static void waitq_remove_at(struct ufs_host *h, unsigned i)
{
	for (unsigned j = i; j + 1 < h->wq_count; j++)
		h->waitq[(h->wq_head + j) % UFS_WAITQ_LEN] = h->waitq[(h->wq_head + j + 1) % UFS_WAITQ_LEN];
	h->wq_count--;
}

/* Index of req in the wait FIFO, or -1. */
static int waitq_find(const struct ufs_host *h, const struct blk_req *req)
{
	for (unsigned i = 0; i < h->wq_count; i++)
		if (h->waitq[(h->wq_head + i) % UFS_WAITQ_LEN].req == req)
			return (int)i;
	return -1;
}

/* After a reset's bring-up (no DMA of a requeued request can still happen): complete the ones cancelled
 * meanwhile. */
static void waitq_drop_cancelled(struct ufs_host *h)
{
	for (unsigned i = 0; i < h->wq_count;) {
		struct ufs_wait *w = &h->waitq[(h->wq_head + i) % UFS_WAITQ_LEN];
		if (!w->cancel) {
			i++;
			continue;
		}
		done_push(h, w->req, BLK_ECANCELED);
		waitq_remove_at(h, i);
	}
}

/* --- building and issuing requests (lock held) ------------------------------ */

static int free_slot(const struct ufs_host *h)
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

static void ring(struct ufs_host *h, unsigned s)
{
	h->slots[s].rung_us = timer_us();
	h->slots[s].deadline_us = h->slots[s].rung_us + UFS_IO_TIMEOUT_US;
	h->issued |= 1u << s;
	h->stats.commands++;
	mb(); /* descriptors and data visible to the controller before the doorbell */
	wr(h, UFS_REG_UTRLDBR, 1u << s);
}

static void issue(struct ufs_host *h, unsigned s, struct blk_req *req, uint8_t resets)
{
	struct ufs_slot *sl = &h->slots[s];

	sl->req = req;
	sl->resets = resets;
	sl->retries = 0;
	sl->aborting = false;
	sl->gen++;
	h->busy |= 1u << s;
	build_io(h, s, req);
	ring(h, s);
}

/* Move waiting requests into free slots, in order. */
static void start_waiters(struct ufs_host *h)
{
	while (h->state == UFS_UP && h->wq_count > 0) {
		int s = free_slot(h);
		if (s < 0)
			return;
		struct ufs_wait w = h->waitq[h->wq_head];
		h->wq_head = (h->wq_head + 1) % UFS_WAITQ_LEN;
		h->wq_count--;
		issue(h, (unsigned)s, w.req, w.resets);
	}
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
		build_io(h, s, req);
		ring(h, s);
		return;
	}
	int status = v == UFS_OK ? BLK_OK : (sl->aborting ? BLK_ECANCELED : BLK_EIO);
	if (!from_irq)
		h->stats.polled++;
	uint64_t lat = timer_us() - sl->rung_us;
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
	} else if (status != BLK_ECANCELED && log_allowed(h)) {
		log_warn("%s: %s of sector %llu+%llu failed: ocs 0x%x upiu 0x%02x tag %u response 0x%x "
			 "status 0x%x "
			 "sense %x/%02x/%02x (%s)",
			 h->name, op_name(req->op), (unsigned long long)req->sector,
			 (unsigned long long)req->nsectors, r.ocs, r.trans, r.tag, r.response, r.status,
			 r.sense_key, r.asc, r.ascq, ufs_sense_key_name(r.sense_key));
	}
	sl->req = NULL;
	h->busy &= ~(1u << s);
	done_push(h, req, status);
}

/* Reap finished slots; note controller errors. */
static void reap(struct ufs_host *h, bool from_irq)
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

static void check_timeouts(struct ufs_host *h)
{
	uint64_t now = timer_us();

	if (h->state != UFS_UP)
		return;
	for (uint32_t pend = h->issued; pend; pend &= pend - 1) {
		unsigned s = ctz32(pend);
		struct ufs_slot *sl = &h->slots[s];
		if (now <= sl->deadline_us)
			continue;
		h->stats.timeouts++;
		log_err("%s: slot %u (%s of sector %llu+%llu) had no completion after %u ms: reset", h->name,
			s, op_name(sl->req->op), (unsigned long long)sl->req->sector,
			(unsigned long long)sl->req->nsectors, UFS_IO_TIMEOUT_US / 1000);
		sl->deadline_us = UINT64_MAX; /* counted once */
		h->reset_pending = true;
	}
}

/* --- bring-up: synchronous commands while nobody else drives the controller -- */

static int internal_slot(const struct ufs_host *h)
{
	uint32_t ok = h->slot_mask & ~h->poisoned;
	return ok ? (int)ctz32(ok) : -1;
}

/* Run the UPIU already built in slot s; data_len bytes of m->scratch are the data. 0, or -1 on timeout. */
static int internal_exec(struct ufs_host *h, unsigned s, uint32_t dd, uint32_t data_len, struct ufs_result *r)
{
	struct ufs_mem *m = h->mem;
	uint8_t *ucd = m->ucd[s];
	unsigned nprd = 0;

	if (data_len) {
		struct ufs_prd *prd = (struct ufs_prd *)(void *)(ucd + UFS_UCD_PRDT_OFF);
		*prd = (struct ufs_prd){(uint32_t)ptr_pa(m->scratch), (uint32_t)(ptr_pa(m->scratch) >> 32), 0,
					data_len - 1};
		nprd = 1;
		dcache_clean_inval_range(m->scratch, data_len);
	}
	ufs_utrd_fill(&m->utrl[s], ptr_pa(ucd), dd, nprd, false);
	dcache_clean_inval_range(ucd, UFS_UCD_SIZE);
	dcache_clean_range(&m->utrl[s], sizeof(m->utrl[s]));
	h->stats.commands++;
	mb();
	wr(h, UFS_REG_UTRLDBR, 1u << s);
	if (!wait_reg(h, UFS_REG_UTRLDBR, 1u << s, 0, UFS_INTERNAL_TIMEOUT_US)) {
		log_err("%s: bring-up command (UPIU 0x%02x) timed out", h->name, ucd[0]);
		h->poisoned |= 1u << s; /* the controller still owns it */
		return -1;
	}
	mb();
	wr(h, UFS_REG_IS, UFS_IS_UTRCS);
	dcache_clean_inval_range(&m->utrl[s], sizeof(m->utrl[s]));
	dcache_inval_range(ucd + UFS_UCD_RSP_OFF, UFS_UCD_RSP_LEN);
	if (data_len)
		dcache_inval_range(m->scratch, data_len);
	ufs_rsp_parse(ucd + UFS_UCD_RSP_OFF, READ_ONCE(m->utrl[s].dw2), r);
	return 0;
}

static int run_nop(struct ufs_host *h)
{
	struct ufs_result r;
	int s = internal_slot(h);

	if (s < 0)
		return -1;
	ufs_upiu_nop_out(h->mem->ucd[s], (uint8_t)s);
	if (internal_exec(h, (unsigned)s, UFS_UTRD_DD_NONE, 0, &r) != 0)
		return -1;
	return (r.ocs == UFS_OCS_SUCCESS && r.trans == UFS_UPIU_NOP_IN && r.tag == s && r.response == 0) ? 0
													 : -1;
}

static int run_query_flag(struct ufs_host *h, uint8_t func, uint8_t opcode, uint8_t idn, uint32_t *value)
{
	struct ufs_result r;
	int s = internal_slot(h);

	if (s < 0)
		return -1;
	ufs_upiu_query(h->mem->ucd[s], (uint8_t)s, func, opcode, idn, 0, 0, 0);
	if (internal_exec(h, (unsigned)s, UFS_UTRD_DD_NONE, 0, &r) != 0)
		return -1;
	if (r.ocs != UFS_OCS_SUCCESS || r.trans != UFS_UPIU_QUERY_RSP || r.tag != s || r.response != 0) {
		log_err("%s: query opcode 0x%x idn 0x%x failed: ocs 0x%x response 0x%x", h->name, opcode, idn,
			r.ocs, r.response);
		return -1;
	}
	*value = r.value & 0xffu;
	return 0;
}

static enum ufs_verdict run_scsi(struct ufs_host *h, const uint8_t cdb[UFS_CDB_LEN], bool write, uint32_t len,
				 struct ufs_result *r)
{
	int s = internal_slot(h);
	uint8_t flags = len == 0 ? 0 : (write ? UFS_UPIU_FLAG_WRITE : UFS_UPIU_FLAG_READ);
	uint32_t dd = len == 0 ? UFS_UTRD_DD_NONE : (write ? UFS_UTRD_DD_WRITE : UFS_UTRD_DD_READ);

	if (s < 0)
		return UFS_FAIL;
	ufs_upiu_command(h->mem->ucd[s], UFS_LUN, (uint8_t)s, flags, len, cdb);
	if (internal_exec(h, (unsigned)s, dd, len, r) != 0)
		return UFS_FAIL;
	return ufs_scsi_verdict(r, (uint8_t)s);
}

static int link_startup(struct ufs_host *h)
{
	for (unsigned t = 0; t < UFS_LINK_TRIES; t++) {
		if (!wait_reg(h, UFS_REG_HCS, UFS_HCS_UCRDY, UFS_HCS_UCRDY, UFS_UIC_TIMEOUT_US)) {
			log_err("%s: UIC not ready for commands (HCS 0x%x)", h->name, rd(h, UFS_REG_HCS));
			return -1;
		}
		wr(h, UFS_REG_IS, UFS_IS_UCCS);
		wr(h, UFS_REG_UCMDARG1, 0);
		wr(h, UFS_REG_UCMDARG2, 0);
		wr(h, UFS_REG_UCMDARG3, 0);
		wr(h, UFS_REG_UICCMD, UFS_UIC_DME_LINKSTARTUP);
		if (!wait_reg(h, UFS_REG_IS, UFS_IS_UCCS, UFS_IS_UCCS, UFS_UIC_TIMEOUT_US)) {
			log_warn("%s: DME_LINKSTARTUP did not complete (try %u)", h->name, t + 1);
			continue;
		}
		uint32_t result = rd(h, UFS_REG_UCMDARG2) & UFS_UIC_RESULT_MASK;
		wr(h, UFS_REG_IS, UFS_IS_UCCS);
		if (result != 0) {
			log_warn("%s: DME_LINKSTARTUP result %u (try %u)", h->name, result, t + 1);
			continue;
		}
		if (wait_reg(h, UFS_REG_HCS, UFS_HCS_DP, UFS_HCS_DP, UFS_UIC_TIMEOUT_US))
			return 0;
		log_warn("%s: link up but no device present (try %u)", h->name, t + 1);
	}
	return -1;
}

static int lists_start(struct ufs_host *h)
{
	struct ufs_mem *m = h->mem;
	uint64_t utrl = ptr_pa(m->utrl), utmrl = ptr_pa(m->utmrl);

	memset(m->utrl, 0, sizeof(m->utrl));
	memset(m->utmrl, 0, sizeof(m->utmrl));
	dcache_clean_inval_range(m->utrl, sizeof(m->utrl));
	dcache_clean_inval_range(m->utmrl, sizeof(m->utmrl));
	wr(h, UFS_REG_UTRLBA, (uint32_t)utrl);
	wr(h, UFS_REG_UTRLBAU, (uint32_t)(utrl >> 32));
	wr(h, UFS_REG_UTMRLBA, (uint32_t)utmrl);
	wr(h, UFS_REG_UTMRLBAU, (uint32_t)(utmrl >> 32));
	uint32_t rdy = UFS_HCS_UTRLRDY | UFS_HCS_UTMRLRDY;
	if (!wait_reg(h, UFS_REG_HCS, rdy, rdy, UFS_LIST_READY_TIMEOUT_US)) {
		log_err("%s: request lists not ready (HCS 0x%x)", h->name, rd(h, UFS_REG_HCS));
		return -1;
	}
	wr(h, UFS_REG_UTRLRSR, 1);
	wr(h, UFS_REG_UTMRLRSR, 1);
	return 0;
}

static int device_init(struct ufs_host *h)
{
	uint32_t v = 1;
	unsigned t;

	for (t = 0; t < UFS_NOP_TRIES && run_nop(h) != 0; t++)
		udelay(1000);
	if (t == UFS_NOP_TRIES) {
		log_err("%s: no NOP IN from the device", h->name);
		return -1;
	}
	if (run_query_flag(h, UFS_QUERY_FUNC_WRITE, UFS_QUERY_OP_SET_FLAG, UFS_FLAG_FDEVICEINIT, &v) != 0)
		return -1;
	uint64_t end = timer_us() + UFS_FDEVICEINIT_TIMEOUT_US;
	do {
		if (run_query_flag(h, UFS_QUERY_FUNC_READ, UFS_QUERY_OP_READ_FLAG, UFS_FLAG_FDEVICEINIT,
				   &v) != 0)
			return -1;
		if (v == 0)
			return 0;
		udelay(1000);
	} while (timer_us() < end);
	log_err("%s: fDeviceInit still set after %u ms", h->name, UFS_FDEVICEINIT_TIMEOUT_US / 1000);
	return -1;
}

/* TEST UNIT READY on LU 0 until GOOD; UNIT ATTENTION after power-on or reset is expected. */
static int lu_ready(struct ufs_host *h)
{
	uint8_t cdb[UFS_CDB_LEN];
	struct ufs_result r;

	ufs_cdb_simple(cdb, SCSI_TEST_UNIT_READY);
	for (unsigned t = 0; t < UFS_TUR_TRIES; t++) {
		enum ufs_verdict v = run_scsi(h, cdb, false, 0, &r);
		if (v == UFS_OK)
			return 0;
		if (v == UFS_FAIL) {
			log_err("%s: LU %u: TEST UNIT READY failed: ocs 0x%x status 0x%x sense %x/%02x/%02x",
				h->name, UFS_LUN, r.ocs, r.status, r.sense_key, r.asc, r.ascq);
			return -1;
		}
		udelay(t == 0 ? 0 : 10000);
	}
	log_err("%s: LU %u never became ready", h->name, UFS_LUN);
	return -1;
}

/*
 * Bring the controller from any state to operational with LU 0 ready:
 * disable, enable, link startup, request lists, NOP, fDeviceInit, TEST UNIT
 * READY, interrupts on. The caller owns the controller (DOWN or RESETTING).
 */
/*
 * Disable the controller (which aborts every request) and wait, by time, for the doorbell to drain.
 * A slot still rung after that is the controller's for good: poisoned, never used again. -1 when
 * HCE does not clear (every slot still rung is then poisoned too).
 */
static int hc_disable(struct ufs_host *h)
{
	wr(h, UFS_REG_IE, 0);
	if (rd(h, UFS_REG_HCE) & UFS_HCE_ENABLE) {
		wr(h, UFS_REG_HCE, 0);
		if (!wait_reg(h, UFS_REG_HCE, UFS_HCE_ENABLE, 0, UFS_HCE_TIMEOUT_US)) {
			log_err("%s: HCE stays set after disable", h->name);
			h->poisoned |= rd(h, UFS_REG_UTRLDBR) & h->slot_mask;
			return -1;
		}
	}
	if (!wait_reg(h, UFS_REG_UTRLDBR, h->slot_mask, 0, UFS_DRAIN_TIMEOUT_US)) {
		uint32_t stuck = rd(h, UFS_REG_UTRLDBR) & h->slot_mask;
		log_err("%s: slots 0x%x still rung after disable: not used again", h->name, stuck);
		h->poisoned |= stuck;
	}
	return 0;
}

static int hc_bringup(struct ufs_host *h)
{
	if (hc_disable(h) != 0)
		return -1;
	if ((h->poisoned & h->slot_mask) == h->slot_mask)
		return -1;
	wr(h, UFS_REG_HCE, UFS_HCE_ENABLE);
	if (!wait_reg(h, UFS_REG_HCE, UFS_HCE_ENABLE, UFS_HCE_ENABLE, UFS_HCE_TIMEOUT_US)) {
		log_err("%s: HCE does not set", h->name);
		return -1;
	}
	if (link_startup(h) != 0 || lists_start(h) != 0)
		return -1;
	wr(h, UFS_REG_IS, 0xffffffffu);
	if (device_init(h) != 0 || lu_ready(h) != 0)
		return -1;
	wr(h, UFS_REG_IS, 0xffffffffu);
	wr(h, UFS_REG_IE, UFS_IE_ENABLED);
	return 0;
}

/* READ CAPACITY (16), falling back to (10): block size, block count, thin provisioning. */
static int lu_capacity(struct ufs_host *h)
{
	uint8_t cdb[UFS_CDB_LEN];
	struct ufs_result r;
	const uint8_t *d = h->mem->scratch;
	uint64_t last;
	uint32_t bs;

	ufs_cdb_read_capacity16(cdb, 32);
	if (run_scsi(h, cdb, false, 32, &r) == UFS_OK) {
		last = ufs_be64(d);
		bs = ufs_be32(d + 8);
		h->unmap = (d[14] & 0x80) != 0; /* LBPME */
	} else {
		ufs_cdb_simple(cdb, SCSI_READ_CAPACITY10);
		if (run_scsi(h, cdb, false, 8, &r) != UFS_OK) {
			log_err("%s: READ CAPACITY failed: status 0x%x sense %x/%02x/%02x", h->name, r.status,
				r.sense_key, r.asc, r.ascq);
			return -1;
		}
		last = ufs_be32(d);
		bs = ufs_be32(d + 4);
		h->unmap = false;
	}
	if (bs < 512 || bs > 65536 || (bs & (bs - 1)) != 0 || last == UINT64_MAX ||
	    last >= (UINT64_MAX >> 16)) {
		log_err("%s: LU %u reports block size %u, last LBA %llu: unusable", h->name, UFS_LUN, bs,
			(unsigned long long)last);
		return -1;
	}
	h->lba_shift = (uint32_t)__builtin_ctz(bs);
	h->lba_count = last + 1;
	return 0;
}

/* --- reset ------------------------------------------------------------------- */

static void ufs_reset(struct ufs_host *h)
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
		if (sl->aborting) {
			status[s] = BLK_ECANCELED;
		} else if (!fatal && sl->resets < UFS_RESET_RETRIES) {
			waitq_push_front(h, sl->req, (uint8_t)(sl->resets + 1));
			retried |= 1u << s;
			h->stats.retries++;
		}
		sl->req = NULL;
	}
	h->busy = 0;
	h->issued = 0;
	bool give_up = h->consec_resets > UFS_MAX_CONSEC_RESETS;
	spin_unlock(&h->lock);

	uint64_t t0 = timer_us();
	int rc = -1;
	if (give_up)
		hc_disable(h); /* offline, but only once nothing can still move data */
	else
		rc = hc_bringup(h);

	spin_lock(&h->lock);
	uint32_t lost = had & h->poisoned & ~poisoned_before;
	for (unsigned s = 0; s < UFS_MAX_SLOTS; s++) {
		if (!(had & (1u << s)))
			continue;
		if (lost & (1u << s)) {
			int w = (retried & (1u << s)) ? waitq_find(h, reqs[s]) : -1;
			if (w >= 0)
				waitq_remove_at(h, (unsigned)w);
			h->stats.lost++;
			log_err("%s: slot %u never released: its %s of sector %llu is not completed (the "
				"controller may still access its buffers; their owner must stay stopped)",
				h->name, s, op_name(reqs[s]->op), (unsigned long long)reqs[s]->sector);
		} else if (!(retried & (1u << s))) {
			done_push(h, reqs[s], status[s]);
		}
	}
	waitq_drop_cancelled(h);
	if (rc == 0) {
		h->state = UFS_UP;
		log_warn("%s: controller reset #%llu done in %llu us; %u requests to retry", h->name,
			 (unsigned long long)h->stats.resets, (unsigned long long)(timer_us() - t0),
			 h->wq_count);
		start_waiters(h);
	} else {
		h->state = UFS_DEAD;
		log_err("%s: controller could not be recovered: offline, its requests fail", h->name);
		while (h->wq_count > 0) {
			done_push(h, h->waitq[h->wq_head].req, BLK_EIO);
			h->wq_head = (h->wq_head + 1) % UFS_WAITQ_LEN;
			h->wq_count--;
		}
	}
	spin_unlock(&h->lock);
	drain_done(h);
}

/* --- service: interrupt, poll, tick ------------------------------------------- */

static void ufs_service(struct ufs_host *h, bool from_irq, bool check_time)
{
	spin_lock(&h->lock);
	if (from_irq)
		h->stats.irqs++; /* under the lock: the interrupt may run beside the tick (irq_route) */
	reap(h, from_irq);
	if (check_time)
		check_timeouts(h);
	bool reset = h->reset_pending && h->state == UFS_UP;
	if (!reset)
		start_waiters(h);
	spin_unlock(&h->lock);
	drain_done(h);
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
	log_info("%s: %llu cancelled (%llu by ABORT TASK, %llu by reset), %llu lost; latency avg %llu us max "
		 "%llu us",
		 h->name, (unsigned long long)s->cancels, (unsigned long long)s->tm_aborts,
		 (unsigned long long)s->abort_resets, (unsigned long long)s->lost,
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
	if (log_allowed(h))
		log_warn("%s: %s of sector %llu refused: segment %u (0x%llx+%u) %s; no bounce copy is made",
			 h->name, op_name(req->op), (unsigned long long)req->sector, bad,
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
	int s = (h->state == UFS_UP && h->wq_count == 0) ? free_slot(h) : -1;
	if (s >= 0) {
		issue(h, (unsigned)s, req, 0);
	} else if (h->wq_count < UFS_WAITQ_ADMIT) {
		waitq_push_back(h, req, 0);
		h->stats.waited++;
	} else {
		spin_unlock(&h->lock);
		return BLK_EBUSY;
	}
	spin_unlock(&h->lock);
	return 0;
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
	if (!wait_reg(h, UFS_REG_UTMRLDBR, 1u, 0, UFS_TM_TIMEOUT_US)) {
		wr(h, UFS_REG_UTMRLCLR, ~1u); /* zero clears: take the TM slot back */
		if (!wait_reg(h, UFS_REG_UTMRLDBR, 1u, 0, UFS_TM_TIMEOUT_US))
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

static int ufs_cancel(struct blkdev *dev, struct blk_req *req)
{
	struct ufs_host *h = dev->priv;

	spin_lock(&h->lock);
	int w = waitq_find(h, req);
	if (w >= 0) {
		struct ufs_wait *e = &h->waitq[(h->wq_head + (unsigned)w) % UFS_WAITQ_LEN];
		h->stats.cancels++;
		if (h->state == UFS_RESETTING && e->resets > 0) {
			/* Requeued by a reset still draining the controller: completed after it. */
			e->cancel = true;
			spin_unlock(&h->lock);
			return 0;
		}
		waitq_remove_at(h, (unsigned)w);
		done_push(h, req, BLK_ECANCELED); /* never reached the controller */
		spin_unlock(&h->lock);
		drain_done(h);
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
	uint32_t gen = sl->gen;
	sl->aborting = true;
	h->stats.cancels++;
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
		if (log_allowed(h))
			log_err("%s: slot %u (%s of sector %llu) still rung %u ms after UTRLCLR%s: reset",
				h->name, s, op_name(req->op), (unsigned long long)req->sector,
				UFS_ABORT_TIMEOUT_US / 1000,
				tm ? (tm_ok ? " and ABORT TASK" : ", ABORT TASK failed") : "");
	}
	spin_unlock(&h->lock);
	if (reset)
		ufs_reset(h); /* no-op when another CPU resets already: that reset completes the request */
	return 0;
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
};

const struct ufs_stats *ufs_stats(const struct blkdev *dev)
{
	for (unsigned i = 0; i < nr_hosts; i++)
		if (dev == &hosts[i].bdev)
			return &hosts[i].stats;
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
	if (hc_bringup(h) != 0 || lu_capacity(h) != 0) {
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

	for (unsigned i = 0; nr_hosts < UFS_MAX_HOSTS; i++) {
		struct pci_dev *pd = pci_dev_at(i);
		if (pd == NULL)
			break;
		if (!is_ufs(pd) || pd->claimed)
			continue;
		pd->claimed = true;
		struct ufs_host *h = &hosts[nr_hosts];
		if (ufs_probe_one(h, pd, &ufs_dma_mem[nr_hosts], nr_hosts) != 0) {
			rc = -1;
			continue;
		}
		/* The first controller's LU 0 is the "ufs" backend; a second one is "ufs1". */
		storage_register(nr_hosts == 0 ? "ufs" : "ufs1", &h->bdev);
		nr_hosts++;
	}
	return rc;
}
