/* Small helpers with no dependencies. */
#ifndef KEEL_UTIL_H
#define KEEL_UTIL_H

#include "keel/types.h"

#define ARRAY_SIZE(a)	  (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)	  ((a) < (b) ? (a) : (b))
#define MAX(a, b)	  ((a) > (b) ? (a) : (b))
#define ALIGN_UP(x, a)	  (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define ALIGN_DOWN(x, a)  ((x) & ~((__typeof__(x))(a)-1))
#define IS_ALIGNED(x, a)  (((x) & ((__typeof__(x))(a)-1)) == 0)
#define BIT(n)		  (1ULL << (n))
#define SZ_4K		  0x1000ULL
#define SZ_2M		  0x200000ULL
#define SZ_1G		  0x40000000ULL
#define UNUSED		  __attribute__((unused))
#define NORETURN	  __attribute__((noreturn))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

/** True when [base, base+len) lies wholly inside [lo, lo+size); overflow-safe. */
static inline bool range_within(uint64_t base, uint64_t len, uint64_t lo, uint64_t size)
{
	if (base < lo)
		return false;
	if (base - lo > size)
		return false;
	return len <= size - (base - lo);
}

/** The little-endian 32- and 64-bit values at p (any alignment): on-disk and wire formats. */
static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/** True when [a, a+alen) and [b, b+blen) overlap; both lengths non-zero. */
static inline bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

#endif
