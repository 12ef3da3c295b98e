/*
 * A vCPU's register context as the EL2 entry/exit code saves it. Offsets are
 * used by arch/arm64/guest.S; keep the VCPU_CTX_* constants in step
 * (checked by static asserts in arch/arm64/vcpu_ctx.c).
 */
#ifndef KEEL_ARCH_VCPU_CTX_H
#define KEEL_ARCH_VCPU_CTX_H

#define VCPU_CTX_X		0   /* x0..x30 */
#define VCPU_CTX_PC		248 /* ELR_EL2 */
#define VCPU_CTX_PSTATE		256 /* SPSR_EL2 */
#define VCPU_CTX_TPIDR_EL0	264
#define VCPU_CTX_ESR		272
#define VCPU_CTX_FAR		280
#define VCPU_CTX_HPFAR		288
#define VCPU_CTX_FPSR		296
#define VCPU_CTX_FPCR		304
#define VCPU_CTX_HOST_TPIDR_EL0 312
#define VCPU_CTX_HOST		320 /* x19..x30, sp: 13 words */
#define VCPU_CTX_FP		432 /* q0..q31, 16-byte aligned */
#define VCPU_CTX_SIZE		(432 + 512)

#ifndef __ASSEMBLY__
#include <stdint.h>

/** EL1 system registers: live in hardware while the vCPU owns its pCPU; saved when it leaves. */
struct arch_sysregs {
	uint64_t sctlr_el1, ttbr0_el1, ttbr1_el1, tcr_el1, mair_el1, amair_el1, vbar_el1;
	uint64_t contextidr_el1, cpacr_el1, esr_el1, far_el1, afsr0_el1, afsr1_el1, par_el1;
	uint64_t elr_el1, spsr_el1, sp_el0, sp_el1, tpidrro_el0, tpidr_el1, cntkctl_el1;
	uint64_t csselr_el1, mdscr_el1, cntv_ctl_el0, cntv_cval_el0;
	uint64_t gic_vmcr, gic_apr; /* the virtual CPU interface (arch/gic.h) */
};

struct arch_vcpu_ctx {
	uint64_t x[31];
	uint64_t pc;
	uint64_t pstate;
	uint64_t tpidr_el0;
	uint64_t esr, far, hpfar;
	uint64_t fpsr, fpcr;
	uint64_t host_tpidr_el0;
	uint64_t host[14];
	__uint128_t q[32] __attribute__((aligned(16)));
	struct arch_sysregs sys;
};

/** Exception class the guest left through. */
enum arch_exit_kind { EXIT_SYNC = 0, EXIT_IRQ = 1, EXIT_FIQ = 2, EXIT_SERROR = 3 };

/** Run the guest until its next exit; returns the exit kind. */
enum arch_exit_kind arch_vcpu_enter(struct arch_vcpu_ctx *ctx);
/** Save / load EL1 system registers when a vCPU leaves / takes a pCPU. */
void arch_sysregs_save(struct arch_sysregs *s);
void arch_sysregs_load(const struct arch_sysregs *s);
/** Initial guest state: EL1h, DAIF masked, MMU off, x0 = arg. */
void arch_vcpu_ctx_reset(struct arch_vcpu_ctx *ctx, uint64_t pc, uint64_t x0);

#endif
#endif
