/* FEAT_RNG: RNDRRS, present when ID_AA64ISAR0_EL1.RNDR is non-zero. */
#include "arch/random.h"

#include "arch/sysreg.h"

#define ISAR0_RNDR_SHIFT 60

bool arch_random_u64(uint64_t *out)
{
	if (((read_id_aa64isar0_el1() >> ISAR0_RNDR_SHIFT) & 0xf) == 0)
		return false;
	uint64_t v;
	if (!read_rndrrs(&v))
		return false;
	*out = v;
	return true;
}
