/* keel's boot sequence and the per-CPU scheduler loop. */
#include <libfdt.h>
#include <string.h>

#include "arch/barrier.h"
#include "arch/el2.h"
#include "arch/gic.h"
#include "arch/id_regs.h"
#include "arch/sysreg.h"
#include "arch/timer.h"
#include "core/boot.h"
#include "core/config.h"
#include "core/console.h"
#include "core/console_ctl.h"
#include "core/cpu_ops.h"
#include "core/entropy.h"
#include "core/irq.h"
#include "core/memmap.h"
#include "core/page_alloc.h"
#include "core/platform.h"
#include "core/vcpu.h"
#include "core/vm.h"
#include "core/vm_lifecycle.h"
#include "keel/addr.h"

uint8_t cpu_stacks[KEEL_MAX_CPUS][KEEL_STACK_SIZE] __attribute__((aligned(16)));
extern char __image_start[], __image_end[];

#define PSCI_SYSTEM_OFF 0x84000008u

static struct machine_info machine;
static struct keel_config config;
static struct memmap memmap;
static struct vm vms[CONFIG_MAX_VMS];
static unsigned nr_vms;
static uint64_t boot_us;

/* TLS for picolibc (errno): one block per CPU; TPIDR_EL0 points 16 bytes below it. */
extern char __tdata_start[], __tdata_end[], __tbss_start[], __tbss_end[];
static uint8_t tls_blocks[KEEL_MAX_CPUS][256] __attribute__((aligned(64)));

/* Every CPU, once its redistributor is up: EL2 traps and the per-CPU interrupts keel uses. */
static void cpu_setup_for_guests(void)
{
	el2_setup_cpu();
	hyp_timer_cpu_init();
	gic_set_priority(machine.gic_maint_intid, GIC_PRIO_KEEL);
	gic_set_priority(GIC_SGI_KICK, GIC_PRIO_KEEL);
	gic_enable(machine.gic_maint_intid, false, 0);
	gic_enable(machine.timer_virt_ppi, false, 0);
	gic_enable(GIC_SGI_KICK, true, 0);
}

/* Features of this CPU that keel hides from its guests (their ID registers say "absent"). */
static void report_hidden_features(void)
{
	bool sve = id_reg_hides(ID_AA64PFR0, read_id_reg(ID_AA64PFR0));
	bool sme = id_reg_hides(ID_AA64PFR1, read_id_reg(ID_AA64PFR1));
	if (sve || sme)
		log_info("guests do not see%s%s: keel saves only the 128-bit FP/SIMD registers",
			 sve ? " SVE" : "", sme ? " SME" : "");
}

static void tls_setup(unsigned cpu)
{
	size_t tdata = (size_t)(__tdata_end - __tdata_start);
	size_t total = (size_t)(__tbss_end - __tdata_start);
	if (total > sizeof(tls_blocks[0]))
		panic("TLS block too small (%zu bytes needed)", total);
	memcpy(tls_blocks[cpu], __tdata_start, tdata);
	memset(tls_blocks[cpu] + tdata, 0, total - tdata);
	write_tpidr_el0((uint64_t)(uintptr_t)tls_blocks[cpu] - 16);
}

static void vm_uart_input(struct vm *vm, char c)
{
	vpl011_receive(&vm->uart, c);
}

static void console_tick_fn(void *ctx)
{
	(void)ctx;
	console_tick();
}

/* Deferred device work past its deadline, for guests whose vCPUs make no exit (vm_defer_work). */
static void defer_tick_fn(void *ctx)
{
	(void)ctx;
	for (unsigned i = 0; i < nr_vms; i++)
		vm_defer_check(&vms[i], 0);
}

static void machine_off(void)
{
	if (config.stay_on) {
		log_info("all VMs are off; keel stays at its console (Ctrl-] k, then start VM)");
		return;
	}
	log_info("all VMs are off; powering the machine off");
	console_flush(); /* every buffered line out before QEMU exits */
	if (machine.has_psci) {
		el2_psci_call(machine.psci_smc, PSCI_SYSTEM_OFF, 0, 0, 0);
		panic("PSCI SYSTEM_OFF returned");
	}
	if (platform.ops->power_off) {
		platform.ops->power_off();
		console_flush();
	}
	log_info("no PSCI and no board power-off took effect: keel halts here (the machine stays on)");
	console_flush();
	for (;;)
		el2_wait_for_interrupt();
}

/* A keel console start for this VM, which is off (core/console_ctl.h): true once this CPU owns it. */
static bool console_start_taken(struct vm *vm)
{
	int ctl = VM_CTL_START;
	if (READ_ONCE(vm->control) != VM_CTL_START || READ_ONCE(vm->run_state) != VM_OFF)
		return false;
	if (!__atomic_compare_exchange_n(&vm->control, &ctl, VM_CTL_NONE, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_SEQ_CST))
		return false;
	log_info("VM %s: start from the keel console", vm->name);
	return true;
}

/* Run whatever vCPU is pinned to this physical CPU, for ever. */
static NORETURN void cpu_loop(unsigned cpu)
{
	struct vcpu *mine = NULL;
	for (unsigned i = 0; i < nr_vms && !mine; i++)
		for (unsigned j = 0; j < vms[i].nr_vcpus; j++)
			if (vms[i].vcpus[j].pcpu == cpu)
				mine = &vms[i].vcpus[j];
	if (mine == NULL) {
		log_info("CPU %u: no vCPU here: parked in wfi", cpu);
		for (;;) {
			el2_wait_for_interrupt();
			cpu_handle_irqs(NULL);
		}
	}
	struct vm *vm = mine->vm;
	if (cpu == 0)
		log_info("boot to first guest entry: %llu us", (unsigned long long)(timer_us() - boot_us));
	for (;;) {
		if (READ_ONCE(mine->state) != VCPU_RUNNABLE || READ_ONCE(vm->stop_request)) {
			if (mine == &vm->vcpus[0] && console_start_taken(vm)) {
				vm_restart(vm);
				continue;
			}
			el2_wait_for_interrupt();
			cpu_handle_irqs(NULL);
			continue;
		}
		/* Paired with vm_stop: either it sees us running, or we see its request. */
		WRITE_ONCE(mine->running, true);
		smp_mb();
		if (READ_ONCE(vm->stop_request)) {
			WRITE_ONCE(mine->running, false);
			continue;
		}
		enum exit_action a = vcpu_run(mine);
		if (a == ACTION_PARK) {
			smp_mb();
			WRITE_ONCE(mine->running, false);
			continue;
		}
		if (a == ACTION_VCPU_OFF) {
			vm_vcpu_off(mine);
			smp_mb();
			WRITE_ONCE(mine->running, false);
			continue;
		}
		/* SYSTEM_RESET, SYSTEM_OFF or a fatal guest error: the whole VM, in the order of
		 * core/vm_lifecycle.h. A false vm_stop: another vCPU does it, or the VM is stuck. */
		if (vm_stop(vm, mine, a)) {
			if (a == ACTION_VM_RESET)
				vm_restart(vm);
			else
				vm_power_off(vm);
		}
		smp_mb();
		WRITE_ONCE(mine->running, false);
	}
}

void keel_main(uint64_t fdt_pa)
{
	timer_init();
	boot_us = timer_us();
	tls_setup(0);
	if (platform.ops->console_early_init)
		platform.ops->console_early_init(platform.early_uart);
	const void *fdt = pa_to_ptr(pa_init(fdt_pa));
	log_info("keel starting at EL2 on %s, DTB at 0x%llx", platform.name, (unsigned long long)fdt_pa);

	char err[256];
	if (machine_parse(fdt, &machine, err, sizeof(err)) != 0)
		panic("boot DTB: %s", err);
	if (machine.uart.size) {
		if (platform.ops->console_early_init)
			platform.ops->console_early_init(machine.uart.base);
		console_init(machine.uart.base);
	}
	log_info("%u CPU(s), %u RAM range(s) from 0x%llx, GICv%u (%s) at 0x%llx, counter %llu Hz",
		 machine.nr_cpus, machine.nr_ram, (unsigned long long)pa_addr(machine.ram[0].base),
		 machine.gic_version, machine.gic_compatible, (unsigned long long)pa_addr(machine.gicd.base),
		 (unsigned long long)timer_freq());
	report_hidden_features();

	const struct gic_hw gic = {
	    .version = machine.gic_version,
	    .gicd = machine.gicd.base,
	    .gicr = machine.gicr.base,
	    .gicr_size = machine.gicr.size,
	    .gicc = machine.gicc.base,
	    .gich = machine.gich.base,
	};
	if (gic_init(&gic) != 0 || gic_cpu_init() != 0)
		panic("GICv%u does not respond", machine.gic_version);
	cpu_setup_for_guests();

	memmap.mi = &machine;
	memmap_reserve(&memmap, ptr_to_pa(__image_start), (uint64_t)(__image_end - __image_start));
	memmap_reserve(&memmap, pa_init(fdt_pa), fdt_totalsize(fdt));
	/* Spin-table CPUs wait in firmware code polling their release address: never a VM's RAM. */
	for (unsigned i = 0; i < machine.nr_cpus; i++)
		if (machine.cpu_enable[i] == MACHINE_CPU_SPIN_TABLE)
			memmap_reserve(&memmap, pa_init(pa_addr(machine.cpu_release_addr[i]) & ~0xfffULL),
				       0x1000);
	for (unsigned i = 0; i < machine.nr_reserved; i++)
		memmap_reserve(&memmap, machine.reserved[i].base, machine.reserved[i].size);
	if (config_parse(fdt, &machine, memmap.reserved, memmap.nr_reserved, &config, err, sizeof(err)) != 0)
		panic("VM configuration: %s", err);
	for (unsigned i = 0; i < config.nr_vms; i++) {
		const struct vm_config *vc = &config.vms[i];
		if (vc->kernel.size)
			memmap_reserve(&memmap, vc->kernel.base, vc->kernel.size);
		if (vc->firmware.size)
			memmap_reserve(&memmap, vc->firmware.base, vc->firmware.size);
		if (vc->ramdisk.size)
			memmap_reserve(&memmap, vc->ramdisk.base, vc->ramdisk.size);
		for (unsigned d = 0; d < vc->nr_disks; d++)
			if (vc->disks[d].ram.size)
				memmap_reserve(&memmap, vc->disks[d].ram.base, vc->disks[d].ram.size);
	}
	if (platform.ops->storage_init && platform.ops->storage_init(fdt) != 0)
		log_warn("storage controllers: initialisation failed; disks on them are unavailable");
	unsigned seeds = entropy_init(fdt);
	if (seeds)
		log_info("boot entropy:%s%s%s; each VM boot gets its own kaslr-seed and rng-seed",
			 seeds & ENTROPY_SRC_DT_RNG_SEED ? " DT rng-seed" : "",
			 seeds & ENTROPY_SRC_DT_KASLR_SEED ? " DT kaslr-seed" : "",
			 seeds & ENTROPY_SRC_CPU_RNG ? " CPU RNDRRS" : "");
	else
		log_warn("no boot entropy (no rng-seed or kaslr-seed in /chosen, no FEAT_RNG): guests get no "
			 "kaslr-seed or rng-seed");

	for (unsigned i = 0; i < config.nr_vms; i++) {
		if (vm_create(&vms[nr_vms], i, &config.vms[i], &memmap, &machine) != 0)
			panic("%s: the VM could not be created (see above)", config.vms[i].node);
		nr_vms++;
	}
	vm_lifecycle_init(nr_vms, machine_off);
	console_ctl_init(vms, nr_vms, vm_uart_input);
	console_set_input(console_ctl_receive, NULL);
	if (console_input_start(machine.uart_intid) == 0) {
		console_vm_set_interactive(&vms[0].con);
		log_info("console input goes to VM %s (Ctrl-] k: keel console, Ctrl-] N: VM N)", vms[0].name);
	}
	hyp_tick_register(console_tick_fn, NULL); /* drains buffered console output */
	hyp_tick_register(defer_tick_fn, NULL);	  /* deferred device work of guests that make no exit */
	hyp_tick_start();
	log_info("%u VM(s) ready, %u hypervisor pages free", nr_vms, page_alloc_free());

	for (unsigned cpu = 1; cpu < machine.nr_cpus && cpu < KEEL_MAX_CPUS; cpu++) {
		bool needed = false;
		for (unsigned i = 0; i < nr_vms; i++)
			for (unsigned j = 0; j < vms[i].nr_vcpus; j++)
				needed |= vms[i].vcpus[j].pcpu == cpu;
		const struct cpu_ops *ops = cpu_ops_for(&machine, cpu);
		if (!needed && (ops == NULL || !ops->park_unused))
			continue;
		if (ops == NULL)
			panic("CPU %u: no enable-method keel can use (psci, spin-table)", cpu);
		int rc = ops->cpu_on(&machine, cpu);
		if (rc != 0)
			panic("CPU %u: %s start failed (%d)", cpu, ops->name, rc);
	}
	cpu_loop(0);
}

void keel_secondary_main(uint64_t cpu)
{
	tls_setup((unsigned)cpu);
	if (gic_cpu_init() != 0)
		panic("CPU %llu: its GIC CPU interface does not respond", (unsigned long long)cpu);
	cpu_setup_for_guests();
	log_info("CPU %llu online", (unsigned long long)cpu);
	cpu_loop((unsigned)cpu);
}

/* An exception taken by keel itself: a broken invariant. */
void el2_exception_report(uint64_t kind, const uint64_t *regs);
void el2_exception_report(uint64_t kind, const uint64_t *regs)
{
	panic("EL2 exception kind %llu: ESR 0x%llx ELR 0x%llx FAR 0x%llx x0 0x%llx x30 0x%llx",
	      (unsigned long long)kind, (unsigned long long)read_esr_el2(),
	      (unsigned long long)read_elr_el2(), (unsigned long long)read_far_el2(),
	      (unsigned long long)regs[0], (unsigned long long)regs[30]);
}
