/* Host tests: the last irq_route call and how many there were (tests/fakes/irq_route.c). */
#ifndef KEEL_TESTS_FAKES_IRQ_ROUTE_H
#define KEEL_TESTS_FAKES_IRQ_ROUTE_H

#include "core/irq.h"

struct fake_irq_route {
	uint32_t intid;
	uint64_t mpidr;
	unsigned moves;
};

extern struct fake_irq_route fake_irq_route;

#endif
