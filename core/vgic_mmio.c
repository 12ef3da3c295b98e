/*
 * GICv3 distributor and redistributor register emulation (see core/vgic.h):
 * the single-security-state view (DS = 1, ARE = 1), no LPIs, no ITS.
 * Every access is answered: wrong sizes, misaligned or reserved offsets and
 * writes to read-only registers read as zero / are ignored, with a
 * rate-limited log line; the guest never gets an abort from the vGIC.
 */
#include <errno.h>
#include <stdio.h>

#include "core/mmio.h"
#include "core/vgic.h"
#include "core/vm.h"
#include "core/vm_log.h"
#include "keel/log.h"
#include "keel/util.h"

/* Distributor (GICD_*) offsets */
#define GICD_CTLR	   0x0000
#define GICD_TYPER	   0x0004
#define GICD_IIDR	   0x0008
#define GICD_TYPER2	   0x000c
#define GICD_STATUSR	   0x0010
#define GICD_SETSPI_NSR	   0x0040 /* ..0x005c: SET/CLRSPI_{NS,S}R, message-based SPIs (MBIS = 0) */
#define GICD_CLRSPI_SR_END 0x0060
#define GICD_IGROUPR	   0x0080
#define GICD_ISENABLER	   0x0100
#define GICD_ICENABLER	   0x0180
#define GICD_ISPENDR	   0x0200
#define GICD_ICPENDR	   0x0280
#define GICD_ISACTIVER	   0x0300
#define GICD_ICACTIVER	   0x0380
#define GICD_IPRIORITYR	   0x0400
#define GICD_ITARGETSR	   0x0800
#define GICD_ICFGR	   0x0c00
#define GICD_IGRPMODR	   0x0d00
#define GICD_NSACR	   0x0e00
#define GICD_SGIR	   0x0f00
#define GICD_CPENDSGIR	   0x0f10
#define GICD_SPENDSGIR_END 0x0f30
#define GICD_IROUTER	   0x6000
#define GICD_IROUTER_END   0x7fe0
#define GIC_IDREGS	   0xffd0 /* PIDR4..PIDR7, PIDR0..PIDR3, CIDR0..CIDR3 (both GICD and GICR RD_base) */
#define GIC_PIDR2	   0xffe8

#define GICD_CTLR_ENABLE_G0  (1u << 0)
#define GICD_CTLR_ENABLE_G1  (1u << 1)
#define GICD_CTLR_ARE	     (1u << 4)
#define GICD_CTLR_DS	     (1u << 6)
#define GICD_TYPER_IDBITS_16 (15u << 19) /* as QEMU's GICv3 */
#define GICD_TYPER_A3V	     (1u << 24)
#define GICD_TYPER_NO1N	     (1u << 25)	 /* IROUTER.IRM is RAZ/WI */
#define GIC_IIDR_KEEL	     0x6b000000u /* ProductID 'k', no JEP106 implementer: matches no Linux quirk */

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

#define SZ(n)	       (1u << (n)) /* allowed access sizes, as a mask of 1 << bytes */
#define MPIDR_AFF_MASK 0xff00ffffffULL

enum result { R_OK, R_BAD_SIZE, R_BAD_OFFSET, R_READ_ONLY };

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

static bool size_ok(const struct mmio_access *acc, unsigned sizes)
{
	return (sizes & SZ(acc->size)) && (acc->offset & (acc->size - 1u)) == 0;
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

/* --- Registers shared by GICD (SPIs) and GICR SGI_base (SGIs/PPIs) --------- */

enum bitreg {
	BR_GROUP,
	BR_SET_ENABLE,
	BR_CLR_ENABLE,
	BR_SET_PEND,
	BR_CLR_PEND,
	BR_SET_ACTIVE,
	BR_CLR_ACTIVE
};

static enum bitreg bitreg_kind(uint64_t off)
{
	return (enum bitreg)((off - GICD_IGROUPR) / 0x80);
}

static bool bitreg_get(const struct vgic_irq *irq, enum bitreg k)
{
	switch (k) {
	case BR_GROUP:
		return irq->group1;
	case BR_SET_ENABLE:
	case BR_CLR_ENABLE:
		return irq->enabled;
	case BR_SET_PEND:
	case BR_CLR_PEND:
		return vgic_irq_pending(irq);
	default:
		return irq->active;
	}
}

/*
 * One 32-bit IGROUPR/IS/ICENABLER/IS/ICPENDR/IS/ICACTIVER for INTIDs
 * first..first+31 (private to pv when first is 0, else SPIs; INTIDs the VM
 * lacks are RAZ/WI). Returns the vCPUs to kick.
 */
static uint32_t bitreg_access(struct vm *vm, struct vcpu *pv, uint32_t first, enum bitreg k,
			      struct mmio_access *acc)
{
	uint32_t kick = 0, v = (uint32_t)acc->value;
	if (!acc->write)
		acc->value = 0;
	for (uint32_t i = 0; i < 32; i++) {
		struct vgic_irq *irq = vgic_get_irq(vm, pv, first + i);
		if (irq == NULL)
			continue;
		if (!acc->write) {
			acc->value |= (uint64_t)bitreg_get(irq, k) << i;
			continue;
		}
		bool bit = (v >> i) & 1;
		if (k != BR_GROUP && !bit)
			continue; /* set/clear registers: zeros have no effect */
		switch (k) {
		case BR_GROUP:
			if (irq->group1 == bit)
				continue;
			irq->group1 = bit;
			break;
		case BR_SET_ENABLE:
			irq->enabled = true;
			break;
		case BR_CLR_ENABLE:
			irq->enabled = false;
			break;
		case BR_SET_PEND:
			irq->pending_latch = true;
			break;
		case BR_CLR_PEND:
			irq->pending_latch = false; /* a level line that is still high keeps it pending */
			break;
		case BR_SET_ACTIVE:
			irq->active = true;
			if (irq->owner == VGIC_NO_VCPU)
				irq->owner = pv != NULL ? (uint8_t)pv->index : irq->route_vcpu;
			break;
		case BR_CLR_ACTIVE:
			irq->active = false;
			if (!irq->in_lr)
				irq->owner = VGIC_NO_VCPU;
			break;
		}
		if (pv != NULL)
			vgic_irq_check_hw(pv, irq);
		uint8_t t = vgic_irq_target(irq, pv);
		if (t != VGIC_NO_VCPU)
			kick |= 1u << t;
	}
	return kick;
}

/* IPRIORITYR bytes for INTIDs first..first+size-1 (byte or word access). */
static uint32_t priority_access(struct vm *vm, struct vcpu *pv, uint32_t first, struct mmio_access *acc)
{
	uint32_t kick = 0;
	uint64_t v = acc->value;
	if (!acc->write)
		acc->value = 0;
	for (uint32_t b = 0; b < acc->size; b++) {
		struct vgic_irq *irq = vgic_get_irq(vm, pv, first + b);
		if (irq == NULL)
			continue;
		if (!acc->write) {
			acc->value |= (uint64_t)irq->priority << (8 * b);
			continue;
		}
		irq->priority = (uint8_t)(v >> (8 * b)) & VGIC_PRIO_MASK;
		uint8_t t = vgic_irq_target(irq, pv);
		if (t != VGIC_NO_VCPU)
			kick |= 1u << t;
	}
	return kick;
}

/* ICFGR for INTIDs first..first+15: Int_config[1] of each 2-bit field (1 = edge); SGIs are fixed edge. */
static void config_access(struct vm *vm, struct vcpu *pv, uint32_t first, struct mmio_access *acc)
{
	uint32_t v = (uint32_t)acc->value;
	if (!acc->write)
		acc->value = 0;
	for (uint32_t i = 0; i < 16; i++) {
		struct vgic_irq *irq = vgic_get_irq(vm, pv, first + i);
		if (irq == NULL)
			continue;
		if (!acc->write)
			acc->value |= (uint64_t)irq->edge << (2 * i + 1);
		else if (first + i >= 16)
			irq->edge = (v >> (2 * i + 1)) & 1;
	}
}

/* --- Distributor ------------------------------------------------------------ */

static uint32_t gicd_typer(const struct vm *vm)
{
	uint32_t lines = (VGIC_NR_PRIV + vm->vgic.nr_spis + 31) / 32; /* ITLinesNumber + 1 */
	return GICD_TYPER_NO1N | GICD_TYPER_A3V | GICD_TYPER_IDBITS_16 | (lines - 1);
}

static enum result gicd_access(struct vm *vm, struct mmio_access *acc, uint32_t *kick)
{
	uint64_t off = acc->offset;
	bool w = acc->write;

	if (off < GICD_IGROUPR) {
		if (!size_ok(acc, SZ(4)))
			return R_BAD_SIZE;
		switch (off) {
		case GICD_CTLR:
			if (!w) {
				acc->value =
				    vm->vgic.ctlr | GICD_CTLR_ARE | GICD_CTLR_DS; /* RWP: never busy */
			} else {
				vm->vgic.ctlr =
				    (uint32_t)acc->value & (GICD_CTLR_ENABLE_G0 | GICD_CTLR_ENABLE_G1);
				*kick = (1u << vm->nr_vcpus) - 1;
			}
			return R_OK;
		case GICD_TYPER:
			acc->value = gicd_typer(vm);
			return w ? R_READ_ONLY : R_OK;
		case GICD_IIDR:
			acc->value = GIC_IIDR_KEEL;
			return w ? R_READ_ONLY : R_OK;
		case GICD_TYPER2: /* no vPEs, no extended SPIs */
			acc->value = 0;
			return w ? R_READ_ONLY : R_OK;
		case GICD_STATUSR:
			acc->value = 0;
			return R_OK;
		default:
			acc->value = 0;
			return off >= GICD_SETSPI_NSR && off < GICD_CLRSPI_SR_END ? R_OK : R_BAD_OFFSET;
		}
	}
	if (off < GICD_IPRIORITYR) {
		if (!size_ok(acc, SZ(4)))
			return R_BAD_SIZE;
		uint32_t n = (uint32_t)(off & 0x7f) / 4;
		if (n == 0) { /* INTIDs 0..31 live in the redistributors (ARE) */
			acc->value = 0;
			return R_OK;
		}
		*kick |= bitreg_access(vm, NULL, 32 * n, bitreg_kind(off & ~0x7fULL), acc);
		return R_OK;
	}
	if (off < GICD_ITARGETSR) {
		if (!size_ok(acc, SZ(1) | SZ(4)))
			return R_BAD_SIZE;
		*kick |= priority_access(vm, NULL, (uint32_t)(off - GICD_IPRIORITYR), acc);
		return R_OK;
	}
	if (off < GICD_ICFGR) { /* ITARGETSR: RAZ/WI with ARE */
		acc->value = 0;
		return size_ok(acc, SZ(1) | SZ(4)) ? R_OK : R_BAD_SIZE;
	}
	if (off < GICD_IGRPMODR) {
		if (!size_ok(acc, SZ(4)))
			return R_BAD_SIZE;
		uint32_t first = (uint32_t)(off - GICD_ICFGR) * 4;
		if (first < VGIC_NR_PRIV)
			acc->value = 0;
		else
			config_access(vm, NULL, first, acc);
		return R_OK;
	}
	if ((off >= GICD_IGRPMODR && off < GICD_IGRPMODR + 0x80) || (off >= GICD_NSACR && off < GICD_SGIR) ||
	    (off >= GICD_SGIR && off < GICD_SPENDSGIR_END)) {
		/* IGRPMODR and NSACR are RAZ/WI with DS = 1; SGIR and C/SPENDSGIR with ARE = 1. */
		acc->value = 0;
		return size_ok(acc, off >= GICD_CPENDSGIR ? SZ(1) | SZ(4) : SZ(4)) ? R_OK : R_BAD_SIZE;
	}
	if (off >= GICD_IROUTER && off < GICD_IROUTER_END) {
		if (!size_ok(acc, SZ(4) | SZ(8)))
			return R_BAD_SIZE;
		struct vgic_irq *irq = vgic_get_irq(vm, NULL, (uint32_t)(off - GICD_IROUTER) / 8);
		if (irq == NULL) { /* INTIDs 0..31 (reserved) or beyond the VM's SPIs */
			acc->value = 0;
			return R_OK;
		}
		if (!w) {
			acc->value = read64_part(irq->route, acc);
			return R_OK;
		}
		uint8_t old = vgic_irq_target(irq, NULL);
		irq->route = write64_part(irq->route, acc) & MPIDR_AFF_MASK;
		irq->route_vcpu = vgic_route_to_vcpu(vm, irq->route);
		uint8_t now = vgic_irq_target(irq, NULL);
		*kick |= (old != VGIC_NO_VCPU ? 1u << old : 0) | (now != VGIC_NO_VCPU ? 1u << now : 0);
		return R_OK;
	}
	if (off >= GIC_IDREGS) {
		if (!size_ok(acc, SZ(4)))
			return R_BAD_SIZE;
		acc->value = id_reg(off, false);
		return w ? R_READ_ONLY : R_OK;
	}
	acc->value = 0;
	return R_BAD_OFFSET;
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

static enum result gicr_rd_access(struct vm *vm, struct vcpu *t, uint64_t off, struct mmio_access *acc)
{
	bool w = acc->write;
	switch (off) {
	case GICR_CTLR: /* EnableLPIs RES0 without LPIs; RWP/UWP never busy */
	case GICR_STATUSR:
		acc->value = 0;
		return size_ok(acc, SZ(4)) ? R_OK : R_BAD_SIZE;
	case GICR_IIDR:
		acc->value = GIC_IIDR_KEEL;
		return !size_ok(acc, SZ(4)) ? R_BAD_SIZE : w ? R_READ_ONLY : R_OK;
	case GICR_TYPER:
	case GICR_TYPER + 4:
		if (!size_ok(acc, SZ(4) | SZ(8)))
			return R_BAD_SIZE;
		acc->value = read64_part(gicr_typer(vm, t), acc);
		return w ? R_READ_ONLY : R_OK;
	case GICR_WAKER:
		if (!size_ok(acc, SZ(4)))
			return R_BAD_SIZE;
		if (w)
			t->vgic.asleep = (acc->value & GICR_WAKER_PS) != 0;
		else /* ChildrenAsleep follows ProcessorSleep at once */
			acc->value = t->vgic.asleep ? GICR_WAKER_PS | GICR_WAKER_CA : 0;
		return R_OK;
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
		return size_ok(acc, SZ(4) | SZ(8)) ? R_OK : R_BAD_SIZE;
	default:
		break;
	}
	if (off >= GIC_IDREGS && off < GICR_SGI_BASE) {
		if (!size_ok(acc, SZ(4)))
			return R_BAD_SIZE;
		acc->value = id_reg(off, true);
		return w ? R_READ_ONLY : R_OK;
	}
	acc->value = 0;
	return R_BAD_OFFSET;
}

static enum result gicr_sgi_access(struct vm *vm, struct vcpu *t, uint64_t off, struct mmio_access *acc,
				   uint32_t *kick)
{
	if (off >= GICD_IGROUPR && off < GICD_IPRIORITYR && (off & 0x7f) == 0) {
		if (!size_ok(acc, SZ(4)))
			return R_BAD_SIZE;
		*kick |= bitreg_access(vm, t, 0, bitreg_kind(off), acc);
		return R_OK;
	}
	if (off >= GICD_IPRIORITYR && off < GICD_IPRIORITYR + VGIC_NR_PRIV) {
		if (!size_ok(acc, SZ(1) | SZ(4)))
			return R_BAD_SIZE;
		*kick |= priority_access(vm, t, (uint32_t)(off - GICD_IPRIORITYR), acc);
		return R_OK;
	}
	if (off == GICR_ICFGR0 || off == GICR_ICFGR1) {
		if (!size_ok(acc, SZ(4)))
			return R_BAD_SIZE;
		config_access(vm, t, off == GICR_ICFGR0 ? 0 : 16, acc);
		return acc->write && off == GICR_ICFGR0 ? R_READ_ONLY : R_OK;
	}
	if (off == GICR_IGRPMODR0 || off == GICR_NSACR) { /* RAZ/WI with DS = 1 */
		acc->value = 0;
		return size_ok(acc, SZ(4)) ? R_OK : R_BAD_SIZE;
	}
	acc->value = 0;
	return R_BAD_OFFSET;
}

/* --- MMIO callbacks --------------------------------------------------------------- */

/* off: from the region's base; a redistributor access is named by its vCPU's frame. */
static void log_bad(struct vm *vm, bool redist, uint64_t off, const struct mmio_access *acc, enum result r)
{
	char where[32] = "GICD";
	if (redist) {
		snprintf(where, sizeof(where), "GICR frame %u", (unsigned)(off / VGIC_GICR_STRIDE));
		off %= VGIC_GICR_STRIDE;
	}
	spin_lock(&vm->vgic.lock);
	uint32_t n = ++vm->vgic.bad_accesses;
	spin_unlock(&vm->vgic.lock);
	static const char *const why[] = {"", "unsupported size or alignment", "reserved offset",
					  "read-only register"};
	vm_warn_limited(vm, VM_LOG_VGIC, "vGIC %s: %u-byte %s at offset 0x%llx: %s; %s (%u such accesses)",
			where, acc->size, acc->write ? "write" : "read", (unsigned long long)off, why[r],
			acc->write ? "ignored" : "reads as zero", n);
}

static int finish(struct vm *vm, struct vcpu *vcpu, bool redist, struct mmio_access *acc, enum result r,
		  uint32_t kick)
{
	if (r != R_OK) {
		if (!acc->write && r != R_READ_ONLY)
			acc->value = 0;
		log_bad(vm, redist, acc->offset, acc, r);
	}
	vgic_kick_mask(vm, kick, vcpu);
	return 0;
}

static int gicd_dispatch(void *dev, struct vcpu *vcpu, struct mmio_access *acc)
{
	struct vm *vm = dev;
	uint32_t kick = 0;
	spin_lock(&vm->vgic.lock);
	enum result r = gicd_access(vm, acc, &kick);
	spin_unlock(&vm->vgic.lock);
	return finish(vm, vcpu, false, acc, r, kick);
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
	enum result r = R_BAD_OFFSET;
	spin_lock(&vm->vgic.lock);
	if (frame < vm->nr_vcpus && frame < VM_MAX_VCPUS) {
		struct vcpu *t = &vm->vcpus[frame];
		if (off < GICR_SGI_BASE)
			r = gicr_rd_access(vm, t, off, acc);
		else
			r = gicr_sgi_access(vm, t, off - GICR_SGI_BASE, acc, &kick);
	}
	spin_unlock(&vm->vgic.lock);
	return finish(vm, vcpu, true, acc, r, kick);
}

int vgic_gicr_read(void *dev, struct vcpu *vcpu, struct mmio_access *acc)
{
	return gicr_dispatch(dev, vcpu, acc);
}
int vgic_gicr_write(void *dev, struct vcpu *vcpu, struct mmio_access *acc)
{
	return gicr_dispatch(dev, vcpu, acc);
}
