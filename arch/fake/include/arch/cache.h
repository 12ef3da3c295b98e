/*
 * Host tests: caches are coherent, so maintenance does nothing but is recorded
 * (arch/fake/cpu.c): tests assert it is issued where a non-coherent machine needs it.
 */
#ifndef KEEL_ARCH_CACHE_H
#define KEEL_ARCH_CACHE_H

#include "keel/types.h"

enum fake_cache_op { FAKE_CACHE_CLEAN, FAKE_CACHE_INVAL, FAKE_CACHE_CLEAN_INVAL, FAKE_SEV };

struct fake_cache_event {
	enum fake_cache_op op;
	const void *p;
	size_t len;
};

#define FAKE_CACHE_LOG_MAX 64
/** The last FAKE_CACHE_LOG_MAX operations in order; fake_cache_n counts all (reset it to 0 to start). */
extern struct fake_cache_event fake_cache_log[FAKE_CACHE_LOG_MAX];
extern unsigned fake_cache_n;

void fake_cache_record(enum fake_cache_op op, const void *p, size_t len);

static inline void dcache_clean_range(const void *p, size_t len)
{
	fake_cache_record(FAKE_CACHE_CLEAN, p, len);
}
static inline void dcache_inval_range(const void *p, size_t len)
{
	fake_cache_record(FAKE_CACHE_INVAL, p, len);
}
static inline void dcache_clean_inval_range(const void *p, size_t len)
{
	fake_cache_record(FAKE_CACHE_CLEAN_INVAL, p, len);
}

#endif
