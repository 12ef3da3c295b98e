/*
 * PIO data for SDHCI controllers that have no DMA at all (QEMU's raspi4b models
 * both of the BCM2711's controllers so: its Arasan and its eMMC2 strip the DMA
 * bit from the transfer mode). One 512-byte block at a time moves between the
 * data port and a bounce block; these helpers move the bounce block to and from
 * a request's segments (any alignment, any split). Pure code: host-testable.
 */
#ifndef KEEL_DRIVERS_SDHCI_PIO_H
#define KEEL_DRIVERS_SDHCI_PIO_H

#include "drivers/storage/blkdev.h"

/**
 * Copy len bytes between buf and the byte range [off, off + len) of the segments taken
 * as one buffer: to_segs true writes the segments (a read's data), false reads them.
 * False, copying nothing, when the range goes past the segments' end.
 */
bool sdhci_pio_copy(const struct blk_seg *segs, unsigned nsegs, uint64_t off, void *buf, uint32_t len,
		    bool to_segs);

#endif
