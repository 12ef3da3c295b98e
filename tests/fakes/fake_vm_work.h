/*
 * Host-test vm_request_work (core/vm.h): records each call per VM and keeps a pending flag, as
 * core/vm.c does, so a test can run the work hooks the way the VM's vCPU loop would.
 */
#ifndef KEEL_TESTS_FAKE_VM_WORK_H
#define KEEL_TESTS_FAKE_VM_WORK_H

#include "core/vm.h"

/** Forget every recorded call and pending flag. */
void fake_vm_work_reset(void);
/** vm_request_work calls for vm since the last fake_vm_work_reset. */
unsigned fake_vm_work_calls(const struct vm *vm);
/** The vcpu_hint of vm's last call (0 when none). */
unsigned fake_vm_work_last_hint(const struct vm *vm);
/** Was work asked for vm since the last take? Clears the flag (vm_run_work's exchange). */
bool fake_vm_work_take(const struct vm *vm);
/** Is work pending for vm (without clearing)? */
bool fake_vm_work_pending(const struct vm *vm);
/** vm_guest_idle answers !busy for every VM (reset: idle, so no interrupt is ever held). */
void fake_vm_set_busy(bool busy);
/** vm_last_idle_us answers us for every VM from now on (reset: the current timer_us at each call,
 * a guest that always waited lately). */
void fake_vm_set_last_idle_us(uint64_t us);
/** vm_defer_work calls since the reset, and the last one's `us` (if last_us). The fake only
 * records them: a test runs the release (the work hook) itself. */
unsigned fake_vm_defers(uint32_t *last_us);

#endif
