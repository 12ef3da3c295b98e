/*
 * The registry of real storage devices keel drives, and how a VM's disk
 * configuration is resolved to a block device: a whole device, or a GPT
 * partition by name (a struct blkdev that offsets and bounds every request).
 */
#ifndef KEEL_DRIVERS_STORAGE_H
#define KEEL_DRIVERS_STORAGE_H

#include "core/config.h"
#include "drivers/storage/blkdev.h"

/** Record a probed device under its backend name ("ufs", "sd"); the first of each name is used. */
int storage_register(const char *backend, struct blkdev *dev);
/** The whole device registered under backend, or NULL. */
struct blkdev *storage_find(const char *backend);
/**
 * Resolve a VM disk: backend "ram" -> a RAM disk over the configured image; otherwise a share client
 * (blk_share.h) of the registered device, over the whole device or disk->partition when set (GPT).
 * NULL, with a log line, when it cannot be.
 */
struct blkdev *storage_open(const struct vm_disk_config *disk);
/**
 * Synchronous read for boot-time use (GPT): submit and poll the device until done or timeout_us.
 * Returns 0 or a negative blk_status.
 */
int blkdev_read_sync(struct blkdev *dev, uint64_t sector, void *buf, uint32_t bytes, uint64_t timeout_us);

#endif
