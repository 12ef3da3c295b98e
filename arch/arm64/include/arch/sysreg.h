/*
 * System-register accessors: one SYSREG_* line per register generates
 * read_<reg>() / write_<reg>(v). Code never writes mrs/msr inline elsewhere.
 */
#ifndef KEEL_ARCH_SYSREG_H
#define KEEL_ARCH_SYSREG_H

#include <stdbool.h>
#include <stdint.h>

#define __SYSREG_READ(name, enc)                                                                             \
	static inline uint64_t read_##name(void)                                                             \
	{                                                                                                    \
		uint64_t v;                                                                                  \
		__asm__ volatile("mrs %0, " enc : "=r"(v));                                                  \
		return v;                                                                                    \
	}
#define __SYSREG_WRITE(name, enc)                                                                            \
	static inline void write_##name(uint64_t v)                                                          \
	{                                                                                                    \
		__asm__ volatile("msr " enc ", %0" ::"r"(v) : "memory");                                     \
	}
#define SYSREG_RW(name) __SYSREG_READ(name, #name) __SYSREG_WRITE(name, #name)
#define SYSREG_RO(name) __SYSREG_READ(name, #name)
#define SYSREG_WO(name) __SYSREG_WRITE(name, #name)
/* Registers the assembler may not know by name: generic encoding. */
#define SYSREG_RW_ENC(name, enc) __SYSREG_READ(name, enc) __SYSREG_WRITE(name, enc)

/* Identification and EL2 control */
SYSREG_RO(currentel)
SYSREG_RO(mpidr_el1)
SYSREG_RO(midr_el1)
SYSREG_RO(id_aa64mmfr0_el1)
SYSREG_RO(id_aa64pfr0_el1)
SYSREG_RO(id_aa64pfr1_el1)
SYSREG_RO(id_aa64mmfr1_el1)
SYSREG_RO(id_aa64isar0_el1)
SYSREG_RO(isr_el1)
SYSREG_RW_ENC(hcrx_el2, "S3_4_C1_C2_2")

/*
 * The ID register space a guest's reads of which HCR_EL2.TID3 traps (op0 3, op1 0, CRn 0, CRm 1..7),
 * read by index ID_REG(crm, op2) (arch/id_regs.h); unallocated encodings there read as zero.
 */
#define __ID_CASE(crm, op2)                                                                                  \
	case (crm)*8 + (op2):                                                                                \
		__asm__ volatile("mrs %0, S3_0_C0_C" #crm "_" #op2 : "=r"(v));                               \
		break;
#define __ID_ROW(crm)                                                                                        \
	__ID_CASE(crm, 0)                                                                                    \
	__ID_CASE(crm, 1)                                                                                    \
	__ID_CASE(crm, 2)                                                                                    \
	__ID_CASE(crm, 3)                                                                                    \
	__ID_CASE(crm, 4)                                                                                    \
	__ID_CASE(crm, 5)                                                                                    \
	__ID_CASE(crm, 6)                                                                                    \
	__ID_CASE(crm, 7)
static inline uint64_t read_id_reg(unsigned reg)
{
	uint64_t v = 0;
	switch (reg) {
		__ID_ROW(1)
		__ID_ROW(2)
		__ID_ROW(3)
		__ID_ROW(4)
		__ID_ROW(5)
		__ID_ROW(6)
		__ID_ROW(7)
	default:
		break;
	}
	return v;
}
SYSREG_RW(hcr_el2)
SYSREG_RW(sctlr_el2)
SYSREG_RW(tcr_el2)
SYSREG_RW(mair_el2)
SYSREG_RW(ttbr0_el2)
SYSREG_RW(vbar_el2)
SYSREG_RW(cptr_el2)
SYSREG_RW(mdcr_el2)
SYSREG_RW(vtcr_el2)
SYSREG_RW(vttbr_el2)
SYSREG_RW(vpidr_el2)
SYSREG_RW(vmpidr_el2)
SYSREG_RW(tpidr_el2)
SYSREG_RW(esr_el2)
SYSREG_RW(far_el2)
SYSREG_RW(hpfar_el2)
SYSREG_RW(elr_el2)
SYSREG_RW(spsr_el2)
SYSREG_RW(cnthctl_el2)
SYSREG_RW(cntvoff_el2)
SYSREG_RW(cnthp_ctl_el2)
SYSREG_RW(cnthp_tval_el2)
SYSREG_RW(cnthp_cval_el2)

/* Guest EL1/EL0 state (saved/restored on vCPU switch) */
SYSREG_RW(sctlr_el1)
SYSREG_RW(ttbr0_el1)
SYSREG_RW(ttbr1_el1)
SYSREG_RW(tcr_el1)
SYSREG_RW(mair_el1)
SYSREG_RW(amair_el1)
SYSREG_RW(vbar_el1)
SYSREG_RW(contextidr_el1)
SYSREG_RW(cpacr_el1)
SYSREG_RW(esr_el1)
SYSREG_RW(far_el1)
SYSREG_RW(afsr0_el1)
SYSREG_RW(afsr1_el1)
SYSREG_RW(par_el1)
SYSREG_RW(elr_el1)
SYSREG_RW(spsr_el1)
SYSREG_RW(sp_el0)
SYSREG_RW(sp_el1)
SYSREG_RW(tpidr_el0)
SYSREG_RW(tpidrro_el0)
SYSREG_RW(tpidr_el1)
SYSREG_RW(cntkctl_el1)
SYSREG_RW(csselr_el1)
SYSREG_RW(mdscr_el1)

/* Timers */
SYSREG_RO(cntfrq_el0)
SYSREG_RO(cntpct_el0)
SYSREG_RO(cntvct_el0)
SYSREG_RW(cntv_ctl_el0)
SYSREG_RW(cntv_cval_el0)

/* GICv3 CPU interface (physical, used at EL2) */
SYSREG_RW_ENC(icc_sre_el2, "S3_4_C12_C9_5")
SYSREG_RW_ENC(icc_sre_el1, "S3_0_C12_C12_5")
SYSREG_RW_ENC(icc_ctlr_el1, "S3_0_C12_C12_4")
SYSREG_RW_ENC(icc_pmr_el1, "S3_0_C4_C6_0")
SYSREG_RW_ENC(icc_igrpen1_el1, "S3_0_C12_C12_7")
SYSREG_RW_ENC(icc_iar1_el1, "S3_0_C12_C12_0")
SYSREG_RW_ENC(icc_eoir1_el1, "S3_0_C12_C12_1")
SYSREG_RW_ENC(icc_dir_el1, "S3_0_C12_C11_1")
SYSREG_RW_ENC(icc_sgi1r_el1, "S3_0_C12_C11_5")
SYSREG_RW_ENC(icc_bpr1_el1, "S3_0_C12_C12_3")

/* GICv3 virtualization control */
SYSREG_RW_ENC(ich_hcr_el2, "S3_4_C12_C11_0")
SYSREG_RW_ENC(ich_vtr_el2, "S3_4_C12_C11_1")
SYSREG_RW_ENC(ich_misr_el2, "S3_4_C12_C11_2")
SYSREG_RW_ENC(ich_eisr_el2, "S3_4_C12_C11_3")
SYSREG_RW_ENC(ich_elrsr_el2, "S3_4_C12_C11_5")
SYSREG_RW_ENC(ich_vmcr_el2, "S3_4_C12_C11_7")
SYSREG_RW_ENC(ich_ap0r0_el2, "S3_4_C12_C8_0")
SYSREG_RW_ENC(ich_ap1r0_el2, "S3_4_C12_C9_0")
SYSREG_RW_ENC(ich_lr0_el2, "S3_4_C12_C12_0")
SYSREG_RW_ENC(ich_lr1_el2, "S3_4_C12_C12_1")
SYSREG_RW_ENC(ich_lr2_el2, "S3_4_C12_C12_2")
SYSREG_RW_ENC(ich_lr3_el2, "S3_4_C12_C12_3")
SYSREG_RW_ENC(ich_lr4_el2, "S3_4_C12_C12_4")
SYSREG_RW_ENC(ich_lr5_el2, "S3_4_C12_C12_5")
SYSREG_RW_ENC(ich_lr6_el2, "S3_4_C12_C12_6")
SYSREG_RW_ENC(ich_lr7_el2, "S3_4_C12_C12_7")
SYSREG_RW_ENC(ich_lr8_el2, "S3_4_C12_C13_0")
SYSREG_RW_ENC(ich_lr9_el2, "S3_4_C12_C13_1")
SYSREG_RW_ENC(ich_lr10_el2, "S3_4_C12_C13_2")
SYSREG_RW_ENC(ich_lr11_el2, "S3_4_C12_C13_3")
SYSREG_RW_ENC(ich_lr12_el2, "S3_4_C12_C13_4")
SYSREG_RW_ENC(ich_lr13_el2, "S3_4_C12_C13_5")
SYSREG_RW_ENC(ich_lr14_el2, "S3_4_C12_C13_6")
SYSREG_RW_ENC(ich_lr15_el2, "S3_4_C12_C13_7")

/* RNDRRS (FEAT_RNG) sets NZCV as well as the value: 0b0000 on success, Z when it has none now. */
static inline bool read_rndrrs(uint64_t *v)
{
	uint64_t ok;
	__asm__ volatile("mrs %0, S3_3_C2_C4_1\n cset %1, ne" : "=r"(*v), "=r"(ok) : : "cc");
	return ok != 0;
}

#endif
