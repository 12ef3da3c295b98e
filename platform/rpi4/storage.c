/* Raspberry Pi 4 storage: the SDHCI controllers are DT platform devices under /soc. */
#include "platform/rpi4/board.h"

#include "drivers/storage/sdhci.h"

int rpi4_storage_init(const void *fdt)
{
	return sdhci_probe_all(fdt);
}
