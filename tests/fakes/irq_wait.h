/* Host tests: hyp_wait_irq_until's calls (tests/fakes/irq_wait.c). */
#ifndef KEEL_TESTS_FAKES_IRQ_WAIT_H
#define KEEL_TESTS_FAKES_IRQ_WAIT_H

#include "core/irq.h"

struct fake_irq_wait {
	unsigned waits;	      /**< calls */
	uint64_t deadline_us; /**< the last call's deadline */
};

extern struct fake_irq_wait fake_irq_wait;

#endif
