/* EL1 virtual timer (CNTV_*), periodic via the GIC, plus counter-based delays. */
#ifndef GUEST_TIMER_H
#define GUEST_TIMER_H

#include <stdint.h>

#define VTIMER_DEFAULT_INTID 27

uint64_t timer_freq(void);
uint64_t timer_now(void);
/** Starts a periodic virtual-timer interrupt at `hz` on PPI `intid` (GIC must be up). */
int timer_start(uint32_t intid, uint32_t hz);
void timer_stop(void);
uint64_t timer_ticks(void);
/** Waits `ms` of counter time; sleeps in WFI once the timer is known to tick, else spins. */
void delay_ms(uint32_t ms);
/** Waits until `n` more ticks arrived or `timeout_ms` passed; returns the ticks seen. */
uint64_t timer_wait_ticks(uint64_t n, uint32_t timeout_ms);

#endif
