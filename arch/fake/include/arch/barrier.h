/* Memory barriers for host tests: compiler/C11 fences. */
#ifndef KEEL_ARCH_BARRIER_H
#define KEEL_ARCH_BARRIER_H

#define mb()	 __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define rmb()	 __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define wmb()	 __atomic_thread_fence(__ATOMIC_RELEASE)
#define smp_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)

#define READ_ONCE(x)	 (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

#endif
