/* A contended lock's waiter gives its CPU back for a moment (contract: arch/spinlock.h). */
#include "arch/barrier.h"
#include "arch/cpu.h"
#include "arch/spinlock.h"
#include "arch/timer.h"

#define NAP_CPUS 16

/* The CPUs whose EL2 timer interrupt reaches them (spin_nap_ready); a nap elsewhere never ends. */
static uint64_t ready[NAP_CPUS];
static uint32_t nready;

void spin_nap_ready(void)
{
	uint32_t i = __atomic_fetch_add(&nready, 1, __ATOMIC_RELAXED);
	if (i < NAP_CPUS)
		__atomic_store_n(&ready[i], cpu_mpidr() | (1ull << 63), __ATOMIC_RELEASE);
}

static bool nap_ready(void)
{
	uint64_t me = cpu_mpidr() | (1ull << 63);
	uint32_t n = __atomic_load_n(&nready, __ATOMIC_RELAXED);
	for (uint32_t i = 0; i < n && i < NAP_CPUS; i++)
		if (__atomic_load_n(&ready[i], __ATOMIC_ACQUIRE) == me)
			return true;
	return false;
}

void spin_nap(void)
{
	if (!nap_ready())
		return;
	/* The EL2 timer as its owner left it (the tick, or a wait): back as it was after the nap. A
	 * deadline of its own that passed meanwhile stays pending and is taken where it always is. */
	uint64_t ctl = read_cnthp_ctl_el2() & 3u, cval = read_cnthp_cval_el2();
	uint64_t at = timer_count() + timer_freq() / 1000000u * SPIN_NAP_US;
	write_cnthp_cval_el2((ctl & 1u) && cval < at ? cval : at);
	write_cnthp_ctl_el2(1);
	isb();
	if (!cpu_irq_pending())
		__asm__ volatile("dsb sy\n\twfi" ::: "memory");
	write_cnthp_cval_el2(cval);
	write_cnthp_ctl_el2(ctl);
	isb();
}

void spin_lock_wait(struct spinlock *l, uint32_t me)
{
	uint64_t t0 = 0; /* the first look at the clock (none yet: most waits end before it) */
	/* The unlock's store wakes us from wfe (the ldaxrh arms the monitor); sevl: look once first. */
	__asm__ volatile("sevl" ::: "memory");
	for (uint32_t n = 1;; n++) {
		uint32_t cur;
		__asm__ volatile("wfe\n"
				 "	ldaxrh	%w0, [%1]\n"
				 : "=&r"(cur)
				 : "r"(&l->v)
				 : "memory");
		if (cur == me)
			return;
		if (n % SPIN_NAP_AFTER != 0)
			continue;
		uint64_t now = timer_count();
		if (t0 == 0)
			t0 = now;
		else if (now - t0 >= timer_freq() / 1000000u * SPIN_NAP_WAIT_US)
			spin_nap();
	}
}
