/* Data-cache maintenance by VA to the point of coherency. */
#include "arch/cache.h"

static uintptr_t dcache_line(void)
{
	uint64_t ctr;
	__asm__ volatile("mrs %0, ctr_el0" : "=r"(ctr));
	return (uintptr_t)4 << ((ctr >> 16) & 0xf);
}

#define DCACHE_OP(name, insn)                                                                                \
	void name(const void *p, size_t len)                                                                 \
	{                                                                                                    \
		uintptr_t line = dcache_line();                                                              \
		uintptr_t a = (uintptr_t)p & ~(line - 1), end = (uintptr_t)p + len;                          \
		for (; a < end; a += line)                                                                   \
			__asm__ volatile("dc " insn ", %0" ::"r"(a) : "memory");                             \
		__asm__ volatile("dsb sy" ::: "memory");                                                     \
	}

DCACHE_OP(dcache_clean_range, "cvac")
DCACHE_OP(dcache_inval_range, "ivac")
DCACHE_OP(dcache_clean_inval_range, "civac")
