/* Host tests run single-threaded: the lock only checks pairing. */
#ifndef KEEL_ARCH_SPINLOCK_H
#define KEEL_ARCH_SPINLOCK_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

struct spinlock {
	uint32_t v;
};

#define SPINLOCK_INIT                                                                                        \
	{                                                                                                    \
		0                                                                                            \
	}

static inline void spin_lock(struct spinlock *l)
{
	assert(l->v == 0);
	l->v = 1;
}
static inline bool spin_trylock(struct spinlock *l)
{
	if (l->v)
		return false;
	l->v = 1;
	return true;
}
static inline void spin_unlock(struct spinlock *l)
{
	assert(l->v == 1);
	l->v = 0;
}

#endif
