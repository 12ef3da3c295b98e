/* Host tests: caches are coherent, maintenance is a no-op. */
#ifndef KEEL_ARCH_CACHE_H
#define KEEL_ARCH_CACHE_H

#include "keel/types.h"

static inline void dcache_clean_range(const void *p, size_t len)
{
	(void)p;
	(void)len;
}
static inline void dcache_inval_range(const void *p, size_t len)
{
	(void)p;
	(void)len;
}
static inline void dcache_clean_inval_range(const void *p, size_t len)
{
	(void)p;
	(void)len;
}

#endif
