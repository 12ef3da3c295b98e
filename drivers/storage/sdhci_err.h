/*
 * SDHCI request errors: what a failed command said, named bit by bit, and one
 * log line per request that met errors (recovered after retries, or failed
 * for good), limited by time. Pure code, no register access: the request
 * engine (sdhci.c) reads the registers and passes their values in.
 */
#ifndef KEEL_DRIVERS_SDHCI_ERR_H
#define KEEL_DRIVERS_SDHCI_ERR_H

#include "drivers/storage/blkdev.h"
#include "keel/ratelimit.h"
#include "keel/types.h"

/** One failed command: the controller's view (0 when keel's own deadline or check fired) and the card's. */
struct sdhci_err_seen {
	const char *what;  /**< keel's reason: "error", "timeout", "card status error", ... */
	uint8_t cmd;	   /**< command index */
	uint32_t arg;	   /**< its argument */
	uint32_t status;   /**< INT_STATUS (error bits 31:16) */
	uint32_t r1;	   /**< card status, when that was the reason */
	uint16_t auto_cmd; /**< AUTO_CMD_ERR, read when INT_STATUS has the auto CMD error bit */
	uint8_t adma;	   /**< ADMA_ERR, read when INT_STATUS has the ADMA error bit */
};

/** Per controller: the errors of the request in the controller, and the log limiter of their lines. */
struct sdhci_err {
	struct sdhci_err_seen last; /**< the latest error of the current request */
	unsigned count;		    /**< errors of the current request (0: none) */
	struct ratelimit rl;	    /**< request error lines */
	uint64_t lines;		    /**< lines logged (for tests and reports) */
};

/** Name the error bits of status, auto_cmd and adma into buf ("data CRC, ADMA (length mismatch)"). */
void sdhci_err_names(const struct sdhci_err_seen *e, char *buf, size_t len);

/** Record an error of the current request's command (before its retry or its failure). */
void sdhci_err_note(struct sdhci_err *err, const struct sdhci_err_seen *e);

/**
 * The current request ends with status after `tries` attempts: when it met errors, log one line (as
 * `dev`, limited by time) naming the last error's bits and saying whether the retries recovered it;
 * then forget them. Nothing when it met none.
 */
void sdhci_err_end(struct sdhci_err *err, const char *dev, const struct blk_req *req, unsigned tries,
		   unsigned max_tries, int status, uint64_t now_us);

#endif
