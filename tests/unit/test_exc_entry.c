/* Exception entry to EL1 (arch/arm64/exc_entry.c) against the Arm ARM's rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "arch/exc_entry.h"

static const struct exc_features all = {.pan = true, .ssbs = true, .mte = true, .nmi = true};
static const struct exc_features none = {0};

#define NZCV (0xfULL << 28)

static void vector_offsets(void **state)
{
	(void)state;
	assert_int_equal(exc_el1_sync_vector(0x4), 0x000);	   /* EL1t */
	assert_int_equal(exc_el1_sync_vector(0x5), 0x200);	   /* EL1h */
	assert_int_equal(exc_el1_sync_vector(0x0), 0x400);	   /* EL0, AArch64 */
	assert_int_equal(exc_el1_sync_vector(0x10), 0x600);	   /* AArch32 User */
	assert_int_equal(exc_el1_sync_vector(0x10 | 0x20), 0x600); /* AArch32 User, Thumb */
	assert_int_equal(exc_el1_sync_vector(0x5 | NZCV | 0x3c0), 0x200);
}

static void from_el0(void **state)
{
	(void)state;
	assert_true(exc_from_el0(0x0));
	assert_true(exc_from_el0(0x10));
	assert_true(exc_from_el0(0x10 | NZCV));
	assert_false(exc_from_el0(0x4));
	assert_false(exc_from_el0(0x5));
}

static void masks_and_mode(void **state)
{
	(void)state;
	uint64_t p = exc_el1_entry_pstate(0x0, SCTLR_SPAN, &none);
	assert_int_equal(p, PSTATE_M_EL1H | PSTATE_DAIF);
	/* From an AArch32 EL0: AArch64 EL1h, no AArch32 bits (IT, T, GE, E) survive. */
	p = exc_el1_entry_pstate(0x10 | 0x20 | 0x200 | (0xfULL << 16) | (0x3fULL << 10), SCTLR_SPAN, &none);
	assert_int_equal(p, PSTATE_M_EL1H | PSTATE_DAIF);
}

static void cleared_fields(void **state)
{
	(void)state;
	uint64_t old = PSTATE_M_EL1H | NZCV | PSTATE_SS | PSTATE_IL | PSTATE_BTYPE | PSTATE_UAO;
	uint64_t p = exc_el1_entry_pstate(old, SCTLR_SPAN, &all);
	assert_int_equal(p & (PSTATE_SS | PSTATE_IL | PSTATE_BTYPE | PSTATE_UAO | NZCV), 0);
}

static void pan(void **state)
{
	(void)state;
	/* SPAN=1: PAN unchanged. */
	assert_int_equal(exc_el1_entry_pstate(PSTATE_PAN, SCTLR_SPAN, &all) & PSTATE_PAN, PSTATE_PAN);
	assert_int_equal(exc_el1_entry_pstate(0, SCTLR_SPAN, &all) & PSTATE_PAN, 0);
	/* SPAN=0: PAN set. */
	assert_int_equal(exc_el1_entry_pstate(0, 0, &all) & PSTATE_PAN, PSTATE_PAN);
	/* Not implemented: never set. */
	assert_int_equal(exc_el1_entry_pstate(PSTATE_PAN, 0, &none) & PSTATE_PAN, 0);
}

static void ssbs(void **state)
{
	(void)state;
	assert_int_equal(exc_el1_entry_pstate(0, SCTLR_SPAN | SCTLR_DSSBS, &all) & PSTATE_SSBS, PSTATE_SSBS);
	assert_int_equal(exc_el1_entry_pstate(PSTATE_SSBS, SCTLR_SPAN, &all) & PSTATE_SSBS, 0);
	assert_int_equal(exc_el1_entry_pstate(0, SCTLR_SPAN | SCTLR_DSSBS, &none) & PSTATE_SSBS, 0);
}

static void tco_and_allint(void **state)
{
	(void)state;
	assert_int_equal(exc_el1_entry_pstate(0, SCTLR_SPAN, &all) & PSTATE_TCO, PSTATE_TCO);
	assert_int_equal(exc_el1_entry_pstate(0, SCTLR_SPAN, &none) & PSTATE_TCO, 0);
	assert_int_equal(exc_el1_entry_pstate(0, SCTLR_SPAN | SCTLR_NMI, &all) & PSTATE_ALLINT,
			 PSTATE_ALLINT);
	assert_int_equal(
	    exc_el1_entry_pstate(0, SCTLR_SPAN | SCTLR_NMI | SCTLR_SPINTMASK, &all) & PSTATE_ALLINT, 0);
	assert_int_equal(exc_el1_entry_pstate(PSTATE_ALLINT, SCTLR_SPAN, &all) & PSTATE_ALLINT, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(vector_offsets), cmocka_unit_test(from_el0), cmocka_unit_test(masks_and_mode),
	    cmocka_unit_test(cleared_fields), cmocka_unit_test(pan),	  cmocka_unit_test(ssbs),
	    cmocka_unit_test(tco_and_allint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
