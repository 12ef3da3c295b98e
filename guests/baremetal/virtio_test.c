/*
 * test=virtio: virtio-blk through keel's virtio-mmio device.
 *
 * Implemented: probe the DT "virtio,mmio" nodes, negotiate VERSION_1, write a pattern to
 * sectors 0..7, read it back and compare byte for byte, restore the original contents
 * ("GUEST: virtio rw ok"). On a read-only disk: read sectors 0..7 and check that a write is
 * refused with VIRTIO_BLK_S_IOERR ("GUEST: virtio ro ok").
 *
 * The hostile virtio-blk tests (malformed chains, buffers outside RAM, bad sectors/lengths/types,
 * read-only disk, bad indirect tables, broken rings -> NEEDS_RESET and recovery, register abuse)
 * are test=virtio-hostile in virtio_hostile.c.
 */
#include <stdint.h>

#include "lib.h"
#include "tests.h"
#include "uart.h"
#include "virtio.h"

#define TEST_SECTORS 8
#define TEST_BYTES   (TEST_SECTORS * VIRTIO_SECTOR_SIZE)

static uint8_t orig[TEST_BYTES] __attribute__((aligned(16)));
static uint8_t pattern[TEST_BYTES] __attribute__((aligned(16)));
static uint8_t check[TEST_BYTES] __attribute__((aligned(16)));

static int request(struct virtio_blk *d, int write, void *buf, const char *what)
{
	int st = virtio_blk_rw(d, write, 0, buf, TEST_BYTES);

	if (st != VIRTIO_BLK_S_OK)
		gprintf("GUEST: FAIL virtio %s sectors 0..%d: status %d\n", what, TEST_SECTORS - 1, st);
	return st;
}

static int first_mismatch(const uint8_t *a, const uint8_t *b, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return (int)i;
	return -1;
}

void test_virtio(void)
{
	struct virtio_blk d = {0};
	int bad;
	char arg[8];

	if (bootarg("no_blk_size", arg, sizeof(arg))) {
		/* A driver that ignores BLK_SIZE: on a disk with blocks above 512 bytes keel refuses
		 * FEATURES_OK (virtio 1.2 §5.2.5), so it can never issue 512-byte-granular I/O. */
		if (virtio_blk_probe(&d) == 0 && virtio_blk_init_features(&d, VIRTIO_DRV_NO_BLK_SIZE) != 0)
			gprintf("GUEST: virtio FEATURES_OK refused without BLK_SIZE\n");
		else
			test_fail();
		return;
	}
	if (virtio_blk_probe(&d) || virtio_blk_init(&d)) {
		test_fail();
		return;
	}
	if (d.capacity < TEST_SECTORS) {
		gprintf("GUEST: FAIL virtio disk too small (%lu sectors)\n", d.capacity);
		test_fail();
		return;
	}
	memset(orig, 0xa5, sizeof(orig));
	if (request(&d, 0, orig, "read")) {
		test_fail();
		return;
	}
	gprintf("GUEST: virtio read ok first bytes %02x %02x %02x %02x\n", orig[0], orig[1], orig[2],
		orig[3]);
	for (uint32_t i = 0; i < TEST_BYTES; i++)
		pattern[i] = (uint8_t)((i / VIRTIO_SECTOR_SIZE) * 37 + i * 7 + 0x5a + (i >> 9));

	if (d.read_only) {
		memcpy(check, orig, sizeof(check));
		int st = virtio_blk_rw(&d, 1, 0, pattern, TEST_BYTES);

		if (st != VIRTIO_BLK_S_IOERR) {
			gprintf("GUEST: FAIL virtio write to a read-only disk: status %d, want %d\n", st,
				VIRTIO_BLK_S_IOERR);
			test_fail();
		}
		if (request(&d, 0, check, "re-read") || first_mismatch(check, orig, TEST_BYTES) >= 0) {
			gprintf("GUEST: FAIL virtio read-only disk changed\n");
			test_fail();
			return;
		}
		gprintf("GUEST: virtio ro ok\n");
		return;
	}
	if (request(&d, 1, pattern, "write")) {
		test_fail();
		return;
	}
	memset(check, 0, sizeof(check));
	if (request(&d, 0, check, "read back")) {
		test_fail();
		return;
	}
	bad = first_mismatch(check, pattern, TEST_BYTES);
	if (bad >= 0) {
		gprintf("GUEST: FAIL virtio data mismatch at byte %d: wrote 0x%02x read 0x%02x\n", bad,
			pattern[bad], check[bad]);
		test_fail();
	}
	if (request(&d, 1, orig, "restore")) {
		test_fail();
		return;
	}
	if (bad < 0)
		gprintf("GUEST: virtio rw ok\n");
}
