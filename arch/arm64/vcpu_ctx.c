/* vCPU context helpers: EL1 system-register save/load and reset state. */
#include "arch/vcpu_ctx.h"

#include <stddef.h>
#include <string.h>

#include "arch/gic.h"
#include "arch/sysreg.h"

_Static_assert(offsetof(struct arch_vcpu_ctx, pc) == VCPU_CTX_PC, "pc");
_Static_assert(offsetof(struct arch_vcpu_ctx, pstate) == VCPU_CTX_PSTATE, "pstate");
_Static_assert(offsetof(struct arch_vcpu_ctx, tpidr_el0) == VCPU_CTX_TPIDR_EL0, "tpidr");
_Static_assert(offsetof(struct arch_vcpu_ctx, esr) == VCPU_CTX_ESR, "esr");
_Static_assert(offsetof(struct arch_vcpu_ctx, far) == VCPU_CTX_FAR, "far");
_Static_assert(offsetof(struct arch_vcpu_ctx, hpfar) == VCPU_CTX_HPFAR, "hpfar");
_Static_assert(offsetof(struct arch_vcpu_ctx, fpsr) == VCPU_CTX_FPSR, "fpsr");
_Static_assert(offsetof(struct arch_vcpu_ctx, host_tpidr_el0) == VCPU_CTX_HOST_TPIDR_EL0, "htpidr");
_Static_assert(offsetof(struct arch_vcpu_ctx, host) == VCPU_CTX_HOST, "host");
_Static_assert(offsetof(struct arch_vcpu_ctx, q) == VCPU_CTX_FP, "fp");

#define PSTATE_EL1H 0x5
#define PSTATE_DAIF (0xfULL << 6)

void arch_vcpu_ctx_reset(struct arch_vcpu_ctx *ctx, uint64_t pc, uint64_t x0)
{
	memset(ctx, 0, offsetof(struct arch_vcpu_ctx, host));
	memset(ctx->q, 0, sizeof(ctx->q));
	memset(&ctx->sys, 0, sizeof(ctx->sys));
	ctx->x[0] = x0;
	ctx->pc = pc;
	ctx->pstate = PSTATE_EL1H | PSTATE_DAIF;
	/* SCTLR_EL1 reset: MMU and caches off, RES1 bits set. */
	ctx->sys.sctlr_el1 = 0x30d00800ULL;
}

void arch_sysregs_save(struct arch_sysregs *s)
{
	s->sctlr_el1 = read_sctlr_el1();
	s->ttbr0_el1 = read_ttbr0_el1();
	s->ttbr1_el1 = read_ttbr1_el1();
	s->tcr_el1 = read_tcr_el1();
	s->mair_el1 = read_mair_el1();
	s->amair_el1 = read_amair_el1();
	s->vbar_el1 = read_vbar_el1();
	s->contextidr_el1 = read_contextidr_el1();
	s->cpacr_el1 = read_cpacr_el1();
	s->esr_el1 = read_esr_el1();
	s->far_el1 = read_far_el1();
	s->afsr0_el1 = read_afsr0_el1();
	s->afsr1_el1 = read_afsr1_el1();
	s->par_el1 = read_par_el1();
	s->elr_el1 = read_elr_el1();
	s->spsr_el1 = read_spsr_el1();
	s->sp_el0 = read_sp_el0();
	s->sp_el1 = read_sp_el1();
	s->tpidrro_el0 = read_tpidrro_el0();
	s->tpidr_el1 = read_tpidr_el1();
	s->cntkctl_el1 = read_cntkctl_el1();
	s->csselr_el1 = read_csselr_el1();
	s->mdscr_el1 = read_mdscr_el1();
	s->cntv_ctl_el0 = read_cntv_ctl_el0();
	s->cntv_cval_el0 = read_cntv_cval_el0();
	gic_vcpu_save(&s->gic_vmcr, &s->gic_apr);
}

void arch_sysregs_load(const struct arch_sysregs *s)
{
	write_sctlr_el1(s->sctlr_el1);
	write_ttbr0_el1(s->ttbr0_el1);
	write_ttbr1_el1(s->ttbr1_el1);
	write_tcr_el1(s->tcr_el1);
	write_mair_el1(s->mair_el1);
	write_amair_el1(s->amair_el1);
	write_vbar_el1(s->vbar_el1);
	write_contextidr_el1(s->contextidr_el1);
	write_cpacr_el1(s->cpacr_el1);
	write_esr_el1(s->esr_el1);
	write_far_el1(s->far_el1);
	write_afsr0_el1(s->afsr0_el1);
	write_afsr1_el1(s->afsr1_el1);
	write_par_el1(s->par_el1);
	write_elr_el1(s->elr_el1);
	write_spsr_el1(s->spsr_el1);
	write_sp_el0(s->sp_el0);
	write_sp_el1(s->sp_el1);
	write_tpidrro_el0(s->tpidrro_el0);
	write_tpidr_el1(s->tpidr_el1);
	write_cntkctl_el1(s->cntkctl_el1);
	write_csselr_el1(s->csselr_el1);
	write_mdscr_el1(s->mdscr_el1);
	write_cntv_cval_el0(s->cntv_cval_el0);
	write_cntv_ctl_el0(s->cntv_ctl_el0);
	gic_vcpu_restore(s->gic_vmcr, s->gic_apr);
	__asm__ volatile("isb" ::: "memory");
}
