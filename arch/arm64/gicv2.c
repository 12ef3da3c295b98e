/*
 * Physical GICv2 with the virtualization extensions (GIC-400; IHI 0048B):
 * distributor (GICD), CPU interface (GICC) and virtual interface control
 * (GICH), all memory-mapped. As Linux's irq-gic, keel leaves interrupt
 * groups as the firmware set them (no Security Extensions: Group 0; a
 * secure GIC seen from Non-secure: Group 1, which it enables as bit 0 of
 * its Non-secure GICD_CTLR/GICC_CTLR view). EOImode 1: GICC_EOIR drops the
 * priority, GICC_DIR deactivates.
 */
#include <errno.h>

#include "arch/gic.h"
#include "arch/sysreg.h"
#include "keel/addr.h"

#define GICD_CTLR	0x000
#define GICD_TYPER	0x004
#define GICD_ISENABLER	0x100
#define GICD_ICENABLER	0x180
#define GICD_ICPENDR	0x280
#define GICD_ICACTIVER	0x380
#define GICD_IPRIORITYR 0x400
#define GICD_ITARGETSR	0x800
#define GICD_ICFGR	0xc00
#define GICD_SGIR	0xf00
#define GICD_CTLR_EN	(1u << 0)

#define GICC_CTLR	  0x0000
#define GICC_PMR	  0x0004
#define GICC_BPR	  0x0008
#define GICC_IAR	  0x000c
#define GICC_EOIR	  0x0010
#define GICC_DIR	  0x1000
#define GICC_CTLR_EN	  (1u << 0)
#define GICC_CTLR_EOIMODE (1u << 9) /* EOImode (no Security Extensions) or EOImodeNS (NS view) */
#define GICC_IAR_INTID(v) ((v)&0x3ffu)
#define GICC_IAR_CPUID(v) (((v) >> 10) & 7u)

#define GICH_HCR  0x000
#define GICH_VTR  0x004
#define GICH_VMCR 0x008
#define GICH_MISR 0x010
#define GICH_APR  0x0f0
#define GICH_LR0  0x100

#define GIC_V2_MAX_CPUS 8
#define GIC_V2_MAX_LRS	64

static volatile uint8_t *gicd, *gicc, *gich;
static unsigned nr_lrs;
/* CPU interface mask of each keel CPU (by Aff0), from its banked GICD_ITARGETSR0. */
static uint8_t cpu_iface[KEEL_MAX_CPUS];
/* Source CPU of the last acknowledged SGI n on each CPU (GICC_IAR.CPUID), for its EOI and DIR. */
static uint8_t sgi_source[KEEL_MAX_CPUS][16];

static uint32_t rd32(volatile uint8_t *b, uint32_t off)
{
	return *(volatile uint32_t *)(b + off);
}
static void wr32(volatile uint8_t *b, uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(b + off) = v;
}

static unsigned this_cpu(void)
{
	return (unsigned)(read_mpidr_el1() & 0xff) % KEEL_MAX_CPUS;
}

static int v2_init(const struct gic_hw *hw)
{
	gicd = pa_to_ptr(hw->gicd);
	gicc = pa_to_ptr(hw->gicc);
	gich = pa_to_ptr(hw->gich);
	wr32(gicd, GICD_CTLR, 0);
	unsigned lines = ((rd32(gicd, GICD_TYPER) & 0x1f) + 1) * 32;
	if (lines > 1020)
		lines = 1020;
	for (unsigned i = 32; i < lines; i += 32) {
		wr32(gicd, GICD_ICENABLER + i / 8, 0xffffffff);
		wr32(gicd, GICD_ICPENDR + i / 8, 0xffffffff);
		wr32(gicd, GICD_ICACTIVER + i / 8, 0xffffffff);
	}
	for (unsigned i = 32; i < lines; i += 4)
		wr32(gicd, GICD_IPRIORITYR + i, GIC_PRIO_GUEST * 0x01010101u);
	wr32(gicd, GICD_CTLR, GICD_CTLR_EN);
	/* A distributor that does not keep its enable is not there (or not ours to drive). */
	return (rd32(gicd, GICD_CTLR) & GICD_CTLR_EN) ? 0 : -ENODEV;
}

static int v2_cpu_init(void)
{
	unsigned cpu = this_cpu();
	/* ITARGETSR0..7 are banked and read-only: each byte is this CPU interface's own mask. */
	uint32_t t = rd32(gicd, GICD_ITARGETSR);
	uint8_t mask = (uint8_t)(t | t >> 8 | t >> 16 | t >> 24);
	if (mask == 0)
		mask = (uint8_t)(1u << (cpu % GIC_V2_MAX_CPUS)); /* uniprocessor GICs may read as zero */
	cpu_iface[cpu] = mask;
	wr32(gicd, GICD_ICENABLER, 0xffffffff);
	wr32(gicd, GICD_ICACTIVER, 0xffffffff);
	for (unsigned i = 0; i < 32; i += 4)
		wr32(gicd, GICD_IPRIORITYR + i, GIC_PRIO_GUEST * 0x01010101u);
	wr32(gicc, GICC_PMR, 0xff);
	wr32(gicc, GICC_BPR, 0);
	wr32(gicc, GICC_CTLR, GICC_CTLR_EN | GICC_CTLR_EOIMODE);
	if (!(rd32(gicc, GICC_CTLR) & GICC_CTLR_EOIMODE))
		return -ENODEV; /* keel's forwarding needs split priority drop and deactivation */

	nr_lrs = (rd32(gich, GICH_VTR) & 0x3f) + 1;
	if (nr_lrs > GIC_V2_MAX_LRS)
		nr_lrs = GIC_V2_MAX_LRS;
	for (unsigned i = 0; i < nr_lrs; i++)
		wr32(gich, GICH_LR0 + 4 * i, 0);
	wr32(gich, GICH_APR, 0);
	wr32(gich, GICH_VMCR, 0);
	wr32(gich, GICH_HCR, (uint32_t)ICH_HCR_EN);
	return 0;
}

static uint32_t v2_ack(void)
{
	uint32_t iar = rd32(gicc, GICC_IAR);
	uint32_t intid = GICC_IAR_INTID(iar);
	if (intid < 16)
		sgi_source[this_cpu()][intid] = (uint8_t)GICC_IAR_CPUID(iar);
	__asm__ volatile("dsb sy" ::: "memory");
	return intid;
}

static uint32_t iar_value(uint32_t intid)
{
	return intid < 16 ? intid | (uint32_t)sgi_source[this_cpu()][intid] << 10 : intid;
}

static void v2_eoi(uint32_t intid)
{
	wr32(gicc, GICC_EOIR, iar_value(intid));
}

static void v2_deactivate(uint32_t intid)
{
	wr32(gicc, GICC_DIR, iar_value(intid));
}

static void set_cfg(uint32_t intid, bool edge)
{
	uint32_t off = GICD_ICFGR + (intid / 16) * 4, shift = (intid % 16) * 2 + 1;
	uint32_t v = rd32(gicd, off);
	v = edge ? v | (1u << shift) : v & ~(1u << shift);
	wr32(gicd, off, v);
}

static uint8_t iface_of(uint64_t mpidr)
{
	uint8_t m = cpu_iface[(mpidr & 0xff) % KEEL_MAX_CPUS];
	return m ? m : (uint8_t)(1u << ((mpidr & 0xff) % GIC_V2_MAX_CPUS));
}

static void v2_enable(uint32_t intid, bool edge, uint64_t mpidr)
{
	if (intid >= 16)
		set_cfg(intid, edge); /* PPIs: writable or fixed, as the implementation says */
	if (intid >= 32)
		gicd[GICD_ITARGETSR + intid] = iface_of(mpidr);
	wr32(gicd, GICD_ISENABLER + (intid / 32) * 4, 1u << (intid % 32));
}

static void v2_route(uint32_t intid, uint64_t mpidr)
{
	if (intid >= 32)
		gicd[GICD_ITARGETSR + intid] = iface_of(mpidr);
}

static void v2_disable(uint32_t intid)
{
	wr32(gicd, GICD_ICENABLER + (intid / 32) * 4, 1u << (intid % 32));
}

static void v2_set_priority(uint32_t intid, uint8_t prio)
{
	gicd[GICD_IPRIORITYR + intid] = prio;
}

static void v2_send_sgi(uint64_t mpidr, unsigned sgi)
{
	__asm__ volatile("dsb ish" ::: "memory");
	wr32(gicd, GICD_SGIR, (uint32_t)iface_of(mpidr) << 16 | (sgi & 0xf));
}

static unsigned v2_lr_count(void)
{
	return nr_lrs;
}
static uint64_t v2_lr_read(unsigned i)
{
	return rd32(gich, GICH_LR0 + 4 * i);
}
static void v2_lr_write(unsigned i, uint64_t v)
{
	wr32(gich, GICH_LR0 + 4 * i, (uint32_t)v);
}
static uint64_t v2_hcr_read(void)
{
	return rd32(gich, GICH_HCR);
}
static void v2_hcr_write(uint64_t v)
{
	wr32(gich, GICH_HCR, (uint32_t)v);
}
static uint32_t v2_misr_read(void)
{
	return rd32(gich, GICH_MISR);
}
static void v2_vcpu_save(uint64_t *vmcr, uint64_t *apr)
{
	*vmcr = rd32(gich, GICH_VMCR);
	*apr = rd32(gich, GICH_APR);
}
static void v2_vcpu_restore(uint64_t vmcr, uint64_t apr)
{
	wr32(gich, GICH_VMCR, (uint32_t)vmcr);
	wr32(gich, GICH_APR, (uint32_t)apr);
}

const struct gic_ops gicv2_ops = {
    .init = v2_init,
    .cpu_init = v2_cpu_init,
    .ack = v2_ack,
    .eoi = v2_eoi,
    .deactivate = v2_deactivate,
    .enable = v2_enable,
    .route = v2_route,
    .disable = v2_disable,
    .set_priority = v2_set_priority,
    .send_sgi = v2_send_sgi,
    .lr_count = v2_lr_count,
    .lr_read = v2_lr_read,
    .lr_write = v2_lr_write,
    .lr_encode = gic_v2_lr_encode,
    .lr_decode = gic_v2_lr_decode,
    .hcr_read = v2_hcr_read,
    .hcr_write = v2_hcr_write,
    .misr_read = v2_misr_read,
    .vcpu_save = v2_vcpu_save,
    .vcpu_restore = v2_vcpu_restore,
};
