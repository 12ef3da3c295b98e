/*
 * EL2 stage-1 translation: an identity map of the first 1 TiB in 1 GiB
 * blocks, Device-nGnRE by default, with RAM windows marked Normal WB.
 * Runs before the MMU is on (no libc, aligned accesses only).
 */
#ifndef KEEL_ARCH_MMU_H
#define KEEL_ARCH_MMU_H

#include "keel/types.h"

/** Reset the tables: everything Device. Boot CPU only. */
void mmu_el2_tables_init(void);
/** Mark [base, base+size) Normal write-back (rounded out to 1 GiB). */
void mmu_el2_map_normal(paddr_t base, uint64_t size);
/** Program MAIR/TCR/TTBR0_EL2 on this CPU (the MMU is enabled by head.S). */
void mmu_el2_install(void);

#endif
