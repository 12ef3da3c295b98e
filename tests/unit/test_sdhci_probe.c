/*
 * SDHCI discovery from the DT (drivers/storage/sdhci_probe.c) over a tree shaped like the
 * BCM2711's (Raspberry Pi 4): each controller reaches the driver as a struct bus_dev with its
 * registers through the buses' ranges (not the bus address), its INTID through
 * interrupt-parent, and its DMA window from dma-ranges; each with its quirks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <libfdt.h>

#include "drivers/storage/sdhci.h"
#include "drivers/storage/sdhci_host.h"
#include "keel/addr.h"

/* --- fakes: the driver side records what probe hands it ------------------------------ */

struct sdhci_host {
	int index;
};

static struct sdhci_host fake_hosts[SDHCI_MAX_HOSTS];
static unsigned nr_alloc, nr_commit;
static struct bus_dev seen_bus[8];
static const struct sdhci_quirks *seen_q[8];
static char seen_where[8][40];
static unsigned nr_init;
static int fail_init_at = -1; /* this init call fails (no card) */

struct sdhci_host *sdhci_host_alloc(void)
{
	return nr_alloc < SDHCI_MAX_HOSTS ? &fake_hosts[nr_alloc] : NULL;
}

int sdhci_host_init(struct sdhci_host *h, const struct bus_dev *bus, const struct sdhci_quirks *q,
		    const char *where)
{
	(void)h;
	assert_true(nr_init < 8);
	seen_bus[nr_init] = *bus;
	seen_q[nr_init] = q;
	strncpy(seen_where[nr_init], where, sizeof(seen_where[0]) - 1);
	return (int)nr_init++ == fail_init_at ? -1 : 0;
}

void sdhci_host_quiet(struct sdhci_host *h)
{
	(void)h;
}

void sdhci_host_commit(struct sdhci_host *h)
{
	(void)h;
	nr_alloc++;
	nr_commit++;
}

/* --- a BCM2711-shaped tree ------------------------------------------------------------- */

static char dtb[8192];

static int sub(int parent, const char *name)
{
	int n = fdt_add_subnode(dtb, parent, name);
	assert_true(n >= 0);
	return n;
}

static void cells(int node, const char *prop, const uint32_t *v, int n)
{
	fdt32_t c[16];
	for (int i = 0; i < n; i++)
		c[i] = cpu_to_fdt32(v[i]);
	assert_int_equal(fdt_setprop(dtb, node, prop, c, n * 4), 0);
}

static void make_pi_tree(void)
{
	assert_int_equal(fdt_create_empty_tree(dtb, sizeof(dtb)), 0);
	fdt_setprop_u32(dtb, 0, "#address-cells", 2);
	fdt_setprop_u32(dtb, 0, "#size-cells", 1);
	fdt_setprop_u32(dtb, 0, "interrupt-parent", 1);
	int soc = sub(0, "soc");
	fdt_setprop_u32(dtb, soc, "#address-cells", 1);
	fdt_setprop_u32(dtb, soc, "#size-cells", 1);
	cells(soc, "ranges",
	      (const uint32_t[]){0x7e000000, 0x0, 0xfe000000, 0x01800000, 0x40000000, 0x0, 0xff800000,
				 0x800000},
	      8);
	cells(soc, "dma-ranges", (const uint32_t[]){0xc0000000, 0x0, 0x00000000, 0x40000000}, 4);
	int gic = sub(soc, "interrupt-controller@40041000");
	fdt_setprop_string(dtb, gic, "compatible", "arm,gic-400");
	fdt_setprop(dtb, gic, "interrupt-controller", NULL, 0);
	fdt_setprop_u32(dtb, gic, "#interrupt-cells", 3);
	fdt_setprop_u32(dtb, gic, "phandle", 1);
	int sdhost = sub(soc, "mmc@7e202000"); /* the BCM2835 SDHOST: not an SDHCI */
	fdt_setprop_string(dtb, sdhost, "compatible", "brcm,bcm2835-sdhost");
	cells(sdhost, "reg", (const uint32_t[]){0x7e202000, 0x100}, 2);
	int arasan = sub(soc, "mmc@7e300000");
	fdt_setprop_string(dtb, arasan, "compatible", "brcm,bcm2835-sdhci");
	cells(arasan, "reg", (const uint32_t[]){0x7e300000, 0x100}, 2);
	cells(arasan, "interrupts", (const uint32_t[]){0, 126, 4}, 3);
	fdt_setprop_string(dtb, arasan, "status", "okay");
	int off = sub(soc, "mmc@7e310000"); /* disabled: skipped */
	fdt_setprop_string(dtb, off, "compatible", "brcm,bcm2835-sdhci");
	cells(off, "reg", (const uint32_t[]){0x7e310000, 0x100}, 2);
	fdt_setprop_string(dtb, off, "status", "disabled");
	int bus = sub(0, "emmc2bus");
	fdt_setprop_u32(dtb, bus, "#address-cells", 2);
	fdt_setprop_u32(dtb, bus, "#size-cells", 1);
	cells(bus, "ranges", (const uint32_t[]){0x0, 0x7e000000, 0x0, 0xfe000000, 0x01800000}, 5);
	cells(bus, "dma-ranges", (const uint32_t[]){0x0, 0xc0000000, 0x0, 0x0, 0x40000000}, 5);
	int emmc2 = sub(bus, "mmc@7e340000");
	fdt_setprop_string(dtb, emmc2, "compatible", "brcm,bcm2711-emmc2");
	cells(emmc2, "reg", (const uint32_t[]){0x0, 0x7e340000, 0x100}, 3);
	cells(emmc2, "interrupts", (const uint32_t[]){0, 126, 4}, 3);
	fdt_setprop(dtb, emmc2, "broken-cd", NULL, 0);
}

static int setup(void **state)
{
	(void)state;
	nr_alloc = nr_commit = nr_init = 0;
	fail_init_at = -1;
	memset(seen_bus, 0, sizeof(seen_bus));
	make_pi_tree();
	return 0;
}

/* Which init call saw the controller at physical base pa; -1: none. */
static int init_at(uint64_t pa)
{
	for (unsigned i = 0; i < nr_init; i++)
		if (pa_addr(seen_bus[i].base) == pa)
			return (int)i;
	return -1;
}

static void test_pi_controllers_reach_the_driver_translated(void **state)
{
	(void)state;
	assert_int_equal(sdhci_probe_dt(dtb), 2);
	assert_int_equal(nr_init, 2); /* the Arasan and the eMMC2; not the SDHOST, not the disabled one */
	assert_int_equal(init_at(0x7e300000), -1); /* never the bus address */
	assert_int_equal(init_at(0x7e340000), -1);

	int a = init_at(0xfe300000);
	assert_true(a >= 0);
	assert_string_equal(seen_q[a]->name, "Broadcom BCM2835 Arasan");
	assert_true(seen_q[a]->flags & SDHCI_Q_32BIT_ACCESS);
	assert_int_equal(seen_bus[a].intid, 126 + 32);
	assert_false(seen_bus[a].dma_coherent);
	assert_int_equal(seen_bus[a].dma_offset, 0xc0000000);
	assert_int_equal(pa_addr(seen_bus[a].dma_lo), 0);
	assert_int_equal(seen_bus[a].dma_size, 0x40000000);
	assert_string_equal(seen_where[a], "DT mmc@7e300000");

	int e = init_at(0xfe340000); /* under emmc2bus: its own ranges and dma-ranges, 2 address cells */
	assert_true(e >= 0);
	assert_string_equal(seen_q[e]->name, "Broadcom eMMC2");
	assert_true(seen_q[e]->flags & SDHCI_Q_NO_CARD_DETECT);
	assert_int_equal(seen_bus[e].intid, 158);
	assert_int_equal(seen_bus[e].dma_offset, 0xc0000000);
	assert_int_equal(seen_bus[e].dma_size, 0x40000000);
	assert_int_equal(nr_commit, 2);
}

static void test_a_controller_without_card_is_not_kept(void **state)
{
	(void)state;
	fail_init_at = 0;
	assert_int_equal(sdhci_probe_dt(dtb), 1);
	assert_int_equal(nr_init, 2);
	assert_int_equal(nr_commit, 1); /* the host that failed is allocated again for the next one */
}

static void test_untranslatable_reg_is_skipped(void **state)
{
	(void)state;
	/* A bus without ranges: the address cannot be placed, so no controller is touched there. */
	assert_int_equal(fdt_delprop(dtb, fdt_path_offset(dtb, "/emmc2bus"), "ranges"), 0);
	assert_int_equal(sdhci_probe_dt(dtb), 1);
	assert_int_equal(nr_init, 1);
	assert_true(init_at(0xfe300000) >= 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_pi_controllers_reach_the_driver_translated, setup),
	    cmocka_unit_test_setup(test_a_controller_without_card_is_not_kept, setup),
	    cmocka_unit_test_setup(test_untranslatable_reg_is_skipped, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
