/*
 * vGIC GICv2 model: the distributor driven through the MMIO bus as Linux's
 * irq-gic probes and uses it (banked INTIDs 0..31, ITARGETSR, GICD_SGIR),
 * injection into fake list registers in the GICv2 layout, hostile accesses.
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

#define GICD 0x08000000ULL

#define GICD_CTLR	0x000
#define GICD_TYPER	0x004
#define GICD_IIDR	0x008
#define GICD_IGROUPR	0x080
#define GICD_ISENABLER	0x100
#define GICD_ICENABLER	0x180
#define GICD_ISPENDR	0x200
#define GICD_ICPENDR	0x280
#define GICD_IPRIORITYR 0x400
#define GICD_ITARGETSR	0x800
#define GICD_ICFGR	0xc00
#define GICD_SGIR	0xf00
#define GICD_CPENDSGIR	0xf10
#define GICD_SPENDSGIR	0xf20
#define GICD_PIDR2	0xfe8

static struct vm vm;
static unsigned kicks[VM_MAX_VCPUS];
static struct vcpu *lr_owner;

static void record_kick(struct vcpu *v)
{
	kicks[v->index]++;
}

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

static void build_vm(unsigned nr_vcpus)
{
	lr_owner = NULL;
	memset(&vm, 0, sizeof(vm));
	memset(kicks, 0, sizeof(kicks));
	memset(fake_gic_lrs, 0, sizeof(fake_gic_lrs));
	fake_gic_hcr = 0;
	fake_gic_version = 2;
	strcpy(vm.name, "test");
	vm.nr_vcpus = nr_vcpus;
	for (unsigned i = 0; i < nr_vcpus; i++) {
		vm.vcpus[i].vm = &vm;
		vm.vcpus[i].index = i;
		vm.vcpus[i].vmpidr = i;
	}
	assert_int_equal(vgic_set_model(&vm, VGIC_V2), 0);
	vgic_vm_init(&vm, VGIC_NR_SPIS);
	assert_int_equal(vgic_register_mmio(&vm, ipa_init(GICD), ipa_init(0)), 0);
	vgic_set_kick(&vm, record_kick);
}

static int setup2(void **state)
{
	(void)state;
	build_vm(2);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fake_gic_version = 3;
	return 0;
}

static uint64_t rdc(unsigned cpu, uint64_t off, unsigned size)
{
	struct mmio_access acc = {.ipa = ipa_init(GICD + off), .size = (uint8_t)size, .value = 0xdeadbeef};
	assert_int_equal(mmio_bus_dispatch(&vm.mmio, &vm.vcpus[cpu], &acc), 0);
	return acc.value;
}

static void wrc(unsigned cpu, uint64_t off, unsigned size, uint64_t v)
{
	struct mmio_access acc = {
	    .ipa = ipa_init(GICD + off), .size = (uint8_t)size, .write = true, .value = v};
	assert_int_equal(mmio_bus_dispatch(&vm.mmio, &vm.vcpus[cpu], &acc), 0);
}

static uint32_t rd32(uint64_t off)
{
	return (uint32_t)rdc(0, off, 4);
}
static void wr32(uint64_t off, uint32_t v)
{
	wrc(0, off, 4, v);
}

static struct gic_lr lr(unsigned i)
{
	struct gic_lr l;
	gic_v2_lr_decode(fake_gic_lrs[i], &l);
	return l;
}

/* What Linux's gic_dist_init / gic_cpu_init read and write. */
static void test_linux_probe(void **state)
{
	(void)state;
	assert_int_equal((rd32(GICD_PIDR2) >> 4) & 0xf, 2);
	uint32_t typer = rd32(GICD_TYPER);
	assert_int_equal(typer & 0x1f, (32 + VGIC_NR_SPIS) / 32 - 1);
	assert_int_equal((typer >> 5) & 7, 1);	 /* CPUNumber: 2 CPU interfaces */
	assert_int_equal(typer & (1u << 10), 0); /* no Security Extensions */
	/* gic_get_cpumask: ITARGETSR0..7 are banked, each vCPU reads its own bit. */
	for (unsigned off = 0; off < 32; off += 4) {
		assert_int_equal(rdc(0, GICD_ITARGETSR + off, 4), 0x01010101);
		assert_int_equal(rdc(1, GICD_ITARGETSR + off, 4), 0x02020202);
	}
	assert_int_equal(rdc(1, GICD_ITARGETSR + 3, 1), 0x02);
	/* SPIs reset to vCPU 0, Group 0; Linux writes its boot CPU's mask to all of them. */
	assert_int_equal(rd32(GICD_ITARGETSR + 32), 0x01010101);
	assert_int_equal(rd32(GICD_IGROUPR + 4), 0);
	for (unsigned i = 32; i < 32 + VGIC_NR_SPIS; i += 4)
		wr32(GICD_ITARGETSR + i, 0x01010101);
	wr32(GICD_CTLR, 1);
	assert_int_equal(rd32(GICD_CTLR), 1);
	assert_int_equal(vm.vgic.ctlr, 1);
	/* A read-only ITARGETSR0 stays read-only. */
	wr32(GICD_ITARGETSR, 0xffffffff);
	assert_int_equal(rdc(0, GICD_ITARGETSR, 4), 0x01010101);
}

/* INTIDs 0..31 are banked per vCPU behind one offset. */
static void test_banked_private_registers(void **state)
{
	(void)state;
	wrc(0, GICD_ISENABLER, 4, 1u << 27);
	wrc(1, GICD_ISENABLER, 4, 1u << 30);
	assert_int_equal(rdc(0, GICD_ISENABLER, 4), 1u << 27);
	assert_int_equal(rdc(1, GICD_ISENABLER, 4), 1u << 30);
	wrc(1, GICD_IPRIORITYR + 27, 1, 0x40);
	assert_int_equal(rdc(0, GICD_IPRIORITYR + 27, 1), 0);
	assert_int_equal(rdc(1, GICD_IPRIORITYR + 27, 1), 0x40);
	assert_int_equal(vm.vcpus[1].vgic.priv[27].priority, 0x40);
	/* ICFGR0 (SGIs) is read-only; ICFGR1 (PPIs) configures this vCPU's PPIs. */
	wrc(0, GICD_ICFGR, 4, 0);
	assert_int_equal(rdc(0, GICD_ICFGR, 4), 0xaaaaaaaa);
	wrc(1, GICD_ICFGR + 4, 4, 2u << 2 * (27 - 16));
	assert_true(vm.vcpus[1].vgic.priv[27].edge);
	assert_false(vm.vcpus[0].vgic.priv[27].edge);
}

/* An SPI goes to the lowest vCPU of its ITARGETSR mask, as a GICv2 list register. */
static void test_spi_routing_and_lr_layout(void **state)
{
	(void)state;
	wr32(GICD_CTLR, 1);
	wrc(0, GICD_ITARGETSR + 48, 1, 0x02);
	assert_int_equal(rdc(0, GICD_ITARGETSR + 48, 1), 0x02);
	wrc(0, GICD_IPRIORITYR + 48, 1, 0x80);
	wr32(GICD_ISENABLER + 4, 1u << 16);
	memset(kicks, 0, sizeof(kicks));
	assert_int_equal(vgic_inject(&vm, 48), 0);
	assert_int_equal(kicks[1], 1);
	assert_int_equal(kicks[0], 0);
	flush(&vm.vcpus[0]);
	assert_int_equal(fake_gic_lrs[0], 0);
	vgic_sync_lrs(&vm.vcpus[0]);
	flush(&vm.vcpus[1]);
	struct gic_lr l = lr(0);
	assert_int_equal(l.vintid, 48);
	assert_int_equal(l.priority, 0x80);
	assert_true(l.pending);
	assert_false(l.group1); /* Group 0: what Linux's GICv2 driver enables */
	assert_false(l.hw);
	assert_true(fake_gic_lrs[0] <= 0xffffffffULL);
	assert_int_equal(fake_gic_hcr, ICH_HCR_EN);
	/* The guest acknowledges and EOIs it: the LR goes invalid. */
	fake_gic_lrs[0] &= ~(uint64_t)GICH_LR_STATE_MASK;
	vgic_sync_lrs(&vm.vcpus[1]);
	assert_false(vm.vgic.spi[16].pending_latch);
	/* Several targets: the lowest existing one; bits for vCPUs the VM lacks read as zero. */
	wrc(0, GICD_ITARGETSR + 49, 1, 0xfe);
	assert_int_equal(rdc(0, GICD_ITARGETSR + 49, 1), 0x02);
	assert_int_equal(vm.vgic.spi[17].route_vcpu, 1);
	wrc(0, GICD_ITARGETSR + 49, 1, 0xfc);
	assert_int_equal(rdc(0, GICD_ITARGETSR + 49, 1), 0);
	assert_int_equal(vm.vgic.spi[17].route_vcpu, VGIC_NO_VCPU);
}

/* GICD_SGIR: target list, all-but-self, self, and the reserved filter. */
static void test_sgir(void **state)
{
	(void)state;
	memset(kicks, 0, sizeof(kicks));
	wrc(0, GICD_SGIR, 4, 0x00020005); /* list {vCPU1}, SGI 5 */
	assert_true(vm.vcpus[1].vgic.priv[5].pending_latch);
	assert_false(vm.vcpus[0].vgic.priv[5].pending_latch);
	wrc(1, GICD_SGIR, 4, 0x01000007); /* all but self, SGI 7 */
	assert_true(vm.vcpus[0].vgic.priv[7].pending_latch);
	assert_false(vm.vcpus[1].vgic.priv[7].pending_latch);
	wrc(1, GICD_SGIR, 4, 0x02000009); /* self, SGI 9 */
	assert_true(vm.vcpus[1].vgic.priv[9].pending_latch);
	assert_false(vm.vcpus[0].vgic.priv[9].pending_latch);
	wrc(0, GICD_SGIR, 4, 0x03ff000a); /* reserved filter: nothing */
	assert_false(vm.vcpus[0].vgic.priv[10].pending_latch);
	assert_false(vm.vcpus[1].vgic.priv[10].pending_latch);
	wrc(0, GICD_SGIR, 4, 0x00fc000b); /* targets that do not exist */
	assert_false(vm.vcpus[1].vgic.priv[11].pending_latch);
	assert_int_equal(rd32(GICD_SGIR), 0); /* write-only */
	/* SPENDSGIR shows SGI 5 of vCPU 1 pending (as from CPU 0); CPENDSGIR clears it. */
	assert_int_equal(rdc(1, GICD_SPENDSGIR + 4, 4), 0x00000100);
	assert_int_equal(rdc(0, GICD_SPENDSGIR + 4, 4), 0x00000000 | (0x01u << 24));
	wrc(1, GICD_CPENDSGIR + 5, 1, 0x01);
	assert_false(vm.vcpus[1].vgic.priv[5].pending_latch);
	wrc(0, GICD_SPENDSGIR + 2, 1, 0x80);
	assert_true(vm.vcpus[0].vgic.priv[2].pending_latch);
	/* A pending, enabled SGI reaches the target's LR. */
	wr32(GICD_CTLR, 1);
	wrc(1, GICD_ISENABLER, 4, 1u << 9);
	flush(&vm.vcpus[1]);
	struct gic_lr l = lr(0);
	assert_int_equal(l.vintid, 9);
	assert_true(l.pending);
	/* The guest takes it; a flush finds nothing pending. SPENDSGIR then sets it again. */
	fake_gic_lrs[0] = 0;
	flush(&vm.vcpus[1]);
	assert_false(lr(0).pending);
	wrc(1, GICD_SPENDSGIR + 9, 1, 0x01);
	flush(&vm.vcpus[1]);
	l = lr(0);
	assert_int_equal(l.vintid, 9);
	assert_true(l.pending);
}

/* The forwarded virtual timer: HW bit and physical INTID in the GICv2 layout. */
static void test_hw_linked_timer(void **state)
{
	(void)state;
	wr32(GICD_CTLR, 1);
	wrc(0, GICD_ISENABLER, 4, 1u << 27);
	assert_int_equal(vgic_inject_hw_ppi(&vm.vcpus[0], 27, 27), 0);
	flush(&vm.vcpus[0]);
	struct gic_lr l = lr(0);
	assert_true(l.hw && l.pending);
	assert_int_equal(l.vintid, 27);
	assert_int_equal(l.pintid, 27);
	/* The guest deactivates it (EOImode 0 EOIR): the LR's state goes to invalid, and the
	 * hardware deactivates the physical interrupt itself. */
	fake_gic_lrs[0] &= ~(uint64_t)GICH_LR_STATE_MASK;
	vgic_sync_lrs(&vm.vcpus[0]);
	assert_false(vm.vcpus[0].vgic.priv[27].phys_active);
	assert_int_equal(vgic_take_hw_deactivations(&vm.vcpus[0]), 0);
}

/* Bad sizes, reserved offsets and read-only registers: answered, logged, state untouched. */
static void test_hostile_accesses(void **state)
{
	(void)state;
	uint32_t typer = rd32(GICD_TYPER);
	wr32(GICD_TYPER, 0);
	wr32(GICD_IIDR, 0);
	assert_int_equal(rd32(GICD_TYPER), typer);
	assert_int_equal(rdc(0, GICD_CTLR, 1), 0);	    /* byte access to a word register */
	assert_int_equal(rdc(0, GICD_ITARGETSR + 1, 2), 0); /* halfword */
	assert_int_equal(rdc(0, GICD_ISENABLER + 2, 4), 0); /* misaligned */
	assert_int_equal(rd32(0x010), 0);		    /* reserved */
	assert_int_equal(rd32(0xd00), 0);		    /* implementation defined */
	assert_int_equal(rdc(0, 0xff8, 8), 0);		    /* 64-bit */
	wrc(0, GICD_SGIR, 2, 0x0005);			    /* a halfword SGIR does nothing */
	assert_false(vm.vcpus[0].vgic.priv[5].pending_latch);
	/* SPIs the VM lacks are RAZ/WI (ITLinesNumber covers them all here: use the end of the map). */
	assert_int_equal(rdc(0, GICD_ITARGETSR + 1019, 1), 0);
	wrc(0, GICD_ITARGETSR + 1019, 1, 1);
	assert_true(vm.vgic.bad_accesses >= 8);
}

static void test_model_limits(void **state)
{
	(void)state;
	struct vm big;
	memset(&big, 0, sizeof(big));
	big.nr_vcpus = 9;
	assert_int_equal(vgic_set_model(&big, VGIC_V2), -EINVAL);
	assert_int_equal(vgic_set_model(&big, VGIC_V3), 0);
	assert_int_equal(vgic_set_model(&big, 4), -EINVAL);
	/* The model survives a reset (VM reset re-runs vgic_vm_init). */
	vgic_vm_init(&vm, VGIC_NR_SPIS);
	assert_int_equal(vm.vgic.model, VGIC_V2);
	assert_int_equal(vm.vgic.spi[0].route, 1);
	assert_false(vm.vgic.spi[0].group1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_linux_probe, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_banked_private_registers, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_spi_routing_and_lr_layout, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_sgir, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_hw_linked_timer, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_accesses, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_model_limits, setup2, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
