/* Memory barriers (arm64). */
#ifndef KEEL_ARCH_BARRIER_H
#define KEEL_ARCH_BARRIER_H

#define dmb(opt) __asm__ volatile("dmb " #opt ::: "memory")
#define dsb(opt) __asm__ volatile("dsb " #opt ::: "memory")
#define isb()	 __asm__ volatile("isb" ::: "memory")

/* Ordering against another observer of normal memory (a guest vCPU or DMA). */
#define mb()	 dsb(sy)
#define rmb()	 dmb(ishld)
#define wmb()	 dmb(ishst)
#define smp_mb() dmb(ish)

#define READ_ONCE(x)	 (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

#endif
