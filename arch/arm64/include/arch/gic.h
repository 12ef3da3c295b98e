/*
 * The physical GICv3 as keel uses it at EL2: all interrupts Group 1,
 * EOImode 1 (priority drop and deactivation split, so a forwarded
 * interrupt stays active until the guest deactivates it through an LR
 * with the HW bit).
 */
#ifndef KEEL_ARCH_GIC_H
#define KEEL_ARCH_GIC_H

#include "keel/types.h"

#define GIC_INTID_SPURIOUS  1023
#define GIC_PPI_MAINTENANCE 25
#define GIC_PPI_HYP_TIMER   26
#define GIC_PPI_VTIMER	    27
#define GIC_SGI_KICK	    0

/** Distributor init (boot CPU). Returns 0, or -ENODEV when the hardware does not answer. */
int gic_init(paddr_t gicd, paddr_t gicr, uint64_t gicr_size);
/** This CPU's redistributor, CPU interface and virtual interface. */
int gic_cpu_init(void);
/** Acknowledge the highest pending interrupt (GIC_INTID_SPURIOUS when none). */
uint32_t gic_ack(void);
/** Priority drop only (EOImode 1). */
void gic_eoi(uint32_t intid);
/** Deactivate an interrupt keel handled itself. */
void gic_deactivate(uint32_t intid);
/** Enable an SPI or this CPU's PPI/SGI; SPIs are routed to the CPU with this MPIDR. */
void gic_enable(uint32_t intid, bool edge, uint64_t mpidr);
void gic_disable(uint32_t intid);
/**
 * Interrupts keel services itself (its devices, maintenance, kicks) run at a
 * higher priority than those it forwards to guests (the virtual timer): a
 * forwarded level interrupt stays active and pending until the guest
 * deactivates it, and must not hide keel's own from the CPU interface.
 */
#define GIC_PRIO_KEEL 0x80
/*
 * keel's periodic tick polls devices: it runs below their own interrupts, so that a completion
 * arriving together with a tick is taken by its interrupt handler and the poll finds nothing.
 */
#define GIC_PRIO_TICK  0x90
#define GIC_PRIO_GUEST 0xa0
void gic_set_priority(uint32_t intid, uint8_t prio);
/** Send an SGI to the CPU with this MPIDR. */
void gic_send_sgi(uint64_t mpidr, unsigned sgi);

#endif
