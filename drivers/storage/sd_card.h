/*
 * The SD memory card protocol (SD Physical Layer Simplified Specification):
 * card identification and set-up through a host controller's command
 * primitive, and decoding of the card's registers (CID, CSD, SCR, CMD6
 * status). The controller (sdhci.c) owns the bus; this file owns the card.
 */
#ifndef KEEL_DRIVERS_SD_CARD_H
#define KEEL_DRIVERS_SD_CARD_H

#include "keel/types.h"

/* Commands (ACMDs are sent after CMD55). */
#define SD_CMD_GO_IDLE	      0
#define SD_CMD_ALL_SEND_CID   2
#define SD_CMD_SEND_RCA	      3
#define SD_CMD_SWITCH_FUNC    6
#define SD_CMD_SELECT	      7
#define SD_CMD_SEND_IF_COND   8
#define SD_CMD_SEND_CSD	      9
#define SD_CMD_STOP	      12
#define SD_CMD_SEND_STATUS    13
#define SD_CMD_SET_BLOCKLEN   16
#define SD_CMD_READ_SINGLE    17
#define SD_CMD_READ_MULTI     18
#define SD_CMD_SET_BLOCK_CNT  23
#define SD_CMD_WRITE_SINGLE   24
#define SD_CMD_WRITE_MULTI    25
#define SD_CMD_ERASE_START    32
#define SD_CMD_ERASE_END      33
#define SD_CMD_ERASE	      38
#define SD_CMD_APP	      55
#define SD_ACMD_SET_BUS_WIDTH 6
#define SD_ACMD_SEND_OP_COND  41
#define SD_ACMD_SEND_SCR      51

/* R1 card status. */
#define SD_R1_READY_FOR_DATA (1u << 8)
#define SD_R1_STATE(r)	     (((r) >> 9) & 0xfu)
#define SD_R1_STATE_TRAN     4u
#define SD_R1_STATE_DATA     5u
#define SD_R1_STATE_RCV	     6u
#define SD_R1_STATE_PRG	     7u
#define SD_R1_APP_CMD	     (1u << 5)
/*
 * Error bits that belong to the command they answer: OUT_OF_RANGE .. WP_VIOLATION,
 * LOCK_UNLOCK_FAILED, CARD_ECC_FAILED, CC_ERROR, ERROR, CSD_OVERWRITE, AKE_SEQ_ERROR.
 * COM_CRC_ERROR and ILLEGAL_COMMAND are left out: a command the card rejects gets no
 * response, so they show up in the answer to the NEXT command (e.g. after a recovery CMD12
 * sent to a card already in the transfer state) and say nothing about it.
 */
#define SD_R1_ERRORS 0xfd390008u
/* Errors a retry cannot fix: the request itself is wrong for this card. */
#define SD_R1_FATAL 0xe4000000u /* OUT_OF_RANGE, ADDRESS_ERROR, BLOCK_LEN_ERROR, WP_VIOLATION */

/* OCR. */
#define SD_OCR_BUSY	 (1u << 31) /* set when power-up is complete */
#define SD_OCR_CCS	 (1u << 30) /* card capacity status: block addressing */
#define SD_OCR_VDD_27_36 0x00ff8000u

#define SD_BLOCK 512u

enum sd_rsp { SD_RSP_NONE, SD_RSP_R1, SD_RSP_R1B, SD_RSP_R2, SD_RSP_R3, SD_RSP_R6, SD_RSP_R7 };

/* What the host's command primitive returns. */
#define SD_OK	     0
#define SD_ETIMEDOUT (-110) /**< no response (the card does not know the command, or is absent) */
#define SD_EIO	     (-5)   /**< CRC/index/end-bit/data error, or an error bit in the card status */

struct sd_cmd {
	uint8_t idx;
	uint8_t rsp;	  /**< enum sd_rsp */
	uint16_t pio_len; /**< one data block of this size is read into pio_buf (0: no data) */
	uint32_t arg;
	void *pio_buf;
	uint32_t resp[4]; /**< out: 48-bit responses in resp[0]; R2 as 128 bits, resp[0] = bits 31:0 */
};

/** What the card layer needs from a host controller (all synchronous, bounded by their own timeouts). */
struct sd_host_ops {
	int (*cmd)(void *host, struct sd_cmd *c);
	/** Set the card clock to at most hz; returns the clock actually set (0 on failure). */
	uint32_t (*set_clock)(void *host, uint32_t hz);
	void (*set_bus_width)(void *host, unsigned bits);
	void (*set_high_speed)(void *host, bool on);
};

struct sd_card {
	uint32_t ocr;
	uint32_t rca;	    /**< relative card address, already shifted to 31:16 */
	bool v2;	    /**< answered CMD8: physical layer 2.00 or later */
	bool high_capacity; /**< SDHC/SDXC: commands address 512-byte blocks, not bytes */
	uint32_t cid[4], csd[4];
	uint8_t scr[8];
	bool have_scr;
	uint8_t csd_version; /**< CSD_STRUCTURE: 0 (v1, SDSC) or 1 (v2, SDHC/SDXC) */
	uint16_t ccc;	     /**< card command classes */
	uint64_t capacity;   /**< bytes */
	uint32_t max_dtr;    /**< TRAN_SPEED from the CSD, Hz */
	bool can_erase;	     /**< class 5 and erase in write-block units (ERASE_BLK_EN) */
	bool cmd23;	     /**< SCR CMD_SUPPORT: SET_BLOCK_COUNT */
	bool bus4;	     /**< running a 4-bit bus */
	bool high_speed;     /**< switched to high speed (CMD6) */
	uint32_t clock_hz;
	char product[6];      /**< CID PNM */
	uint8_t manufacturer; /**< CID MID */
};

/** Bits [start + len - 1 : start] of a 128-bit register held as w[0] = bits 31:0 (len <= 32). */
uint32_t sd_bits(const uint32_t w[4], unsigned start, unsigned len);
/** Decode card->csd into csd_version, ccc, capacity, max_dtr, can_erase. 0, or SD_EIO for an unknown CSD. */
int sd_csd_decode(struct sd_card *card);
/** Decode card->scr into cmd23 (bus widths are read by sd_card_init). */
void sd_scr_decode(struct sd_card *card);
/** CID PNM/MID into card->product and card->manufacturer. */
void sd_cid_decode(struct sd_card *card);

/**
 * Identify and set up the card on a powered bus: CMD0, CMD8, ACMD41 (HCS),
 * CMD2, CMD3, CMD9, CMD7, CMD16 (SDSC), ACMD51, ACMD6 (4-bit), CMD6 high
 * speed (when host_hs), then the transfer clock (at most max_hz).
 * Returns 0, SD_ETIMEDOUT (no card answered) or SD_EIO; *why names the step.
 */
int sd_card_init(struct sd_card *card, const struct sd_host_ops *ops, void *host, bool host_hs,
		 uint32_t max_hz, const char **why);

#endif
