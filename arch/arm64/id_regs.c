/* The guest's view of the ID registers (arch/id_regs.h). */
#include "arch/id_regs.h"

#include "arch/esr.h"

bool id_reg_trapped_read(uint32_t iss, unsigned *reg)
{
	/* op0 3, op1 0, CRn 0, whatever CRm and op2; then CRm 1..7. */
	const uint32_t any_crm_op2 = SYSREG_ISS(0u, 0u, 0u, 0xfu, 7u);
	unsigned crm = SYSREG_ISS_CRM(iss);

	if (!(iss & SYSREG_ISS_READ) ||
	    (SYSREG_ISS_ENC(iss) & ~any_crm_op2) != SYSREG_ISS(3u, 0u, 0u, 0u, 0u) || crm < 1 || crm > 7)
		return false;
	*reg = ID_REG(crm, SYSREG_ISS_OP2(iss));
	return true;
}

uint64_t id_reg_guest_value(unsigned reg, uint64_t hw)
{
	switch (reg) {
	case ID_AA64PFR0:
		return hw & ~ID_AA64PFR0_SVE;
	case ID_AA64PFR1:
		return hw & ~ID_AA64PFR1_SME;
	case ID_AA64ZFR0:  /* SVE's features: no SVE */
	case ID_AA64SMFR0: /* SME's features: no SME */
		return 0;
	default:
		return hw;
	}
}
