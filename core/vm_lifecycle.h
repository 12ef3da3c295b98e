/*
 * A VM's life after construction: stop, quiesce, reset and power-off, in the one order that keeps
 * device DMA away from freshly loaded memory:
 *
 *   vm_stop      every vCPU leaves its guest (waited for by time)
 *   quiesce      every device's vm_dev_ops.quiesce until all return true (waited for by time)
 *   reset        vGIC, then every device's reset hook
 *   vm_load      kernel, initrd and DTB copied in, vCPU registers reset
 *
 * A VM whose vCPUs do not stop or whose devices do not quiesce in time stays stopped (VM_STUCK) with
 * a log line saying what is still busy; it counts as off, and the other VMs run on. Nothing here
 * panics: a guest can trigger every path.
 *
 * The callers are the vCPU loop: PSCI SYSTEM_RESET / SYSTEM_OFF, and the keel console's stop, reset
 * and start, which the VM's own CPUs carry out (core/console_ctl.h).
 */
#ifndef KEEL_CORE_VM_LIFECYCLE_H
#define KEEL_CORE_VM_LIFECYCLE_H

#include "core/vm.h"

/** How long vm_stop waits for the other vCPUs to leave their guest. */
#define VM_STOP_TIMEOUT_US 3000000u
/** How long devices get to abort their in-flight requests (above a UFS abort, below a human's patience). */
#define VM_QUIESCE_TIMEOUT_US 5000000u
/** Pause between two rounds of quiesce calls (interrupts are handled meanwhile). */
#define VM_QUIESCE_POLL_US 50u
/** Interval of the "still waiting" lines of vm_stop. */
#define VM_STOP_LOG_US 500000u

/**
 * The machine runs nr_vms VMs, all on. all_off is called (once, from the CPU that turns the last
 * one off) when none is left running; it may not return.
 */
void vm_lifecycle_init(unsigned nr_vms, void (*all_off)(void));

/**
 * Stop every vCPU of the VM. self: the calling vCPU (it is running and stays so; its caller leaves
 * the guest) or NULL from outside the VM (a CPU not inside vcpu_run: it handles its interrupts). why: the
 * enum exit_action to record (non-zero). True: the caller now owns the stopped VM and must finish with
 * vm_restart or vm_power_off. False: another caller already stops it (self just leaves its guest), or a vCPU
 * did not leave its guest within VM_STOP_TIMEOUT_US (logged; the VM is left VM_STUCK). Handles this CPU's
 * interrupts while it waits, so the tick and completions on this CPU go on.
 */
bool vm_stop(struct vm *vm, struct vcpu *self, int why);

/**
 * Call every device's quiesce hook until all returned true, for at most VM_QUIESCE_TIMEOUT_US
 * (interrupts handled meanwhile). False when one did not: logged with the device and its counters.
 * Only on a VM stopped by vm_stop.
 */
bool vm_quiesce(struct vm *vm);

/** Run every device's reset hook (power-on state). On a new or quiesced VM only. */
void vm_reset_devices(struct vm *vm);

/**
 * On a VM the caller stopped (vm_stop returned true) or that is off: quiesce, reset the vGIC and
 * devices, reload RAM and vCPUs, then let vCPU 0 run. When a device does not quiesce the VM is
 * left VM_STUCK; when the images do not load, VM_OFF. Returns true when the VM runs again.
 */
bool vm_restart(struct vm *vm);

/** On a VM the caller stopped: flush its console line, report, quiesce, and leave it VM_OFF. */
void vm_power_off(struct vm *vm);

/** The vCPU turned itself off (PSCI CPU_OFF): pending device work goes to another vCPU. */
void vm_vcpu_off(struct vcpu *vcpu);

/** Number of VMs running (VM_RUNNING). */
unsigned vm_running_count(void);

#endif
