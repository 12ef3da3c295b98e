/*
 * SD Host Controller (SDHCI, SD Association "SD Host Controller Simplified
 * Specification" v2.00-v4.20) register map: offsets and bits keel uses.
 */
#ifndef KEEL_DRIVERS_SDHCI_REGS_H
#define KEEL_DRIVERS_SDHCI_REGS_H

#define SDHCI_REG_SIZE 0x100u /**< one slot's register block */

#define SDHCI_SDMA_ADDR	   0x00 /* 32: SDMA system address (v4 mode: 32-bit block count) */
#define SDHCI_BLOCK_SIZE   0x04 /* 16: 11:0 block size, 14:12 SDMA buffer boundary */
#define SDHCI_BLOCK_COUNT  0x06 /* 16 */
#define SDHCI_ARGUMENT	   0x08 /* 32 */
#define SDHCI_XFER_MODE	   0x0c /* 16 */
#define SDHCI_COMMAND	   0x0e /* 16: writing the upper byte issues the command */
#define SDHCI_RESPONSE	   0x10 /* 4 x 32: response bits 119:0 without CRC */
#define SDHCI_BUFFER	   0x20 /* 32: PIO data port */
#define SDHCI_PRESENT	   0x24 /* 32 */
#define SDHCI_HOST_CTRL	   0x28 /* 8 */
#define SDHCI_POWER_CTRL   0x29 /* 8 */
#define SDHCI_CLOCK_CTRL   0x2c /* 16 */
#define SDHCI_TIMEOUT_CTRL 0x2e /* 8 */
#define SDHCI_SW_RESET	   0x2f /* 8 */
#define SDHCI_INT_STATUS   0x30 /* 32: normal (15:0) | error (31:16); write 1 to clear */
#define SDHCI_INT_ENABLE   0x34 /* 32: which events set INT_STATUS */
#define SDHCI_SIGNAL_EN	   0x38 /* 32: which INT_STATUS bits raise the interrupt line */
#define SDHCI_AUTO_CMD_ERR 0x3c /* 16 */
#define SDHCI_HOST_CTRL2   0x3e /* 16 (v3+) */
#define SDHCI_CAPS	   0x40 /* 32 */
#define SDHCI_CAPS1	   0x44 /* 32 (v3+) */
#define SDHCI_ADMA_ERR	   0x54 /* 8 */
#define SDHCI_ADMA_ADDR	   0x58 /* 32 (+0x5c: upper 32 bits) */
#define SDHCI_HOST_VERSION 0xfe /* 16: 7:0 spec version */

/* Transfer mode. */
#define SDHCI_XFER_DMA	      (1u << 0)
#define SDHCI_XFER_BLKCNT_EN  (1u << 1)
#define SDHCI_XFER_AUTO_CMD12 (1u << 2)
#define SDHCI_XFER_AUTO_CMD23 (2u << 2)
#define SDHCI_XFER_READ	      (1u << 4)
#define SDHCI_XFER_MULTI      (1u << 5)

/* Command register. */
#define SDHCI_CMD_RESP_NONE   0u
#define SDHCI_CMD_RESP_136    1u
#define SDHCI_CMD_RESP_48     2u
#define SDHCI_CMD_RESP_48B    3u
#define SDHCI_CMD_CRC	      (1u << 3)
#define SDHCI_CMD_INDEX	      (1u << 4)
#define SDHCI_CMD_DATA	      (1u << 5)
#define SDHCI_CMD_TYPE_ABORT  (3u << 6)
#define SDHCI_CMD(idx, flags) ((uint16_t)(((idx)&0x3fu) << 8 | (flags)))

/* Present state. */
#define SDHCI_PS_CMD_INHIBIT  (1u << 0)
#define SDHCI_PS_DATA_INHIBIT (1u << 1)
#define SDHCI_PS_BUF_WR_EN    (1u << 10) /* Buffer Write Enable: a block may go into the data port */
#define SDHCI_PS_BUF_RD_EN    (1u << 11) /* Buffer Read Enable: a block waits in the data port */
#define SDHCI_PS_CARD_PRESENT (1u << 16)
#define SDHCI_PS_WRITABLE     (1u << 19) /* write-protect switch: 1 = writes allowed */
#define SDHCI_PS_DAT0	      (1u << 20)

/* Host control 1. */
#define SDHCI_CTRL_4BIT	    (1u << 1)
#define SDHCI_CTRL_HS	    (1u << 2)
#define SDHCI_CTRL_DMA_MASK (3u << 3)
#define SDHCI_CTRL_SDMA	    (0u << 3)
#define SDHCI_CTRL_ADMA2_32 (2u << 3)
#define SDHCI_CTRL_ADMA2_64 (3u << 3)
#define SDHCI_CTRL_8BIT	    (1u << 5)

/* Power control: bus voltage in 3:1. */
#define SDHCI_POWER_ON	(1u << 0)
#define SDHCI_POWER_330 (7u << 1)
#define SDHCI_POWER_300 (6u << 1)
#define SDHCI_POWER_180 (5u << 1)

/* Clock control. */
#define SDHCI_CLK_INT_EN     (1u << 0)
#define SDHCI_CLK_INT_STABLE (1u << 1)
#define SDHCI_CLK_CARD_EN    (1u << 2)

/* Software reset. */
#define SDHCI_RESET_ALL (1u << 0)
#define SDHCI_RESET_CMD (1u << 1)
#define SDHCI_RESET_DAT (1u << 2)

/* Interrupt status / enable / signal (error bits shifted into 31:16). */
#define SDHCI_INT_CMD_DONE     (1u << 0)
#define SDHCI_INT_XFER_DONE    (1u << 1)
#define SDHCI_INT_DMA	       (1u << 3)
#define SDHCI_INT_SPACE_AVAIL  (1u << 4)
#define SDHCI_INT_DATA_AVAIL   (1u << 5)
#define SDHCI_INT_CARD_INSERT  (1u << 6)
#define SDHCI_INT_CARD_REMOVE  (1u << 7)
#define SDHCI_INT_CARD_INT     (1u << 8)
#define SDHCI_INT_ERROR	       (1u << 15)
#define SDHCI_INT_CMD_TIMEOUT  (1u << 16)
#define SDHCI_INT_CMD_CRC      (1u << 17)
#define SDHCI_INT_CMD_END_BIT  (1u << 18)
#define SDHCI_INT_CMD_INDEX    (1u << 19)
#define SDHCI_INT_DATA_TIMEOUT (1u << 20)
#define SDHCI_INT_DATA_CRC     (1u << 21)
#define SDHCI_INT_DATA_END_BIT (1u << 22)
#define SDHCI_INT_BUS_POWER    (1u << 23)
#define SDHCI_INT_AUTO_CMD_ERR (1u << 24)
#define SDHCI_INT_ADMA_ERR     (1u << 25)
#define SDHCI_INT_ERR_MASK     0xffff8000u
#define SDHCI_INT_TIMEOUTS     (SDHCI_INT_CMD_TIMEOUT | SDHCI_INT_DATA_TIMEOUT)

/* Capabilities (0x40). */
#define SDHCI_CAP_BASE_CLK_SHIFT 8
#define SDHCI_CAP_BASE_CLK_V2	 0x3fu /* MHz, v2.00 */
#define SDHCI_CAP_BASE_CLK_V3	 0xffu /* MHz, v3.00+ */
#define SDHCI_CAP_MAX_BLK_SHIFT	 16
#define SDHCI_CAP_ADMA2		 (1u << 19)
#define SDHCI_CAP_HS		 (1u << 21)
#define SDHCI_CAP_SDMA		 (1u << 22)
#define SDHCI_CAP_V33		 (1u << 24)
#define SDHCI_CAP_V30		 (1u << 25)
#define SDHCI_CAP_V18		 (1u << 26)
#define SDHCI_CAP_64BIT_V4	 (1u << 27)
#define SDHCI_CAP_64BIT		 (1u << 28)

/* Host version: spec version numbers. */
#define SDHCI_SPEC_100 0u
#define SDHCI_SPEC_200 1u
#define SDHCI_SPEC_300 2u
#define SDHCI_SPEC_400 3u

/* SDMA buffer boundary field (BLOCK_SIZE 14:12): 7 = 512 KiB. */
#define SDHCI_SDMA_BOUNDARY_512K (7u << 12)
#define SDHCI_SDMA_BOUNDARY	 (512u * 1024u)

/* ADMA2 descriptor attributes. */
#define SDHCI_ADMA2_VALID (1u << 0)
#define SDHCI_ADMA2_END	  (1u << 1)
#define SDHCI_ADMA2_INT	  (1u << 2)
#define SDHCI_ADMA2_TRAN  (2u << 4)
#define SDHCI_ADMA2_LINK  (3u << 4)

#endif
