/* ESR_ELx syndrome decoding (Arm ARM D17.2.37). */
#ifndef KEEL_ARCH_ESR_H
#define KEEL_ARCH_ESR_H

#include "keel/types.h"

#define ESR_EC(esr)  (((esr) >> 26) & 0x3f)
#define ESR_IL	     (1ULL << 25)
#define ESR_ISS(esr) ((esr)&0x1ffffff)

#define EC_UNKNOWN  0x00
#define EC_WFX	    0x01
#define EC_FP	    0x07
#define EC_HVC64    0x16
#define EC_SMC64    0x17
#define EC_SYSREG   0x18
#define EC_SVE	    0x19
#define EC_IABT_LOW 0x20
#define EC_IABT_CUR 0x21
#define EC_DABT_LOW 0x24
#define EC_DABT_CUR 0x25
#define EC_SERROR   0x2f

/* Data abort ISS */
#define DABT_ISV       (1u << 24)
#define DABT_SAS(iss)  (((iss) >> 22) & 3)
#define DABT_SSE       (1u << 21)
#define DABT_SRT(iss)  (((iss) >> 16) & 0x1f)
#define DABT_SF	       (1u << 15)
#define DABT_S1PTW     (1u << 7)
#define DABT_WNR       (1u << 6)
#define DFSC_SEA       0x10 /* synchronous external abort */
#define DABT_DFSC(iss) ((iss)&0x3f)
#define DFSC_PERM(fsc) (((fsc)&0x3c) == 0x0c) /* permission fault, any level */

/* Trapped system register ISS (EC 0x18) */
#define SYSREG_ISS_READ	    (1u << 0)
#define SYSREG_ISS_RT(iss)  (((iss) >> 5) & 0x1f)
#define SYSREG_ISS_CRM(iss) (((iss) >> 1) & 0xf)
#define SYSREG_ISS_OP2(iss) (((iss) >> 17) & 7)
#define SYSREG_ISS_ENC(iss) ((iss)&0x3ffc1e) /* Op0, Op2, Op1, CRn, CRm */
#define SYSREG_ISS(op0, op1, crn, crm, op2)                                                                  \
	(((op0) << 20) | ((op2) << 17) | ((op1) << 14) | ((crn) << 10) | ((crm) << 1))
#define ISS_ICC_SGI1R_EL1 SYSREG_ISS(3, 0, 12, 11, 5)

#define HPFAR_IPA(hpfar, far) ((((hpfar) >> 4) & 0xffffffffffULL) << 12 | ((far)&0xfff))

/**
 * Whether HPFAR_EL2 holds a stage-2 data abort's IPA. The Arm ARM (D17.2.61) writes it for
 * translation, access-flag and address-size faults and for any fault on a stage-1 table walk; for a
 * stage-2 permission fault on the access itself it is UNKNOWN (a store to a read-only page: a ROM, a
 * register shadow page). Then the IPA comes from translating FAR_EL2 by the guest's stage 1 (AT).
 */
static inline bool dabt_hpfar_valid(uint32_t iss)
{
	return (iss & DABT_S1PTW) || !DFSC_PERM(DABT_DFSC(iss));
}

/* PAR_EL1 after an AT instruction: F (bit 0) set = the walk failed; else PA[47:12] is the output. */
#define PAR_F		 (1ULL << 0)
#define PAR_IPA(par, va) (((par)&0x0000fffffffff000ULL) | ((va)&0xfff))

#endif
