/* GIC guest-side driver. GICv3: Non-secure view of the distributor, this CPU's redistributor, and
 * the system-register CPU interface (ICC_*, virtualized by the hardware under keel). GICv2
 * (gic2.c): the distributor and the memory-mapped CPU interface (the hardware's GICV under keel). */
#ifndef GUEST_GIC_H
#define GUEST_GIC_H

#include <stdint.h>

#define GICD_DEFAULT_BASE 0x08000000UL
#define GICR_DEFAULT_BASE 0x080a0000UL

typedef void (*irq_handler_t)(uint32_t intid);

/** Brings up GICD, this CPU's GICR (v3) and the CPU interface; version 2: gicr is the GICC base.
 * eoimode != 0 selects split priority drop (EOIR) / deactivation (DIR). 0 on success, < 0 on
 * failure (a FAIL line has been printed). */
int gic_init(int version, uintptr_t gicd, uintptr_t gicr, uint64_t gicr_size, int eoimode);
/** Enables a PPI (16..31) in this CPU's redistributor, group 1, with `handler`. */
int gic_enable_ppi(uint32_t intid, irq_handler_t handler);
/** Called from the IRQ vector: acknowledge, dispatch, EOI (and DIR in EOImode 1). */
void gic_handle_irq(void);
uint64_t gic_spurious_count(void);
uint64_t gic_unexpected_count(void);
/** Sends SGI intid (0..15) to this CPU (v3: ICC_SGI1R_EL1, v2: GICD_SGIR) with handler enabled. */
int gic_send_sgi_self(uint32_t intid, irq_handler_t handler);

/* GICv2 (gic2.c), used through the functions above. */
int gic2_init(uintptr_t gicd, uintptr_t gicc, int eoimode);
int gic2_enable_private(uint32_t intid, irq_handler_t handler);
void gic2_handle_irq(void);
int gic2_send_sgi_self(uint32_t intid);
extern volatile uint64_t gic2_spurious, gic2_unexpected;

#endif
