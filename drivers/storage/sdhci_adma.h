/*
 * ADMA2 descriptor tables built straight from a request's host-physical
 * segments (zero copy). Pure code, no register access: host-testable.
 *
 * Rules (SD Host Controller spec v3.00 §1.13): a data address must be 4-byte
 * aligned and a length a multiple of 4; one line moves at most 64 KiB (the
 * length field is 16 bits, 0 meaning 65536), so longer segments are split
 * over several lines. The 32-bit format (8 bytes a line) reaches only the
 * first 4 GiB; the 64-bit format (v3 "96-bit" lines of 12 bytes) reaches all.
 * Lines carry DMA (bus) addresses: the segments' physical addresses through the
 * controller's bus_dev (its DT dma-ranges); limits apply to the bus address.
 */
#ifndef KEEL_DRIVERS_SDHCI_ADMA_H
#define KEEL_DRIVERS_SDHCI_ADMA_H

#include "core/bus_dev.h"
#include "drivers/storage/blkdev.h"

#define SDHCI_ADMA_LINE_MAX 65536u
#define SDHCI_ADMA_ALIGN    4u
#define SDHCI_ADMA_WORDS_32 2u /* uint32_t words per line */
#define SDHCI_ADMA_WORDS_64 3u

enum sdhci_adma_err {
	SDHCI_ADMA_EALIGN = -1,	  /**< a segment's address or length is not 4-byte aligned */
	SDHCI_ADMA_ERANGE = -2,	  /**< a segment lies (partly) above what the descriptor format addresses */
	SDHCI_ADMA_ETOOMANY = -3, /**< more lines than the table holds */
	SDHCI_ADMA_EEMPTY = -4,	  /**< no segments, or a zero-length one */
	SDHCI_ADMA_EWINDOW = -5,  /**< a segment lies (partly) outside the controller's DMA window */
};

/**
 * Describe segs as ADMA2 transfer lines into table (max_lines lines of the
 * dma64 format, addresses through bus), the last one marked END. With table NULL only check and
 * count. Returns the number of lines, or a negative sdhci_adma_err; *splits
 * (may be NULL) gets how many extra lines 64 KiB splitting added.
 */
int sdhci_adma_build(uint32_t *table, unsigned max_lines, bool dma64, const struct bus_dev *bus,
		     const struct blk_seg *segs, unsigned nsegs, unsigned *splits);

/**
 * How a request's data moves: ADMA2 straight from its segments, SDMA for one buffer, or PIO
 * through the data port (only on a controller with no DMA at all, as QEMU's raspi4b models both).
 */
enum sdhci_path { SDHCI_PATH_ADMA, SDHCI_PATH_SDMA, SDHCI_PATH_PIO };

/** What a controller's data paths can do. */
struct sdhci_xfer_caps {
	bool adma, dma64;	   /**< ADMA2, in the 64-bit format */
	bool pio;		   /**< no DMA: every request by PIO */
	unsigned max_lines;	   /**< ADMA2 table size */
	const struct bus_dev *bus; /**< DMA window and offset */
};

/**
 * Plan a read or write (no hardware access; also the check submit makes): PIO when c->pio;
 * else BLK_EIO when a segment lies outside the bus's DMA window (*bad that segment: the caller
 * counts it; DMA never gets an address it cannot reach); else ADMA2 (when c->adma) when it can
 * express the segments; else SDMA for one contiguous buffer below 4 GiB of bus address (any
 * alignment); else BLK_EINVAL, *bad the first segment ADMA2 cannot take (for the log line).
 * 0 with *path and *splits (extra ADMA2 lines).
 */
int sdhci_plan_xfer(const struct sdhci_xfer_caps *c, const struct blk_req *req, enum sdhci_path *path,
		    unsigned *splits, unsigned *bad);

#endif
