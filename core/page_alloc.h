/* Hypervisor page pool: zeroed 4 KiB pages for stage-2 tables and device state. Never freed. */
#ifndef KEEL_CORE_PAGE_ALLOC_H
#define KEEL_CORE_PAGE_ALLOC_H

#include "keel/types.h"

/** A zeroed 4 KiB page from keel's pool, or NULL when the pool is exhausted. */
void *page_alloc(void);
/** Pages still free, for the boot log. */
unsigned page_alloc_free(void);

#endif
