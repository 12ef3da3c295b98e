/* Boot-DTB parsing (machine + dom0less-style VM config) and guest DTB generation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/guest_fdt.h"
#include "core/memmap.h"
#include "keel/addr.h"

static uint8_t dtb[16384];

static void setreg(int node, uint64_t a, uint64_t s)
{
	fdt64_t v[2] = {cpu_to_fdt64(a), cpu_to_fdt64(s)};
	assert_int_equal(fdt_setprop(dtb, node, "reg", v, sizeof(v)), 0);
}

static int sub(int parent, const char *name)
{
	int n = fdt_add_subnode(dtb, parent, name);
	assert_true(n >= 0);
	return n;
}

/* A QEMU-virt-like machine: 1 GiB RAM at 1 GiB, 2 CPUs, GICv3, PL011, timer. */
static void make_machine(void)
{
	assert_int_equal(fdt_create_empty_tree(dtb, sizeof(dtb)), 0);
	fdt_setprop_u32(dtb, 0, "#address-cells", 2);
	fdt_setprop_u32(dtb, 0, "#size-cells", 2);
	int mem = sub(0, "memory@40000000");
	fdt_setprop_string(dtb, mem, "device_type", "memory");
	setreg(mem, 0x40000000, 0x40000000);
	int cpus = sub(0, "cpus");
	fdt_setprop_u32(dtb, cpus, "#address-cells", 1);
	fdt_setprop_u32(dtb, cpus, "#size-cells", 0);
	for (int i = 0; i < 2; i++) {
		char name[16];
		snprintf(name, sizeof(name), "cpu@%d", i);
		int c = sub(cpus, name);
		fdt_setprop_string(dtb, c, "device_type", "cpu");
		fdt_setprop_u32(dtb, c, "reg", (uint32_t)i);
	}
	int gic = sub(0, "intc@8000000");
	fdt_setprop_string(dtb, gic, "compatible", "arm,gic-v3");
	fdt64_t greg[4] = {cpu_to_fdt64(0x08000000), cpu_to_fdt64(0x10000), cpu_to_fdt64(0x080a0000),
			   cpu_to_fdt64(0xf60000)};
	fdt_setprop(dtb, gic, "reg", greg, sizeof(greg));
	int uart = sub(0, "pl011@9000000");
	fdt_setprop_string(dtb, uart, "compatible", "arm,pl011");
	setreg(uart, 0x09000000, 0x1000);
	int timer = sub(0, "timer");
	fdt_setprop_string(dtb, timer, "compatible", "arm,armv8-timer");
	fdt32_t irqs[12] = {0};
	for (int i = 0; i < 4; i++)
		irqs[i * 3] = cpu_to_fdt32(1);
	irqs[1] = cpu_to_fdt32(13), irqs[4] = cpu_to_fdt32(14), irqs[7] = cpu_to_fdt32(11),
	irqs[10] = cpu_to_fdt32(10);
	fdt_setprop(dtb, timer, "interrupts", irqs, sizeof(irqs));
	int psci = sub(0, "psci");
	fdt_setprop_string(dtb, psci, "compatible", "arm,psci-1.0");
	fdt_setprop_string(dtb, psci, "method", "smc");
	sub(0, "chosen");
}

static int add_vm(const char *node, uint64_t kbase, uint64_t ksize)
{
	int chosen = fdt_path_offset(dtb, "/chosen");
	int vm = sub(chosen, node);
	fdt_setprop_string(dtb, vm, "compatible", "keel,vm");
	fdt_setprop_u32(dtb, vm, "#address-cells", 2);
	fdt_setprop_u32(dtb, vm, "#size-cells", 2);
	fdt_setprop_u64(dtb, vm, "memory", 0x10000000);
	fdt_setprop_string(dtb, vm, "bootargs", "console=ttyAMA0");
	int k = sub(vm, "kernel");
	fdt_setprop_string(dtb, k, "compatible", "multiboot,kernel");
	setreg(k, kbase, ksize);
	return vm;
}

static struct machine_info mi;
static struct keel_config cfg;
static char err[256];

static int parse(void)
{
	assert_int_equal(machine_parse(dtb, &mi, err, sizeof(err)), 0);
	struct phys_range keel = {pa_init(0x40200000), 0x400000};
	return config_parse(dtb, &mi, &keel, 1, &cfg, err, sizeof(err));
}

static void test_machine(void **state)
{
	(void)state;
	make_machine();
	assert_int_equal(machine_parse(dtb, &mi, err, sizeof(err)), 0);
	assert_int_equal(mi.nr_ram, 1);
	assert_int_equal(pa_addr(mi.ram[0].base), 0x40000000);
	assert_int_equal(mi.nr_cpus, 2);
	assert_int_equal(pa_addr(mi.gicd.base), 0x08000000);
	assert_int_equal(pa_addr(mi.gicr.base), 0x080a0000);
	assert_int_equal(pa_addr(mi.uart.base), 0x09000000);
	assert_int_equal(mi.timer_virt_ppi, 27);
	assert_true(mi.psci_smc);
	assert_int_equal(mi.nr_reserved, 0);

	/* Firmware-reserved RAM is recorded, from both the reservation block and /reserved-memory. */
	assert_int_equal(fdt_add_mem_rsv(dtb, 0x7f000000, 0x100000), 0);
	int rm = sub(0, "reserved-memory");
	fdt_setprop_u32(dtb, rm, "#address-cells", 2);
	fdt_setprop_u32(dtb, rm, "#size-cells", 2);
	setreg(sub(rm, "tee@7e000000"), 0x7e000000, 0x200000);
	assert_int_equal(machine_parse(dtb, &mi, err, sizeof(err)), 0);
	assert_int_equal(mi.nr_reserved, 2);
	assert_int_equal(pa_addr(mi.reserved[0].base), 0x7f000000);
	assert_int_equal(pa_addr(mi.reserved[1].base), 0x7e000000);
	assert_int_equal(mi.reserved[1].size, 0x200000);
}

/* enable-method per CPU: spin-table with its (two-cell) release address, psci, unknown; no PSCI node. */
/* The index of MPIDR 1 (libfdt adds subnodes first, so DT order is not creation order). */
static unsigned cpu1(void)
{
	for (unsigned i = 0; i < mi.nr_cpus; i++)
		if (mi.cpu_mpidr[i] == 1)
			return i;
	fail();
	return 0;
}

static void test_cpu_enable_method(void **state)
{
	(void)state;
	make_machine();
	assert_int_equal(machine_parse(dtb, &mi, err, sizeof(err)), 0);
	assert_true(mi.has_psci);
	assert_int_equal(mi.cpu_enable[cpu1()], MACHINE_CPU_PSCI);

	int c1 = fdt_path_offset(dtb, "/cpus/cpu@1");
	fdt_setprop_string(dtb, c1, "enable-method", "spin-table");
	assert_int_equal(machine_parse(dtb, &mi, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/cpus: spin-table CPU 0x1 without a cpu-release-addr");
	assert_int_equal(fdt_setprop_u64(dtb, c1, "cpu-release-addr", 0xe0), 0);
	assert_int_equal(fdt_del_node(dtb, fdt_path_offset(dtb, "/psci")), 0);
	assert_int_equal(machine_parse(dtb, &mi, err, sizeof(err)), 0);
	assert_false(mi.has_psci);
	assert_int_equal(mi.cpu_enable[cpu1()], MACHINE_CPU_SPIN_TABLE);
	assert_int_equal(pa_addr(mi.cpu_release_addr[cpu1()]), 0xe0);

	fdt_setprop_string(dtb, fdt_path_offset(dtb, "/cpus/cpu@1"), "enable-method", "brcm,bcm2836-smp");
	assert_int_equal(machine_parse(dtb, &mi, err, sizeof(err)), 0);
	assert_int_equal(mi.cpu_enable[cpu1()], MACHINE_CPU_NONE);
}

static void test_valid_vm(void **state)
{
	(void)state;
	make_machine();
	int vm = add_vm("vm@0", 0x50000000, 0x100000);
	fdt_setprop_string(dtb, vm, "vm-name", "linux");
	int rd = sub(vm, "ramdisk");
	fdt_setprop_string(dtb, rd, "compatible", "multiboot,ramdisk");
	setreg(rd, 0x51000000, 0x200000);
	int d = sub(vm, "disk@0");
	fdt_setprop_string(dtb, d, "compatible", "keel,disk");
	fdt_setprop_string(dtb, d, "backend", "ram");
	setreg(d, 0x60000000, 0x1000000);
	fdt_setprop(dtb, d, "read-only", NULL, 0);
	assert_int_equal(parse(), 0);
	assert_int_equal(cfg.nr_vms, 1);
	assert_string_equal(cfg.vms[0].name, "linux");
	assert_int_equal(cfg.vms[0].mem_size, 0x10000000);
	assert_int_equal(pa_addr(cfg.vms[0].kernel.base), 0x50000000);
	assert_int_equal(cfg.vms[0].ramdisk.size, 0x200000);
	assert_int_equal(cfg.vms[0].nr_disks, 1);
	assert_true(cfg.vms[0].disks[0].read_only);
	assert_string_equal(cfg.vms[0].disks[0].backend, "ram");
	assert_int_equal(cfg.vms[0].disks[0].io_poll_us, CONFIG_IO_POLL_US_DEFAULT);
	fdt_setprop_u32(dtb, d, "io-poll-us", 0);
	assert_int_equal(parse(), 0);
	assert_int_equal(cfg.vms[0].disks[0].io_poll_us, 0);
	assert_int_equal(cfg.vms[0].disks[0].irq_coalesce_us, CONFIG_IRQ_COALESCE_US_DEFAULT);
	fdt_setprop_u32(dtb, d, "irq-coalesce-us", 0);
	assert_int_equal(parse(), 0);
	assert_int_equal(cfg.vms[0].disks[0].irq_coalesce_us, 0);
	assert_false(cfg.vms[0].disks[0].no_mmio_shadow); /* the register shadow is on by default */
	fdt_setprop_u32(dtb, d, "mmio-shadow", 0);
	assert_int_equal(parse(), 0);
	assert_true(cfg.vms[0].disks[0].no_mmio_shadow);
	fdt_setprop_u32(dtb, d, "mmio-shadow", 1);
	assert_int_equal(parse(), 0);
	assert_false(cfg.vms[0].disks[0].no_mmio_shadow);
	assert_string_equal(cfg.vms[0].bootargs, "console=ttyAMA0");
}

static void expect_error(const char *needle)
{
	assert_int_not_equal(parse(), 0);
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void test_errors_name_node_and_property(void **state)
{
	(void)state;
	make_machine();
	add_vm("vm@0", 0x50000000, 0x100000);
	add_vm("vm@1", 0x500ff000, 0x100000);
	/* libfdt adds subnodes first, so vm@1 is read before vm@0. */
	expect_error("/chosen/vm@0: kernel: reg: 0x50000000+0x100000 overlaps /chosen/vm@1 kernel: reg");

	make_machine();
	add_vm("vm@0", 0x40300000, 0x100000);
	expect_error("/chosen/vm@0: kernel: reg: 0x40300000+0x100000 overlaps keel");

	make_machine();
	add_vm("vm@0", 0x7ff00000, 0x200000);
	expect_error("/chosen/vm@0/kernel: reg: image at 0x7ff00000+0x200000 is outside RAM");

	make_machine();
	int vm = add_vm("vm@0", 0x50000000, 0x1000);
	fdt_setprop_u32(dtb, vm, "cpus", 3);
	expect_error("/chosen/vm@0: cpus: 3 vCPUs requested but only 2 physical CPUs are free");

	make_machine();
	vm = add_vm("vm@0", 0x50000000, 0x1000);
	fdt_delprop(dtb, vm, "memory");
	expect_error("/chosen/vm@0: memory: missing");

	make_machine();
	vm = add_vm("vm@0", 0x50000000, 0x1000);
	fdt_setprop_u64(dtb, vm, "memory", 0x100000);
	expect_error("/chosen/vm@0: memory: size 0x100000");

	make_machine();
	vm = add_vm("vm@0", 0x50000000, 0x1000);
	int d = sub(vm, "disk@0");
	fdt_setprop_string(dtb, d, "compatible", "keel,disk");
	fdt_setprop_string(dtb, d, "backend", "floppy");
	expect_error("/chosen/vm@0/disk@0: backend: unknown \"floppy\"");

	make_machine();
	vm = add_vm("vm@0", 0x50000000, 0x1000);
	d = sub(vm, "disk@0");
	fdt_setprop_string(dtb, d, "compatible", "keel,disk");
	fdt_setprop_string(dtb, d, "backend", "ufs");
	fdt_setprop_u32(dtb, d, "io-poll-us", CONFIG_IO_POLL_US_MAX + 1);
	expect_error("/chosen/vm@0/disk@0: io-poll-us: one cell, at most 10000");
	fdt_setprop_u32(dtb, d, "io-poll-us", 0);
	fdt_setprop_u32(dtb, d, "irq-coalesce-us", CONFIG_IRQ_COALESCE_US_MAX + 1);
	expect_error("/chosen/vm@0/disk@0: irq-coalesce-us: one cell, at most 10000");

	make_machine();
	vm = add_vm("vm@0", 0x50000000, 0x1000);
	d = sub(vm, "disk@0");
	fdt_setprop_string(dtb, d, "compatible", "keel,disk");
	fdt_setprop_string(dtb, d, "backend", "ufs");
	fdt_setprop_u32(dtb, d, "mmio-shadow", 2);
	expect_error("/chosen/vm@0/disk@0: mmio-shadow: one cell, 0 or 1");

	make_machine();
	vm = add_vm("vm@0", 0x50000000, 0x1000);
	fdt_setprop(dtb, vm, "vm-name", "abc", 3); /* not NUL-terminated */
	expect_error("/chosen/vm@0: vm-name");

	make_machine();
	expect_error("/chosen: no VM nodes");

	make_machine();
	vm = add_vm("vm@0", 0x50000000, 0x1000);
	int k = fdt_subnode_offset(dtb, vm, "kernel");
	fdt32_t shortreg = cpu_to_fdt32(1);
	fdt_setprop(dtb, k, "reg", &shortreg, 4);
	expect_error("/chosen/vm@0/kernel: reg: missing or empty");
}

/* Offsets move as the tree grows: find the VM node by name each time. */
static int add_disk(const char *vm, const char *node, const char *backend, const char *partition)
{
	char path[64];
	snprintf(path, sizeof(path), "/chosen/%s", vm);
	int d = sub(fdt_path_offset(dtb, path), node);
	fdt_setprop_string(dtb, d, "compatible", "keel,disk");
	fdt_setprop_string(dtb, d, "backend", backend);
	if (partition)
		fdt_setprop_string(dtb, d, "partition", partition);
	return d;
}

/* Two VMs; libfdt adds subnodes first, so create vm@1 first: vm@0 is parsed first. */
static void two_vms(void)
{
	make_machine();
	add_vm("vm@1", 0x51000000, 0x100000);
	add_vm("vm@0", 0x50000000, 0x100000);
}

static void test_assign_once_legal(void **state)
{
	(void)state;
	/* Two partitions of one disk, one per VM; the other backend's whole disk to one of them. */
	two_vms();
	add_disk("vm@1", "disk@0", "ufs", "data-b");
	add_disk("vm@0", "disk@1", "sd", NULL);
	add_disk("vm@0", "disk@0", "ufs", "data-a");
	assert_int_equal(parse(), 0);
	assert_int_equal(cfg.nr_vms, 2);
	assert_int_equal(cfg.vms[0].nr_disks, 2);
	assert_string_equal(cfg.vms[0].disks[0].node, "disk@0");
	assert_string_equal(cfg.vms[0].disks[0].partition, "data-a");
	assert_string_equal(cfg.vms[1].disks[0].partition, "data-b");

	/* Two partitions of one disk in the same VM; RAM disks side by side. */
	two_vms();
	add_disk("vm@0", "disk@1", "ufs", "b");
	add_disk("vm@0", "disk@0", "ufs", "a");
	setreg(add_disk("vm@1", "disk@1", "ram", NULL), 0x60100000, 0x100000);
	setreg(add_disk("vm@1", "disk@0", "ram", NULL), 0x60000000, 0x100000);
	assert_int_equal(parse(), 0);
	assert_int_equal(cfg.vms[0].nr_disks, 2);
	assert_int_equal(cfg.vms[1].nr_disks, 2);
}

static void test_assign_once_conflicts(void **state)
{
	(void)state;
	/* The same partition to two VMs. */
	two_vms();
	add_disk("vm@1", "disk@0", "ufs", "data");
	add_disk("vm@0", "disk@0", "ufs", "data");
	expect_error("/chosen/vm@1/disk@0: backend \"ufs\" partition \"data\" is already given to "
		     "/chosen/vm@0/disk@0");

	/* The same partition twice in one VM. */
	two_vms();
	add_disk("vm@0", "disk@1", "sd", "p1");
	add_disk("vm@0", "disk@0", "sd", "p1");
	expect_error("/chosen/vm@0/disk@1: backend \"sd\" partition \"p1\" is already given to "
		     "/chosen/vm@0/disk@0");

	/* The whole disk, then one of its partitions. */
	two_vms();
	add_disk("vm@1", "disk@0", "ufs", "data");
	add_disk("vm@0", "disk@0", "ufs", NULL);
	expect_error("/chosen/vm@1/disk@0: backend \"ufs\" partition \"data\" is inside the whole disk "
		     "given to /chosen/vm@0/disk@0");

	/* A partition, then the whole disk. */
	two_vms();
	add_disk("vm@1", "disk@0", "sd", NULL);
	add_disk("vm@0", "disk@0", "sd", "root");
	expect_error("/chosen/vm@1/disk@0: backend \"sd\" (whole disk) contains partition \"root\" given to "
		     "/chosen/vm@0/disk@0");

	/* The whole disk twice: in two VMs, and in one VM. */
	two_vms();
	add_disk("vm@1", "disk@0", "ufs", NULL);
	add_disk("vm@0", "disk@0", "ufs", NULL);
	expect_error(
	    "/chosen/vm@1/disk@0: backend \"ufs\" (whole disk) is already given to /chosen/vm@0/disk@0");
	two_vms();
	add_disk("vm@1", "disk@1", "ufs", NULL);
	add_disk("vm@1", "disk@0", "ufs", NULL);
	expect_error(
	    "/chosen/vm@1/disk@1: backend \"ufs\" (whole disk) is already given to /chosen/vm@1/disk@0");

	/* Overlapping RAM-disk images, in two VMs and in one. */
	two_vms();
	setreg(add_disk("vm@1", "disk@0", "ram", NULL), 0x600ff000, 0x100000);
	setreg(add_disk("vm@0", "disk@0", "ram", NULL), 0x60000000, 0x100000);
	expect_error(
	    "/chosen/vm@1/disk@0: backend \"ram\" image 0x600ff000+0x100000 overlaps the image given "
	    "to /chosen/vm@0/disk@0");
	two_vms();
	setreg(add_disk("vm@0", "disk@1", "ram", NULL), 0x60000000, 0x1000);
	setreg(add_disk("vm@0", "disk@0", "ram", NULL), 0x60000000, 0x1000);
	expect_error("/chosen/vm@0/disk@1: backend \"ram\" image 0x60000000+0x1000 overlaps the image given "
		     "to /chosen/vm@0/disk@0");

	/* A RAM disk over a kernel is still the module overlap error. */
	two_vms();
	setreg(add_disk("vm@1", "disk@0", "ram", NULL), 0x50000000, 0x1000);
	expect_error("/chosen/vm@1: disk: reg: 0x50000000+0x1000 overlaps /chosen/vm@0 kernel: reg");
}

static void test_firmware_vm(void **state)
{
	(void)state;
	make_machine();
	int chosen = fdt_path_offset(dtb, "/chosen");
	int vm = sub(chosen, "vm@0");
	fdt_setprop_string(dtb, vm, "compatible", "keel,vm");
	fdt_setprop_u32(dtb, vm, "#address-cells", 2);
	fdt_setprop_u32(dtb, vm, "#size-cells", 2);
	fdt_setprop_u64(dtb, vm, "memory", 0x10000000);
	int fw = sub(vm, "firmware");
	fdt_setprop_string(dtb, fw, "compatible", "keel,firmware");
	setreg(fw, 0x50000000, 0x200000);
	assert_int_equal(parse(), 0);
	assert_int_equal(cfg.vms[0].firmware.size, 0x200000);
	assert_int_equal(pa_addr(cfg.vms[0].firmware.base), 0x50000000);
	assert_int_equal(cfg.vms[0].kernel.size, 0);
	/* Larger than a flash bank. */
	setreg(fdt_subnode_offset(dtb, fdt_path_offset(dtb, "/chosen/vm@0"), "firmware"), 0x50000000,
	       0x04200000);
	expect_error("/chosen/vm@0: firmware: reg: 0x4200000 bytes do not fit its 64 MiB flash bank");
	/* Over keel. */
	setreg(fdt_subnode_offset(dtb, fdt_path_offset(dtb, "/chosen/vm@0"), "firmware"), 0x40300000,
	       0x100000);
	expect_error("/chosen/vm@0: firmware: reg: 0x40300000+0x100000 overlaps keel");
	/* Firmware and a kernel at once. */
	make_machine();
	vm = add_vm("vm@0", 0x50000000, 0x100000);
	fw = sub(vm, "firmware");
	fdt_setprop_string(dtb, fw, "compatible", "keel,firmware");
	setreg(fw, 0x52000000, 0x200000);
	expect_error("/chosen/vm@0: firmware: a firmware VM loads its kernel itself");
}

static void test_memmap_alloc(void **state)
{
	(void)state;
	make_machine();
	assert_int_equal(machine_parse(dtb, &mi, err, sizeof(err)), 0);
	struct memmap mm = {.mi = &mi};
	assert_true(memmap_reserve(&mm, pa_init(0x40200000), 0x400000));
	assert_true(memmap_reserve(&mm, pa_init(0x48000000), 0x100000));
	paddr_t p;
	assert_true(memmap_alloc(&mm, 0x4000000, 0x200000, &p));
	assert_int_equal(pa_addr(p), 0x40600000);
	assert_true(memmap_alloc(&mm, 0x8000000, 0x200000, &p));
	assert_int_equal(pa_addr(p), 0x48200000);
	assert_false(memmap_alloc(&mm, 0x40000000, 0x200000, &p));
}

static void test_guest_fdt(void **state)
{
	(void)state;
	static uint8_t buf[65536];
	struct guest_fdt_params p = {
	    .nr_cpus = 2,
	    .ram_base = 0x40000000,
	    .ram_size = 0x10000000,
	    .bootargs = "console=ttyAMA0 root=/dev/vda",
	    .initrd_base = 0x4e000000,
	    .initrd_size = 0x100000,
	    .timer_ppis = {29, 30, 27, 26},
	    .nr_devs = 1,
	};
	p.devs[0] = (struct guest_fdt_dev){"virtio,mmio", 0x0a000000, 0x200, 48, true};
	assert_int_equal(guest_fdt_build(buf, sizeof(buf), &p), 0);
	assert_int_equal(fdt_check_header(buf), 0);
	int mem = fdt_path_offset(buf, "/memory@40000000");
	assert_true(mem >= 0);
	int len;
	const fdt64_t *reg = fdt_getprop(buf, mem, "reg", &len);
	assert_int_equal(len, 16);
	assert_int_equal(fdt64_to_cpu(reg[1]), 0x10000000);
	assert_string_equal(fdt_getprop(buf, fdt_path_offset(buf, "/chosen"), "bootargs", NULL),
			    "console=ttyAMA0 root=/dev/vda");
	const fdt64_t *ie = fdt_getprop(buf, fdt_path_offset(buf, "/chosen"), "linux,initrd-end", NULL);
	assert_int_equal(fdt64_to_cpu(*ie), 0x4e100000);
	assert_true(fdt_path_offset(buf, "/cpus/cpu@1") >= 0);
	assert_true(fdt_path_offset(buf, "/cpus/cpu@2") < 0);
	int v = fdt_node_offset_by_compatible(buf, -1, "virtio,mmio");
	assert_true(v >= 0);
	const fdt32_t *irq = fdt_getprop(buf, v, "interrupts", &len);
	assert_int_equal(len, 12);
	assert_int_equal(fdt32_to_cpu(irq[1]), 16);
	assert_string_equal(fdt_getprop(buf, fdt_path_offset(buf, "/psci"), "method", NULL), "hvc");
	assert_true(fdt_node_offset_by_compatible(buf, -1, "cfi-flash") < 0);
	/* A firmware VM's DT has QEMU virt's flash node: two 64 MiB banks from IPA 0, bank width 4. */
	p.flash = true;
	assert_int_equal(guest_fdt_build(buf, sizeof(buf), &p), 0);
	int fl = fdt_node_offset_by_compatible(buf, -1, "cfi-flash");
	assert_true(fl >= 0);
	assert_string_equal(fdt_get_name(buf, fl, NULL), "flash@0");
	fdt64_t freg[4];
	memcpy(freg, fdt_getprop(buf, fl, "reg", &len), sizeof(freg)); /* properties are 4-byte aligned */
	assert_int_equal(len, 32);
	assert_int_equal(fdt64_to_cpu(freg[0]), 0);
	assert_int_equal(fdt64_to_cpu(freg[1]), 0x04000000);
	assert_int_equal(fdt64_to_cpu(freg[2]), 0x04000000);
	assert_int_equal(fdt64_to_cpu(freg[3]), 0x04000000);
	assert_int_equal(fdt32_to_cpu(*(const fdt32_t *)fdt_getprop(buf, fl, "bank-width", NULL)), 4);
	/* Too small a buffer fails cleanly. */
	assert_true(guest_fdt_build(buf, 256, &p) < 0);
}

/* A GICv2 machine (QEMU virt gic-version=2; the Pi 4's GIC-400 alike): GICD, GICC, GICH, GICV + maintenance
 * PPI. */
static void set_gicv2(const char *compat, uint64_t gicc_size, bool with_gicv)
{
	int gic = fdt_path_offset(dtb, "/intc@8000000");
	fdt_setprop_string(dtb, gic, "compatible", compat);
	fdt64_t greg[8] = {cpu_to_fdt64(0x08000000), cpu_to_fdt64(0x10000),    cpu_to_fdt64(0x08010000),
			   cpu_to_fdt64(gicc_size),  cpu_to_fdt64(0x08030000), cpu_to_fdt64(0x10000),
			   cpu_to_fdt64(0x08040000), cpu_to_fdt64(0x2000)};
	fdt_setprop(dtb, gic, "reg", greg, with_gicv ? sizeof(greg) : sizeof(greg) / 4 * 3);
	fdt32_t irq[3] = {cpu_to_fdt32(1), cpu_to_fdt32(9), cpu_to_fdt32(0x04)};
	fdt_setprop(dtb, gic, "interrupts", irq, sizeof(irq));
}

static void test_machine_gicv2(void **state)
{
	(void)state;
	make_machine();
	assert_int_equal(machine_parse(dtb, &mi, err, sizeof(err)), 0);
	assert_int_equal(mi.gic_version, 3);
	assert_string_equal(mi.gic_compatible, "arm,gic-v3");
	assert_int_equal(mi.gic_maint_intid, 25);

	set_gicv2("arm,cortex-a15-gic", 0x10000, true);
	assert_int_equal(machine_parse(dtb, &mi, err, sizeof(err)), 0);
	assert_int_equal(mi.gic_version, 2);
	assert_string_equal(mi.gic_compatible, "arm,cortex-a15-gic");
	assert_int_equal(pa_addr(mi.gicd.base), 0x08000000);
	assert_int_equal(pa_addr(mi.gicc.base), 0x08010000);
	assert_int_equal(pa_addr(mi.gich.base), 0x08030000);
	assert_int_equal(pa_addr(mi.gicv.base), 0x08040000);
	assert_int_equal(mi.gicv.size, 0x2000);
	assert_int_equal(mi.gic_maint_intid, 25);

	set_gicv2("arm,gic-400", 0x2000, true);
	assert_int_equal(machine_parse(dtb, &mi, err, sizeof(err)), 0);
	assert_string_equal(mi.gic_compatible, "arm,gic-400");

	/* No GICV: no virtualization extensions keel could use. */
	set_gicv2("arm,gic-400", 0x2000, false);
	assert_int_equal(machine_parse(dtb, &mi, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "intc@8000000: reg: missing virtual CPU interface"));
	/* A 4 KiB GICC has no GICC_DIR for EOImode 1. */
	set_gicv2("arm,gic-400", 0x1000, true);
	assert_int_equal(machine_parse(dtb, &mi, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "GICC_DIR"));
	/* An SPI as maintenance interrupt is refused by name. */
	set_gicv2("arm,gic-400", 0x2000, true);
	fdt32_t irq[3] = {cpu_to_fdt32(0), cpu_to_fdt32(9), cpu_to_fdt32(0x04)};
	fdt_setprop(dtb, fdt_path_offset(dtb, "/intc@8000000"), "interrupts", irq, sizeof(irq));
	assert_int_equal(machine_parse(dtb, &mi, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "interrupts: the maintenance interrupt is not a PPI"));
	/* No GIC keel knows. */
	fdt_setprop_string(dtb, fdt_path_offset(dtb, "/intc@8000000"), "compatible", "arm,gic-v4-lookalike");
	assert_int_equal(machine_parse(dtb, &mi, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no interrupt controller keel drives"));
}

/* A guest on a GICv2 host gets a GICv2 node: the host's compatible, GICD 4 KiB + GICC, PPI CPU masks. */
static void test_guest_fdt_gicv2(void **state)
{
	(void)state;
	static uint8_t buf[65536];
	struct guest_fdt_params p = {
	    .nr_cpus = 2,
	    .ram_base = 0x40000000,
	    .ram_size = 0x10000000,
	    .timer_ppis = {29, 30, 27, 26},
	    .gic_version = 2,
	    .gic_compatible = "arm,gic-400",
	    .gicc_size = 0x2000,
	};
	assert_int_equal(guest_fdt_build(buf, sizeof(buf), &p), 0);
	int gic = fdt_path_offset(buf, "/intc@8000000");
	assert_true(gic >= 0);
	assert_string_equal(fdt_getprop(buf, gic, "compatible", NULL), "arm,gic-400");
	assert_true(fdt_getprop(buf, gic, "#redistributor-regions", NULL) == NULL);
	int len;
	fdt64_t reg[4]; /* properties are only 4-byte aligned */
	const void *prop = fdt_getprop(buf, gic, "reg", &len);
	assert_int_equal(len, 32);
	memcpy(reg, prop, sizeof(reg));
	assert_int_equal(fdt64_to_cpu(reg[0]), 0x08000000);
	assert_int_equal(fdt64_to_cpu(reg[1]), 0x1000);
	assert_int_equal(fdt64_to_cpu(reg[2]), 0x08010000);
	assert_int_equal(fdt64_to_cpu(reg[3]), 0x2000);
	const fdt32_t *irq = fdt_getprop(buf, fdt_path_offset(buf, "/timer"), "interrupts", &len);
	assert_int_equal(len, 48);
	assert_int_equal(fdt32_to_cpu(irq[7]), 11);
	assert_int_equal(fdt32_to_cpu(irq[8]), 0x304); /* CPUs 0 and 1, level high */
	/* GICv3: no CPU mask in PPI specifiers, the v3 node. */
	p.gic_version = 3;
	assert_int_equal(guest_fdt_build(buf, sizeof(buf), &p), 0);
	gic = fdt_path_offset(buf, "/intc@8000000");
	assert_string_equal(fdt_getprop(buf, gic, "compatible", NULL), "arm,gic-v3");
	irq = fdt_getprop(buf, fdt_path_offset(buf, "/timer"), "interrupts", &len);
	assert_int_equal(fdt32_to_cpu(irq[8]), 0x04);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_machine),	      cmocka_unit_test(test_cpu_enable_method),
	    cmocka_unit_test(test_valid_vm),	      cmocka_unit_test(test_errors_name_node_and_property),
	    cmocka_unit_test(test_assign_once_legal), cmocka_unit_test(test_assign_once_conflicts),
	    cmocka_unit_test(test_firmware_vm),	      cmocka_unit_test(test_memmap_alloc),
	    cmocka_unit_test(test_guest_fdt),	      cmocka_unit_test(test_machine_gicv2),
	    cmocka_unit_test(test_guest_fdt_gicv2),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
