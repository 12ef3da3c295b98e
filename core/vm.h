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
#include "keel/ratelimit.h"

#define VM_MAX	     4
#define VM_MAX_VCPUS 4
#define VM_NAME_MAX  32

enum vcpu_state { VCPU_OFF, VCPU_RUNNABLE, VCPU_STOPPED };

/** Where a VM is in its life (core/vm_lifecycle.h). Only VM_RUNNING counts as "on". */
enum vm_run_state {
	VM_RUNNING, /**< its vCPUs may run (also while one of them stops or resets it) */
	VM_OFF,	    /**< powered off (SYSTEM_OFF, SError, a failed reload) */
	VM_STUCK,   /**< stopped for good: a vCPU did not leave its guest, or a device kept DMA in flight */
};

/** A keel console command waiting for the VM's own CPUs (core/console_ctl.h). */
enum vm_control { VM_CTL_NONE, VM_CTL_STOP, VM_CTL_RESET, VM_CTL_START };

struct vm;

#define VCPU_TIME_SAMPLE 16u

/** What a vCPU exit was, for counters (vm_report, the keel console's stats). */
enum vcpu_exit_kind {
	VCPU_EXIT_MMIO,	  /**< stage-2 data abort: emulated device or refused access */
	VCPU_EXIT_IRQ,	  /**< a physical interrupt (device, tick, kick) */
	VCPU_EXIT_WFX,	  /**< WFI / WFE */
	VCPU_EXIT_HVC,	  /**< HVC / SMC (PSCI) */
	VCPU_EXIT_SYSREG, /**< trapped system register */
	VCPU_EXIT_OTHER,  /**< instruction aborts, SError, anything else */
	VCPU_EXIT_NR
};

struct vcpu {
	struct vm *vm;
	unsigned index; /**< vCPU number inside the VM (vMPIDR Aff0) */
	unsigned pcpu;	/**< physical CPU it is pinned to */
	uint64_t vmpidr;
	enum vcpu_state state;
	struct arch_vcpu_ctx ctx; /**< registers; must stay first-class for asm */
	struct vgic_vcpu vgic;
	volatile bool running; /**< inside vcpu_run (guest state live on its pCPU) */
	uint64_t injected_pc;  /**< the vector keel last sent the guest to (0: none yet) */
	uint64_t exits;
	uint64_t exit_kinds[VCPU_EXIT_NR]; /**< exits by enum vcpu_exit_kind */
	/* Sampled: one exit in VCPU_TIME_SAMPLE is timed (see vcpu_run). */
	uint64_t timed_exits;
	uint64_t el2_ticks; /**< counter ticks spent in keel between a timed exit and the next entry */
	uint64_t timed_kinds[VCPU_EXIT_NR];    /**< timed exits by enum vcpu_exit_kind */
	uint64_t el2_ticks_kind[VCPU_EXIT_NR]; /**< el2_ticks by the kind of the timed exit */
	uint64_t guest_ticks;		       /**< counter ticks spent in the guest before each timed exit */
};

struct vm;

/**
 * What keel asks of a VM's virtual devices.
 *
 * Stop/reset order (core/vm_lifecycle.c): every vCPU of the VM leaves its guest; then quiesce is called on
 * every device, repeatedly, until all return true or a deadline passes; only then is the VM's RAM
 * reloaded and reset called. A VM whose devices do not quiesce stays stopped.
 */
struct vm_dev_ops {
	/**
	 * Stop taking requests from the guest and abort those in flight (blkdev cancel). Returns true
	 * once no DMA of this device can still target the VM's memory. Called with the VM's vCPUs
	 * stopped, repeatedly; must not block for long (the caller waits by time). May be NULL.
	 */
	bool (*quiesce)(void *dev);
	/** The VM resets (PSCI SYSTEM_RESET, or a start after a stop): back to power-on state. Only
	 * after quiesce returned true. */
	void (*reset)(void *dev);
	/**
	 * Deferred device work (queue processing) on one of the VM's own vCPUs, asked for with
	 * vm_request_work. Bounded: at most one queue's worth per call. Returns true when more work
	 * remains (the caller lets the guest run and calls again soon). May be NULL.
	 */
	bool (*work)(void *dev);
	/** Log the device's counters (VM reset or power-off). May be NULL. */
	void (*report)(void *dev, const struct vm *vm);
};

/** Causes of guest-triggerable log lines in core, each limited by time per VM (core/vm_log.h). */
enum vm_log_cause {
	VM_LOG_STAGE2,
	VM_LOG_ISV0,
	VM_LOG_SYSREG,
	VM_LOG_EC,
	VM_LOG_PSCI,
	VM_LOG_VGIC,
	VM_LOG_NR
};

struct vm_dev_hook {
	const struct vm_dev_ops *ops;
	void *dev;
	const char *kind; /**< DT compatible of the device's node, for log lines; NULL without a node */
	uint64_t base;	  /**< its IPA (with a node) */
};

#define VM_MAX_DEV_HOOKS 8

struct vm {
	char name[VM_NAME_MAX];
	unsigned id;
	uint16_t vmid;
	struct guest_mem mem;
	paddr_t s2_root; /**< stage-2 root table */
	/** Firmware VM (cfg->firmware): storage of its two CFI flash banks, GUEST_FLASH_BANK bytes each
	 * (bank 0: the firmware image, then zeros; bank 1: variables, erased at creation, kept across
	 * resets). 0 otherwise. */
	paddr_t flash_pa;
	struct mmio_bus mmio;
	struct vgic_dist vgic;
	unsigned nr_vcpus;
	struct vcpu vcpus[VM_MAX_VCPUS];
	struct con_stream con;
	const struct vm_config *cfg;
	const struct machine_info *mi;
	volatile enum vm_run_state run_state;
	/**
	 * enum exit_action of whoever stops the VM (vm_stop claims it), 0 = none. vCPUs leave their
	 * guest while it is set; a VM that is off or stuck keeps it set (vm_restart clears it).
	 */
	volatile int stop_request;
	/** enum vm_control posted by the keel console; taken (reset to NONE) by whoever acts on it. */
	volatile int control;
	uint64_t loaded_us;	       /**< when vm_load last ran (uptime) */
	bool crashed;		       /**< went off because it could not take an exception (vcpu.c) */
	volatile bool work_pending;    /**< vm_request_work was called; vm_run_work clears it */
	volatile bool work_busy;       /**< a vCPU runs the work hooks (they are not reentrant) */
	volatile uint32_t idle_vcpus;  /**< bit per vCPU: its last trap was a WFI (vm_guest_idle) */
	volatile bool wfi_seen;	       /**< a vCPU trapped on WFI since the VM was loaded */
	volatile uint64_t idled_us;    /**< timer_us of the last WFI trap of any vCPU */
	volatile uint64_t defer_until; /**< vm_defer_work's deadline, timer_us (0: none) */
	struct ratelimit rl_lifecycle; /**< "still waiting" lines of vm_stop */
	struct vpl011 uart;
	struct vm_dev_hook dev_hooks[VM_MAX_DEV_HOOKS];
	unsigned nr_dev_hooks;
	struct guest_fdt_dev fdt_devs[GUEST_FDT_MAX_DEVS]; /**< devices listed in the guest DTB */
	unsigned nr_fdt_devs;
	unsigned nr_virtio; /**< virtio-mmio slots used */
	uint64_t resets;
	struct ratelimit log_rl[VM_LOG_NR]; /**< per cause; racy updates are harmless */
	uint64_t stop_races;		    /**< vm_stop calls that found the VM already being stopped */
};

/** Build a VM from its configuration: RAM, stage-2, vGIC, UART, devices, images. Returns 0 or negative. */
int vm_create(struct vm *vm, unsigned id, const struct vm_config *cfg, struct memmap *mm,
	      const struct machine_info *mi);
/**
 * (Re)load the kernel, initrd and DTB into the VM's RAM and reset its vCPUs' registers (vCPU 0
 * runnable at the kernel entry, the others off). Devices and vGIC are not touched: at a reset the
 * caller (vm_restart) has quiesced and reset them first. A firmware VM gets only its DTB, at RAM
 * base, and vCPU 0 starts at IPA 0 (its flash). Returns 0, or -EINVAL (images do not fit).
 */
int vm_load(struct vm *vm);
/** Map host memory read-only (and executable) at an IPA of the VM; 2 MiB-aligned. Returns 0 or negative. */
int vm_map_rom(struct vm *vm, ipa_t ipa, paddr_t pa, uint64_t size);
/** Take such a mapping away again (on one of the VM's own vCPUs, or while it does not run). */
int vm_unmap_rom(struct vm *vm, ipa_t ipa, uint64_t size);
/** Map keel's page (4 KiB-aligned) read-only at ipa, before the VM runs: a device's register shadow
 * (its reads do not trap; its stores fault and reach the MMIO bus as before). */
int vm_map_shadow(struct vm *vm, ipa_t ipa, const void *page);
/** Register a device's DT node and hooks (either may be NULL); false when the tables are full. */
bool vm_add_device(struct vm *vm, const struct guest_fdt_dev *node, const struct vm_dev_ops *ops, void *dev);
/** Log every device's counters and the vCPUs' exit counts. */
void vm_report(const struct vm *vm);
/** Total exits of the VM's vCPUs. */
uint64_t vm_exits(const struct vm *vm);
/**
 * Ask for the VM's device work hooks to run on one of its own vCPUs (the one with index vcpu_hint
 * if it is runnable, else any runnable one), soon. Callable from any context and CPU: it only sets
 * a flag and kicks. Never runs the work itself. Not lost: every vCPU of the VM checks the flag
 * before each guest entry, and a vCPU that turns off hands it over (vm_vcpu_off). Work asked for
 * while the VM is stopped waits; a reset drops it (the devices are reset).
 * (core/vm_lifecycle.c)
 */
void vm_request_work(struct vm *vm, unsigned vcpu_hint);
/**
 * Run the VM's pending device work on the current vCPU (vcpu_run calls it before each entry):
 * one vCPU at a time, never while the VM is being stopped, one bounded pass per entry.
 */
void vm_run_work(struct vcpu *vcpu);

/*
 * Device work deferred to the guest's idle time (core/vm_defer.c): a device that holds back an
 * interrupt while the guest is busy (coalescing) asks for its work to run when a vCPU next waits
 * for an interrupt, or by a deadline.
 */

/**
 * Run the VM's device work hooks (as vm_request_work) when one of its vCPUs next traps on WFI, or
 * at the first exit of one of its vCPUs `us` or more from now. keel's tick checks the deadline too,
 * so a guest that makes no exit waits at most 1/HYP_TICK_HZ more. The earliest deadline asked for
 * holds until it is met. Any context.
 */
void vm_defer_work(struct vm *vm, uint32_t us);
/**
 * Some vCPU of the VM waits for an interrupt (its last trap was a WFI, not a device access since),
 * or the guest has never trapped on WFI: it idles by polling (Linux's idle=poll, bare-metal code),
 * so it would never say it is idle, and counts as idle (nothing is held back for it).
 */
bool vm_guest_idle(const struct vm *vm);
/** timer_us of the last WFI trap of any of the VM's vCPUs (0: none since keel started). */
uint64_t vm_last_idle_us(const struct vm *vm);
/** vcpu trapped on WFI: it is idle. True when deferred work was due: it runs now, do not sleep. */
bool vm_vcpu_idles(struct vcpu *vcpu);
/** vcpu trapped on a device access (MMIO): it is busy. */
void vm_vcpu_busy(struct vcpu *vcpu);
/** Ask for the deferred work if its deadline has passed (vcpu_run after each exit; keel's tick). */
void vm_defer_check(struct vm *vm, unsigned vcpu_hint);

/** The next free virtio-mmio slot: its IPA and INTID. False when all are used. */
bool vm_alloc_virtio_slot(struct vm *vm, ipa_t *base, uint32_t *intid);

#endif
