/*
 * test=virtio: virtio-blk through keel's virtio-mmio device.
 *
 * Implemented: probe the DT "virtio,mmio" nodes, negotiate VERSION_1, write a pattern to
 * sectors 0..7, read it back and compare byte for byte, restore the original contents
 * ("GUEST: virtio rw ok"); with no_blk_size=1, 512-byte units without BLK_SIZE (test_virtio_512).
 * On a read-only disk: read sectors 0..7 and check that a write is
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
#define BUF_BYTES    (16 * VIRTIO_SECTOR_SIZE) /* test_virtio_512's sectors 8..23 */

static uint8_t orig[BUF_BYTES] __attribute__((aligned(16)));
static uint8_t pattern[BUF_BYTES] __attribute__((aligned(16)));
static uint8_t check[BUF_BYTES] __attribute__((aligned(16)));

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

/* Byte i of sector s as test=virtio no_blk_size=1 writes it (tests/boot/test_ufs.py computes it too). */
static uint8_t unit_byte(uint64_t s, uint32_t i)
{
	return (uint8_t)(s * 37 + i * 7 + 0x5a);
}

/* 512-byte units this mode writes: inside a 4 KiB block, and across a block boundary. */
static const struct {
	uint32_t sector, count;
} units[] = {{9, 1}, {13, 2}, {15, 3}};

#define UNIT_FIRST 8
#define UNIT_END   24

/*
 * test=virtio no_blk_size=1: a driver that does not accept BLK_SIZE (as U-Boot), on any disk: keel
 * must take its FEATURES_OK and serve 512-byte units (by read-modify-write on a 4 KiB-block disk).
 * Reads sectors 8..23, writes the units above one request each, reads 8..23 back one sector at a
 * time and checks every byte: the units hold the pattern, the other sectors their old bytes. The
 * writes are left in place for the host to check ("GUEST: virtio 512-byte rw ok").
 */
static void test_virtio_512(struct virtio_blk *d)
{
	uint32_t n = (UNIT_END - UNIT_FIRST) * VIRTIO_SECTOR_SIZE;

	if (virtio_blk_probe(d) || virtio_blk_init_features(d, VIRTIO_DRV_NO_BLK_SIZE)) {
		gprintf("GUEST: FAIL virtio FEATURES_OK without BLK_SIZE\n");
		test_fail();
		return;
	}
	if (d->capacity < UNIT_END || d->read_only) {
		gprintf("GUEST: FAIL virtio disk too small or read-only\n");
		test_fail();
		return;
	}
	for (uint32_t off = 0; off < n; off += TEST_BYTES) { /* the driver's limit: 4 KiB a request */
		if (virtio_blk_rw(d, 0, UNIT_FIRST + off / VIRTIO_SECTOR_SIZE, orig + off, TEST_BYTES) !=
		    VIRTIO_BLK_S_OK) {
			gprintf("GUEST: FAIL virtio read of sectors %d..%d\n", UNIT_FIRST, UNIT_END - 1);
			test_fail();
			return;
		}
	}
	memcpy(check, orig, n);
	for (unsigned u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		uint32_t len = units[u].count * VIRTIO_SECTOR_SIZE;
		for (uint32_t i = 0; i < len; i++) {
			uint64_t s = units[u].sector + i / VIRTIO_SECTOR_SIZE;
			pattern[i] = unit_byte(s, i % VIRTIO_SECTOR_SIZE);
			check[(s - UNIT_FIRST) * VIRTIO_SECTOR_SIZE + i % VIRTIO_SECTOR_SIZE] = pattern[i];
		}
		int st = virtio_blk_rw(d, 1, units[u].sector, pattern, len);
		if (st != VIRTIO_BLK_S_OK) {
			gprintf("GUEST: FAIL virtio 512-byte write at sector %u: status %d\n",
				units[u].sector, st);
			test_fail();
			return;
		}
	}
	for (uint32_t s = UNIT_FIRST; s < UNIT_END; s++) {
		uint8_t *want = &check[(s - UNIT_FIRST) * VIRTIO_SECTOR_SIZE];
		memset(pattern, 0xee, VIRTIO_SECTOR_SIZE);
		int st = virtio_blk_rw(d, 0, s, pattern, VIRTIO_SECTOR_SIZE);
		int bad = st == VIRTIO_BLK_S_OK ? first_mismatch(pattern, want, VIRTIO_SECTOR_SIZE) : 0;
		if (bad >= 0) {
			gprintf(
			    "GUEST: FAIL virtio 512-byte read of sector %u: status %d, byte %d 0x%02x want "
			    "0x%02x\n",
			    s, st, bad, pattern[bad], want[bad]);
			test_fail();
			return;
		}
	}
	gprintf("GUEST: virtio 512-byte rw ok\n");
}

void test_virtio(void)
{
	struct virtio_blk d = {0};
	int bad;
	char arg[8];

	if (bootarg("no_blk_size", arg, sizeof(arg))) {
		test_virtio_512(&d);
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
