/* Host tests: the values behind arch/fake/include/arch/random.h. */
#include "arch/random.h"

const uint64_t *fake_random_values;
unsigned fake_random_count;

bool arch_random_u64(uint64_t *out)
{
	if (fake_random_count == 0)
		return false;
	fake_random_count--;
	*out = *fake_random_values++;
	return true;
}
