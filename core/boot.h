#ifndef KEEL_CORE_BOOT_H
#define KEEL_CORE_BOOT_H

#include "keel/types.h"

/** Build (boot CPU) and install the EL2 stage-1 tables from the board's RAM windows. */
void boot_mmu_setup(bool secondary);
/** C entry of the boot CPU, MMU on; fdt is the boot DTB's physical address. */
void keel_main(uint64_t fdt);
/** C entry of a secondary CPU started by PSCI CPU_ON. */
void keel_secondary_main(uint64_t cpu);

#endif
