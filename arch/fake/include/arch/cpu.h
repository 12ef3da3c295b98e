/* Host tests: the running CPU, with a pending-interrupt flag tests set (arch/fake/cpu.c). */
#ifndef KEEL_ARCH_CPU_H
#define KEEL_ARCH_CPU_H

#include <stdbool.h>
#include <stdint.h>

extern bool fake_cpu_irq_pending;
/** The MPIDR cpu_mpidr() answers: tests set it to play a submit on another CPU. */
extern uint64_t fake_cpu_mpidr;

static inline uint64_t cpu_mpidr(void)
{
	return fake_cpu_mpidr;
}

static inline bool cpu_irq_pending(void)
{
	return fake_cpu_irq_pending;
}

static inline void cpu_relax(void) {}

/** Host tests count events and log them in the cache-maintenance trace (arch/fake/include/arch/cache.h). */
void cpu_send_event(void);

#endif
