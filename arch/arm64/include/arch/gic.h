/*
 * The physical GIC as keel uses it at EL2, GICv3 (arch/arm64/gicv3.c) or
 * GICv2 with the virtualization extensions (GIC-400, arch/arm64/gicv2.c),
 * chosen once by gic_init from what the boot DT describes: EOImode 1
 * (priority drop and deactivation split, so a forwarded interrupt stays
 * active until the guest deactivates it through an LR with the HW bit).
 * Callers never ask which version runs, except to build the guests' view.
 */
#ifndef KEEL_ARCH_GIC_H
#define KEEL_ARCH_GIC_H

#include "arch/gic_lr.h"
#include "keel/types.h"

#define GIC_INTID_SPURIOUS  1023
#define GIC_PPI_MAINTENANCE 25
#define GIC_PPI_HYP_TIMER   26
#define GIC_PPI_VTIMER	    27
#define GIC_SGI_KICK	    0

/** The physical GIC as the boot DT describes it. */
struct gic_hw {
	unsigned version; /**< 3 or 2 */
	paddr_t gicd;
	paddr_t gicr;	    /**< v3: redistributor region */
	uint64_t gicr_size; /**< v3 */
	paddr_t gicc;	    /**< v2: CPU interface (8 KiB: GICC_DIR at 0x1000) */
	paddr_t gich;	    /**< v2: virtual interface control (this CPU's view) */
};

/** One GIC version's driver; the wrappers below call the one gic_init chose. */
struct gic_ops {
	int (*init)(const struct gic_hw *hw);
	int (*cpu_init)(void);
	uint32_t (*ack)(void);
	void (*eoi)(uint32_t intid);
	void (*deactivate)(uint32_t intid);
	void (*enable)(uint32_t intid, bool edge, uint64_t mpidr);
	void (*route)(uint32_t intid, uint64_t mpidr);
	void (*disable)(uint32_t intid);
	void (*set_priority)(uint32_t intid, uint8_t prio);
	void (*send_sgi)(uint64_t mpidr, unsigned sgi);
	unsigned (*lr_count)(void);
	uint64_t (*lr_read)(unsigned i);
	void (*lr_write)(unsigned i, uint64_t v);
	uint64_t (*lr_encode)(const struct gic_lr *lr);
	void (*lr_decode)(uint64_t v, struct gic_lr *lr);
	uint64_t (*hcr_read)(void);
	void (*hcr_write)(uint64_t v);
	uint32_t (*misr_read)(void);
	void (*vcpu_save)(uint64_t *vmcr, uint64_t *apr);
	void (*vcpu_restore)(uint64_t vmcr, uint64_t apr);
};

extern const struct gic_ops gicv3_ops;
extern const struct gic_ops gicv2_ops;

/**
 * Choose the driver for hw->version and bring up the distributor (boot CPU).
 * Returns 0, -EINVAL for a version keel has no driver for, or -ENODEV when
 * the hardware does not answer.
 */
int gic_init(const struct gic_hw *hw);
/** The GIC version gic_init chose (0 before). */
unsigned gic_version(void);
/** This CPU's redistributor (v3) or banked distributor registers (v2), CPU interface and virtual interface.
 */
int gic_cpu_init(void);
/** Acknowledge the highest pending interrupt (GIC_INTID_SPURIOUS when none). */
uint32_t gic_ack(void);
/**
 * Priority drop only (EOImode 1). On GICv2 an SGI's EOI and deactivation name
 * the source CPU of this CPU's last acknowledge of that SGI (keel handles
 * one interrupt at a time: ack, EOI, deactivate).
 */
void gic_eoi(uint32_t intid);
/** Deactivate an interrupt keel handled itself. */
void gic_deactivate(uint32_t intid);
/** Enable an SPI or this CPU's PPI/SGI; SPIs are routed to the CPU with this MPIDR. */
void gic_enable(uint32_t intid, bool edge, uint64_t mpidr);
/** Route an enabled SPI to the CPU with this MPIDR (its configuration and enable untouched). */
void gic_route(uint32_t intid, uint64_t mpidr);
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
/** Send an SGI to the CPU with this MPIDR (GICv2: to its CPU interface, learnt in its gic_cpu_init). */
void gic_send_sgi(uint64_t mpidr, unsigned sgi);
/** Maintenance status (ICH_MISR_EL2 / GICH_MISR; same bit layout). */
uint32_t gic_misr_read(void);
/** The running vCPU's virtual CPU interface state (VMCR and active priorities), around a vCPU switch. */
void gic_vcpu_save(uint64_t *vmcr, uint64_t *apr);
void gic_vcpu_restore(uint64_t vmcr, uint64_t apr);

#endif
