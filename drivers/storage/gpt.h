/* GUID partition tables: a VM can be given one partition of a disk, by name. */
#ifndef KEEL_DRIVERS_GPT_H
#define KEEL_DRIVERS_GPT_H

#include <stddef.h>

#include "drivers/storage/blkdev.h"

#define GPT_MAX_BLOCK_SIZE  4096u	  /**< largest logical block size read */
#define GPT_MAX_ENTRIES	    1024u	  /**< largest partition entry count accepted */
#define GPT_MAX_ARRAY_BYTES (64u * 1024u) /**< largest entry array accepted (count * entry size) */
#define GPT_NAME_UNITS	    36u		  /**< UTF-16 code units in an entry's name */
#define GPT_READ_TIMEOUT_US 2000000u	  /**< per boot-time read */

/**
 * Read dev's GPT (primary header, CRCs checked; the backup when the primary is bad) and return a
 * block device covering exactly the partition whose name (UTF-16LE, compared as ASCII) is name.
 * Requests to it are bounds-checked and offset. NULL, with a log line, when absent or invalid.
 *
 * Everything on the disk is treated as hostile (a guest may have written it): the header and entry
 * array must pass their CRCs and lie inside the disk, the usable range must exclude LBAs 0 and 1, the
 * last LBA and the table itself, and the partition must lie inside the usable range, be the only
 * entry with that name and overlap no other entry. The returned device is from a static pool
 * (drivers/storage/part.h); call at boot, before the device carries guest I/O.
 */
struct blkdev *gpt_open_partition(struct blkdev *dev, const char *name);

/** Return a partition from gpt_open_partition to the pool (no request may be in flight). */
void gpt_close_partition(struct blkdev *part);

/** CRC-32 as GPT uses it (IEEE 802.3, reflected, init and final xor 0xffffffff). crc starts at 0. */
uint32_t gpt_crc32(uint32_t crc, const void *buf, size_t len);

#endif
