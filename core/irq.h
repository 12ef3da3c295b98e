/*
 * Physical interrupts keel's own drivers own (storage controllers), and a
 * periodic hypervisor tick for polled fallbacks and timeouts. Handlers run
 * at EL2 with interrupts masked, on the CPU the interrupt is routed to.
 */
#ifndef KEEL_CORE_IRQ_H
#define KEEL_CORE_IRQ_H

#include "keel/types.h"

#define IRQ_MAX_HANDLERS 16
#define HYP_TICK_MAX	 8
#define HYP_TICK_HZ	 100

typedef void (*irq_handler_fn)(void *ctx);

/** Route an SPI to the boot CPU and call fn on it. edge: edge-triggered. Returns 0 or -ENOSPC/-EINVAL. */
int irq_register(uint32_t intid, bool edge, irq_handler_fn fn, void *ctx);
/** Call the handler for intid; false when none is registered. */
bool irq_dispatch(uint32_t intid);

/** Call fn HYP_TICK_HZ times a second on the boot CPU (driver timeouts, polled completion). */
int hyp_tick_register(irq_handler_fn fn, void *ctx);
/** Start the tick on this CPU (boot CPU, once). */
void hyp_tick_start(void);
/** The tick's interrupt arrived: re-arm and run the callbacks. */
void hyp_tick_fire(void);

#endif
