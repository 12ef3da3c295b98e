/* Physical GICv3 driver (distributor, redistributors, CPU and virtual interfaces). */
#include "arch/gic.h"

#include <errno.h>

#include "arch/gic_lr.h"
#include "arch/sysreg.h"
#include "arch/timer.h"
#include "keel/addr.h"
#include "keel/log.h"

#define GICD_CTLR	0x0000
#define GICD_TYPER	0x0004
#define GICD_IGROUPR	0x0080
#define GICD_ISENABLER	0x0100
#define GICD_ICENABLER	0x0180
#define GICD_IPRIORITYR 0x0400
#define GICD_ICFGR	0x0c00
#define GICD_IROUTER	0x6000
#define GICD_CTLR_RWP	(1u << 31)
#define GICD_CTLR_ARE	(1u << 4)
#define GICD_CTLR_GRP1	(1u << 1)
#define GICD_CTLR_GRP0	(1u << 0)

#define GICR_TYPER	   0x0008
#define GICR_WAKER	   0x0014
#define GICR_WAKER_PSLEEP  (1u << 1)
#define GICR_WAKER_CASLEEP (1u << 2)
#define GICR_TYPER_LAST	   (1ULL << 4)
#define GICR_FRAME	   0x20000
#define GICR_SGI	   0x10000

#define ICC_SRE_SRE	 (1ULL << 0)
#define ICC_SRE_ENABLE	 (1ULL << 3)
#define ICC_CTLR_EOIMODE (1ULL << 1)
#define GIC_PRIO_DEFAULT GIC_PRIO_GUEST
#define GIC_POLL_US	 100000

static volatile uint8_t *gicd;
static paddr_t gicr_region;
static uint64_t gicr_region_size;
static volatile uint8_t *gicr_this[KEEL_MAX_CPUS];
static unsigned nr_lrs;

static uint32_t rd32(volatile uint8_t *b, uint32_t off)
{
	return *(volatile uint32_t *)(b + off);
}
static void wr32(volatile uint8_t *b, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(b + off) = v;
}
static uint64_t rd64(volatile uint8_t *b, uint32_t off)
{
	return *(volatile uint64_t *)(b + off);
}
static void wr64(volatile uint8_t *b, uint32_t off, uint64_t v)
{
	*(volatile uint64_t *)(b + off) = v;
}

static bool poll_clear(volatile uint8_t *b, uint32_t off, uint32_t mask)
{
	uint64_t end = timer_us() + GIC_POLL_US;
	while (rd32(b, off) & mask)
		if (timer_us() > end)
			return false;
	return true;
}

static unsigned this_cpu(void)
{
	/* keel numbers CPUs by Aff0 (QEMU virt, and small boards). */
	return (unsigned)(read_mpidr_el1() & 0xff) % KEEL_MAX_CPUS;
}

static uint64_t mpidr_aff(uint64_t mpidr)
{
	return (mpidr & 0xffffffULL) | ((mpidr >> 32) & 0xff) << 32;
}

static int v3_init(const struct gic_hw *hw)
{
	gicd = pa_to_ptr(hw->gicd);
	gicr_region = hw->gicr;
	gicr_region_size = hw->gicr_size;
	wr32(gicd, GICD_CTLR, 0);
	if (!poll_clear(gicd, GICD_CTLR, GICD_CTLR_RWP))
		return -ENODEV;
	unsigned lines = ((rd32(gicd, GICD_TYPER) & 0x1f) + 1) * 32;
	for (unsigned i = 32; i < lines && i < 1020; i += 32) {
		wr32(gicd, GICD_ICENABLER + i / 8, 0xffffffff);
		wr32(gicd, GICD_IGROUPR + i / 8, 0xffffffff);
	}
	for (unsigned i = 32; i < lines && i < 1020; i += 4)
		wr32(gicd, GICD_IPRIORITYR + i, GIC_PRIO_DEFAULT * 0x01010101u);
	wr32(gicd, GICD_CTLR, GICD_CTLR_ARE | GICD_CTLR_GRP1 | GICD_CTLR_GRP0);
	if (!poll_clear(gicd, GICD_CTLR, GICD_CTLR_RWP))
		return -ENODEV;
	return 0;
}

static volatile uint8_t *find_redist(void)
{
	uint64_t aff = mpidr_aff(read_mpidr_el1());
	for (uint64_t off = 0; off + GICR_FRAME <= gicr_region_size; off += GICR_FRAME) {
		volatile uint8_t *f = pa_to_ptr(pa_add(gicr_region, off));
		uint64_t typer = rd64(f, GICR_TYPER);
		if ((typer >> 32) == ((aff & 0xffffff) | ((aff >> 32) << 24)))
			return f;
		if (typer & GICR_TYPER_LAST)
			break;
	}
	return NULL;
}

static void v3_lr_write(unsigned i, uint64_t v);

static int v3_cpu_init(void)
{
	volatile uint8_t *rd = find_redist();
	if (rd == NULL)
		return -ENODEV;
	gicr_this[this_cpu()] = rd;
	wr32(rd, GICR_WAKER, rd32(rd, GICR_WAKER) & ~GICR_WAKER_PSLEEP);
	if (!poll_clear(rd, GICR_WAKER, GICR_WAKER_CASLEEP))
		return -ENODEV;
	volatile uint8_t *sgi = rd + GICR_SGI;
	wr32(sgi, GICD_ICENABLER, 0xffffffff);
	wr32(sgi, GICD_IGROUPR, 0xffffffff);
	for (unsigned i = 0; i < 32; i += 4)
		wr32(sgi, GICD_IPRIORITYR + i, GIC_PRIO_DEFAULT * 0x01010101u);

	write_icc_sre_el2(read_icc_sre_el2() | ICC_SRE_SRE | ICC_SRE_ENABLE);
	__asm__ volatile("isb");
	write_icc_pmr_el1(0xff);
	write_icc_bpr1_el1(0);
	write_icc_ctlr_el1(read_icc_ctlr_el1() | ICC_CTLR_EOIMODE);
	write_icc_igrpen1_el1(1);
	nr_lrs = (unsigned)(read_ich_vtr_el2() & 0x1f) + 1;
	for (unsigned i = 0; i < nr_lrs; i++)
		v3_lr_write(i, 0);
	write_ich_vmcr_el2(0);
	write_ich_hcr_el2(ICH_HCR_EN);
	__asm__ volatile("isb");
	return 0;
}

static uint32_t v3_ack(void)
{
	uint32_t intid = (uint32_t)read_icc_iar1_el1() & 0xffffff;
	__asm__ volatile("dsb sy" ::: "memory");
	return intid;
}

static void v3_eoi(uint32_t intid)
{
	write_icc_eoir1_el1(intid);
	__asm__ volatile("isb");
}

static void v3_deactivate(uint32_t intid)
{
	write_icc_dir_el1(intid);
	__asm__ volatile("isb");
}

static void set_cfg(volatile uint8_t *b, uint32_t intid, bool edge)
{
	uint32_t off = GICD_ICFGR + (intid / 16) * 4, shift = (intid % 16) * 2 + 1;
	uint32_t v = rd32(b, off);
	v = edge ? v | (1u << shift) : v & ~(1u << shift);
	wr32(b, off, v);
}

static void v3_enable(uint32_t intid, bool edge, uint64_t mpidr)
{
	if (intid < 32) {
		volatile uint8_t *sgi = gicr_this[this_cpu()] + GICR_SGI;
		if (intid >= 16)
			set_cfg(sgi, intid, edge);
		wr32(sgi, GICD_ISENABLER, 1u << intid);
		return;
	}
	set_cfg(gicd, intid, edge);
	wr64(gicd, GICD_IROUTER + intid * 8, mpidr_aff(mpidr));
	wr32(gicd, GICD_ISENABLER + (intid / 32) * 4, 1u << (intid % 32));
}

static void v3_set_priority(uint32_t intid, uint8_t prio)
{
	volatile uint8_t *base = intid < 32 ? gicr_this[this_cpu()] + GICR_SGI : gicd;
	base[GICD_IPRIORITYR + intid] = prio;
}

static void v3_disable(uint32_t intid)
{
	if (intid < 32)
		wr32(gicr_this[this_cpu()] + GICR_SGI, GICD_ICENABLER, 1u << intid);
	else
		wr32(gicd, GICD_ICENABLER + (intid / 32) * 4, 1u << (intid % 32));
}

static void v3_route(uint32_t intid, uint64_t mpidr)
{
	if (intid >= 32)
		wr64(gicd, GICD_IROUTER + intid * 8, mpidr_aff(mpidr));
}

static void v3_send_sgi(uint64_t mpidr, unsigned sgi)
{
	uint64_t v = ((mpidr >> 8) & 0xff) << 16 | ((mpidr >> 16) & 0xff) << 32 |
		     ((mpidr >> 32) & 0xff) << 48 | (uint64_t)(sgi & 0xf) << 24 | (1ULL << (mpidr & 0xf));
	__asm__ volatile("dsb ish" ::: "memory");
	write_icc_sgi1r_el1(v);
	__asm__ volatile("isb");
}

/* List registers: one accessor each, selected by index. */
static unsigned v3_lr_count(void)
{
	return nr_lrs;
}

#define LR_CASE_R(n)                                                                                         \
	case n:                                                                                              \
		return read_ich_lr##n##_el2();
#define LR_CASE_W(n)                                                                                         \
	case n:                                                                                              \
		write_ich_lr##n##_el2(v);                                                                    \
		return;

static uint64_t v3_lr_read(unsigned i)
{
	/* clang-format off */
	switch (i) {
		LR_CASE_R(0)
		LR_CASE_R(1)
		LR_CASE_R(2)
		LR_CASE_R(3)
		LR_CASE_R(4)
		LR_CASE_R(5)
		LR_CASE_R(6)
		LR_CASE_R(7)
		LR_CASE_R(8)
		LR_CASE_R(9)
		LR_CASE_R(10)
		LR_CASE_R(11)
		LR_CASE_R(12)
		LR_CASE_R(13)
		LR_CASE_R(14)
		LR_CASE_R(15)
	}
	/* clang-format on */
	return 0;
}

static void v3_lr_write(unsigned i, uint64_t v)
{
	/* clang-format off */
	switch (i) {
		LR_CASE_W(0)
		LR_CASE_W(1)
		LR_CASE_W(2)
		LR_CASE_W(3)
		LR_CASE_W(4)
		LR_CASE_W(5)
		LR_CASE_W(6)
		LR_CASE_W(7)
		LR_CASE_W(8)
		LR_CASE_W(9)
		LR_CASE_W(10)
		LR_CASE_W(11)
		LR_CASE_W(12)
		LR_CASE_W(13)
		LR_CASE_W(14)
		LR_CASE_W(15)
	}
	/* clang-format on */
}

static uint64_t v3_hcr_read(void)
{
	return read_ich_hcr_el2();
}
static void v3_hcr_write(uint64_t v)
{
	write_ich_hcr_el2(v);
}

static uint32_t v3_misr_read(void)
{
	return (uint32_t)read_ich_misr_el2();
}

static void v3_vcpu_save(uint64_t *vmcr, uint64_t *apr)
{
	*vmcr = read_ich_vmcr_el2();
	*apr = read_ich_ap1r0_el2();
}

static void v3_vcpu_restore(uint64_t vmcr, uint64_t apr)
{
	write_ich_vmcr_el2(vmcr);
	write_ich_ap1r0_el2(apr);
}

const struct gic_ops gicv3_ops = {
    .init = v3_init,
    .cpu_init = v3_cpu_init,
    .ack = v3_ack,
    .eoi = v3_eoi,
    .deactivate = v3_deactivate,
    .enable = v3_enable,
    .route = v3_route,
    .disable = v3_disable,
    .set_priority = v3_set_priority,
    .send_sgi = v3_send_sgi,
    .lr_count = v3_lr_count,
    .lr_read = v3_lr_read,
    .lr_write = v3_lr_write,
    .lr_encode = gic_v3_lr_encode,
    .lr_decode = gic_v3_lr_decode,
    .hcr_read = v3_hcr_read,
    .hcr_write = v3_hcr_write,
    .misr_read = v3_misr_read,
    .vcpu_save = v3_vcpu_save,
    .vcpu_restore = v3_vcpu_restore,
};
