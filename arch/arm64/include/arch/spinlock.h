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

static inline void spin_lock(struct spinlock *l)
{
	uint32_t old, tmp, fail;
	__asm__ volatile(/* take a ticket: next += 1 */
			 "1:	ldaxr	%w0, [%3]\n"
			 "	add	%w1, %w0, #0x10000\n"
			 "	stxr	%w2, %w1, [%3]\n"
			 "	cbnz	%w2, 1b\n"
			 /* served already? */
			 "	eor	%w1, %w0, %w0, ror #16\n"
			 "	tst	%w1, #0xffff\n"
			 "	b.eq	3f\n"
			 /* wait for our turn; the unlock's store wakes us from wfe */
			 "	sevl\n"
			 "2:	wfe\n"
			 "	ldaxrh	%w1, [%3]\n"
			 "	eor	%w1, %w1, %w0, lsr #16\n"
			 "	cbnz	%w1, 2b\n"
			 "3:\n"
			 : "=&r"(old), "=&r"(tmp), "=&r"(fail)
			 : "r"(&l->v)
			 : "memory", "cc");
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
