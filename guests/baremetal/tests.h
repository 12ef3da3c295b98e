/* What main() learned from the DTB, shared by the tests. */
#ifndef GUEST_TESTS_H
#define GUEST_TESTS_H

#include <stdint.h>

struct guest_env {
	uint64_t dtb;
	uint64_t ram_base, ram_size; /* /memory reg[0] */
	const char *bootargs;	     /* /chosen bootargs ("" if none) */
	uintptr_t uart;
	int gic_version;      /* 3, or 2 (arm,cortex-a15-gic / arm,gic-400) */
	uintptr_t gicd, gicr; /* v2: gicr is the CPU interface (GICC) */
	uint64_t gicr_size;
	uint32_t timer_intid; /* virtual timer PPI (INTID) */
	int eoimode;	      /* bootarg eoimode=1 */
};

extern struct guest_env env;
/** Counts a failure; every failure also prints a "GUEST: FAIL ..." line. */
void test_fail(void);
int test_failures(void);
/** Value of `key=` in the bootargs copied into buf (NUL-terminated), or NULL if absent. */
const char *bootarg(const char *key, char *buf, unsigned size);
/** Brings up the GIC and a 100 Hz virtual timer; 0 or < 0 (FAIL printed). */
int platform_irq_init(void);
/** Prints "GUEST: PASS" (or a FAIL summary) and powers off. */
__attribute__((noreturn)) void test_finish(void);

void test_basic(void);
void test_psci(void);
void test_console(void);
void test_virtio(void);
void test_virtio_hostile(void);
void test_virtio_sg(void);
void test_reset_race(void);
/** test=crash: VBAR_EL1 outside memory, then an abort (keel must call the VM crashed). */
void test_crash(void);
/** test=iso: the hostile neighbour of tests/boot/test_isolation.py (iso_attack.c). */
void test_iso(void);

#endif
