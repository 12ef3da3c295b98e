/*
 * SD host controller (SDHCI) driver: keel drives SD cards itself and exposes
 * each as a struct blkdev registered under the backend name "sd". Data moves
 * by ADMA2 straight between the card and the request's host-physical segments
 * (zero copy), at DMA addresses through the controller's DT dma-ranges (a
 * segment outside that window: BLK_EIO, counted, never a wrong address); on a
 * non-coherent bus the segments and the ADMA2 table get cache maintenance. A
 * controller with no DMA at all (QEMU raspi4b's) moves data by PIO (counted). A request ADMA2 cannot express
 * (a segment address or length not a multiple of 4, or above what the descriptor format reaches) moves by
 * SDMA when it is one contiguous buffer below 4 GiB (counted); otherwise it is refused with BLK_EINVAL
 * (counted, logged limited by time): on a controller with DMA there is no PIO fallback, keel's CPUs never
 * copy a guest's data. One request is in the controller at a time (SD has no command queue), the rest wait in
 * a FIFO (while two VMs share the controller, large requests move in paced chunks: sdhci_chunk.h);
 * blkdev_ops.cancel drops a queued request or aborts the current one (CMD12
 * abort, CMD and DAT line resets, bounded by time; if the DAT line does not
 * reset, a full controller reset, and the controller goes offline; a request
 * not even that stops is never completed, so that no DMA follows its done).
 * Completion is interrupt-driven (INTx / SPI, level) with a polled fallback
 * (blkdev poll and the hypervisor tick). A command or data error (or keel's
 * deadline) resets the CMD and DAT lines and retries the request, at most
 * SDHCI_RETRIES more times, then fails only it with BLK_EIO (counted, one log
 * line naming the error bits, limited by time). A flush asks the card (CMD13):
 * the card has no write cache, but a flush never succeeds without an answer.
 */
#ifndef KEEL_DRIVERS_SDHCI_H
#define KEEL_DRIVERS_SDHCI_H

#include "keel/types.h"

/**
 * Find the DT's SDHCI platform devices (sdhci_probe.c), bring up each card and register it as "sd".
 * Returns how many were kept (0 with a NULL fdt).
 */
int sdhci_probe_dt(const void *fdt);
/** The same for PCI SD host controllers, class 08:05 (sdhci_pci.c; needs the pci driver). */
int sdhci_probe_pci(void);

/** Per-controller counters (monotonic since boot). */
struct sdhci_stats {
	uint64_t requests;	     /**< requests accepted by submit */
	uint64_t commands;	     /**< commands issued to the card */
	uint64_t retries;	     /**< request attempts repeated after an error */
	uint64_t timeouts;	     /**< command/data timeouts (controller-reported or keel's deadline) */
	uint64_t resets;	     /**< CMD/DAT line software resets */
	uint64_t errors;	     /**< requests completed with an error */
	uint64_t segs_split;	     /**< extra ADMA2 lines for segments above 64 KiB */
	uint64_t sdma_fallbacks;     /**< requests moved by SDMA because ADMA2 could not express a segment */
	uint64_t unmappable;	     /**< requests refused (BLK_EINVAL): neither ADMA2 nor SDMA can express
					  their segments (keel makes no CPU copy) */
	uint64_t dma_window_refused; /**< requests refused (BLK_EIO): a segment outside the DMA window */
	uint64_t pio_requests;	     /**< requests moved by PIO (the controller has no DMA) */
	uint64_t cancels;	     /**< requests dropped or aborted by blkdev_ops.cancel */
	uint64_t lost;		     /**< aborted requests not even a full reset stopped: never completed */
	uint64_t busy_polls;	     /**< CMD13 polls while the card was busy programming */
	uint64_t bytes;		     /**< data bytes moved */
	uint64_t irqs;		     /**< controller interrupts taken */
	uint64_t tick_progress;	     /**< times the 100 Hz tick, not an interrupt, moved a request on */
	uint64_t chunks;	     /**< commands that moved part of a request (chunked while shared) */
	uint64_t owner_starts;	     /**< next requests left for their owner's CPU to start (owner_kick) */
	uint64_t owner_late;	     /**< ... that the driver started itself after SDHCI_OWNER_WAIT_US */
};

/** Counters of the i-th probed controller, NULL past the end. */
const struct sdhci_stats *sdhci_get_stats(unsigned i);

#endif
