/*
 * Data-cache maintenance for non-coherent DMA. Drivers call these around
 * DMA on buffers; on coherent platforms they are still correct, just unneeded.
 */
#ifndef KEEL_ARCH_CACHE_H
#define KEEL_ARCH_CACHE_H

#include "keel/types.h"

/** Write dirty lines of [p, p+len) to memory (before the device reads). */
void dcache_clean_range(const void *p, size_t len);
/** Discard lines of [p, p+len) (after the device wrote). */
void dcache_inval_range(const void *p, size_t len);
/** Clean and invalidate [p, p+len). */
void dcache_clean_inval_range(const void *p, size_t len);

#endif
