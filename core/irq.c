#include "core/irq.h"

#include <errno.h>

#include "arch/barrier.h"
#include "arch/cpu.h"
#include "arch/el2.h"
#include "arch/gic.h"
#include "arch/spinlock.h"
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

/* The CPU the tick runs on (the boot CPU, once started), and its next expiry in counter ticks
 * (read and written on that CPU only). */
static uint64_t tick_mpidr = ~0ULL;
static uint64_t tick_due;

static void tick_arm(void)
{
	tick_due = timer_count() + timer_freq() / HYP_TICK_HZ;
	write_cnthp_cval_el2(tick_due);
	write_cnthp_ctl_el2(1); /* enabled, not masked */
}

void hyp_timer_cpu_init(void)
{
	write_cnthp_ctl_el2(0); /* its reset value is unknown */
	isb();
	gic_set_priority(GIC_PPI_HYP_TIMER, GIC_PRIO_TICK);
	gic_enable(GIC_PPI_HYP_TIMER, false, 0);
	spin_nap_ready();
}

static bool on_tick_cpu(void)
{
	return cpu_mpidr() == READ_ONCE(tick_mpidr);
}

void hyp_tick_start(void)
{
	WRITE_ONCE(tick_mpidr, cpu_mpidr());
	tick_arm();
}

void hyp_wait_irq_until(uint64_t deadline_us)
{
	uint64_t cval = timer_count_at_us(deadline_us);
	bool tick_cpu = on_tick_cpu();
	if (!tick_cpu || cval < tick_due) {
		write_cnthp_cval_el2(cval);
		write_cnthp_ctl_el2(1);
		isb();
	}
	if (!cpu_irq_pending())
		el2_wait_for_interrupt();
	/* The deadline's interrupt (a level) goes away with its condition, before anyone takes it. */
	if (tick_cpu)
		write_cnthp_cval_el2(tick_due);
	else
		write_cnthp_ctl_el2(0);
	isb();
}

void hyp_tick_fire(void)
{
	if (!on_tick_cpu()) {
		write_cnthp_ctl_el2(0);
		isb();
		gic_deactivate(GIC_PPI_HYP_TIMER);
		return;
	}
	tick_arm();
	isb();
	/* Its condition is gone (next tick): inactive before the callbacks, whose lock waits may nap
	 * (spin_nap) until this interrupt, which could not be taken while it is active. */
	gic_deactivate(GIC_PPI_HYP_TIMER);
	for (unsigned i = 0; i < nr_ticks; i++)
		ticks[i].fn(ticks[i].ctx);
}
