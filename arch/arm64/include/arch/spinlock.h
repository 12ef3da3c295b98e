/*
 * Ticket spinlock (arm64, exclusives only: LSE-free for -mno-outline-atomics portability). Fair: CPUs
 * get the lock in the order they asked for it, so a CPU that takes and drops a shared lock in a
 * loop (a VM driving a shared controller) cannot starve another CPU waiting for it.
 * The word holds the ticket being served in bits 0-15 and the next ticket in bits 16-31.
 */
#ifndef KEEL_ARCH_SPINLOCK_H
#define KEEL_ARCH_SPINLOCK_H

#include <stdbool.h>
#include <stdint.h>

struct spinlock {
	volatile uint32_t v;
};

#define SPINLOCK_INIT                                                                                        \
	{                                                                                                    \
		0                                                                                            \
	}

/*
 * A waiter looks at the clock every SPIN_NAP_AFTER rounds of wfe; once it has waited SPIN_NAP_WAIT_US
 * since its first look, it naps SPIN_NAP_US at each later look. On hardware a lock is held for
 * microseconds and no waiter naps; under emulation a holder whose host thread was descheduled
 * keeps its waiters for host time slices (milliseconds). 2 ms, not less: an SD step machine holds
 * its lock across register writes in which QEMU moves ADMA data, for hundreds of microseconds, and
 * a nap's timer writes wait for the same emulator lock (200 us measured slower SD reads).
 */
#define SPIN_NAP_AFTER	 128u
#define SPIN_NAP_WAIT_US 2000u
#define SPIN_NAP_US	 20u

/**
 * Sleep up to SPIN_NAP_US (wfi, woken by any interrupt or the EL2 timer; the timer's own setting is
 * put back). For a waiter that has waited SPIN_NAP_WAIT_US without its turn: under emulation each
 * CPU is a host thread, wfe does not sleep, and the holder (or the ticket before ours) may be a
 * thread the host descheduled, which a spinning waiter keeps off a host core. Does nothing on a
 * CPU that has not called spin_nap_ready. Interrupts masked (EL2); any context.
 */
void spin_nap(void);
/** This CPU's EL2 timer interrupt is enabled at the GIC: its naps end (the CPU's timer setup). */
void spin_nap_ready(void);

/** spin_lock's wait for ticket me: wfe rounds, napping once the wait is long (arch/arm64/spin_nap.c). */
void spin_lock_wait(struct spinlock *l, uint32_t me);

static inline void spin_lock(struct spinlock *l)
{
	uint32_t old, tmp, fail;
	__asm__ volatile(/* take a ticket: next += 1 */
			 "1:	ldaxr	%w0, [%3]\n"
			 "	add	%w1, %w0, #0x10000\n"
			 "	stxr	%w2, %w1, [%3]\n"
			 "	cbnz	%w2, 1b\n"
			 : "=&r"(old), "=&r"(tmp), "=&r"(fail)
			 : "r"(&l->v)
			 : "memory", "cc");
	uint32_t me = old >> 16;
	if ((old & 0xffffu) != me)
		spin_lock_wait(l, me);
}

/** Take the lock only if it is free (no ticket waiting or served); never waits. */
static inline bool spin_trylock(struct spinlock *l)
{
	uint32_t old, tmp, fail;
	__asm__ volatile("1:	ldaxr	%w0, [%3]\n"
			 "	eor	%w1, %w0, %w0, ror #16\n"
			 "	tst	%w1, #0xffff\n"
			 "	b.ne	2f\n"
			 "	add	%w1, %w0, #0x10000\n"
			 "	stxr	%w2, %w1, [%3]\n"
			 "	cbnz	%w2, 1b\n"
			 "	mov	%w1, #0\n"
			 "	b	3f\n"
			 "2:	clrex\n"
			 "	mov	%w1, #1\n"
			 "3:\n"
			 : "=&r"(old), "=&r"(tmp), "=&r"(fail)
			 : "r"(&l->v)
			 : "memory", "cc");
	return tmp == 0;
}

static inline void spin_unlock(struct spinlock *l)
{
	/* Serve the next ticket: only the holder writes the low half. */
	uint32_t owner = (l->v + 1u) & 0xffffu; /* little-endian: bits 0-15 are the halfword at v */
	__asm__ volatile("stlrh %w0, [%1]" ::"r"(owner), "r"(&l->v) : "memory");
}

#endif
