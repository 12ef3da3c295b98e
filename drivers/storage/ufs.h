/*
 * UFS host controller (UFSHCI, single-doorbell mode) driver: keel owns the
 * controller, brings the link and the device up, and serves LU 0 as a struct
 * blkdev registered as "ufs" (the first controller).
 *
 * Data path, zero copy: each request's segments (the guest's own pages) become
 * PRDT entries. A segment the hardware cannot address (not dword aligned in
 * address or length) fails the request with BLK_EINVAL and is counted; large
 * segments are split at the 256 KiB PRDT limit. Every slot of the transfer
 * request list is used (queue depth = CAP.NUTRS); requests beyond that wait
 * in a FIFO inside the driver. Completion is interrupt driven (INTx) with a
 * polled fallback (blkdev poll and the hypervisor tick).
 *
 * Failure handling (hardware tier): CHECK CONDITION with UNIT ATTENTION /
 * NOT READY / BUSY is retried a few times. A request with no completion after
 * UFS_IO_TIMEOUT_US resets the controller; every request it had is retried
 * once, then fails with BLK_EIO. A fatal controller error resets it and fails
 * what it had with BLK_EIO. A controller that cannot be brought back is taken
 * offline: its requests fail with BLK_EIO. keel never waits without a bound.
 *
 * Cancel (blkdev_ops.cancel): a request still waiting for a slot is dropped
 * (BLK_ECANCELED). An issued one is aborted as UFSHCI says: ABORT TASK through
 * the task management list (skipped once the controller shows it does not
 * execute TM requests, as QEMU's model, which ignores UTMRLDBR), then its slot
 * cleared through UTRLCLR, then its doorbell bit awaited for
 * UFS_ABORT_TIMEOUT_US. If it finished meanwhile it completes with its real
 * status; if the controller never lets go, the controller is reset (the other
 * requests are retried once) and the request fails with BLK_ECANCELED. done
 * is called once, after the controller released the slot. A request whose slot
 * even a controller reset does not free is never completed (counted as lost,
 * logged): its buffers may still be accessed, so its owner must stay stopped.
 */
#ifndef KEEL_DRIVERS_UFS_H
#define KEEL_DRIVERS_UFS_H

#include "drivers/storage/blkdev.h"

#ifndef UFS_IO_TIMEOUT_US
#define UFS_IO_TIMEOUT_US 5000000u /**< per request, from the doorbell */
#endif
#ifndef UFS_ABORT_TIMEOUT_US
#define UFS_ABORT_TIMEOUT_US 1000000u /**< cancel: from UTRLCLR until the slot must be free, else reset */
#endif

/** Per-controller counters (read with ufs_stats(); also logged every 10 s when they change). */
struct ufs_stats {
	uint64_t commands;  /**< transfer requests issued (incl. retries and internal ones) */
	uint64_t doorbells; /**< UTRLDBR writes that issued them (a batch takes one: see blk_req.batch) */
	uint64_t reads, writes, flushes, unmaps;
	uint64_t bytes_read, bytes_written;
	uint64_t errors;       /**< requests completed with an error status */
	uint64_t retries;      /**< re-issues after UNIT ATTENTION / BUSY / a reset */
	uint64_t timeouts;     /**< requests that did not complete within the timeout */
	uint64_t resets;       /**< controller resets after init */
	uint64_t fatal_errors; /**< interrupts with a fatal error bit */
	uint64_t segs_refused; /**< segments that could not be expressed as PRDT entries (request failed) */
	uint64_t segs_split;   /**< segments split at the 256 KiB PRDT limit (no copy) */
	uint64_t waited;       /**< requests that waited for a free slot */
	uint64_t irqs;	       /**< completion interrupts taken */
	uint64_t polled;       /**< requests reaped by a poll or the tick rather than the interrupt */
	uint64_t cancels;      /**< requests aborted by blkdev_ops.cancel (waiting or issued) */
	uint64_t tm_aborts;    /**< ABORT TASKs the device reported done */
	uint64_t abort_resets; /**< cancels that needed a controller reset (the slot was never released) */
	uint64_t lost;	       /**< requests whose slot even a reset did not free: never completed */
	uint64_t lat_sum_us;   /**< doorbell-to-reap time of completed requests (for the average) */
	uint64_t lat_max_us;
};

/** Find UFS host controllers (PCI class 01:09 / QEMU 1b36:0013), bring each up, register LU 0 as "ufs". */
int ufs_probe_all(const void *fdt);

/** Counters of the blkdev a UFS controller registered; NULL if dev is not one. */
const struct ufs_stats *ufs_stats(const struct blkdev *dev);

#endif
