/*
 * A window onto a parent block device: sectors [start, start + nsectors) of the
 * parent, seen as a device of its own (a GPT partition). Every request is
 * bounds-checked against the window, offset by start and forwarded to the
 * parent with the caller's own segments (zero copy). Each in-flight request
 * occupies one of the window's forwarding slots until the parent completes it,
 * then the caller's done runs, so any number of requests may be outstanding
 * and may complete asynchronously, in any order, on any CPU.
 */
#ifndef KEEL_DRIVERS_PART_H
#define KEEL_DRIVERS_PART_H

#include "drivers/storage/blkdev.h"

#define PART_MAX       8u   /**< windows that can exist at once (static pool) */
#define PART_SLOTS     128u /**< requests in flight per window (VIRTIO_BLK_QUEUE_SIZE) */
#define PART_NAME_SIZE 64u  /**< "parent:label", truncated */

/**
 * Make a window of nsectors 512-byte sectors of parent starting at sector start. The window inherits
 * parent's block size, limits and flags; start and nsectors must be non-zero multiples of the block size
 * (start may be 0) and the window must lie inside parent. label names it in log lines. Returns NULL, with a
 * log line, when the arguments are bad or the pool is exhausted.
 */
struct blkdev *part_open(struct blkdev *parent, const char *label, uint64_t start, uint64_t nsectors);

/** Return a window to the pool. No request may be in flight on it (panics otherwise). */
void part_close(struct blkdev *part);

/** True when dev is a window made by part_open (and not closed). */
bool part_is_part(const struct blkdev *dev);

/** The first parent sector of a window (dev must be one). */
uint64_t part_start(const struct blkdev *part);

/** The parent device of a window (dev must be one). */
struct blkdev *part_parent(const struct blkdev *part);

#endif
