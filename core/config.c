/* Machine description and VM configuration from the boot DTB (see core/config.h). */
#include "core/config.h"

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "core/fdt_util.h"
#include "keel/addr.h"
#include "keel/util.h"

#define FAIL(...)                                                                                            \
	do {                                                                                                 \
		snprintf(err, errlen, __VA_ARGS__);                                                          \
		return -EINVAL;                                                                              \
	} while (0)

static uint64_t read_cells(const fdt32_t *p, int cells)
{
	uint64_t v = 0;
	for (int i = 0; i < cells; i++)
		v = (v << 32) | fdt32_to_cpu(p[i]);
	return v;
}

/** A one- or two-cell number property (cpu-release-addr). */
static bool read_cells_prop(const void *fdt, int node, const char *prop, uint64_t *v)
{
	int len;
	const fdt32_t *p = fdt_getprop(fdt, node, prop, &len);
	if (p == NULL || (len != 4 && len != 8))
		return false;
	*v = read_cells(p, len / 4);
	return true;
}

/** Read the idx-th (address, size) pair of prop "reg"-style, using the parent's cell counts. */
static bool read_reg(const void *fdt, int node, const char *prop, int idx, uint64_t *addr, uint64_t *size)
{
	int parent = fdt_parent_offset(fdt, node);
	int ac = parent >= 0 ? fdt_address_cells(fdt, parent) : 2;
	int sc = parent >= 0 ? fdt_size_cells(fdt, parent) : 1;
	int len;
	const fdt32_t *p = fdt_getprop(fdt, node, prop, &len);
	if (ac < 1 || ac > 2 || sc < 0 || sc > 2 || p == NULL)
		return false;
	int stride = (ac + sc) * 4;
	if (len < stride * (idx + 1))
		return false;
	p += (ac + sc) * idx;
	*addr = read_cells(p, ac);
	*size = sc ? read_cells(p + ac, sc) : 0;
	return true;
}

static int first_compatible(const void *fdt, const char *const *compat, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		int node = fdt_node_offset_by_compatible(fdt, -1, compat[i]);
		if (node >= 0)
			return node;
	}
	return -1;
}

static bool in_ram(const struct machine_info *mi, uint64_t base, uint64_t size)
{
	for (unsigned i = 0; i < mi->nr_ram; i++)
		if (range_within(base, size, pa_addr(mi->ram[i].base), mi->ram[i].size))
			return true;
	return false;
}

/*
 * The interrupt controller: GICv3 (GICD, GICR) or GICv2 with the virtualization
 * extensions (GICD, GICC, GICH, GICV in that order), and its maintenance PPI.
 */
static int gic_parse(const void *fdt, struct machine_info *mi, char *err, size_t errlen)
{
	static const char *const compat[] = {"arm,gic-v3", "arm,gic-400", "arm,cortex-a15-gic"};
	int gic = -1;
	for (unsigned i = 0; i < 3 && gic < 0; i++) {
		gic = fdt_node_offset_by_compatible(fdt, -1, compat[i]);
		mi->gic_compatible = compat[i];
		mi->gic_version = i == 0 ? 3 : 2;
	}
	if (gic < 0)
		FAIL("boot DTB: no interrupt controller keel drives (arm,gic-v3, arm,gic-400 or "
		     "arm,cortex-a15-gic)");
	const char *name = fdt_get_name(fdt, gic, NULL);
	static const char *const v3_regs[] = {"distributor", "redistributors"};
	static const char *const v2_regs[] = {"distributor", "CPU interface", "virtual interface control",
					      "virtual CPU interface (no virtualization extensions?)"};
	struct phys_range *v3_dst[] = {&mi->gicd, &mi->gicr};
	struct phys_range *v2_dst[] = {&mi->gicd, &mi->gicc, &mi->gich, &mi->gicv};
	bool v3 = mi->gic_version == 3;
	for (int i = 0; i < (v3 ? 2 : 4); i++) {
		paddr_t a;
		uint64_t s;
		if (!fdt_reg(fdt, gic, i, &a, &s) || s == 0)
			FAIL("%s: reg: missing %s (or not translatable through its buses' ranges)", name,
			     v3 ? v3_regs[i] : v2_regs[i]);
		*(v3 ? v3_dst[i] : v2_dst[i]) = (struct phys_range){a, s};
	}
	if (!v3 && (mi->gicc.size < 0x2000 || mi->gicv.size < 0x1000))
		FAIL("%s: reg: the CPU interface needs 8 KiB (GICC_DIR) and the virtual one at least 4 KiB",
		     name);
	mi->gic_maint_intid = 25;
	int len;
	const fdt32_t *irq = fdt_getprop(fdt, gic, "interrupts", &len);
	if (irq != NULL && len >= 12) {
		if (fdt32_to_cpu(irq[0]) != 1 || fdt32_to_cpu(irq[1]) >= 16)
			FAIL("%s: interrupts: the maintenance interrupt is not a PPI", name);
		mi->gic_maint_intid = 16 + fdt32_to_cpu(irq[1]);
	}
	return 0;
}

int machine_parse(const void *fdt, struct machine_info *mi, char *err, size_t errlen)
{
	memset(mi, 0, sizeof(*mi));
	if (fdt_check_header(fdt) != 0)
		FAIL("boot DTB: bad header");

	for (int n = fdt_first_subnode(fdt, 0); n >= 0; n = fdt_next_subnode(fdt, n)) {
		const char *type = fdt_getprop(fdt, n, "device_type", NULL);
		if (type == NULL || strcmp(type, "memory") != 0)
			continue;
		uint64_t a, s;
		for (int i = 0; mi->nr_ram < MACHINE_MAX_RAM && read_reg(fdt, n, "reg", i, &a, &s); i++) {
			if (s == 0 || a + s < a)
				FAIL("%s: reg: empty or wrapping memory range", fdt_get_name(fdt, n, NULL));
			mi->ram[mi->nr_ram++] = (struct phys_range){pa_init(a), s};
		}
	}
	if (mi->nr_ram == 0)
		FAIL("boot DTB: no /memory node with a reg");

	/* Firmware-owned RAM: the reservation block and /reserved-memory (both are on real boards). */
	for (int i = 0; i < fdt_num_mem_rsv(fdt) && mi->nr_reserved < MACHINE_MAX_RESERVED; i++) {
		uint64_t ra, rs;
		if (fdt_get_mem_rsv(fdt, i, &ra, &rs) == 0 && rs != 0)
			mi->reserved[mi->nr_reserved++] = (struct phys_range){pa_init(ra), rs};
	}
	int resmem = fdt_path_offset(fdt, "/reserved-memory");
	for (int n = resmem >= 0 ? fdt_first_subnode(fdt, resmem) : -1; n >= 0;
	     n = fdt_next_subnode(fdt, n)) {
		uint64_t ra, rs;
		if (mi->nr_reserved < MACHINE_MAX_RESERVED && read_reg(fdt, n, "reg", 0, &ra, &rs) && rs != 0)
			mi->reserved[mi->nr_reserved++] = (struct phys_range){pa_init(ra), rs};
	}

	int cpus = fdt_path_offset(fdt, "/cpus");
	if (cpus < 0)
		FAIL("boot DTB: no /cpus node");
	for (int c = fdt_first_subnode(fdt, cpus); c >= 0; c = fdt_next_subnode(fdt, c)) {
		const char *type = fdt_getprop(fdt, c, "device_type", NULL);
		uint64_t a, s;
		if (type == NULL || strcmp(type, "cpu") != 0 || !read_reg(fdt, c, "reg", 0, &a, &s))
			continue;
		if (mi->nr_cpus >= MACHINE_MAX_CPUS)
			continue;
		const char *em = fdt_getprop(fdt, c, "enable-method", NULL);
		unsigned n = mi->nr_cpus++;
		mi->cpu_mpidr[n] = a;
		mi->cpu_enable[n] = MACHINE_CPU_PSCI; /* no enable-method: the boot CPU, or PSCI by default */
		if (em != NULL && strcmp(em, "spin-table") == 0) {
			uint64_t rel;
			if (!read_cells_prop(fdt, c, "cpu-release-addr", &rel))
				FAIL("/cpus: spin-table CPU 0x%llx without a cpu-release-addr",
				     (unsigned long long)a);
			mi->cpu_enable[n] = MACHINE_CPU_SPIN_TABLE;
			mi->cpu_release_addr[n] = pa_init(rel);
		} else if (em != NULL && strcmp(em, "psci") != 0) {
			mi->cpu_enable[n] = MACHINE_CPU_NONE;
		}
	}
	if (mi->nr_cpus == 0)
		FAIL("/cpus: no cpu nodes with a reg");

	uint64_t a, s;
	if (gic_parse(fdt, mi, err, errlen) != 0)
		return -EINVAL;

	static const char *const uarts[] = {"arm,pl011"};
	int uart = -1;
	const char *stdout_path = NULL;
	int chosen = fdt_path_offset(fdt, "/chosen");
	if (chosen >= 0)
		stdout_path = fdt_getprop(fdt, chosen, "stdout-path", NULL);
	if (stdout_path) {
		char path[64];
		snprintf(path, sizeof(path), "%s", stdout_path);
		char *colon = strchr(path, ':');
		if (colon)
			*colon = 0;
		uart = fdt_path_offset(fdt, path);
	}
	if (uart < 0)
		uart = first_compatible(fdt, uarts, 1);
	paddr_t uart_pa;
	if (uart >= 0 && fdt_reg(fdt, uart, 0, &uart_pa, &s)) {
		mi->uart = (struct phys_range){uart_pa, s};
		int len;
		const fdt32_t *irq = fdt_getprop(fdt, uart, "interrupts", &len);
		if (irq && len >= 12 && fdt32_to_cpu(irq[0]) == 0)
			mi->uart_intid = 32 + fdt32_to_cpu(irq[1]);
	}

	static const char *const timers[] = {"arm,armv8-timer", "arm,armv7-timer"};
	int timer = first_compatible(fdt, timers, 2);
	mi->timer_virt_ppi = 27;
	if (timer >= 0) {
		int len;
		const fdt32_t *irq = fdt_getprop(fdt, timer, "interrupts", &len);
		/* Order: secure phys, non-secure phys, virtual, hyp; 3 cells each. */
		if (irq && len >= 36)
			mi->timer_virt_ppi = 16 + fdt32_to_cpu(irq[7]);
	}

	static const char *const pcie[] = {"pci-host-ecam-generic"};
	int pci = first_compatible(fdt, pcie, 1);
	if (pci >= 0 && read_reg(fdt, pci, "reg", 0, &a, &s))
		mi->pcie_ecam = (struct phys_range){pa_init(a), s};

	int psci = fdt_node_offset_by_compatible(fdt, -1, "arm,psci-1.0");
	if (psci < 0)
		psci = fdt_node_offset_by_compatible(fdt, -1, "arm,psci-0.2");
	mi->has_psci = psci >= 0;
	const char *method = psci >= 0 ? fdt_getprop(fdt, psci, "method", NULL) : NULL;
	mi->psci_smc = method == NULL || strcmp(method, "smc") == 0;
	return 0;
}

/* An optional one-cell property of at most max: *out = its value, or dflt when absent. False when
 * present but not one cell or above max. */
static bool read_u32_opt(const void *fdt, int node, const char *prop, uint32_t dflt, uint32_t max,
			 uint32_t *out)
{
	int l;
	const fdt32_t *v = fdt_getprop(fdt, node, prop, &l);
	*out = dflt;
	if (v == NULL)
		return true;
	if (l != 4 || fdt32_to_cpu(*v) > max)
		return false;
	*out = fdt32_to_cpu(*v);
	return true;
}

static int copy_str(const void *fdt, int node, const char *prop, char *dst, size_t len, bool *present)
{
	int l;
	const char *v = fdt_getprop(fdt, node, prop, &l);
	*present = v != NULL;
	if (v == NULL)
		return 0;
	if (l < 1 || v[l - 1] != '\0' || (size_t)l > len)
		return -EINVAL;
	memcpy(dst, v, (size_t)l);
	return 0;
}

static int parse_module(const void *fdt, int vmnode, const char *compat, const char *vmname,
			const struct machine_info *mi, struct vm_module *m, char *err, size_t errlen)
{
	for (int n = fdt_first_subnode(fdt, vmnode); n >= 0; n = fdt_next_subnode(fdt, n)) {
		if (fdt_node_check_compatible(fdt, n, compat) != 0)
			continue;
		uint64_t a, s;
		if (!read_reg(fdt, n, "reg", 0, &a, &s) || s == 0)
			FAIL("%s/%s: reg: missing or empty", vmname, fdt_get_name(fdt, n, NULL));
		if (!in_ram(mi, a, s))
			FAIL("%s/%s: reg: image at 0x%llx+0x%llx is outside RAM", vmname,
			     fdt_get_name(fdt, n, NULL), (unsigned long long)a, (unsigned long long)s);
		m->base = pa_init(a);
		m->size = s;
		return 0;
	}
	return 0;
}

static int parse_disks(const void *fdt, int vmnode, const char *vmname, const struct machine_info *mi,
		       struct vm_config *vc, char *err, size_t errlen)
{
	for (int n = fdt_first_subnode(fdt, vmnode); n >= 0; n = fdt_next_subnode(fdt, n)) {
		if (fdt_node_check_compatible(fdt, n, "keel,disk") != 0)
			continue;
		const char *dn = fdt_get_name(fdt, n, NULL);
		if (vc->nr_disks >= CONFIG_MAX_DISKS)
			FAIL("%s/%s: too many disks (at most %d)", vmname, dn, CONFIG_MAX_DISKS);
		struct vm_disk_config *d = &vc->disks[vc->nr_disks];
		memset(d, 0, sizeof(*d));
		if (strlen(dn) >= sizeof(d->node))
			FAIL("%s/%s: node name longer than %zu characters", vmname, dn, sizeof(d->node) - 1);
		memcpy(d->node, dn, strlen(dn) + 1);
		bool present;
		if (copy_str(fdt, n, "backend", d->backend, sizeof(d->backend), &present) || !present)
			FAIL("%s/%s: backend: missing or not a short string", vmname, dn);
		if (copy_str(fdt, n, "serial", d->serial, sizeof(d->serial), &present))
			FAIL("%s/%s: serial: longer than 20 characters", vmname, dn);
		if (copy_str(fdt, n, "partition", d->partition, sizeof(d->partition), &present))
			FAIL("%s/%s: partition: longer than 36 characters", vmname, dn);
		d->read_only = fdt_getprop(fdt, n, "read-only", NULL) != NULL;
		d->allow_boot_partition = fdt_getprop(fdt, n, "allow-boot-partition", NULL) != NULL;
		if (!read_u32_opt(fdt, n, "io-poll-us", CONFIG_IO_POLL_US_DEFAULT, CONFIG_IO_POLL_US_MAX,
				  &d->io_poll_us))
			FAIL("%s/%s: io-poll-us: one cell, at most %u", vmname, dn, CONFIG_IO_POLL_US_MAX);
		if (!read_u32_opt(fdt, n, "irq-coalesce-us", CONFIG_IRQ_COALESCE_US_DEFAULT,
				  CONFIG_IRQ_COALESCE_US_MAX, &d->irq_coalesce_us))
			FAIL("%s/%s: irq-coalesce-us: one cell, at most %u", vmname, dn,
			     CONFIG_IRQ_COALESCE_US_MAX);
		uint32_t shadow;
		if (!read_u32_opt(fdt, n, "mmio-shadow", 1, 1, &shadow))
			FAIL("%s/%s: mmio-shadow: one cell, 0 or 1", vmname, dn);
		d->no_mmio_shadow = shadow == 0;
		if (strcmp(d->backend, "ram") == 0) {
			uint64_t a, s;
			if (!read_reg(fdt, n, "reg", 0, &a, &s) || s == 0 || s % 512)
				FAIL("%s/%s: reg: a ram disk needs an image range, a multiple of 512 bytes",
				     vmname, dn);
			if (!in_ram(mi, a, s))
				FAIL("%s/%s: reg: disk image outside RAM", vmname, dn);
			d->ram = (struct vm_module){pa_init(a), s};
		} else if (strcmp(d->backend, "ufs") != 0 && strcmp(d->backend, "sd") != 0) {
			FAIL("%s/%s: backend: unknown \"%s\" (ram, ufs or sd)", vmname, dn, d->backend);
		}
		if (d->serial[0] == 0) {
			char serial[sizeof(d->serial)];
			snprintf(serial, sizeof(serial), "keel-%s-%u", vc->name, vc->nr_disks);
			memcpy(d->serial, serial, sizeof(serial));
		}
		vc->nr_disks++;
	}
	return 0;
}

struct named_range {
	uint64_t base, size;
	char what[64];
	bool ram_disk; /**< RAM-disk images against each other: check_assign_once names both disks */
};

/** Disks a and b (of VMs va, vb) claim the same storage: say so, naming b first (the later one). */
static int assign_conflict(const struct vm_config *va, const struct vm_disk_config *a,
			   const struct vm_config *vb, const struct vm_disk_config *b, char *err,
			   size_t errlen)
{
	if (strcmp(a->backend, "ram") == 0) {
		if (!ranges_overlap(pa_addr(a->ram.base), a->ram.size, pa_addr(b->ram.base), b->ram.size))
			return 0;
		FAIL("%s/%s: backend \"ram\" image 0x%llx+0x%llx overlaps the image given to %s/%s", vb->node,
		     b->node, (unsigned long long)pa_addr(b->ram.base), (unsigned long long)b->ram.size,
		     va->node, a->node);
	}
	if (a->partition[0] && b->partition[0] && strcmp(a->partition, b->partition) != 0)
		return 0; /* two partitions of one disk: legal */
	if (b->partition[0] && a->partition[0])
		FAIL("%s/%s: backend \"%s\" partition \"%s\" is already given to %s/%s", vb->node, b->node,
		     b->backend, b->partition, va->node, a->node);
	if (b->partition[0])
		FAIL("%s/%s: backend \"%s\" partition \"%s\" is inside the whole disk given to %s/%s",
		     vb->node, b->node, b->backend, b->partition, va->node, a->node);
	if (a->partition[0])
		FAIL("%s/%s: backend \"%s\" (whole disk) contains partition \"%s\" given to %s/%s", vb->node,
		     b->node, b->backend, a->partition, va->node, a->node);
	FAIL("%s/%s: backend \"%s\" (whole disk) is already given to %s/%s", vb->node, b->node, b->backend,
	     va->node, a->node);
}

/** Assign once: compare every disk with every disk parsed before it, in all VMs. */
static int check_assign_once(const struct keel_config *cfg, char *err, size_t errlen)
{
	for (unsigned v = 0; v < cfg->nr_vms; v++) {
		const struct vm_config *vb = &cfg->vms[v];
		for (unsigned d = 0; d < vb->nr_disks; d++) {
			const struct vm_disk_config *b = &vb->disks[d];
			for (unsigned u = 0; u <= v; u++) {
				const struct vm_config *va = &cfg->vms[u];
				for (unsigned e = 0; e < (u == v ? d : va->nr_disks); e++) {
					const struct vm_disk_config *a = &va->disks[e];
					if (strcmp(a->backend, b->backend) != 0)
						continue;
					int rc = assign_conflict(va, a, vb, b, err, errlen);
					if (rc)
						return rc;
				}
			}
		}
	}
	return 0;
}

int config_parse(const void *fdt, const struct machine_info *mi, const struct phys_range *reserved,
		 unsigned nr_reserved, struct keel_config *cfg, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	int chosen = fdt_path_offset(fdt, "/chosen");
	if (chosen < 0)
		FAIL("boot DTB: no /chosen node (no VMs configured)");
	cfg->stay_on = fdt_getprop(fdt, chosen, "keel,stay-on", NULL) != NULL;
	unsigned next_pcpu = 0;
	struct named_range used[CONFIG_MAX_VMS * (3 + CONFIG_MAX_DISKS) + 8];
	unsigned nr_used = 0;
	for (unsigned i = 0; i < nr_reserved && nr_used < ARRAY_SIZE(used); i++) {
		used[nr_used] = (struct named_range){pa_addr(reserved[i].base), reserved[i].size, "", false};
		snprintf(used[nr_used].what, sizeof(used[nr_used].what),
			 "keel or firmware memory (reserved range %u)", i);
		nr_used++;
	}

	for (int n = fdt_first_subnode(fdt, chosen); n >= 0; n = fdt_next_subnode(fdt, n)) {
		if (fdt_node_check_compatible(fdt, n, "keel,vm") != 0)
			continue;
		const char *node = fdt_get_name(fdt, n, NULL);
		if (cfg->nr_vms >= CONFIG_MAX_VMS)
			FAIL("/chosen/%s: too many VMs (at most %d)", node, CONFIG_MAX_VMS);
		struct vm_config *vc = &cfg->vms[cfg->nr_vms];
		snprintf(vc->node, sizeof(vc->node), "/chosen/%s", node);
		bool present;
		if (copy_str(fdt, n, "vm-name", vc->name, sizeof(vc->name), &present))
			FAIL("%s: vm-name: not a string of at most 31 characters", vc->node);
		if (!present)
			snprintf(vc->name, sizeof(vc->name), "%s", node);
		for (unsigned j = 0; j < cfg->nr_vms; j++)
			if (strcmp(cfg->vms[j].name, vc->name) == 0)
				FAIL("%s: vm-name: \"%s\" is used twice", vc->node, vc->name);

		int len;
		const fdt32_t *cpus = fdt_getprop(fdt, n, "cpus", &len);
		vc->nr_cpus = 1;
		if (cpus) {
			if (len != 4)
				FAIL("%s: cpus: must be one cell", vc->node);
			vc->nr_cpus = fdt32_to_cpu(*cpus);
		}
		if (vc->nr_cpus == 0 || vc->nr_cpus > 4 || next_pcpu + vc->nr_cpus > mi->nr_cpus)
			FAIL("%s: cpus: %u vCPUs requested but only %u physical CPUs are free", vc->node,
			     vc->nr_cpus, mi->nr_cpus - next_pcpu);
		vc->first_pcpu = next_pcpu;
		next_pcpu += vc->nr_cpus;

		uint64_t a, s;
		int ac = fdt_address_cells(fdt, n), sc = fdt_size_cells(fdt, n);
		const fdt32_t *mem = fdt_getprop(fdt, n, "memory", &len);
		if (fdt_getprop(fdt, n, "memory-range", NULL)) {
			const fdt32_t *p = fdt_getprop(fdt, n, "memory-range", &len);
			if (ac < 1 || ac > 2 || sc < 1 || sc > 2 || len != (ac + sc) * 4)
				FAIL("%s: memory-range: expected <base size> in #address-cells/#size-cells",
				     vc->node);
			a = read_cells(p, ac);
			s = read_cells(p + ac, sc);
			if (!in_ram(mi, a, s) || !IS_ALIGNED(a | s, SZ_2M))
				FAIL("%s: memory-range: 0x%llx+0x%llx must be 2 MiB aligned and inside RAM",
				     vc->node, (unsigned long long)a, (unsigned long long)s);
			vc->has_mem_base = true;
			vc->mem_base = pa_init(a);
			vc->mem_size = s;
		} else if (mem) {
			if (sc < 1 || sc > 2 || len != sc * 4)
				FAIL("%s: memory: expected one size in #size-cells", vc->node);
			vc->mem_size = read_cells(mem, sc);
		} else {
			FAIL("%s: memory: missing (give memory = <size> or memory-range = <base size>)",
			     vc->node);
		}
		if (vc->mem_size < 16 * 1024 * 1024 || !IS_ALIGNED(vc->mem_size, SZ_2M))
			FAIL("%s: memory: size 0x%llx must be a multiple of 2 MiB and at least 16 MiB",
			     vc->node, (unsigned long long)vc->mem_size);

		if (copy_str(fdt, n, "bootargs", vc->bootargs, sizeof(vc->bootargs), &present))
			FAIL("%s: bootargs: not a string of at most 511 characters", vc->node);
		int rc = parse_module(fdt, n, "multiboot,kernel", vc->node, mi, &vc->kernel, err, errlen);
		if (rc)
			return rc;
		rc = parse_module(fdt, n, "multiboot,ramdisk", vc->node, mi, &vc->ramdisk, err, errlen);
		if (rc)
			return rc;
		rc = parse_module(fdt, n, "keel,firmware", vc->node, mi, &vc->firmware, err, errlen);
		if (rc)
			return rc;
		if (vc->firmware.size > CONFIG_FIRMWARE_MAX)
			FAIL("%s: firmware: reg: 0x%llx bytes do not fit its 64 MiB flash bank", vc->node,
			     (unsigned long long)vc->firmware.size);
		if (vc->firmware.size && (vc->kernel.size || vc->ramdisk.size))
			FAIL(
			    "%s: firmware: a firmware VM loads its kernel itself (no kernel or ramdisk node)",
			    vc->node);
		if (vc->kernel.size == 0 && vc->firmware.size == 0)
			FAIL("%s: kernel: no child with compatible \"multiboot,kernel\" (or "
			     "\"keel,firmware\")",
			     vc->node);
		rc = parse_disks(fdt, n, vc->node, mi, vc, err, errlen);
		if (rc)
			return rc;

		/* Overlap checks: every module, disk image and fixed memory range. */
		struct named_range mine[3 + CONFIG_MAX_DISKS];
		unsigned nm = 0;
		if (vc->kernel.size)
			mine[nm++] = (struct named_range){pa_addr(vc->kernel.base), vc->kernel.size,
							  "kernel: reg", false};
		else
			mine[nm++] = (struct named_range){pa_addr(vc->firmware.base), vc->firmware.size,
							  "firmware: reg", false};
		if (vc->ramdisk.size)
			mine[nm++] = (struct named_range){pa_addr(vc->ramdisk.base), vc->ramdisk.size,
							  "ramdisk: reg", false};
		if (vc->has_mem_base)
			mine[nm++] =
			    (struct named_range){pa_addr(vc->mem_base), vc->mem_size, "memory-range", false};
		for (unsigned d = 0; d < vc->nr_disks; d++)
			if (vc->disks[d].ram.size)
				mine[nm++] = (struct named_range){pa_addr(vc->disks[d].ram.base),
								  vc->disks[d].ram.size, "disk: reg", true};
		for (unsigned k = 0; k < nm; k++) {
			for (unsigned u = 0; u < nr_used; u++)
				if (!(mine[k].ram_disk && used[u].ram_disk) &&
				    ranges_overlap(mine[k].base, mine[k].size, used[u].base, used[u].size))
					FAIL("%s: %s: 0x%llx+0x%llx overlaps %s", vc->node, mine[k].what,
					     (unsigned long long)mine[k].base,
					     (unsigned long long)mine[k].size, used[u].what);
			if (nr_used < ARRAY_SIZE(used)) {
				used[nr_used] = mine[k];
				snprintf(used[nr_used].what, sizeof(used[nr_used].what), "%s %s", vc->node,
					 mine[k].what);
				nr_used++;
			}
		}
		cfg->nr_vms++;
	}
	if (cfg->nr_vms == 0)
		FAIL("/chosen: no VM nodes (compatible = \"keel,vm\")");
	return check_assign_once(cfg, err, errlen);
}
