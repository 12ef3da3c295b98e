/*
 * Register helpers shared by the vGIC's register models (core/vgic_v3.c,
 * core/vgic_v2.c): the bitmap, priority and configuration registers both
 * GIC versions lay out alike, and the answer to a bad access. Internal to
 * the vGIC; every function runs with vm->vgic.lock held unless it says not.
 */
#ifndef KEEL_CORE_VGIC_REGS_H
#define KEEL_CORE_VGIC_REGS_H

#include "core/mmio.h"
#include "core/vgic.h"

#define VGIC_SZ(n) (1u << (n)) /* allowed access sizes, as a mask of 1 << bytes */

/* GICD offsets both versions share */
#define GICD_CTLR	0x0000
#define GICD_TYPER	0x0004
#define GICD_IIDR	0x0008
#define GICD_IGROUPR	0x0080
#define GICD_ISENABLER	0x0100
#define GICD_ICENABLER	0x0180
#define GICD_ISPENDR	0x0200
#define GICD_ICPENDR	0x0280
#define GICD_ISACTIVER	0x0300
#define GICD_ICACTIVER	0x0380
#define GICD_IPRIORITYR 0x0400
#define GICD_ITARGETSR	0x0800
#define GICD_ICFGR	0x0c00
#define GICD_NSACR	0x0e00
#define GICD_SGIR	0x0f00
#define GICD_CPENDSGIR	0x0f10
#define GICD_SPENDSGIR	0x0f20

#define GICD_CTLR_ENABLE_GRPS 3u /* EnableGrp0 | EnableGrp1 (v3, DS = 1: EnableGrp1) */

#define GIC_IIDR_KEEL 0x6b000000u /* ProductID 'k', no JEP106 implementer: matches no Linux quirk */

enum vgic_result { VR_OK, VR_BAD_SIZE, VR_BAD_OFFSET, VR_READ_ONLY };

enum vgic_bitreg {
	BR_GROUP,
	BR_SET_ENABLE,
	BR_CLR_ENABLE,
	BR_SET_PEND,
	BR_CLR_PEND,
	BR_SET_ACTIVE,
	BR_CLR_ACTIVE
};

/** The access has one of the sizes in the mask (VGIC_SZ) and is aligned to it. */
bool vgic_size_ok(const struct mmio_access *acc, unsigned sizes);
/** Which bitmap register an offset in GICD_IGROUPR..GICD_ICACTIVER+0x7f is. */
enum vgic_bitreg vgic_bitreg_kind(uint64_t off);
/**
 * One 32-bit IGROUPR/IS/ICENABLER/IS/ICPENDR/IS/ICACTIVER for INTIDs
 * first..first+31 (private to pv when first is 0, else SPIs; INTIDs the VM
 * lacks are RAZ/WI). Returns the vCPUs to kick.
 */
uint32_t vgic_bitreg_access(struct vm *vm, struct vcpu *pv, uint32_t first, enum vgic_bitreg k,
			    struct mmio_access *acc);
/** IPRIORITYR bytes for INTIDs first..first+size-1 (byte or word access). Returns the vCPUs to kick. */
uint32_t vgic_priority_access(struct vm *vm, struct vcpu *pv, uint32_t first, struct mmio_access *acc);
/** ICFGR for INTIDs first..first+15: Int_config[1] of each 2-bit field (1 = edge); SGIs are fixed edge. */
void vgic_config_access(struct vm *vm, struct vcpu *pv, uint32_t first, struct mmio_access *acc);
/** What sets the two versions' distributors apart in the registers they share. */
struct vgic_gicd_view {
	uint32_t ctlr_fixed; /**< GICD_CTLR bits that always read as one (v3: ARE | DS) */
	uint32_t typer;	     /**< GICD_TYPER */
	bool banked; /**< INTIDs 0..31 are the accessing vCPU's (v2); else RAZ/WI (v3: they live in the GICR)
		      */
};

/**
 * Decode the GICD registers both versions share: CTLR, TYPER, IIDR (and the size of any other offset
 * below IGROUPR), IGROUPR..ICACTIVER, IPRIORITYR, ICFGR. True, with *r and *kick set, when acc was one
 * of them; false leaves acc to the version's own registers (ITARGETSR, IROUTER, SGIR, ID registers, ...).
 */
bool vgic_gicd_shared_access(struct vm *vm, struct vcpu *vcpu, const struct vgic_gicd_view *view,
			     struct mmio_access *acc, uint32_t *kick, enum vgic_result *r);
/**
 * Lock NOT held: answer a bad access (reads as zero, writes ignored) with a
 * rate-limited log line naming the GICD or the GICR frame, then kick.
 * Returns 0: the guest never gets an abort from the vGIC.
 */
int vgic_mmio_finish(struct vm *vm, struct vcpu *vcpu, bool redist, struct mmio_access *acc,
		     enum vgic_result r, uint32_t kick);

#endif
