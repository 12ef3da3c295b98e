/* Early boot glue called from head.S with the MMU off. */
#include "core/boot.h"

#include "arch/mmu.h"
#include "core/platform.h"

void boot_mmu_setup(bool secondary)
{
	if (!secondary) {
		mmu_el2_tables_init();
		for (unsigned i = 0; i < platform.nr_ram_windows; i++)
			mmu_el2_map_normal(platform.ram_windows[i].base, platform.ram_windows[i].size);
	}
	mmu_el2_install();
}
