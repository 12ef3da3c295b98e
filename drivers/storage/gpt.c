/* GPT partitions: not implemented yet (the UFS/GPT issue); whole devices only. */
#include "drivers/storage/gpt.h"

#include "keel/log.h"

struct blkdev *gpt_open_partition(struct blkdev *dev, const char *name)
{
	log_err("storage: %s: partition \"%s\" requested, but GPT partitions are not supported yet", dev->name, name);
	return NULL;
}
