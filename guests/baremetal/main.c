/* Guest entry: reads the DTB, picks the test from /chosen bootargs "test=<name>". */
#include <stdint.h>

#include "arch.h"
#include "fdt.h"
#include "gic.h"
#include "lib.h"
#include "psci.h"
#include "tests.h"
#include "timer.h"
#include "uart.h"

#define DTB_MAX_SIZE (2u << 20)

struct guest_env env;
static int failures;

void test_fail(void)
{
	failures++;
}
int test_failures(void)
{
	return failures;
}

const char *bootarg(const char *key, char *buf, unsigned size)
{
	const char *p = env.bootargs;
	size_t klen = strlen(key);

	while (*p) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			unsigned n = 0;

			p += klen + 1;
			while (p[n] && p[n] != ' ' && n + 1 < size) {
				buf[n] = p[n];
				n++;
			}
			buf[n] = '\0';
			return buf;
		}
		while (*p && *p != ' ')
			p++;
	}
	return NULL;
}

static void read_dt(void)
{
	int node;
	uint64_t addr, size;

	node = fdt_find_compatible(-1, "arm,pl011");
	if (node >= 0 && !fdt_reg(node, 0, &addr, &size))
		env.uart = addr;
	else
		gprintf("GUEST: note no arm,pl011 node, using 0x%lx\n", (uint64_t)env.uart);

	node = fdt_path("/memory");
	if (node < 0)
		node = fdt_find_device_type(-1, "memory");
	if (node >= 0 && !fdt_reg(node, 0, &addr, &size)) {
		env.ram_base = addr;
		env.ram_size = size;
	} else {
		gprintf("GUEST: FAIL no /memory reg in the DTB\n");
		test_fail();
	}

	node = fdt_path("/chosen");
	const char *args = node >= 0 ? fdt_getprop_str(node, "bootargs") : NULL;

	env.bootargs = args ? args : "";

	node = fdt_find_compatible(-1, "arm,gic-v3");
	env.gic_version = 3;
	if (node < 0) {
		node = fdt_find_compatible(-1, "arm,cortex-a15-gic");
		if (node < 0)
			node = fdt_find_compatible(-1, "arm,gic-400");
		if (node >= 0)
			env.gic_version = 2;
	}
	if (node >= 0 && !fdt_reg(node, 0, &addr, &size)) {
		env.gicd = addr;
		if (!fdt_reg(node, 1, &addr, &size)) {
			env.gicr = addr; /* v2: GICC */
			env.gicr_size = size;
		}
		gprintf("GUEST: GICv%d at 0x%lx, 0x%lx\n", env.gic_version, (uint64_t)env.gicd,
			(uint64_t)env.gicr);
	} else {
		gprintf("GUEST: note no arm,gic-v3 node, using GICD 0x%lx GICR 0x%lx\n", (uint64_t)env.gicd,
			(uint64_t)env.gicr);
	}

	/* arm,armv8-timer interrupts: secure phys, NS phys, virtual, hyp; 3 cells each (GIC). */
	node = fdt_find_compatible(-1, "arm,armv8-timer");
	uint32_t type, num;

	if (node >= 0 && !fdt_prop_cell(node, "interrupts", 6, &type) &&
	    !fdt_prop_cell(node, "interrupts", 7, &num) && type == 1 && num < 16)
		env.timer_intid = 16 + num;

	node = fdt_path("/psci");
	if (node < 0)
		node = fdt_find_compatible(-1, "arm,psci-1.0");
	if (node < 0)
		node = fdt_find_compatible(-1, "arm,psci-0.2");
	const char *method = node >= 0 ? fdt_getprop_str(node, "method") : NULL;

	psci_set_conduit_hvc(!method || strcmp(method, "smc"));
}

int platform_irq_init(void)
{
	if (gic_init(env.gic_version, env.gicd, env.gicr, env.gicr_size, env.eoimode))
		return -1;
	if (timer_start(env.timer_intid, 100)) {
		gprintf("GUEST: FAIL timer start (cntfrq=%lu intid=%u)\n", timer_freq(), env.timer_intid);
		return -1;
	}
	irq_enable();
	return 0;
}

void test_finish(void)
{
	irq_disable();
	timer_stop();
	if (failures)
		gprintf("GUEST: FAIL %d check(s) failed\n", failures);
	else
		gprintf("GUEST: PASS\n");
	psci_system_off();
}

void guest_main(uint64_t dtb, uint64_t x1, uint64_t x2, uint64_t x3);

void guest_main(uint64_t dtb, uint64_t x1, uint64_t x2, uint64_t x3)
{
	char name[32], eoi[4];
	const char *test;
	int rc;

	env.dtb = dtb;
	env.uart = PL011_DEFAULT_BASE;
	env.gicd = GICD_DEFAULT_BASE;
	env.gicr = GICR_DEFAULT_BASE;
	env.timer_intid = VTIMER_DEFAULT_INTID;
	uart_init(env.uart);
	gprintf("GUEST: hello from EL%u\n", current_el());
	if (current_el() != 1) {
		/* e.g. native QEMU with virtualization=on: its PSCI conduit is then smc. */
		gprintf("GUEST: FAIL not entered at EL1 (CurrentEL=%u)\n", current_el());
		psci_set_conduit_hvc(0);
		psci_system_off();
	}
	serror_enable();
	if (x1 || x2 || x3)
		gprintf("GUEST: note x1..x3 not zero at entry (0x%lx 0x%lx 0x%lx)\n", x1, x2, x3);

	rc = fdt_init((const void *)(uintptr_t)dtb, DTB_MAX_SIZE);
	if (rc) {
		gprintf("GUEST: FAIL no valid DTB at x0=0x%lx (%d)\n", dtb, rc);
		psci_system_off();
	}
	read_dt();
	if (env.uart != PL011_DEFAULT_BASE)
		uart_init(env.uart);
	env.eoimode = bootarg("eoimode", eoi, sizeof(eoi)) && eoi[0] == '1';
	test = bootarg("test", name, sizeof(name));
	if (!test)
		test = "basic";
	gprintf("GUEST: dtb=0x%lx size=%u ram=0x%lx+0x%lx uart=0x%lx psci=%s\n", dtb, fdt_total_size(),
		env.ram_base, env.ram_size, (uint64_t)env.uart, psci_conduit_is_hvc() ? "hvc" : "smc");
	gprintf("GUEST: bootargs=\"%s\" test=%s\n", env.bootargs, test);

	if (!strcmp(test, "basic"))
		test_basic();
	else if (!strcmp(test, "psci"))
		test_psci();
	else if (!strcmp(test, "virtio"))
		test_virtio();
	else if (!strcmp(test, "virtio-hostile"))
		test_virtio_hostile();
	else if (!strcmp(test, "virtio-sg"))
		test_virtio_sg();
	else if (!strcmp(test, "iso"))
		test_iso();
	else if (!strcmp(test, "console"))
		test_console();
	else if (!strcmp(test, "reset-race"))
		test_reset_race();
	else if (!strcmp(test, "crash"))
		test_crash();
	else {
		gprintf("GUEST: FAIL unknown test '%s'\n", test);
		test_fail();
	}
	test_finish();
}
