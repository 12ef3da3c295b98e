/* Small device-tree queries shared by drivers. */
#ifndef KEEL_CORE_FDT_UTIL_H
#define KEEL_CORE_FDT_UTIL_H

#include "keel/types.h"

/** True when node or any ancestor has "dma-coherent" (as Linux's of_dma_is_coherent reads it). */
bool fdt_dma_coherent(const void *fdt, int node);

/**
 * The idx-th "reg" entry of node as a CPU physical address: translated through
 * every ancestor bus's "ranges" (empty = identity). False when the entry is
 * missing or malformed, or a bus on the way has no "ranges" or no window covering it.
 */
bool fdt_reg(const void *fdt, int node, int idx, paddr_t *base, uint64_t *size);

/**
 * The DMA window of node's bus: the first entry of the nearest ancestor's "dma-ranges".
 * A device address bus_base + x is physical cpu_base + x for x < size. No dma-ranges
 * anywhere, or an empty one: identity over the whole address space (size 0 = unlimited).
 * False for a malformed dma-ranges.
 */
bool fdt_dma_range(const void *fdt, int node, uint64_t *bus_base, paddr_t *cpu_base, uint64_t *size);

#endif
