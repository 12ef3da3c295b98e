/*
 * Raspberry Pi 4 power-off without PSCI: the BCM2835 PM/watchdog block, as Linux's
 * bcm2835_power_off does it (RSTS partition 63 = "halt" for the firmware, then a
 * watchdog full reset). QEMU's bcm2835_powermgt turns the reset into a system
 * reset request, which ends QEMU under -no-reboot.
 */
#include "platform/rpi4/board.h"

#include "arch/timer.h"
#include "keel/addr.h"

#define PM_BASE		   0xfe100000ULL /* bus 0x7e100000 through /soc ranges */
#define PM_RSTC		   0x1c
#define PM_RSTS		   0x20
#define PM_WDOG		   0x24
#define PM_PASSWORD	   0x5a000000u
#define PM_RSTC_WRCFG_MASK 0x00000030u
#define PM_RSTC_FULL_RESET 0x00000020u
#define PM_RSTS_PART63	   0x00000555u

void rpi4_power_off(void)
{
	volatile uint32_t *pm = pa_to_ptr(pa_init(PM_BASE));
	pm[PM_RSTS / 4] = PM_PASSWORD | (pm[PM_RSTS / 4] & 0xfffffaaau) | PM_RSTS_PART63;
	pm[PM_WDOG / 4] = PM_PASSWORD | 10u;
	pm[PM_RSTC / 4] = PM_PASSWORD | (pm[PM_RSTC / 4] & ~PM_RSTC_WRCFG_MASK) | PM_RSTC_FULL_RESET;
	/* The watchdog fires after 10 ticks of 16 us; give it 100 ms before the caller halts. */
	uint64_t t0 = timer_us();
	while (timer_us() - t0 < 100000u)
		;
}
