/* A fake SDHCI controller and SD card (see fake_sdhci.h). */
#include "tests/fakes/fake_sdhci.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "arch/cache.h"
#include "arch/mmio.h"
#include "arch/timer.h"
#include "drivers/storage/sd_card.h"
#include "drivers/storage/sdhci_adma.h"

#define FK_ADMA_LINES 4096u /* a bound on the table walk; the driver's END line ends it */

struct fake_sdhci fk;
uint8_t fk_card[FK_SECTORS * 512];

static void fk_pio_word(void);

uint32_t fake_mmio_read(uintptr_t addr, unsigned size)
{
	uint32_t off = (uint32_t)(addr - FK_BASE), v = 0;
	assert_true(off < SDHCI_REG_SIZE);
	switch (off) {
	case SDHCI_PRESENT:
		return (fk.xfer_active ? SDHCI_PS_DATA_INHIBIT : 0) | SDHCI_PS_CARD_PRESENT |
		       SDHCI_PS_WRITABLE |
		       (fk.pio_blocks ? (fk.pio_rd ? SDHCI_PS_BUF_RD_EN : SDHCI_PS_BUF_WR_EN) : 0);
	case SDHCI_BUFFER: {
		assert_int_equal(size, 4);
		assert_true(fk.pio_blocks > 0 && fk.pio_rd); /* only while a read has a block ready */
		if (fk.pio_at + 4 <= sizeof(fk_card))
			memcpy(&v, fk_card + fk.pio_at, 4); /* beyond the store: zeros */
		fk_pio_word();
		return v;
	}
	case SDHCI_SW_RESET:
		return fk.sw_reset;
	case SDHCI_INT_STATUS:
		return fk.int_status;
	case SDHCI_RESPONSE:
		return fk.response;
	default:
		for (unsigned i = 0; i < size; i++)
			v |= (uint32_t)fk.regs[off + i] << (8 * i);
		return v;
	}
}

uint32_t fk_reg(unsigned off, unsigned size)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)fk.regs[off + i] << (8 * i);
	return v;
}

/* One data-port word moved: a block ends after 128, the transfer inside the last block's last word. */
static void fk_pio_word(void)
{
	fk.pio_at += 4;
	fk.pio_words++;
	if (++fk.pio_word < 128)
		return;
	fk.pio_word = 0;
	if (--fk.pio_blocks == 0) {
		fk.xfer_active = false;
		fk.int_status |= SDHCI_INT_XFER_DONE;
	} else
		fk.int_status |= fk.pio_rd ? SDHCI_INT_DATA_AVAIL : SDHCI_INT_SPACE_AVAIL;
}

/* Host memory behind DMA address a (len bytes): inside the bus's window, or the test fails. */
static void *fk_mem(uint64_t a, uint64_t len)
{
	uint64_t pa = a - fk.dma_offset;
	if (fk.dma_size)
		assert_true(pa >= fk.dma_lo && pa - fk.dma_lo <= fk.dma_size &&
			    len <= fk.dma_size - (pa - fk.dma_lo));
	return (void *)(uintptr_t)pa;
}

/* Is the current data command a DMA one through keel's 64-bit ADMA2 table? */
static bool fk_adma64(void)
{
	return (fk_reg(SDHCI_XFER_MODE, 2) & SDHCI_XFER_DMA) &&
	       (fk_reg(SDHCI_HOST_CTRL, 1) & SDHCI_CTRL_DMA_MASK) == SDHCI_CTRL_ADMA2_64;
}

/* Line i of the ADMA2 table the driver gave the controller. */
static const uint32_t *fk_adma(unsigned i)
{
	uint64_t a = (uint64_t)fk_reg(SDHCI_ADMA_ADDR + 4, 4) << 32 | fk_reg(SDHCI_ADMA_ADDR, 4);
	return fk_mem(a + (uint64_t)i * SDHCI_ADMA_WORDS_64 * 4, SDHCI_ADMA_WORDS_64 * 4);
}

/* What the n-th data command was told to move (64-bit ADMA2 lines in keel's table). */
static void fk_record(unsigned n)
{
	fk.d_arg[n] = fk_reg(SDHCI_ARGUMENT, 4);
	fk.d_blocks[n] = (uint16_t)fk_reg(SDHCI_BLOCK_COUNT, 2);
	fk.d_addr[n] = fk.d_bytes[n] = 0;
	fk.cache_n_at[n] = fake_cache_n;
	if (!fk_adma64())
		return; /* SDMA or the data port: no table */
	const uint32_t *l = fk_adma(0);
	fk.d_addr[n] = (uint64_t)l[2] << 32 | l[1];
	for (unsigned i = 0; i < FK_ADMA_LINES; i++) {
		l = fk_adma(i);
		uint32_t len = l[0] >> 16;
		fk.d_bytes[n] += len ? len : 65536;
		if (l[0] & SDHCI_ADMA2_END)
			break;
	}
}

/* Does the fault fail this command (counting it)? */
static bool fk_fails(uint8_t idx, bool data, uint32_t first, uint32_t count)
{
	struct fk_fault *f = &fk.fault;
	if (f->times == 0)
		return false;
	if (f->cmd ? idx != f->cmd : !data || first > f->last || first + count <= f->first)
		return false;
	if (f->times != FK_FOREVER)
		f->times--;
	f->hits++;
	fk.regs[SDHCI_AUTO_CMD_ERR] = (uint8_t)f->auto_cmd;
	fk.regs[SDHCI_AUTO_CMD_ERR + 1] = (uint8_t)(f->auto_cmd >> 8);
	fk.regs[SDHCI_ADMA_ERR] = f->adma;
	return true;
}

/* Move data command n's blocks through keel's 64-bit ADMA2 lines; a failed one leaves garbage. */
static void fk_move(unsigned n, bool failed)
{
	bool rd = fk_reg(SDHCI_XFER_MODE, 2) & SDHCI_XFER_READ;
	if (!fk_adma64())
		return; /* SDMA: not modelled */
	uint64_t at = (uint64_t)fk.d_arg[n] * 512, end = at + (uint64_t)fk.d_blocks[n] * 512;
	if (end > sizeof(fk_card))
		return; /* beyond the store: commands only */
	for (unsigned i = 0; i < FK_ADMA_LINES && at < end; i++) {
		const uint32_t *l = fk_adma(i);
		uint32_t len = l[0] >> 16 ? l[0] >> 16 : 65536;
		uint8_t *mem = fk_mem((uint64_t)l[2] << 32 | l[1], len);
		if (failed)
			memset(rd ? mem : fk_card + at, 0xee, len);
		else if (rd)
			memcpy(mem, fk_card + at, len);
		else
			memcpy(fk_card + at, mem, len);
		at += len;
		if (l[0] & SDHCI_ADMA2_END)
			break;
	}
}

/* End the held data command (fk.hold). */
void fk_release(void)
{
	fk.hold = false;
	fk.xfer_active = false;
	fk.int_status |= fk.held_status;
}

static void fk_command(uint16_t cmd)
{
	assert_true(fk.ncmds < 1024);
	fk.cmds[fk.ncmds++] = cmd;
	fk.response = SD_R1_STATE_TRAN << 9 | SD_R1_READY_FOR_DATA;
	uint8_t idx = (uint8_t)(cmd >> 8);
	bool data = (cmd & SDHCI_CMD_DATA) != 0;
	uint32_t arg = fk_reg(SDHCI_ARGUMENT, 4), count = data ? fk_reg(SDHCI_BLOCK_COUNT, 2) : 0;
	if (fk_fails(idx, data, arg, count)) {
		/* A command-phase error ends the command without command complete; a data-phase one after. */
		uint32_t bits = fk.fault.bits & FK_CMD_ERRBITS ? 0 : SDHCI_INT_CMD_DONE;
		bits |= SDHCI_INT_ERROR | fk.fault.bits;
		if (fk.hold && data) {
			fk.xfer_active = true;
			fk.held_status = bits;
		} else
			fk.int_status |= bits;
		if (data) {
			unsigned n = fk.data_cmds++;
			assert_true(n < 64);
			fk_record(n);
			if (!(fk.fault.bits & FK_CMD_ERRBITS))
				fk_move(n, true);
		}
		return;
	}
	fk.int_status |= SDHCI_INT_CMD_DONE;
	if ((cmd & SDHCI_CMD_TYPE_ABORT) == SDHCI_CMD_TYPE_ABORT) {
		/* The abort CMD12: the card stops sending; a running transfer's DAT line stays busy until
		 * reset, an idle card ends its busy at once. */
		if (!fk.xfer_active && (cmd & 3u) == SDHCI_CMD_RESP_48B)
			fk.int_status |= SDHCI_INT_XFER_DONE;
		return;
	}
	if (cmd & SDHCI_CMD_DATA) {
		unsigned n = fk.data_cmds++;
		assert_true(n < 64);
		fk_record(n);
		uint16_t xfer = (uint16_t)fk_reg(SDHCI_XFER_MODE, 2);
		if (!(xfer & SDHCI_XFER_DMA)) { /* the data port: the driver moves each block */
			fk.pio_blocks = fk.d_blocks[n];
			fk.pio_word = 0;
			fk.pio_rd = (xfer & SDHCI_XFER_READ) != 0;
			fk.pio_at = (uint64_t)fk.d_arg[n] * 512;
			fk.xfer_active = fk.pio_blocks != 0;
			fk.int_status |= !fk.pio_blocks ? SDHCI_INT_XFER_DONE
					 : fk.pio_rd	? SDHCI_INT_DATA_AVAIL
							: SDHCI_INT_SPACE_AVAIL;
			return;
		}
		for (uint64_t end = timer_us() + (uint64_t)fk.us_per_block * fk.d_blocks[n];
		     timer_us() < end;)
			;
		bool hang = fk.hang_data || (fk.hang_from && n + 1 >= fk.hang_from);
		fk.xfer_active = hang || fk.hold;
		bool fail = fk.fail_from && n + 1 >= fk.fail_from;
		if (!hang)
			fk_move(n, fail);
		uint32_t end = fail ? SDHCI_INT_ERROR | SDHCI_INT_DATA_CRC : hang ? 0 : SDHCI_INT_XFER_DONE;
		if (fk.hold)
			fk.held_status = end;
		else
			fk.int_status |= end;
		return;
	}
	if ((cmd & 3u) == SDHCI_CMD_RESP_48B)
		fk.int_status |= SDHCI_INT_XFER_DONE; /* end of busy */
}

void fake_mmio_write(uintptr_t addr, unsigned size, uint32_t v)
{
	uint32_t off = (uint32_t)(addr - FK_BASE);
	assert_true(off < SDHCI_REG_SIZE);
	switch (off) {
	case SDHCI_SW_RESET:
		assert_int_equal(size, 1);
		assert_true(fk.nresets < 256);
		fk.resets[fk.nresets++] = (uint8_t)v;
		if (fk.reset_stuck || (fk.dat_stuck && v == SDHCI_RESET_DAT)) {
			fk.sw_reset = (uint8_t)v;
			return;
		}
		fk.sw_reset = 0;
		/* Like QEMU's model: a write of exactly one line's bit acts, both at once do nothing. A
		 * held command ends here without its events. */
		if (v == SDHCI_RESET_ALL || v == SDHCI_RESET_DAT) {
			fk.xfer_active = false;
			fk.held_status = 0;
			fk.pio_blocks = 0;
		}
		return;
	case SDHCI_INT_STATUS:
		fk.int_status &= ~v;
		return;
	case SDHCI_BUFFER:
		assert_int_equal(size, 4);
		assert_true(fk.pio_blocks > 0 && !fk.pio_rd); /* only while a write has room for a block */
		if (fk.pio_at + 4 <= sizeof(fk_card))
			memcpy(fk_card + fk.pio_at, &v, 4); /* beyond the store: dropped */
		fk_pio_word();
		return;
	case SDHCI_COMMAND:
		assert_int_equal(size, 2);
		fk_command((uint16_t)v);
		return;
	default:
		for (unsigned i = 0; i < size; i++)
			fk.regs[off + i] = (uint8_t)(v >> (8 * i));
	}
}
