/* QEMU virt storage: controllers sit behind the PCIe ECAM host bridge. */
#include "platform/qemu-virt/board.h"

#include "drivers/pci.h"
#include "drivers/storage/sdhci.h"
#include "drivers/storage/ufs.h"
#include "keel/log.h"

int qemu_virt_storage_init(const void *fdt)
{
	int n = pci_init(fdt);
	if (n < 0) {
		log_warn("PCIe: enumeration failed (%d)", n);
		return n;
	}
	int rc = ufs_probe_all(fdt);
	if (sdhci_probe_pci() + sdhci_probe_dt(fdt) == 0)
		log_info("sdhci: no SD host controller with a card");
	return rc;
}
