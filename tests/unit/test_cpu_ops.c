/* core/spin_table.c: what a CPU waiting in wfe with its caches off needs to see. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>

#include "arch/cache.h"
#include "core/cpu_ops.h"

static int setup(void **state)
{
	(void)state;
	fake_cache_n = 0;
	for (unsigned i = 0; i < MACHINE_MAX_CPUS; i++)
		cpu_boot_mpidr[i] = 0;
	return 0;
}

/* The entry and the MPIDR table are written, each cleaned to PoC, and only then sev. */
static void release_sequence(void **state)
{
	(void)state;
	static uint64_t release_slot;
	assert_int_equal(spin_table_release(&release_slot, 0x200123, 2, 0x80000002ULL), 0);
	assert_int_equal(release_slot, 0x200123);
	assert_int_equal(cpu_boot_mpidr[2], 2); /* affinity only: the U and MT bits are dropped */
	assert_int_equal(fake_cache_n, 3);
	assert_int_equal(fake_cache_log[0].op, FAKE_CACHE_CLEAN_INVAL);
	assert_ptr_equal(fake_cache_log[0].p, &cpu_boot_mpidr[2]);
	assert_true(fake_cache_log[0].len >= sizeof(uint64_t));
	assert_int_equal(fake_cache_log[1].op, FAKE_CACHE_CLEAN_INVAL);
	assert_ptr_equal(fake_cache_log[1].p, &release_slot);
	assert_true(fake_cache_log[1].len >= sizeof(uint64_t));
	assert_int_equal(fake_cache_log[2].op, FAKE_SEV);
}

/* An unaligned release address or a CPU index keel has no stack for: refused, nothing written. */
static void release_refused(void **state)
{
	(void)state;
	static uint64_t slots[2];
	volatile uint64_t *odd = (volatile uint64_t *)(void *)((char *)slots + 4);
	assert_int_equal(spin_table_release(odd, 0x200000, 1, 1), -EINVAL);
	assert_int_equal(spin_table_release(&slots[0], 0x200000, MACHINE_MAX_CPUS, 1), -EINVAL);
	assert_int_equal(slots[0], 0);
	assert_int_equal(fake_cache_n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(release_sequence, setup),
	    cmocka_unit_test_setup(release_refused, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
