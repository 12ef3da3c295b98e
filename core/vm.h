/*
 * VMs and vCPUs. Each vCPU is pinned to one physical CPU; a VM owns its
 * stage-2 tables, RAM (guest_mem), MMIO bus, vGIC distributor and devices.
 */
#ifndef KEEL_CORE_VM_H
#define KEEL_CORE_VM_H

#include "arch/spinlock.h"
#include "arch/vcpu_ctx.h"
#include "core/config.h"
#include "core/console.h"
#include "core/guest_fdt.h"
#include "core/guest_mem.h"
#include "core/memmap.h"
#include "core/mmio.h"
#include "core/vgic_state.h"
#include "core/vm_layout.h"
#include "core/vpl011.h"

#define VM_MAX	     4
#define VM_MAX_VCPUS 4
#define VM_NAME_MAX  32

enum vcpu_state { VCPU_OFF, VCPU_RUNNABLE, VCPU_STOPPED };

struct vm;

#define VCPU_TIME_SAMPLE 16u

struct vcpu {
	struct vm *vm;
	unsigned index; /**< vCPU number inside the VM (vMPIDR Aff0) */
	unsigned pcpu;	/**< physical CPU it is pinned to */
	uint64_t vmpidr;
	enum vcpu_state state;
	struct arch_vcpu_ctx ctx; /**< registers; must stay first-class for asm */
	struct vgic_vcpu vgic;
	volatile bool running; /**< inside vcpu_run (guest state live on its pCPU) */
	uint64_t exits;
	/* Sampled: one exit in VCPU_TIME_SAMPLE is timed (see vcpu_run). */
	uint64_t timed_exits;
	uint64_t el2_ticks;   /**< counter ticks spent in keel between a timed exit and the next entry */
	uint64_t guest_ticks; /**< counter ticks spent in the guest before each timed exit */
};

struct vm;

/** What keel asks of a VM's virtual devices. */
struct vm_dev_ops {
	/** The VM resets (PSCI SYSTEM_RESET): back to power-on state. */
	void (*reset)(void *dev);
	/** Log the device's counters (VM reset or power-off). May be NULL. */
	void (*report)(void *dev, const struct vm *vm);
};

struct vm_dev_hook {
	const struct vm_dev_ops *ops;
	void *dev;
};

#define VM_MAX_DEV_HOOKS 8

struct vm {
	char name[VM_NAME_MAX];
	unsigned id;
	uint16_t vmid;
	struct guest_mem mem;
	paddr_t s2_root; /**< stage-2 root table */
	struct mmio_bus mmio;
	struct vgic_dist vgic;
	unsigned nr_vcpus;
	struct vcpu vcpus[VM_MAX_VCPUS];
	struct console_vm_line con;
	const struct vm_config *cfg;
	const struct machine_info *mi;
	bool powered_off;
	volatile int stop_request; /**< enum exit_action a vCPU asked of the whole VM, 0 = none */
	struct vpl011 uart;
	struct vm_dev_hook dev_hooks[VM_MAX_DEV_HOOKS];
	unsigned nr_dev_hooks;
	struct guest_fdt_dev fdt_devs[GUEST_FDT_MAX_DEVS]; /**< devices listed in the guest DTB */
	unsigned nr_fdt_devs;
	unsigned nr_virtio; /**< virtio-mmio slots used */
	uint64_t resets;
};

/** Build a VM from its configuration: RAM, stage-2, vGIC, UART, devices, images. Returns 0 or negative. */
int vm_create(struct vm *vm, unsigned id, const struct vm_config *cfg, struct memmap *mm,
	      const struct machine_info *mi);
/** (Re)load the images and DTB and reset vCPUs and devices: boot or PSCI SYSTEM_RESET. */
int vm_load(struct vm *vm);
/** Register a device's DT node and reset hook; false when the tables are full. */
bool vm_add_device(struct vm *vm, const struct guest_fdt_dev *node, const struct vm_dev_ops *ops, void *dev);
/** Log every device's counters and the vCPUs' exit counts. */
void vm_report(const struct vm *vm);
/** Total exits of the VM's vCPUs. */
uint64_t vm_exits(const struct vm *vm);
/** The next free virtio-mmio slot: its IPA and INTID. False when all are used. */
bool vm_alloc_virtio_slot(struct vm *vm, ipa_t *base, uint32_t *intid);

#endif
