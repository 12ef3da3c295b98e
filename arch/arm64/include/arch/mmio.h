/*
 * Device register access (arm64): single-copy-atomic loads and stores of the
 * given width through a volatile pointer to Device memory. Ordering against
 * normal memory (DMA descriptors) is the caller's (arch/barrier.h).
 */
#ifndef KEEL_ARCH_MMIO_H
#define KEEL_ARCH_MMIO_H

#include <stdint.h>

static inline uint32_t mmio_read32(const volatile void *a)
{
	return *(const volatile uint32_t *)a;
}

static inline uint16_t mmio_read16(const volatile void *a)
{
	return *(const volatile uint16_t *)a;
}

static inline uint8_t mmio_read8(const volatile void *a)
{
	return *(const volatile uint8_t *)a;
}

static inline void mmio_write32(volatile void *a, uint32_t v)
{
	*(volatile uint32_t *)a = v;
}

static inline void mmio_write16(volatile void *a, uint16_t v)
{
	*(volatile uint16_t *)a = v;
}

static inline void mmio_write8(volatile void *a, uint8_t v)
{
	*(volatile uint8_t *)a = v;
}

#endif
