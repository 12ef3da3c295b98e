/* Guest DTB generation with libfdt's sequential writer. */
#include "core/guest_fdt.h"

#include <libfdt.h>
#include <stdio.h>

#include "core/vm_layout.h"

#define PHANDLE_GIC 1
#define PHANDLE_CLK 2

#define TRY(x)                                                                                               \
	do {                                                                                                 \
		int _rc = (x);                                                                               \
		if (_rc < 0)                                                                                 \
			return _rc;                                                                          \
	} while (0)

static int prop_u64x2(void *fdt, const char *name, uint64_t a, uint64_t b)
{
	fdt64_t v[2] = {cpu_to_fdt64(a), cpu_to_fdt64(b)};
	return fdt_property(fdt, name, v, sizeof(v));
}

static int prop_cells(void *fdt, const char *name, const uint32_t *c, unsigned n)
{
	fdt32_t v[12];
	if (n > 12)
		return -FDT_ERR_INTERNAL;
	for (unsigned i = 0; i < n; i++)
		v[i] = cpu_to_fdt32(c[i]);
	return fdt_property(fdt, name, v, (int)(n * 4));
}

static int begin_node_at(void *fdt, const char *name, uint64_t addr)
{
	char n[48];
	snprintf(n, sizeof(n), "%s@%llx", name, (unsigned long long)addr);
	return fdt_begin_node(fdt, n);
}

static int gic_node(void *fdt, const struct guest_fdt_params *p)
{
	bool v2 = p->gic_version == 2;
	TRY(begin_node_at(fdt, "intc", GUEST_GICD_BASE));
	TRY(fdt_property_string(fdt, "compatible", v2 ? p->gic_compatible : "arm,gic-v3"));
	TRY(fdt_property_u32(fdt, "#interrupt-cells", 3));
	TRY(fdt_property(fdt, "interrupt-controller", "", 0));
	if (v2) {
		fdt64_t reg[4] = {cpu_to_fdt64(GUEST_GICD_BASE), cpu_to_fdt64(0x1000),
				  cpu_to_fdt64(GUEST_GICC_BASE), cpu_to_fdt64(p->gicc_size)};
		TRY(fdt_property(fdt, "reg", reg, sizeof(reg)));
	} else {
		TRY(fdt_property_u32(fdt, "#redistributor-regions", 1));
		fdt64_t reg[4] = {cpu_to_fdt64(GUEST_GICD_BASE), cpu_to_fdt64(0x10000),
				  cpu_to_fdt64(GUEST_GICR_BASE),
				  cpu_to_fdt64(GUEST_GICR_STRIDE * p->nr_cpus)};
		TRY(fdt_property(fdt, "reg", reg, sizeof(reg)));
	}
	TRY(fdt_property_u32(fdt, "phandle", PHANDLE_GIC));
	return fdt_end_node(fdt);
}

int guest_fdt_build(void *buf, size_t len, const struct guest_fdt_params *p)
{
	void *fdt = buf;
	TRY(fdt_create(fdt, (int)len));
	TRY(fdt_finish_reservemap(fdt));
	TRY(fdt_begin_node(fdt, ""));
	TRY(fdt_property_string(fdt, "compatible", "linux,dummy-virt"));
	TRY(fdt_property_string(fdt, "model", "keel VM"));
	TRY(fdt_property_u32(fdt, "#address-cells", 2));
	TRY(fdt_property_u32(fdt, "#size-cells", 2));
	TRY(fdt_property_u32(fdt, "interrupt-parent", PHANDLE_GIC));

	TRY(fdt_begin_node(fdt, "chosen"));
	if (p->bootargs)
		TRY(fdt_property_string(fdt, "bootargs", p->bootargs));
	char path[40];
	snprintf(path, sizeof(path), "/pl011@%llx", GUEST_UART_BASE);
	TRY(fdt_property_string(fdt, "stdout-path", path));
	if (p->initrd_size) {
		TRY(fdt_property_u64(fdt, "linux,initrd-start", p->initrd_base));
		TRY(fdt_property_u64(fdt, "linux,initrd-end", p->initrd_base + p->initrd_size));
	}
	if (p->seeds) {
		TRY(fdt_property_u64(fdt, "kaslr-seed", p->kaslr_seed));
		TRY(fdt_property(fdt, "rng-seed", p->rng_seed, sizeof(p->rng_seed)));
	}
	TRY(fdt_end_node(fdt));

	if (p->flash) {
		/* As QEMU virt describes its pflash: one node, two banks, 32-bit wide. */
		TRY(begin_node_at(fdt, "flash", GUEST_FLASH_BASE));
		TRY(fdt_property_string(fdt, "compatible", "cfi-flash"));
		fdt64_t reg[4] = {cpu_to_fdt64(GUEST_FLASH_BASE), cpu_to_fdt64(GUEST_FLASH_BANK),
				  cpu_to_fdt64(GUEST_FLASH_BASE + GUEST_FLASH_BANK),
				  cpu_to_fdt64(GUEST_FLASH_BANK)};
		TRY(fdt_property(fdt, "reg", reg, sizeof(reg)));
		TRY(fdt_property_u32(fdt, "bank-width", 4));
		TRY(fdt_end_node(fdt));
	}

	TRY(begin_node_at(fdt, "memory", p->ram_base));
	TRY(fdt_property_string(fdt, "device_type", "memory"));
	TRY(prop_u64x2(fdt, "reg", p->ram_base, p->ram_size));
	TRY(fdt_end_node(fdt));

	TRY(fdt_begin_node(fdt, "cpus"));
	TRY(fdt_property_u32(fdt, "#address-cells", 1));
	TRY(fdt_property_u32(fdt, "#size-cells", 0));
	for (unsigned i = 0; i < p->nr_cpus; i++) {
		TRY(begin_node_at(fdt, "cpu", i));
		TRY(fdt_property_string(fdt, "device_type", "cpu"));
		TRY(fdt_property_string(fdt, "compatible", "arm,armv8"));
		TRY(fdt_property_u32(fdt, "reg", i));
		TRY(fdt_property_string(fdt, "enable-method", "psci"));
		TRY(fdt_end_node(fdt));
	}
	TRY(fdt_end_node(fdt));

	TRY(fdt_begin_node(fdt, "psci"));
	static const char psci_compat[] = "arm,psci-1.0\0arm,psci-0.2";
	TRY(fdt_property(fdt, "compatible", psci_compat, sizeof(psci_compat)));
	TRY(fdt_property_string(fdt, "method", "hvc"));
	TRY(fdt_end_node(fdt));

	TRY(gic_node(fdt, p));

	TRY(fdt_begin_node(fdt, "timer"));
	TRY(fdt_property_string(fdt, "compatible", "arm,armv8-timer"));
	{
		uint32_t irqs[12];
		/* GICv2 PPI specifiers carry the CPUs they reach in bits [15:8]. */
		uint32_t ppi_cpus = p->gic_version == 2 ? ((1u << p->nr_cpus) - 1) << 8 & 0xff00 : 0;
		for (unsigned i = 0; i < 4; i++) {
			irqs[i * 3] = 1; /* PPI */
			irqs[i * 3 + 1] = p->timer_ppis[i] - 16;
			irqs[i * 3 + 2] = 0x04 | ppi_cpus; /* level high */
		}
		TRY(prop_cells(fdt, "interrupts", irqs, 12));
	}
	TRY(fdt_property(fdt, "always-on", "", 0));
	TRY(fdt_end_node(fdt));

	TRY(fdt_begin_node(fdt, "apb-pclk"));
	TRY(fdt_property_string(fdt, "compatible", "fixed-clock"));
	TRY(fdt_property_u32(fdt, "#clock-cells", 0));
	TRY(fdt_property_u32(fdt, "clock-frequency", 24000000));
	TRY(fdt_property_string(fdt, "clock-output-names", "clk24mhz"));
	TRY(fdt_property_u32(fdt, "phandle", PHANDLE_CLK));
	TRY(fdt_end_node(fdt));

	TRY(begin_node_at(fdt, "pl011", GUEST_UART_BASE));
	static const char uart_compat[] = "arm,pl011\0arm,primecell";
	TRY(fdt_property(fdt, "compatible", uart_compat, sizeof(uart_compat)));
	TRY(prop_u64x2(fdt, "reg", GUEST_UART_BASE, 0x1000));
	{
		uint32_t irq[3] = {0, GUEST_UART_INTID - 32, 0x04};
		TRY(prop_cells(fdt, "interrupts", irq, 3));
		uint32_t clk[2] = {PHANDLE_CLK, PHANDLE_CLK};
		TRY(prop_cells(fdt, "clocks", clk, 2));
	}
	static const char clk_names[] = "uartclk\0apb_pclk";
	TRY(fdt_property(fdt, "clock-names", clk_names, sizeof(clk_names)));
	TRY(fdt_end_node(fdt));

	for (unsigned i = 0; i < p->nr_devs; i++) {
		const struct guest_fdt_dev *d = &p->devs[i];
		TRY(begin_node_at(fdt, "virtio_mmio", d->base));
		TRY(fdt_property_string(fdt, "compatible", d->compatible));
		TRY(prop_u64x2(fdt, "reg", d->base, d->size));
		uint32_t irq[3] = {0, d->intid - 32, d->edge ? 1u : 4u};
		TRY(prop_cells(fdt, "interrupts", irq, 3));
		TRY(fdt_property(fdt, "dma-coherent", "", 0));
		TRY(fdt_end_node(fdt));
	}

	TRY(fdt_end_node(fdt));
	TRY(fdt_finish(fdt));
	return 0;
}
