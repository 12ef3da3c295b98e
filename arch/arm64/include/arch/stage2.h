/*
 * Stage-2 translation tables (4K granule, 39-bit IPA, walk starts at level 1).
 * Tables come from a caller-supplied page allocator: arch owns the format only.
 */
#ifndef KEEL_ARCH_STAGE2_H
#define KEEL_ARCH_STAGE2_H

#include "keel/types.h"

#define STAGE2_IPA_BITS 39

struct stage2_alloc {
	/** A zeroed, 4 KiB-aligned page, or NULL when exhausted. */
	void *(*page)(void *ctx);
	void *ctx;
};

/** A new, empty root table; returns false when out of pages. */
bool stage2_create(paddr_t *root, const struct stage2_alloc *alloc);
/** Map [ipa, ipa+size) to [pa, ...) as Normal RW memory; all three 4K-aligned. */
int stage2_map_ram(paddr_t root, ipa_t ipa, paddr_t pa, uint64_t size, const struct stage2_alloc *alloc);
/** Map [ipa, ipa+size) to [pa, ...) as Device-nGnRE RW, not executable, in 4 KiB pages (a GICV). */
int stage2_map_device(paddr_t root, ipa_t ipa, paddr_t pa, uint64_t size, const struct stage2_alloc *alloc);
/**
 * Map [ipa, ipa+size) to [pa, ...) as Normal read-only, executable memory (a ROM: a store faults
 * to keel as a stage-2 permission fault, decoded like any data abort); all three 2 MiB-aligned.
 */
int stage2_map_rom(paddr_t root, ipa_t ipa, paddr_t pa, uint64_t size, const struct stage2_alloc *alloc);
/**
 * Map one 4 KiB page at ipa to pa as Normal write-back, read-only, not executable (a register shadow
 * page: reads are served from memory, a store takes a stage-2 permission fault). The guest's stage 1
 * decides the final type: a driver's Device mapping stays Device (uncached), so keel cleans what it
 * writes to the point of coherency. Before the VM runs (no TLB maintenance).
 */
int stage2_map_readonly_page(paddr_t root, ipa_t ipa, paddr_t pa, const struct stage2_alloc *alloc);
/**
 * Remove the 2 MiB block mappings in [ipa, ipa+size) (2 MiB-aligned) and invalidate the TLBs of the
 * VMID active on this CPU, on every CPU. Called on one of the VM's own vCPUs (its VTTBR is active).
 */
int stage2_unmap_blocks(paddr_t root, ipa_t ipa, uint64_t size);
/** Look an IPA up by walking the tables; false when unmapped. */
bool stage2_lookup(paddr_t root, ipa_t ipa, paddr_t *pa);
/** Program VTCR_EL2/VTTBR_EL2 for this VM on this CPU. */
void stage2_activate(paddr_t root, uint16_t vmid);
/** Invalidate all stage-1+2 TLB entries of the active VMID. */
void stage2_flush_tlb(void);

#endif
