/*
 * test=reset-race: both vCPUs of a 2-vCPU VM call PSCI SYSTEM_RESET at the same moment, for
 * RESET_ROUNDS boots in a row; keel must let one of them reset the VM (and never panic). The round
 * number lives in RAM below the image, which a reset does not reload.
 */
#include <stdint.h>

#include "arch.h"
#include "psci.h"
#include "tests.h"
#include "uart.h"

#define RESET_ROUNDS	    20u
#define RESET_MARK_OFFSET   0x100000u /* 1 MiB into RAM: below the image, never reloaded */
#define RESET_MAGIC	    0x72657365u
#define PSCI_RET_ALREADY_ON (-4)

/* Both in .bss: zeroed by vCPU 0 at every boot, before vCPU 1 is started. */
static volatile uint32_t secondary_ready, go;
uint8_t secondary_stack[4096] __attribute__((aligned(16)));

void secondary_entry(void);
void guest_secondary_main(void);

void guest_secondary_main(void)
{
	secondary_ready = 1;
	while (!go)
		;
	psci_call(PSCI_SYSTEM_RESET, 0, 0, 0);
	for (;;) /* keel may let the other vCPU's reset win: it then never comes back here */
		__asm__ volatile("wfi");
}

void test_reset_race(void)
{
	volatile uint32_t *mark = (volatile uint32_t *)(uintptr_t)(env.ram_base + RESET_MARK_OFFSET);
	uint32_t round = mark[0] == RESET_MAGIC ? mark[1] : 0;

	if (round >= RESET_ROUNDS) {
		mark[0] = 0;
		gprintf("GUEST: reset race: %u rounds survived\n", round);
		return;
	}
	mark[0] = RESET_MAGIC;
	mark[1] = round + 1;
	gprintf("GUEST: reset race round %u\n", round + 1);
	int64_t ret;
	unsigned tries = 0;
	do /* vCPU 1 may still be leaving from the last round: keel says ALREADY_ON, retry */
		ret = (int64_t)psci_call(PSCI_CPU_ON_64, 1, (uint64_t)(uintptr_t)secondary_entry, 0);
	while (ret == PSCI_RET_ALREADY_ON && ++tries < 1000000u);
	if (ret != PSCI_RET_SUCCESS) {
		gprintf("GUEST: FAIL CPU_ON of vCPU 1 returned %ld\n", (long)ret);
		test_fail();
		return;
	}
	while (!secondary_ready)
		;
	go = 1;
	psci_call(PSCI_SYSTEM_RESET, 0, 0, 0);
	gprintf("GUEST: FAIL system_reset returned\n");
	test_fail();
}
