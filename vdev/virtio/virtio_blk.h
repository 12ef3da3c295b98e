/*
 * virtio-blk (virtio 1.2 §5.2) emulated inside keel over a struct blkdev,
 * zero copy: the guest's data buffers become host-physical segments handed
 * straight to the storage driver. keel itself only copies the 16-byte request
 * header, the status byte, GET_ID strings and discard/write-zeroes ranges, and
 * the data of sub-block requests (below).
 *
 * Sub-block I/O (virtio_blk_rmw.c): request units are always 512 bytes (§5.2.5), whatever
 * blk_size says. On a backend with larger blocks (a 4 KiB UFS LU), a READ or WRITE whose sector or
 * length is not a multiple of the block goes through the disk's bounce buffer
 * (VIRTIO_BLK_BOUNCE_PAGES pages, given only for such disks), in pieces of at most its size: a
 * READ reads the covering blocks there and copies the wanted bytes to the guest; a WRITE reads the
 * covering blocks (skipped for a piece that covers whole blocks), merges the guest's bytes and
 * writes the blocks back. Each phase is one backend request issued from the VM's own vCPU (the
 * split machinery: completion context only re-queues it); the copies run there too. Such
 * requests are counted (rmw_requests, rmw_bytes, bytes_copied); block-aligned ones stay zero-copy.
 * Consistency: an RMW request runs alone. It claims the disk (the gate: no queue submits anything
 * else from then on), starts only when nothing else of this disk is in flight, and nothing else is
 * submitted until it completes, so no write of the VM, from any queue, can race its
 * read-merge-write. A reset or stop cancels it like a split request: IOERR (or no answer while
 * resetting), and no block is written from a bounce buffer after the reset began.
 *
 * 1..VIRTIO_BLK_MAX_QUEUES request queues (VIRTIO_BLK_F_MQ above one) of up to
 * VIRTIO_BLK_QUEUE_SIZE entries each. Each queue has its own lock, pending list, share of the
 * device's VIRTIO_BLK_SLOTS request slots (VIRTIO_BLK_SLOTS / queues each), counters, interrupt
 * decision and polling choice (struct vblk_queue): two vCPUs driving their own queues never wait
 * for each other. Requests beyond a queue's slots wait in its ring. A request's used entry goes to
 * the queue it came from. What the queues share is the transport (its own lock, for the registers
 * and the interrupt line), the backend and the sub-block gate (atomics). The device struct is
 * caller-allocated (keel has no heap on the data path).
 *
 * Isolation: the rings are popped and parsed only on the VM's own vCPUs (the QueueNotify trap and
 * the work hook), at most one queue's worth per queue and call. Completions (any CPU's interrupt handler,
 * any vCPU's polling, maybe for another VM's disk) only write the status, push the used entry,
 * decide the interrupt and, if the device has more to do, vm_request_work() its owner. They never
 * wait for a queue's lock: one that finds it held leaves its slot to the holder, which finishes it
 * as it releases the lock (virtio_blk_done.c); nor for the transport's, to raise the interrupt
 * (virtio_mmio_signal_used_async). Nor does a QueueNotify: one that finds another vCPU of the VM in
 * that queue's pass leaves the queue to that pass. A BLK_EBUSY refusal waits for the backend's
 * wake-up (blkdev_set_wake), which also asks for work.
 *
 * Requests are parsed without assuming descriptor framing (§2.6.4): the header
 * is the first 16 device-readable bytes, the status the last device-writable
 * byte, the data what lies between. A malformed request completes with
 * VIRTIO_BLK_S_IOERR (or S_UNSUPP for unknown or un-negotiated types) and one
 * log line; a broken ring sets DEVICE_NEEDS_RESET.
 */
#ifndef KEEL_VDEV_VIRTIO_BLK_H
#define KEEL_VDEV_VIRTIO_BLK_H

#include "drivers/storage/blkdev.h"
#include "vdev/virtio/virtio_mmio.h"

/**
 * QueueNumMax. A chain may be as long as the queue (§2.7.5.3.1), so this bounds seg_max: 512
 * lets a 1 MiB request of scattered 4 KiB pages (256 segments) travel whole.
 */
#define VIRTIO_BLK_QUEUE_SIZE 512u
/** Requests parsed and not yet completed at once (more than any backend queues), shared out
 * equally among the queues the device offers. */
#define VIRTIO_BLK_SLOTS 64u
/** Most data segments one request may become (after splitting at the backend's max_seg_size). */
#define VIRTIO_BLK_MAX_SEGS 256u
/**
 * How long a driver reset (Status = 0) waits, after cancelling them, for requests in flight before
 * orphaning them (their slots stay unused until the backend completes them; the VM-level quiesce
 * stays false meanwhile, so the VM is not reloaded under DMA).
 */
#define VIRTIO_BLK_RESET_WAIT_US 20000u
/**
 * Most request queues one disk offers (VIRTIO_BLK_F_MQ, num_queues). A VM's disks get
 * min(its vCPUs, this): Linux then maps one queue to each vCPU.
 */
#define VIRTIO_BLK_MAX_QUEUES 4u
/** Linux never builds segments smaller than a page, whatever size_max says. */
#define VIRTIO_BLK_MIN_SIZE_MAX 4096u
/**
 * Largest read or write keel accepts (its data must also fit VIRTIO_BLK_MAX_SEGS segments after
 * splitting at the backend's max_seg_size). One above the backend's max_sectors or seg_max (a driver
 * that ignores SIZE_MAX/SEG_MAX, as U-Boot does) is split into several backend requests, issued one
 * after another from the VM's own vCPU (virtio_blk_split.c); its status is written once, when all
 * parts are done: OK only if every part was. Larger requests get IOERR, and so do requests with more
 * than seg_max segments from a driver that accepted VIRTIO_BLK_F_SEG_MAX (it promised).
 */
#define VIRTIO_BLK_SPLIT_MAX_BYTES (64u * 1024 * 1024)
/** Bounce buffer of a disk whose blocks exceed 512 bytes: 4 KiB pages (64 KiB). */
#define VIRTIO_BLK_BOUNCE_PAGES 16u
/** Backend segments one bounce piece may become (pages split at max_seg_size >= 512). */
#define VIRTIO_BLK_BOUNCE_SEGS (VIRTIO_BLK_BOUNCE_PAGES * 8u)

struct virtio_blk_stats {
	uint64_t requests;	  /**< chains popped */
	uint64_t busy;		  /**< submits the backend refused with BLK_EBUSY (retried after its wake) */
	uint64_t work_yields;	  /**< queue passes that stopped at the pop budget with work left */
	uint64_t cancels;	  /**< in-flight requests keel asked the backend to abort (resets, quiesce) */
	uint64_t guest_errors;	  /**< guest mistakes counted by the transport (virtio_mmio.guest_errors) */
	uint64_t log_suppressed;  /**< guest-error log lines the time-based limiter suppressed */
	uint64_t bytes_read;	  /**< data bytes of successful reads */
	uint64_t bytes_written;	  /**< data bytes of successful writes */
	uint64_t notifications;	  /**< QueueNotify traps */
	uint64_t notify_handoffs; /**< ... left to the queue pass another vCPU was running (no lock wait) */
	uint64_t done_left;    /**< completions that found their queue's lock held and left their slot to its
				  holder */
	uint64_t interrupts;   /**< interrupts injected */
	uint64_t lock_waits;   /**< times a CPU waited for a queue's lock or the transport's */
	uint64_t lock_wait_us; /**< ... the time they waited, in all */
	uint64_t bytes_copied; /**< payload bytes keel copied (GET_ID, discard ranges, sub-block data) */
	uint64_t errors;       /**< requests completed with a non-OK status, malformed chains, ring errors */
	uint64_t io_errors;    /**< ... of them, requests the backend failed (BLK_EIO: the device's error) */
	/* Completion polling after a notify (see virtio_blk_params.poll_us). */
	uint64_t polls;		   /**< lone requests keel waited for */
	uint64_t poll_hits;	   /**< ... that completed within the window */
	uint64_t poll_misses;	   /**< ... that did not (left to the interrupt) */
	uint64_t poll_breaks;	   /**< ... given up early because a physical interrupt was pending */
	uint64_t poll_wait_us;	   /**< time spent polling in all */
	uint64_t polls_large;	   /**< polls of a large request (> VIRTIO_BLK_POLL_LARGE_SECTORS) */
	uint64_t poll_hits_large;  /**< ... that completed within the window */
	uint64_t poll_skips[2];	   /**< lone requests not polled (estimate over the window): small, large */
	uint64_t poll_clock_reads; /**< clock reads while polling (each one is costly where the timer is
				      emulated) */
	uint64_t poll_off;	   /**< lone requests not polled: not polling measured faster, or a trial */
	uint64_t poll_trials;	   /**< epochs that tried the other mode */
	uint64_t poll_switches;	   /**< trials that won: the mode changed */
	uint64_t poll_busy_epochs; /**< unpolled epochs in which the guest seldom waited for its lone
				      request before adding the next (polling cannot pay there) */
	uint64_t poll_deep_epochs; /**< polled epochs with as many other requests as lone ones (depth:
				      the next trial comes soon) */
	uint64_t quiet_passes;	   /**< queue passes that ended with notifications off (requests in
				      flight: their completions bring the next pass) */
	uint64_t rw_requests;	   /**< reads and writes with data, as parsed */
	uint64_t rw_segs;	   /**< ... their data segments (contiguous guest pages count once) */
	uint64_t large_requests;   /**< ... of them, large (> VIRTIO_BLK_POLL_LARGE_SECTORS) */
	uint64_t large_segs;	   /**< ... their data segments */
	uint64_t split_requests;   /**< reads/writes above the backend's limits, split into parts */
	uint64_t split_parts;	   /**< backend requests those became (parts submitted) */
	uint64_t rmw_requests;	   /**< sub-block reads/writes served through the bounce buffer */
	uint64_t rmw_parts;	   /**< backend requests those became (reads and writes of the bounce) */
	uint64_t rmw_bytes;	   /**< data bytes copied for them (in bytes_copied too); else 0 */
	uint64_t rmw_waits;	   /**< times one waited for the disk to drain (or another waited for it) */
	/* Interrupt coalescing (see virtio_blk_params.coalesce_us). */
	uint64_t irq_holds;				/**< interrupts held back while the guest was busy */
	uint64_t irq_idle_releases;			/**< ... delivered when a vCPU idled (trapped WFI) */
	uint64_t irq_late_releases;			/**< ... delivered at the deadline (coalesce_us) */
	uint64_t queue_requests[VIRTIO_BLK_MAX_QUEUES]; /**< chains popped, per request queue */
};

struct virtio_blk_params {
	struct vm *vm;
	const char *name;	     /**< names the VM and disk in log lines, e.g. "vm1/vda" */
	const struct guest_mem *mem; /**< the VM's RAM */
	ipa_t base;		     /**< MMIO region base (VIRTIO_MMIO_REGION_SIZE bytes) */
	uint32_t intid;		     /**< SPI for the device's interrupt */
	struct blkdev *bdev;	     /**< backend; must outlive the device */
	const char *serial;	     /**< GET_ID string (up to 20 bytes used); NULL: empty */
	bool read_only;		     /**< expose read-only even if the backend is writable */
	/**
	 * Completion polling: when a guest's notify leaves exactly one request in flight and the
	 * backend can be polled (blkdev_ops.completion_ready), keel waits up to poll_us for it
	 * before returning to the guest, which then finds the request done without an interrupt
	 * round trip or an idle wake-up. The wait ends early when a physical interrupt is pending.
	 * It is skipped while lone requests of the same size class (up to or over
	 * VIRTIO_BLK_POLL_LARGE_SECTORS) have recently taken longer than poll_us (except one probe in
	 * VIRTIO_BLK_POLL_PROBE): a phase of large, slow requests does not stop polling for small ones.
	 * Whether lone requests are polled at all is measured: a guest with more to submit or to do
	 * loses by waiting at its notify (a queue depth the device never sees, as a QD32 guest held to
	 * one request at a time by the waits), one that would idle gains. Lone requests come in epochs
	 * of VIRTIO_BLK_AB_EPOCH; every few epochs one runs the other mode, and the one with the
	 * higher request rate (by VIRTIO_BLK_AB_MARGIN_PCT) is kept. Unpolled, keel also sees whether
	 * the guest added its next request before the lone one completed: a guest that seldom waits
	 * is not polled, whatever the rates (VIRTIO_BLK_AB_WAIT_ONE_IN). A polled epoch at depth (as
	 * many other requests as lone ones) brings the next trial soon. 0: never poll.
	 */
	uint32_t poll_us;
	/**
	 * Interrupt coalescing: a completion that finds every vCPU of the guest busy (none waiting in
	 * WFI) does not interrupt it. The used entry is written at once; the interrupt is held until a
	 * vCPU idles or coalesce_us have passed (VIRTIO_BLK_HOLD_STRETCH times that while it carries
	 * fewer than VIRTIO_BLK_HOLD_BATCH used entries; checked at each exit of its vCPUs and at
	 * keel's tick), and meanwhile the driver's notifications stay off: requests it adds are taken
	 * by the passes completions bring and by the release. A busy guest at depth then pays one
	 * interrupt, one acknowledge and no notify for a batch of requests instead of three exits each;
	 * a guest that waits for its I/O idles and is interrupted at once, and so is a QD1 guest's
	 * completion (nothing else with the device, the last interrupt carried one entry, and the guest
	 * waited for its I/O within VIRTIO_BLK_LONE_IDLE_DEADLINES). Only for a driver that has
	 * acknowledged an interrupt since its reset (firmware that polls the used ring takes none: it
	 * keeps its notifications). A completion reaped by polling after a notify is delivered at once.
	 * 0: off.
	 */
	uint32_t coalesce_us;
	/**
	 * VIRTIO_BLK_BOUNCE_PAGES distinct 4 KiB pages (keel's page allocator), owned by the device from
	 * now on, for sub-block I/O; needed only when the backend's block size exceeds 512. NULL there:
	 * a driver that did not accept VIRTIO_BLK_F_BLK_SIZE is refused at FEATURES_OK instead.
	 */
	void *const *bounce;
	/**
	 * Request queues offered (clamped to 1..VIRTIO_BLK_MAX_QUEUES; 0 means 1). Above 1 the device
	 * offers VIRTIO_BLK_F_MQ with num_queues = this; the driver may use fewer (§5.2.5).
	 */
	unsigned nqueues;
};

#define VIRTIO_BLK_POLL_US_MAX	   10000u
#define VIRTIO_BLK_COALESCE_US_MAX 10000u
#define VIRTIO_BLK_POLL_PROBE	   16u
/** Coalescing: a lone completion is not held if the guest waited (WFI, a poll) within this many
 * deadlines. */
#define VIRTIO_BLK_LONE_IDLE_DEADLINES 4u
/** Coalescing: a held interrupt with fewer used entries than this waits up to STRETCH deadlines. */
#define VIRTIO_BLK_HOLD_BATCH	4u
#define VIRTIO_BLK_HOLD_STRETCH 3u
/** Lone requests per epoch of the measured polling choice. */
#define VIRTIO_BLK_AB_EPOCH 32u
/** Lone requests of a settling epoch (the first after a change of mode: not measured). */
#define VIRTIO_BLK_AB_SETTLE 8u
/** An epoch longer than this (idle gaps, a change of phase) measures neither mode: it restarts. */
#define VIRTIO_BLK_AB_EPOCH_MAX_US 200000u
/** Regular epochs between two trials of the other mode: from MIN, doubled each time the mode holds. */
#define VIRTIO_BLK_AB_EVERY_MIN 4u
#define VIRTIO_BLK_AB_EVERY_MAX 32u
/** A trial must beat the mode's request rate by this much to replace it. */
#define VIRTIO_BLK_AB_MARGIN_PCT 10u
/**
 * An unpolled epoch judged at least this many of its lone requests (did the guest add its next
 * request only after the lone one completed?) and found the guest waiting for fewer than 1 in
 * VIRTIO_BLK_AB_WAIT_ONE_IN of them: it had more to submit, polling (which would hold it at its
 * notify) cannot pay, and it is not polled: a trial of not polling wins, and the unpolled mode
 * tries polling no more while this holds.
 */
#define VIRTIO_BLK_AB_JUDGED_MIN  8u
#define VIRTIO_BLK_AB_WAIT_ONE_IN 4u
/**
 * With at least this many requests in flight, a queue pass that empties the ring turns the driver's
 * notifications off: each completion brings a pass on the owner's vCPU that takes what the driver
 * added meanwhile (one exit for many requests instead of one notify each). So does one large request
 * (over VIRTIO_BLK_POLL_LARGE_SECTORS) alone in flight: it runs long enough for a driver at depth to
 * add its next ones (a lone small one would mostly delay a QD1 guest's completion poll).
 */
#define VIRTIO_BLK_QUIET_INFLIGHT 2u
/** Lone requests above this many sectors (64 KiB) have their own polling estimate. */
#define VIRTIO_BLK_POLL_LARGE_SECTORS 128u

/** Whether the driver's notifications are on (struct virtio_blk.notify). */
enum vblk_notify {
	VBLK_NOTIFY_ARMED,	/**< on: the driver notifies what it adds */
	VBLK_NOTIFY_QUIET,	/**< off: requests in flight (or a held interrupt) bring the next pass */
	VBLK_NOTIFY_QUIET_LONE, /**< off for a lone large request (lone_large): its completion may be lone */
};

struct virtio_blk_slot {
	struct blk_req req; /**< handed to the backend; stays valid until done */
	struct blk_seg segs[VIRTIO_BLK_MAX_SEGS];
	struct virtio_blk *dev;
	paddr_t status_pa; /**< the request's status byte */
	uint64_t data_bytes;
	uint32_t
	    used_len_ok; /**< used-ring len on success: bytes written from the start of the writable part */
	uint32_t used_len_err; /**< used-ring len on failure */
	uint32_t type;	       /**< VIRTIO_BLK_T_* */
	uint16_t head;
	uint16_t next; /**< pending FIFO link */
	/* The backend's completion, until finished under the lock (virtio_blk_done.c). */
	struct virtio_blk_slot *done_next; /**< d->done_list link */
	int done_rc;
	bool done_queued; /**< on d->done_list (atomic) */
	uint8_t q;	  /**< the request queue the chain came from (its used entry goes there) */
	uint8_t state;
	bool flush_after; /**< emulate write-through: FLUSH offered but not negotiated (§5.2.6.2) */
	bool orphaned;	  /**< a reset gave up waiting; free on completion, touch nothing */
	bool cancelled;	  /**< blkdev_cancel was called for it (once per submission) */
	/*
	 * A request split into parts (virtio_blk_split.c). segs[0..split_nsegs) then describe all of its
	 * data; req covers one window of them, segs[split_first..+req.nsegs), whose last segment may be
	 * cut short (split_last_len: its full length). Parts already done are consumed from the front.
	 */
	bool split;
	bool split_due;		 /**< the current part is done: build the next before submitting */
	uint16_t split_nsegs;	 /**< segments of the whole request's data */
	uint16_t split_first;	 /**< first segment of the current part */
	uint32_t split_last_len; /**< full length of the current part's last segment */
	uint64_t split_left;	 /**< sectors not yet in any part */
	/* A sub-block request (virtio_blk_rmw.c): req.sector/nsectors/segs/nsegs hold the guest's
	 * request until it starts; then the disk's rmw state drives it. */
	bool rmw;
	bool rmw_due; /**< its current phase is done (or none started): the pump runs the next */
};

/** The one sub-block request a disk runs at a time, and its bounce buffer. */
struct virtio_blk_rmw {
	void *pages[VIRTIO_BLK_BOUNCE_PAGES];
	uint32_t piece_max;	       /**< bytes per piece (whole blocks); 0: no sub-block I/O */
	struct virtio_blk_slot *owner; /**< the gate's owner once started (NULL: none) */
	uint8_t phase;		       /**< VBLK_RMW_* (virtio_blk_rmw.c) */
	uint64_t sector, end;	       /**< the owner's next sector not yet done, and its end */
	uint64_t first;		       /**< the current piece: first sector of its covering blocks */
	uint32_t bytes;		       /**< ... its covering bytes */
	uint16_t gseg;		       /**< cursor in the owner's guest segments: index ... */
	uint32_t goff;		       /**< ... and offset inside it */
	struct blk_seg segs[VIRTIO_BLK_BOUNCE_SEGS];
};

/** The measured choice of polling lone requests or not (virtio_blk_poll.c). Queue lock held. */
struct virtio_blk_poll_ab {
	bool off;	 /**< not polling measured faster: lone requests are not polled */
	bool trial;	 /**< this epoch runs the other mode */
	bool settle;	 /**< this epoch follows a change of mode: not measured (the guest's depth adapts) */
	uint16_t count;	 /**< lone requests decided in this epoch */
	uint16_t every;	 /**< regular epochs between two trials (0: not started) */
	uint16_t since;	 /**< regular epochs since the last trial */
	uint64_t t0_us;	 /**< the epoch's start */
	uint64_t req0;	 /**< stats.requests then */
	uint64_t rate;	 /**< requests per second of the last regular epoch */
	uint16_t judged; /**< this epoch's unpolled lone requests whose outcome is known */
	uint16_t waited; /**< ... of them, the guest's next request came after it had completed */
};

/**
 * One request queue: its ring's device side, its share of the slots, its pass, its completions, its
 * interrupt decision and its polling choice. Its lock (lock) guards all of it and the pop side of
 * its ring; two vCPUs driving two queues never wait for each other. Lock order: a queue's lock,
 * then the transport's (virtio_mmio.lock); never two queues' locks at once.
 */
struct vblk_queue {
	struct spinlock lock;
	struct virtio_blk *dev;
	uint8_t q; /**< its index: the ring it serves (dev->mmio.queues[q]) */

	bool pumping;  /**< a vCPU is running this queue's pass (read without the lock by notifies) */
	bool repump;   /**< more work arrived while it was */
	bool handoff;  /**< a notify or work left its pass to that vCPU (atomic, no lock) */
	uint16_t home; /**< the vCPU that last notified it: work is asked to run there (a hint, no lock) */
	/** Completed slots not yet finished (lock-free, newest first; virtio_blk_done.c). */
	struct virtio_blk_slot *done_list;
	bool stalled;	/**< the pass stopped for lack of slots: a completion resumes it */
	bool irq_check; /**< used entries added since the last interrupt decision */
	uint16_t pending_first, pending_last; /**< parsed requests awaiting (re)submission */
	uint16_t nslots;		      /**< its share of dev->slots */
	uint16_t nfree;
	uint16_t ninflight; /**< slots submitted to the backend */
	uint16_t norphaned;
	/** Per size class (0: small, 1: large): estimated completion time of a lone request (0: unknown)
	 * and lone requests not polled since the last poll. */
	uint32_t poll_est_us[2];
	uint16_t poll_skipped[2];
	uint8_t last_large; /**< the last request submitted is large (its class, for polling) */
	/** A lone request went unpolled by the measured choice; its outcome (did the guest wait for it
	 * before its next request?) is judged at the next submission (vblk_lone_judge). */
	bool lone_unpolled;
	uint8_t lone_class;  /**< ... its size class */
	bool pass_by_notify; /**< the pass running was started by the driver's notify */
	/** Whether to poll lone requests at all, measured (poll_us): small requests, large ones. */
	struct virtio_blk_poll_ab ab[2];
	/** The driver's notifications (enum vblk_notify): off, each completion then asks for a pass. */
	uint8_t notify;
	bool irq_held;		 /**< an interrupt is due but held back (coalescing) */
	uint16_t used_since_irq; /**< used entries since the last interrupt (saturates) */
	uint16_t last_batch;	 /**< used entries the last interrupt carried */
	uint64_t held_since;	 /**< timer_us when it was first held */
	uint64_t polled_us;	 /**< timer_us when the last completion poll ended */
	uint16_t free_stack[VIRTIO_BLK_SLOTS];
	/** Its counters (under its lock; notify_handoffs and done_left are atomics). */
	struct virtio_blk_stats stats;
	struct virtq_chain chain; /**< scratch for virtq_pop */
};

struct virtio_blk {
	struct virtio_mmio mmio; /**< transport (its lock guards the registers, not the queues) */
	struct blkdev *bdev;
	bool read_only;
	uint32_t seg_max; /**< data segments accepted per request (after splitting) */
	char serial[VIRTIO_BLK_ID_BYTES];
	struct virtio_blk_config config;
	uint32_t poll_us;	      /**< see virtio_blk_params.poll_us */
	uint32_t coalesce_us;	      /**< see virtio_blk_params.coalesce_us */
	bool quiescing;		      /**< the VM is stopping: pop nothing, submit nothing */
	uint16_t home_vcpu;	      /**< vCPU that last notified any queue (a hint, no lock) */
	uint8_t next_q;		      /**< round robin: the queue the next work visits first (a hint) */
	volatile bool backend_kicked; /**< the backend asked for a poll from this VM's vCPU (owner_kick) */
	/*
	 * The sub-block gate (virtio_blk_rmw.c), atomics: requests submitted by every queue and not yet
	 * completed, the sub-block request that owns the disk (it runs alone), and the queues that
	 * stopped for it (a bit each: asked for work when it ends).
	 */
	uint32_t inflight_total;
	struct virtio_blk_slot *rmw_gate;
	uint32_t rmw_waiters;
	struct virtio_blk_rmw rmw; /**< used by the gate's owner only */
	struct vblk_queue queues[VIRTIO_BLK_MAX_QUEUES];
	struct virtio_blk_slot slots[VIRTIO_BLK_SLOTS];
};

/**
 * Initialise dev over p->bdev and register its MMIO region on bus. Returns 0,
 * -EINVAL for unusable parameters or backend limits, or the bus error.
 */
int virtio_blk_init(struct virtio_blk *dev, const struct virtio_blk_params *p, struct mmio_bus *bus);

/**
 * Reap backend completions without an interrupt (bdev->ops->poll). Completion context: finishes
 * requests and asks for work (vm_request_work); never pops the ring or submits.
 */
void virtio_blk_poll(struct virtio_blk *dev);

/**
 * Process the queues on one of the VM's own vCPUs (vm_dev_ops.work): submit pending requests, pop
 * and parse at most one queue's worth of new chains from each queue. True when more remains (call again
 * soon); false when the device waits for the guest, a completion or the backend's wake-up.
 */
bool virtio_blk_work(struct virtio_blk *dev);

/**
 * The VM is stopping (vm_dev_ops.quiesce, vCPUs stopped): stop popping, drop never-submitted
 * requests, cancel each in-flight request once, poll the backend. True once no request of this
 * device (orphans of an earlier driver reset included) can still DMA into the VM. Does not block.
 */
bool virtio_blk_quiesce(struct virtio_blk *dev);

/** Reset the device (its VM is resetting, after quiesce): as a driver reset, then accept work again. */
void virtio_blk_reset(struct virtio_blk *dev);

/**
 * The completion polling mode for reports: "on" or "off" (as last measured), or "disabled" when
 * the disk's io-poll-us is 0 or its backend cannot be polled (lone requests are then never polled).
 */
const char *virtio_blk_poll_mode(const struct virtio_blk *d);

/** A consistent snapshot of the counters. */
void virtio_blk_get_stats(struct virtio_blk *dev, struct virtio_blk_stats *out);

#endif
