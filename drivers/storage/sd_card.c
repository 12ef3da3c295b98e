/* SD card identification and register decoding (see sd_card.h). */
#include "drivers/storage/sd_card.h"

#include <string.h>

#include "arch/timer.h"

#define ACMD41_TIMEOUT_US 1000000u /* the spec gives the card 1 s to power up */
#define ACMD41_GAP_US	  1000u
#define IF_COND_ARG	  0x1aau /* VHS 2.7-3.6 V, check pattern 0xaa */
#define CLOCK_ID_HZ	  400000u
#define CLOCK_DS_HZ	  25000000u
#define CLOCK_HS_HZ	  50000000u
#define SWITCH_CHECK_HS	  0x00fffff1u
#define SWITCH_SET_HS	  0x80fffff1u
#define CCC_ERASE	  (1u << 5)
#define CCC_SWITCH	  (1u << 10)
#define MIN_U32(a, b)	  ((a) < (b) ? (a) : (b))

uint32_t sd_bits(const uint32_t w[4], unsigned start, unsigned len)
{
	uint32_t word = start / 32, shift = start % 32;
	uint64_t v = w[word] >> shift;

	if (shift + len > 32 && word < 3)
		v |= (uint64_t)w[word + 1] << (32 - shift);
	return len >= 32 ? (uint32_t)v : (uint32_t)(v & ((1ULL << len) - 1));
}

int sd_csd_decode(struct sd_card *c)
{
	static const uint32_t unit_hz[8] = {100000, 1000000, 10000000, 100000000, 0, 0, 0, 0};
	/* TRAN_SPEED multipliers x10. */
	static const uint8_t mult10[16] = {0, 10, 12, 13, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 70, 80};
	uint32_t tran = sd_bits(c->csd, 96, 8);

	c->csd_version = (uint8_t)sd_bits(c->csd, 126, 2);
	c->ccc = (uint16_t)sd_bits(c->csd, 84, 12);
	c->max_dtr = unit_hz[tran & 7] / 10 * mult10[(tran >> 3) & 0xf];
	switch (c->csd_version) {
	case 0: { /* SDSC: (C_SIZE + 1) * 2^(C_SIZE_MULT + 2) blocks of 2^READ_BL_LEN bytes */
		uint32_t c_size = sd_bits(c->csd, 62, 12);
		uint32_t mult = sd_bits(c->csd, 47, 3);
		uint32_t bl_len = sd_bits(c->csd, 80, 4);
		if (bl_len < 9 || bl_len > 11)
			return SD_EIO;
		c->capacity = (uint64_t)(c_size + 1) << (mult + 2 + bl_len);
		/* ERASE_BLK_EN = 0 would erase whole SECTOR_SIZE units, wider than what was asked. */
		c->can_erase = (c->ccc & CCC_ERASE) && sd_bits(c->csd, 46, 1);
		break;
	}
	case 1: /* SDHC/SDXC: (C_SIZE + 1) * 512 KiB; erase in 512-byte units */
		c->capacity = ((uint64_t)sd_bits(c->csd, 48, 22) + 1) * 512 * 1024;
		c->can_erase = (c->ccc & CCC_ERASE) != 0;
		break;
	default: /* SDUC (CSD v3) needs extended addressing (CMD22): not supported */
		return SD_EIO;
	}
	return SD_OK;
}

void sd_scr_decode(struct sd_card *c)
{
	/* SCR is big-endian: byte 3 holds bits 39:32, CMD_SUPPORT bit 33 = SET_BLOCK_COUNT. */
	c->cmd23 = c->have_scr && (c->scr[3] & 0x2) != 0;
}

void sd_cid_decode(struct sd_card *c)
{
	c->manufacturer = (uint8_t)sd_bits(c->cid, 120, 8);
	for (unsigned i = 0; i < 5; i++) {
		char ch = (char)sd_bits(c->cid, 96 - 8 * i, 8);
		c->product[i] = (ch >= 0x20 && ch < 0x7f) ? ch : '?';
	}
	c->product[5] = '\0';
}

static void delay_us(uint64_t us)
{
	uint64_t end = timer_us() + us;
	while (timer_us() < end)
		;
}

static int cmd(const struct sd_host_ops *ops, void *host, struct sd_cmd *c, uint8_t idx, uint8_t rsp,
	       uint32_t arg)
{
	c->idx = idx;
	c->rsp = rsp;
	c->arg = arg;
	int rc = ops->cmd(host, c);
	if (rc == SD_OK && (rsp == SD_RSP_R1 || rsp == SD_RSP_R1B) && (c->resp[0] & SD_R1_ERRORS))
		return SD_EIO;
	return rc;
}

static int app_cmd(const struct sd_host_ops *ops, void *host, const struct sd_card *card, struct sd_cmd *c,
		   uint8_t idx, uint8_t rsp, uint32_t arg)
{
	struct sd_cmd a = {.idx = SD_CMD_APP, .rsp = SD_RSP_R1, .arg = card->rca};
	int rc = ops->cmd(host, &a);
	if (rc != SD_OK)
		return rc;
	if (!(a.resp[0] & SD_R1_APP_CMD))
		return SD_EIO; /* the card did not take CMD55 as an application-command prefix */
	return cmd(ops, host, c, idx, rsp, arg);
}

/* Read the SCR: bus widths, spec version, CMD23 support. */
static int read_scr(const struct sd_host_ops *ops, void *host, struct sd_card *card)
{
	struct sd_cmd c = {.pio_buf = card->scr, .pio_len = sizeof(card->scr)};
	int rc = app_cmd(ops, host, card, &c, SD_ACMD_SEND_SCR, SD_RSP_R1, 0);
	card->have_scr = rc == SD_OK;
	sd_scr_decode(card);
	return rc;
}

/* CMD6: check, then switch function group 1 to high speed (function 1). */
static bool switch_high_speed(const struct sd_host_ops *ops, void *host)
{
	uint8_t status[64];
	struct sd_cmd c = {.pio_buf = status, .pio_len = sizeof(status)};

	if (cmd(ops, host, &c, SD_CMD_SWITCH_FUNC, SD_RSP_R1, SWITCH_CHECK_HS) != SD_OK)
		return false;
	if (!(status[13] & 0x2)) /* group 1 support bits 415:400: function 1 */
		return false;
	if (cmd(ops, host, &c, SD_CMD_SWITCH_FUNC, SD_RSP_R1, SWITCH_SET_HS) != SD_OK)
		return false;
	return (status[16] & 0xf) == 1; /* group 1 result, bits 379:376 */
}

int sd_card_init(struct sd_card *card, const struct sd_host_ops *ops, void *host, bool host_hs,
		 uint32_t max_hz, const char **why)
{
	struct sd_cmd c = {0};
	int rc;

#define FAIL(step, code)                                                                                     \
	do {                                                                                                 \
		*why = step;                                                                                 \
		return (code);                                                                               \
	} while (0)

	memset(card, 0, sizeof(*card));
	ops->set_bus_width(host, 1);
	ops->set_high_speed(host, false);
	if (ops->set_clock(host, CLOCK_ID_HZ) == 0)
		FAIL("identification clock", SD_EIO);
	delay_us(1000); /* >= 74 clocks after power-up before CMD0 */

	if ((rc = cmd(ops, host, &c, SD_CMD_GO_IDLE, SD_RSP_NONE, 0)) != SD_OK)
		FAIL("CMD0", rc);
	rc = cmd(ops, host, &c, SD_CMD_SEND_IF_COND, SD_RSP_R7, IF_COND_ARG);
	if (rc == SD_OK) {
		if ((c.resp[0] & 0xfff) != IF_COND_ARG)
			FAIL("CMD8 (voltage not accepted)", SD_EIO);
		card->v2 = true;
	} else if (rc != SD_ETIMEDOUT) {
		FAIL("CMD8", rc);
	}

	/* ACMD41 until the card reports power-up complete (bounded). */
	uint32_t arg = SD_OCR_VDD_27_36 | (card->v2 ? SD_OCR_CCS : 0);
	uint64_t end = timer_us() + ACMD41_TIMEOUT_US;
	for (;;) {
		rc = app_cmd(ops, host, card, &c, SD_ACMD_SEND_OP_COND, SD_RSP_R3, arg);
		if (rc != SD_OK)
			FAIL("ACMD41", rc);
		if (c.resp[0] & SD_OCR_BUSY)
			break;
		if (timer_us() > end)
			FAIL("ACMD41 (card stayed busy for 1 s)", SD_ETIMEDOUT);
		delay_us(ACMD41_GAP_US);
	}
	card->ocr = c.resp[0];
	card->high_capacity = card->v2 && (card->ocr & SD_OCR_CCS);

	if ((rc = cmd(ops, host, &c, SD_CMD_ALL_SEND_CID, SD_RSP_R2, 0)) != SD_OK)
		FAIL("CMD2", rc);
	memcpy(card->cid, c.resp, sizeof(card->cid));
	sd_cid_decode(card);
	for (unsigned tries = 0; card->rca == 0; tries++) { /* RCA 0 is reserved: ask again */
		if (tries == 3)
			FAIL("CMD3 (RCA 0)", SD_EIO);
		if ((rc = cmd(ops, host, &c, SD_CMD_SEND_RCA, SD_RSP_R6, 0)) != SD_OK)
			FAIL("CMD3", rc);
		card->rca = c.resp[0] & 0xffff0000u;
	}
	if ((rc = cmd(ops, host, &c, SD_CMD_SEND_CSD, SD_RSP_R2, card->rca)) != SD_OK)
		FAIL("CMD9", rc);
	memcpy(card->csd, c.resp, sizeof(card->csd));
	if (sd_csd_decode(card) != SD_OK)
		FAIL("CSD (unsupported structure or block length)", SD_EIO);
	if (card->csd_version == 0 && card->capacity > (1ULL << 32))
		FAIL("CSD (byte-addressed card above 4 GiB)", SD_EIO);

	uint32_t ds = MIN_U32(CLOCK_DS_HZ, max_hz);
	if (card->max_dtr)
		ds = MIN_U32(ds, card->max_dtr);
	card->clock_hz = ops->set_clock(host, ds);
	if (card->clock_hz == 0)
		FAIL("default-speed clock", SD_EIO);

	if ((rc = cmd(ops, host, &c, SD_CMD_SELECT, SD_RSP_R1B, card->rca)) != SD_OK)
		FAIL("CMD7", rc);
	if (!card->high_capacity &&
	    (rc = cmd(ops, host, &c, SD_CMD_SET_BLOCKLEN, SD_RSP_R1, SD_BLOCK)) != SD_OK)
		FAIL("CMD16", rc);

	/* Without an SCR the card still works: 1-bit, default speed, no CMD23. */
	if (read_scr(ops, host, card) == SD_OK && (card->scr[1] & 0x4)) {
		if (app_cmd(ops, host, card, &c, SD_ACMD_SET_BUS_WIDTH, SD_RSP_R1, 2) == SD_OK) {
			ops->set_bus_width(host, 4);
			card->bus4 = true;
		}
	}
	/* CMD6 exists from SD_SPEC 1.10 on and needs command class 10. */
	if (host_hs && max_hz > CLOCK_DS_HZ && card->have_scr && (card->scr[0] & 0xf) >= 1 &&
	    (card->ccc & CCC_SWITCH) && switch_high_speed(ops, host)) {
		ops->set_high_speed(host, true);
		card->high_speed = true;
		card->clock_hz = ops->set_clock(host, MIN_U32(CLOCK_HS_HZ, max_hz));
		if (card->clock_hz == 0)
			FAIL("high-speed clock", SD_EIO);
	}
	return SD_OK;
#undef FAIL
}
