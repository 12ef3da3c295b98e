/*
 * Starting secondary CPUs by their DT enable-method: "psci" (CPU_ON through the
 * firmware) or "spin-table" (write the entry to cpu-release-addr, clean it to
 * the point of coherency, sev). A spin-table CPU enters with x0 undefined, so it
 * goes through spin_table_entry, which finds its index from MPIDR_EL1.
 */
#ifndef KEEL_CORE_CPU_OPS_H
#define KEEL_CORE_CPU_OPS_H

#include "core/config.h"
#include "keel/types.h"

struct cpu_ops {
	const char *name;
	/** Start CPU index cpu of mi at keel's secondary entry; 0 or negative. */
	int (*cpu_on)(const struct machine_info *mi, unsigned cpu);
	/**
	 * A CPU keel does not start still runs: it waits in the firmware's spin loop (spin-table: wfe,
	 * which QEMU TCG does not sleep in, so each such CPU takes a host core). keel starts it anyway
	 * and parks it in wfi. false: a CPU never started stays off (psci).
	 */
	bool park_unused;
};

/** The ops for the CPU's enable-method, or NULL when keel cannot start it. */
const struct cpu_ops *cpu_ops_for(const struct machine_info *mi, unsigned cpu);

/**
 * The spin-table release itself: record mpidr for spin_table_entry, store entry at
 * release (a mapping of cpu-release-addr), clean both to PoC (the waiting CPU's MMU
 * and caches are off), then dsb + sev. Returns 0, or -EINVAL for an unaligned address.
 */
int spin_table_release(volatile uint64_t *release, uint64_t entry, unsigned cpu, uint64_t mpidr);

/** MPIDR affinity of each CPU index, read by spin_table_entry with its MMU off. */
extern uint64_t cpu_boot_mpidr[MACHINE_MAX_CPUS];

#endif
