/*
 * A fake SDHCI controller and SD card for host tests, behind arch/fake's MMIO
 * accessors (fake_mmio_read / fake_mmio_write, at FK_BASE): plain registers,
 * commands answered at once (R1: transfer state, ready for data), software
 * resets as QEMU's model takes them (one line bit a write), and data commands
 * that move blocks between fk_card and memory by walking the 64-bit ADMA2 table
 * the driver points SDHCI_ADMA_ADDR at (SDMA is not modelled: commands only).
 * Knobs in `fk`: data commands that hang, fail from the n-th on, take time, or
 * wait for fk_release(); and a fault that fails the commands touching chosen
 * sectors (or one command index) with chosen error bits, a number of times or
 * for ever, leaving garbage where the failed command was moving data.
 */
#ifndef KEEL_TESTS_FAKE_SDHCI_H
#define KEEL_TESTS_FAKE_SDHCI_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers/storage/sdhci_regs.h"

#define FK_BASE 0x10000000u

struct fake_sdhci {
	uint8_t regs[SDHCI_REG_SIZE]; /* plain registers: what was written */
	uint32_t int_status, response;
	bool xfer_active;
	bool hang_data;	       /* data commands never complete */
	bool reset_stuck;      /* software reset bits never clear */
	bool dat_stuck;	       /* the DAT line reset never completes (a full reset does) */
	unsigned hang_from;    /* data commands from this one on (1-based) never complete; 0: off */
	unsigned fail_from;    /* data commands from this one on fail with a data CRC error; 0: off */
	unsigned us_per_block; /* a data command moves its data inside the command write, this slowly */
	/* Per data command: card address, block count, the ADMA table's first address and its bytes. */
	uint32_t d_arg[64];
	uint16_t d_blocks[64];
	uint64_t d_addr[64], d_bytes[64];
	uint8_t sw_reset;
	unsigned ncmds, nresets, data_cmds;
	uint16_t cmds[1024];
	uint8_t resets[256];
	struct fk_fault {
		unsigned times;	      /* commands still to fail; FK_FOREVER: all */
		uint8_t cmd;	      /* this command index fails; 0: data commands touching the sectors */
		uint32_t first, last; /* sectors (card addresses) */
		uint32_t bits;	      /* INT_STATUS error bits raised */
		uint16_t auto_cmd;    /* AUTO_CMD_ERR then */
		uint8_t adma;	      /* ADMA_ERR then */
		unsigned hits;	      /* commands failed */
	} fault;
	bool hold;	      /* data commands wait for fk_release() to end */
	uint32_t held_status; /* what the held command ends with */
};

/** The one fake controller, at FK_BASE. */
extern struct fake_sdhci fk;

#define FK_FOREVER (~0u)
#define FK_SECTORS 4096u
#define FK_CMD_ERRBITS                                                                                       \
	(SDHCI_INT_CMD_TIMEOUT | SDHCI_INT_CMD_CRC | SDHCI_INT_CMD_END_BIT | SDHCI_INT_CMD_INDEX)
/** The card's blocks (FK_SECTORS of 512 bytes): data commands move them through the ADMA2 table. */
extern uint8_t fk_card[FK_SECTORS * 512];

/** End the held data command (fk.hold): its events (done or the fault's error) are raised now. */
void fk_release(void);

#endif
