/* SDHCI controllers on PCI (class 08:05), with their quirks (see sdhci.h): the sdhci-pci driver. */
#include <stdio.h>

#include "core/bus_dev.h"
#include "drivers/pci.h"
#include "drivers/storage/sdhci.h"
#include "drivers/storage/sdhci_host.h"
#include "drivers/storage/sdhci_regs.h"
#include "keel/addr.h"
#include "keel/log.h"
#include "keel/util.h"

struct sdhci_pci_match {
	uint16_t vendor, device; /* 0xffff: any */
	struct sdhci_quirks q;
};

static const struct sdhci_pci_match pci_matches[] = {
    {0x1b36, 0x0007, {"QEMU sdhci-pci", 0, 0, 0}},
    {0xffff, 0xffff, {"SDHCI (PCI class 08:05)", 0, 0, 0}},
};

static const struct sdhci_quirks *pci_quirks(const struct pci_dev *d)
{
	for (unsigned i = 0; i < ARRAY_SIZE(pci_matches); i++) {
		const struct sdhci_pci_match *m = &pci_matches[i];
		if ((m->vendor == 0xffff || m->vendor == d->vendor) &&
		    (m->device == 0xffff || m->device == d->device))
			return &m->q;
	}
	return &pci_matches[ARRAY_SIZE(pci_matches) - 1].q;
}

int sdhci_probe_pci(void)
{
	int found = 0;
	for (unsigned i = 0;; i++) {
		struct pci_dev *d = pci_dev_at(i);
		if (d == NULL)
			break;
		/* Class 08:05 (SD host); prog-if 0 (no DMA) or 1 (standard DMA); 2 is vendor-specific. */
		if ((d->class_code & 0xffff00u) != 0x080500u || (d->class_code & 0xff) > 1)
			continue;
		char where[40];
		snprintf(where, sizeof(where), "PCI %02x:%02x.%u %04x:%04x INTID %u", d->bus, d->dev, d->fn,
			 d->vendor, d->device, d->intid);
		if (pa_addr(d->bar[0]) == 0 || d->bar_size[0] < SDHCI_REG_SIZE) {
			log_warn("sdhci: %s: BAR0 unassigned or smaller than 256 bytes", where);
			continue;
		}
		struct sdhci_host *h = sdhci_host_alloc();
		if (h == NULL) {
			log_warn("sdhci: %s: more than %u controllers; ignored", where, SDHCI_MAX_HOSTS);
			break;
		}
		pci_enable(d);
		d->claimed = true;
		struct bus_dev bus = bus_dev_identity(d->bar[0], d->intid, d->dma_coherent);
		if (sdhci_host_init(h, &bus, pci_quirks(d), where) != 0) {
			sdhci_host_quiet(h);
			pci_disable(d);
			d->claimed = false;
			continue;
		}
		sdhci_host_commit(h);
		found++;
	}
	return found;
}
