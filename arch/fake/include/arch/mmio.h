/*
 * Host-test device register access: every access goes to a device model the
 * test links in (fake_mmio_read / fake_mmio_write), by address and width, so a
 * driver runs unchanged against a fake controller.
 */
#ifndef KEEL_ARCH_MMIO_H
#define KEEL_ARCH_MMIO_H

#include <stdint.h>

/** Provided by the test: a register read of size bytes (1, 2, 4) at addr. */
uint32_t fake_mmio_read(uintptr_t addr, unsigned size);
/** Provided by the test: a register write. */
void fake_mmio_write(uintptr_t addr, unsigned size, uint32_t v);

static inline uint32_t mmio_read32(const volatile void *a)
{
	return fake_mmio_read((uintptr_t)a, 4);
}

static inline uint16_t mmio_read16(const volatile void *a)
{
	return (uint16_t)fake_mmio_read((uintptr_t)a, 2);
}

static inline uint8_t mmio_read8(const volatile void *a)
{
	return (uint8_t)fake_mmio_read((uintptr_t)a, 1);
}

static inline void mmio_write32(volatile void *a, uint32_t v)
{
	fake_mmio_write((uintptr_t)a, 4, v);
}

static inline void mmio_write16(volatile void *a, uint16_t v)
{
	fake_mmio_write((uintptr_t)a, 2, v);
}

static inline void mmio_write8(volatile void *a, uint8_t v)
{
	fake_mmio_write((uintptr_t)a, 1, v);
}

#endif
