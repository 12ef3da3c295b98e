/*
 * Fair shares of a storage controller among the VM disks that use it.
 *
 * One group per physical block device (created when its first client opens),
 * one client per VM disk. A client is a struct blkdev of its own (what
 * virtio-blk is given) that passes requests, in place, to its target: the
 * whole device or a partition window over it. Per group:
 *   - activity: a client is active while it has requests at the controller,
 *     waiting or batched, and for SHARE_ACTIVE_US after each submit (by
 *     timer_us()), so a queue-depth-1 user counts between its requests;
 *   - admission: a client active alone has the whole depth. While n > 1 are,
 *     each has at most share = max(1, min(depth / n, share_depth)) requests
 *     at the controller (share_depth: the controller's, what it really
 *     overlaps; default depth). While more than one client is open, each
 *     has at most fair_bytes / max(n, 1) data bytes in flight (the
 *     controller's fair_bytes: an idle neighbour's next request waits behind
 *     no more), except that a client with nothing in flight may always send
 *     one request; a controller's only client has no byte limit.
 *     The group has at most depth (the controller's queue_depth). Over it, submit
 *     returns BLK_EBUSY and the client waits; every completion wakes waiting
 *     clients that can now be admitted, round-robin, with blkdev_wake on the
 *     client (a woken client that has a wake-up registered keeps a reserved
 *     slot until it submits again). An admitted submit ends a client's wait:
 *     its owner retries refused requests first, in order (as virtio-blk does);
 *   - flush coalescing: at most one FLUSH at the controller; flushes arriving
 *     meanwhile form the next batch, issued as one FLUSH when the current one
 *     completes, and each completes with that FLUSH's status. A flush is only
 *     ever completed by a device FLUSH issued after it was submitted;
 *   - requests capped at SHARE_MAX_SECTORS, and at the controller's
 *     fair_sectors when its driver sets one (a neighbour never waits long behind one).
 * One spinlock per group; done and wake are never called with it held.
 * Completions may arrive on any CPU, in interrupt context.
 */
#ifndef KEEL_DRIVERS_BLK_SHARE_H
#define KEEL_DRIVERS_BLK_SHARE_H

#include "drivers/storage/blkdev.h"

#define SHARE_MAX_GROUPS  4u	/**< controllers (storage.c registers at most 4) */
#define SHARE_MAX_CLIENTS 8u	/**< clients per group and in all (static pool) */
#define SHARE_MAX_SECTORS 2048u /**< 1 MiB: the largest request a client accepts */
#define SHARE_FLUSHES	  64u	/**< flushes one client may have waiting (VIRTIO_BLK_SLOTS) */
#define SHARE_NAME_SIZE	  64u
#define SHARE_ACTIVE_US	  50000u /**< a client counts as active this long after its last submit */

/** A client's counters (share_get_stats). */
struct share_stats {
	uint64_t admitted;   /**< requests passed to the controller (flushes included) */
	uint64_t refused;    /**< submits answered BLK_EBUSY */
	uint64_t coalesced;  /**< flushes that joined a batch another flush had started */
	uint64_t woken;	     /**< wake-ups after a refusal */
	uint64_t done;	     /**< requests completed, flushes not counted (nor below) */
	uint64_t lat_sum_us; /**< their time from admission to completion: at the controller */
	uint64_t lat_max_us;
};

/**
 * Open a client over target, sharing whole (target itself or the device a partition target windows).
 * The client has target's capacity, block size, flags and segment limits, max_sectors capped at
 * SHARE_MAX_SECTORS, and ops that admit, coalesce, cancel, poll and report. name labels log lines.
 * Registers the group's wake-up on target (one user per target). NULL, with a log line, when a
 * pool is exhausted.
 */
struct blkdev *share_open(struct blkdev *whole, struct blkdev *target, const char *name);

/** Close a client (nothing of it may be in flight: panics otherwise); the last one frees the group. */
void share_close(struct blkdev *client);

/** True when dev is an open share client. */
bool share_is_client(const struct blkdev *dev);

/** The device a client passes its requests to (to close a partition after share_close). */
struct blkdev *share_target(const struct blkdev *client);

/** The client's counters. */
void share_get_stats(const struct blkdev *client, struct share_stats *out);

#endif
