/* Stage-2 data-abort decoding (arch/arm64/include/arch/esr.h): which faults carry their IPA in HPFAR_EL2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "arch/esr.h"

/* ISS of a 4-byte store by an instruction with a syndrome, with fault status code fsc. */
static uint32_t store_iss(uint32_t fsc)
{
	return DABT_ISV | (2u << 22) | DABT_WNR | fsc;
}

static void translation_faults_use_hpfar(void **state)
{
	(void)state;
	for (uint32_t level = 0; level < 4; level++) {
		assert_true(dabt_hpfar_valid(store_iss(0x04 + level))); /* translation fault */
		assert_true(dabt_hpfar_valid(store_iss(0x08 + level))); /* access flag fault */
		assert_true(dabt_hpfar_valid(store_iss(0x00 + level))); /* address size fault */
	}
	assert_true(dabt_hpfar_valid(store_iss(DFSC_SEA)));
}

static void permission_faults_walk_far(void **state)
{
	(void)state;
	/* A store to a read-only stage-2 page (a register shadow page, a ROM): HPFAR is UNKNOWN. */
	for (uint32_t level = 0; level < 4; level++) {
		assert_false(dabt_hpfar_valid(store_iss(0x0c + level)));
		assert_false(dabt_hpfar_valid(store_iss(0x0c + level) & ~DABT_ISV)); /* ISV=0 too */
		/* ...unless it happened on the guest's own stage-1 table walk: then HPFAR is written. */
		assert_true(dabt_hpfar_valid(store_iss(0x0c + level) | DABT_S1PTW));
	}
}

static void par_and_hpfar_addresses(void **state)
{
	(void)state;
	/* PAR_EL1: PA[47:12] plus FAR's page offset; attributes (63:56) and flags below bit 12 dropped. */
	assert_int_equal(PAR_IPA(0xff0000000a001f80ULL, 0xffff800012345104ULL), 0x0a001104ULL);
	assert_int_equal(PAR_IPA(0x0000ffffffffe000ULL, 0xfffULL), 0x0000ffffffffefffULL);
	/* HPFAR_EL2.FIPA[43:4] = IPA[51:12]. */
	assert_int_equal(HPFAR_IPA(0xa0010ULL, 0x70ULL), 0x0a001070ULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(translation_faults_use_hpfar),
	    cmocka_unit_test(permission_faults_walk_far),
	    cmocka_unit_test(par_and_hpfar_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
