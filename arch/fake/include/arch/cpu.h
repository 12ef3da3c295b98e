/* Host tests: the running CPU, with a pending-interrupt flag tests set (arch/fake/cpu.c). */
#ifndef KEEL_ARCH_CPU_H
#define KEEL_ARCH_CPU_H

#include <stdbool.h>

extern bool fake_cpu_irq_pending;

static inline bool cpu_irq_pending(void)
{
	return fake_cpu_irq_pending;
}

static inline void cpu_relax(void) {}

/** Host tests count events and log them in the cache-maintenance trace (arch/fake/include/arch/cache.h). */
void cpu_send_event(void);

#endif
