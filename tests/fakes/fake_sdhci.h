/*
 * A fake SDHCI controller and SD card for host tests, behind arch/fake's MMIO
 * accessors (fake_mmio_read / fake_mmio_write, at FK_BASE): plain registers,
 * commands answered at once (R1: transfer state, ready for data), software
 * resets as QEMU's model takes them (one line bit a write), and data commands
 * that move blocks between fk_card and memory by walking the 64-bit ADMA2 table
 * the driver points SDHCI_ADMA_ADDR at (SDMA is not modelled: commands only).
 * The DMA it does goes through a bus like a bus_dev's: addresses are physical +
 * fk.dma_offset, and with fk.dma_size set only [dma_lo, dma_lo + dma_size)
 * physical is reachable (anything else fails the test). A data command without
 * the transfer mode's DMA bit moves its blocks through the data port
 * (SDHCI_BUFFER, 128 words a block) as QEMU's model does: PRESENT's
 * BUF_RD_EN / BUF_WR_EN while blocks remain, DATA_AVAIL / SPACE_AVAIL raised
 * for each block, XFER_DONE inside the last word's access.
 * Knobs in `fk`: data commands that hang, fail from the n-th on, take time, or
 * wait for fk_release(); and a fault that fails the commands touching chosen
 * sectors (or one command index) with chosen error bits, a number of times or
 * for ever, leaving garbage where the failed command was moving data (the
 * hang / fail / slow / hold knobs act on DMA data commands; the fault on both).
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
	unsigned cache_n_at[64]; /* fake_cache_n (arch/fake's cache log) when each data command started */
	/* The bus the controller masters: DMA address = physical + dma_offset; dma_size 0: all memory. */
	uint64_t dma_offset, dma_lo, dma_size;
	/* Data port: blocks left, words moved of the current one, its direction, card byte; words moved. */
	unsigned pio_blocks, pio_word;
	bool pio_rd;
	uint64_t pio_at;
	unsigned pio_words;
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

/** A register as last written (little-endian, size bytes at off). */
uint32_t fk_reg(unsigned off, unsigned size);

/** End the held data command (fk.hold): its events (done or the fault's error) are raised now. */
void fk_release(void);

#endif
