/*
 * Which SDHCI controllers keel drives from the DT (see sdhci.h; PCI ones: sdhci_pci.c): DT
 * platform devices (struct bus_dev from fdt_bus_dev: reg through the buses' ranges, the
 * interrupt through interrupt-parent, dma-ranges, dma-coherent), each with its quirks
 * from the tables below.
 */
#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "core/bus_dev.h"
#include "core/fdt_util.h"
#include "drivers/storage/sdhci.h"
#include "drivers/storage/sdhci_host.h"
#include "drivers/storage/sdhci_regs.h"
#include "keel/addr.h"
#include "keel/log.h"
#include "keel/util.h"

struct sdhci_dt_match {
	const char *compatible;
	struct sdhci_quirks q;
};

/*
 * DT controllers. These assume firmware left clocks and pads configured (keel
 * does not drive clock controllers or PHYs); their quirks encode what the
 * vendors' SDHCIs are known to need.
 */
static const struct sdhci_dt_match dt_matches[] = {
    {"arasan,sdhci-8.9a", {"Arasan SDHCI 8.9a", SDHCI_Q_NO_HS, 0, 25000000}},
    {"arasan,sdhci-5.1", {"Arasan SDHCI 5.1", 0, 0, 0}},
    {"snps,dwcmshc-sdhci", {"Synopsys DWC MSHC", 0, 0, 0}},
    /* BCM2711 (Linux sdhci-iproc): the SD slot of a real Pi 4, DT "broken-cd". */
    {"brcm,bcm2711-emmc2", {"Broadcom eMMC2", SDHCI_Q_NO_CARD_DETECT, 100000000, 0}},
    /* BCM2835 Arasan (Linux sdhci-iproc bcm2835_data): 32-bit register writes only, no high-speed
     * bit, soldered ("non-removable") on the Pi 4's WiFi; QEMU attaches -drive if=sd here. */
    {"brcm,bcm2835-sdhci",
     {"Broadcom BCM2835 Arasan", SDHCI_Q_32BIT_ACCESS | SDHCI_Q_NO_HS | SDHCI_Q_NO_CARD_DETECT, 0, 0}},
    {"sdhci", {"generic SDHCI", 0, 0, 0}},
};

int sdhci_probe_dt(const void *fdt)
{
	int found = 0;
	if (fdt == NULL)
		return 0;
	for (unsigned m = 0; m < ARRAY_SIZE(dt_matches); m++) {
		int node = -1;
		while ((node = fdt_node_offset_by_compatible(fdt, node, dt_matches[m].compatible)) >= 0) {
			const char *status = fdt_getprop(fdt, node, "status", NULL);
			if (status && strcmp(status, "okay") != 0 && strcmp(status, "ok") != 0)
				continue;
			/* A node listing several of our compatibles is taken by its first (most specific)
			 * match. */
			bool earlier = false;
			for (unsigned e = 0; e < m; e++)
				earlier |=
				    fdt_node_check_compatible(fdt, node, dt_matches[e].compatible) == 0;
			if (earlier)
				continue;
			struct bus_dev bus;
			if (!fdt_bus_dev(fdt, node, &bus) || bus.size < SDHCI_REG_SIZE) {
				log_warn("sdhci: %s: no usable reg (through the buses' ranges) or dma-ranges",
					 fdt_get_name(fdt, node, NULL));
				continue;
			}
			struct sdhci_host *h = sdhci_host_alloc();
			if (h == NULL)
				return found;
			char where[40];
			snprintf(where, sizeof(where), "DT %s", fdt_get_name(fdt, node, NULL));
			if (sdhci_host_init(h, &bus, &dt_matches[m].q, where) != 0)
				continue;
			sdhci_host_commit(h);
			found++;
		}
	}
	return found;
}
