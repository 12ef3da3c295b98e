/*
 * Host-test timer: the monotonic clock stands in for the generic timer's counter. A test that needs
 * time under its control sets fake_timer_manual: the clock then reads fake_timer_ns, which only the
 * test moves (arch/fake/timer.c).
 */
#ifndef KEEL_ARCH_TIMER_H
#define KEEL_ARCH_TIMER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

extern bool fake_timer_manual;
extern uint64_t fake_timer_ns;

static inline uint64_t timer_freq(void)
{
	return 1000000000ULL;
}

static inline uint64_t timer_count(void)
{
	if (fake_timer_manual)
		return fake_timer_ns;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/** Microseconds since an arbitrary start. */
static inline uint64_t timer_us(void)
{
	return timer_count() / 1000ULL;
}

#endif
