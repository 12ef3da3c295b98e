/* The generic timer's counter, for timestamps and timeouts. */
#ifndef KEEL_ARCH_TIMER_H
#define KEEL_ARCH_TIMER_H

#include "arch/sysreg.h"

static inline uint64_t timer_count(void)
{
	__asm__ volatile("isb" ::: "memory");
	return read_cntpct_el0();
}

static inline uint64_t timer_freq(void)
{
	return read_cntfrq_el0();
}

/** Microseconds since the counter started (at machine reset). */
static inline uint64_t timer_us(void)
{
	uint64_t f = timer_freq();
	uint64_t c = timer_count();
	return (c / f) * 1000000ULL + ((c % f) * 1000000ULL) / f;
}

#endif
