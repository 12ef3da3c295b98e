/* CFI flash bank state machine (vdev/flash_cfi.c): queries, programs, erases and hostile sequences. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/mmio.h"
#include "keel/addr.h"
#include "vdev/flash_cfi.h"

#define SMALL  (4 * FLASH_CFI_BLOCK_SIZE) /* 1 MiB: four erase blocks */
#define SR2(x) ((uint32_t)(x) | (uint32_t)(x) << 16)

struct probe {
	unsigned array_on, array_off;
	uint64_t changed_off, changed_len;
	unsigned changes;
};

static void on_array(void *ctx, bool on)
{
	struct probe *p = ctx;
	if (on)
		p->array_on++;
	else
		p->array_off++;
}

static void on_changed(void *ctx, uint64_t off, uint64_t len)
{
	struct probe *p = ctx;
	p->changed_off = off;
	p->changed_len = len;
	p->changes++;
}

struct fixture {
	struct flash_cfi f;
	struct probe p;
	uint8_t *mem;
};

static struct fixture *setup(uint64_t size, bool writable, uint8_t fill)
{
	struct fixture *x = calloc(1, sizeof(*x));
	x->mem = malloc(size);
	memset(x->mem, fill, size);
	struct flash_cfi_ops ops = {.array_mode = on_array, .changed = on_changed, .ctx = &x->p};
	assert_int_equal(flash_cfi_init(&x->f, "VM t: flash", x->mem, size, writable, &ops), 0);
	return x;
}

static void teardown(struct fixture *x)
{
	free(x->mem);
	free(x);
}

static void wr(struct fixture *x, uint64_t off, uint32_t v)
{
	assert_int_equal(flash_cfi_write(&x->f, off, 4, v), 0);
}

static uint32_t rd(struct fixture *x, uint64_t off)
{
	return (uint32_t)flash_cfi_read(&x->f, off, 4);
}

static void test_init_refuses_bad_geometry(void **state)
{
	(void)state;
	struct flash_cfi f;
	uint8_t b[16];
	assert_int_equal(flash_cfi_init(&f, "x", b, 0, true, NULL), -EINVAL);
	assert_int_equal(flash_cfi_init(&f, "x", b, FLASH_CFI_BLOCK_SIZE + 4, true, NULL), -EINVAL);
	assert_int_equal(flash_cfi_init(&f, "x", NULL, FLASH_CFI_BLOCK_SIZE, true, NULL), -EINVAL);
}

/* The values QEMU virt's banks answer (two x16 devices, 64 MiB, 256 KiB blocks): firmware's probe. */
static void test_query_matches_qemu_virt_bank(void **state)
{
	(void)state;
	struct fixture *x = setup(FLASH_CFI_BANK_SIZE, false, 0xa5);
	assert_int_equal(rd(x, 0), 0xa5a5a5a5);
	wr(x, 0x55 * 4, 0x00980098);
	assert_int_equal(x->p.array_off, 1);
	assert_int_equal(rd(x, 0x10 * 4), SR2('Q'));
	assert_int_equal(rd(x, 0x11 * 4), SR2('R'));
	assert_int_equal(rd(x, 0x12 * 4), SR2('Y'));
	assert_int_equal(rd(x, 0x13 * 4), SR2(0x01)); /* Intel command set */
	assert_int_equal(rd(x, 0x27 * 4), SR2(25));   /* 32 MiB per device */
	assert_int_equal(rd(x, 0x2a * 4), SR2(11));   /* 2 KiB write buffer per device */
	assert_int_equal(rd(x, 0x2c * 4), SR2(1));    /* one region */
	assert_int_equal(rd(x, 0x2d * 4), SR2(0xff)); /* 256 blocks */
	assert_int_equal(rd(x, 0x2e * 4), SR2(0));
	assert_int_equal(rd(x, 0x2f * 4), SR2(0x00)); /* 128 KiB per device */
	assert_int_equal(rd(x, 0x30 * 4), SR2(0x02));
	assert_int_equal(rd(x, 0x31 * 4), SR2('P'));
	assert_int_equal(rd(x, 0x1000 * 4), 0); /* past the table */
	/* Narrow reads see one device's lane; an 8-byte read two bus words. */
	assert_int_equal(flash_cfi_read(&x->f, 0x10 * 4, 1), 'Q');
	assert_int_equal(flash_cfi_read(&x->f, 0x10 * 4 + 2, 2), 'Q');
	assert_int_equal(flash_cfi_read(&x->f, 0x10 * 4, 8), (uint64_t)SR2('R') << 32 | SR2('Q'));
	wr(x, 0, 0x00ff00ff);
	assert_int_equal(x->p.array_on, 1);
	assert_int_equal(rd(x, 0x10 * 4), 0xa5a5a5a5);
	assert_int_equal(x->f.guest_errors, 0);
	teardown(x);
}

static void test_identifier(void **state)
{
	(void)state;
	struct fixture *x = setup(SMALL, true, 0xff);
	wr(x, 0, 0x90);
	assert_int_equal(rd(x, 0), SR2(FLASH_CFI_MANUFACTURER));
	assert_int_equal(rd(x, 4), SR2(FLASH_CFI_DEVICE_ID));
	assert_int_equal(rd(x, 8), 0); /* block lock status: unlocked */
	wr(x, 0, 0xf0);		       /* AMD reset, as probes send: read array */
	assert_int_equal(rd(x, 0), 0xffffffff);
	teardown(x);
}

static void test_word_program_clears_bits_only(void **state)
{
	(void)state;
	struct fixture *x = setup(SMALL, true, 0xff);
	wr(x, 8, 0x00400040);
	assert_int_equal(rd(x, 8), SR2(CFI_SR_READY)); /* status while waiting for data */
	wr(x, 8, 0x12345678);
	assert_int_equal(rd(x, 8), SR2(CFI_SR_READY)); /* status after the program */
	assert_int_equal(x->p.changes, 1);
	assert_int_equal(x->p.changed_off, 8);
	assert_int_equal(x->p.changed_len, 4);
	wr(x, 0, 0xff);
	assert_int_equal(rd(x, 8), 0x12345678);
	/* Programming cannot set bits: 0xffff0000 over 0x12345678 leaves 0x12340000. */
	wr(x, 8, 0x10);
	wr(x, 8, 0xffff0000);
	wr(x, 8, 0xff);
	assert_int_equal(rd(x, 8), 0x12340000);
	/* A 2-byte program touches two bytes. */
	wr(x, 0x20, 0x40);
	assert_int_equal(flash_cfi_write(&x->f, 0x22, 2, 0xbeef), 0);
	wr(x, 0, 0xff);
	assert_int_equal(rd(x, 0x20), 0xbeefffff);
	assert_int_equal(x->f.programs, 3);
	assert_int_equal(x->f.guest_errors, 0);
	teardown(x);
}

static void test_block_erase(void **state)
{
	(void)state;
	struct fixture *x = setup(SMALL, true, 0x00);
	wr(x, FLASH_CFI_BLOCK_SIZE + 0x100, 0x20);
	assert_int_equal(x->mem[FLASH_CFI_BLOCK_SIZE], 0); /* nothing before the confirm */
	wr(x, FLASH_CFI_BLOCK_SIZE + 0x100, 0xd0);
	assert_int_equal(rd(x, 0), SR2(CFI_SR_READY));
	for (uint64_t i = 0; i < SMALL; i += 4096)
		assert_int_equal(x->mem[i],
				 i >= FLASH_CFI_BLOCK_SIZE && i < 2 * FLASH_CFI_BLOCK_SIZE ? 0xff : 0);
	assert_int_equal(x->mem[2 * FLASH_CFI_BLOCK_SIZE - 1], 0xff);
	assert_int_equal(x->mem[2 * FLASH_CFI_BLOCK_SIZE], 0);
	assert_int_equal(x->p.changed_off, FLASH_CFI_BLOCK_SIZE);
	assert_int_equal(x->p.changed_len, FLASH_CFI_BLOCK_SIZE);
	assert_int_equal(x->f.erases, 1);
	/* Erase, then anything but confirm: a sequence error, the block untouched. */
	wr(x, 0, 0x20);
	wr(x, 0, 0x55);
	assert_int_equal(rd(x, 0), SR2(CFI_SR_READY | CFI_SR_SEQ_ERR));
	assert_int_equal(x->mem[0], 0);
	assert_int_equal(x->f.guest_errors, 1);
	/* Clear status returns to read array. */
	wr(x, 0, 0x50);
	assert_int_equal(rd(x, 0), 0);
	assert_int_equal(x->f.status, CFI_SR_READY);
	/* Erase then read array abandons the erase. */
	wr(x, 0, 0x20);
	wr(x, 0, 0xff);
	assert_int_equal(rd(x, 0), 0);
	teardown(x);
}

static void test_buffered_program(void **state)
{
	(void)state;
	struct fixture *x = setup(SMALL, true, 0xff);
	wr(x, 0x1000, 0xe8);
	assert_int_equal(rd(x, 0x1000), SR2(CFI_SR_READY)); /* buffer available */
	wr(x, 0x1000, 0x00030003);			    /* 4 words */
	for (unsigned i = 0; i < 4; i++)
		wr(x, 0x1000 + 4 * i, 0x11111111u * (i + 1));
	assert_int_equal(x->mem[0x1000], 0xff); /* nothing before the confirm */
	assert_int_equal(x->f.pending, FLASH_CFI_BUF_CONFIRM);
	wr(x, 0x1000, 0xd0);
	assert_int_equal(rd(x, 0x1000), SR2(CFI_SR_READY));
	wr(x, 0, 0xff);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(rd(x, 0x1000 + 4 * i), 0x11111111u * (i + 1));
	assert_int_equal(rd(x, 0x1010), 0xffffffff);
	assert_int_equal(x->p.changed_off, 0x1000); /* the window */
	assert_int_equal(x->p.changed_len, FLASH_CFI_WRITE_BUFFER);
	/* Firmware that sees the bank as one x16 part counts 16-bit writes: as many as it announced. */
	wr(x, 0x1800, 0xe8);
	wr(x, 0x1800, 2);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(flash_cfi_write(&x->f, 0x1800 + 2 * i, 2, 0x1234), 0);
	wr(x, 0x1800, 0xd0);
	wr(x, 0, 0xff);
	assert_int_equal(rd(x, 0x1800), 0x12341234);
	assert_int_equal(rd(x, 0x1804), 0xffff1234);
	/* A whole 4 KiB buffer is allowed. */
	wr(x, 0x2000, 0xe8);
	wr(x, 0x2000, FLASH_CFI_WRITE_BUFFER / 4 - 1);
	for (unsigned i = 0; i < FLASH_CFI_WRITE_BUFFER / 4; i++)
		wr(x, 0x2000 + 4 * i, 0);
	wr(x, 0x2000, 0xd0);
	assert_int_equal(x->f.status, CFI_SR_READY);
	assert_int_equal(x->mem[0x2000 + FLASH_CFI_WRITE_BUFFER - 1], 0);
	assert_int_equal(x->mem[0x2000 + FLASH_CFI_WRITE_BUFFER], 0xff);
	assert_int_equal(x->f.guest_errors, 0);
	teardown(x);
}

static void expect_seq_error(struct fixture *x, uint64_t errors)
{
	assert_int_equal(rd(x, 0), SR2(CFI_SR_READY | CFI_SR_SEQ_ERR));
	assert_int_equal(x->f.pending, FLASH_CFI_NONE);
	assert_int_equal(x->f.guest_errors, errors);
	wr(x, 0, 0x50);
	assert_int_equal(x->f.mode, FLASH_CFI_ARRAY);
}

static void test_buffered_program_hostile(void **state)
{
	(void)state;
	struct fixture *x = setup(SMALL, true, 0xff);
	/* Count larger than the buffer. */
	wr(x, 0, 0xe8);
	wr(x, 0, 0xffff);
	expect_seq_error(x, 1);
	/* Crossing out of the buffer's 4 KiB window (the command may go to the block's start). */
	wr(x, 0, 0xe8);
	wr(x, 0, 3);
	wr(x, 0x1ff8, 0);
	wr(x, 0x1ffc, 0);
	wr(x, 0x2000, 0);
	expect_seq_error(x, 2);
	/* Data far outside the window of the first. */
	wr(x, 0x100, 0xe8);
	wr(x, 0x100, 1);
	wr(x, 0x1100, 0);
	wr(x, 0x2100, 0);
	expect_seq_error(x, 3);
	/* No confirm: nothing is programmed. */
	wr(x, 0x100, 0xe8);
	wr(x, 0x100, 0);
	wr(x, 0x100, 0);
	wr(x, 0x100, 0x70);
	expect_seq_error(x, 4);
	assert_int_equal(rd(x, 0x100), 0xffffffff);
	assert_int_equal(x->p.changes, 0);
	teardown(x);
}

static void test_code_bank_is_read_only(void **state)
{
	(void)state;
	struct fixture *x = setup(SMALL, false, 0x5a);
	wr(x, 0, 0x40);
	wr(x, 0, 0);
	assert_int_equal(rd(x, 0), SR2(CFI_SR_READY | CFI_SR_PROGRAM_ERR | CFI_SR_BLOCK_LOCKED));
	wr(x, 0, 0x50);
	wr(x, 0, 0x20);
	wr(x, 0, 0xd0);
	assert_int_equal(rd(x, 0), SR2(CFI_SR_READY | CFI_SR_ERASE_ERR | CFI_SR_BLOCK_LOCKED));
	wr(x, 0, 0x50);
	wr(x, 0x40, 0xe8);
	wr(x, 0x40, 0);
	wr(x, 0x40, 0);
	wr(x, 0x40, 0xd0);
	assert_int_equal(rd(x, 0), SR2(CFI_SR_READY | CFI_SR_PROGRAM_ERR | CFI_SR_BLOCK_LOCKED));
	wr(x, 0, 0xff);
	for (uint64_t i = 0; i < SMALL; i += 512)
		assert_int_equal(x->mem[i], 0x5a);
	assert_int_equal(x->p.changes, 0);
	assert_int_equal(x->f.guest_errors, 3);
	/* Error bits stay until clear status; lock and unlock are accepted (and change nothing). */
	wr(x, 0, 0x70);
	assert_int_equal(rd(x, 0), SR2(CFI_SR_READY | CFI_SR_PROGRAM_ERR | CFI_SR_BLOCK_LOCKED));
	wr(x, 0, 0x50);
	wr(x, 0, 0x60);
	wr(x, 0, 0xd0);
	assert_int_equal(rd(x, 0), SR2(CFI_SR_READY));
	teardown(x);
}

static void test_unknown_command_and_bad_accesses(void **state)
{
	(void)state;
	struct fixture *x = setup(SMALL, true, 0xff);
	wr(x, 0, 0x33);
	assert_int_equal(x->f.mode, FLASH_CFI_STATUS);
	expect_seq_error(x, 1);
	wr(x, 0, 0x60);
	wr(x, 0, 0x77); /* not a lock command */
	expect_seq_error(x, 2);
	/* Misaligned, out-of-bank and misaligned 8-byte writes are refused without touching the state. */
	wr(x, 0, 0x40);
	assert_int_equal(flash_cfi_write(&x->f, 4, 8, 0), -EINVAL);
	assert_int_equal(flash_cfi_write(&x->f, 2, 4, 0), -EINVAL);
	assert_int_equal(flash_cfi_write(&x->f, 1, 2, 0), -EINVAL);
	assert_int_equal(flash_cfi_write(&x->f, SMALL, 1, 0), -EINVAL);
	assert_int_equal(flash_cfi_write(&x->f, UINT64_MAX - 1, 2, 0), -EINVAL);
	assert_int_equal(x->f.pending, FLASH_CFI_PROGRAM);
	assert_int_equal(x->f.guest_errors, 7);
	assert_int_equal(rd(x, 0), SR2(CFI_SR_READY));
	assert_int_equal(flash_cfi_read(&x->f, SMALL, 4), 0);
	wr(x, 0, 0xffffffff); /* the pending program's data */
	assert_int_equal(x->f.pending, FLASH_CFI_NONE);
	/* A flood of bad commands is counted, and logged only a few times a second. */
	for (unsigned i = 0; i < 1000; i++)
		wr(x, 0, 0x33);
	assert_int_equal(x->f.guest_errors, 1007);
	assert_true(x->f.log_rl.total_suppressed >= 900);
	teardown(x);
}

static void test_reset_keeps_contents(void **state)
{
	(void)state;
	struct fixture *x = setup(SMALL, true, 0xff);
	wr(x, 4, 0x40);
	wr(x, 4, 0xabcd0123);
	wr(x, 0, 0xe8);
	assert_int_equal(x->p.array_off, 1);
	flash_cfi_reset(&x->f);
	assert_int_equal(x->p.array_on, 1);
	assert_int_equal(x->f.pending, FLASH_CFI_NONE);
	assert_int_equal(rd(x, 4), 0xabcd0123);
	assert_int_equal(x->f.status, CFI_SR_READY);
	teardown(x);
}

static void test_through_the_mmio_bus(void **state)
{
	(void)state;
	struct fixture *x = setup(SMALL, true, 0xff);
	struct mmio_bus bus = {0};
	struct mmio_region r = {.base = ipa_init(0x04000000),
				.size = SMALL,
				.read = flash_cfi_mmio_read,
				.write = flash_cfi_mmio_write,
				.dev = &x->f,
				.name = "flash1"};
	assert_int_equal(mmio_bus_register(&bus, &r), 0);
	struct mmio_access a = {
	    .ipa = ipa_init(0x04000000 + 0x55 * 4), .size = 4, .write = true, .value = 0x98};
	assert_int_equal(mmio_bus_dispatch(&bus, NULL, &a), 0);
	a = (struct mmio_access){.ipa = ipa_init(0x04000000 + 0x11 * 4), .size = 2};
	assert_int_equal(mmio_bus_dispatch(&bus, NULL, &a), 0);
	assert_int_equal(a.value, 'R');
	a = (struct mmio_access){.ipa = ipa_init(0x04000000 + 4), .size = 8, .write = true};
	assert_true(mmio_bus_dispatch(&bus, NULL, &a) < 0); /* misaligned wide write: an abort */
	teardown(x);
}

/*
 * An aligned 8-byte store is two bus cycles, low word first, as QEMU's memory core splits it for its
 * 4-byte pflash: EDK2's early code stores a doubleword into its flash-resident image and must not take
 * an abort for it.
 */
static void test_doubleword_write_is_two_cycles(void **state)
{
	(void)state;
	struct fixture *x = setup(SMALL, true, 0xff);
	/* 0x40 (word program) then its data 0x12345678 at the next word. */
	assert_int_equal(flash_cfi_write(&x->f, 8, 8, 0x1234567800000040ull), 0);
	assert_int_equal(x->f.pending, FLASH_CFI_NONE);
	assert_int_equal(x->f.programs, 1);
	wr(x, 0, 0xff);
	assert_int_equal(rd(x, 12), 0x12345678);
	assert_int_equal(rd(x, 8), 0xffffffff);
	/* Zeros are two read-array commands: the bank stays readable, nothing counted as an error. */
	assert_int_equal(flash_cfi_write(&x->f, 16, 8, 0), 0);
	assert_int_equal(x->f.mode, FLASH_CFI_ARRAY);
	assert_int_equal(x->f.guest_errors, 0);
	/* An unknown command in a half is a sequence error, as a 4-byte one (here the high half then
	 * asks for the status, which shows it). */
	assert_int_equal(flash_cfi_write(&x->f, 16, 8, 0x0000007000000084ull), 0);
	expect_seq_error(x, 1);
	/* EDK2's store: 0x84 then 0: counted, and the bank is back in read-array mode. */
	assert_int_equal(flash_cfi_write(&x->f, 16, 8, 0x84), 0);
	assert_int_equal(x->f.mode, FLASH_CFI_ARRAY);
	assert_int_equal(x->f.guest_errors, 2);
	/* The last doubleword of the bank is taken; one past it is not. */
	assert_int_equal(flash_cfi_write(&x->f, SMALL - 8, 8, 0xff), 0);
	assert_int_equal(flash_cfi_write(&x->f, SMALL, 8, 0xff), -EINVAL);
	teardown(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_doubleword_write_is_two_cycles),
	    cmocka_unit_test(test_init_refuses_bad_geometry),
	    cmocka_unit_test(test_query_matches_qemu_virt_bank),
	    cmocka_unit_test(test_identifier),
	    cmocka_unit_test(test_word_program_clears_bits_only),
	    cmocka_unit_test(test_block_erase),
	    cmocka_unit_test(test_buffered_program),
	    cmocka_unit_test(test_buffered_program_hostile),
	    cmocka_unit_test(test_code_bank_is_read_only),
	    cmocka_unit_test(test_unknown_command_and_bad_accesses),
	    cmocka_unit_test(test_reset_keeps_contents),
	    cmocka_unit_test(test_through_the_mmio_bus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
