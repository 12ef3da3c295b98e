/* The guest's view of the ID registers (arch/id_regs.h). */
#include "arch/id_regs.h"

#include "arch/esr.h"

bool id_reg_trapped_read(uint32_t iss, unsigned *reg)
{
	unsigned op0 = (iss >> 20) & 3, op2 = (iss >> 17) & 7, op1 = (iss >> 14) & 7;
	unsigned crn = (iss >> 10) & 0xf, crm = (iss >> 1) & 0xf;

	if (!(iss & SYSREG_ISS_READ) || op0 != 3 || op1 != 0 || crn != 0 || crm < 1 || crm > 7)
		return false;
	*reg = ID_REG(crm, op2);
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
