/* Virtual timer: CNTV_TVAL_EL0 is re-armed on every interrupt, which also lowers the level. */
#include <stdint.h>

#include "arch.h"
#include "gic.h"
#include "timer.h"

#define CNTV_CTL_ENABLE (1u << 0)
#define CNTV_CTL_IMASK	(1u << 1)

static volatile uint64_t ticks;
static uint64_t period;

uint64_t timer_freq(void)
{
	return read_sysreg(cntfrq_el0);
}

uint64_t timer_now(void)
{
	isb();
	return read_sysreg(cntvct_el0);
}

static void timer_irq(uint32_t intid)
{
	(void)intid;
	ticks++;
	write_sysreg(cntv_tval_el0, period);
	isb();
}

int timer_start(uint32_t intid, uint32_t hz)
{
	uint64_t f = timer_freq();

	if (!f || !hz)
		return -1;
	period = f / hz;
	if (gic_enable_ppi(intid, timer_irq))
		return -1;
	write_sysreg(cntv_tval_el0, period);
	write_sysreg(cntv_ctl_el0, CNTV_CTL_ENABLE);
	isb();
	return 0;
}

void timer_stop(void)
{
	write_sysreg(cntv_ctl_el0, CNTV_CTL_IMASK);
	isb();
}

uint64_t timer_ticks(void)
{
	return ticks;
}

static uint64_t ms_to_cnt(uint32_t ms)
{
	uint64_t f = timer_freq();

	return f ? f / 1000 * ms : (uint64_t)ms * 62500;
}

void delay_ms(uint32_t ms)
{
	uint64_t end = timer_now() + ms_to_cnt(ms);
	/* WFI only while the periodic timer runs and has ticked: it is then the wake-up source. */
	int sleep =
	    ticks > 0 && (read_sysreg(cntv_ctl_el0) & (CNTV_CTL_ENABLE | CNTV_CTL_IMASK)) == CNTV_CTL_ENABLE;

	while (timer_now() < end)
		if (sleep)
			wfi();
}

uint64_t timer_wait_ticks(uint64_t n, uint32_t timeout_ms)
{
	uint64_t start = ticks, end = timer_now() + ms_to_cnt(timeout_ms);

	while (ticks - start < n && timer_now() < end)
		;
	return ticks - start;
}
