/*
 * Internals of the UFS host controller driver, shared by its files (nothing else includes this but its
 * unit test):
 *   ufs.c          probe, the blkdev ops (submit, poll, report) and the service path (interrupt, tick)
 *   ufs_io.c       the request path: wait and done FIFOs, issue, completion, reap, timeouts
 *   ufs_init.c     bring-up: HCE, UIC link startup, request lists, NOP, fDeviceInit, LU 0 ready/capacity
 *   ufs_recover.c  recovery: controller reset and cancel (ABORT TASK, UTRLCLR)
 * Locking is described in ufs.c; "lock held" below means h->lock.
 */
#ifndef KEEL_DRIVERS_UFS_PRIV_H
#define KEEL_DRIVERS_UFS_PRIV_H

#include "arch/mmio.h"
#include "arch/spinlock.h"
#include "drivers/storage/ufs.h"
#include "drivers/storage/ufs_proto.h"
#include "keel/addr.h"
#include "keel/ratelimit.h"

struct pci_dev;

#define UFS_MAX_HOSTS	 2
#define UFS_MAX_SLOTS	 32
#define UFS_MAX_TM_SLOTS 8
#define UFS_WAITQ_ADMIT	 256				   /* submissions that may wait for a slot */
#define UFS_WAITQ_LEN	 (UFS_WAITQ_ADMIT + UFS_MAX_SLOTS) /* + requeues after a reset */
#define UFS_LUN		 0
/* The completion FIFO (blk_doneq) holds at most every request admitted. */
_Static_assert(UFS_WAITQ_LEN <= BLK_DONEQ_LEN, "every request can be in the completion FIFO");

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
/* Data bytes in flight, all busy disks together, while more than one disk is open (blkdev.fair_bytes).
 * Under QEMU the model's copies run on the host CPUs that also run the neighbour's vCPU: with 4 MiB
 * (two 1 MiB requests per disk of two) a neighbour's 256 KiB rounds beside a guest streaming maximal
 * requests took 1.9-3.0x their idle period, with 2 MiB 1.7-1.9x, while the streaming guest moved ~1/3
 * less (isolation attack (e), 4 runs each). On hardware 2 MiB is still ~1 ms of queue per disk. */
#define UFS_FAIR_BYTES (2u * 1024 * 1024)

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
	uint64_t now_us;      /* timer_us() of the submit or service pass in progress: one read per pass */
	enum ufs_state state;
	bool reset_pending;
	bool reset_fatal; /* the pending reset follows a controller error: fail, do not retry */
	unsigned consec_resets;
	uint32_t busy;	   /* slots holding a request */
	uint32_t issued;   /* slots whose doorbell bit we set and have not reaped */
	uint32_t unrung;   /* slots built and busy whose doorbell bit is not written yet (ufs_ring) */
	uint32_t poisoned; /* slots the controller never released: never used again */
	struct ufs_slot slots[UFS_MAX_SLOTS];
	struct ufs_wait waitq[UFS_WAITQ_LEN];
	unsigned wq_head, wq_count;
	struct blk_doneq doneq;
	struct ratelimit rl; /* request error lines */
	bool tm_unsupported; /* the controller does not execute TM requests: aborts use UTRLCLR only */
	bool tm_busy;	     /* TM slot 0 is in use by a cancel */

	uint32_t lba_shift; /* log2(logical block size) */
	uint64_t lba_count;
	bool unmap;
	struct blkdev bdev;
	struct ufs_stats stats;
};

/** The controllers ufs_probe_all brought up (ufs.c). */
extern struct ufs_host ufs_hosts[UFS_MAX_HOSTS];
extern unsigned ufs_nr_hosts;

/* --- registers and small helpers -------------------------------------------- */

static inline uint32_t rd(const struct ufs_host *h, uint32_t off)
{
	return mmio_read32(h->regs + off / 4);
}

static inline void wr(struct ufs_host *h, uint32_t off, uint32_t v)
{
	mmio_write32(h->regs + off / 4, v);
}

static inline unsigned ctz32(uint32_t v)
{
	return (unsigned)__builtin_ctz(v);
}

static inline uint64_t ptr_pa(const void *p)
{
	return pa_addr(ptr_to_pa(p));
}

/* --- ufs_io.c: the request path ----------------------------------------------- */

/** Rate-limited error logging (lock held): a few lines a second per controller, then a count of the rest. */
bool ufs_log_allowed(struct ufs_host *h);
/** Queue req's completion with status (lock held); ufs_drain_done calls it. Panics when full. */
void ufs_done_push(struct ufs_host *h, struct blk_req *req, int status);
/** Call the queued completions, one at a time, with no lock held: done may resubmit. */
void ufs_drain_done(struct ufs_host *h);
/** Append req to the wait FIFO (lock held; the caller checked the room); resets: those it went through. */
void ufs_waitq_push_back(struct ufs_host *h, struct blk_req *req, uint8_t resets);
/** Put req first in the wait FIFO (lock held): a reset's requeue keeps its place. */
void ufs_waitq_push_front(struct ufs_host *h, struct blk_req *req, uint8_t resets);
/** Take the i-th waiting entry out of the FIFO, keeping the others' order (lock held). */
void ufs_waitq_remove_at(struct ufs_host *h, unsigned i);
/** Index of req in the wait FIFO, or -1 (lock held). */
int ufs_waitq_find(const struct ufs_host *h, const struct blk_req *req);
/** After a reset's bring-up: complete the requeued requests cancelled meanwhile (lock held). */
void ufs_waitq_drop_cancelled(struct ufs_host *h);
/** A free, usable slot, or -1 (lock held). */
int ufs_free_slot(const struct ufs_host *h);
/**
 * Build a validated req into free slot s (lock held) and mark its doorbell bit unrung: the caller rings
 * it with ufs_ring, now or, for a batch, once after the last request.
 */
void ufs_issue(struct ufs_host *h, unsigned s, struct blk_req *req, uint8_t resets);
/**
 * Write every unrung bit in one UTRLDBR write (lock held); their slots become issued and their
 * timeout starts now (h->now_us). Nothing when none is unrung.
 */
void ufs_ring(struct ufs_host *h);
/** Move waiting requests into free slots, in order, while the controller is up, and ring them once
 * (lock held). */
void ufs_start_waiters(struct ufs_host *h);
/** Complete finished slots (retrying SCSI-level failures, rung at once); note controller errors (lock
 * held). */
void ufs_reap(struct ufs_host *h, bool from_irq);
/** Mark a reset pending for any slot past its deadline (lock held). */
void ufs_check_timeouts(struct ufs_host *h);

/* --- ufs_init.c: bring-up (the caller owns the controller: DOWN or RESETTING) --- */

/** Poll register off until (value & mask) == want, for at most timeout_us. */
bool ufs_wait_reg(const struct ufs_host *h, uint32_t off, uint32_t mask, uint32_t want, uint64_t timeout_us);
/**
 * Disable the controller (which aborts every request) and wait, by time, for the doorbell to drain.
 * Slots still rung after that are poisoned. -1 when HCE does not clear.
 */
int ufs_hc_disable(struct ufs_host *h);
/** From any state to operational with LU 0 ready and interrupts on. 0, or -1. */
int ufs_hc_bringup(struct ufs_host *h);
/** READ CAPACITY of LU 0 into h->lba_shift, lba_count, unmap. 0, or -1 when unusable. */
int ufs_lu_capacity(struct ufs_host *h);

/* --- ufs_recover.c: reset and cancel --------------------------------------------- */

/** Reset an UP controller (lock not held): retry or fail what it had; offline if it will not come back. */
void ufs_reset(struct ufs_host *h);
/** blkdev_ops.cancel (see ufs.h). */
int ufs_cancel(struct blkdev *dev, struct blk_req *req);

/* --- ufs.c ------------------------------------------------------------------------ */

/** Reap, optionally check deadlines, start waiters, complete; reset when one is pending (lock not held). */
void ufs_service(struct ufs_host *h, bool from_irq, bool check_time);

#endif
