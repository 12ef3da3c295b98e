/*
 * The ID registers a guest reads (Arm ARM D23.3, "ID register space": op0 3, op1 0, CRn 0, CRm 1..7).
 * HCR_EL2.TID3 traps a guest's reads of that whole space to keel, which answers with the
 * hardware's value less the features keel does not virtualize: SVE and SME (keel saves only the
 * 128-bit V registers, so a guest that saw them would fault on its first use). Pure functions of
 * the encoding and the hardware value: host-testable.
 */
#ifndef KEEL_ARCH_ID_REGS_H
#define KEEL_ARCH_ID_REGS_H

#include "keel/types.h"

/** An ID register by CRm (1..7) and op2 (0..7): the index of its read accessor (sysreg.h). */
#define ID_REG(crm, op2) ((unsigned)(crm)*8u + (unsigned)(op2))
#define ID_AA64PFR0	 ID_REG(4, 0)
#define ID_AA64PFR1	 ID_REG(4, 1)
#define ID_AA64ZFR0	 ID_REG(4, 4)
#define ID_AA64SMFR0	 ID_REG(4, 5)

#define ID_AA64PFR0_SVE (0xfULL << 32)
#define ID_AA64PFR1_SME (0xfULL << 24)

/**
 * Whether a trapped system-register access (EC 0x18 ISS) is a read in the space TID3 traps; if so,
 * *reg is its ID_REG index.
 */
bool id_reg_trapped_read(uint32_t iss, unsigned *reg);

/** What a guest reads from ID register reg when the hardware holds hw. */
uint64_t id_reg_guest_value(unsigned reg, uint64_t hw);

/** Whether the guest's view of reg differs from hw (a feature is hidden): for the boot report. */
static inline bool id_reg_hides(unsigned reg, uint64_t hw)
{
	return id_reg_guest_value(reg, hw) != hw;
}

#endif
