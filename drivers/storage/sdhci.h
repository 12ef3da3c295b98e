/* SD host controller (SDHCI) driver. */
#ifndef KEEL_DRIVERS_SDHCI_H
#define KEEL_DRIVERS_SDHCI_H

/** Find SDHCI controllers (PCI class 08:05, DT "sdhci" compatibles), init the card, register it as "sd". */
int sdhci_probe_all(const void *fdt);

#endif
