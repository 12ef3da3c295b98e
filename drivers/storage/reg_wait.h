/* Bounded waits on a device register, shared by the storage drivers. */
#ifndef KEEL_DRIVERS_STORAGE_REG_WAIT_H
#define KEEL_DRIVERS_STORAGE_REG_WAIT_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/mmio.h"
#include "arch/timer.h"

/**
 * Wait until (*reg & mask) == want, bounded by timeout_us of keel's clock; the last read decides
 * (a wait woken late past the deadline still sees a register that got there). Any context.
 */
static inline bool reg_wait32(const volatile void *reg, uint32_t mask, uint32_t want, uint64_t timeout_us)
{
	uint64_t end = timer_us() + timeout_us;
	for (;;) {
		if ((mmio_read32(reg) & mask) == want)
			return true;
		if (timer_us() > end)
			return (mmio_read32(reg) & mask) == want;
	}
}

#endif
