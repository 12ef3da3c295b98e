/* System registers, MMIO accessors and barriers. MMIO goes through explicit single
 * ldr/str instructions (no writeback addressing), so a trapping access always carries a
 * valid ISS syndrome (ISV=1) for the hypervisor to emulate. */
#ifndef GUEST_ARCH_H
#define GUEST_ARCH_H

#include <stdint.h>

#define read_sysreg(r)                                                                                       \
	({                                                                                                   \
		uint64_t __v;                                                                                \
		__asm__ volatile("mrs %0, " #r : "=r"(__v));                                                 \
		__v;                                                                                         \
	})
#define write_sysreg(r, v) __asm__ volatile("msr " #r ", %0" ::"r"((uint64_t)(v)) : "memory")

/* GICv3 CPU interface, by encoding so any assembler accepts them. */
#define ICC_PMR_EL1	S3_0_C4_C6_0
#define ICC_IAR1_EL1	S3_0_C12_C12_0
#define ICC_EOIR1_EL1	S3_0_C12_C12_1
#define ICC_BPR1_EL1	S3_0_C12_C12_3
#define ICC_CTLR_EL1	S3_0_C12_C12_4
#define ICC_SRE_EL1	S3_0_C12_C12_5
#define ICC_IGRPEN1_EL1 S3_0_C12_C12_7
#define ICC_DIR_EL1	S3_0_C12_C11_1
#define read_icc(r)	read_sysreg(r)
#define write_icc(r, v) write_sysreg(r, v)

static inline void isb(void)
{
	__asm__ volatile("isb" ::: "memory");
}
static inline void dsb_sy(void)
{
	__asm__ volatile("dsb sy" ::: "memory");
}
static inline void dsb_st(void)
{
	__asm__ volatile("dsb st" ::: "memory");
}
static inline void dmb_sy(void)
{
	__asm__ volatile("dmb sy" ::: "memory");
}
static inline void wfi(void)
{
	__asm__ volatile("wfi" ::: "memory");
}
static inline void irq_enable(void)
{
	__asm__ volatile("msr daifclr, #2" ::: "memory");
}
static inline void irq_disable(void)
{
	__asm__ volatile("msr daifset, #2" ::: "memory");
}
static inline void serror_enable(void)
{
	__asm__ volatile("msr daifclr, #4" ::: "memory");
}

static inline uint8_t mmio_read8(uintptr_t a)
{
	uint32_t v;
	__asm__ volatile("ldrb %w0, [%1]" : "=r"(v) : "r"(a) : "memory");
	return (uint8_t)v;
}
static inline uint16_t mmio_read16(uintptr_t a)
{
	uint32_t v;
	__asm__ volatile("ldrh %w0, [%1]" : "=r"(v) : "r"(a) : "memory");
	return (uint16_t)v;
}
static inline uint32_t mmio_read32(uintptr_t a)
{
	uint32_t v;
	__asm__ volatile("ldr %w0, [%1]" : "=r"(v) : "r"(a) : "memory");
	return v;
}
static inline uint64_t mmio_read64(uintptr_t a)
{
	uint64_t v;
	__asm__ volatile("ldr %0, [%1]" : "=r"(v) : "r"(a) : "memory");
	return v;
}
static inline void mmio_write8(uintptr_t a, uint8_t v)
{
	__asm__ volatile("strb %w0, [%1]" ::"r"((uint32_t)v), "r"(a) : "memory");
}
static inline void mmio_write16(uintptr_t a, uint16_t v)
{
	__asm__ volatile("strh %w0, [%1]" ::"r"((uint32_t)v), "r"(a) : "memory");
}
static inline void mmio_write32(uintptr_t a, uint32_t v)
{
	__asm__ volatile("str %w0, [%1]" ::"r"(v), "r"(a) : "memory");
}
static inline void mmio_write64(uintptr_t a, uint64_t v)
{
	__asm__ volatile("str %0, [%1]" ::"r"(v), "r"(a) : "memory");
}

static inline unsigned current_el(void)
{
	return (unsigned)(read_sysreg(CurrentEL) >> 2) & 3;
}

/** Stops this CPU for good (IRQs masked). */
static inline __attribute__((noreturn)) void halt(void)
{
	irq_disable();
	for (;;)
		wfi();
}

#endif
