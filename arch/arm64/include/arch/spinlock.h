/* Ticket-free test-and-set spinlock (arm64, LSE-free for -mno-outline-atomics portability). */
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
	uint32_t tmp;
	__asm__ volatile("	sevl\n"
			 "1:	wfe\n"
			 "2:	ldaxr	%w0, [%1]\n"
			 "	cbnz	%w0, 1b\n"
			 "	stxr	%w0, %w2, [%1]\n"
			 "	cbnz	%w0, 2b\n"
			 : "=&r"(tmp)
			 : "r"(&l->v), "r"(1)
			 : "memory");
}

/** Take the lock only if it is free; never waits. */
static inline bool spin_trylock(struct spinlock *l)
{
	uint32_t old, fail;
	__asm__ volatile("1:	ldaxr	%w0, [%2]\n"
			 "	cbnz	%w0, 2f\n"
			 "	stxr	%w1, %w3, [%2]\n"
			 "	cbnz	%w1, 1b\n"
			 "	b	3f\n"
			 "2:	clrex\n"
			 "3:\n"
			 : "=&r"(old), "=&r"(fail)
			 : "r"(&l->v), "r"(1)
			 : "memory");
	return old == 0;
}

static inline void spin_unlock(struct spinlock *l)
{
	__asm__ volatile("stlr wzr, [%0]" ::"r"(&l->v) : "memory");
}

#endif
