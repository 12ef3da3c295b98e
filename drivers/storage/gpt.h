/* GUID partition tables: a VM can be given one partition of a disk, by name. */
#ifndef KEEL_DRIVERS_GPT_H
#define KEEL_DRIVERS_GPT_H

#include "drivers/storage/blkdev.h"

/**
 * Read dev's GPT (primary header, CRCs checked; the backup when the primary is bad) and return a
 * block device covering exactly the partition whose name (UTF-16LE, compared as ASCII) is name.
 * Requests to it are bounds-checked and offset. NULL, with a log line, when absent or invalid.
 */
struct blkdev *gpt_open_partition(struct blkdev *dev, const char *name);

#endif
