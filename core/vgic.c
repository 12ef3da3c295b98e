/*
 * vGIC core: the interrupt state machine, injection, SGIs and the list
 * registers (see core/vgic.h). Register models are in core/vgic_v3.c and
 * core/vgic_v2.c.
 */
#include "core/vgic.h"

#include <errno.h>

#include "arch/gic_lr.h"
#include "core/mmio.h"
#include "core/vm.h"
#include "keel/log.h"
#include "keel/util.h"

#define MPIDR_AFF_MASK 0xff00ffffffULL /* Aff3 [39:32], Aff2..Aff0 [23:0] */

/* ICC_SGI1R_EL1 fields */
#define SGI1R_TARGETS(v) ((v)&0xffffu)
#define SGI1R_AFF1(v)	 (((v) >> 16) & 0xff)
#define SGI1R_INTID(v)	 (((v) >> 24) & 0xf)
#define SGI1R_AFF2(v)	 (((v) >> 32) & 0xff)
#define SGI1R_IRM	 (1ULL << 40)
#define SGI1R_RS(v)	 (((v) >> 44) & 0xf)
#define SGI1R_AFF3(v)	 (((v) >> 48) & 0xff)

static uint64_t vcpu_affinity(const struct vcpu *v)
{
	return v->vmpidr & MPIDR_AFF_MASK;
}

uint8_t vgic_route_to_vcpu(const struct vm *vm, uint64_t route)
{
	if (vm->vgic.model == VGIC_V2) {
		uint64_t m = route & ((1u << MIN(vm->nr_vcpus, (unsigned)VGIC_V2_MAX_VCPUS)) - 1);
		return m ? (uint8_t)__builtin_ctzll(m) : VGIC_NO_VCPU;
	}
	for (unsigned i = 0; i < vm->nr_vcpus && i < VM_MAX_VCPUS; i++)
		if (vcpu_affinity(&vm->vcpus[i]) == (route & MPIDR_AFF_MASK))
			return (uint8_t)i;
	return VGIC_NO_VCPU;
}

struct vgic_irq *vgic_get_irq(struct vm *vm, struct vcpu *vcpu, uint32_t intid)
{
	if (intid < VGIC_NR_PRIV)
		return vcpu != NULL ? &vcpu->vgic.priv[intid] : NULL;
	if (intid - VGIC_NR_PRIV < vm->vgic.nr_spis)
		return &vm->vgic.spi[intid - VGIC_NR_PRIV];
	return NULL;
}

void vgic_note(struct vm *vm, const struct vgic_irq *irq)
{
	struct vgic_dist *d = &vm->vgic;
	uintptr_t a = (uintptr_t)irq;
	if (a >= (uintptr_t)d->spi && a < (uintptr_t)(d->spi + VGIC_NR_SPIS)) {
		size_t i = (size_t)(irq - d->spi);
		d->spi_maybe[i / 32] |= 1u << (i % 32);
		return;
	}
	for (unsigned v = 0; v < VM_MAX_VCPUS; v++) {
		struct vgic_vcpu *g = &vm->vcpus[v].vgic;
		if (a >= (uintptr_t)g->priv && a < (uintptr_t)(g->priv + VGIC_NR_PRIV)) {
			g->priv_maybe |= 1u << (irq - g->priv);
			return;
		}
	}
	panic("vgic_note: interrupt %p is not one of this VM's", (const void *)irq);
}

uint8_t vgic_irq_target(const struct vgic_irq *irq, const struct vcpu *private_owner)
{
	if (private_owner != NULL)
		return (uint8_t)private_owner->index;
	/* An SPI stays with the vCPU that lists it or has it active, whatever its route says now. */
	if (irq->owner != VGIC_NO_VCPU)
		return irq->owner;
	return irq->route_vcpu;
}

bool vgic_irq_pending(const struct vgic_irq *irq)
{
	return irq->pending_latch || (!irq->edge && !irq->hw && irq->line_level);
}

/* Pending, enabled, and its group enabled in GICD_CTLR: the CPU interface may take it. */
static bool irq_deliverable(const struct vgic_dist *d, const struct vgic_irq *irq)
{
	uint32_t grp = irq->group1 ? 2u : 1u;
	return vgic_irq_pending(irq) && irq->enabled && (d->ctlr & grp);
}

/* The LR carries the HW bit only while the physical interrupt waits for the guest's deactivation. */
static bool irq_hw_linked(const struct vgic_irq *irq)
{
	return irq->hw && irq->phys_active;
}

void vgic_irq_check_hw(struct vcpu *vcpu, struct vgic_irq *irq)
{
	if (irq_hw_linked(irq) && !irq->pending_latch && !irq->active && !irq->in_lr) {
		irq->phys_active = false;
		vcpu->vgic.hw_deact |= 1u << (irq->pintid & 31);
	}
}

void vgic_kick_mask(struct vm *vm, uint32_t mask, const struct vcpu *self)
{
	if (mask == 0)
		return;
	spin_lock(&vm->vgic.lock);
	void (*kick)(struct vcpu *) = vm->vgic.kick;
	spin_unlock(&vm->vgic.lock);
	if (kick == NULL)
		return;
	for (unsigned i = 0; i < vm->nr_vcpus && i < VM_MAX_VCPUS; i++)
		if ((mask & (1u << i)) && &vm->vcpus[i] != self)
			kick(&vm->vcpus[i]);
}

/* One vCPU to kick if irq is now deliverable there. Lock held. */
static uint32_t kick_if_deliverable(struct vm *vm, const struct vgic_irq *irq,
				    const struct vcpu *private_owner)
{
	uint8_t t = vgic_irq_target(irq, private_owner);
	if (t == VGIC_NO_VCPU || !irq_deliverable(&vm->vgic, irq))
		return 0;
	return 1u << t;
}

static void reset_irq(struct vgic_irq *irq, uint32_t intid, uint64_t route, uint8_t route_vcpu, bool group1)
{
	bool line = irq->line_level; /* the wire belongs to the device, which keeps driving it */
	*irq = (struct vgic_irq){
	    .priority = 0,
	    .edge = intid < 16, /* SGIs are always edge; PPIs and SPIs start level */
	    .group1 = group1,	/* v3 as KVM's: guests that skip IGROUPR still get Group 1; v2: Group 0 */
	    .line_level = line,
	    .owner = VGIC_NO_VCPU,
	    .route_vcpu = intid >= VGIC_NR_PRIV ? route_vcpu : VGIC_NO_VCPU,
	    .route = intid >= VGIC_NR_PRIV ? route : 0,
	};
}

void vgic_vm_init(struct vm *vm, unsigned nr_spis)
{
	struct vgic_dist *d = &vm->vgic;
	spin_lock(&d->lock);
	d->ctlr = 0;
	d->nr_spis = MIN(nr_spis, VGIC_NR_SPIS);
	bool v2 = d->model == VGIC_V2;
	uint64_t route0 = v2 ? 1 : vm->nr_vcpus > 0 ? vcpu_affinity(&vm->vcpus[0]) : 0;
	uint8_t vcpu0 = vgic_route_to_vcpu(vm, route0);
	for (unsigned i = 0; i < VGIC_NR_SPIS; i++)
		reset_irq(&d->spi[i], VGIC_NR_PRIV + i, route0, vcpu0, !v2);
	for (unsigned w = 0; w < ARRAY_SIZE(d->spi_maybe); w++)
		d->spi_maybe[w] = ~0u; /* a line kept high stays pending: let the scans sort it out */
	for (unsigned v = 0; v < VM_MAX_VCPUS; v++) {
		struct vgic_vcpu *g = &vm->vcpus[v].vgic;
		for (unsigned i = 0; i < VGIC_NR_PRIV; i++) {
			struct vgic_irq *irq = &g->priv[i];
			/* Nobody will deactivate the physical interrupt through an LR any more. */
			if (irq_hw_linked(irq))
				g->hw_deact |= 1u << (irq->pintid & 31);
			reset_irq(irq, i, 0, VGIC_NO_VCPU, !v2);
		}
		g->priv_maybe = ~0u;
		g->asleep = true;
		g->lr_used = 0;
		for (unsigned i = 0; i < VGIC_MAX_LRS; i++)
			g->lr_intid[i] = 0;
	}
	spin_unlock(&d->lock);
}

int vgic_set_model(struct vm *vm, unsigned model)
{
	if ((model != VGIC_V3 && model != VGIC_V2) || (model == VGIC_V2 && vm->nr_vcpus > VGIC_V2_MAX_VCPUS))
		return -EINVAL;
	spin_lock(&vm->vgic.lock);
	vm->vgic.model = (uint8_t)model;
	spin_unlock(&vm->vgic.lock);
	return 0;
}

int vgic_register_mmio(struct vm *vm, ipa_t gicd_base, ipa_t gicr_base)
{
	if (vm->nr_vcpus == 0 || vm->nr_vcpus > VM_MAX_VCPUS)
		return -EINVAL;
	if (vm->vgic.model == VGIC_V2) {
		const struct mmio_region v2 = {
		    .base = gicd_base,
		    .size = VGIC_V2_GICD_SIZE,
		    .read = vgic_v2_gicd_access,
		    .write = vgic_v2_gicd_access,
		    .dev = vm,
		    .name = "gicd",
		};
		return mmio_bus_register(&vm->mmio, &v2);
	}
	const struct mmio_region gicd = {
	    .base = gicd_base,
	    .size = VGIC_GICD_SIZE,
	    .read = vgic_gicd_read,
	    .write = vgic_gicd_write,
	    .dev = vm,
	    .name = "gicd",
	};
	const struct mmio_region gicr = {
	    .base = gicr_base,
	    .size = VGIC_GICR_STRIDE * vm->nr_vcpus,
	    .read = vgic_gicr_read,
	    .write = vgic_gicr_write,
	    .dev = vm,
	    .name = "gicr",
	};
	int rc = mmio_bus_register(&vm->mmio, &gicd);
	return rc != 0 ? rc : mmio_bus_register(&vm->mmio, &gicr);
}

void vgic_set_kick(struct vm *vm, void (*kick)(struct vcpu *vcpu))
{
	spin_lock(&vm->vgic.lock);
	vm->vgic.kick = kick;
	spin_unlock(&vm->vgic.lock);
}

/* SPI or vCPU 0's PPI; SGIs only come from vgic_sgi. Lock held. */
static struct vgic_irq *injectable_irq(struct vm *vm, uint32_t intid, struct vcpu **private_owner)
{
	*private_owner = NULL;
	if (intid < 16 || vm->nr_vcpus == 0)
		return NULL;
	if (intid < VGIC_NR_PRIV)
		*private_owner = &vm->vcpus[0];
	return vgic_get_irq(vm, *private_owner, intid);
}

int vgic_inject(struct vm *vm, uint32_t intid)
{
	struct vcpu *owner;
	spin_lock(&vm->vgic.lock);
	struct vgic_irq *irq = injectable_irq(vm, intid, &owner);
	if (irq == NULL) {
		spin_unlock(&vm->vgic.lock);
		return -EINVAL;
	}
	irq->pending_latch = true;
	vgic_note(vm, irq);
	uint32_t kick = kick_if_deliverable(vm, irq, owner);
	spin_unlock(&vm->vgic.lock);
	vgic_kick_mask(vm, kick, NULL);
	return 0;
}

int vgic_set_level(struct vm *vm, uint32_t intid, bool level)
{
	struct vcpu *owner;
	spin_lock(&vm->vgic.lock);
	struct vgic_irq *irq = injectable_irq(vm, intid, &owner);
	if (irq == NULL) {
		spin_unlock(&vm->vgic.lock);
		return -EINVAL;
	}
	uint32_t kick = 0;
	if (irq->line_level != level) {
		irq->line_level = level;
		if (level && irq->edge)
			irq->pending_latch = true;
		vgic_note(vm, irq);
		/* Also on a falling line: the target retires it from its LRs sooner. */
		uint8_t t = vgic_irq_target(irq, owner);
		if (t != VGIC_NO_VCPU && irq->enabled)
			kick = 1u << t;
	}
	spin_unlock(&vm->vgic.lock);
	vgic_kick_mask(vm, kick, NULL);
	return 0;
}

int vgic_inject_hw_ppi(struct vcpu *vcpu, uint32_t intid, uint32_t pintid)
{
	if (intid < 16 || intid >= VGIC_NR_PRIV || pintid < 16 || pintid >= VGIC_NR_PRIV)
		return -EINVAL;
	struct vm *vm = vcpu->vm;
	spin_lock(&vm->vgic.lock);
	struct vgic_irq *irq = &vcpu->vgic.priv[intid];
	irq->hw = true;
	irq->pintid = (uint16_t)pintid;
	irq->phys_active = true;
	irq->pending_latch = true;
	vgic_note(vm, irq);
	uint32_t kick = kick_if_deliverable(vm, irq, vcpu);
	spin_unlock(&vm->vgic.lock);
	vgic_kick_mask(vm, kick, NULL);
	return 0;
}

uint32_t vgic_take_hw_deactivations(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	spin_lock(&vm->vgic.lock);
	uint32_t m = vcpu->vgic.hw_deact;
	vcpu->vgic.hw_deact = 0;
	spin_unlock(&vm->vgic.lock);
	return m;
}

int vgic_sgi(struct vcpu *src, uint64_t v)
{
	struct vm *vm = src->vm;
	uint64_t aff_hi = SGI1R_AFF3(v) << 32 | SGI1R_AFF2(v) << 16 | SGI1R_AFF1(v) << 8;
	uint32_t mask = 0;
	for (unsigned i = 0; i < vm->nr_vcpus && i < VM_MAX_VCPUS; i++) {
		struct vcpu *t = &vm->vcpus[i];
		bool hit;
		if (v & SGI1R_IRM) {
			hit = t != src;
		} else {
			uint64_t aff = vcpu_affinity(t);
			unsigned aff0 = (unsigned)(aff & 0xff);
			hit = (aff & ~0xffULL) == aff_hi && aff0 / 16 == SGI1R_RS(v) &&
			      (SGI1R_TARGETS(v) & (1u << (aff0 % 16)));
		}
		if (hit)
			mask |= 1u << i;
	}
	return vgic_sgi_mask(src, (uint32_t)SGI1R_INTID(v), mask);
}

int vgic_sgi_mask(struct vcpu *src, uint32_t intid, uint32_t mask)
{
	struct vm *vm = src->vm;
	uint32_t kick = 0;
	int n = 0;
	spin_lock(&vm->vgic.lock);
	for (unsigned i = 0; i < vm->nr_vcpus && i < VM_MAX_VCPUS; i++) {
		struct vcpu *t = &vm->vcpus[i];
		if (!(mask & (1u << i)))
			continue;
		struct vgic_irq *irq = &t->vgic.priv[intid & 15];
		irq->pending_latch = true;
		vgic_note(vm, irq);
		kick |= kick_if_deliverable(vm, irq, t);
		n++;
	}
	spin_unlock(&vm->vgic.lock);
	vgic_kick_mask(vm, kick, src);
	return n;
}

/* --- List registers ------------------------------------------------------ */

static unsigned nr_lrs(void)
{
	return MIN(gic_lr_count(), (unsigned)VGIC_MAX_LRS);
}

static void sync_locked(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	struct vgic_vcpu *g = &vcpu->vgic;
	for (uint32_t used = g->lr_used; used != 0; used &= used - 1) {
		unsigned i = (unsigned)__builtin_ctz(used);
		/* Left in place: the next flush rewrites it only if it changes (ICH_* accesses are
		 * costly where the GIC is emulated, and each one serializes the CPU interface). */
		uint64_t raw = gic_lr_read(i);
		struct gic_lr lr;
		gic_lr_decode(raw, &lr);
		g->lr_val[i] = raw;
		if (!lr.pending && !lr.active)
			g->lr_live &= ~(1u << i); /* an invalid LR is inert: no need to zero it */
		struct vgic_irq *irq = vgic_get_irq(vm, vcpu, g->lr_intid[i]);
		if (irq == NULL || !irq->in_lr || irq->owner != vcpu->index)
			continue; /* reset while the guest ran: that state is gone */
		bool pending = lr.pending, active = lr.active, hw = lr.hw;
		irq->active = active;
		/* The LR held the latch (edge, hw, soft-pending level): still pending = not acknowledged yet.
		 */
		if (pending && irq->lr_latched)
			irq->pending_latch = true;
		if (hw && !pending && !active)
			irq->phys_active = false; /* the guest deactivated it, and with it the physical one */
		irq->in_lr = false;
		irq->lr_latched = false;
		irq->owner = active ? (uint8_t)vcpu->index : VGIC_NO_VCPU;
		vgic_note(vm, irq);
	}
	g->lr_used = 0;
	/* Keel is ICH_HCR_EL2's only writer: its shadow saves a read on every exit. */
	if (g->hcr & (ICH_HCR_UIE | ICH_HCR_NPIE)) {
		g->hcr &= ~(ICH_HCR_UIE | ICH_HCR_NPIE);
		gic_hcr_write(g->hcr);
	}
}

/* Write LR i unless the hardware already holds exactly v (raw; 0 = invalid, live = valid). */
static void lr_set(struct vgic_vcpu *g, unsigned i, uint64_t v, bool live)
{
	uint32_t bit = 1u << i;
	if ((g->lr_live & bit) && g->lr_val[i] == v)
		return;
	gic_lr_write(i, v);
	g->lr_val[i] = v;
	if (live)
		g->lr_live |= bit;
	else
		g->lr_live &= ~bit;
}

/* Invalidate the LRs in mask that may still hold a live interrupt. */
static void lrs_invalidate(struct vgic_vcpu *g, uint32_t mask)
{
	for (uint32_t live = g->lr_live & mask; live; live &= live - 1)
		lr_set(g, (unsigned)__builtin_ctz(live), 0, false);
}

void vgic_vcpu_load(struct vcpu *vcpu)
{
	struct vgic_vcpu *g = &vcpu->vgic;
	spin_lock(&vcpu->vm->vgic.lock);
	g->hcr = gic_hcr_read();
	g->lr_live = (1u << nr_lrs()) - 1; /* unknown: every LR is rewritten or zeroed once */
	for (unsigned i = 0; i < nr_lrs(); i++)
		g->lr_val[i] = ~0ULL;
	spin_unlock(&vcpu->vm->vgic.lock);
}

void vgic_vcpu_put(struct vcpu *vcpu)
{
	struct vgic_vcpu *g = &vcpu->vgic;
	spin_lock(&vcpu->vm->vgic.lock);
	if (g->lr_used)
		sync_locked(vcpu);
	lrs_invalidate(g, ~0u);
	spin_unlock(&vcpu->vm->vgic.lock);
}

void vgic_sync_lrs(struct vcpu *vcpu)
{
	spin_lock(&vcpu->vm->vgic.lock);
	sync_locked(vcpu);
	spin_unlock(&vcpu->vm->vgic.lock);
}

struct lr_pick {
	struct vgic_irq *irq;
	uint32_t intid;
	uint32_t key; /* lower is listed first: active, then priority, then INTID */
	bool pending;
};

struct lr_picks {
	struct lr_pick p[VGIC_MAX_LRS];
	unsigned n, max;
	bool overflow;
};

/* Could consider() list it? (active, or pending by latch or by line; exactness is consider's job) */
static inline bool irq_may_list(const struct vgic_irq *irq)
{
	return irq->active || irq->pending_latch || irq->line_level;
}

static void consider(struct lr_picks *s, const struct vgic_dist *d, struct vgic_irq *irq, uint32_t intid)
{
	bool active = irq->active;
	/* Never pending+active with HW: the physical distributor holds that pending state. */
	bool pending = irq_deliverable(d, irq) && !(active && irq_hw_linked(irq));
	if (!active && !pending)
		return;
	struct lr_pick c = {
	    .irq = irq,
	    .intid = intid,
	    .key = (active ? 0u : 1u) << 24 | (uint32_t)irq->priority << 12 | intid,
	    .pending = pending,
	};
	if (s->n == s->max) {
		s->overflow = true;
		if (s->max == 0 || c.key >= s->p[s->n - 1].key)
			return;
		s->n--; /* drop the worst one for this better one */
	}
	unsigned i = s->n++;
	for (; i > 0 && s->p[i - 1].key > c.key; i--)
		s->p[i] = s->p[i - 1];
	s->p[i] = c;
}

void vgic_flush_lrs(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	struct vgic_dist *d = &vm->vgic;
	struct vgic_vcpu *g = &vcpu->vgic;
	struct lr_picks s; /* p[] is filled from 0 up: not zeroed (a memset on every guest entry) */
	s.n = 0;
	s.max = nr_lrs();
	s.overflow = false;

	spin_lock(&d->lock);
	if (g->lr_used)
		sync_locked(vcpu); /* flushed twice without a sync: keep what the guest did */
	/* Runs on every guest entry: visit only the interrupts noted as maybe active or pending. */
	for (uint32_t m = g->priv_maybe; m != 0; m &= m - 1) {
		unsigned i = (unsigned)__builtin_ctz(m);
		if (irq_may_list(&g->priv[i]))
			consider(&s, d, &g->priv[i], i);
		else
			g->priv_maybe &= ~(1u << i);
	}
	for (unsigned w = 0; w < ARRAY_SIZE(d->spi_maybe); w++) {
		for (uint32_t m = d->spi_maybe[w]; m != 0; m &= m - 1) {
			unsigned i = w * 32 + (unsigned)__builtin_ctz(m);
			struct vgic_irq *irq = &d->spi[i];
			if (i >= d->nr_spis || !irq_may_list(irq))
				d->spi_maybe[w] &= ~(1u << (i % 32));
			else if (vgic_irq_target(irq, NULL) == vcpu->index)
				consider(&s, d, irq, VGIC_NR_PRIV + i);
		}
	}

	bool any_pending = false;
	for (unsigned i = 0; i < s.n; i++) {
		struct lr_pick *c = &s.p[i];
		struct vgic_irq *irq = c->irq;
		struct gic_lr lr = {
		    .vintid = c->intid,
		    .priority = irq->priority,
		    .group1 = irq->group1,
		    .active = irq->active,
		    .pending = c->pending,
		    .hw = irq_hw_linked(irq),
		    .pintid = irq->pintid,
		};
		if (c->pending) {
			any_pending = true;
			/* The latch moves into the LR; a level line stays with the device. */
			irq->lr_latched = irq->pending_latch;
			irq->pending_latch = false;
		}
		irq->in_lr = true;
		irq->owner = (uint8_t)vcpu->index;
		g->lr_intid[i] = c->intid;
		g->lr_used |= 1u << i;
		lr_set(g, i, gic_lr_encode(&lr), true);
	}
	lrs_invalidate(g, ~g->lr_used); /* left from an earlier entry and not reused */

	uint64_t old_hcr = g->hcr;
	uint64_t hcr = (old_hcr & ~(ICH_HCR_UIE | ICH_HCR_NPIE)) | ICH_HCR_EN;
	if (s.overflow) {
		/* Refill when at most one LR is still valid, or when none is pending any more. */
		hcr |= ICH_HCR_UIE;
		if (any_pending)
			hcr |= ICH_HCR_NPIE;
	}
	if (hcr != old_hcr) {
		gic_hcr_write(hcr);
		g->hcr = hcr;
	}
	spin_unlock(&d->lock);
}

bool vgic_vcpu_has_pending(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	struct vgic_dist *d = &vm->vgic;
	bool found = false;
	spin_lock(&d->lock);
	/* Deliverable implies pending: only noted interrupts can be. */
	for (uint32_t m = vcpu->vgic.priv_maybe; m != 0 && !found; m &= m - 1)
		found = irq_deliverable(d, &vcpu->vgic.priv[__builtin_ctz(m)]);
	for (unsigned w = 0; w < ARRAY_SIZE(d->spi_maybe) && !found; w++) {
		for (uint32_t m = d->spi_maybe[w]; m != 0 && !found; m &= m - 1) {
			unsigned i = w * 32 + (unsigned)__builtin_ctz(m);
			found = i < d->nr_spis && vgic_irq_target(&d->spi[i], NULL) == vcpu->index &&
				irq_deliverable(d, &d->spi[i]);
		}
	}
	spin_unlock(&d->lock);
	return found;
}
