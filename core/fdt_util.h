/* Small device-tree queries shared by drivers. */
#ifndef KEEL_CORE_FDT_UTIL_H
#define KEEL_CORE_FDT_UTIL_H

#include "core/bus_dev.h"
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

/**
 * The INTID of node's idx-th interrupt: "interrupts" read with the "#interrupt-cells" of its
 * interrupt parent ("interrupt-parent" on the node or the nearest ancestor), which must be an
 * Arm GIC (3 cells: SPI n -> n + 32, PPI n -> n + 16). 0 when absent, malformed or not a GIC.
 */
uint32_t fdt_irq(const void *fdt, int node, int idx);

/**
 * A DT platform device for its driver: reg[0] (fdt_reg), interrupt 0 (fdt_irq), dma-coherent and
 * the bus's first dma-ranges window (fdt_dma_range) as dma_offset and the physical window.
 * False when reg[0] is not translatable or dma-ranges is malformed.
 */
bool fdt_bus_dev(const void *fdt, int node, struct bus_dev *out);

#endif
