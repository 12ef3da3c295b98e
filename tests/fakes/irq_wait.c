/*
 * Host tests: hyp_wait_irq_until. On the tests' own clock (fake_timer_manual) the sleep lasts to its
 * deadline, as the EL2 timer would end it, unless an interrupt is pending (fake_cpu_irq_pending).
 * On the real clock it returns at once, as if an interrupt had woken it: the caller looks again and
 * keeps its own time.
 */
#include "tests/fakes/irq_wait.h"

#include "arch/cpu.h"
#include "arch/timer.h"

struct fake_irq_wait fake_irq_wait;

void hyp_wait_irq_until(uint64_t deadline_us)
{
	fake_irq_wait.waits++;
	fake_irq_wait.deadline_us = deadline_us;
	if (fake_timer_manual && !fake_cpu_irq_pending && fake_timer_ns < deadline_us * 1000ULL)
		fake_timer_ns = deadline_us * 1000ULL;
}
