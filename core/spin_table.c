/* The spin-table release sequence (see core/cpu_ops.h); host-testable. */
#include <errno.h>

#include "arch/cache.h"
#include "arch/cpu.h"
#include "core/cpu_ops.h"

#define MPIDR_AFF_MASK 0xff00ffffffULL

uint64_t cpu_boot_mpidr[MACHINE_MAX_CPUS];

int spin_table_release(volatile uint64_t *release, uint64_t entry, unsigned cpu, uint64_t mpidr)
{
	if (((uintptr_t)release & 7) != 0 || cpu >= MACHINE_MAX_CPUS)
		return -EINVAL;
	/* Written first and cleaned: the woken CPU reads it with its MMU and caches off. */
	cpu_boot_mpidr[cpu] = mpidr & MPIDR_AFF_MASK;
	dcache_clean_inval_range(&cpu_boot_mpidr[cpu], sizeof(cpu_boot_mpidr[cpu]));
	*release = entry;
	dcache_clean_inval_range((const void *)(uintptr_t)release, sizeof(*release));
	cpu_send_event(); /* dsb; sev: the cleaned release is visible before the event */
	return 0;
}
