/*
 * The virtual GIC: distributor/redistributor emulation and injection of
 * virtual interrupts through the list registers of the owning vCPU.
 *
 * Models (the guest sees the host's GIC version, vgic_set_model):
 * - GICv3, single security state (GICD_CTLR.DS = 1, ARE = 1), no LPIs, no
 *   ITS, SPIs 32..32+nr_spis-1. Guests use the CPU interface through ICC_*
 *   system registers (virtualized by the hardware through the LRs); the GICD
 *   (64 KiB) and one 128 KiB GICR frame per vCPU (RD_base + SGI_base) are
 *   emulated MMIO regions (core/vgic_v3.c).
 * - GICv2 without Security Extensions, at most 8 vCPUs: the GICD (4 KiB,
 *   core/vgic_v2.c) is emulated, INTIDs 0..31 banked per vCPU, SPIs routed by
 *   ITARGETSR to the lowest vCPU of the mask, SGIs by GICD_SGIR; the CPU
 *   interface is the hardware's GICV, which the integration maps by stage 2
 *   at the guest's GICC. Interrupts reset to Group 0 (Linux enables only it).
 * The state machine below is shared; list registers go through arch/gic_lr.h.
 *
 * Interrupt state lives in struct vgic_dist / vgic_vcpu (core/vgic_state.h)
 * under vm->vgic.lock, except while a vCPU runs: then the interrupts listed
 * in its LRs are owned by the hardware, and vgic_sync_lrs folds them back.
 *
 * Run loop of a vCPU (on the pCPU it is pinned to):
 *     vgic_vcpu_load(v);
 *     loop: vgic_flush_lrs(v); enter guest; vgic_sync_lrs(v);
 *           deactivate every physical PPI in vgic_take_hw_deactivations(v);
 *           handle the exit (MMIO traps reach the vGIC through vm->mmio).
 *     vgic_vcpu_put(v);
 */
#ifndef KEEL_CORE_VGIC_H
#define KEEL_CORE_VGIC_H

#include "keel/types.h"

struct vm;
struct vcpu;
struct vgic_irq;
struct mmio_access;

#define VGIC_GICD_SIZE	 0x10000ULL
#define VGIC_GICR_STRIDE 0x20000ULL /* RD_base + SGI_base frames of one vCPU */
#define VGIC_PRIO_MASK	 0xf8	    /* 5 priority bits, as ICH_VTR_EL2.PRIbits on QEMU virt */

/**
 * Reset the distributor and every vCPU's redistributor to power-on state
 * (all interrupts disabled, inactive, not pending, Group 1, priority 0,
 * SPIs routed to vCPU 0, GICR_WAKER asleep). nr_spis is clamped to
 * VGIC_NR_SPIS. vm->nr_vcpus and each vcpus[i].vmpidr must be set. The kick
 * hook survives; physical PPIs still active for a linked interrupt are
 * recorded for vgic_take_hw_deactivations. Callable again (VM reset).
 */
void vgic_vm_init(struct vm *vm, unsigned nr_spis);

#define VGIC_V2_GICD_SIZE 0x1000ULL
#define VGIC_V2_MAX_VCPUS 8

/**
 * Choose the register model (VGIC_V3 or VGIC_V2) before vgic_vm_init; it
 * survives resets. Returns 0, or -EINVAL for another model or, for
 * VGIC_V2, a VM with more than VGIC_V2_MAX_VCPUS vCPUs.
 */
int vgic_set_model(struct vm *vm, unsigned model);

/**
 * Register the GICD (64 KiB at gicd_base) and the redistributors
 * (vm->nr_vcpus frames of 128 KiB from gicr_base, vCPU i at frame i, the
 * last one with GICR_TYPER.Last) on vm->mmio. Returns 0, -EINVAL for a VM
 * without vCPUs, or mmio_bus_register's error. Model VGIC_V2: only the 4 KiB
 * GICD (gicr_base unused); the CPU interface is the caller's stage-2 mapping.
 */
int vgic_register_mmio(struct vm *vm, ipa_t gicd_base, ipa_t gicr_base);

/**
 * Hook called when a vCPU has something new to deliver: the integration
 * sends it a physical SGI (GIC_SGI_KICK) so it exits and refills its LRs.
 * Called without the vGIC lock held, from any CPU, possibly for the vCPU
 * running on the calling CPU (then it needs nothing). NULL = no kicks.
 */
void vgic_set_kick(struct vm *vm, void (*kick)(struct vcpu *vcpu));

/**
 * Raise an edge on a VM's SPI or on vCPU 0's PPI (16..31): it becomes
 * pending until the guest acknowledges it (also for a level-configured
 * interrupt). Returns 0, or -EINVAL for an INTID the VM does not have.
 */
int vgic_inject(struct vm *vm, uint32_t intid);

/**
 * Drive a level-sensitive input line (SPI, or vCPU 0's PPI): a
 * level-configured interrupt is pending while the line is high; an
 * edge-configured one latches rising edges. Returns 0 or -EINVAL.
 */
int vgic_set_level(struct vm *vm, uint32_t intid, bool level);

/**
 * A physical PPI pintid (16..31, taken and priority-dropped by keel,
 * left active) for this vCPU's virtual PPI intid (16..31): make it pending
 * with the LR HW bit, so the guest's deactivation deactivates the physical
 * interrupt. Returns 0, or -EINVAL (then the caller deactivates it).
 */
int vgic_inject_hw_ppi(struct vcpu *vcpu, uint32_t intid, uint32_t pintid);

/**
 * Physical PPIs (bit n = INTID n) that were linked to virtual ones the
 * guest or a reset discarded without deactivating them; the caller must
 * deactivate each (gic_deactivate) on this vCPU's pCPU. Clears the set.
 */
uint32_t vgic_take_hw_deactivations(struct vcpu *vcpu);

/**
 * The vCPU starts running on this pCPU: take ICH_HCR_EL2 as keel's shadow
 * and treat every LR as holding unknown content (the next flush rewrites or
 * zeroes each one once).
 */
void vgic_vcpu_load(struct vcpu *vcpu);

/** The vCPU stops running on this pCPU: fold the LRs back and zero them. */
void vgic_vcpu_put(struct vcpu *vcpu);

/**
 * Before entering the guest, on the vCPU's pCPU: make the LRs hold the
 * vGIC state. Active interrupts first, then pending, enabled ones whose
 * group is enabled in GICD_CTLR, highest priority (lowest value) first,
 * ties by lowest INTID. Other LRs are invalid. An LR that already holds
 * the wanted value is not written again. ICH_HCR_EL2: En set; UIE (and
 * NPIE when a listed interrupt is pending) set when more were deliverable
 * than LRs, so a maintenance interrupt makes keel refill.
 */
void vgic_flush_lrs(struct vcpu *vcpu);

/**
 * After the guest exits, on the vCPU's pCPU: fold the LRs written by the
 * last flush back into the vGIC state (an invalid LR = handled; pending /
 * active state as the guest left it) and clear UIE/NPIE. The LRs keep their
 * content until the next flush or vgic_vcpu_put.
 */
void vgic_sync_lrs(struct vcpu *vcpu);

/** For WFI: is an enabled interrupt pending for this vCPU (its group enabled in GICD_CTLR)? */
bool vgic_vcpu_has_pending(struct vcpu *vcpu);

/**
 * A guest write of icc_sgi1r to ICC_SGI1R_EL1 (trapped): make SGI INTID
 * pending on the target list (Aff3.Aff2.Aff1, RS, TargetList) or, with IRM,
 * on every other vCPU of the VM. Targets that do not exist are ignored.
 * Returns the number of vCPUs it was made pending on.
 */
int vgic_sgi(struct vcpu *src, uint64_t icc_sgi1r);

/**
 * Make SGI intid (0..15) pending on each vCPU in mask (bit n = vCPU n);
 * bits for vCPUs the VM lacks are ignored. Lock NOT held. Returns how many.
 */
int vgic_sgi_mask(struct vcpu *src, uint32_t intid, uint32_t mask);

/* --- Internal: shared by core/vgic.c and the register models (core/vgic_v3.c, vgic_v2.c) only. --- */

/**
 * v3: vCPU index whose MPIDR affinity equals route (Aff3.Aff2.Aff1.Aff0);
 * v2: the lowest vCPU in the ITARGETSR mask route. VGIC_NO_VCPU when none.
 */
uint8_t vgic_route_to_vcpu(const struct vm *vm, uint64_t route);
/** The interrupt intid as vcpu sees it (private to vcpu, or an SPI), or NULL. Lock held. */
struct vgic_irq *vgic_get_irq(struct vm *vm, struct vcpu *vcpu, uint32_t intid);
/**
 * irq (one of vm's) may now be active or pending: call after setting active, pending_latch or
 * line_level, or the list-register flush will not look at it. Lock held.
 */
void vgic_note(struct vm *vm, const struct vgic_irq *irq);
/** Pending: latched, or a level-configured line that is high. */
bool vgic_irq_pending(const struct vgic_irq *irq);
/** The vCPU an interrupt is delivered to now, or VGIC_NO_VCPU. Lock held. */
uint8_t vgic_irq_target(const struct vgic_irq *irq, const struct vcpu *private_owner);
/** A hw interrupt lost its pending and active state outside an LR: queue its physical deactivation. */
void vgic_irq_check_hw(struct vcpu *vcpu, struct vgic_irq *irq);
/** Call the kick hook for each vCPU in mask except self (which may be NULL). Lock NOT held. */
void vgic_kick_mask(struct vm *vm, uint32_t mask, const struct vcpu *self);
/** The MMIO callbacks (dev = struct vm *). */
int vgic_gicd_read(void *dev, struct vcpu *vcpu, struct mmio_access *acc);
int vgic_gicd_write(void *dev, struct vcpu *vcpu, struct mmio_access *acc);
int vgic_gicr_read(void *dev, struct vcpu *vcpu, struct mmio_access *acc);
int vgic_gicr_write(void *dev, struct vcpu *vcpu, struct mmio_access *acc);
int vgic_v2_gicd_access(void *dev, struct vcpu *vcpu, struct mmio_access *acc);

#endif
