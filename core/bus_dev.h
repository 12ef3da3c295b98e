/*
 * A platform device as the DT describes it, in the form drivers take it: where its
 * registers are (through every bus's "ranges"), its interrupt (through
 * "interrupt-parent"), and how it sees memory when it masters the bus ("dma-ranges",
 * "dma-coherent"). Filled by fdt_bus_dev (core/fdt_util.h); PCI devices fill it
 * from their BARs. Drivers turn physical addresses into DMA addresses only through
 * bus_dma_addr, which refuses what lies outside the device's DMA window.
 */
#ifndef KEEL_CORE_BUS_DEV_H
#define KEEL_CORE_BUS_DEV_H

#include "keel/addr.h"
#include "keel/types.h"

struct bus_dev {
	paddr_t base;	     /**< registers, physical */
	uint64_t size;	     /**< of the register window */
	uint32_t intid;	     /**< GIC INTID of its first interrupt; 0: none (poll) */
	bool dma_coherent;   /**< DMA snoops the CPU caches: no cache maintenance around it */
	uint64_t dma_offset; /**< DMA address = physical + dma_offset (modulo 2^64) */
	paddr_t dma_lo;	     /**< lowest physical address the device reaches */
	uint64_t dma_size;   /**< bytes from dma_lo it reaches; 0: all of memory */
};

/** Identity DMA over all of memory, coherent as given (PCI on QEMU virt, host tests). */
static inline struct bus_dev bus_dev_identity(paddr_t base, uint32_t intid, bool coherent)
{
	return (struct bus_dev){.base = base, .intid = intid, .dma_coherent = coherent};
}

/**
 * The DMA address of [pa, pa + len) for device b. False (and *out untouched) when any
 * byte of it lies outside the device's DMA window or the range wraps: the caller
 * must then not start DMA on it (never a wrong address).
 */
static inline bool bus_dma_addr(const struct bus_dev *b, paddr_t pa, uint64_t len, dma_addr_t *out)
{
	uint64_t a = pa_addr(pa);
	if (len == 0 || a + len < a)
		return false;
	if (b->dma_size != 0) {
		uint64_t lo = pa_addr(b->dma_lo);
		if (a < lo || a - lo > b->dma_size || len > b->dma_size - (a - lo))
			return false;
	}
	*out = dma_init(a + b->dma_offset);
	return true;
}

#endif
