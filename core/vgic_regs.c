/* Register helpers shared by the vGIC's GICv3 and GICv2 models (see core/vgic_regs.h). */
#include "core/vgic_regs.h"

#include <stdio.h>

#include "core/vm.h"
#include "core/vm_log.h"
#include "keel/log.h"

bool vgic_size_ok(const struct mmio_access *acc, unsigned sizes)
{
	return (sizes & VGIC_SZ(acc->size)) && (acc->offset & (acc->size - 1u)) == 0;
}

/* --- Registers shared by GICD (SPIs) and GICR SGI_base (SGIs/PPIs) --------- */

enum vgic_bitreg vgic_bitreg_kind(uint64_t off)
{
	return (enum vgic_bitreg)((off - GICD_IGROUPR) / 0x80);
}

static bool bitreg_get(const struct vgic_irq *irq, enum vgic_bitreg k)
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
uint32_t vgic_bitreg_access(struct vm *vm, struct vcpu *pv, uint32_t first, enum vgic_bitreg k,
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
			vgic_note(vm, irq);
			break;
		case BR_CLR_PEND:
			irq->pending_latch = false; /* a level line that is still high keeps it pending */
			break;
		case BR_SET_ACTIVE:
			irq->active = true;
			vgic_note(vm, irq);
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
uint32_t vgic_priority_access(struct vm *vm, struct vcpu *pv, uint32_t first, struct mmio_access *acc)
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
void vgic_config_access(struct vm *vm, struct vcpu *pv, uint32_t first, struct mmio_access *acc)
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

/* --- The distributor registers GICv2 and GICv3 lay out alike ----------------- */

bool vgic_gicd_shared_access(struct vm *vm, struct vcpu *vcpu, const struct vgic_gicd_view *view,
			     struct mmio_access *acc, uint32_t *kick, enum vgic_result *r)
{
	uint64_t off = acc->offset;
	bool w = acc->write;
	struct vcpu *banked = view->banked ? vcpu : NULL;

	if (off < GICD_IGROUPR) {
		*r = VR_BAD_SIZE;
		if (!vgic_size_ok(acc, VGIC_SZ(4)))
			return true;
		switch (off) {
		case GICD_CTLR:
			if (!w) {
				acc->value = vm->vgic.ctlr | view->ctlr_fixed;
			} else {
				vm->vgic.ctlr = (uint32_t)acc->value & GICD_CTLR_ENABLE_GRPS;
				*kick = (1u << vm->nr_vcpus) - 1;
			}
			*r = VR_OK;
			return true;
		case GICD_TYPER:
			acc->value = view->typer;
			*r = w ? VR_READ_ONLY : VR_OK;
			return true;
		case GICD_IIDR:
			acc->value = GIC_IIDR_KEEL;
			*r = w ? VR_READ_ONLY : VR_OK;
			return true;
		default:
			return false; /* the version's own (size checked) */
		}
	}
	if (off < GICD_IPRIORITYR) {
		*r = VR_BAD_SIZE;
		if (!vgic_size_ok(acc, VGIC_SZ(4)))
			return true;
		uint32_t n = (uint32_t)(off & 0x7f) / 4;
		*r = VR_OK;
		if (n == 0 && !view->banked) { /* INTIDs 0..31 live in the redistributors (ARE) */
			acc->value = 0;
			return true;
		}
		*kick |= vgic_bitreg_access(vm, n == 0 ? banked : NULL, 32 * n,
					    vgic_bitreg_kind(off & ~0x7fULL), acc);
		return true;
	}
	if (off < GICD_ITARGETSR) {
		*r = VR_BAD_SIZE;
		if (!vgic_size_ok(acc, VGIC_SZ(1) | VGIC_SZ(4)))
			return true;
		uint32_t first = (uint32_t)(off - GICD_IPRIORITYR);
		*kick |= vgic_priority_access(vm, first < VGIC_NR_PRIV ? banked : NULL, first, acc);
		*r = VR_OK;
		return true;
	}
	if (off >= GICD_ICFGR && off < GICD_ICFGR + 0x100) {
		*r = VR_BAD_SIZE;
		if (!vgic_size_ok(acc, VGIC_SZ(4)))
			return true;
		uint32_t first = (uint32_t)(off - GICD_ICFGR) * 4;
		*r = VR_OK;
		if (first < VGIC_NR_PRIV && !view->banked) {
			acc->value = 0;
			return true;
		}
		vgic_config_access(vm, first < VGIC_NR_PRIV ? banked : NULL, first, acc);
		*r = w && first == 0 ? VR_READ_ONLY : VR_OK;
		return true;
	}
	return false;
}

/* off: from the region's base; a redistributor access is named by its vCPU's frame. */
static void log_bad(struct vm *vm, bool redist, uint64_t off, const struct mmio_access *acc,
		    enum vgic_result r)
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

int vgic_mmio_finish(struct vm *vm, struct vcpu *vcpu, bool redist, struct mmio_access *acc,
		     enum vgic_result r, uint32_t kick)
{
	if (r != VR_OK) {
		if (!acc->write && r != VR_READ_ONLY)
			acc->value = 0;
		log_bad(vm, redist, acc->offset, acc, r);
	}
	vgic_kick_mask(vm, kick, vcpu);
	return 0;
}
