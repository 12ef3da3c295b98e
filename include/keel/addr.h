/* Named conversions between typed addresses. */
#ifndef KEEL_ADDR_H
#define KEEL_ADDR_H

#include "keel/types.h"

static inline paddr_t pa_init(uint64_t a)
{
	return (paddr_t){a};
}
static inline uint64_t pa_addr(paddr_t a)
{
	return a.pa;
}
static inline paddr_t pa_add(paddr_t a, uint64_t off)
{
	return (paddr_t){a.pa + off};
}

static inline ipa_t ipa_init(uint64_t a)
{
	return (ipa_t){a};
}
static inline uint64_t ipa_addr(ipa_t a)
{
	return a.ipa;
}
static inline ipa_t ipa_add(ipa_t a, uint64_t off)
{
	return (ipa_t){a.ipa + off};
}

static inline dma_addr_t dma_init(uint64_t a)
{
	return (dma_addr_t){a};
}
static inline uint64_t dma_addr(dma_addr_t a)
{
	return a.dma;
}

static inline vaddr_t va_init(uintptr_t a)
{
	return (vaddr_t){a};
}
static inline uintptr_t va_addr(vaddr_t a)
{
	return a.va;
}

/*
 * keel maps all of RAM at EL2 with VA == PA (arm64), and the fake arch used
 * by host tests treats host pointers as physical addresses, so the
 * hypervisor reaches a physical address through this one helper.
 */
static inline void *pa_to_ptr(paddr_t a)
{
	return (void *)(uintptr_t)a.pa;
}
static inline paddr_t ptr_to_pa(const void *p)
{
	return (paddr_t){(uint64_t)(uintptr_t)p};
}

#endif
