/* EL2 trap setup, exception injection into EL1 and firmware calls. */
#include "arch/el2.h"

#include "arch/esr.h"
#include "arch/exc_entry.h"
#include "arch/sysreg.h"

#define HCR_VM	      (1ULL << 0)
#define HCR_SWIO      (1ULL << 1)
#define HCR_FMO	      (1ULL << 3)
#define HCR_IMO	      (1ULL << 4)
#define HCR_AMO	      (1ULL << 5)
#define HCR_FB	      (1ULL << 9)
#define HCR_BSU_INNER (1ULL << 10)
#define HCR_TWI	      (1ULL << 13)
#define HCR_TID3      (1ULL << 18)
#define HCR_TSC	      (1ULL << 19)
#define HCR_RW	      (1ULL << 31)
#define HCR_APK	      (1ULL << 40)
#define HCR_API	      (1ULL << 41)

#define HCRX_MSCEN    (1ULL << 11)
#define HCRX_TCR2EN   (1ULL << 14)
#define HCRX_SCTLR2EN (1ULL << 15)
#define HCRX_ENFPM    (1ULL << 23)

#define CPTR_EL2_RES1	 0x000032ffULL
#define CPTR_EL2_TZ	 (1ULL << 8) /* trap SVE (hidden from guests): keel saves only the 128-bit V registers */
#define CNTHCTL_EL1PCTEN (1ULL << 0)

/* Optional PSTATE features, read once from the ID registers (every CPU is alike). */
static struct exc_features exc_features;

void el2_setup_cpu(void)
{
	/*
	 * WFI is trapped: it tells keel that the guest is idle, the moment to deliver the interrupts a
	 * device held back while the guest was busy (core/vm.h, vm_defer_work). keel then waits in its
	 * own WFI. WFE (spin locks) is not trapped.
	 */
	/* TID3: the guest reads its ID registers through keel, which hides SVE and SME (arch/id_regs.h). */
	write_hcr_el2(HCR_TWI | HCR_VM | HCR_SWIO | HCR_FMO | HCR_IMO | HCR_AMO | HCR_FB | HCR_BSU_INNER |
		      HCR_TID3 | HCR_TSC | HCR_RW | HCR_APK | HCR_API);
	write_cptr_el2(CPTR_EL2_RES1 | CPTR_EL2_TZ);
	write_mdcr_el2(0);
	/* Guests may read the physical counter; the physical timer traps (Linux uses the virtual one). */
	write_cnthctl_el2(CNTHCTL_EL1PCTEN);
	write_cntvoff_el2(0);
	write_vpidr_el2(read_midr_el1());
	/*
	 * FEAT_HCX: HCRX_EL2 resets to 0, which makes features the guest sees in its
	 * ID registers UNDEFINED (e.g. FEAT_MOPS memcpy instructions at EL0).
	 * Enable them: their state is EL1/EL0 state keel never touches.
	 */
	if (((read_id_aa64mmfr1_el1() >> 40) & 0xf) != 0)
		write_hcrx_el2(HCRX_MSCEN | HCRX_TCR2EN | HCRX_SCTLR2EN | HCRX_ENFPM);
	__asm__ volatile("isb");

	uint64_t pfr1 = read_id_aa64pfr1_el1();
	exc_features = (struct exc_features){
	    .pan = ((read_id_aa64mmfr1_el1() >> 20) & 0xf) != 0,
	    .ssbs = ((pfr1 >> 4) & 0xf) != 0,
	    .mte = ((pfr1 >> 8) & 0xf) >= 2,
	    .nmi = ((pfr1 >> 36) & 0xf) != 0,
	};
}

void el2_set_vmpidr(uint64_t vmpidr)
{
	write_vmpidr_el2((1ULL << 31) | vmpidr);
}

void el2_inject_sync(struct arch_vcpu_ctx *ctx, uint64_t esr, uint64_t far)
{
	write_esr_el1(esr);
	write_far_el1(far);
	write_elr_el1(ctx->pc);
	write_spsr_el1(ctx->pstate);
	uint64_t vector = read_vbar_el1() + exc_el1_sync_vector(ctx->pstate);
	ctx->pstate = exc_el1_entry_pstate(ctx->pstate, read_sctlr_el1(), &exc_features);
	ctx->pc = vector;
}

uint64_t el2_guest_dabt_esr(const struct arch_vcpu_ctx *ctx, bool write)
{
	uint64_t ec = exc_from_el0(ctx->pstate) ? EC_DABT_LOW : EC_DABT_CUR;
	return (ec << 26) | ESR_IL | (write ? DABT_WNR : 0) | DFSC_SEA;
}

uint64_t el2_guest_iabt_esr(const struct arch_vcpu_ctx *ctx)
{
	uint64_t ec = exc_from_el0(ctx->pstate) ? EC_IABT_LOW : EC_IABT_CUR;
	return (ec << 26) | ESR_IL | DFSC_SEA;
}

uint64_t el2_guest_undef_esr(void)
{
	return ((uint64_t)EC_UNKNOWN << 26) | ESR_IL;
}

void el2_wait_for_interrupt(void)
{
	__asm__ volatile("dsb sy\n wfi" ::: "memory");
}

bool el2_guest_va_to_ipa(uint64_t va, uint64_t *ipa)
{
	uint64_t saved = read_par_el1(), par;
	__asm__ volatile("at s1e1r, %0\n isb" ::"r"(va) : "memory");
	par = read_par_el1();
	write_par_el1(saved);
	if (par & PAR_F)
		return false;
	*ipa = PAR_IPA(par, va);
	return true;
}

int64_t el2_psci_call(bool smc, uint64_t fid, uint64_t a1, uint64_t a2, uint64_t a3)
{
	register uint64_t x0 __asm__("x0") = fid;
	register uint64_t x1 __asm__("x1") = a1;
	register uint64_t x2 __asm__("x2") = a2;
	register uint64_t x3 __asm__("x3") = a3;
	if (smc)
		__asm__ volatile("smc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3)::"memory");
	else
		__asm__ volatile("hvc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3)::"memory");
	return (int64_t)x0;
}
