/* SDHCI controller primitives: resets, clock and bus, and the synchronous command path of probe time. */
#include "drivers/storage/sdhci_priv.h"

#include <string.h>

#include "keel/log.h"

/* --- controller primitives ------------------------------------------------------ */

bool sdhci_reset(struct sdhci_host *h, uint8_t what)
{
	wr8(h, SDHCI_SW_RESET, what);
	uint64_t end = timer_us() + RESET_TIMEOUT_US;
	while (rd8(h, SDHCI_SW_RESET) & what)
		if (timer_us() > end)
			return false;
	return true;
}

/* Rate-limited error line (lock held): a few a second per controller and cause, then the count. */
bool sdhci_log_allowed(struct sdhci_host *h, struct ratelimit *rl)
{
	return ratelimit_log_allowed(rl, timer_us(), h->name);
}

/*
 * After an error or an abort: the CMD and DAT state machines back to idle (the DMA engine stopped),
 * stale events cleared. One reset bit per write, CMD then DAT: QEMU's model acts on a write of
 * exactly one of them and ignores both together. False when a reset did not complete in time.
 */
bool sdhci_reset_lines(struct sdhci_host *h)
{
	h->stats.resets++;
	bool ok = sdhci_reset(h, SDHCI_RESET_CMD);
	ok = sdhci_reset(h, SDHCI_RESET_DAT) && ok;
	if (!ok && sdhci_log_allowed(h, &h->rl_err))
		log_err("%s: CMD/DAT line reset did not complete", h->name);
	wr8(h, SDHCI_ADMA_ERR, 0);
	wr32(h, SDHCI_INT_STATUS, 0xffffffffu);
	return ok;
}

static uint32_t sdhci_set_clock(void *hp, uint32_t hz)
{
	struct sdhci_host *h = hp;
	uint32_t base = h->base_clock_hz, div, actual, sel;

	wr16(h, SDHCI_CLOCK_CTRL, 0);
	if (hz == 0)
		return 0;
	if (h->spec >= SDHCI_SPEC_300) {
		/* 10-bit divided clock: base / (2N), N = 0 is the base clock. */
		div = base <= hz ? 0 : (base + 2 * hz - 1) / (2 * hz);
		if (div > 0x3ff)
			div = 0x3ff;
		actual = div ? base / (2 * div) : base;
		sel = (div & 0xff) << 8 | ((div >> 8) & 0x3) << 6;
	} else {
		/* 8-bit power-of-two divisor: base / (2N), N in 0, 1, 2, 4, ..., 128. */
		uint32_t d = 1;
		while (d < 256 && base / d > hz)
			d *= 2;
		actual = base / d;
		sel = (d / 2) << 8;
	}
	wr16(h, SDHCI_CLOCK_CTRL, (uint16_t)(sel | SDHCI_CLK_INT_EN));
	if (!wait32(h, SDHCI_CLOCK_CTRL & ~3u, SDHCI_CLK_INT_STABLE, SDHCI_CLK_INT_STABLE,
		    CLOCK_TIMEOUT_US)) {
		log_err("%s: internal clock did not stabilise", h->name);
		return 0;
	}
	wr16(h, SDHCI_CLOCK_CTRL, (uint16_t)(sel | SDHCI_CLK_INT_EN | SDHCI_CLK_CARD_EN));
	return actual;
}

static void sdhci_set_bus_width(void *hp, unsigned bits)
{
	struct sdhci_host *h = hp;
	uint8_t c = rd8(h, SDHCI_HOST_CTRL) & (uint8_t) ~(SDHCI_CTRL_4BIT | SDHCI_CTRL_8BIT);
	wr8(h, SDHCI_HOST_CTRL, (uint8_t)(c | (bits == 4 ? SDHCI_CTRL_4BIT : 0)));
}

static void sdhci_set_high_speed(void *hp, bool on)
{
	struct sdhci_host *h = hp;
	uint8_t c = rd8(h, SDHCI_HOST_CTRL) & (uint8_t)~SDHCI_CTRL_HS;
	wr8(h, SDHCI_HOST_CTRL, (uint8_t)(c | (on ? SDHCI_CTRL_HS : 0)));
}

uint16_t sdhci_resp_flags(uint8_t rsp)
{
	switch (rsp) {
	case SD_RSP_R1:
	case SD_RSP_R6:
	case SD_RSP_R7:
		return SDHCI_CMD_RESP_48 | SDHCI_CMD_CRC | SDHCI_CMD_INDEX;
	case SD_RSP_R1B:
		return SDHCI_CMD_RESP_48B | SDHCI_CMD_CRC | SDHCI_CMD_INDEX;
	case SD_RSP_R2:
		return SDHCI_CMD_RESP_136 | SDHCI_CMD_CRC;
	case SD_RSP_R3:
		return SDHCI_CMD_RESP_48;
	default:
		return SDHCI_CMD_RESP_NONE;
	}
}

/* The response registers hold bits 119:0 of a 136-bit response (no CRC): shift to CSD/CID bit positions. */
static void read_response(const struct sdhci_host *h, uint8_t rsp, uint32_t out[4])
{
	uint32_t r[4];
	for (unsigned i = 0; i < 4; i++)
		r[i] = rd32(h, SDHCI_RESPONSE + 4 * i);
	if (rsp != SD_RSP_R2) {
		out[0] = r[0];
		out[1] = out[2] = out[3] = 0;
		return;
	}
	out[0] = r[0] << 8;
	for (unsigned i = 1; i < 4; i++)
		out[i] = r[i] << 8 | r[i - 1] >> 24;
}

/* Wait for all of want, or any error; returns the status seen (0: timed out). Acks what it returns. */
uint32_t sdhci_wait_int(struct sdhci_host *h, uint32_t want, uint64_t timeout_us)
{
	uint64_t end = timer_us() + timeout_us;
	for (;;) {
		uint32_t st = rd32(h, SDHCI_INT_STATUS);
		if (st & SDHCI_INT_ERR_MASK) {
			wr32(h, SDHCI_INT_STATUS, st);
			return st;
		}
		if ((st & want) == want) {
			wr32(h, SDHCI_INT_STATUS, want);
			return st;
		}
		if (timer_us() > end)
			return 0;
	}
}

/* Synchronous command (probe time, interrupts not signalled): sd_host_ops.cmd. */
static int sdhci_cmd_sync(void *hp, struct sd_cmd *c)
{
	struct sdhci_host *h = hp;
	bool data = c->pio_len != 0, busy = c->rsp == SD_RSP_R1B;
	uint16_t flags = sdhci_resp_flags(c->rsp) | (data ? SDHCI_CMD_DATA : 0);
	uint32_t inhibit = SDHCI_PS_CMD_INHIBIT | (data || busy ? SDHCI_PS_DATA_INHIBIT : 0);
	uint32_t st;

	memset(c->resp, 0, sizeof(c->resp));
	if (!wait32(h, SDHCI_PRESENT, inhibit, 0, CMD_TIMEOUT_US)) {
		sdhci_reset_lines(h);
		return SD_EIO;
	}
	wr32(h, SDHCI_INT_STATUS, 0xffffffffu);
	if (data) {
		wr16(h, SDHCI_BLOCK_SIZE, c->pio_len);
		wr16(h, SDHCI_BLOCK_COUNT, 1);
	}
	wr32(h, SDHCI_ARGUMENT, c->arg);
	wr16(h, SDHCI_XFER_MODE, data ? SDHCI_XFER_READ : 0);
	wr16(h, SDHCI_COMMAND, SDHCI_CMD(c->idx, flags));
	h->stats.commands++;

	st = sdhci_wait_int(h, SDHCI_INT_CMD_DONE, CMD_TIMEOUT_US);
	if (st == 0 || (st & SDHCI_INT_ERR_MASK)) {
		if (st == 0 || (st & SDHCI_INT_TIMEOUTS))
			h->stats.timeouts++;
		sdhci_reset_lines(h);
		return st == 0 || (st & SDHCI_INT_CMD_TIMEOUT) ? SD_ETIMEDOUT : SD_EIO;
	}
	read_response(h, c->rsp, c->resp);

	if (data) {
		uint8_t *buf = c->pio_buf;
		st = sdhci_wait_int(h, SDHCI_INT_DATA_AVAIL, DATA_TIMEOUT_US);
		if (st == 0 || (st & SDHCI_INT_ERR_MASK))
			goto data_err;
		for (unsigned i = 0; i + 4 <= c->pio_len; i += 4) {
			uint32_t w = rd32(h, SDHCI_BUFFER);
			for (unsigned k = 0; k < 4; k++)
				buf[i + k] = (uint8_t)(w >> (8 * k));
		}
	}
	if (data || (busy && !quirk(h, SDHCI_Q_NO_BUSY_IRQ))) {
		st = sdhci_wait_int(h, SDHCI_INT_XFER_DONE, data ? DATA_TIMEOUT_US : BUSY_TIMEOUT_US);
		if (st == 0 || (st & SDHCI_INT_ERR_MASK))
			goto data_err;
	}
	return SD_OK;

data_err:
	if (st == 0 || (st & SDHCI_INT_TIMEOUTS))
		h->stats.timeouts++;
	sdhci_reset_lines(h);
	return st == 0 || (st & SDHCI_INT_DATA_TIMEOUT) ? SD_ETIMEDOUT : SD_EIO;
}

const struct sd_host_ops sdhci_sd_ops = {
    .cmd = sdhci_cmd_sync,
    .set_clock = sdhci_set_clock,
    .set_bus_width = sdhci_set_bus_width,
    .set_high_speed = sdhci_set_high_speed,
};
