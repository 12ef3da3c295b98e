/* Host tests: state behind arch/fake/include/arch/cpu.h and cache.h. */
#include "arch/cpu.h"

#include "arch/cache.h"

bool fake_cpu_irq_pending;
uint64_t fake_cpu_mpidr;

struct fake_cache_event fake_cache_log[FAKE_CACHE_LOG_MAX];
unsigned fake_cache_n;

void fake_cache_record(enum fake_cache_op op, const void *p, size_t len)
{
	fake_cache_log[fake_cache_n % FAKE_CACHE_LOG_MAX] = (struct fake_cache_event){op, p, len};
	fake_cache_n++;
}

void cpu_send_event(void)
{
	fake_cache_record(FAKE_SEV, NULL, 0);
}
