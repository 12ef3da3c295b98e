/* keel's boot sequence on the boot CPU. */
#include "core/boot.h"
#include "core/console.h"
#include "core/platform.h"

#include "arch/timer.h"

uint8_t cpu_stacks[KEEL_MAX_CPUS][KEEL_STACK_SIZE] __attribute__((aligned(16)));

void keel_main(uint64_t fdt)
{
	log_info("starting on %s, DTB at 0x%llx, counter %llu Hz", platform.name,
		 (unsigned long long)fdt, (unsigned long long)timer_freq());
	panic("nothing to do yet");
}

void keel_secondary_main(uint64_t cpu)
{
	(void)cpu;
	for (;;)
		__asm__ volatile("wfi");
}
