/* EL2 configuration of a physical CPU for running guests. */
#ifndef KEEL_ARCH_EL2_H
#define KEEL_ARCH_EL2_H

#include "arch/vcpu_ctx.h"
#include "keel/types.h"

/** Trap controls (HCR_EL2, CPTR_EL2, CNTHCTL_EL2, ...) for guests on this CPU. */
void el2_setup_cpu(void);
/** Set the virtual MPIDR the vCPU on this CPU reads. */
void el2_set_vmpidr(uint64_t vmpidr);
/**
 * Deliver a synchronous exception to the guest's EL1 (the vCPU's EL1 state
 * is live in hardware): ESR_EL1/FAR_EL1/ELR_EL1/SPSR_EL1, the vector PC and
 * PSTATE as the Arm ARM's exception entry sets them (arch/exc_entry.h).
 */
void el2_inject_sync(struct arch_vcpu_ctx *ctx, uint64_t esr, uint64_t far);
/** Build the ESR for an external data abort as seen by the guest. */
uint64_t el2_guest_dabt_esr(const struct arch_vcpu_ctx *ctx, bool write);
/** Build the ESR for an external instruction abort: EC 0x20 from EL0, 0x21 from EL1. */
uint64_t el2_guest_iabt_esr(const struct arch_vcpu_ctx *ctx);
/** An "unknown reason" (undefined instruction) ESR. */
uint64_t el2_guest_undef_esr(void);
/** Sleep until a physical interrupt is pending (guest WFI). */
void el2_wait_for_interrupt(void);
/**
 * Translate a guest virtual address by the guest's stage 1 (AT S1E1R, its EL1 registers loaded on
 * this CPU) into *ipa; false when the walk fails (the guest changed its tables: retry the access).
 * The guest's PAR_EL1 is preserved.
 */
bool el2_guest_va_to_ipa(uint64_t va, uint64_t *ipa);
/** Call the firmware's PSCI (smc or hvc conduit). */
int64_t el2_psci_call(bool smc, uint64_t fid, uint64_t a1, uint64_t a2, uint64_t a3);

#endif
