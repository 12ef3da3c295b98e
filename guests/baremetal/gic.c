/* GICv3 (arm IHI 0069) driver for a Non-secure EL1 guest; GICv2 is in gic2.c (gic_init picks by version). */
#include <stdint.h>

#include "arch.h"
#include "gic.h"
#include "uart.h"

#define GICD_CTLR	 0x0000
#define GICD_TYPER	 0x0004
#define GICD_IGROUPR	 0x0080
#define GICD_ICENABLER	 0x0180
#define GICD_IPRIORITYR	 0x0400
#define GICD_CTLR_RWP	 (1u << 31)
#define GICD_CTLR_ARE_NS (1u << 4)
/* NS view (DS=0): bit0 EnableGrp1NS, bit1 EnableGrp1A(ignored); single-security view (DS=1):
 * bit0 EnableGrp0, bit1 EnableGrp1. Setting both works for either, as Linux does. */
#define GICD_CTLR_EN_G1A (1u << 1)
#define GICD_CTLR_EN_G1	 (1u << 0)

#define GICR_CTLR	 0x0000
#define GICR_TYPER	 0x0008
#define GICR_WAKER	 0x0014
#define GICR_CTLR_RWP	 (1u << 3)
#define GICR_TYPER_VLPIS (1u << 1)
#define GICR_TYPER_LAST	 (1u << 4)
#define WAKER_PSLEEP	 (1u << 1)
#define WAKER_CASLEEP	 (1u << 2)
#define GICR_SGI_BASE	 0x10000
#define GICR_IGROUPR0	 (GICR_SGI_BASE + 0x0080)
#define GICR_ISENABLER0	 (GICR_SGI_BASE + 0x0100)
#define GICR_ICENABLER0	 (GICR_SGI_BASE + 0x0180)
#define GICR_ICPENDR0	 (GICR_SGI_BASE + 0x0280)
#define GICR_ICACTIVER0	 (GICR_SGI_BASE + 0x0380)
#define GICR_IPRIORITYR	 (GICR_SGI_BASE + 0x0400)

#define ICC_SRE_SRE	 (1u << 0)
#define ICC_SRE_DFB	 (1u << 1)
#define ICC_SRE_DIB	 (1u << 2)
#define ICC_CTLR_EOIMODE (1u << 1)
#define DEFAULT_PRIO	 0xa0u
#define POLL_SPINS	 1000000

static uintptr_t gicd, gicr_rd;
static int eoi_split;
static irq_handler_t ppi_handlers[32];
static volatile uint64_t spurious, unexpected;

static int wait_clear(uintptr_t reg, uint32_t mask, const char *what)
{
	for (int i = 0; i < POLL_SPINS; i++)
		if (!(mmio_read32(reg) & mask))
			return 0;
	gprintf("GUEST: FAIL gic %s stuck (reg 0x%lx = 0x%x)\n", what, (uint64_t)reg, mmio_read32(reg));
	return -1;
}

static uint32_t mpidr_affinity(void)
{
	uint64_t m = read_sysreg(mpidr_el1);

	return (uint32_t)(((m >> 32) & 0xff) << 24 | (m & 0xffffff));
}

/* Walks the redistributor frames for the one whose GICR_TYPER affinity is this CPU's. */
static uintptr_t find_redist(uintptr_t base, uint64_t size)
{
	uint32_t aff = mpidr_affinity();
	uintptr_t rd = base;

	for (int i = 0; i < 256; i++) {
		uint64_t typer = mmio_read64(rd + GICR_TYPER);
		uint64_t stride = (typer & GICR_TYPER_VLPIS) ? 0x40000 : 0x20000;

		if ((uint32_t)(typer >> 32) == aff)
			return rd;
		if ((typer & GICR_TYPER_LAST) || (size && rd + stride >= base + size))
			break;
		rd += stride;
	}
	gprintf("GUEST: FAIL gic no redistributor for affinity 0x%x\n", aff);
	return 0;
}

static int gic_version = 3;

int gic_init(int version, uintptr_t d, uintptr_t r, uint64_t rsize, int eoimode)
{
	gic_version = version;
	if (version == 2)
		return gic2_init(d, r, eoimode);
	gicd = d;
	/* Distributor: off, all SPIs group 1 / disabled / default priority, then ARE + enable. */
	mmio_write32(gicd + GICD_CTLR, 0);
	if (wait_clear(gicd + GICD_CTLR, GICD_CTLR_RWP, "GICD_CTLR.RWP"))
		return -1;
	uint32_t typer = mmio_read32(gicd + GICD_TYPER);
	uint32_t lines = ((typer & 0x1f) + 1) * 32;

	if (lines > 1020)
		lines = 1020;
	for (uint32_t i = 32; i < lines; i += 32) {
		mmio_write32(gicd + GICD_IGROUPR + i / 8, ~0u);
		mmio_write32(gicd + GICD_ICENABLER + i / 8, ~0u);
	}
	for (uint32_t i = 32; i < lines; i += 4)
		mmio_write32(gicd + GICD_IPRIORITYR + i, DEFAULT_PRIO * 0x01010101u);
	if (wait_clear(gicd + GICD_CTLR, GICD_CTLR_RWP, "GICD_CTLR.RWP"))
		return -1;
	mmio_write32(gicd + GICD_CTLR, GICD_CTLR_ARE_NS | GICD_CTLR_EN_G1A | GICD_CTLR_EN_G1);
	if (wait_clear(gicd + GICD_CTLR, GICD_CTLR_RWP, "GICD_CTLR.RWP"))
		return -1;
	uint32_t ctlr = mmio_read32(gicd + GICD_CTLR);

	gprintf("GUEST: gicd typer=0x%x ctlr=0x%x spis=%u\n", typer, ctlr, lines - 32);
	if (!(ctlr & GICD_CTLR_ARE_NS)) {
		gprintf("GUEST: FAIL gicd ARE not set\n");
		return -1;
	}

	/* Redistributor: wake up, SGIs/PPIs group 1, disabled, default priority. */
	gicr_rd = find_redist(r, rsize);
	if (!gicr_rd)
		return -1;
	uint32_t waker = mmio_read32(gicr_rd + GICR_WAKER);

	mmio_write32(gicr_rd + GICR_WAKER, waker & ~WAKER_PSLEEP);
	if (wait_clear(gicr_rd + GICR_WAKER, WAKER_CASLEEP, "GICR_WAKER.ChildrenAsleep"))
		return -1;
	mmio_write32(gicr_rd + GICR_IGROUPR0, ~0u);
	mmio_write32(gicr_rd + GICR_ICENABLER0, ~0u);
	mmio_write32(gicr_rd + GICR_ICPENDR0, ~0u);
	mmio_write32(gicr_rd + GICR_ICACTIVER0, ~0u);
	if (wait_clear(gicr_rd + GICR_CTLR, GICR_CTLR_RWP, "GICR_CTLR.RWP"))
		return -1;
	for (uint32_t i = 0; i < 32; i += 4)
		mmio_write32(gicr_rd + GICR_IPRIORITYR + i, DEFAULT_PRIO * 0x01010101u);

	/* CPU interface. */
	write_icc(ICC_SRE_EL1, read_icc(ICC_SRE_EL1) | ICC_SRE_SRE | ICC_SRE_DFB | ICC_SRE_DIB);
	isb();
	if (!(read_icc(ICC_SRE_EL1) & ICC_SRE_SRE)) {
		gprintf("GUEST: FAIL gic ICC_SRE_EL1.SRE stuck at 0\n");
		return -1;
	}
	write_icc(ICC_PMR_EL1, 0xf0);
	write_icc(ICC_BPR1_EL1, 0);
	uint64_t cctlr = read_icc(ICC_CTLR_EL1);

	cctlr = eoimode ? (cctlr | ICC_CTLR_EOIMODE) : (cctlr & ~(uint64_t)ICC_CTLR_EOIMODE);
	write_icc(ICC_CTLR_EL1, cctlr);
	isb();
	eoi_split = !!(read_icc(ICC_CTLR_EL1) & ICC_CTLR_EOIMODE);
	write_icc(ICC_IGRPEN1_EL1, 1);
	isb();
	gprintf("GUEST: gicr rd=0x%lx waker=0x%x icc_ctlr=0x%lx eoimode=%d pmr=0x%lx\n", (uint64_t)gicr_rd,
		mmio_read32(gicr_rd + GICR_WAKER), read_icc(ICC_CTLR_EL1), eoi_split, read_icc(ICC_PMR_EL1));
	if (eoimode && !eoi_split)
		gprintf("GUEST: FAIL gic EOImode=1 did not stick\n");
	return 0;
}

int gic_enable_ppi(uint32_t intid, irq_handler_t handler)
{
	if (gic_version == 2)
		return gic2_enable_private(intid, handler);
	if (intid < 16 || intid > 31 || !gicr_rd)
		return -1;
	ppi_handlers[intid] = handler;
	mmio_write32(gicr_rd + GICR_ISENABLER0, 1u << intid);
	return 0;
}

void gic_handle_irq(void)
{
	if (gic_version == 2) {
		gic2_handle_irq();
		return;
	}
	uint64_t iar = read_icc(ICC_IAR1_EL1);
	uint32_t intid = (uint32_t)(iar & 0xffffff);

	if (intid >= 1020 && intid <= 1023) {
		spurious++;
		return;
	}
	if (intid < 32 && ppi_handlers[intid]) {
		ppi_handlers[intid](intid);
	} else {
		unexpected++;
		gprintf("GUEST: unexpected irq %u\n", intid);
	}
	write_icc(ICC_EOIR1_EL1, iar);
	if (eoi_split)
		write_icc(ICC_DIR_EL1, iar);
	isb();
}

#define ICC_SGI1R_EL1 S3_0_C12_C11_5

int gic_send_sgi_self(uint32_t intid, irq_handler_t handler)
{
	if (intid > 15)
		return -1;
	if (gic_version == 2) {
		if (gic2_enable_private(intid, handler))
			return -1;
		return gic2_send_sgi_self(intid);
	}
	if (!gicr_rd)
		return -1;
	ppi_handlers[intid] = handler;
	mmio_write32(gicr_rd + GICR_ISENABLER0, 1u << intid);
	uint64_t m = read_sysreg(mpidr_el1);
	uint64_t v = ((m >> 8) & 0xff) << 16 | ((m >> 16) & 0xff) << 32 | ((m >> 32) & 0xff) << 48 |
		     (uint64_t)intid << 24 | (1u << (m & 0xf));

	write_icc(ICC_SGI1R_EL1, v);
	isb();
	return 0;
}

uint64_t gic_spurious_count(void)
{
	return spurious + gic2_spurious;
}
uint64_t gic_unexpected_count(void)
{
	return unexpected + gic2_unexpected;
}
