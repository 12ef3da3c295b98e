/* Exception entry to EL1 (see arch/exc_entry.h): pure, shared by el2.c and the host tests. */
#include "arch/exc_entry.h"

bool exc_from_el0(uint64_t pstate)
{
	if (pstate & PSTATE_NRW)
		return true;	       /* HCR_EL2.RW=1: EL1 is AArch64, so an AArch32 state is EL0 */
	return (pstate & 0xcULL) == 0; /* M[3:2] = EL */
}

uint64_t exc_el1_sync_vector(uint64_t pstate)
{
	if (exc_from_el0(pstate))
		return (pstate & PSTATE_NRW) ? 0x600 : 0x400;
	return (pstate & PSTATE_M_MASK) == PSTATE_M_EL1H ? 0x200 : 0x000;
}

uint64_t exc_el1_entry_pstate(uint64_t pstate, uint64_t sctlr_el1, const struct exc_features *f)
{
	uint64_t n = PSTATE_M_EL1H | PSTATE_DAIF;

	if (f->pan) {
		/* Unchanged (bit 22 is PAN in both SPSR formats), but set when SCTLR_EL1.SPAN is 0. */
		n |= pstate & PSTATE_PAN;
		if (!(sctlr_el1 & SCTLR_SPAN))
			n |= PSTATE_PAN;
	}
	if (f->ssbs && (sctlr_el1 & SCTLR_DSSBS))
		n |= PSTATE_SSBS;
	if (f->mte)
		n |= PSTATE_TCO;
	if (f->nmi && (sctlr_el1 & SCTLR_NMI) && !(sctlr_el1 & SCTLR_SPINTMASK))
		n |= PSTATE_ALLINT;
	return n;
}
