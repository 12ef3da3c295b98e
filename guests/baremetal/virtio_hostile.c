/*
 * test=virtio-hostile: hand-built malformed virtio-blk requests against keel's device.
 *
 * Disk 0 (the first virtio-blk device) must be writable; disk 1, if present, read-only. Each
 * case prints "GUEST: hostile <case> ok" or "GUEST: FAIL hostile <case> ...". The expected
 * outcome of each request is exactly what keel specifies (vdev/virtio/virtq.h, virtio_blk.h):
 *   - the answer rule for malformed chains (vdev/virtio/virtq.h): a chain that cannot be walked
 *     to its end (loop, next out of range, broken indirect table) or whose last descriptor is not
 *     a writable buffer in RAM while it has writable bytes: no used element, DEVICE_NEEDS_RESET,
 *     the status byte untouched; the driver resets and re-initialises. A chain walked to its end
 *     but refused (buffer outside guest RAM, readable after writable, > 512 buffers, > 4 GiB)
 *     whose last descriptor is a writable buffer in RAM: VIRTIO_BLK_S_IOERR there, used len 1.
 *     Never an untouched status byte in a used element, except:
 *   - no device-writable byte at all: used element with len 0, nothing written (0xAA fill);
 *   - a parsable request with a bad header/length/sector/direction, or a write to a read-only
 *     disk: VIRTIO_BLK_S_IOERR in the last device-writable byte, used len 1 if that is the only
 *     writable byte, else 0;
 *   - an unknown or un-negotiated type: VIRTIO_BLK_S_UNSUPP (same used len rule);
 *   - a broken ring (avail idx more than the queue size ahead, head >= queue size): no used
 *     element, DEVICE_NEEDS_RESET (Status bit 0x40) and a config-change interrupt; the driver
 *     resets (Status = 0), re-initialises, and the device works again.
 * Writes that must be refused are checked against canary sectors (first and last 8 of disk 0)
 * that are read back after each group. Completions are polled with a bound (a missing one is
 * a FAIL and the device is re-initialised so the next case can run).
 *
 * Bootargs: disk_pattern=1 (the images hold img_byte(disk, offset), see below, checked before
 * anything is written); bad_ipas=<hex>,<hex>,... extra IPAs outside guest RAM to aim buffers at
 * (the boot test passes the host-physical addresses of the RAM-disk images).
 */
#include <stdint.h>

#include "arch.h"
#include "exceptions.h"
#include "lib.h"
#include "tests.h"
#include "uart.h"
#include "virtio.h"

#define REQ_TIMEOUT_MS	2000
#define RING_TIMEOUT_MS 100 /* a completion that must NOT come */
#define FILL		0xaa
#define POISON		0xee
#define CANARY_SECTORS	8
#define BLOCK_BYTES	(CANARY_SECTORS * VIRTIO_SECTOR_SIZE)
#define GUARD		64
#define ITAB_ENTRIES	(INDIRECT_MAX + 2)
#define MAX_BAD_IPAS	24
#define INDIRECT_MAX	512 /* keel's VIRTQ_INDIRECT_MAX / VIRTQ_CHAIN_MAX_BUFS */

static struct virtio_blk h_devs[VIRTIO_BLK_MAX_DEVS];
static struct virtio_blk *h_dev;
static const char *h_case;
static int h_case_fails;

static volatile struct virtio_blk_req_hdr h_hdr __attribute__((aligned(16)));
static volatile uint8_t h_status_mem[2 * GUARD] __attribute__((aligned(16)));
#define h_status (&h_status_mem[GUARD])
static volatile uint8_t h_data_mem[GUARD + BLOCK_BYTES + GUARD] __attribute__((aligned(16)));
#define h_data (&h_data_mem[GUARD])
static uint8_t h_wbuf[BLOCK_BYTES] __attribute__((aligned(16)));  /* payload of refused writes */
static uint8_t h_check[BLOCK_BYTES] __attribute__((aligned(16))); /* canary read-back */
static volatile struct virtq_desc h_itab[ITAB_ENTRIES] __attribute__((aligned(16)));

#define HFAIL(fmt, ...)                                                                                      \
	do {                                                                                                 \
		gprintf("GUEST: FAIL hostile %s " fmt "\n", h_case, ##__VA_ARGS__);                          \
		h_case_fails++;                                                                              \
		test_fail();                                                                                 \
	} while (0)

static uint64_t ipa_of(const volatile void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* The boot test's image contents (tests/boot/test_virtio_hostile.py computes the same). */
static uint8_t img_byte(unsigned disk, uint64_t off)
{
	return (uint8_t)(off * 7 + (off >> 9) * 13 + disk * 101 + 0x11);
}

/* What the baseline writes to the canary sectors of disk 0. */
static uint8_t canary_byte(uint64_t sector, uint32_t i)
{
	return (uint8_t)(sector * 29 + i * 3 + (i >> 8) + 0xc3);
}

static void set_desc(volatile struct virtq_desc *t, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	t[i].addr = addr;
	t[i].len = len;
	t[i].flags = flags;
	t[i].next = next;
}

static volatile struct virtq_desc *dtab(void)
{
	return virtio_blk_desc(h_dev);
}

static void set_hdr(uint32_t type, uint64_t sector)
{
	h_hdr.type = type;
	h_hdr.reserved = 0;
	h_hdr.sector = sector;
}

/* Fill the status byte, its neighbours and the data buffer (with guards) so that any write shows. */
static void prefill(void)
{
	for (unsigned i = 0; i < sizeof(h_status_mem); i++)
		h_status_mem[i] = FILL;
	for (unsigned i = 0; i < sizeof(h_data_mem); i++)
		h_data_mem[i] = FILL;
}

/* hdr -> data -> status in descriptors 0, 1, 2 (the usual layout), data at any IPA. */
static void chain3(uint32_t type, uint64_t sector, uint64_t data, uint32_t len, int data_writable)
{
	volatile struct virtq_desc *t = dtab();

	prefill();
	set_hdr(type, sector);
	set_desc(t, 0, ipa_of(&h_hdr), sizeof(h_hdr), VIRTQ_DESC_F_NEXT, 1);
	set_desc(t, 1, data, len, VIRTQ_DESC_F_NEXT | (data_writable ? VIRTQ_DESC_F_WRITE : 0), 2);
	set_desc(t, 2, ipa_of(h_status), 1, VIRTQ_DESC_F_WRITE, 0);
}

static int reinit(void)
{
	if (virtio_blk_init_features(h_dev, VIRTIO_F_INDIRECT_DESC)) {
		HFAIL("re-initialisation failed");
		return -1;
	}
	return 0;
}

#define UNTOUCHED   (-1)
#define NEEDS_RESET (-2) /* no completion, DEVICE_NEEDS_RESET, then the driver resets */

static void expect_needs_reset(const char *what, uint16_t used_before);

/*
 * Submit the chain at `head` and check the used element (id == head, len == want_len), the
 * status byte (want_status, or UNTOUCHED: still FILL), its neighbours (never written), and that
 * the device did not give up (no NEEDS_RESET / FAILED).
 */
static int expect(const char *what, uint16_t head, uint32_t want_len, int want_status)
{
	uint32_t id = 0xffffffffu, len = 0xffffffffu;
	int fails = h_case_fails;

	if (want_status == NEEDS_RESET) {
		uint16_t used_before = virtio_blk_used_idx(h_dev);
		int r = virtio_blk_kick(h_dev, head, RING_TIMEOUT_MS, &id, &len);
		if (r == 0)
			HFAIL("%s: completed (used len %u, status 0x%02x); want DEVICE_NEEDS_RESET", what,
			      len, h_status[0]);
		if (h_status[0] != FILL)
			HFAIL("%s: status byte 0x%02x written; want it untouched", what, h_status[0]);
		expect_needs_reset(what, used_before);
		return h_case_fails == fails ? 0 : -1;
	}
	int rc = virtio_blk_kick(h_dev, head, REQ_TIMEOUT_MS, &id, &len);

	if (rc != 0) {
		HFAIL("%s: %s (used.idx=%u device status 0x%x)", what,
		      rc > 0 ? "no completion in time" : "inconsistent used ring", virtio_blk_used_idx(h_dev),
		      virtio_blk_read_reg(h_dev, VIRTIO_MMIO_STATUS));
		reinit();
		return -1;
	}
	if (id != head)
		HFAIL("%s: used id %u, want %u", what, id, head);
	if (len != want_len)
		HFAIL("%s: used len %u, want %u", what, len, want_len);
	int want = want_status == UNTOUCHED ? FILL : want_status;
	if (h_status[0] != want)
		HFAIL("%s: status byte 0x%02x, want 0x%02x%s", what, h_status[0], want,
		      want_status == UNTOUCHED ? " (untouched)" : "");
	for (unsigned i = 0; i < sizeof(h_status_mem); i++) {
		if (i != GUARD && h_status_mem[i] != FILL) {
			HFAIL("%s: byte %d next to the status byte written (0x%02x)", what, (int)i - GUARD,
			      h_status_mem[i]);
			break;
		}
	}
	uint32_t st = virtio_blk_read_reg(h_dev, VIRTIO_MMIO_STATUS);
	if (st & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)) {
		HFAIL("%s: device status 0x%x (NEEDS_RESET/FAILED) after a request it should just complete",
		      what, st);
		reinit();
	}
	return h_case_fails == fails ? 0 : -1;
}

/* The data buffer (and its guards) still hold the fill, except [skip, skip+1) if skip >= 0. */
static void expect_data_untouched(const char *what, int skip)
{
	for (unsigned i = 0; i < sizeof(h_data_mem); i++) {
		if ((int)i - GUARD == skip)
			continue;
		if (h_data_mem[i] != FILL) {
			HFAIL("%s: data buffer byte %d written (0x%02x)", what, (int)i - GUARD,
			      h_data_mem[i]);
			return;
		}
	}
}

/* --- good I/O ------------------------------------------------------------------------- */

/* A correct request through the raw ring, checking keel's used len too (write: 1, read: len + 1). */
static int good_io(const char *what, int write, uint64_t sector, const void *buf, uint32_t len)
{
	volatile struct virtq_desc *t = dtab();

	prefill();
	set_hdr(write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, sector);
	set_desc(t, 0, ipa_of(&h_hdr), sizeof(h_hdr), VIRTQ_DESC_F_NEXT, 1);
	set_desc(t, 1, ipa_of(buf), len, VIRTQ_DESC_F_NEXT | (write ? 0 : VIRTQ_DESC_F_WRITE), 2);
	set_desc(t, 2, ipa_of(h_status), 1, VIRTQ_DESC_F_WRITE, 0);
	return expect(what, 0, write ? 1 : len + 1, VIRTIO_BLK_S_OK);
}

static int compare(const char *what, const volatile uint8_t *got, uint64_t sector, uint32_t len,
		   uint8_t (*fn)(uint64_t, uint32_t))
{
	for (uint32_t i = 0; i < len; i++) {
		uint64_t s = sector + i / VIRTIO_SECTOR_SIZE;
		uint8_t want = fn(s, i % VIRTIO_SECTOR_SIZE);
		if (got[i] != want) {
			HFAIL("%s: sector %lu byte %u is 0x%02x, want 0x%02x", what, s,
			      i % VIRTIO_SECTOR_SIZE, got[i], want);
			return -1;
		}
	}
	return 0;
}

static uint64_t last_block(void)
{
	return h_dev->capacity - CANARY_SECTORS;
}

/* The canary sectors of disk 0 are intact (each refused write is followed by this). */
static void canary_check(const char *what)
{
	uint64_t starts[2] = {0, last_block()};

	for (int k = 0; k < 2; k++) {
		memset(h_check, 0, sizeof(h_check));
		if (good_io(what, 0, starts[k], h_check, BLOCK_BYTES) == 0)
			compare(what, h_check, starts[k], BLOCK_BYTES, canary_byte);
	}
}

static unsigned pattern_disk;
static uint8_t pattern_byte(uint64_t sector, uint32_t i)
{
	return img_byte(pattern_disk, sector * VIRTIO_SECTOR_SIZE + i);
}

/* The image the host wrote is what the guest reads (first, middle and last 8 sectors). */
static void pattern_check(unsigned disk)
{
	uint64_t starts[3] = {0, (h_dev->capacity / 2) & ~7ull, last_block()};

	pattern_disk = disk;
	for (int k = 0; k < 3; k++) {
		memset(h_check, 0, sizeof(h_check));
		if (good_io("pattern read", 0, starts[k], h_check, BLOCK_BYTES) == 0)
			compare("pattern", h_check, starts[k], BLOCK_BYTES, pattern_byte);
	}
}

static void case_good_rw(void)
{
	uint64_t starts[2] = {0, last_block()};

	for (int k = 0; k < 2; k++) {
		for (uint32_t i = 0; i < BLOCK_BYTES; i++)
			h_check[i] = canary_byte(starts[k] + i / VIRTIO_SECTOR_SIZE, i % VIRTIO_SECTOR_SIZE);
		good_io("write", 1, starts[k], h_check, BLOCK_BYTES);
	}
	canary_check("read back");
}

/* --- malformed chains ------------------------------------------------------------------ */

static void case_loop(void)
{
	volatile struct virtq_desc *t = dtab();

	/* hdr -> data -> status -> hdr ...: (caught as a readable descriptor after writable ones) */
	chain3(VIRTIO_BLK_T_IN, 0, ipa_of(h_data), VIRTIO_SECTOR_SIZE, 1);
	t[2].flags = VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT;
	t[2].next = 0;
	expect("read chain 0->1->2->0", 0, 0, NEEDS_RESET);
	expect_data_untouched("read chain 0->1->2->0", -1);

	/* Loops through device-writable descriptors only: 0 -> 1 -> 2 -> 1 ... */
	chain3(VIRTIO_BLK_T_IN, 0, ipa_of(h_data), VIRTIO_SECTOR_SIZE, 1);
	t[2].flags = VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT;
	t[2].next = 1;
	expect("read chain 0->1->2->1", 0, 0, NEEDS_RESET);
	expect_data_untouched("read chain 0->1->2->1", -1);

	/* A descriptor pointing at itself: a readable header, and a write's status byte. */
	prefill();
	set_hdr(VIRTIO_BLK_T_IN, 0);
	set_desc(t, 3, ipa_of(&h_hdr), sizeof(h_hdr), VIRTQ_DESC_F_NEXT, 3);
	expect("self loop 3->3", 3, 0, NEEDS_RESET);
	chain3(VIRTIO_BLK_T_OUT, 0, ipa_of(h_wbuf), VIRTIO_SECTOR_SIZE, 0);
	t[2].flags = VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT;
	t[2].next = 2;
	expect("write chain 0->1->2->2", 0, 0, NEEDS_RESET);
	canary_check("after loops");
}

static void case_next_range(void)
{
	volatile struct virtq_desc *t = dtab();
	uint16_t bad[3] = {h_dev->qsize, (uint16_t)(h_dev->qsize + 3), 0xffff};

	for (int k = 0; k < 3; k++) {
		/* from the header */
		chain3(VIRTIO_BLK_T_IN, 0, ipa_of(h_data), VIRTIO_SECTOR_SIZE, 1);
		t[0].next = bad[k];
		expect("header next out of range", 0, 0, NEEDS_RESET);
		expect_data_untouched("header next out of range", -1);
		/* from the data of a write */
		chain3(VIRTIO_BLK_T_OUT, 0, ipa_of(h_wbuf), VIRTIO_SECTOR_SIZE, 0);
		t[1].next = bad[k];
		expect("data next out of range", 0, 0, NEEDS_RESET);
	}
	canary_check("after next out of range");
}

struct bad_ipa {
	uint64_t ipa;
	uint32_t len;
	const char *what;
};

static struct bad_ipa h_bad[MAX_BAD_IPAS];
static int h_nbad;

static void add_bad(uint64_t ipa, uint32_t len, const char *what)
{
	uint64_t ram_end = env.ram_base + env.ram_size;

	if (h_nbad >= MAX_BAD_IPAS)
		return;
	/* Only addresses that are (at least partly) outside the guest's RAM. */
	if (ipa >= env.ram_base && ipa + len <= ram_end && ipa + len > ipa)
		return;
	h_bad[h_nbad].ipa = ipa;
	h_bad[h_nbad].len = len;
	h_bad[h_nbad].what = what;
	h_nbad++;
}

static uint64_t parse_hex(const char **p)
{
	uint64_t v = 0;
	const char *s = *p;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (;; s++) {
		char c = *s;
		unsigned dgt;
		if (c >= '0' && c <= '9')
			dgt = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			dgt = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			dgt = (unsigned)(c - 'A' + 10);
		else
			break;
		v = v << 4 | dgt;
	}
	*p = s;
	return v;
}

static void collect_bad_ipas(void)
{
	static char arg[160];
	uint64_t ram_end = env.ram_base + env.ram_size;

	add_bad(ram_end, VIRTIO_SECTOR_SIZE, "just past RAM end");
	add_bad(ram_end + (64ull << 20), VIRTIO_SECTOR_SIZE, "RAM end + 64 MiB");
	/* Where keel's image would be if the guest's RAM were identity mapped above its own. */
	add_bad(0x40200000ull + env.ram_size, VIRTIO_SECTOR_SIZE, "0x40200000 + RAM size");
	add_bad(env.ram_base - VIRTIO_SECTOR_SIZE, VIRTIO_SECTOR_SIZE, "just below RAM");
	add_bad(0, VIRTIO_SECTOR_SIZE, "IPA 0");
	add_bad(env.gicd, VIRTIO_SECTOR_SIZE, "GIC distributor");
	add_bad(env.gicr, VIRTIO_SECTOR_SIZE, "GIC redistributor");
	add_bad(env.uart, VIRTIO_SECTOR_SIZE, "UART");
	add_bad(h_dev->base, VIRTIO_SECTOR_SIZE, "the virtio-mmio registers");
	add_bad(1ull << 40, VIRTIO_SECTOR_SIZE, "IPA 2^40");
	add_bad(1ull << 52, VIRTIO_SECTOR_SIZE, "IPA 2^52");
	add_bad(0xfffffffffffffe00ull, 2 * VIRTIO_SECTOR_SIZE, "wrapping past 2^64");
	add_bad(ram_end - 256, VIRTIO_SECTOR_SIZE, "straddling RAM end");
	add_bad(env.ram_base - 256, VIRTIO_SECTOR_SIZE, "straddling RAM start");
	add_bad(env.ram_base, 0xfffffe00u, "RAM base, 4 GiB long");
	if (bootarg("bad_ipas", arg, sizeof(arg))) {
		const char *p = arg;
		while (*p) {
			uint64_t v = parse_hex(&p);
			add_bad(v, VIRTIO_SECTOR_SIZE, "boot test address");
			if (*p != ',')
				break;
			p++;
		}
	}
}

static void case_buffers_outside_ram(int straddle)
{
	volatile struct virtq_desc *t = dtab();
	uint64_t ram_end = env.ram_base + env.ram_size;
	int n = 0;

	for (int k = 0; k < h_nbad; k++) {
		const struct bad_ipa *b = &h_bad[k];
		int is_straddle =
		    b->ipa < ram_end && b->ipa + b->len > env.ram_base && b->ipa + b->len > b->ipa;

		if (is_straddle != straddle)
			continue;
		n++;
		gprintf("GUEST: hostile buffer at IPA 0x%lx+0x%x (%s)\n", b->ipa, b->len, b->what);
		/* The device would write there. */
		chain3(VIRTIO_BLK_T_IN, 0, b->ipa, b->len, 1);
		expect(b->what, 0, 1, VIRTIO_BLK_S_IOERR);
		/* The device would read from there (and write it to disk). */
		chain3(VIRTIO_BLK_T_OUT, 0, b->ipa, b->len, 0);
		expect(b->what, 0, 1, VIRTIO_BLK_S_IOERR);
		/* Header / status byte there: for the first address of each kind only (keel rate-limits
		 * its guest-error log lines; the earlier cases' reasons should all be logged). */
		if (n > 1)
			continue;
		chain3(VIRTIO_BLK_T_IN, 0, ipa_of(h_data), VIRTIO_SECTOR_SIZE, 1);
		t[0].addr = b->ipa;
		t[0].len = b->len;
		expect(b->what, 0, 1, VIRTIO_BLK_S_IOERR);
		expect_data_untouched(b->what, -1);
		chain3(VIRTIO_BLK_T_IN, 0, ipa_of(h_data), VIRTIO_SECTOR_SIZE, 1);
		t[2].addr = b->ipa;
		t[2].len = b->len; /* the status byte itself outside RAM: nothing to trust */
		expect(b->what, 0, 0, NEEDS_RESET);
		expect_data_untouched(b->what, -1);
	}
	if (n == 0)
		HFAIL("no address to test");
	if (straddle) {
		/* Control: a buffer that ends exactly at RAM end is fine. */
		memset((void *)(uintptr_t)(ram_end - VIRTIO_SECTOR_SIZE), 0, VIRTIO_SECTOR_SIZE);
		if (good_io("buffer ending at RAM end", 0, 0,
			    (const void *)(uintptr_t)(ram_end - VIRTIO_SECTOR_SIZE), VIRTIO_SECTOR_SIZE) == 0)
			compare("buffer ending at RAM end",
				(const volatile uint8_t *)(uintptr_t)(ram_end - VIRTIO_SECTOR_SIZE), 0,
				VIRTIO_SECTOR_SIZE, canary_byte);
	}
	canary_check("after buffers outside RAM");
}

static void case_descriptor_flags(void)
{
	volatile struct virtq_desc *t = dtab();

	/* Header in a device-writable descriptor: no readable header -> IOERR in the last writable byte. */
	chain3(VIRTIO_BLK_T_IN, 0, ipa_of(h_data), VIRTIO_SECTOR_SIZE, 1);
	t[0].flags |= VIRTQ_DESC_F_WRITE;
	expect("header device-writable", 0, 0, VIRTIO_BLK_S_IOERR);
	expect_data_untouched("header device-writable", -1);
	if (h_hdr.type != VIRTIO_BLK_T_IN || h_hdr.sector != 0)
		HFAIL("header device-writable: header overwritten");

	/* Status in a device-readable descriptor after writable data: readable after writable. */
	chain3(VIRTIO_BLK_T_IN, 0, ipa_of(h_data), VIRTIO_SECTOR_SIZE, 1);
	t[2].flags = 0;
	expect("read, status device-readable", 0, 0, NEEDS_RESET);
	expect_data_untouched("read, status device-readable", -1);

	/* A write with nothing device-writable: nowhere to put a status. */
	chain3(VIRTIO_BLK_T_OUT, 0, ipa_of(h_wbuf), VIRTIO_SECTOR_SIZE, 0);
	t[2].flags = 0;
	expect("write, status device-readable", 0, 0, UNTOUCHED);

	/* Header only. */
	prefill();
	set_hdr(VIRTIO_BLK_T_OUT, 0);
	set_desc(t, 4, ipa_of(&h_hdr), sizeof(h_hdr), 0, 0);
	expect("header only", 4, 0, UNTOUCHED);

	/* Status descriptor of length 0: skipped, so the last writable byte is the data's last byte and
	 * the data is 511 bytes: IOERR there. */
	chain3(VIRTIO_BLK_T_IN, 0, ipa_of(h_data), VIRTIO_SECTOR_SIZE, 1);
	t[2].len = 0;
	expect("status length 0", 0, 0, UNTOUCHED);
	if (h_data[VIRTIO_SECTOR_SIZE - 1] != VIRTIO_BLK_S_IOERR)
		HFAIL("status length 0: last data byte 0x%02x, want IOERR", h_data[VIRTIO_SECTOR_SIZE - 1]);
	expect_data_untouched("status length 0", VIRTIO_SECTOR_SIZE - 1);

	/* Header shorter than 16 bytes. */
	prefill();
	set_hdr(VIRTIO_BLK_T_IN, 0);
	set_desc(t, 0, ipa_of(&h_hdr), 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(t, 1, ipa_of(h_status), 1, VIRTQ_DESC_F_WRITE, 0);
	expect("header of 8 bytes", 0, 1, VIRTIO_BLK_S_IOERR);

	/* Data in the wrong direction. */
	chain3(VIRTIO_BLK_T_IN, 0, ipa_of(h_data), VIRTIO_SECTOR_SIZE, 0);
	expect("read into device-readable data", 0, 1, VIRTIO_BLK_S_IOERR);
	expect_data_untouched("read into device-readable data", -1);
	chain3(VIRTIO_BLK_T_OUT, 0, ipa_of(h_data), VIRTIO_SECTOR_SIZE, 1);
	for (unsigned i = 0; i < VIRTIO_SECTOR_SIZE; i++)
		h_data[i] = POISON;
	expect("write from device-writable data", 0, 0, VIRTIO_BLK_S_IOERR);
	canary_check("after bad flags");
}

/* --- requests the device parses and refuses -------------------------------------------- */

static void case_sectors(void)
{
	uint64_t cap = h_dev->capacity;
	uint64_t ws[5] = {cap, cap - 1, ~0ull, ~0ull - 1, 1ull << 55};
	uint32_t wl[5] = {VIRTIO_SECTOR_SIZE, 2 * VIRTIO_SECTOR_SIZE, VIRTIO_SECTOR_SIZE,
			  2 * VIRTIO_SECTOR_SIZE, VIRTIO_SECTOR_SIZE};

	for (int k = 0; k < 5; k++) {
		gprintf("GUEST: hostile sector %lu + %u bytes\n", ws[k], wl[k]);
		chain3(VIRTIO_BLK_T_IN, ws[k], ipa_of(h_data), wl[k], 1);
		expect("read past the end", 0, 0, VIRTIO_BLK_S_IOERR);
		expect_data_untouched("read past the end", -1);
		chain3(VIRTIO_BLK_T_OUT, ws[k], ipa_of(h_wbuf), wl[k], 0);
		expect("write past the end", 0, 1, VIRTIO_BLK_S_IOERR);
	}
	/* No data, sector beyond the end: still checked. */
	volatile struct virtq_desc *t = dtab();
	prefill();
	set_hdr(VIRTIO_BLK_T_IN, cap + 1);
	set_desc(t, 0, ipa_of(&h_hdr), sizeof(h_hdr), VIRTQ_DESC_F_NEXT, 1);
	set_desc(t, 1, ipa_of(h_status), 1, VIRTQ_DESC_F_WRITE, 0);
	expect("empty read past the end", 0, 1, VIRTIO_BLK_S_IOERR);
	/* Control: the last sector reads fine. */
	if (good_io("read last sector", 0, cap - 1, h_check, VIRTIO_SECTOR_SIZE) == 0)
		compare("read last sector", h_check, cap - 1, VIRTIO_SECTOR_SIZE, canary_byte);
	canary_check("after sectors past the end");
}

static void case_lengths(void)
{
	uint32_t lens[4] = {511, 700, 513, BLOCK_BYTES - 1};

	for (int k = 0; k < 4; k++) {
		chain3(VIRTIO_BLK_T_IN, 0, ipa_of(h_data), lens[k], 1);
		expect("read length not a multiple of 512", 0, 0, VIRTIO_BLK_S_IOERR);
		expect_data_untouched("read length not a multiple of 512", -1);
		chain3(VIRTIO_BLK_T_OUT, 0, ipa_of(h_wbuf), lens[k], 0);
		expect("write length not a multiple of 512", 0, 1, VIRTIO_BLK_S_IOERR);
	}
	canary_check("after bad lengths");
}

static void case_unsupported(void)
{
	/* Unknown, legacy and (on this device) un-negotiated types; discard's data is a valid range. */
	uint32_t types[7] = {2,
			     3,
			     0x12345678u,
			     0x80000001u,
			     VIRTIO_BLK_T_FLUSH,
			     VIRTIO_BLK_T_DISCARD,
			     VIRTIO_BLK_T_WRITE_ZEROES};
	volatile struct virtq_desc *t = dtab();

	for (int k = 0; k < 7; k++) {
		prefill();
		/* range {sector 0, 8 sectors, flags 0} for discard / write-zeroes */
		for (unsigned i = 0; i < 16; i++)
			h_data[i] = i == 8 ? CANARY_SECTORS : 0;
		set_hdr(types[k], 0);
		set_desc(t, 0, ipa_of(&h_hdr), sizeof(h_hdr), VIRTQ_DESC_F_NEXT, 1);
		set_desc(t, 1, ipa_of(h_data), 16, VIRTQ_DESC_F_NEXT, 2);
		set_desc(t, 2, ipa_of(h_status), 1, VIRTQ_DESC_F_WRITE, 0);
		gprintf("GUEST: hostile request type 0x%x\n", types[k]);
		expect("unsupported type", 0, 1, VIRTIO_BLK_S_UNSUPP);
	}
	/* Control: GET_ID works (keel's serial is empty unless configured: 20 bytes, NUL padded). */
	prefill();
	set_hdr(VIRTIO_BLK_T_GET_ID, 0);
	set_desc(t, 0, ipa_of(&h_hdr), sizeof(h_hdr), VIRTQ_DESC_F_NEXT, 1);
	set_desc(t, 1, ipa_of(h_data), 20, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	set_desc(t, 2, ipa_of(h_status), 1, VIRTQ_DESC_F_WRITE, 0);
	expect("get-id", 0, 21, VIRTIO_BLK_S_OK);
	canary_check("after unsupported types");
}

/* --- indirect tables --------------------------------------------------------------------- */

static void itab_clear(void)
{
	for (unsigned i = 0; i < ITAB_ENTRIES; i++)
		set_desc(h_itab, i, 0, 0, 0, 0);
}

/* desc 0 = INDIRECT -> h_itab[0..2] = hdr, data, status. */
static void indirect3(uint32_t type, uint64_t data, uint32_t len, int data_writable)
{
	prefill();
	itab_clear();
	set_hdr(type, 0);
	set_desc(h_itab, 0, ipa_of(&h_hdr), sizeof(h_hdr), VIRTQ_DESC_F_NEXT, 1);
	set_desc(h_itab, 1, data, len, VIRTQ_DESC_F_NEXT | (data_writable ? VIRTQ_DESC_F_WRITE : 0), 2);
	set_desc(h_itab, 2, ipa_of(h_status), 1, VIRTQ_DESC_F_WRITE, 0);
	set_desc(dtab(), 0, ipa_of(h_itab), 3 * sizeof(struct virtq_desc), VIRTQ_DESC_F_INDIRECT, 0);
}

static void case_indirect(void)
{
	volatile struct virtq_desc *t = dtab();

	/* Control: a good indirect read. */
	indirect3(VIRTIO_BLK_T_IN, ipa_of(h_data), BLOCK_BYTES, 1);
	if (expect("good indirect read", 0, BLOCK_BYTES + 1, VIRTIO_BLK_S_OK) == 0)
		compare("good indirect read", h_data, 0, BLOCK_BYTES, canary_byte);

	/* §2.7.5.3.2: the device MUST ignore WRITE on the descriptor that refers to a table. */
	indirect3(VIRTIO_BLK_T_IN, ipa_of(h_data), BLOCK_BYTES, 1);
	t[0].flags |= VIRTQ_DESC_F_WRITE;
	if (expect("indirect descriptor flagged WRITE", 0, BLOCK_BYTES + 1, VIRTIO_BLK_S_OK) == 0)
		compare("indirect descriptor flagged WRITE", h_data, 0, BLOCK_BYTES, canary_byte);

	uint32_t bad_len[4] = {0, 24, 3 * 16 + 8, (INDIRECT_MAX + 1) * 16};
	for (int k = 0; k < 4; k++) {
		indirect3(VIRTIO_BLK_T_OUT, ipa_of(h_wbuf), VIRTIO_SECTOR_SIZE, 0);
		t[0].len = bad_len[k];
		gprintf("GUEST: hostile indirect table of %u bytes\n", bad_len[k]);
		expect("indirect table length", 0, 0, NEEDS_RESET);
	}
	/* The spec sets no alignment for indirect tables: one at +8 bytes is served. */
	indirect3(VIRTIO_BLK_T_IN, ipa_of(h_data), BLOCK_BYTES, 1);
	{
		volatile uint8_t *b = (volatile uint8_t *)h_itab;
		for (int i = 3 * (int)sizeof(struct virtq_desc) - 1; i >= 0; i--)
			b[8 + i] = b[i]; /* move the 3 entries up by 8 bytes (overlapping: from the end) */
	}
	t[0].addr += 8;
	if (expect("indirect table at +8", 0, BLOCK_BYTES + 1, VIRTIO_BLK_S_OK) == 0)
		compare("indirect table at +8", h_data, 0, BLOCK_BYTES, canary_byte);
	indirect3(VIRTIO_BLK_T_IN, ipa_of(h_data), VIRTIO_SECTOR_SIZE, 1);
	t[0].addr = env.ram_base + env.ram_size - 32;
	expect("indirect table straddling RAM end", 0, 0, NEEDS_RESET);
	indirect3(VIRTIO_BLK_T_IN, ipa_of(h_data), VIRTIO_SECTOR_SIZE, 1);
	t[0].addr = env.ram_base + env.ram_size;
	expect("indirect table outside RAM", 0, 0, NEEDS_RESET);
	/* INDIRECT together with NEXT. */
	indirect3(VIRTIO_BLK_T_IN, ipa_of(h_data), VIRTIO_SECTOR_SIZE, 1);
	t[0].flags |= VIRTQ_DESC_F_NEXT;
	t[0].next = 1;
	set_desc(t, 1, ipa_of(h_status), 1, VIRTQ_DESC_F_WRITE, 0);
	expect("indirect with next", 0, 0, NEEDS_RESET);
	/* Nested: an indirect descriptor inside the table (pointing at a valid table). */
	indirect3(VIRTIO_BLK_T_IN, ipa_of(h_data), VIRTIO_SECTOR_SIZE, 1);
	/* (next indexes the table that holds the descriptor: entry 1 of the table at h_itab[3]) */
	set_desc(h_itab, 3, ipa_of(&h_hdr), sizeof(h_hdr), VIRTQ_DESC_F_NEXT, 1);
	set_desc(h_itab, 4, ipa_of(h_itab), 3 * sizeof(struct virtq_desc), VIRTQ_DESC_F_INDIRECT, 0);
	t[0].addr = ipa_of(&h_itab[3]);
	t[0].len = 2 * sizeof(struct virtq_desc);
	expect("nested indirect table", 0, 0, NEEDS_RESET);
	/* A loop and an out-of-range next inside the table. */
	indirect3(VIRTIO_BLK_T_IN, ipa_of(h_data), VIRTIO_SECTOR_SIZE, 1);
	h_itab[2].flags |= VIRTQ_DESC_F_NEXT;
	h_itab[2].next = 0;
	expect("loop in indirect table", 0, 0, NEEDS_RESET);
	indirect3(VIRTIO_BLK_T_IN, ipa_of(h_data), VIRTIO_SECTOR_SIZE, 1);
	h_itab[1].next = 3; /* the table has 3 entries */
	expect("indirect next out of range", 0, 0, NEEDS_RESET);
	/* Data buffer outside RAM inside the table. */
	indirect3(VIRTIO_BLK_T_IN, env.ram_base + env.ram_size, VIRTIO_SECTOR_SIZE, 1);
	expect("indirect buffer outside RAM", 0, 1, VIRTIO_BLK_S_IOERR);
	expect_data_untouched("indirect buffer outside RAM", -1);

	/* More than INDIRECT_MAX buffers: hdr in a direct descriptor, then a full table. */
	prefill();
	itab_clear();
	set_hdr(VIRTIO_BLK_T_OUT, 0);
	for (unsigned i = 0; i < INDIRECT_MAX - 1; i++)
		set_desc(h_itab, i, ipa_of(h_wbuf), VIRTIO_SECTOR_SIZE, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	set_desc(h_itab, INDIRECT_MAX - 1, ipa_of(h_status), 1, VIRTQ_DESC_F_WRITE, 0);
	set_desc(t, 0, ipa_of(&h_hdr), sizeof(h_hdr), VIRTQ_DESC_F_NEXT, 1);
	set_desc(t, 1, ipa_of(h_itab), INDIRECT_MAX * sizeof(struct virtq_desc), VIRTQ_DESC_F_INDIRECT, 0);
	expect("INDIRECT_MAX + 1 buffers", 0, 1, VIRTIO_BLK_S_IOERR);
	canary_check("after bad indirect tables");
}

static void case_chain_4g(void)
{
	volatile struct virtq_desc *t = dtab();
	uint32_t nbig = (uint32_t)((1ull << 32) / env.ram_size + 1);

	chain3(VIRTIO_BLK_T_OUT, 0, ipa_of(h_wbuf), 0xfffffff8u, 0);
	expect("one buffer of 4 GiB - 8", 0, 1, VIRTIO_BLK_S_IOERR);
	/* Buffers that are each valid (the whole of RAM) but add up past 4 GiB: a 32-bit sum would
	 * wrap to a small write. Needs an indirect table for enough of them. */
	if (!(h_dev->features & VIRTIO_F_INDIRECT_DESC) || nbig + 2 > INDIRECT_MAX) {
		gprintf("GUEST: hostile chain-4g: %u whole-RAM buffers do not fit, skipped\n", nbig);
	} else {
		prefill();
		itab_clear();
		set_hdr(VIRTIO_BLK_T_OUT, 0);
		set_desc(h_itab, 0, ipa_of(&h_hdr), sizeof(h_hdr), VIRTQ_DESC_F_NEXT, 1);
		for (uint32_t i = 1; i <= nbig; i++)
			set_desc(h_itab, i, env.ram_base, (uint32_t)env.ram_size, VIRTQ_DESC_F_NEXT,
				 (uint16_t)(i + 1));
		set_desc(h_itab, nbig + 1, ipa_of(h_status), 1, VIRTQ_DESC_F_WRITE, 0);
		set_desc(t, 0, ipa_of(h_itab), (nbig + 2) * sizeof(struct virtq_desc), VIRTQ_DESC_F_INDIRECT,
			 0);
		expect("whole-RAM buffers adding up past 4 GiB", 0, 1, VIRTIO_BLK_S_IOERR);
	}
	canary_check("after 4 GiB chains");
}

/* --- transport-level hostility -------------------------------------------------------------- */

static void case_registers(void)
{
	uint32_t st = virtio_blk_read_reg(h_dev, VIRTIO_MMIO_STATUS);

	virtio_blk_write_reg(h_dev, VIRTIO_MMIO_QUEUE_NOTIFY, 7); /* no such queue */
	virtio_blk_write_reg(h_dev, VIRTIO_MMIO_QUEUE_SEL, 5);
	if (virtio_blk_read_reg(h_dev, VIRTIO_MMIO_QUEUE_NUM_MAX) != 0)
		HFAIL("QueueNumMax of absent queue 5 is not 0");
	virtio_blk_write_reg(h_dev, VIRTIO_MMIO_QUEUE_READY, 1);
	virtio_blk_write_reg(h_dev, VIRTIO_MMIO_QUEUE_SEL, 0);
	/* Queue registers of a live queue: ignored. */
	virtio_blk_write_reg(h_dev, VIRTIO_MMIO_QUEUE_NUM, 2);
	virtio_blk_write_reg(h_dev, VIRTIO_MMIO_QUEUE_DESC_LO, 0);
	virtio_blk_write_reg(h_dev, VIRTIO_MMIO_QUEUE_READY, 0);
	/* A status write that clears bits: ignored. */
	virtio_blk_write_reg(h_dev, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_DRIVER_OK);
	if (virtio_blk_read_reg(h_dev, VIRTIO_MMIO_STATUS) != st)
		HFAIL("status 0x%x changed to 0x%x by ignored writes", st,
		      virtio_blk_read_reg(h_dev, VIRTIO_MMIO_STATUS));
	if (virtio_blk_read_reg(h_dev, VIRTIO_MMIO_QUEUE_READY) != 1)
		HFAIL("queue 0 no longer ready");
	/* Byte and halfword register stores: refused with a data abort. A byte read is refused too when
	 * it traps; served from keel's read-only register shadow page it returns that byte. */
	trap_arm();
	uint8_t b = mmio_read8(h_dev->base + VIRTIO_MMIO_STATUS);
	struct trap_record r = trap_disarm();
	if (r.taken == 0 && b != (uint8_t)st)
		HFAIL("8-bit read of Status returned 0x%x, not the register's low byte 0x%x", b, st & 0xff);
	if (r.taken > 1 || (r.taken == 1 && ESR_EC(r.esr) != EC_DABT_CUR && ESR_EC(r.esr) != EC_DABT_LOWER))
		HFAIL("8-bit register read: %d exception(s), esr=0x%lx (want none or a data abort)", r.taken,
		      r.esr);
	trap_arm();
	mmio_write16(h_dev->base + VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	r = trap_disarm();
	if (r.taken != 1 || (ESR_EC(r.esr) != EC_DABT_CUR && ESR_EC(r.esr) != EC_DABT_LOWER))
		HFAIL("16-bit register store: %d exception(s), esr=0x%lx (want 1 data abort)", r.taken,
		      r.esr);
	/* The queue still works. */
	canary_check("after register abuse");
}

/* The device set NEEDS_RESET (and raised a config interrupt) and completed nothing; reset it. */
static void expect_needs_reset(const char *what, uint16_t used_before)
{
	uint32_t st = virtio_blk_read_reg(h_dev, VIRTIO_MMIO_STATUS);
	uint32_t isr = virtio_blk_read_reg(h_dev, VIRTIO_MMIO_INT_STATUS);

	if (!(st & VIRTIO_STATUS_NEEDS_RESET))
		HFAIL("%s: device status 0x%x without NEEDS_RESET (0x40)", what, st);
	if (!(st & VIRTIO_STATUS_DRIVER_OK))
		HFAIL("%s: device status 0x%x lost DRIVER_OK", what, st);
	if (!(isr & VIRTIO_MMIO_INT_CONFIG))
		HFAIL("%s: InterruptStatus 0x%x without the config-change bit", what, isr);
	if (virtio_blk_used_idx(h_dev) != used_before)
		HFAIL("%s: used index moved %u -> %u", what, used_before, virtio_blk_used_idx(h_dev));
	/* A device that needs a reset ignores further notifications. */
	virtio_blk_write_reg(h_dev, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	if (virtio_blk_used_idx(h_dev) != used_before)
		HFAIL("%s: used index moved after a notify", what);
	virtio_blk_write_reg(h_dev, VIRTIO_MMIO_INT_ACK, isr);
	virtio_blk_write_reg(h_dev, VIRTIO_MMIO_STATUS, 0);
	st = virtio_blk_read_reg(h_dev, VIRTIO_MMIO_STATUS);
	if (st != 0)
		HFAIL("%s: status 0x%x after reset, want 0", what, st);
	if (reinit() == 0)
		canary_check(what);
}

/* Rings the device must refuse at QueueReady: NEEDS_RESET, queue not ready, nothing touched. */
static void case_queue_setup(void)
{
	static volatile uint8_t area[4096] __attribute__((aligned(4096)));
	uint64_t a = ipa_of(area), ram_end = env.ram_base + env.ram_size;
	struct {
		uint64_t ipa[3];
		const char *what;
	} bad[6] = {
	    {{ram_end, a + 1024, a + 2048}, "descriptor table outside RAM"},
	    {{a, ram_end - 8, a + 2048}, "avail ring straddling RAM end"},
	    {{a, a + 1024, ram_end}, "used ring outside RAM"},
	    {{a + 8, a + 1024, a + 2048}, "descriptor table misaligned"},
	    {{a, a + 1024, a + 1028}, "used ring overlapping the avail ring"},
	    {{a, a + 1024, a + 64}, "used ring overlapping the descriptor table"},
	};

	for (int k = 0; k < 6; k++) {
		for (unsigned i = 0; i < sizeof(area); i++)
			area[i] = FILL;
		int rc = virtio_blk_init_rings(h_dev, VIRTIO_F_INDIRECT_DESC, bad[k].ipa);
		uint32_t st = virtio_blk_read_reg(h_dev, VIRTIO_MMIO_STATUS);
		if (rc != 1 || !(st & VIRTIO_STATUS_NEEDS_RESET))
			HFAIL("%s: init %d, device status 0x%x (want NEEDS_RESET)", bad[k].what, rc, st);
		if (virtio_blk_read_reg(h_dev, VIRTIO_MMIO_QUEUE_READY) != 0)
			HFAIL("%s: queue ready", bad[k].what);
		/* A notify must not make the device touch the refused rings. */
		virtio_blk_write_reg(h_dev, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		for (unsigned i = 0; i < sizeof(area); i++) {
			if (area[i] != FILL) {
				HFAIL("%s: ring memory written at +%u", bad[k].what, i);
				break;
			}
		}
		if (reinit())
			return;
	}
	canary_check("after refused queue set-ups");
}

static void case_ring_errors(void)
{
	uint16_t used_before = virtio_blk_used_idx(h_dev);
	uint32_t id, len;

	/* avail.idx more than the queue size ahead. */
	virtio_blk_bump_avail(h_dev, (uint16_t)(h_dev->qsize + 1));
	expect_needs_reset("avail idx jump", used_before);

	/* A head index >= queue size in the ring. */
	used_before = virtio_blk_used_idx(h_dev);
	int rc = virtio_blk_kick(h_dev, h_dev->qsize, RING_TIMEOUT_MS, &id, &len);
	if (rc == 0)
		HFAIL("head out of range completed (id %u len %u)", id, len);
	expect_needs_reset("head out of range", used_before);

	/* The largest possible jump. */
	used_before = virtio_blk_used_idx(h_dev);
	virtio_blk_bump_avail(h_dev, 0x8000);
	expect_needs_reset("avail idx jump 0x8000", used_before);
}

/* --- the read-only disk ----------------------------------------------------------------------- */

static void case_read_only(int pattern)
{
	static uint8_t orig[BLOCK_BYTES] __attribute__((aligned(16)));
	volatile struct virtq_desc *t = dtab();

	if (!h_dev->read_only) {
		HFAIL("disk 1 does not offer VIRTIO_BLK_F_RO");
		return;
	}
	if (pattern)
		pattern_check(1);
	memset(orig, 0, sizeof(orig));
	if (good_io("read", 0, 0, orig, BLOCK_BYTES))
		return;
	for (unsigned i = 0; i < BLOCK_BYTES; i++)
		h_wbuf[i] = (uint8_t)~orig[i];
	chain3(VIRTIO_BLK_T_OUT, 0, ipa_of(h_wbuf), BLOCK_BYTES, 0);
	expect("write", 0, 1, VIRTIO_BLK_S_IOERR);
	/* Through an indirect table. */
	if (h_dev->features & VIRTIO_F_INDIRECT_DESC) {
		indirect3(VIRTIO_BLK_T_OUT, ipa_of(h_wbuf), BLOCK_BYTES, 0);
		expect("indirect write", 0, 1, VIRTIO_BLK_S_IOERR);
	}
	/* Past the end, too. */
	chain3(VIRTIO_BLK_T_OUT, h_dev->capacity, ipa_of(h_wbuf), VIRTIO_SECTOR_SIZE, 0);
	expect("write past the end", 0, 1, VIRTIO_BLK_S_IOERR);
	/* Discard / write-zeroes are not offered on a read-only disk. */
	uint32_t types[2] = {VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES};
	for (int k = 0; k < 2; k++) {
		prefill();
		for (unsigned i = 0; i < 16; i++)
			h_data[i] = i == 8 ? CANARY_SECTORS : 0;
		set_hdr(types[k], 0);
		set_desc(t, 0, ipa_of(&h_hdr), sizeof(h_hdr), VIRTQ_DESC_F_NEXT, 1);
		set_desc(t, 1, ipa_of(h_data), 16, VIRTQ_DESC_F_NEXT, 2);
		set_desc(t, 2, ipa_of(h_status), 1, VIRTQ_DESC_F_WRITE, 0);
		expect("discard/write-zeroes", 0, 1, VIRTIO_BLK_S_UNSUPP);
	}
	memset(h_check, 0, sizeof(h_check));
	if (good_io("re-read", 0, 0, h_check, BLOCK_BYTES) == 0) {
		for (unsigned i = 0; i < BLOCK_BYTES; i++) {
			if (h_check[i] != orig[i]) {
				HFAIL("read-only disk changed at byte %u: 0x%02x, was 0x%02x", i, h_check[i],
				      orig[i]);
				break;
			}
		}
	}
	/* The last sector reads fine. */
	good_io("read last sector", 0, h_dev->capacity - 1, h_check, VIRTIO_SECTOR_SIZE);
}

/* --- driver ---------------------------------------------------------------------------------- */

static void run_case(const char *name, void (*fn)(void))
{
	h_case = name;
	h_case_fails = 0;
	fn();
	if (h_case_fails == 0)
		gprintf("GUEST: hostile %s ok\n", name);
}

static void case_outside(void)
{
	case_buffers_outside_ram(0);
}
static void case_straddle(void)
{
	case_buffers_outside_ram(1);
}

static int h_pattern;
static void case_pattern(void)
{
	pattern_check(0);
}

static void case_ro(void)
{
	case_read_only(h_pattern);
}

static void case_final(void)
{
	for (uint32_t i = 0; i < BLOCK_BYTES; i++)
		h_wbuf[i] = (uint8_t)(i * 5 + 1);
	good_io("write", 1, 64, h_wbuf, BLOCK_BYTES);
	memset(h_check, 0, sizeof(h_check));
	if (good_io("read", 0, 64, h_check, BLOCK_BYTES) == 0 && memcmp(h_check, h_wbuf, BLOCK_BYTES) != 0)
		HFAIL("data read back differs");
	canary_check("final canaries");
}

void test_virtio_hostile(void)
{
	char arg[8];
	int n = virtio_blk_probe_all(h_devs, VIRTIO_BLK_MAX_DEVS);

	h_case = "setup";
	if (n <= 0) {
		if (n == 0)
			HFAIL("no virtio-blk device");
		return;
	}
	h_pattern = bootarg("disk_pattern", arg, sizeof(arg)) && arg[0] == '1';
	h_dev = &h_devs[0];
	if (reinit())
		return;
	if (h_dev->read_only || h_dev->capacity < 4 * CANARY_SECTORS) {
		HFAIL("disk 0 must be writable with at least %d sectors (ro=%d, %lu sectors)",
		      4 * CANARY_SECTORS, h_dev->read_only, h_dev->capacity);
		return;
	}
	if (h_pattern)
		run_case("pattern", case_pattern);
	run_case("good-rw", case_good_rw);
	run_case("loop", case_loop);
	run_case("next-out-of-range", case_next_range);
	run_case("descriptor-flags", case_descriptor_flags);
	run_case("sector-past-end", case_sectors);
	run_case("bad-length", case_lengths);
	run_case("unsupported-type", case_unsupported);
	if (h_dev->features & VIRTIO_F_INDIRECT_DESC)
		run_case("indirect", case_indirect);
	else
		gprintf("GUEST: hostile indirect skipped (INDIRECT_DESC not offered)\n");
	run_case("chain-4g", case_chain_4g);
	collect_bad_ipas();
	run_case("buffer-outside-ram", case_outside);
	run_case("buffer-straddling-ram", case_straddle);
	run_case("registers", case_registers);
	run_case("ring-needs-reset", case_ring_errors);
	run_case("queue-setup", case_queue_setup);
	if (n > 1) {
		h_dev = &h_devs[1];
		h_case = "read-only";
		if (reinit() == 0)
			run_case("read-only", case_ro);
		h_dev = &h_devs[0];
	} else {
		gprintf("GUEST: hostile read-only skipped (no second disk)\n");
	}
	run_case("final", case_final);
	if (test_failures() == 0)
		gprintf("GUEST: hostile all ok\n");
}
