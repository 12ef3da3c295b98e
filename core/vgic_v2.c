/*
 * The vGIC's GICv2 model: distributor register emulation (IHI 0048B 4.3),
 * a GICv2 without Security Extensions, 4 KiB. INTIDs 0..31 are banked: each
 * vCPU sees its own through the same offsets. The CPU interface is not here:
 * the guest uses the hardware's GICV, mapped at its GICC by stage 2.
 * Every access is answered: wrong sizes, misaligned or reserved offsets and
 * writes to read-only registers read as zero / are ignored, with a
 * rate-limited log line; the guest never gets an abort from the vGIC.
 */
#include "core/vgic_regs.h"
#include "core/vm.h"
#include "keel/util.h"

#define GICD_V2_IDREGS	   0xfd0 /* PIDR4..7, PIDR0..3, CIDR0..3 */
#define GICD_TYPER_CPUS(n) (((n)-1u) << 5)
#define SGIR_TARGETS(v)	   (((v) >> 16) & 0xffu)
#define SGIR_FILTER(v)	   (((v) >> 24) & 3u)
#define SGIR_INTID(v)	   ((v)&0xfu)

/* The CoreSight ID block as a GIC-400's: PIDR2 ArchRev [7:4] = 2. */
static uint32_t id_reg(uint64_t off)
{
	static const uint8_t ids[12] = {0x04, 0x00, 0x00, 0x00, 0x90, 0xb4,
					0x2b, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
	return ids[(off - GICD_V2_IDREGS) / 4];
}

static uint32_t vcpus_mask(const struct vm *vm)
{
	return (1u << MIN(vm->nr_vcpus, (unsigned)VGIC_V2_MAX_VCPUS)) - 1;
}

/* ITARGETSR bytes for INTIDs first..first+size-1: 0..31 read as the accessing vCPU's own bit. */
static enum vgic_result targets_access(struct vm *vm, struct vcpu *vcpu, uint32_t first,
				       struct mmio_access *acc, uint32_t *kick)
{
	uint64_t v = acc->value;
	enum vgic_result r = VR_OK;
	if (!acc->write)
		acc->value = 0;
	for (uint32_t b = 0; b < acc->size; b++) {
		uint32_t intid = first + b;
		if (intid < VGIC_NR_PRIV) {
			if (acc->write)
				r = VR_READ_ONLY;
			else if (vcpu != NULL)
				acc->value |= (uint64_t)(1u << (vcpu->index % 8)) << (8 * b);
			continue;
		}
		struct vgic_irq *irq = vgic_get_irq(vm, NULL, intid);
		if (irq == NULL)
			continue;
		if (!acc->write) {
			acc->value |= (irq->route & 0xff) << (8 * b);
			continue;
		}
		uint8_t old = vgic_irq_target(irq, NULL);
		irq->route = (v >> (8 * b)) & vcpus_mask(vm);
		irq->route_vcpu = vgic_route_to_vcpu(vm, irq->route);
		uint8_t now = vgic_irq_target(irq, NULL);
		*kick |= (old != VGIC_NO_VCPU ? 1u << old : 0) | (now != VGIC_NO_VCPU ? 1u << now : 0);
	}
	return r;
}

/* C/SPENDSGIR: one byte per SGI, one bit per source CPU; keel keeps one pending state per SGI,
 * shown as from CPU 0 (as its list registers present it). */
static void sgi_pend_access(struct vcpu *vcpu, uint32_t first, bool set, struct mmio_access *acc)
{
	uint64_t v = acc->value;
	if (!acc->write)
		acc->value = 0;
	if (vcpu == NULL)
		return;
	for (uint32_t b = 0; b < acc->size; b++) {
		struct vgic_irq *irq = &vcpu->vgic.priv[(first + b) & 15];
		if (!acc->write) {
			acc->value |= (uint64_t)(irq->pending_latch ? 1 : 0) << (8 * b);
			continue;
		}
		if ((v >> (8 * b)) & 0xff) {
			irq->pending_latch = set;
			if (set)
				vgic_note(vcpu->vm, irq);
		}
	}
}

static enum vgic_result gicd_access(struct vm *vm, struct vcpu *vcpu, struct mmio_access *acc, uint32_t *kick,
				    uint32_t *sgir)
{
	uint64_t off = acc->offset;
	bool w = acc->write;
	const struct vgic_gicd_view view = {
	    .ctlr_fixed = 0,
	    .typer = GICD_TYPER_CPUS(MIN(vm->nr_vcpus, (unsigned)VGIC_V2_MAX_VCPUS)) |
		     ((VGIC_NR_PRIV + vm->vgic.nr_spis + 31) / 32 - 1),
	    .banked = true,
	};
	enum vgic_result r;

	if (vgic_gicd_shared_access(vm, vcpu, &view, acc, kick, &r))
		return r;
	if (off >= GICD_ITARGETSR && off < GICD_ICFGR) {
		if (!vgic_size_ok(acc, VGIC_SZ(1) | VGIC_SZ(4)))
			return VR_BAD_SIZE;
		return targets_access(vm, vcpu, (uint32_t)(off - GICD_ITARGETSR), acc, kick);
	}
	if (off >= GICD_NSACR && off < GICD_SGIR) { /* no Security Extensions: RAZ/WI */
		acc->value = 0;
		return vgic_size_ok(acc, VGIC_SZ(4)) ? VR_OK : VR_BAD_SIZE;
	}
	if (off == GICD_SGIR) {
		if (!vgic_size_ok(acc, VGIC_SZ(4)))
			return VR_BAD_SIZE;
		if (!w) {
			acc->value = 0; /* write-only: reads as zero */
			return VR_OK;
		}
		*sgir = (uint32_t)acc->value | 1u << 31; /* bit 31 (reserved): "an SGIR write to do" */
		return SGIR_FILTER(acc->value) == 3 ? VR_BAD_OFFSET : VR_OK;
	}
	if (off >= GICD_CPENDSGIR && off < GICD_SPENDSGIR + 0x10) {
		if (!vgic_size_ok(acc, VGIC_SZ(1) | VGIC_SZ(4)))
			return VR_BAD_SIZE;
		uint32_t first = (uint32_t)(off - GICD_CPENDSGIR) % 16;
		sgi_pend_access(vcpu, first, off >= GICD_SPENDSGIR, acc);
		if (w && vcpu != NULL)
			*kick |= 1u << vcpu->index;
		return VR_OK;
	}
	if (off >= GICD_V2_IDREGS && off < VGIC_V2_GICD_SIZE) {
		if (!vgic_size_ok(acc, VGIC_SZ(4)))
			return VR_BAD_SIZE;
		acc->value = id_reg(off);
		return w ? VR_READ_ONLY : VR_OK;
	}
	acc->value = 0;
	return VR_BAD_OFFSET;
}

int vgic_v2_gicd_access(void *dev, struct vcpu *vcpu, struct mmio_access *acc)
{
	struct vm *vm = dev;
	uint32_t kick = 0, sgir = 0;
	spin_lock(&vm->vgic.lock);
	enum vgic_result r = gicd_access(vm, vcpu, acc, &kick, &sgir);
	spin_unlock(&vm->vgic.lock);
	if (sgir != 0 && vcpu != NULL && SGIR_FILTER(sgir) != 3) {
		uint32_t self = 1u << vcpu->index;
		uint32_t mask = SGIR_FILTER(sgir) == 0	 ? SGIR_TARGETS(sgir)
				: SGIR_FILTER(sgir) == 1 ? vcpus_mask(vm) & ~self
							 : self;
		vgic_sgi_mask(vcpu, SGIR_INTID(sgir), mask & vcpus_mask(vm));
	}
	return vgic_mmio_finish(vm, vcpu, false, acc, r, kick);
}
