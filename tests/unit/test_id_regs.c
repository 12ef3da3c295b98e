/* The guest's view of the ID registers (arch/arm64/id_regs.c): which reads trap, what they return. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "arch/esr.h"
#include "arch/id_regs.h"

/* A trapped MRS (EC 0x18 ISS) of op0 3, op1, CRn, CRm, op2 into x<rt>. */
static uint32_t mrs(unsigned op1, unsigned crn, unsigned crm, unsigned op2, unsigned rt)
{
	return SYSREG_ISS(3u, op1, crn, crm, op2) | (rt << 5) | SYSREG_ISS_READ;
}

static void the_tid3_space_and_nothing_else(void **state)
{
	(void)state;
	unsigned reg = 99;
	assert_true(id_reg_trapped_read(mrs(0, 0, 4, 0, 3), &reg)); /* ID_AA64PFR0_EL1 */
	assert_int_equal(reg, ID_AA64PFR0);
	assert_true(id_reg_trapped_read(mrs(0, 0, 1, 0, 0), &reg)); /* ID_PFR0_EL1 */
	assert_int_equal(reg, ID_REG(1, 0));
	assert_true(id_reg_trapped_read(mrs(0, 0, 7, 7, 31), &reg)); /* the last (reserved) one */
	assert_int_equal(reg, ID_REG(7, 7));

	reg = 99;
	assert_false(id_reg_trapped_read(mrs(0, 0, 0, 0, 1), &reg));		 /* MIDR_EL1: CRm 0 */
	assert_false(id_reg_trapped_read(mrs(0, 0, 0, 5, 1), &reg));		 /* MPIDR_EL1 */
	assert_false(id_reg_trapped_read(mrs(1, 0, 0, 1, 1), &reg));		 /* CLIDR_EL1: op1 1 */
	assert_false(id_reg_trapped_read(mrs(3, 0, 0, 1, 1), &reg));		 /* CTR_EL0: op1 3 */
	assert_false(id_reg_trapped_read(mrs(0, 1, 0, 0, 0), &reg));		 /* SCTLR_EL1: CRn 1 */
	assert_false(id_reg_trapped_read(mrs(0, 0, 8, 0, 0), &reg));		 /* CRm 8: outside */
	assert_false(id_reg_trapped_read(SYSREG_ISS(3u, 0u, 0u, 4u, 0u), &reg)); /* a write */
	assert_false(id_reg_trapped_read(SYSREG_ISS(2u, 0u, 0u, 4u, 0u) | SYSREG_ISS_READ, &reg)); /* op0 2 */
	assert_int_equal(reg, 99); /* untouched when false */
}

static void sve_and_sme_are_hidden(void **state)
{
	(void)state;
	/* QEMU max's ID_AA64PFR0_EL1 (SVE 1, GIC 1, AdvSIMD/FP, EL0-3 AArch64) and PFR1 (SME 2, MTE 3). */
	uint64_t pfr0 = 0x1101001000112222ULL | (1ULL << 32), pfr1 = (2ULL << 24) | (3ULL << 8) | 1;
	assert_int_equal(id_reg_guest_value(ID_AA64PFR0, pfr0), pfr0 & ~(0xfULL << 32));
	assert_int_equal(id_reg_guest_value(ID_AA64PFR1, pfr1), (3ULL << 8) | 1);
	assert_int_equal(id_reg_guest_value(ID_AA64ZFR0, 0x0110110000110011ULL), 0);
	assert_int_equal(id_reg_guest_value(ID_AA64SMFR0, 0x8ff0000000000000ULL), 0);
	assert_true(id_reg_hides(ID_AA64PFR0, pfr0));
	assert_true(id_reg_hides(ID_AA64PFR1, pfr1));
	/* A CPU without them (Cortex-A72): nothing changes, nothing to report. */
	assert_false(id_reg_hides(ID_AA64PFR0, 0x0000000000002222ULL));
	assert_false(id_reg_hides(ID_AA64PFR1, 0));
}

static void every_other_register_is_the_hardware(void **state)
{
	(void)state;
	for (unsigned crm = 1; crm <= 7; crm++)
		for (unsigned op2 = 0; op2 <= 7; op2++) {
			unsigned reg = ID_REG(crm, op2);
			if (reg == ID_AA64PFR0 || reg == ID_AA64PFR1 || reg == ID_AA64ZFR0 ||
			    reg == ID_AA64SMFR0)
				continue;
			assert_int_equal(id_reg_guest_value(reg, 0xfedcba9876543210ULL),
					 0xfedcba9876543210ULL);
		}
	/* PFR0 keeps every field but SVE; PFR1 every field but SME. */
	assert_int_equal(id_reg_guest_value(ID_AA64PFR0, ~0ULL), ~(0xfULL << 32));
	assert_int_equal(id_reg_guest_value(ID_AA64PFR1, ~0ULL), ~(0xfULL << 24));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(the_tid3_space_and_nothing_else),
	    cmocka_unit_test(sve_and_sme_are_hidden),
	    cmocka_unit_test(every_other_register_is_the_hardware),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
