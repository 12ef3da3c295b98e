/* Running a vCPU: the enter/exit loop and the exit handlers. */
#ifndef KEEL_CORE_VCPU_H
#define KEEL_CORE_VCPU_H

#include "core/vm.h"

/** What runs next after an exit has been handled. */
enum exit_action {
	ACTION_RESUME,	 /**< re-enter the same vCPU */
	ACTION_VCPU_OFF, /**< PSCI CPU_OFF: this vCPU stops */
	ACTION_VM_OFF,	 /**< PSCI SYSTEM_OFF */
	ACTION_VM_RESET, /**< PSCI SYSTEM_RESET */
	ACTION_PARK,	 /**< another vCPU is resetting or stopping the VM: leave the guest */
};

/** Run the vCPU on this physical CPU until it stops; returns why. */
enum exit_action vcpu_run(struct vcpu *vcpu);

/** Acknowledge and handle pending physical interrupts; vcpu is the one on this CPU (NULL when idle). */
void cpu_handle_irqs(struct vcpu *vcpu);

/** Make the vCPU's physical CPU re-evaluate its interrupts (an SGI unless it is this CPU). */
void vcpu_kick(struct vcpu *vcpu);

/** Make this CPU leave its guest right after the next entry (pending work to do in keel). */
void vcpu_kick_self(void);

/** Handle a PSCI call from the guest (x0 = function ID); results go to x0. */
enum exit_action psci_handle(struct vcpu *vcpu);

/** Inject a synchronous external data abort for an access to far. */
void vcpu_inject_dabt(struct vcpu *vcpu, bool write);
/** Inject an undefined-instruction exception. */
void vcpu_inject_undef(struct vcpu *vcpu);

#endif
