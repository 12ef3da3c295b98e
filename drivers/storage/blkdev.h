/*
 * The block-device interface every storage driver implements. Requests are
 * asynchronous: submit queues them, and the driver calls req->done exactly
 * once, possibly before submit returns. Data is described by host-physical
 * segments so that a guest's own pages go straight to DMA (zero copy).
 *
 * Sectors are always 512-byte units; a device with a larger block size
 * requires sector and length aligned to it (the caller checks).
 */
#ifndef KEEL_DRIVERS_BLKDEV_H
#define KEEL_DRIVERS_BLKDEV_H

#include "keel/types.h"

#define BLK_SECTOR_SIZE 512u

#define BLKDEV_DEFAULT_DEPTH	  32u		     /**< queue_depth assumed when a driver leaves it 0 */
#define BLKDEV_DEFAULT_FAIR_BYTES (4u * 1024 * 1024) /**< fair_bytes assumed when a driver leaves it 0 */

enum blk_op {
	BLK_OP_READ,
	BLK_OP_WRITE,
	BLK_OP_FLUSH,
	BLK_OP_DISCARD,
	BLK_OP_WRITE_ZEROES,
};

enum blk_status {
	BLK_OK = 0,
	BLK_EIO = -5,	      /**< the device failed the request after retries */
	BLK_EINVAL = -22,     /**< malformed request (out of range, misaligned) */
	BLK_ENOTSUP = -95,    /**< the device cannot do this op */
	BLK_EBUSY = -16,      /**< no free slot (or no share of the controller) now: the device calls
			       *   its wake callback when a retry may succeed */
	BLK_ECANCELED = -125, /**< the request was aborted by blkdev_ops.cancel */
};

struct blk_seg {
	paddr_t pa;
	uint32_t len;
};

struct blk_req;
typedef void (*blk_done_fn)(struct blk_req *req, int status);

struct blk_req {
	enum blk_op op;
	uint64_t sector;   /**< first 512-byte sector */
	uint64_t nsectors; /**< count (READ/WRITE: must equal sum of seg lengths / 512) */
	struct blk_seg *segs;
	unsigned nsegs;
	blk_done_fn done;
	void *ctx; /**< owner's cookie */
	/**
	 * Reserved for a stacking layer that wraps the request in place (blk_share): while the request is
	 * below that layer it holds the owner's done/ctx here, and restores them before calling done. The
	 * owner and drivers never use these; at most one in-place layer per path (others copy, as part.c).
	 */
	blk_done_fn stack_done;
	void *stack_ctx;
	uint64_t stack_t0; /**< that layer's timer_us() at submit (its latency counters) */
	/**
	 * The clock, passed along so that each hand-over costs at most one read of it (where the counter
	 * is emulated, as on QEMU TCG, every read takes the emulator's global lock). submit_us: set by a
	 * stacking layer to its timer_us() just before it submits to the device below, which may use it
	 * for the request it starts within that call. done_us: set by a driver just before calling done
	 * (its clock of that completion pass), for the layers above; a driver that does not read the clock
	 * leaves it alone. A layer that relies on one clears it before handing the request down. 0: unset.
	 */
	uint64_t submit_us;
	uint64_t done_us;
	/**
	 * Optional: asks the request's owner to call the device's poll op from the owner's own
	 * context (its VM's vCPU) soon. A driver whose controller moves data inside the register
	 * writes that start a command (emulated SD) may call it, from interrupt context, instead of
	 * starting this request there on a CPU that belongs to someone else; it must still start the
	 * request itself if the owner has not within a bound. Any context; never submits. NULL: none.
	 */
	void (*owner_kick)(void *ctx);
	void *owner_ctx;
	/**
	 * Batching hint: the submitter submits more requests right after this one and calls
	 * blkdev_commit(dev) once after the last of them. A driver that starts commands with a costly
	 * register write (UFS: the doorbell) may then defer that write to commit and start the whole
	 * batch with one; it must still start the request by itself within a bound if commit never
	 * comes. Stacking layers pass it down with the request. Drivers without batching ignore it.
	 */
	bool batch;
};

/* Capability flags. */
#define BLKDEV_F_FLUSH	      (1u << 0)
#define BLKDEV_F_DISCARD      (1u << 1)
#define BLKDEV_F_WRITE_ZEROES (1u << 2)
#define BLKDEV_F_RO	      (1u << 3)

struct blkdev;

struct blkdev_ops {
	/** Queue a request. Returns 0 (done will be called) or a negative blk_status (done will not be
	 * called). */
	int (*submit)(struct blkdev *dev, struct blk_req *req);
	/** Reap completions without an interrupt (polled fallback, and reset quiescing). May be NULL. */
	void (*poll)(struct blkdev *dev);
	/**
	 * Has the device finished a request that poll would reap? A cheap check of memory the
	 * device writes (no register access), for busy-waiting callers. May be NULL: not pollable.
	 */
	bool (*completion_ready)(struct blkdev *dev);
	/** Log the device's counters (when a VM using it resets or powers off). May be NULL. */
	void (*report)(struct blkdev *dev);
	/**
	 * Abort a submitted request whose done has not been called yet: the driver stops it at the
	 * controller (or drops it from its queue) and calls done exactly once, with BLK_ECANCELED (or
	 * its real status if it finished meanwhile), from any context, possibly before cancel
	 * returns. Once done is called no DMA of that request can still happen. Returns 0 when the
	 * abort is under way or done, negative when the request is unknown to the driver (already
	 * completed). May be NULL: requests cannot be aborted, only waited for.
	 */
	int (*cancel)(struct blkdev *dev, struct blk_req *req);
	/**
	 * Start what requests submitted with the batching hint (blk_req.batch) left waiting: called once
	 * after a batch, in the submitter's context, no lock held (as submit). Cheap when nothing waits.
	 * May be NULL: the driver does not batch.
	 */
	void (*commit)(struct blkdev *dev);
};

/**
 * Called, from any context (interrupt, another CPU), when a submit that returned BLK_EBUSY may now
 * succeed. It must only note the fact and kick the owner (never submit from inside it).
 */
typedef void (*blk_wake_fn)(void *ctx);

struct blkdev {
	const char *name;
	uint64_t nsectors;     /**< capacity in 512-byte sectors */
	uint32_t block_size;   /**< logical block size in bytes (512 or 4096) */
	uint32_t max_segs;     /**< most segments in one request */
	uint32_t max_seg_size; /**< largest segment in bytes */
	uint32_t max_sectors;  /**< largest request in sectors */
	uint32_t flags;	       /**< BLKDEV_F_* */
	/**
	 * Requests the controller works on at once (UFS: its slots; SD: few, it runs one command at a
	 * time). Layers above share this among their users. 0 = unknown: they use BLKDEV_DEFAULT_DEPTH.
	 */
	uint32_t queue_depth;
	/**
	 * Data bytes the controller should hold in flight, all users together, for a neighbour's
	 * request to wait behind no more than a short while (a controller that moves data one request
	 * at a time, like SD, wants little). Layers above share it among their users. 0 = unknown:
	 * BLKDEV_DEFAULT_FAIR_BYTES.
	 */
	uint32_t fair_bytes;
	/**
	 * Largest request that keeps such sharing fair (a neighbour waits behind a whole request);
	 * 0 = no limit beyond max_sectors and the sharing layer's own cap.
	 */
	uint32_t fair_sectors;
	/**
	 * Requests the controller really overlaps: while more than one user is active, layers above
	 * let each user have at most this many at the controller, so a neighbour's request waits
	 * behind only a few (QEMU's UFS model serves commands one after another). A user alone keeps
	 * queue_depth. 0 = no such limit (only queue_depth shared among the active users).
	 */
	uint32_t share_depth;
	/**
	 * The controller's interrupt (an SPI registered with irq_register), 0 when it is polled. Layers
	 * above may move it to the CPU that loads the controller most (irq_route); the driver's handler
	 * therefore locks what it shares with its tick and with completion polling.
	 */
	uint32_t intid;
	const struct blkdev_ops *ops;
	void *priv;
	blk_wake_fn wake; /**< set by the device's user (blkdev_set_wake); NULL: none */
	void *wake_ctx;
};

/** Submit through dev->ops after checking the request against the device's limits. */
int blkdev_submit(struct blkdev *dev, struct blk_req *req);

/** End a batch of hinted submits (see blk_req.batch): calls dev->ops->commit when there is one. */
void blkdev_commit(struct blkdev *dev);

/** Abort a submitted request (see blkdev_ops.cancel). BLK_ENOTSUP when the driver cannot abort. */
int blkdev_cancel(struct blkdev *dev, struct blk_req *req);

/** Register the user's wake-up for BLK_EBUSY refusals (one user per blkdev). */
void blkdev_set_wake(struct blkdev *dev, blk_wake_fn fn, void *ctx);

/** Call dev's wake-up, if any. For drivers and layers that refused with BLK_EBUSY. */
void blkdev_wake(struct blkdev *dev);

/** "read", "write", "flush", "discard" (or "op?") for a driver's log lines. */
const char *blk_op_name(enum blk_op op);

/* --- for drivers: completions finished under the driver's lock, called after it is dropped --- */

struct spinlock;

#define BLK_DONEQ_LEN 288u /**< at least what any driver holds at once (each asserts it) */

struct blk_done {
	struct blk_req *req;
	int status;
};

/** A FIFO of finished requests; all zero is empty. Guarded by the driver's lock. */
struct blk_doneq {
	struct blk_done ent[BLK_DONEQ_LEN];
	unsigned head, count;
};

/** Driver lock held. Queue req's completion; a full FIFO is a broken driver invariant (panic). */
void blk_doneq_push(struct blk_doneq *q, struct blk_req *req, int status, const char *driver);
/** No lock held. Call the queued completions in order, each with lock dropped (done may resubmit). */
void blk_doneq_drain(struct blk_doneq *q, struct spinlock *lock);

#endif
