/* The running CPU: pending physical interrupts, and how to wait politely in a bounded poll. */
#ifndef KEEL_ARCH_CPU_H
#define KEEL_ARCH_CPU_H

#include <stdbool.h>

#include "arch/sysreg.h"

#define ISR_EL1_F (1u << 6)
#define ISR_EL1_I (1u << 7)

/** Is a physical IRQ or FIQ pending for this CPU? (ISR_EL1 read at EL2: the physical view.) */
static inline bool cpu_irq_pending(void)
{
	return (read_isr_el1() & (ISR_EL1_I | ISR_EL1_F)) != 0;
}

/** This CPU's MPIDR_EL1 (what GIC routing and SGIs name a CPU by). */
static inline uint64_t cpu_mpidr(void)
{
	return read_mpidr_el1();
}

/** One step of a busy-wait loop. */
static inline void cpu_relax(void)
{
	__asm__ volatile("yield" ::: "memory");
}

/** Wake CPUs waiting in wfe (spin-table release): prior stores and maintenance complete first. */
static inline void cpu_send_event(void)
{
	__asm__ volatile("dsb sy\n\tsev" ::: "memory");
}

#endif
