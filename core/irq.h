/*
 * Physical interrupts keel's own drivers own (storage controllers), and a
 * periodic hypervisor tick for polled fallbacks and timeouts. Handlers run
 * at EL2 with interrupts masked, on the CPU the interrupt is routed to.
 *
 * Routing policy: every SPI registered here (storage controllers, console
 * input) and the tick go to the boot CPU, CPU 0 (irq_register routes to the
 * calling CPU, and drivers register during boot, on CPU 0). Each driver's
 * interrupt handler and tick callback then never run at the same time (the
 * drivers lock against the vCPUs' completion polling, but some counters,
 * e.g. ufs's irq count, are only safe because of this). CPU 0 usually runs a
 * vCPU too (VM 0's vCPU 0): QEMU gets exactly as many CPUs as the VMs have
 * vCPUs, so there is no idle CPU to move them to. Routing to a CPU that runs
 * no vCPU, when one exists, needs that CPU started and every handler/tick
 * pair audited for running concurrently; not done yet.
 *
 * What keeps the tick alive on CPU 0, for every VM:
 * - handlers and tick callbacks do bounded work: they complete requests and
 *   kick the owning VM (vm_request_work); they never pop or parse a guest's
 *   ring, nor loop on guest-controlled data (queue processing runs as device
 *   work on the VM's own vCPUs);
 * - CPU 0 takes interrupts whenever it is in its guest (physical IRQs are
 *   taken to EL2) and polls them while keel waits there (idle loop, vm_stop,
 *   vm_quiesce: core/vm_lifecycle.c);
 * - every EL2 wait for hardware is bounded by time.
 */
#ifndef KEEL_CORE_IRQ_H
#define KEEL_CORE_IRQ_H

#include "keel/types.h"

#define IRQ_MAX_HANDLERS 16
#define HYP_TICK_MAX	 8
#define HYP_TICK_HZ	 100

typedef void (*irq_handler_fn)(void *ctx);

/**
 * Route an SPI to the boot CPU (policy above) and call fn on it. fn must do bounded work and not
 * parse guest rings. edge: edge-triggered. Returns 0 or -ENOSPC/-EINVAL. Call on the boot CPU.
 */
int irq_register(uint32_t intid, bool edge, irq_handler_fn fn, void *ctx);
/** Call the handler for intid; false when none is registered. */
bool irq_dispatch(uint32_t intid);

/** Call fn HYP_TICK_HZ times a second on the boot CPU (driver timeouts, polled completion); bounded work. */
int hyp_tick_register(irq_handler_fn fn, void *ctx);
/** Start the tick on this CPU (boot CPU, once). */
void hyp_tick_start(void);
/** The tick's interrupt arrived: re-arm and run the callbacks. */
void hyp_tick_fire(void);

#endif
