/* MBR (DOS) partition tables: a VM can be given a primary partition of an MBR disk, by number. */
#ifndef KEEL_DRIVERS_MBR_H
#define KEEL_DRIVERS_MBR_H

#include "drivers/storage/blkdev.h"

#define MBR_READ_TIMEOUT_US 2000000u /**< the boot-time read of block 0 */

enum ptable_kind {
	PTABLE_NONE, /**< no 0x55aa signature in block 0 (or it could not be read; logged) */
	PTABLE_MBR,  /**< an MBR without a protective entry: partitions by number */
	PTABLE_GPT,  /**< a protective MBR (an entry of type 0xee): partitions by GPT name */
};

/** Read block 0 of dev (in units of its logical block size) and tell which table the disk has. */
enum ptable_kind mbr_probe(struct blkdev *dev);

/**
 * Return a block device covering exactly primary partition number ("1".."4") of dev's MBR, or NULL
 * with a log line. MBR LBAs count dev's logical blocks (as Linux reads them). Everything on the disk is
 * hostile: the entry must be used, not an extended container, lie inside the disk after block 0 and
 * overlap no other used entry. The boot partition (the active entry, or when none is active the first
 * FAT or EFI-system entry: what a board's firmware loads from) is refused unless allow_boot is set.
 * Logical partitions (5 and up) are not supported and are refused by name. Call at boot.
 */
struct blkdev *mbr_open_partition(struct blkdev *dev, const char *number, bool allow_boot);

/** Return a partition from mbr_open_partition to the pool (no request may be in flight). */
void mbr_close_partition(struct blkdev *part);

#endif
