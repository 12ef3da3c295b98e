/* Secondary CPU start by enable-method (see core/cpu_ops.h). */
#include "core/cpu_ops.h"

#include "arch/el2.h"
#include "keel/addr.h"

#define PSCI_CPU_ON_64 0xc4000003u

_Static_assert(MACHINE_MAX_CPUS == KEEL_MAX_CPUS, "spin_table_entry searches KEEL_MAX_CPUS entries");

static int spin_table_on(const struct machine_info *mi, unsigned cpu)
{
	extern char spin_table_entry[];
	volatile uint64_t *rel = pa_to_ptr(mi->cpu_release_addr[cpu]);
	return spin_table_release(rel, (uint64_t)(uintptr_t)spin_table_entry, cpu, mi->cpu_mpidr[cpu]);
}

static int psci_on(const struct machine_info *mi, unsigned cpu)
{
	extern char secondary_entry[];
	int64_t rc = el2_psci_call(mi->psci_smc, PSCI_CPU_ON_64, mi->cpu_mpidr[cpu],
				   (uint64_t)(uintptr_t)secondary_entry, cpu);
	return rc == 0 ? 0 : (int)rc;
}

static const struct cpu_ops psci_ops = {"psci", psci_on, false};
static const struct cpu_ops spin_table_ops = {"spin-table", spin_table_on, true};

const struct cpu_ops *cpu_ops_for(const struct machine_info *mi, unsigned cpu)
{
	if (cpu >= mi->nr_cpus)
		return NULL;
	switch (mi->cpu_enable[cpu]) {
	case MACHINE_CPU_SPIN_TABLE:
		return &spin_table_ops;
	case MACHINE_CPU_PSCI:
		return mi->has_psci ? &psci_ops : NULL;
	default:
		return NULL;
	}
}
