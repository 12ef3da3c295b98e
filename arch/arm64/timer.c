/* The generic timer's frequency, read once (contract: arch/timer.h). */
#include "arch/timer.h"

uint64_t timer_hz;

void timer_init(void)
{
	timer_hz = read_cntfrq_el0();
}
