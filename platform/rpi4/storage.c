/* Raspberry Pi 4 storage: the SDHCI controllers are DT platform devices under /soc. */
#include "platform/rpi4/board.h"

#include "drivers/storage/sdhci.h"
#include "keel/log.h"

int rpi4_storage_init(const void *fdt)
{
	if (sdhci_probe_dt(fdt) == 0)
		log_info("sdhci: no SD host controller with a card");
	return 0;
}
