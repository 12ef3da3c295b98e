/* Base types shared by every layer. */
#ifndef KEEL_TYPES_H
#define KEEL_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Typed addresses. Each is a one-member struct so that mixing them is a
 * compile error; convert only through the named helpers in keel/addr.h.
 *   paddr_t: host physical address (what DMA and stage-2 outputs use)
 *   ipa_t:   guest intermediate physical address (a VM's "physical" address)
 *   vaddr_t: hypervisor (EL2) virtual address
 *   dma_addr_t: an address as a bus master sees memory (a DMA/bus address: on
 *               boards with DT dma-ranges, e.g. the BCM2711, not the physical one)
 */
typedef struct {
	uint64_t pa;
} paddr_t;
typedef struct {
	uint64_t ipa;
} ipa_t;
typedef struct {
	uintptr_t va;
} vaddr_t;
typedef struct {
	uint64_t dma;
} dma_addr_t;

#endif
