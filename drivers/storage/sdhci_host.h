/*
 * Between the SDHCI driver (sdhci.c: one controller, its card and its requests) and
 * its probe (sdhci_probe.c: which controllers, from PCI or the DT, with which quirks).
 * Internal to drivers/storage.
 */
#ifndef KEEL_DRIVERS_SDHCI_HOST_H
#define KEEL_DRIVERS_SDHCI_HOST_H

#include "core/bus_dev.h"
#include "keel/types.h"

#define SDHCI_MAX_HOSTS 2

/* What differs between controllers, chosen at probe. */
#define SDHCI_Q_NO_ADMA	       (1u << 0) /**< ADMA2 broken: SDMA only (one segment a request) */
#define SDHCI_Q_NO_64BIT_DMA   (1u << 1) /**< ignore the 64-bit system bus capability */
#define SDHCI_Q_NO_HS	       (1u << 2) /**< no high-speed timing */
#define SDHCI_Q_NO_BUSY_IRQ    (1u << 3) /**< no transfer-complete at the end of R1b busy: rely on CMD13 */
#define SDHCI_Q_NO_AUTO_CMD12  (1u << 4) /**< send CMD12 after open-ended transfers ourselves */
#define SDHCI_Q_NO_CMD23       (1u << 5) /**< never use SET_BLOCK_COUNT */
#define SDHCI_Q_32BIT_ACCESS   (1u << 6) /**< registers accept 32-bit accesses only */
#define SDHCI_Q_NO_CARD_DETECT (1u << 7) /**< card-present bit unreliable (soldered card): assume present */
#define SDHCI_Q_NO_WP	       (1u << 8) /**< write-protect bit unreliable: assume writable */

struct sdhci_quirks {
	const char *name;
	uint32_t flags;
	uint32_t base_clock_hz; /**< used when the capabilities report 0 */
	uint32_t max_clock_hz;	/**< card clock ceiling (0: 50 MHz) */
};

struct sdhci_host;

/** The next free host, zeroed and named sdN; NULL when SDHCI_MAX_HOSTS are taken. */
struct sdhci_host *sdhci_host_alloc(void);

/**
 * Reset the controller at bus->base, bring its card up and prepare its blkdev (bus: registers,
 * INTID, DMA window and coherency). 0, or -1 with a log line (the host may be allocated again).
 */
int sdhci_host_init(struct sdhci_host *h, const struct bus_dev *bus, const struct sdhci_quirks *q,
		    const char *where);

/** Signal no interrupts (a controller init gave up on, left to its bus). */
void sdhci_host_quiet(struct sdhci_host *h);

/** Keep an initialised host and register its card as storage backend "sd". */
void sdhci_host_commit(struct sdhci_host *h);

#endif
