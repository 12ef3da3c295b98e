/*
 * vGIC: GICD/GICR emulation driven through the MMIO bus as Linux's GICv3
 * driver probes it, injection into the fake list registers, the guest's
 * acknowledge/EOI simulated by editing them, and hostile accesses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "arch/gic_lr.h"
#include "core/mmio.h"
#include "core/vgic.h"
#include "core/vm.h"
#include "keel/addr.h"

#define GICD	 0x08000000ULL
#define GICR	 0x080a0000ULL
#define SGI_BASE 0x10000ULL
#define FRAME(n) (GICR + (uint64_t)(n)*VGIC_GICR_STRIDE)

#define GICD_CTLR	0x0000
#define GICD_TYPER	0x0004
#define GICD_IIDR	0x0008
#define GICD_TYPER2	0x000c
#define GICD_IGROUPR	0x0080
#define GICD_ISENABLER	0x0100
#define GICD_ICENABLER	0x0180
#define GICD_ISPENDR	0x0200
#define GICD_ICPENDR	0x0280
#define GICD_ISACTIVER	0x0300
#define GICD_ICACTIVER	0x0380
#define GICD_IPRIORITYR 0x0400
#define GICD_ICFGR	0x0c00
#define GICD_IROUTER	0x6000
#define GIC_PIDR2	0xffe8
#define GICR_CTLR	0x0000
#define GICR_TYPER	0x0008
#define GICR_WAKER	0x0014
#define GICR_PROPBASER	0x0070
#define GICR_PENDBASER	0x0078
#define GICR_ICFGR0	(SGI_BASE + 0x0c00)
#define GICR_ICFGR1	(SGI_BASE + 0x0c04)

#define LR_STATE(lr) ((lr)&ICH_LR_STATE_MASK)
#define LR_INTID(lr) ((uint32_t)((lr)&ICH_LR_VINTID_MASK))
#define LR_PRIO(lr)  ((unsigned)(((lr) >> ICH_LR_PRIO_SHIFT) & 0xff))

static struct vm vm;
static unsigned kicks[VM_MAX_VCPUS];

static void record_kick(struct vcpu *v)
{
	kicks[v->index]++;
}

/* The fake LRs are one CPU interface: switching vCPUs on it is a put and a load, as keel
 * would do when a pCPU changes vCPU. */
static struct vcpu *lr_owner;

static void flush(struct vcpu *v)
{
	if (lr_owner != v) {
		if (lr_owner != NULL)
			vgic_vcpu_put(lr_owner);
		vgic_vcpu_load(v);
		lr_owner = v;
	}
	vgic_flush_lrs(v);
}

static void build_vm(unsigned nr_vcpus, unsigned nr_spis)
{
	lr_owner = NULL;
	memset(&vm, 0, sizeof(vm));
	memset(kicks, 0, sizeof(kicks));
	memset(fake_gic_lrs, 0, sizeof(fake_gic_lrs));
	fake_gic_hcr = 0;
	strcpy(vm.name, "test");
	vm.nr_vcpus = nr_vcpus;
	for (unsigned i = 0; i < nr_vcpus; i++) {
		vm.vcpus[i].vm = &vm;
		vm.vcpus[i].index = i;
		vm.vcpus[i].vmpidr = i; /* Aff0 = i, as vm_create sets it */
	}
	vgic_vm_init(&vm, nr_spis);
	assert_int_equal(vgic_register_mmio(&vm, ipa_init(GICD), ipa_init(GICR)), 0);
	vgic_set_kick(&vm, record_kick);
}

static int setup2(void **state)
{
	(void)state;
	build_vm(2, VGIC_NR_SPIS);
	return 0;
}

static int access(unsigned cpu, uint64_t ipa, unsigned size, bool write, uint64_t *val)
{
	struct mmio_access acc = {
	    .ipa = ipa_init(ipa),
	    .size = (uint8_t)size,
	    .write = write,
	    .value = write ? *val : 0,
	    .reg64 = true,
	};
	int rc = mmio_bus_dispatch(&vm.mmio, &vm.vcpus[cpu], &acc);
	if (!write)
		*val = acc.value;
	return rc;
}

static uint64_t rd(uint64_t ipa, unsigned size)
{
	uint64_t v = 0xdeadbeef;
	assert_int_equal(access(0, ipa, size, false, &v), 0);
	return v;
}

static void wr(uint64_t ipa, unsigned size, uint64_t v)
{
	assert_int_equal(access(0, ipa, size, true, &v), 0);
}
static uint32_t rd32(uint64_t ipa)
{
	return (uint32_t)rd(ipa, 4);
}
static void wr32(uint64_t ipa, uint32_t v)
{
	wr(ipa, 4, v);
}

/* Linux's gic_init_bases + gic_dist_init + per-CPU gic_populate_rdist / gic_cpu_init, as it runs them. */
static void linux_probe(void)
{
	assert_int_equal((rd32(GICD + GIC_PIDR2) >> 4) & 0xf, 3);
	uint32_t typer = rd32(GICD + GICD_TYPER);
	unsigned lines = MIN(32 * ((typer & 0x1f) + 1), 1020u);
	rd32(GICD + GICD_IIDR);
	rd32(GICD + GICD_TYPER2);

	wr32(GICD + GICD_CTLR, 0);
	for (int i = 0; rd32(GICD + GICD_CTLR) & (1u << 31); i++)
		assert_true(i < 10);
	for (unsigned i = 32; i < lines; i += 32)
		wr32(GICD + GICD_IGROUPR + i / 8, ~0u);
	for (unsigned i = 32; i < lines; i += 16)
		wr32(GICD + GICD_ICFGR + i / 4, 0);
	for (unsigned i = 32; i < lines; i += 4)
		wr32(GICD + GICD_IPRIORITYR + i, 0xa0a0a0a0);
	for (unsigned i = 32; i < lines; i += 32) {
		wr32(GICD + GICD_ICACTIVER + i / 8, ~0u);
		wr32(GICD + GICD_ICENABLER + i / 8, ~0u);
	}
	wr32(GICD + GICD_CTLR, (1u << 4) | (1u << 1) | (1u << 0)); /* ARE_NS | ENABLE_G1A | ENABLE_G1 */
	for (unsigned i = 32; i < lines; i++)
		wr(GICD + GICD_IROUTER + i * 8, 8, 0); /* boot CPU's affinity */

	for (unsigned cpu = 0; cpu < vm.nr_vcpus; cpu++) {
		/* gic_iterate_rdists: walk frames, match GICR_TYPER affinity, stop at Last. */
		uint64_t found = 0;
		for (uint64_t f = GICR;; f += VGIC_GICR_STRIDE) {
			assert_int_equal((rd32(f + GIC_PIDR2) >> 4) & 0xf, 3);
			uint64_t t = rd(f + GICR_TYPER, 8);
			assert_false(t & 3); /* no PLPIS / VLPIS: 128 KiB stride */
			if ((t >> 32) == (vm.vcpus[cpu].vmpidr & 0xffffff))
				found = f;
			if (t & (1u << 4))
				break;
			assert_true(f < FRAME(VM_MAX_VCPUS));
		}
		assert_int_equal(found, FRAME(cpu));
		rd32(found + GICR_CTLR);
		/* gic_enable_redist */
		uint32_t waker = rd32(found + GICR_WAKER);
		assert_int_equal(waker, 0x6);
		wr32(found + GICR_WAKER, waker & ~2u);
		for (int i = 0; rd32(found + GICR_WAKER) & 4; i++)
			assert_true(i < 10);
		/* gic_cpu_config */
		wr32(found + SGI_BASE + GICD_IGROUPR, ~0u);
		wr32(found + SGI_BASE + GICD_ICACTIVER, 0xffff0000);
		wr32(found + SGI_BASE + GICD_ICENABLER, 0xffff0000);
		wr32(found + SGI_BASE + GICD_ISENABLER, 0x0000ffff);
		for (int i = 0; rd32(found + GICR_CTLR) & (1u << 3); i++)
			assert_true(i < 10);
		for (unsigned i = 0; i < 32; i += 4)
			wr32(found + SGI_BASE + GICD_IPRIORITYR + i, 0xa0a0a0a0);
	}
}

/* irq_set_type(48, edge), priority 0x80 (byte access), route to vCPU 1, unmask. */
static void enable_spi48_on_vcpu1(void)
{
	uint32_t cfg = rd32(GICD + GICD_ICFGR + 48 / 16 * 4);
	wr32(GICD + GICD_ICFGR + 48 / 16 * 4, cfg | 2u << ((48 % 16) * 2));
	wr(GICD + GICD_IPRIORITYR + 48, 1, 0x80);
	wr(GICD + GICD_IROUTER + 48 * 8, 8, 1);
	wr32(GICD + GICD_ISENABLER + 4, 1u << 16);
}

/* --- probe --------------------------------------------------------------------- */

static void test_probe_registers(void **state)
{
	(void)state;
	uint32_t typer = rd32(GICD + GICD_TYPER);
	assert_int_equal(typer & 0x1f, 3);	/* 128 INTIDs */
	assert_int_equal((typer >> 16) & 3, 0); /* no LPIs, no MBIS */
	assert_int_equal((typer >> 10) & 1, 0); /* single security state */
	assert_int_equal((typer >> 8) & 1, 0);	/* no ESPI */
	assert_int_equal(rd32(GICD + GICD_TYPER2), 0);
	linux_probe();
	assert_int_equal(rd32(GICD + GICD_CTLR), 0x53); /* DS | ARE | Grp1 | Grp0, RWP 0 */
	assert_int_equal(vm.vgic.ctlr, 3);
	assert_int_equal(rd(FRAME(0) + GICR_TYPER, 8), 0ULL << 32 | 0 << 8);
	assert_int_equal(rd(FRAME(1) + GICR_TYPER, 8), 1ULL << 32 | 1 << 8 | 1 << 4);
	assert_int_equal(rd32(FRAME(1) + GICR_TYPER + 4), 1); /* 32-bit halves */
	assert_int_equal(rd32(FRAME(1) + GICR_TYPER), 1 << 8 | 1 << 4);
	assert_int_equal(rd(FRAME(0) + GICR_PROPBASER, 8), 0);
	assert_int_equal(rd(FRAME(0) + GICR_PENDBASER, 8), 0);
	assert_int_equal(rd32(FRAME(0) + GICR_ICFGR0), 0xaaaaaaaa);
	assert_int_equal(rd32(FRAME(0) + SGI_BASE + GICD_ISENABLER), 0xffff);
	assert_int_equal(rd32(FRAME(1) + SGI_BASE + GICD_IGROUPR), ~0u);
	assert_int_equal(rd32(GICD + GICD_IPRIORITYR + 40), 0xa0a0a0a0);
	assert_int_equal(rd32(FRAME(1) + SGI_BASE + GICD_IPRIORITYR + 28), 0xa0a0a0a0);
	assert_int_equal(rd(GICD + GICD_IROUTER + 100 * 8, 8), 0);

	enable_spi48_on_vcpu1();
	assert_int_equal(rd32(GICD + GICD_ISENABLER + 4), 1u << 16);
	assert_int_equal(rd32(GICD + GICD_ICENABLER + 4), 1u << 16);
	assert_int_equal(rd(GICD + GICD_IPRIORITYR + 48, 1), 0x80);
	assert_int_equal(rd32(GICD + GICD_IPRIORITYR + 48), 0xa0a0a080);
	assert_int_equal(rd(GICD + GICD_IROUTER + 48 * 8, 8), 1);
	assert_int_equal(rd32(GICD + GICD_IROUTER + 48 * 8), 1); /* 32-bit halves */
	assert_int_equal(rd32(GICD + GICD_IROUTER + 48 * 8 + 4), 0);
	assert_int_equal((rd32(GICD + GICD_ICFGR + 12) >> 1) & 1, 1);
	/* Priority keeps the 5 implemented bits only. */
	wr(GICD + GICD_IPRIORITYR + 49, 1, 0xff);
	assert_int_equal(rd(GICD + GICD_IPRIORITYR + 49, 1), 0xf8);
}

static void test_waker_and_redist_frames(void **state)
{
	(void)state;
	assert_int_equal(rd32(FRAME(1) + GICR_WAKER), 6);
	wr32(FRAME(1) + GICR_WAKER, 0);
	assert_int_equal(rd32(FRAME(1) + GICR_WAKER), 0);
	assert_int_equal(rd32(FRAME(0) + GICR_WAKER), 6); /* per vCPU */
	wr32(FRAME(1) + GICR_WAKER, 2);
	assert_int_equal(rd32(FRAME(1) + GICR_WAKER), 6);
	/* Beyond the last frame: not the vGIC's region at all. */
	uint64_t v = 0;
	assert_int_equal(access(0, FRAME(2), 4, false, &v), -ENOENT);
}

/* --- injection and the list registers --------------------------------------------- */

static void test_inject_ack_eoi(void **state)
{
	(void)state;
	linux_probe();
	enable_spi48_on_vcpu1();
	memset(kicks, 0, sizeof(kicks));
	assert_int_equal(vgic_inject(&vm, 48), 0);
	assert_int_equal(kicks[1], 1);
	assert_int_equal(kicks[0], 0);
	assert_true(vgic_vcpu_has_pending(&vm.vcpus[1]));
	assert_false(vgic_vcpu_has_pending(&vm.vcpus[0]));

	flush(&vm.vcpus[0]);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), 0);
	vgic_sync_lrs(&vm.vcpus[0]);

	flush(&vm.vcpus[1]);
	uint64_t lr = fake_gic_lrs[0];
	assert_int_equal(LR_INTID(lr), 48);
	assert_int_equal(LR_PRIO(lr), 0x80);
	assert_true(lr & ICH_LR_GROUP1);
	assert_false(lr & ICH_LR_HW);
	assert_int_equal(LR_STATE(lr), ICH_LR_PENDING);
	assert_int_equal(LR_STATE(fake_gic_lrs[1]), 0);
	assert_int_equal(fake_gic_hcr, ICH_HCR_EN);

	/* Guest: ICC_IAR1 -> active. */
	fake_gic_lrs[0] = (lr & ~ICH_LR_STATE_MASK) | ICH_LR_ACTIVE;
	vgic_sync_lrs(&vm.vcpus[1]);
	/* Left in place until the next flush, which need not rewrite it. */
	assert_int_equal(fake_gic_lrs[0], (lr & ~ICH_LR_STATE_MASK) | ICH_LR_ACTIVE);
	assert_int_equal(rd32(GICD + GICD_ISACTIVER + 4), 1u << 16);
	assert_int_equal(rd32(GICD + GICD_ISPENDR + 4), 0);
	assert_false(vgic_vcpu_has_pending(&vm.vcpus[1]));

	flush(&vm.vcpus[1]);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), ICH_LR_ACTIVE);
	/* Guest: EOI -> invalid. */
	fake_gic_lrs[0] &= ~ICH_LR_STATE_MASK;
	vgic_sync_lrs(&vm.vcpus[1]);
	assert_int_equal(rd32(GICD + GICD_ISACTIVER + 4), 0);
	flush(&vm.vcpus[1]);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), 0);
	vgic_sync_lrs(&vm.vcpus[1]);
}

/* LRs stay in place across an exit: a flush rewrites only what changed, and an unused LR that
 * still holds a live interrupt is invalidated. */
static void test_lrs_rewritten_only_when_changed(void **state)
{
	(void)state;
	linux_probe();
	enable_spi48_on_vcpu1();
	struct vcpu *v1 = &vm.vcpus[1];
	flush(v1); /* load: every LR written once */
	vgic_sync_lrs(v1);
	vgic_inject(&vm, 48);
	fake_gic_lr_writes = 0;
	flush(v1);
	assert_int_equal(fake_gic_lr_writes, 1);
	uint64_t lr = fake_gic_lrs[0];
	assert_int_equal(LR_STATE(lr), ICH_LR_PENDING);

	/* An exit before the guest took it, then one while it is active: nothing to rewrite. */
	vgic_sync_lrs(v1);
	flush(v1);
	assert_int_equal(fake_gic_lr_writes, 1);
	fake_gic_lrs[0] = (lr & ~ICH_LR_STATE_MASK) | ICH_LR_ACTIVE;
	vgic_sync_lrs(v1);
	flush(v1);
	assert_int_equal(fake_gic_lr_writes, 1);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), ICH_LR_ACTIVE);

	/* EOI: the LR goes invalid in the hardware; no write is needed to retire it. */
	fake_gic_lrs[0] &= ~ICH_LR_STATE_MASK;
	vgic_sync_lrs(v1);
	flush(v1);
	assert_int_equal(fake_gic_lr_writes, 1);
	assert_false(vgic_vcpu_has_pending(v1));
	vgic_sync_lrs(v1);

	/* Put: nothing live is left in the hardware, the interrupt stays pending in the vGIC. */
	vgic_inject(&vm, 48);
	flush(v1);
	assert_int_equal(fake_gic_lr_writes, 2);
	vgic_vcpu_put(v1);
	lr_owner = NULL;
	for (unsigned i = 0; i < FAKE_GIC_LRS; i++)
		assert_int_equal(LR_STATE(fake_gic_lrs[i]), 0);
	assert_true(vgic_vcpu_has_pending(v1));

	/* A reset discards an interrupt whose LR is live: the next flush invalidates the LR. */
	flush(v1);
	fake_gic_lrs[0] = (fake_gic_lrs[0] & ~ICH_LR_STATE_MASK) | ICH_LR_ACTIVE;
	vgic_sync_lrs(v1);
	vgic_vm_init(&vm, 64);
	flush(v1);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), 0);
	vgic_sync_lrs(v1);
}

static void test_edge_while_active_and_coalesce(void **state)
{
	(void)state;
	linux_probe();
	enable_spi48_on_vcpu1();
	struct vcpu *v1 = &vm.vcpus[1];
	vgic_inject(&vm, 48);
	vgic_inject(&vm, 48); /* coalesces while pending */
	flush(v1);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), ICH_LR_PENDING);
	assert_int_equal(LR_STATE(fake_gic_lrs[1]), 0);
	fake_gic_lrs[0] = (fake_gic_lrs[0] & ~ICH_LR_STATE_MASK) | ICH_LR_ACTIVE;
	/* A completion arrives from another CPU while the guest handles the first. */
	vgic_inject(&vm, 48);
	vgic_sync_lrs(v1);
	flush(v1);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), ICH_LR_PENDING | ICH_LR_ACTIVE);
	/* EOI: the second edge is still pending. */
	fake_gic_lrs[0] = (fake_gic_lrs[0] & ~ICH_LR_STATE_MASK) | ICH_LR_PENDING;
	vgic_sync_lrs(v1);
	assert_int_equal(rd32(GICD + GICD_ISPENDR + 4), 1u << 16);
	flush(v1);
	fake_gic_lrs[0] &= ~ICH_LR_STATE_MASK; /* ack + EOI in one run */
	vgic_sync_lrs(v1);
	assert_int_equal(rd32(GICD + GICD_ISPENDR + 4), 0);
	assert_false(vgic_vcpu_has_pending(v1));
}

static void test_hw_timer_ppi(void **state)
{
	(void)state;
	linux_probe();
	struct vcpu *v0 = &vm.vcpus[0];
	wr32(FRAME(0) + SGI_BASE + GICD_ISENABLER, 1u << 27);
	assert_int_equal(vgic_inject_hw_ppi(v0, 27, 27), 0);
	flush(v0);
	uint64_t lr = fake_gic_lrs[0];
	assert_int_equal(LR_INTID(lr), 27);
	assert_true(lr & ICH_LR_HW);
	assert_int_equal((lr & ICH_LR_PINTID_MASK) >> ICH_LR_PINTID_SHIFT, 27);
	assert_int_equal(LR_STATE(lr), ICH_LR_PENDING);
	assert_int_equal(LR_PRIO(lr), 0xa0);
	/* Guest acks and deactivates: the hardware deactivated the physical PPI. */
	fake_gic_lrs[0] &= ~ICH_LR_STATE_MASK;
	vgic_sync_lrs(v0);
	assert_int_equal(vgic_take_hw_deactivations(v0), 0);
	assert_false(vm.vcpus[0].vgic.priv[27].phys_active);

	/* The guest clears the pending timer interrupt instead: keel must deactivate the physical one. */
	vgic_inject_hw_ppi(v0, 27, 27);
	wr32(FRAME(0) + SGI_BASE + GICD_ICPENDR, 1u << 27);
	assert_int_equal(vgic_take_hw_deactivations(v0), 1u << 27);
	assert_int_equal(vgic_take_hw_deactivations(v0), 0);

	/* Active at VM reset: also handed back. */
	vgic_inject_hw_ppi(v0, 27, 27);
	flush(v0);
	fake_gic_lrs[0] = (fake_gic_lrs[0] & ~ICH_LR_STATE_MASK) | ICH_LR_ACTIVE;
	vgic_sync_lrs(v0);
	vgic_vm_init(&vm, VGIC_NR_SPIS);
	assert_int_equal(vgic_take_hw_deactivations(v0), 1u << 27);

	/* Disabled: stays pending (physical stays active) until the guest enables it. */
	linux_probe();
	vgic_inject_hw_ppi(v0, 27, 27);
	flush(v0);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), 0);
	vgic_sync_lrs(v0);
	assert_int_equal(vgic_take_hw_deactivations(v0), 0);
	wr32(FRAME(0) + SGI_BASE + GICD_ISENABLER, 1u << 27);
	flush(v0);
	assert_true(fake_gic_lrs[0] & ICH_LR_HW);
	vgic_sync_lrs(v0);

	assert_int_equal(vgic_inject_hw_ppi(v0, 15, 27), -EINVAL);
	assert_int_equal(vgic_inject_hw_ppi(v0, 27, 32), -EINVAL);
	assert_int_equal(vgic_inject_hw_ppi(v0, 32, 27), -EINVAL);
}

/* The guest acknowledges and deactivates everything listed on v; the next flush finds nothing. */
static void drain(struct vcpu *v)
{
	flush(v);
	for (unsigned i = 0; i < ARRAY_SIZE(fake_gic_lrs); i++)
		fake_gic_lrs[i] &= ~ICH_LR_STATE_MASK;
	flush(v);
	for (unsigned i = 0; i < ARRAY_SIZE(fake_gic_lrs); i++)
		assert_int_equal(LR_STATE(fake_gic_lrs[i]), 0);
}

/* A flush visits only the interrupts noted as maybe active or pending, and its scan forgets the
 * ones it finds neither. Every way an interrupt becomes active or pending must note it again. */
static void expect_listed(struct vcpu *v, uint32_t intid, uint64_t state)
{
	flush(v);
	assert_int_equal(LR_INTID(fake_gic_lrs[0]), intid);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), state);
	drain(v);
}

static void test_every_way_to_pending_is_noted(void **state)
{
	(void)state;
	linux_probe();
	enable_spi48_on_vcpu1();
	struct vcpu *v0 = &vm.vcpus[0], *v1 = &vm.vcpus[1];

	/* SPI 48 listed on vCPU 1. vCPU 0's flush (on its own CPU, its LRs empty) meanwhile finds it
	 * neither pending nor active: its pending state is in vCPU 1's LR. */
	assert_int_equal(vgic_inject(&vm, 48), 0);
	flush(v1);
	uint64_t lr = fake_gic_lrs[0];
	assert_int_equal(LR_INTID(lr), 48);
	vgic_flush_lrs(v0);
	assert_int_equal(fake_gic_lrs[0], lr);
	/* The guest acknowledges it: the sync brings it back as active, and it stays listed. */
	fake_gic_lrs[0] = (lr & ~ICH_LR_STATE_MASK) | ICH_LR_ACTIVE;
	expect_listed(v1, 48, ICH_LR_ACTIVE);

	drain(v0);
	wr32(GICD + GICD_ISPENDR + 4, 1u << 16);
	expect_listed(v1, 48, ICH_LR_PENDING);
	wr32(GICD + GICD_ISACTIVER + 4, 1u << 16);
	expect_listed(v1, 48, ICH_LR_ACTIVE);
	assert_int_equal(vgic_set_level(&vm, 48, true), 0);
	expect_listed(v1, 48, ICH_LR_PENDING);
	assert_int_equal(vgic_set_level(&vm, 48, false), 0);

	/* vCPU 0's private interrupts: a PPI set pending and active through its redistributor, an
	 * SGI from vCPU 1, the hardware-linked timer. */
	drain(v0);
	wr32(FRAME(0) + SGI_BASE + GICD_ISENABLER, 1u << 27);
	wr32(FRAME(0) + SGI_BASE + GICD_ISPENDR, 1u << 27);
	expect_listed(v0, 27, ICH_LR_PENDING);
	wr32(FRAME(0) + SGI_BASE + GICD_ISACTIVER, 1u << 27);
	expect_listed(v0, 27, ICH_LR_ACTIVE);
	assert_int_equal(vgic_sgi_mask(v1, 3, 1u << 0), 1);
	expect_listed(v0, 3, ICH_LR_PENDING);
	assert_int_equal(vgic_inject_hw_ppi(v0, 27, 27), 0);
	flush(v0);
	assert_int_equal(LR_INTID(fake_gic_lrs[0]), 27);
	assert_true(fake_gic_lrs[0] & ICH_LR_HW);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), ICH_LR_PENDING);
}

static void test_overflow_refill(void **state)
{
	(void)state;
	linux_probe();
	struct vcpu *v0 = &vm.vcpus[0];
	/* SPIs 40..45 on vCPU 0, priorities 0x50, 0x48, ..., 0x28 (45 highest). */
	for (unsigned i = 0; i < 6; i++) {
		wr(GICD + GICD_IPRIORITYR + 40 + i, 1, 0x50 - 8 * i);
		wr32(GICD + GICD_ISENABLER + 4, 1u << (8 + i));
		vgic_inject(&vm, 40 + i);
	}
	flush(v0);
	assert_int_equal(LR_INTID(fake_gic_lrs[0]), 45);
	assert_int_equal(LR_INTID(fake_gic_lrs[1]), 44);
	assert_int_equal(LR_INTID(fake_gic_lrs[2]), 43);
	assert_int_equal(LR_INTID(fake_gic_lrs[3]), 42);
	assert_int_equal(fake_gic_hcr, ICH_HCR_EN | ICH_HCR_UIE | ICH_HCR_NPIE);

	/* The guest handles three; the underflow maintenance interrupt brings keel back. */
	for (unsigned i = 0; i < 3; i++)
		fake_gic_lrs[i] &= ~ICH_LR_STATE_MASK;
	vgic_sync_lrs(v0);
	assert_int_equal(fake_gic_hcr & (ICH_HCR_UIE | ICH_HCR_NPIE), 0);
	flush(v0);
	assert_int_equal(LR_INTID(fake_gic_lrs[0]), 42);
	assert_int_equal(LR_INTID(fake_gic_lrs[1]), 41);
	assert_int_equal(LR_INTID(fake_gic_lrs[2]), 40);
	assert_int_equal(LR_STATE(fake_gic_lrs[3]), 0);
	assert_int_equal(fake_gic_hcr, ICH_HCR_EN);
	for (unsigned i = 0; i < 3; i++)
		fake_gic_lrs[i] &= ~ICH_LR_STATE_MASK;
	vgic_sync_lrs(v0);
	assert_false(vgic_vcpu_has_pending(v0));
}

static void test_active_keeps_its_lr(void **state)
{
	(void)state;
	linux_probe();
	struct vcpu *v0 = &vm.vcpus[0];
	/* SPI 40 at the lowest priority is active; five better ones arrive: it keeps an LR. */
	wr(GICD + GICD_IPRIORITYR + 40, 1, 0xf0);
	wr32(GICD + GICD_ISENABLER + 4, 0x3f << 8);
	vgic_inject(&vm, 40);
	flush(v0);
	fake_gic_lrs[0] = (fake_gic_lrs[0] & ~ICH_LR_STATE_MASK) | ICH_LR_ACTIVE;
	vgic_sync_lrs(v0);
	for (unsigned i = 41; i < 46; i++)
		vgic_inject(&vm, i);
	flush(v0);
	assert_int_equal(LR_INTID(fake_gic_lrs[0]), 40);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), ICH_LR_ACTIVE);
	assert_int_equal(LR_INTID(fake_gic_lrs[1]), 41);
	assert_true(fake_gic_hcr & ICH_HCR_UIE);
	vgic_sync_lrs(v0);
}

static void test_disabled_not_delivered(void **state)
{
	(void)state;
	linux_probe();
	struct vcpu *v0 = &vm.vcpus[0];
	vgic_inject(&vm, 50); /* disabled by the probe */
	assert_int_equal(rd32(GICD + GICD_ISPENDR + 4), 1u << 18);
	assert_false(vgic_vcpu_has_pending(v0));
	flush(v0);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), 0);
	vgic_sync_lrs(v0);

	memset(kicks, 0, sizeof(kicks));
	uint64_t on = 1u << 18;
	assert_int_equal(access(1, GICD + GICD_ISENABLER + 4, 4, true, &on), 0); /* vCPU 1 enables it */
	assert_int_equal(kicks[0], 1);
	assert_true(vgic_vcpu_has_pending(v0));

	/* Group 1 disabled in GICD_CTLR: not delivered either. */
	wr32(GICD + GICD_CTLR, 1);
	assert_false(vgic_vcpu_has_pending(v0));
	flush(v0);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), 0);
	vgic_sync_lrs(v0);
	wr32(GICD + GICD_CTLR, 3);
	flush(v0);
	assert_int_equal(LR_INTID(fake_gic_lrs[0]), 50);
	fake_gic_lrs[0] = (fake_gic_lrs[0] & ~ICH_LR_STATE_MASK) | ICH_LR_ACTIVE;
	vgic_sync_lrs(v0);

	/* Disabling an active interrupt does not take it from the guest, who must still deactivate it. */
	wr32(GICD + GICD_ICENABLER + 4, 1u << 18);
	flush(v0);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), ICH_LR_ACTIVE);
	fake_gic_lrs[0] &= ~ICH_LR_STATE_MASK;
	vgic_sync_lrs(v0);
	flush(v0);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), 0);
	vgic_sync_lrs(v0);
}

static void test_level_line(void **state)
{
	(void)state;
	linux_probe(); /* SPIs level-configured */
	struct vcpu *v0 = &vm.vcpus[0];
	wr32(GICD + GICD_ISENABLER + 4, 1u << 1); /* SPI 33 (UART) */
	assert_int_equal(vgic_set_level(&vm, 33, true), 0);
	flush(v0);
	assert_int_equal(LR_INTID(fake_gic_lrs[0]), 33);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), ICH_LR_PENDING);
	/* Ack; the line is still high at the exit: pending again behind the active one. */
	fake_gic_lrs[0] = (fake_gic_lrs[0] & ~ICH_LR_STATE_MASK) | ICH_LR_ACTIVE;
	vgic_sync_lrs(v0);
	assert_int_equal(rd32(GICD + GICD_ISPENDR + 4), 1u << 1);
	flush(v0);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), ICH_LR_ACTIVE | ICH_LR_PENDING);
	vgic_sync_lrs(v0);
	/* The handler's MMIO write lowers the line (a trap: LRs synced), then EOI. */
	vgic_set_level(&vm, 33, false);
	flush(v0);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), ICH_LR_ACTIVE);
	fake_gic_lrs[0] &= ~ICH_LR_STATE_MASK;
	vgic_sync_lrs(v0);
	assert_false(vgic_vcpu_has_pending(v0));
	assert_int_equal(rd32(GICD + GICD_ISACTIVER + 4), 0);

	/* A line that drops before the guest acknowledges is withdrawn. */
	vgic_set_level(&vm, 33, true);
	flush(v0);
	vgic_set_level(&vm, 33, false);
	vgic_sync_lrs(v0);
	flush(v0);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), 0);
	vgic_sync_lrs(v0);

	/* ICPENDR does not clear a level interrupt whose line is high. */
	vgic_set_level(&vm, 33, true);
	wr32(GICD + GICD_ICPENDR + 4, 1u << 1);
	assert_int_equal(rd32(GICD + GICD_ISPENDR + 4), 1u << 1);
	vgic_set_level(&vm, 33, false);
	assert_int_equal(rd32(GICD + GICD_ISPENDR + 4), 0);

	/* vgic_inject on a level-configured interrupt: pending until acknowledged. */
	vgic_inject(&vm, 33);
	flush(v0);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), ICH_LR_PENDING);
	vgic_sync_lrs(v0); /* exit before the guest took it */
	assert_int_equal(rd32(GICD + GICD_ISPENDR + 4), 1u << 1);
	flush(v0);
	fake_gic_lrs[0] = (fake_gic_lrs[0] & ~ICH_LR_STATE_MASK) | ICH_LR_ACTIVE;
	vgic_sync_lrs(v0);
	assert_int_equal(rd32(GICD + GICD_ISPENDR + 4), 0);
	flush(v0);
	fake_gic_lrs[0] &= ~ICH_LR_STATE_MASK;
	vgic_sync_lrs(v0);
	assert_false(vgic_vcpu_has_pending(v0));

	/* Edge-configured: only rising edges latch. */
	wr32(GICD + GICD_ICFGR + 8, 2u << 2); /* SPI 33 edge */
	vgic_set_level(&vm, 33, true);
	vgic_set_level(&vm, 33, false);
	assert_int_equal(rd32(GICD + GICD_ISPENDR + 4), 1u << 1);
}

static void test_sgi(void **state)
{
	(void)state;
	linux_probe();
	struct vcpu *v0 = &vm.vcpus[0], *v1 = &vm.vcpus[1];
	memset(kicks, 0, sizeof(kicks));
	/* SGI 3 to TargetList {1} in Aff3.Aff2.Aff1 = 0.0.0 */
	assert_int_equal(vgic_sgi(v0, 3ULL << 24 | 1u << 1), 1);
	assert_int_equal(kicks[1], 1);
	assert_int_equal(rd32(FRAME(1) + SGI_BASE + GICD_ISPENDR), 1u << 3);
	assert_int_equal(rd32(FRAME(0) + SGI_BASE + GICD_ISPENDR), 0);
	flush(v1);
	assert_int_equal(LR_INTID(fake_gic_lrs[0]), 3);
	fake_gic_lrs[0] &= ~ICH_LR_STATE_MASK;
	vgic_sync_lrs(v1);

	/* IRM: everyone but the sender. */
	assert_int_equal(vgic_sgi(v1, 1ULL << 40 | 5ULL << 24), 1);
	assert_int_equal(rd32(FRAME(0) + SGI_BASE + GICD_ISPENDR), 1u << 5);
	assert_int_equal(rd32(FRAME(1) + SGI_BASE + GICD_ISPENDR), 0);
	/* Both targets, including the sender. */
	assert_int_equal(vgic_sgi(v0, 7ULL << 24 | 3), 2);
	/* Affinities nobody has, RS beyond the VM, an empty list: nothing. */
	assert_int_equal(vgic_sgi(v0, 1ULL << 16 | 1), 0);
	assert_int_equal(vgic_sgi(v0, 1ULL << 32 | 1), 0);
	assert_int_equal(vgic_sgi(v0, 1ULL << 48 | 1), 0);
	assert_int_equal(vgic_sgi(v0, 1ULL << 44 | 1), 0);
	assert_int_equal(vgic_sgi(v0, 0), 0);
	assert_int_equal(vgic_sgi(v0, ~0ULL & ~(1ULL << 40)), 0);
	assert_int_equal(vgic_sgi(v0, ~0ULL), 1); /* IRM set: all bits ignored but INTID 15 */
	assert_int_equal(rd32(FRAME(1) + SGI_BASE + GICD_ISPENDR) & (1u << 15), 1u << 15);
}

static void test_spi_stays_with_active_vcpu(void **state)
{
	(void)state;
	linux_probe();
	enable_spi48_on_vcpu1();
	struct vcpu *v0 = &vm.vcpus[0], *v1 = &vm.vcpus[1];
	vgic_inject(&vm, 48);
	flush(v1);
	fake_gic_lrs[0] = (fake_gic_lrs[0] & ~ICH_LR_STATE_MASK) | ICH_LR_ACTIVE;
	vgic_sync_lrs(v1);
	wr(GICD + GICD_IROUTER + 48 * 8, 8, 0); /* set_affinity while active */
	vgic_inject(&vm, 48);
	flush(v0);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), 0); /* not twice at once */
	vgic_sync_lrs(v0);
	flush(v1);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), ICH_LR_ACTIVE | ICH_LR_PENDING);
	fake_gic_lrs[0] &= ~ICH_LR_STATE_MASK; /* EOI, then the pending one is taken and EOIed too */
	vgic_sync_lrs(v1);
	vgic_inject(&vm, 48);
	flush(v1);
	assert_int_equal(LR_STATE(fake_gic_lrs[0]), 0);
	vgic_sync_lrs(v1);
	flush(v0);
	assert_int_equal(LR_INTID(fake_gic_lrs[0]), 48);
	vgic_sync_lrs(v0);

	/* A route matching no vCPU: never delivered, never a crash. */
	wr(GICD + GICD_IROUTER + 48 * 8, 8, 0x00000000ff00ULL);
	assert_false(vgic_vcpu_has_pending(v0));
	assert_false(vgic_vcpu_has_pending(v1));
}

/* --- hostile guests ------------------------------------------------------------- */

static void test_bad_intids(void **state)
{
	(void)state;
	uint32_t bad[] = {0, 15, 128, 1019, 1020, 1023, 0x80000000u, ~0u};
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(vgic_inject(&vm, bad[i]), -EINVAL);
		assert_int_equal(vgic_set_level(&vm, bad[i], true), -EINVAL);
	}
	assert_int_equal(vgic_inject(&vm, 127), 0);
	assert_int_equal(vgic_inject(&vm, 16), 0); /* vCPU 0's PPI */
	vgic_vm_init(&vm, 1000);		   /* clamped */
	assert_int_equal(vm.vgic.nr_spis, VGIC_NR_SPIS);
	assert_int_equal(vm.vgic.kick, record_kick); /* survives reset */

	build_vm(1, 40); /* INTIDs 32..71 */
	assert_int_equal(rd32(GICD + GICD_TYPER) & 0x1f, 2);
	assert_int_equal(rd32(FRAME(0) + GICR_TYPER) & (1u << 4), 1u << 4);
	assert_int_equal(vgic_inject(&vm, 72), -EINVAL);
	assert_int_equal(vgic_inject(&vm, 71), 0);
	wr32(GICD + GICD_ISENABLER + 8, ~0u);
	assert_int_equal(rd32(GICD + GICD_ISENABLER + 8), 0xff); /* 64..71 only */
	wr(GICD + GICD_IROUTER + 72 * 8, 8, 0);
	assert_int_equal(rd(GICD + GICD_IROUTER + 72 * 8, 8), 0);
	wr(GICD + GICD_IPRIORITYR + 72, 1, 0x10);
	assert_int_equal(rd(GICD + GICD_IPRIORITYR + 72, 1), 0);
}

static void test_read_only_and_reserved(void **state)
{
	(void)state;
	linux_probe();
	uint32_t typer = rd32(GICD + GICD_TYPER);
	wr32(GICD + GICD_TYPER, 0);
	wr32(GICD + GICD_IIDR, 0);
	wr32(GICD + GIC_PIDR2, 0);
	wr32(GICD + GICD_TYPER2, ~0u);
	assert_int_equal(rd32(GICD + GICD_TYPER), typer);
	assert_int_equal(rd32(GICD + GIC_PIDR2), 0x3b);
	assert_int_equal(rd32(GICD + GICD_TYPER2), 0);
	uint64_t rt = rd(FRAME(0) + GICR_TYPER, 8);
	wr(FRAME(0) + GICR_TYPER, 8, ~0ULL);
	assert_int_equal(rd(FRAME(0) + GICR_TYPER, 8), rt);
	wr32(FRAME(0) + GICR_ICFGR0, 0);
	assert_int_equal(rd32(FRAME(0) + GICR_ICFGR0), 0xaaaaaaaa);
	wr32(FRAME(0) + GICR_ICFGR1, 0xaaaaaaaa); /* PPIs are configurable */
	assert_int_equal(rd32(FRAME(0) + GICR_ICFGR1), 0xaaaaaaaa);
	/* GICD's view of INTIDs 0..31 is RAZ/WI (ARE): the redistributor keeps them. */
	wr32(GICD + GICD_ISENABLER, ~0u);
	wr32(GICD + GICD_IPRIORITYR, 0);
	wr32(GICD + GICD_ICFGR + 4, 0);
	wr(GICD + GICD_IROUTER + 8 * 5, 8, 1);
	assert_int_equal(rd32(GICD + GICD_ISENABLER), 0);
	assert_int_equal(rd32(FRAME(0) + SGI_BASE + GICD_ISENABLER), 0xffff);
	assert_int_equal(rd32(FRAME(0) + SGI_BASE + GICD_IPRIORITYR), 0xa0a0a0a0);
	assert_int_equal(rd32(FRAME(0) + GICR_ICFGR1), 0xaaaaaaaa);
	/* LPI registers: RAZ/WI. */
	wr(FRAME(0) + GICR_PROPBASER, 8, 0x1234567);
	assert_int_equal(rd(FRAME(0) + GICR_PROPBASER, 8), 0);
	wr32(FRAME(0) + GICR_CTLR, 1); /* EnableLPIs */
	assert_int_equal(rd32(FRAME(0) + GICR_CTLR), 0);

	/* Wrong sizes and misaligned accesses: RAZ/WI, no abort. */
	uint32_t before = vm.vgic.bad_accesses;
	wr(GICD + GICD_ISENABLER + 4, 1, 0xff);
	wr(GICD + GICD_ISENABLER + 4, 2, 0xffff);
	wr(GICD + GICD_ISENABLER + 4, 8, ~0ULL);
	wr(GICD + GICD_ISENABLER + 5, 1, 0xff);
	wr(GICD + GICD_CTLR, 8, 0);
	wr(GICD + GICD_IPRIORITYR + 33, 2, 0);
	wr(GICD + GICD_IROUTER + 33 * 8 + 2, 2, 0xff);
	wr(FRAME(0) + GICR_WAKER, 2, 2);
	assert_int_equal(rd32(GICD + GICD_ISENABLER + 4), 0);
	assert_int_equal(rd32(GICD + GICD_CTLR), 0x53);
	assert_int_equal(rd32(GICD + GICD_IPRIORITYR + 32), 0xa0a0a0a0);
	assert_int_equal(rd32(FRAME(0) + GICR_WAKER), 0);
	assert_int_equal(rd(GICD + GICD_ISENABLER + 4, 2), 0);
	assert_int_equal(rd(GICD + GICD_CTLR, 1), 0);
	assert_int_equal(rd(GICD + 0x5000, 4), 0); /* reserved */
	assert_int_equal(rd(FRAME(0) + 0x9000, 4), 0);
	assert_int_equal(rd(FRAME(0) + SGI_BASE + 0x8000, 4), 0);
	assert_true(vm.vgic.bad_accesses > before);
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* What the guest may do to one LR while it runs: acknowledge, EOI, both, or nothing. */
static uint64_t guest_step(uint64_t lr, unsigned choice)
{
	uint64_t st = LR_STATE(lr), rest = lr & ~ICH_LR_STATE_MASK;
	switch (choice % 3) {
	case 0:
		return lr;
	case 1: /* IAR: pending -> active (not while already active) */
		return st == ICH_LR_PENDING ? rest | ICH_LR_ACTIVE : lr;
	default: /* EOI/DIR of the active one; or acknowledge + EOI of a pending one */
		if (st & ICH_LR_ACTIVE)
			return rest | (st & ICH_LR_PENDING);
		return st == ICH_LR_PENDING ? rest : lr;
	}
}

/* Random register traffic, injections and guest LR edits: no crash, and the LRs stay sane. */
static void test_random_hostile(void **state)
{
	(void)state;
	linux_probe();
	unsigned listed = 0;
	for (unsigned n = 0; n < 200000; n++) {
		uint64_t r = rnd();
		unsigned cpu = (r >> 8) & 1;
		unsigned size = 1u << ((r >> 9) & 3);
		bool write = (r >> 11) & 1;
		uint64_t base = (r >> 12) & 1 ? GICD : GICR;
		uint64_t span = base == GICD ? VGIC_GICD_SIZE : 2 * VGIC_GICR_STRIDE;
		uint64_t off = rnd() % span;
		if (r & 1)
			off &= ~3ULL; /* mostly aligned */
		if (r & 2)	      /* mostly in the interesting areas */
			off = base == GICD ? off % 0x800
					   : (off & VGIC_GICR_STRIDE) + (r & 4 ? SGI_BASE : 0) + off % 0x420;
		off = MIN(off, span - size);
		uint64_t v = rnd();
		if (!(r & 0x30))
			v = ~0ULL;
		assert_int_equal(access(cpu, base + off, size, write, &v), 0);

		switch ((r >> 16) & 15) {
		case 0:
			vgic_inject(&vm, (uint32_t)(rnd() % 200));
			break;
		case 1:
			vgic_set_level(&vm, (uint32_t)(rnd() % 200), rnd() & 1);
			break;
		case 2:
			vgic_sgi(&vm.vcpus[cpu], rnd());
			break;
		case 3:
			vgic_inject_hw_ppi(&vm.vcpus[cpu], 27, 27);
			break;
		case 4: {
			struct vcpu *vc = &vm.vcpus[cpu];
			flush(vc);
			for (unsigned i = 0; i < FAKE_GIC_LRS; i++) {
				uint64_t lr = fake_gic_lrs[i];
				if (LR_STATE(lr)) {
					listed++;
					uint32_t id = LR_INTID(lr);
					assert_true(id < 32 + vm.vgic.nr_spis);
					for (unsigned j = 0; j < i; j++) /* never the same INTID twice */
						assert_true(!LR_STATE(fake_gic_lrs[j]) ||
							    LR_INTID(fake_gic_lrs[j]) != id);
					if (lr & ICH_LR_HW)
						assert_true(LR_STATE(lr) != (ICH_LR_PENDING | ICH_LR_ACTIVE));
				}
				fake_gic_lrs[i] = guest_step(lr, (unsigned)rnd());
			}
			vgic_sync_lrs(vc);
			vgic_take_hw_deactivations(vc);
			break;
		}
		case 5:
			vgic_vcpu_has_pending(&vm.vcpus[cpu]);
			break;
		case 6:
			if (rnd() % 5000 == 0)
				vgic_vm_init(&vm, VGIC_NR_SPIS);
			break;
		default:
			break;
		}
	}
	assert_true(listed > 1000); /* the traffic did reach the guest */
	/* Nothing is left listed after the last sync. */
	for (unsigned i = 0; i < vm.vgic.nr_spis; i++)
		assert_false(vm.vgic.spi[i].in_lr);
	assert_int_equal(vm.vgic.lock.v, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_probe_registers, setup2),
	    cmocka_unit_test_setup(test_waker_and_redist_frames, setup2),
	    cmocka_unit_test_setup(test_inject_ack_eoi, setup2),
	    cmocka_unit_test_setup(test_edge_while_active_and_coalesce, setup2),
	    cmocka_unit_test_setup(test_lrs_rewritten_only_when_changed, setup2),
	    cmocka_unit_test_setup(test_hw_timer_ppi, setup2),
	    cmocka_unit_test_setup(test_overflow_refill, setup2),
	    cmocka_unit_test_setup(test_every_way_to_pending_is_noted, setup2),
	    cmocka_unit_test_setup(test_active_keeps_its_lr, setup2),
	    cmocka_unit_test_setup(test_disabled_not_delivered, setup2),
	    cmocka_unit_test_setup(test_level_line, setup2),
	    cmocka_unit_test_setup(test_sgi, setup2),
	    cmocka_unit_test_setup(test_spi_stays_with_active_vcpu, setup2),
	    cmocka_unit_test_setup(test_bad_intids, setup2),
	    cmocka_unit_test_setup(test_read_only_and_reserved, setup2),
	    cmocka_unit_test_setup(test_random_hostile, setup2),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
