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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reg_follows_ranges),
	    cmocka_unit_test(dma_range_of_the_bus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
