/*
 * libFuzzer target for the vGIC: the first byte chooses the model (bit 0: GICv2,
 * with GICv2 list registers; else GICv3), the rest is a program of guest actions
 * on a 3-vCPU VM — distributor and redistributor MMIO of any offset, size and value
 * (including the frame past the last vCPU), SGIs, device injections and level
 * changes, HW-linked PPIs, list-register flushes and syncs on any vCPU, and the
 * guest's own acknowledge / EOI / deactivate simulated on the list registers.
 *
 * Invariants: no crash, no panic, no sanitizer report; after every flush the
 * valid list registers hold distinct virtual INTIDs the VM has (SGI/PPI or one of
 * its SPIs), a HW bit only with a physical INTID, and the state bits are never
 * "invalid with a HW link" garbage.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_input.h"
#include "arch/gic_lr.h"
#include "core/mmio.h"
#include "core/vgic.h"
#include "core/vm.h"
#include "keel/addr.h"

#define GICD	 0x08000000ULL
#define GICR	 0x080a0000ULL
#define NR_VCPUS 3u
#define NR_SPIS	 64u

static struct vm vm;
static struct vcpu *lr_owner;

static void kick(struct vcpu *v)
{
	(void)v;
}

static void switch_to(struct vcpu *v)
{
	if (lr_owner != v) {
		if (lr_owner != NULL)
			vgic_vcpu_put(lr_owner);
		vgic_vcpu_load(v);
		lr_owner = v;
	}
}

static void check_lrs(void)
{
	uint32_t seen[FAKE_GIC_LRS];
	unsigned n = 0;
	for (unsigned i = 0; i < FAKE_GIC_LRS; i++) {
		struct gic_lr lr;
		gic_lr_decode(fake_gic_lrs[i], &lr);
		if (!lr.pending && !lr.active)
			continue;
		uint32_t intid = lr.vintid;
		if (intid >= 32 + NR_SPIS)
			abort(); /* an INTID the VM does not have */
		if (lr.hw && lr.pintid == 0)
			abort(); /* HW link without a physical INTID */
		if (fake_gic_version == 2 && fake_gic_lrs[i] > 0xffffffffULL)
			abort(); /* GICH_LRn is 32 bits */
		for (unsigned j = 0; j < n; j++)
			if (seen[j] == intid)
				abort(); /* one virtual INTID in two list registers: UNPREDICTABLE */
		seen[n++] = intid;
	}
}

static void setup(bool v2)
{
	lr_owner = NULL;
	fake_gic_version = v2 ? 2 : 3;
	memset(&vm, 0, sizeof(vm));
	memset(fake_gic_lrs, 0, sizeof(fake_gic_lrs));
	fake_gic_hcr = 0;
	strcpy(vm.name, "fuzz");
	vm.nr_vcpus = NR_VCPUS;
	for (unsigned i = 0; i < NR_VCPUS; i++) {
		vm.vcpus[i].vm = &vm;
		vm.vcpus[i].index = i;
		vm.vcpus[i].vmpidr = i;
	}
	if (vgic_set_model(&vm, v2 ? VGIC_V2 : VGIC_V3) != 0)
		abort();
	vgic_vm_init(&vm, NR_SPIS);
	if (vgic_register_mmio(&vm, ipa_init(GICD), ipa_init(GICR)) != 0)
		abort();
	vgic_set_kick(&vm, kick);
}

static void mmio(struct input *in, uint64_t base, uint64_t span)
{
	static const uint8_t sizes[] = {1, 2, 4, 8};
	uint8_t ctl = (uint8_t)take(in, 1);
	struct mmio_access a = {
	    .ipa = ipa_init(base + take(in, 3) % span),
	    .size = sizes[ctl & 3],
	    .write = (ctl & 4) != 0,
	    .reg64 = true,
	};
	if (a.write)
		a.value = take(in, 8);
	mmio_bus_dispatch(&vm.mmio, &vm.vcpus[(ctl >> 3) % NR_VCPUS], &a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size};
	bool v2 = take(&in, 1) & 1;
	setup(v2);
	for (unsigned steps = 0; in.n > 0 && steps < 4096; steps++) {
		uint8_t op = (uint8_t)take(&in, 1);
		struct vcpu *v = &vm.vcpus[(op >> 4) % NR_VCPUS];
		switch (op & 0xf) {
		case 0:
		case 1:
			mmio(&in, GICD, (v2 ? VGIC_V2_GICD_SIZE : VGIC_GICD_SIZE) + 0x100);
			break;
		case 2:
		case 3: /* v3: every frame, and one past the last vCPU's; v2: nothing is there */
			mmio(&in, GICR, VGIC_GICR_STRIDE * (NR_VCPUS + 1));
			break;
		case 4:
			vgic_inject(&vm, (uint32_t)take(&in, 2) % 1100);
			break;
		case 5:
			vgic_set_level(&vm, (uint32_t)take(&in, 2) % 1100, take(&in, 1) & 1);
			break;
		case 6:
			vgic_sgi(v, take(&in, 8));
			break;
		case 7:
			vgic_inject_hw_ppi(v, 27, 27);
			break;
		case 8:
		case 9:
			switch_to(v);
			vgic_flush_lrs(v);
			check_lrs();
			break;
		case 10: { /* the guest acknowledges (pending -> active) or EOIs (-> invalid) an LR */
			unsigned i = (unsigned)take(&in, 1);
			uint64_t *raw = &fake_gic_lrs[i % FAKE_GIC_LRS];
			struct gic_lr lr;
			gic_lr_decode(*raw, &lr);
			bool ack = (i & 0x80) && lr.pending && !lr.active;
			lr.pending = false;
			lr.active = ack;
			*raw = gic_lr_encode(&lr);
			break;
		}
		case 11:
			if (lr_owner)
				vgic_sync_lrs(lr_owner);
			break;
		case 12:
			if (lr_owner)
				(void)vgic_take_hw_deactivations(lr_owner);
			break;
		case 13:
			(void)vgic_vcpu_has_pending(v);
			break;
		default:
			switch_to(v);
			break;
		}
	}
	if (lr_owner)
		vgic_vcpu_put(lr_owner);
	return 0;
}
