/* Host tests: irq_route records where a layer moved an interrupt (core/irq.h). */
#include "tests/fakes/irq_route.h"

struct fake_irq_route fake_irq_route;

void irq_route(uint32_t intid, uint64_t mpidr)
{
	fake_irq_route.intid = intid;
	fake_irq_route.mpidr = mpidr;
	fake_irq_route.moves++;
}
