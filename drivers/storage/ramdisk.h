/*
 * A RAM-backed block device over a host-physical range (a disk image that the
 * bootloader placed in reserved memory). Requests complete synchronously,
 * inside submit; the memcpy is this device's "DMA". Discard zero-fills.
 */
#ifndef KEEL_DRIVERS_RAMDISK_H
#define KEEL_DRIVERS_RAMDISK_H

#include "drivers/storage/blkdev.h"

/* Limits the ramdisk advertises. max_sectors bounds the time one request spends copying in a trap. */
#define RAMDISK_MAX_SEGS     256u
#define RAMDISK_MAX_SEG_SIZE (1u << 20)
#define RAMDISK_MAX_SECTORS  8192u /* 4 MiB */

struct ramdisk {
	struct blkdev bdev; /**< hand &rd->bdev to consumers */
	paddr_t base;
	uint64_t size;
};

/**
 * Describe [base, base+size) as a disk. size must be a non-zero multiple of
 * 512 and the range must not wrap. Returns 0 or -EINVAL. The range must be
 * hypervisor-owned memory that no VM maps.
 */
int ramdisk_init(struct ramdisk *rd, const char *name, paddr_t base, uint64_t size, bool read_only);

#endif
