/* The generic timer's counter, for timestamps and timeouts. */
#ifndef KEEL_ARCH_TIMER_H
#define KEEL_ARCH_TIMER_H

#include "arch/sysreg.h"

static inline uint64_t timer_count(void)
{
	__asm__ volatile("isb" ::: "memory");
	return read_cntpct_el0();
}

/**
 * CNTFRQ_EL0 as timer_init() read it: firmware sets it before keel runs and nothing changes it
 * after, and reading the register each time costs (a trapped or emulated access on some hosts).
 */
extern uint64_t timer_hz;

/** Read the frequency once, on the boot CPU with its caches on, before the CPUs measure time. */
void timer_init(void);

static inline uint64_t timer_freq(void)
{
	uint64_t f = timer_hz;
	return f != 0 ? f : read_cntfrq_el0(); /* before timer_init */
}

/** Microseconds since the counter started (at machine reset). */
static inline uint64_t timer_us(void)
{
	uint64_t f = timer_freq();
	uint64_t c = timer_count();
	return (c / f) * 1000000ULL + ((c % f) * 1000000ULL) / f;
}

/** The counter value at which timer_us() reaches us, rounded up (a timer set to it never fires early). */
static inline uint64_t timer_count_at_us(uint64_t us)
{
	uint64_t f = timer_freq();
	return (us / 1000000ULL) * f + ((us % 1000000ULL) * f + 999999ULL) / 1000000ULL;
}

#endif
