/* GICv3 guest-side driver: Non-secure view of the distributor, this CPU's redistributor, and
 * the system-register CPU interface (ICC_*, virtualized by the hardware under keel). */
#ifndef GUEST_GIC_H
#define GUEST_GIC_H

#include <stdint.h>

#define GICD_DEFAULT_BASE 0x08000000UL
#define GICR_DEFAULT_BASE 0x080a0000UL

typedef void (*irq_handler_t)(uint32_t intid);

/** Brings up GICD, this CPU's GICR and the CPU interface; eoimode != 0 selects split
 * priority drop (ICC_EOIR1_EL1) / deactivation (ICC_DIR_EL1). 0 on success, < 0 on failure
 * (a FAIL line has been printed). */
int gic_init(uintptr_t gicd, uintptr_t gicr, uint64_t gicr_size, int eoimode);
/** Enables a PPI (16..31) in this CPU's redistributor, group 1, with `handler`. */
int gic_enable_ppi(uint32_t intid, irq_handler_t handler);
/** Called from the IRQ vector: acknowledge, dispatch, EOI (and DIR in EOImode 1). */
void gic_handle_irq(void);
uint64_t gic_spurious_count(void);
uint64_t gic_unexpected_count(void);

#endif
