/* GICv2 (arm IHI 0048B) driver for an EL1 guest: distributor and memory-mapped CPU interface. */
#include <stdint.h>

#include "arch.h"
#include "gic.h"
#include "uart.h"

#define GICD_CTLR	0x000
#define GICD_TYPER	0x004
#define GICD_ISENABLER	0x100
#define GICD_ICENABLER	0x180
#define GICD_ICPENDR	0x280
#define GICD_ICACTIVER	0x380
#define GICD_IPRIORITYR 0x400
#define GICD_ITARGETSR	0x800
#define GICD_SGIR	0xf00
#define SGIR_SELF	(2u << 24) /* TargetListFilter: the requesting CPU only */

#define GICC_CTLR	  0x0000
#define GICC_PMR	  0x0004
#define GICC_BPR	  0x0008
#define GICC_IAR	  0x000c
#define GICC_EOIR	  0x0010
#define GICC_DIR	  0x1000
#define GICC_CTLR_EOIMODE (1u << 9)
#define DEFAULT_PRIO	  0xa0u

static uintptr_t gicd, gicc;
static int eoi_split;
static irq_handler_t handlers[32];
volatile uint64_t gic2_spurious, gic2_unexpected;

int gic2_init(uintptr_t d, uintptr_t c, int eoimode)
{
	gicd = d;
	gicc = c;
	/* As Linux's irq-gic: interrupts stay Group 0, the distributor and CPU interface enable it. */
	mmio_write32(gicd + GICD_CTLR, 0);
	uint32_t typer = mmio_read32(gicd + GICD_TYPER);
	uint32_t lines = ((typer & 0x1f) + 1) * 32;

	if (lines > 1020)
		lines = 1020;
	uint32_t mask = mmio_read32(gicd + GICD_ITARGETSR) & 0xff; /* banked: this CPU's own bit */

	if (mask == 0) {
		gprintf("GUEST: FAIL gicv2 ITARGETSR0 reads 0 (no CPU interface mask)\n");
		return -1;
	}
	for (uint32_t i = 32; i < lines; i += 32)
		mmio_write32(gicd + GICD_ICENABLER + i / 8, ~0u);
	for (uint32_t i = 32; i < lines; i += 4) {
		mmio_write32(gicd + GICD_IPRIORITYR + i, DEFAULT_PRIO * 0x01010101u);
		mmio_write32(gicd + GICD_ITARGETSR + i, mask * 0x01010101u);
	}
	mmio_write32(gicd + GICD_ICENABLER, ~0u);
	mmio_write32(gicd + GICD_ICPENDR, ~0u);
	mmio_write32(gicd + GICD_ICACTIVER, ~0u);
	for (uint32_t i = 0; i < 32; i += 4)
		mmio_write32(gicd + GICD_IPRIORITYR + i, DEFAULT_PRIO * 0x01010101u);
	mmio_write32(gicd + GICD_CTLR, 1);
	uint32_t ctlr = mmio_read32(gicd + GICD_CTLR);
	uint32_t spi_target = lines > 32 ? mmio_read32(gicd + GICD_ITARGETSR + 32) & 0xff : mask;

	mmio_write32(gicc + GICC_PMR, 0xf0);
	mmio_write32(gicc + GICC_BPR, 0);
	mmio_write32(gicc + GICC_CTLR, 1u | (eoimode ? GICC_CTLR_EOIMODE : 0));
	isb();
	uint32_t cctlr = mmio_read32(gicc + GICC_CTLR);

	eoi_split = !!(cctlr & GICC_CTLR_EOIMODE);
	gprintf("GUEST: gicv2 typer=0x%x ctlr=0x%x spis=%u cpumask=0x%x spi-target=0x%x gicc ctlr=0x%x "
		"eoimode=%d pmr=0x%x\n",
		typer, ctlr, lines - 32, mask, spi_target, cctlr, eoi_split, mmio_read32(gicc + GICC_PMR));
	if (!(ctlr & 1) || !(cctlr & 1)) {
		gprintf("GUEST: FAIL gicv2 distributor or CPU interface did not enable\n");
		return -1;
	}
	if (spi_target != mask)
		gprintf("GUEST: FAIL gicv2 ITARGETSR of SPI 32 reads 0x%x, wrote 0x%x\n", spi_target, mask);
	if (eoimode && !eoi_split)
		gprintf("GUEST: FAIL gic EOImode=1 did not stick\n");
	return 0;
}

int gic2_enable_private(uint32_t intid, irq_handler_t handler)
{
	if (intid > 31 || !gicd)
		return -1;
	handlers[intid] = handler;
	mmio_write32(gicd + GICD_ISENABLER, 1u << intid);
	return 0;
}

int gic2_send_sgi_self(uint32_t intid)
{
	if (intid > 15 || !gicd)
		return -1;
	dsb_sy();
	mmio_write32(gicd + GICD_SGIR, SGIR_SELF | intid);
	isb();
	return 0;
}

void gic2_handle_irq(void)
{
	uint32_t iar = mmio_read32(gicc + GICC_IAR);
	uint32_t intid = iar & 0x3ff;

	if (intid >= 1020) {
		gic2_spurious++;
		return;
	}
	if (intid < 32 && handlers[intid]) {
		handlers[intid](intid);
	} else {
		gic2_unexpected++;
		gprintf("GUEST: unexpected irq %u\n", intid);
	}
	mmio_write32(gicc + GICC_EOIR, iar);
	if (eoi_split)
		mmio_write32(gicc + GICC_DIR, iar);
}
