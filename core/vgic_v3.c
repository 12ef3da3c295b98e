/*
 * The vGIC's GICv3 model: distributor and redistributor registers (see core/vgic.h):
 * the single-security-state view (DS = 1, ARE = 1), no LPIs, no ITS.
 * Every access is answered: wrong sizes, misaligned or reserved offsets and
 * writes to read-only registers read as zero / are ignored, with a
 * rate-limited log line; the guest never gets an abort from the vGIC.
 */
#include <errno.h>

#include "core/vgic_regs.h"
#include "core/vm.h"
#include "keel/util.h"

/* Distributor (GICD_*) offsets beyond those in core/vgic_regs.h */
#define GICD_TYPER2	   0x000c
#define GICD_STATUSR	   0x0010
#define GICD_SETSPI_NSR	   0x0040 /* ..0x005c: SET/CLRSPI_{NS,S}R, message-based SPIs (MBIS = 0) */
#define GICD_CLRSPI_SR_END 0x0060
#define GICD_IGRPMODR	   0x0d00
#define GICD_SPENDSGIR_END 0x0f30
#define GICD_IROUTER	   0x6000
#define GICD_IROUTER_END   0x7fe0
#define GIC_IDREGS	   0xffd0 /* PIDR4..PIDR7, PIDR0..PIDR3, CIDR0..CIDR3 (both GICD and GICR RD_base) */
#define GIC_PIDR2	   0xffe8

#define GICD_CTLR_ARE	     (1u << 4)
#define GICD_CTLR_DS	     (1u << 6)
#define GICD_TYPER_IDBITS_16 (15u << 19) /* as QEMU's GICv3 */
#define GICD_TYPER_A3V	     (1u << 24)
#define GICD_TYPER_NO1N	     (1u << 25) /* IROUTER.IRM is RAZ/WI */

/* Redistributor RD_base offsets */
#define GICR_CTLR	0x0000
#define GICR_IIDR	0x0004
#define GICR_TYPER	0x0008
#define GICR_STATUSR	0x0010
#define GICR_WAKER	0x0014
#define GICR_SETLPIR	0x0040
#define GICR_CLRLPIR	0x0048
#define GICR_PROPBASER	0x0070
#define GICR_PENDBASER	0x0078
#define GICR_INVLPIR	0x00a0
#define GICR_INVALLR	0x00b0
#define GICR_SYNCR	0x00c0
#define GICR_TYPER_LAST (1ULL << 4)
#define GICR_WAKER_PS	(1u << 1)
#define GICR_WAKER_CA	(1u << 2)
/* SGI_base: the GICD bitmap/priority/config layout for INTIDs 0..31 */
#define GICR_SGI_BASE  0x10000
#define GICR_ICFGR0    0x0c00
#define GICR_ICFGR1    0x0c04
#define GICR_IGRPMODR0 0x0d00
#define GICR_NSACR     0x0e00

#define MPIDR_AFF_MASK 0xff00ffffffULL

/* The CoreSight ID block; PIDR2 bits [7:4] = 3: GICv3. */
static uint32_t id_reg(uint64_t off, bool redist)
{
	static const uint8_t ids[12] = {0x44, 0x00, 0x00, 0x00, 0x92, 0xb4,
					0x3b, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
	unsigned i = (unsigned)(off - GIC_IDREGS) / 4;
	if (redist && i == 4)
		return 0x93; /* PIDR0: redistributor part number */
	return ids[i];
}

/* A 32-bit half of a 64-bit register, or all of it. */
static uint64_t read64_part(uint64_t reg, const struct mmio_access *acc)
{
	if (acc->size == 8)
		return reg;
	return (acc->offset & 4) ? reg >> 32 : reg & 0xffffffffULL;
}

static uint64_t write64_part(uint64_t reg, const struct mmio_access *acc)
{
	if (acc->size == 8)
		return acc->value;
	if (acc->offset & 4)
		return (reg & 0xffffffffULL) | acc->value << 32;
	return (reg & ~0xffffffffULL) | (acc->value & 0xffffffffULL);
}

/* --- Distributor ------------------------------------------------------------ */

static uint32_t gicd_typer(const struct vm *vm)
{
	uint32_t lines = (VGIC_NR_PRIV + vm->vgic.nr_spis + 31) / 32; /* ITLinesNumber + 1 */
	return GICD_TYPER_NO1N | GICD_TYPER_A3V | GICD_TYPER_IDBITS_16 | (lines - 1);
}

static enum vgic_result gicd_access(struct vm *vm, struct mmio_access *acc, uint32_t *kick)
{
	uint64_t off = acc->offset;
	bool w = acc->write;
	const struct vgic_gicd_view view = {
	    .ctlr_fixed = GICD_CTLR_ARE | GICD_CTLR_DS, /* RWP: never busy */
	    .typer = gicd_typer(vm),
	    .banked = false,
	};
	enum vgic_result r;

	if (vgic_gicd_shared_access(vm, NULL, &view, acc, kick, &r))
		return r;
	if (off < GICD_IGROUPR) { /* size checked */
		switch (off) {
		case GICD_TYPER2: /* no vPEs, no extended SPIs */
			acc->value = 0;
			return w ? VR_READ_ONLY : VR_OK;
		case GICD_STATUSR:
			acc->value = 0;
			return VR_OK;
		default:
			acc->value = 0;
			return off >= GICD_SETSPI_NSR && off < GICD_CLRSPI_SR_END ? VR_OK : VR_BAD_OFFSET;
		}
	}
	if (off >= GICD_ITARGETSR && off < GICD_ICFGR) { /* ITARGETSR: RAZ/WI with ARE */
		acc->value = 0;
		return vgic_size_ok(acc, VGIC_SZ(1) | VGIC_SZ(4)) ? VR_OK : VR_BAD_SIZE;
	}
	if ((off >= GICD_IGRPMODR && off < GICD_IGRPMODR + 0x80) || (off >= GICD_NSACR && off < GICD_SGIR) ||
	    (off >= GICD_SGIR && off < GICD_SPENDSGIR_END)) {
		/* IGRPMODR and NSACR are RAZ/WI with DS = 1; SGIR and C/SPENDSGIR with ARE = 1. */
		acc->value = 0;
		return vgic_size_ok(acc, off >= GICD_CPENDSGIR ? VGIC_SZ(1) | VGIC_SZ(4) : VGIC_SZ(4))
			   ? VR_OK
			   : VR_BAD_SIZE;
	}
	if (off >= GICD_IROUTER && off < GICD_IROUTER_END) {
		if (!vgic_size_ok(acc, VGIC_SZ(4) | VGIC_SZ(8)))
			return VR_BAD_SIZE;
		struct vgic_irq *irq = vgic_get_irq(vm, NULL, (uint32_t)(off - GICD_IROUTER) / 8);
		if (irq == NULL) { /* INTIDs 0..31 (reserved) or beyond the VM's SPIs */
			acc->value = 0;
			return VR_OK;
		}
		if (!w) {
			acc->value = read64_part(irq->route, acc);
			return VR_OK;
		}
		uint8_t old = vgic_irq_target(irq, NULL);
		irq->route = write64_part(irq->route, acc) & MPIDR_AFF_MASK;
		irq->route_vcpu = vgic_route_to_vcpu(vm, irq->route);
		uint8_t now = vgic_irq_target(irq, NULL);
		*kick |= (old != VGIC_NO_VCPU ? 1u << old : 0) | (now != VGIC_NO_VCPU ? 1u << now : 0);
		return VR_OK;
	}
	if (off >= GIC_IDREGS) {
		if (!vgic_size_ok(acc, VGIC_SZ(4)))
			return VR_BAD_SIZE;
		acc->value = id_reg(off, false);
		return w ? VR_READ_ONLY : VR_OK;
	}
	acc->value = 0;
	return VR_BAD_OFFSET;
}

/* --- Redistributors ------------------------------------------------------------ */

static uint64_t gicr_typer(const struct vm *vm, const struct vcpu *t)
{
	uint64_t aff = t->vmpidr & MPIDR_AFF_MASK;
	uint64_t aff32 = (aff >> 32) << 24 | (aff & 0xffffff); /* Aff3.Aff2.Aff1.Aff0 */
	uint64_t v = aff32 << 32 | (uint64_t)t->index << 8;    /* Processor_Number; PLPIS = VLPIS = 0 */
	if (t->index + 1 == vm->nr_vcpus)
		v |= GICR_TYPER_LAST;
	return v;
}

static enum vgic_result gicr_rd_access(struct vm *vm, struct vcpu *t, uint64_t off, struct mmio_access *acc)
{
	bool w = acc->write;
	switch (off) {
	case GICR_CTLR: /* EnableLPIs RES0 without LPIs; RWP/UWP never busy */
	case GICR_STATUSR:
		acc->value = 0;
		return vgic_size_ok(acc, VGIC_SZ(4)) ? VR_OK : VR_BAD_SIZE;
	case GICR_IIDR:
		acc->value = GIC_IIDR_KEEL;
		return !vgic_size_ok(acc, VGIC_SZ(4)) ? VR_BAD_SIZE : w ? VR_READ_ONLY : VR_OK;
	case GICR_TYPER:
	case GICR_TYPER + 4:
		if (!vgic_size_ok(acc, VGIC_SZ(4) | VGIC_SZ(8)))
			return VR_BAD_SIZE;
		acc->value = read64_part(gicr_typer(vm, t), acc);
		return w ? VR_READ_ONLY : VR_OK;
	case GICR_WAKER:
		if (!vgic_size_ok(acc, VGIC_SZ(4)))
			return VR_BAD_SIZE;
		if (w)
			t->vgic.asleep = (acc->value & GICR_WAKER_PS) != 0;
		else /* ChildrenAsleep follows ProcessorSleep at once */
			acc->value = t->vgic.asleep ? GICR_WAKER_PS | GICR_WAKER_CA : 0;
		return VR_OK;
	case GICR_SETLPIR:
	case GICR_CLRLPIR:
	case GICR_PROPBASER:
	case GICR_PENDBASER:
	case GICR_INVLPIR:
	case GICR_INVALLR:
	case GICR_SYNCR: /* LPIs absent (GICD_TYPER.LPIS = 0): RAZ/WI, SYNCR.Busy = 0 */
	case GICR_SETLPIR + 4:
	case GICR_CLRLPIR + 4:
	case GICR_PROPBASER + 4:
	case GICR_PENDBASER + 4:
	case GICR_INVLPIR + 4:
	case GICR_INVALLR + 4:
		acc->value = 0;
		return vgic_size_ok(acc, VGIC_SZ(4) | VGIC_SZ(8)) ? VR_OK : VR_BAD_SIZE;
	default:
		break;
	}
	if (off >= GIC_IDREGS && off < GICR_SGI_BASE) {
		if (!vgic_size_ok(acc, VGIC_SZ(4)))
			return VR_BAD_SIZE;
		acc->value = id_reg(off, true);
		return w ? VR_READ_ONLY : VR_OK;
	}
	acc->value = 0;
	return VR_BAD_OFFSET;
}

static enum vgic_result gicr_sgi_access(struct vm *vm, struct vcpu *t, uint64_t off, struct mmio_access *acc,
					uint32_t *kick)
{
	if (off >= GICD_IGROUPR && off < GICD_IPRIORITYR && (off & 0x7f) == 0) {
		if (!vgic_size_ok(acc, VGIC_SZ(4)))
			return VR_BAD_SIZE;
		*kick |= vgic_bitreg_access(vm, t, 0, vgic_bitreg_kind(off), acc);
		return VR_OK;
	}
	if (off >= GICD_IPRIORITYR && off < GICD_IPRIORITYR + VGIC_NR_PRIV) {
		if (!vgic_size_ok(acc, VGIC_SZ(1) | VGIC_SZ(4)))
			return VR_BAD_SIZE;
		*kick |= vgic_priority_access(vm, t, (uint32_t)(off - GICD_IPRIORITYR), acc);
		return VR_OK;
	}
	if (off == GICR_ICFGR0 || off == GICR_ICFGR1) {
		if (!vgic_size_ok(acc, VGIC_SZ(4)))
			return VR_BAD_SIZE;
		vgic_config_access(vm, t, off == GICR_ICFGR0 ? 0 : 16, acc);
		return acc->write && off == GICR_ICFGR0 ? VR_READ_ONLY : VR_OK;
	}
	if (off == GICR_IGRPMODR0 || off == GICR_NSACR) { /* RAZ/WI with DS = 1 */
		acc->value = 0;
		return vgic_size_ok(acc, VGIC_SZ(4)) ? VR_OK : VR_BAD_SIZE;
	}
	acc->value = 0;
	return VR_BAD_OFFSET;
}

/* --- MMIO callbacks --------------------------------------------------------------- */

static int gicd_dispatch(void *dev, struct vcpu *vcpu, struct mmio_access *acc)
{
	struct vm *vm = dev;
	uint32_t kick = 0;
	spin_lock(&vm->vgic.lock);
	enum vgic_result r = gicd_access(vm, acc, &kick);
	spin_unlock(&vm->vgic.lock);
	return vgic_mmio_finish(vm, vcpu, false, acc, r, kick);
}

int vgic_gicd_read(void *dev, struct vcpu *vcpu, struct mmio_access *acc)
{
	return gicd_dispatch(dev, vcpu, acc);
}
int vgic_gicd_write(void *dev, struct vcpu *vcpu, struct mmio_access *acc)
{
	return gicd_dispatch(dev, vcpu, acc);
}

static int gicr_dispatch(void *dev, struct vcpu *vcpu, struct mmio_access *acc)
{
	struct vm *vm = dev;
	uint64_t frame = acc->offset / VGIC_GICR_STRIDE, off = acc->offset % VGIC_GICR_STRIDE;
	uint32_t kick = 0;
	enum vgic_result r = VR_BAD_OFFSET;
	spin_lock(&vm->vgic.lock);
	if (frame < vm->nr_vcpus && frame < VM_MAX_VCPUS) {
		struct vcpu *t = &vm->vcpus[frame];
		if (off < GICR_SGI_BASE)
			r = gicr_rd_access(vm, t, off, acc);
		else
			r = gicr_sgi_access(vm, t, off - GICR_SGI_BASE, acc, &kick);
	}
	spin_unlock(&vm->vgic.lock);
	return vgic_mmio_finish(vm, vcpu, true, acc, r, kick);
}

int vgic_gicr_read(void *dev, struct vcpu *vcpu, struct mmio_access *acc)
{
	return gicr_dispatch(dev, vcpu, acc);
}
int vgic_gicr_write(void *dev, struct vcpu *vcpu, struct mmio_access *acc)
{
	return gicr_dispatch(dev, vcpu, acc);
}
