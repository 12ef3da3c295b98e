/*
 * libFuzzer target for the CFI flash bank's command state machine (vdev/flash_cfi.c). The input is a
 * program of bus accesses to two banks, a read-only code bank and a writable variable bank (offsets
 * biased to the first words, block and buffer boundaries and the bank's end; values biased to the
 * command set), reads and resets.
 *
 * Invariants, checked after every step (whole contents at the end of the input): no crash or sanitizer
 * report; the code bank's bytes never change; a byte of the variable bank changes only inside the range the
 * bank reported (ops.changed) for that step, and only by clearing bits, or to 0xff by a whole-block erase; a
 * pending command implies a non-array read mode; the array-mode callback mirrors the mode; refused accesses
 * are exactly those not 1, 2, 4 or 8 bytes, misaligned or outside the bank.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_input.h"
#include "vdev/flash_cfi.h"

#define BANK (2 * FLASH_CFI_BLOCK_SIZE)

struct watch {
	bool array;
	uint64_t off, len;
	unsigned changes;
};

static uint8_t *code, *code_ref, *vars, *vars_ref;
static struct flash_cfi banks[2];
static struct watch watches[2];

static void on_array(void *ctx, bool on)
{
	struct watch *w = ctx;
	if (w->array == on)
		abort(); /* a callback must report a change of mode */
	w->array = on;
}

static void on_changed(void *ctx, uint64_t off, uint64_t len)
{
	struct watch *w = ctx;
	if (off >= BANK || len > BANK - off)
		abort();
	w->off = off;
	w->len = len;
	w->changes++;
}

static uint64_t pick_offset(struct input *in)
{
	static const uint64_t spots[] = {0,
					 4,
					 0x55 * 4,
					 0x10 * 4,
					 0xffc,
					 0x1000,
					 FLASH_CFI_WRITE_BUFFER - 8,
					 FLASH_CFI_BLOCK_SIZE - 4,
					 FLASH_CFI_BLOCK_SIZE,
					 BANK - 8,
					 BANK - 4,
					 BANK - 1,
					 BANK,
					 BANK + 4};
	uint8_t k = (uint8_t)take(in, 1);
	if (k < 160)
		return spots[k % (sizeof(spots) / sizeof(spots[0]))] + (take(in, 1) & 7);
	if (k < 250)
		return take(in, 3) % (BANK + 16);
	return take(in, 8);
}

static uint64_t pick_value(struct input *in)
{
	static const uint8_t cmds[] = {0xff, 0x00, 0xf0, 0x40, 0x10, 0x20, 0xd0, 0x50,
				       0x60, 0x01, 0x2f, 0x70, 0x90, 0x98, 0xe8};
	uint8_t k = (uint8_t)take(in, 1);
	if (k < 128) {
		uint64_t c = cmds[k % sizeof(cmds)];
		return c | c << 16;
	}
	if (k < 192)
		return take(in, 2); /* counts */
	return take(in, 8);
}

/* The bytes the bank reported changed since the last check: only cleared bits, or a whole erase. */
static void check_changed(unsigned b, uint8_t *mem, uint8_t *ref, unsigned changes_before)
{
	struct flash_cfi *f = &banks[b];
	struct watch *w = &watches[b];
	if ((f->pending != FLASH_CFI_NONE && f->mode == FLASH_CFI_ARRAY) ||
	    w->array != (f->mode == FLASH_CFI_ARRAY))
		abort();
	if (w->changes == changes_before)
		return;
	if (!f->writable || w->changes != changes_before + 1)
		abort(); /* the code bank changed, or one write reported two changes */
	bool erase = w->len == FLASH_CFI_BLOCK_SIZE && w->off % FLASH_CFI_BLOCK_SIZE == 0;
	for (uint64_t i = w->off; i < w->off + w->len; i++) {
		if (erase ? mem[i] != 0xff : (mem[i] & ~ref[i]) != 0)
			abort(); /* a program set a bit, or an erase left one clear */
		ref[i] = mem[i];
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!code) {
		code = malloc(BANK);
		code_ref = malloc(BANK);
		vars = malloc(BANK);
		vars_ref = malloc(BANK);
		for (uint64_t i = 0; i < BANK; i++)
			code_ref[i] = (uint8_t)(i * 7 + 3);
	}
	memcpy(code, code_ref, BANK); /* the code bank is never changed: its reference is the image */
	memset(vars, 0xff, BANK);
	memset(vars + FLASH_CFI_BLOCK_SIZE, 0x3c, 4096);
	memcpy(vars_ref, vars, BANK);
	memset(watches, 0, sizeof(watches));
	watches[0].array = watches[1].array = true;
	struct flash_cfi_ops ops0 = {.array_mode = on_array, .changed = on_changed, .ctx = &watches[0]};
	struct flash_cfi_ops ops1 = {.array_mode = on_array, .changed = on_changed, .ctx = &watches[1]};
	if (flash_cfi_init(&banks[0], "code", code, BANK, false, &ops0) ||
	    flash_cfi_init(&banks[1], "vars", vars, BANK, true, &ops1))
		abort();

	struct input in = {data, size};
	for (unsigned step = 0; step < 4096 && in.n > 0; step++) {
		uint8_t op = (uint8_t)take(&in, 1);
		unsigned b = op & 1;
		struct flash_cfi *f = &banks[b];
		unsigned before = watches[b].changes;
		static const unsigned sizes[] = {4, 4, 4, 2, 1, 8, 3, 0};
		unsigned sz = sizes[(op >> 1) & 7];
		switch (op >> 4) {
		case 0:
			flash_cfi_reset(f);
			break;
		case 1:
		case 2:
		case 3:
			if (sz >= 1 && sz <= 8)
				(void)flash_cfi_read(f, pick_offset(&in), sz);
			break;
		default: {
			uint64_t off = pick_offset(&in), v = pick_value(&in);
			int rc = flash_cfi_write(f, off, sz, v);
			/* 8 bytes: two 4-byte cycles (QEMU's split, which EDK2 relies on). */
			bool ok = (sz == 1 || sz == 2 || sz == 4 || sz == 8) && off % sz == 0 && off < BANK &&
				  sz <= BANK - off;
			if ((rc == 0) != ok)
				abort();
			break;
		}
		}
		check_changed(b, b ? vars : code, b ? vars_ref : code_ref, before);
	}
	/* Nothing changed that was not reported (and checked) above. */
	if (memcmp(code, code_ref, BANK) != 0 || memcmp(vars, vars_ref, BANK) != 0)
		abort();
	return 0;
}
