#include "core/page_alloc.h"

#include <string.h>

#include "arch/spinlock.h"
#include "keel/util.h"

#define POOL_PAGES 512 /* 2 MiB: stage-2 tables for a few VMs with 2 MiB blocks */

static uint8_t pool[POOL_PAGES][4096] __attribute__((aligned(4096)));
static unsigned next_page;
static struct spinlock pool_lock = SPINLOCK_INIT;

void *page_alloc(void)
{
	void *p = NULL;
	spin_lock(&pool_lock);
	if (next_page < POOL_PAGES)
		p = pool[next_page++];
	spin_unlock(&pool_lock);
	if (p)
		memset(p, 0, 4096);
	return p;
}

unsigned page_alloc_free(void)
{
	return POOL_PAGES - next_page;
}
