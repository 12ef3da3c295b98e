/*
 * Physical interrupts keel's own drivers own (storage controllers), and a
 * periodic hypervisor tick for polled fallbacks and timeouts. Handlers run
 * at EL2 with interrupts masked, on the CPU the interrupt is routed to.
 *
 * Routing policy: every SPI registered here starts on the boot CPU, CPU 0
 * (irq_register routes to the calling CPU; drivers register during boot, on
 * CPU 0), and console input and the tick stay there. A storage controller's
 * interrupt then follows its load: the share layer (drivers/storage/
 * blk_share.c) moves it with irq_route to the CPU of the VM disk with the
 * most requests at that controller, so a VM that loads a controller takes its
 * completions on its own CPU and a quiet neighbour's CPU is interrupted only
 * for about its own (QEMU gets exactly as many CPUs as the VMs have vCPUs:
 * there is no idle CPU to send them to). A driver's interrupt handler may
 * therefore run on any CPU, beside its tick on CPU 0 and beside completion
 * polling on the vCPUs: drivers keep all state they share under their lock.
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
 * Route an SPI to the calling (boot) CPU, policy above, and call fn where it is routed. fn must do bounded
 * work and not parse guest rings. edge: edge-triggered. Returns 0 or -ENOSPC/-EINVAL. Call on the boot CPU.
 */
int irq_register(uint32_t intid, bool edge, irq_handler_fn fn, void *ctx);
/**
 * Move a registered SPI to the CPU with this MPIDR (its handler then runs there). For the layer that
 * knows which CPU loads a controller most (blk_share: see "Routing policy"). Unregistered intids are
 * ignored. Bounded work; callable from any CPU and context.
 */
void irq_route(uint32_t intid, uint64_t mpidr);
/** Call the handler for intid; false when none is registered. */
bool irq_dispatch(uint32_t intid);

/**
 * Ready the EL2 timer and its interrupt on the calling CPU (every CPU, once, before it runs guests):
 * off until the tick (boot CPU) or a wait (hyp_wait_irq_until) arms it.
 */
void hyp_timer_cpu_init(void);
/**
 * Sleep, interrupts masked, until a physical interrupt is pending on this CPU or keel's clock
 * (timer_us) reaches deadline_us; the EL2 timer ends the sleep at the deadline (on the tick's CPU
 * the tick keeps its own expiry). Returns at once if an interrupt is already pending; may return
 * early: the caller checks what it waits for and the time. For a wait whose end comes as an
 * interrupt (a controller's completion, a kick): the CPU sleeps instead of spinning, which on an
 * emulator leaves the host CPU to the emulated device.
 */
void hyp_wait_irq_until(uint64_t deadline_us);
/** Call fn HYP_TICK_HZ times a second on the boot CPU (driver timeouts, polled completion); bounded work. */
int hyp_tick_register(irq_handler_fn fn, void *ctx);
/** Start the tick on this CPU (boot CPU, once, after hyp_timer_cpu_init). */
void hyp_tick_start(void);
/**
 * The EL2 timer's interrupt arrived (acknowledged): on the tick's CPU re-arm and run the callbacks;
 * elsewhere it can only be a wait's deadline that outlived its wait: the timer is turned off. Either
 * way it deactivates the interrupt first, so that a lock wait inside a callback can nap (spin_nap).
 */
void hyp_tick_fire(void);

#endif
