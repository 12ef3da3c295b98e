/*
 * Exception entry to EL1 as the Arm ARM describes it (D1.3.2 "Exception entry"; PSTATE fields in
 * C5.2.19 SPSR_EL1), for exceptions keel injects into a guest. Pure functions of the interrupted
 * PSTATE (as SPSR_EL2 captured it), SCTLR_EL1 and the features the CPU implements: host-testable.
 */
#ifndef KEEL_ARCH_EXC_ENTRY_H
#define KEEL_ARCH_EXC_ENTRY_H

#include "keel/types.h"

/* PSTATE / SPSR_ELx fields (AArch64 format). */
#define PSTATE_M_MASK 0xfULL	  /**< M[3:0]: EL and SP selection */
#define PSTATE_M_EL1T 0x4ULL	  /**< EL1 with SP_EL0 */
#define PSTATE_M_EL1H 0x5ULL	  /**< EL1 with SP_EL1 */
#define PSTATE_NRW    (1ULL << 4) /**< M[4]: the interrupted state was AArch32 */
#define PSTATE_F      (1ULL << 6)
#define PSTATE_I      (1ULL << 7)
#define PSTATE_A      (1ULL << 8)
#define PSTATE_D      (1ULL << 9)
#define PSTATE_DAIF   (PSTATE_D | PSTATE_A | PSTATE_I | PSTATE_F)
#define PSTATE_BTYPE  (3ULL << 10) /**< FEAT_BTI */
#define PSTATE_SSBS   (1ULL << 12) /**< FEAT_SSBS */
#define PSTATE_ALLINT (1ULL << 13) /**< FEAT_NMI */
#define PSTATE_IL     (1ULL << 20)
#define PSTATE_SS     (1ULL << 21)
#define PSTATE_PAN    (1ULL << 22) /**< FEAT_PAN */
#define PSTATE_UAO    (1ULL << 23) /**< FEAT_UAO */
#define PSTATE_TCO    (1ULL << 25) /**< FEAT_MTE */

/* SCTLR_EL1 fields that decide PSTATE on entry. */
#define SCTLR_SPAN	(1ULL << 23)
#define SCTLR_DSSBS	(1ULL << 44)
#define SCTLR_NMI	(1ULL << 61)
#define SCTLR_SPINTMASK (1ULL << 62)

/** Which optional PSTATE features the CPU implements (from its ID registers). */
struct exc_features {
	bool pan;  /**< ID_AA64MMFR1_EL1.PAN != 0 */
	bool ssbs; /**< ID_AA64PFR1_EL1.SSBS != 0 */
	bool mte;  /**< ID_AA64PFR1_EL1.MTE >= 2 (PSTATE.TCO) */
	bool nmi;  /**< ID_AA64PFR1_EL1.NMI != 0 */
};

/** True when pstate (an SPSR) describes EL0, AArch64 or AArch32 (keel runs EL1 in AArch64 only). */
bool exc_from_el0(uint64_t pstate);

/**
 * Offset from VBAR_EL1 of the synchronous-exception vector for an exception taken to EL1 from
 * pstate: 0x000 (EL1, SP_EL0), 0x200 (EL1, SP_EL1), 0x400 (EL0 in AArch64), 0x600 (EL0 in AArch32).
 */
uint64_t exc_el1_sync_vector(uint64_t pstate);

/**
 * PSTATE on entry to EL1 (SP_EL1) from pstate: D, A, I, F set; SS, IL, BTYPE, UAO, NZCV and the
 * rest cleared; PAN kept, and set when SCTLR_EL1.SPAN is 0; SSBS = SCTLR_EL1.DSSBS; TCO set;
 * ALLINT = NOT SCTLR_EL1.SPINTMASK when SCTLR_EL1.NMI is set. Each only where the CPU implements it.
 */
uint64_t exc_el1_entry_pstate(uint64_t pstate, uint64_t sctlr_el1, const struct exc_features *f);

#endif
