/* List-register layouts of GICv3 and GICv2 (see arch/gic_lr.h); no register access here. */
#include "arch/gic_lr.h"

uint64_t gic_v3_lr_encode(const struct gic_lr *lr)
{
	uint64_t v = lr->vintid | (uint64_t)lr->priority << ICH_LR_PRIO_SHIFT;
	if (lr->group1)
		v |= ICH_LR_GROUP1;
	if (lr->pending)
		v |= ICH_LR_PENDING;
	if (lr->active)
		v |= ICH_LR_ACTIVE;
	if (lr->hw)
		v |= ICH_LR_HW | (((uint64_t)lr->pintid << ICH_LR_PINTID_SHIFT) & ICH_LR_PINTID_MASK);
	return v;
}

void gic_v3_lr_decode(uint64_t v, struct gic_lr *lr)
{
	*lr = (struct gic_lr){
	    .vintid = (uint32_t)(v & ICH_LR_VINTID_MASK),
	    .priority = (uint8_t)(v >> ICH_LR_PRIO_SHIFT),
	    .pending = (v & ICH_LR_PENDING) != 0,
	    .active = (v & ICH_LR_ACTIVE) != 0,
	    .group1 = (v & ICH_LR_GROUP1) != 0,
	    .hw = (v & ICH_LR_HW) != 0,
	};
	if (lr->hw)
		lr->pintid = (uint32_t)((v & ICH_LR_PINTID_MASK) >> ICH_LR_PINTID_SHIFT);
}

/*
 * GICv2: with HW = 0, bits [19:10] are EOI (bit 19) and, for an SGI, the
 * source CPUID [12:10]; keel leaves them 0 (no EOI maintenance, SGIs shown
 * as from CPU 0, which the guest's EOIR then names back).
 */
uint64_t gic_v2_lr_encode(const struct gic_lr *lr)
{
	uint32_t v = (lr->vintid & GICH_LR_VINTID_MASK) | (uint32_t)(lr->priority >> 3) << GICH_LR_PRIO_SHIFT;
	if (lr->group1)
		v |= GICH_LR_GROUP1;
	if (lr->pending)
		v |= GICH_LR_PENDING;
	if (lr->active)
		v |= GICH_LR_ACTIVE;
	if (lr->hw)
		v |= GICH_LR_HW | ((lr->pintid << GICH_LR_PINTID_SHIFT) & GICH_LR_PINTID_MASK);
	return v;
}

void gic_v2_lr_decode(uint64_t raw, struct gic_lr *lr)
{
	uint32_t v = (uint32_t)raw;
	*lr = (struct gic_lr){
	    .vintid = v & GICH_LR_VINTID_MASK,
	    .priority = (uint8_t)(((v >> GICH_LR_PRIO_SHIFT) & 0x1f) << 3),
	    .pending = (v & GICH_LR_PENDING) != 0,
	    .active = (v & GICH_LR_ACTIVE) != 0,
	    .group1 = (v & GICH_LR_GROUP1) != 0,
	    .hw = (v & GICH_LR_HW) != 0,
	};
	if (lr->hw)
		lr->pintid = (v & GICH_LR_PINTID_MASK) >> GICH_LR_PINTID_SHIFT;
}
