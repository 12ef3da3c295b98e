/*
 * Physical RAM bookkeeping at boot: what is reserved (keel, the boot DTB,
 * modules the bootloader loaded, VM memory) and where a VM's RAM can go.
 */
#ifndef KEEL_CORE_MEMMAP_H
#define KEEL_CORE_MEMMAP_H

#include "core/config.h"

#define MEMMAP_MAX_RESERVED 32

struct memmap {
	const struct machine_info *mi;
	struct phys_range reserved[MEMMAP_MAX_RESERVED];
	unsigned nr_reserved;
};

/** Record a reserved range; false when the table is full. */
bool memmap_reserve(struct memmap *m, paddr_t base, uint64_t size);
/** Find and reserve the lowest free, align-aligned range of size bytes in RAM. */
bool memmap_alloc(struct memmap *m, uint64_t size, uint64_t align, paddr_t *out);

#endif
