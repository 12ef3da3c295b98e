#include "core/irq.h"

#include <errno.h>

#include "arch/gic.h"
#include "arch/sysreg.h"
#include "arch/timer.h"

struct irq_handler {
	uint32_t intid;
	irq_handler_fn fn;
	void *ctx;
};

static struct irq_handler handlers[IRQ_MAX_HANDLERS];
static unsigned nr_handlers;
static struct irq_handler ticks[HYP_TICK_MAX];
static unsigned nr_ticks;

int irq_register(uint32_t intid, bool edge, irq_handler_fn fn, void *ctx)
{
	if (intid < 32 || intid >= 1020 || fn == NULL)
		return -EINVAL;
	if (nr_handlers >= IRQ_MAX_HANDLERS)
		return -ENOSPC;
	handlers[nr_handlers++] = (struct irq_handler){intid, fn, ctx};
	gic_set_priority(intid, GIC_PRIO_KEEL);
	gic_enable(intid, edge, read_mpidr_el1());
	return 0;
}

void irq_route(uint32_t intid, uint64_t mpidr)
{
	for (unsigned i = 0; i < nr_handlers; i++) {
		if (handlers[i].intid == intid) {
			gic_route(intid, mpidr);
			return;
		}
	}
}

bool irq_dispatch(uint32_t intid)
{
	bool found = false;
	for (unsigned i = 0; i < nr_handlers; i++) {
		if (handlers[i].intid == intid) {
			handlers[i].fn(handlers[i].ctx);
			found = true;
		}
	}
	return found;
}

int hyp_tick_register(irq_handler_fn fn, void *ctx)
{
	if (nr_ticks >= HYP_TICK_MAX)
		return -ENOSPC;
	ticks[nr_ticks++] = (struct irq_handler){GIC_PPI_HYP_TIMER, fn, ctx};
	return 0;
}

static void tick_arm(void)
{
	write_cnthp_tval_el2(timer_freq() / HYP_TICK_HZ);
	write_cnthp_ctl_el2(1); /* enabled, not masked */
}

void hyp_tick_start(void)
{
	gic_set_priority(GIC_PPI_HYP_TIMER, GIC_PRIO_TICK);
	gic_enable(GIC_PPI_HYP_TIMER, false, 0);
	tick_arm();
}

void hyp_tick_fire(void)
{
	tick_arm();
	for (unsigned i = 0; i < nr_ticks; i++)
		ticks[i].fn(ticks[i].ctx);
}
