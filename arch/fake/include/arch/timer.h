/* Host-test timer: the monotonic clock stands in for the generic timer's counter. */
#ifndef KEEL_ARCH_TIMER_H
#define KEEL_ARCH_TIMER_H

#include <stdint.h>
#include <time.h>

static inline uint64_t timer_freq(void)
{
	return 1000000000ULL;
}

static inline uint64_t timer_count(void)
{
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
