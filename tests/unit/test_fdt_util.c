/* core/fdt_util.c over a tree shaped like the BCM2711's /soc (bus 0x7e000000 -> 0xfe000000). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libfdt.h>

#include "core/fdt_util.h"
#include "keel/addr.h"

static char dtb[4096];

static int sub(int parent, const char *name)
{
	int n = fdt_add_subnode(dtb, parent, name);
	assert_true(n >= 0);
	return n;
}

static void set_cells(int node, const char *prop, const uint32_t *v, int n)
{
	fdt32_t c[16];
	for (int i = 0; i < n; i++)
		c[i] = cpu_to_fdt32(v[i]);
	assert_int_equal(fdt_setprop(dtb, node, prop, c, n * 4), 0);
}

/* / (2,1) -> soc (1,1): ranges bus 0x7e000000 -> 0xfe000000 (24 MiB), dma-ranges 0xc0000000 <-> 0 (1 GiB). */
static int make_soc(void)
{
	assert_int_equal(fdt_create_empty_tree(dtb, sizeof(dtb)), 0);
	fdt_setprop_u32(dtb, 0, "#address-cells", 2);
	fdt_setprop_u32(dtb, 0, "#size-cells", 1);
	int soc = sub(0, "soc");
	fdt_setprop_u32(dtb, soc, "#address-cells", 1);
	fdt_setprop_u32(dtb, soc, "#size-cells", 1);
	set_cells(soc, "ranges", (const uint32_t[]){0x7e000000, 0x0, 0xfe000000, 0x01800000}, 4);
	set_cells(soc, "dma-ranges", (const uint32_t[]){0xc0000000, 0x0, 0x00000000, 0x40000000}, 4);
	int mmc = sub(soc, "mmc@7e300000");
	set_cells(mmc, "reg", (const uint32_t[]){0x7e300000, 0x100}, 2);
	return soc;
}

static void reg_follows_ranges(void **state)
{
	(void)state;
	make_soc();
	int mmc = fdt_path_offset(dtb, "/soc/mmc@7e300000");
	paddr_t base;
	uint64_t size;
	assert_true(fdt_reg(dtb, mmc, 0, &base, &size));
	assert_int_equal(pa_addr(base), 0xfe300000);
	assert_int_equal(size, 0x100);
	assert_false(fdt_reg(dtb, mmc, 1, &base, &size)); /* no second entry */

	/* Outside every window, and a bus without ranges: not translatable, never the bus address. */
	set_cells(mmc, "reg", (const uint32_t[]){0x40041000, 0x1000}, 2);
	assert_false(fdt_reg(dtb, mmc, 0, &base, &size));
	set_cells(mmc, "reg", (const uint32_t[]){0x7e300000, 0x100}, 2);
	assert_int_equal(fdt_delprop(dtb, fdt_path_offset(dtb, "/soc"), "ranges"), 0);
	assert_false(fdt_reg(dtb, fdt_path_offset(dtb, "/soc/mmc@7e300000"), 0, &base, &size));
	/* Empty ranges: identity. */
	assert_int_equal(fdt_setprop(dtb, fdt_path_offset(dtb, "/soc"), "ranges", NULL, 0), 0);
	assert_true(fdt_reg(dtb, fdt_path_offset(dtb, "/soc/mmc@7e300000"), 0, &base, &size));
	assert_int_equal(pa_addr(base), 0x7e300000);
}

static void dma_range_of_the_bus(void **state)
{
	(void)state;
	make_soc();
	int mmc = fdt_path_offset(dtb, "/soc/mmc@7e300000");
	uint64_t bus, size;
	paddr_t cpu;
	assert_true(fdt_dma_range(dtb, mmc, &bus, &cpu, &size));
	assert_int_equal(bus, 0xc0000000);
	assert_int_equal(pa_addr(cpu), 0);
	assert_int_equal(size, 0x40000000);

	/* No dma-ranges: identity, unlimited. */
	assert_int_equal(fdt_delprop(dtb, fdt_path_offset(dtb, "/soc"), "dma-ranges"), 0);
	mmc = fdt_path_offset(dtb, "/soc/mmc@7e300000");
	assert_true(fdt_dma_range(dtb, mmc, &bus, &cpu, &size));
	assert_int_equal(bus, 0);
	assert_int_equal(size, 0);

	/* Truncated: refused. */
	set_cells(fdt_path_offset(dtb, "/soc"), "dma-ranges", (const uint32_t[]){0xc0000000, 0x0}, 2);
	mmc = fdt_path_offset(dtb, "/soc/mmc@7e300000");
	assert_false(fdt_dma_range(dtb, mmc, &bus, &cpu, &size));
}

/* A GIC-400 under /soc as the BCM2711 has it, the interrupt parent of the whole tree. */
static void add_gic(int soc, int mmc)
{
	int gic = sub(soc, "interrupt-controller@40041000");
	assert_int_equal(fdt_setprop_string(dtb, gic, "compatible", "arm,gic-400"), 0);
	assert_int_equal(fdt_setprop(dtb, gic, "interrupt-controller", NULL, 0), 0);
	fdt_setprop_u32(dtb, gic, "#interrupt-cells", 3);
	fdt_setprop_u32(dtb, gic, "phandle", 1);
	fdt_setprop_u32(dtb, 0, "interrupt-parent", 1);
	set_cells(fdt_path_offset(dtb, "/soc/mmc@7e300000"), "interrupts", (const uint32_t[]){0, 126, 4}, 3);
	(void)mmc;
}

static void irq_through_interrupt_parent(void **state)
{
	(void)state;
	int soc = make_soc();
	add_gic(soc, 0);
	int mmc = fdt_path_offset(dtb, "/soc/mmc@7e300000");
	assert_int_equal(fdt_irq(dtb, mmc, 0), 126 + 32); /* SPI 126 */
	assert_int_equal(fdt_irq(dtb, mmc, 1), 0);	  /* no second interrupt */
	set_cells(mmc, "interrupts", (const uint32_t[]){1, 9, 4}, 3);
	assert_int_equal(fdt_irq(dtb, mmc, 0), 9 + 16); /* PPI 9 */
	/* A parent that is no GIC (e.g. the BCM2835 legacy controller): no INTID, never a guess. */
	int gic = fdt_path_offset(dtb, "/soc/interrupt-controller@40041000");
	assert_int_equal(fdt_setprop_string(dtb, gic, "compatible", "brcm,bcm2836-armctrl-ic"), 0);
	mmc = fdt_path_offset(dtb, "/soc/mmc@7e300000");
	assert_int_equal(fdt_irq(dtb, mmc, 0), 0);
	/* No interrupt-parent anywhere. */
	soc = make_soc();
	mmc = fdt_path_offset(dtb, "/soc/mmc@7e300000");
	set_cells(mmc, "interrupts", (const uint32_t[]){0, 126, 4}, 3);
	assert_int_equal(fdt_irq(dtb, mmc, 0), 0);
}

static void bus_dev_and_dma_window(void **state)
{
	(void)state;
	int soc = make_soc();
	add_gic(soc, 0);
	struct bus_dev b;
	assert_true(fdt_bus_dev(dtb, fdt_path_offset(dtb, "/soc/mmc@7e300000"), &b));
	assert_int_equal(pa_addr(b.base), 0xfe300000);
	assert_int_equal(b.intid, 158);
	assert_false(b.dma_coherent);
	dma_addr_t d;
	/* Physical 0x1000 is bus 0xc0001000; the last byte of the 1 GiB window is reachable, one past it not.
	 */
	assert_true(bus_dma_addr(&b, pa_init(0x1000), 512, &d));
	assert_int_equal(dma_addr(d), 0xc0001000);
	assert_true(bus_dma_addr(&b, pa_init(0x3ffffe00), 512, &d));
	assert_int_equal(dma_addr(d), 0xfffffe00);
	d = dma_init(0x1234);
	assert_false(bus_dma_addr(&b, pa_init(0x3ffffe00), 1024, &d));	    /* straddles the window's end */
	assert_false(bus_dma_addr(&b, pa_init(0x40000000), 512, &d));	    /* above 1 GiB of RAM */
	assert_false(bus_dma_addr(&b, pa_init(UINT64_MAX - 100), 512, &d)); /* wraps */
	assert_int_equal(dma_addr(d), 0x1234);				    /* untouched when refused */
	/* Identity (no dma-ranges): every address as is. */
	struct bus_dev id = bus_dev_identity(pa_init(0x10000000), 0, true);
	assert_true(bus_dma_addr(&id, pa_init(0x123456789000ULL), 4096, &d));
	assert_int_equal(dma_addr(d), 0x123456789000ULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reg_follows_ranges),
	    cmocka_unit_test(dma_range_of_the_bus),
	    cmocka_unit_test(irq_through_interrupt_parent),
	    cmocka_unit_test(bus_dev_and_dma_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
