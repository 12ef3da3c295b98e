/*
 * test=virtio-sg: scatter-gather requests that span the storage controllers' DMA limits, against
 * disk 0 (the first virtio-blk device), verified byte for byte.
 *
 * Every request is a hand-built chain in an indirect table (header, data pieces, status) whose
 * data pieces lie in a 1 MiB arena aligned to 64 KiB, so that addresses relative to page and
 * 64 KiB boundaries are exact. Before each request the whole arena is filled with a known image
 * (a write: the data pieces hold the pattern, the rest a fill byte; a read: all fill); afterwards
 * the arena must be exactly the expected image: for a write unchanged (the device never writes a
 * device-readable buffer), for a read the pattern in the data pieces and the fill everywhere
 * else, i.e. every guard byte just outside each piece is untouched.
 *
 * Data: pat(pid, sector, i) (pattern id pid per sub-test, the run's seed from bootarg
 * sg_seed=<hex>, else from the counter), so data of an earlier run, case or sector cannot pass.
 * After each successful write the guest prints "GUEST: sg wrote pid=P sector=S count=N"; the
 * boot test replays those lines in order and checks the image on the host.
 *
 * Cases ("GUEST: sg <case> ok" each, then GUEST: PASS):
 *   unaligned   odd addresses (+1, +3), a sector split 100 + 412, odd lengths, a single odd buffer
 *   page-cross  buffers across 4 KiB and 64 KiB boundaries, single and several
 *   large       single buffers above 64 KiB (one ADMA2 line's limit: split entries)
 *   seg-max     seg_max data descriptors (VIRTIO_BLK_F_SEG_MAX); seg_max + 1 must be refused with
 *               IOERR (keel: more segments than the backend takes, after splitting at its
 *               max_seg_size, is IOERR), the disk and the buffers unchanged; when that chain
 *               would exceed 512 descriptors, the header shares the first data descriptor
 *               (write) and the status the last (read)
 *   disk-end    multi-sector requests ending at the last sector; one crossing it (IOERR)
 * Bootarg sg_unaligned=0 skips every piece with an address or length not a multiple of 4 (UFS
 * PRDT entries cannot express them: keel refuses such requests with IOERR). sg_unaligned=dma
 * expects what a DMA-only backend does (keel's SD: ADMA2, or SDMA for one buffer, never a CPU
 * copy): a layout of several pieces with one not a multiple of 4 is refused with IOERR, nothing
 * moves ("GUEST: sg refused <what> <write|read>" each), a single odd buffer succeeds.
 *
 * Requests of more than size_max bytes in one descriptor are deliberate (case large): keel splits
 * a descriptor only at its backend's max_seg_size, and the SD driver's ADMA2 lines at 64 KiB.
 */
#include <stdint.h>

#include "lib.h"
#include "tests.h"
#include "timer.h"
#include "uart.h"
#include "virtio.h"

#define VIRTIO_F_BLK_SIZE_MAX (1ull << 1)
#define VIRTIO_F_BLK_SEG_MAX  (1ull << 2)
#define CFG_SIZE_MAX	      (0x100 + 8)
#define CFG_SEG_MAX	      (0x100 + 12)
#define CFG_BLK_SIZE	      (0x100 + 20)

#define ARENA_SIZE     (1024 * 1024)
#define CHAIN_MAX      512 /* keel's VIRTQ_CHAIN_MAX_BUFS and VIRTQ_INDIRECT_MAX */
#define MAX_PIECES     (CHAIN_MAX - 1)
#define REQ_TIMEOUT_MS 10000
#define FILL_W	       0x3c
#define FILL_R	       0xa5
#define STATUS_FILL    0xee
#define STATUS_GUARD   32
#define MIN_CAPACITY   16384 /* sectors the fixed regions need, plus the end of the disk */
#define ST_NONE	       (-1)

struct piece {
	uint32_t off; /* in the arena */
	uint32_t len;
};

static uint8_t arena[ARENA_SIZE] __attribute__((aligned(65536)));
static uint8_t expect_img[ARENA_SIZE] __attribute__((aligned(16)));
static volatile struct virtq_desc itab[CHAIN_MAX] __attribute__((aligned(16)));
static volatile struct virtio_blk_req_hdr hdr __attribute__((aligned(16)));
static volatile uint8_t status_mem[2 * STATUS_GUARD] __attribute__((aligned(16)));
#define status_byte (status_mem[STATUS_GUARD])

static struct virtio_blk sg_devs[VIRTIO_BLK_MAX_DEVS];
static struct virtio_blk *dev;
static uint32_t seed, blk, seg_max, size_max;
static int unaligned = 1; /* 1: every layout succeeds; 0: odd ones skipped; 2 (dma): odd multi-piece IOERR */
static const char *sg_case;
static int case_fails;
/* Chains one descriptor shorter: a write's header shares the first piece's descriptor (placed just
 * before it in the arena), a read's status byte the last piece's (just after it). */
static int sg_merge;

#define SGFAIL(fmt, ...)                                                                                     \
	do {                                                                                                 \
		gprintf("GUEST: FAIL sg %s " fmt "\n", sg_case, ##__VA_ARGS__);                              \
		case_fails++;                                                                                \
		test_fail();                                                                                 \
	} while (0)

/* Must match pat() in tests/boot/test_virtio_sg.py. */
static uint8_t pat(uint32_t pid, uint64_t sector, uint32_t i)
{
	uint32_t v = seed ^ (pid * 0x9e3779b1u) ^ ((uint32_t)sector * 0x85ebca77u) ^ (i * 0xc2b2ae3du);
	v ^= v >> 15;
	v *= 0x2c1b3c6du;
	v ^= v >> 12;
	v *= 0x297a2d39u;
	v ^= v >> 15;
	return (uint8_t)v;
}

static uint64_t ipa_of(const volatile void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	itab[i].addr = addr;
	itab[i].len = len;
	itab[i].flags = flags;
	itab[i].next = next;
}

static int aligned_pieces(const struct piece *p, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		if ((p[k].off | p[k].len) & 3)
			return 0;
	return 1;
}

static uint32_t total_len(const struct piece *p, unsigned n)
{
	uint32_t t = 0;
	for (unsigned k = 0; k < n; k++)
		t += p[k].len;
	return t;
}

/* The arena image: fill everywhere, the pattern of (pid, sector...) streamed through the pieces. */
static void build_image(uint8_t *img, uint8_t fill, const struct piece *p, unsigned n, uint32_t pid,
			uint64_t sector)
{
	uint32_t k = 0;

	memset(img, fill, ARENA_SIZE);
	if (pid == 0)
		return;
	for (unsigned j = 0; j < n; j++)
		for (uint32_t b = 0; b < p[j].len; b++, k++)
			img[p[j].off + b] = pat(pid, sector + k / VIRTIO_SECTOR_SIZE, k % VIRTIO_SECTOR_SIZE);
}

/* First difference between the arena and the expected image, described. */
static int check_arena(const char *what, const struct piece *p, unsigned n)
{
	for (uint32_t i = 0; i < ARENA_SIZE; i++) {
		if (arena[i] == expect_img[i])
			continue;
		int inside = -1;
		for (unsigned j = 0; j < n; j++)
			if (i >= p[j].off && i - p[j].off < p[j].len)
				inside = (int)j;
		if (inside >= 0)
			SGFAIL("%s: piece %d (arena+0x%x, %u bytes) byte %u is 0x%02x, want 0x%02x", what,
			       inside, p[inside].off, p[inside].len, i - p[inside].off, arena[i],
			       expect_img[i]);
		else
			SGFAIL("%s: guard byte arena+0x%x (outside every piece) is 0x%02x, want 0x%02x", what,
			       i, arena[i], expect_img[i]);
		return -1;
	}
	return 0;
}

/*
 * One request: header, the pieces (device-writable for a read), status, in an indirect table.
 * want: VIRTIO_BLK_S_OK (data checked) or VIRTIO_BLK_S_IOERR (nothing may move). For a write,
 * pid names the pattern written; for a read, the pattern the disk must hold (0: do not check).
 */
static int sg_io(const char *what, int write, uint64_t sector, const struct piece *p, unsigned n,
		 uint32_t pid, int want)
{
	uint32_t len = total_len(p, n), id = 0xffffffffu, used = 0xffffffffu;
	int fails = case_fails, merge = sg_merge;
	unsigned ndesc = n + 2 - (merge ? 1 : 0);
	volatile uint8_t *st = &status_byte;

	if (ndesc > CHAIN_MAX || n == 0 || len % VIRTIO_SECTOR_SIZE ||
	    (merge && write && p[0].off < sizeof(hdr))) {
		SGFAIL("%s: bad test layout (%u pieces, %u bytes)", what, n, len);
		return -1;
	}
	if (write) {
		build_image(arena, FILL_W, p, n, pid, sector);
		build_image(expect_img, FILL_W, p, n, pid, sector);
	} else {
		memset(arena, FILL_R, ARENA_SIZE);
		build_image(expect_img, FILL_R, p, n, want == VIRTIO_BLK_S_OK ? pid : 0, sector);
	}
	for (unsigned i = 0; i < sizeof(status_mem); i++)
		status_mem[i] = STATUS_FILL;
	hdr.type = write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	hdr.reserved = 0;
	hdr.sector = sector;
	if (!merge || !write) {
		set_desc(0, ipa_of(&hdr), sizeof(hdr), VIRTQ_DESC_F_NEXT, 1);
		for (unsigned j = 0; j < n; j++)
			set_desc(1 + j, ipa_of(&arena[p[j].off]), p[j].len,
				 VIRTQ_DESC_F_NEXT | (write ? 0 : VIRTQ_DESC_F_WRITE), (uint16_t)(2 + j));
		if (!merge) /* (itab has CHAIN_MAX entries: index n + 1 only exists unmerged) */
			set_desc(1 + n, ipa_of(&status_byte), 1, VIRTQ_DESC_F_WRITE, 0);
	}
	if (merge && write) {
		/* The header's 16 bytes (little-endian) right before piece 0, in both images. */
		uint32_t at = p[0].off - (uint32_t)sizeof(hdr);
		for (unsigned b = 0; b < sizeof(hdr); b++) {
			uint8_t v = b < 4   ? (uint8_t)(VIRTIO_BLK_T_OUT >> (8 * b))
				    : b < 8 ? 0
					    : (uint8_t)(sector >> (8 * (b - 8)));
			arena[at + b] = v;
			expect_img[at + b] = v;
		}
		set_desc(0, ipa_of(&arena[at]), (uint32_t)sizeof(hdr) + p[0].len, VIRTQ_DESC_F_NEXT, 1);
		for (unsigned j = 1; j < n; j++)
			set_desc(j, ipa_of(&arena[p[j].off]), p[j].len, VIRTQ_DESC_F_NEXT, (uint16_t)(j + 1));
		set_desc(n, ipa_of(&status_byte), 1, VIRTQ_DESC_F_WRITE, 0);
	} else if (merge) {
		/* The status byte right after the last piece, in the same descriptor. */
		set_desc(n, ipa_of(&arena[p[n - 1].off]), p[n - 1].len + 1, VIRTQ_DESC_F_WRITE, 0);
		st = &arena[p[n - 1].off + p[n - 1].len];
		expect_img[p[n - 1].off + p[n - 1].len] = (uint8_t)want;
	}
	volatile struct virtq_desc *t = virtio_blk_desc(dev);
	t[0].addr = ipa_of(itab);
	t[0].len = ndesc * sizeof(struct virtq_desc);
	t[0].flags = VIRTQ_DESC_F_INDIRECT;
	t[0].next = 0;

	int rc = virtio_blk_kick(dev, 0, REQ_TIMEOUT_MS, &id, &used);
	if (rc != 0) {
		SGFAIL("%s: %s", what, rc > 0 ? "no completion in time" : "inconsistent used ring");
		return -1;
	}
	/* Used len: a read's data plus the status byte; 0 for a refused read, 1 for a write. */
	uint32_t want_used = write ? 1 : want == VIRTIO_BLK_S_OK ? len + 1 : 0;
	if (id != 0 || used != want_used)
		SGFAIL("%s: used element id %u len %u, want id 0 len %u", what, id, used, want_used);
	if (*st != want)
		SGFAIL("%s: status 0x%02x, want 0x%02x", what, *st, want);
	for (unsigned i = 0; i < sizeof(status_mem); i++)
		if ((i != STATUS_GUARD || st != &status_byte) && status_mem[i] != STATUS_FILL) {
			SGFAIL("%s: byte %d next to the status byte written", what, (int)i - STATUS_GUARD);
			break;
		}
	check_arena(what, p, n);
	if (case_fails != fails)
		return -1;
	if (write && want == VIRTIO_BLK_S_OK)
		gprintf("GUEST: sg wrote pid=%u sector=%lu count=%u\n", pid, sector,
			len / VIRTIO_SECTOR_SIZE);
	return 0;
}

/* Would a DMA-only backend take this layout? (Always, unless sg_unaligned=dma.) */
static int dma_layout(const struct piece *p, unsigned n)
{
	return unaligned != 2 || n == 1 || aligned_pieces(p, n);
}

/* Write with one layout, read back with another (and plainly, one aligned buffer), all checked. */
static void write_read(const char *what, uint32_t pid, uint64_t sector, const struct piece *w, unsigned nw,
		       const struct piece *r, unsigned nr)
{
	if (!unaligned && (!aligned_pieces(w, nw) || !aligned_pieces(r, nr))) {
		gprintf("GUEST: sg %s: %s skipped (sg_unaligned=0)\n", sg_case, what);
		return;
	}
	uint32_t len = total_len(w, nw);
	if (len != total_len(r, nr) || len % blk) {
		SGFAIL("%s: layouts of %u and %u bytes (block %u)", what, len, total_len(r, nr), blk);
		return;
	}
	if (!dma_layout(w, nw)) {
		/* Refused: nothing written (the host checks the image), and the read is refused too or
		 * would find other data: only a refused read is tried. */
		if (sg_io(what, 1, sector, w, nw, pid, VIRTIO_BLK_S_IOERR) == 0)
			gprintf("GUEST: sg refused %s write\n", what);
		if (!dma_layout(r, nr) && sg_io(what, 0, sector, r, nr, 0, VIRTIO_BLK_S_IOERR) == 0)
			gprintf("GUEST: sg refused %s read\n", what);
		return;
	}
	if (sg_io(what, 1, sector, w, nw, pid, VIRTIO_BLK_S_OK) != 0)
		return;
	if (!dma_layout(r, nr)) {
		if (sg_io(what, 0, sector, r, nr, 0, VIRTIO_BLK_S_IOERR) == 0)
			gprintf("GUEST: sg refused %s read\n", what);
	} else if (sg_io(what, 0, sector, r, nr, pid, VIRTIO_BLK_S_OK) != 0) {
		return;
	}
	struct piece plain = {0x80000, len};
	sg_io(what, 0, sector, &plain, 1, pid, VIRTIO_BLK_S_OK);
}

/* --- cases ------------------------------------------------------------------------------------ */

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void case_unaligned(void)
{
	uint64_t base = 1024;

	if (blk != VIRTIO_SECTOR_SIZE) {
		gprintf("GUEST: sg unaligned: block size %u, 512-byte layouts skipped\n", blk);
		return;
	}
	/* One sector split 100 + 412 at odd addresses; read back as 412 + 100 elsewhere. */
	static const struct piece w1[] = {{1, 100}, {1001, 412}}, r1[] = {{3, 412}, {2003, 100}};
	write_read("sector split 100+412 at +1", 0x11, base, w1, N(w1), r1, N(r1));
	/* Four sectors in odd-length pieces at odd addresses. */
	static const struct piece w2[] = {
	    {0x101, 100}, {0x301, 412}, {0x603, 3}, {0x705, 509}, {0x1003, 1024}};
	static const struct piece r2[] = {{0x2001, 1},	 {0x2103, 511}, {0x2401, 512}, {0x2a03, 100},
					  {0x2c01, 400}, {0x2e05, 12},	{0x3001, 512}};
	write_read("odd pieces", 0x12, base + 8, w2, N(w2), r2, N(r2));
	/* One buffer at +1 (SDMA can take it), read back at +3. */
	static const struct piece w3[] = {{0x4001, 4096}}, r3[] = {{0x6003, 4096}};
	write_read("single buffer at +1", 0x13, base + 16, w3, N(w3), r3, N(r3));
	/* Mixed: aligned pieces and one odd one in the same request. */
	static const struct piece w4[] = {{0x8000, 1024}, {0x9001, 1024}, {0xa000, 2048}};
	static const struct piece r4[] = {{0xc003, 2047}, {0xd000, 4}, {0xe001, 2045}};
	write_read("aligned and odd pieces mixed", 0x14, base + 24, w4, N(w4), r4, N(r4));
}

static void case_page_cross(void)
{
	uint64_t base = 2048;

	/* 8 KiB across two 4 KiB boundaries, read back across a 64 KiB one. */
	static const struct piece w1[] = {{0x0c00, 0x2000}}, r1[] = {{0x10000 - 0x600, 0x2000}};
	write_read("single buffer across 4 KiB pages", 0x21, base, w1, N(w1), r1, N(r1));
	/* Pieces each crossing a 4 KiB or 64 KiB boundary. */
	static const struct piece w2[] = {{0x0ff00, 0x400}, {0x21f00, 0x1400}, {0x3ff80, 0x800}};
	static const struct piece r2[] = {{0x2fff0, 0x10}, {0x1ff00, 0x1fe0}, {0x40ffc, 0x8}, {0x50ff8, 0x8}};
	write_read("pieces across 4 KiB and 64 KiB boundaries", 0x22, base + 64, w2, N(w2), r2, N(r2));
	/* The same at odd addresses (SD: SDMA for one piece, refused for several). */
	static const struct piece w3[] = {{0x10000 - 0x201, 0x2000}}, r3[] = {{0x3000 - 0x3, 0x2000}};
	write_read("odd buffer across 64 KiB", 0x23, base + 128, w3, N(w3), r3, N(r3));
	static const struct piece w4[] = {{0xffff, 0x101}, {0x1fffd, 0x1eff}};
	static const struct piece r4[] = {{0x0fff, 0x1003}, {0x2ffff, 0xffd}};
	write_read("odd pieces across 4 KiB and 64 KiB", 0x24, base + 192, w4, N(w4), r4, N(r4));
}

static void case_large(void)
{
	uint64_t base = 4096;

	/* 196 KiB in one buffer: 64 + 64 + 64 + 4 KiB ADMA2 lines. */
	static const struct piece w1[] = {{0x10000, 0x31000}}, r1[] = {{0x8004, 0x31000}};
	write_read("196 KiB single buffer", 0x31, base, w1, N(w1), r1, N(r1));
	/* 96 KiB + 160 KiB. */
	static const struct piece w2[] = {{0x0, 0x18000}, {0x20000, 0x28000}};
	static const struct piece r2[] = {{0x1000, 0x28000}, {0x40000, 0x18000}};
	write_read("96 KiB + 160 KiB buffers", 0x32, base + 512, w2, N(w2), r2, N(r2));
	/* Odd: one 132 KiB buffer at +3, and two pieces above 64 KiB at odd addresses. */
	static const struct piece w3[] = {{0x3, 0x21000}}, r3[] = {{0x40001, 0x21000}};
	write_read("132 KiB single buffer at +3", 0x33, base + 1024, w3, N(w3), r3, N(r3));
	static const struct piece w4[] = {{0x1, 0x11001}, {0x20003, 0x10fff}};
	static const struct piece r4[] = {{0x30005, 0x10fff}, {0x50003, 0x11001}};
	write_read("two odd pieces above 64 KiB", 0x34, base + 1536, w4, N(w4), r4, N(r4));
}

static struct piece seg_w[MAX_PIECES], seg_r[MAX_PIECES];

/* n pieces of 512 bytes (the last one completing a block) scattered in reverse order; odd: odd
 * addresses and lengths 509 / 515. */
static uint32_t seg_layout(struct piece *p, unsigned n, int reverse, uint32_t stride, int odd)
{
	uint32_t total = (n * VIRTIO_SECTOR_SIZE + blk - 1) / blk * blk, sum = 0;

	for (unsigned j = 0; j < n; j++) {
		unsigned slot = reverse ? n - 1 - j : j;
		uint32_t len = odd ? (j % 2 ? 515 : 509) : VIRTIO_SECTOR_SIZE;
		if (j == n - 1) {
			len = total - sum;
			p[j].off = 0x90000 + (odd ? 1 : 0);
		} else {
			p[j].off = slot * stride + (odd ? 1 + (j % 3) * 2 : (j % 2) * 4);
		}
		p[j].len = len;
		sum += len;
	}
	return total;
}

static void case_seg_max(void)
{
	uint64_t base = 8192;
	unsigned n = seg_max;

	if (n + 2 > CHAIN_MAX) {
		n = CHAIN_MAX - 2;
		gprintf(
		    "GUEST: sg seg-max: seg_max %u + header + status exceed a %u-descriptor chain: %u data "
		    "descriptors\n",
		    seg_max, CHAIN_MAX, n);
	}
	seg_layout(seg_w, n, 1, 1024, 0);
	seg_layout(seg_r, n, 0, 2048, 0);
	gprintf("GUEST: sg seg-max: %u data descriptors\n", n);
	write_read("seg_max descriptors", 0x41, base, seg_w, n, seg_r, n);

	if (seg_max + 1 + 1 > CHAIN_MAX) {
		gprintf(
		    "GUEST: sg seg-max: seg_max + 1 = %u data descriptors do not fit a %u-descriptor chain, "
		    "not tried\n",
		    seg_max + 1, CHAIN_MAX);
	} else if (case_fails == 0) {
		sg_merge = seg_max + 1 + 2 > CHAIN_MAX;
		if (sg_merge)
			gprintf("GUEST: sg seg-max: seg_max + 1 with the header in the first data descriptor "
				"(write) and the status in the last (read)\n");
		/* seg_max + 1: the first piece split in two, same bytes. Refused, nothing moves. */
		struct piece *p = seg_w;
		for (unsigned j = n; j > 1; j--)
			p[j] = p[j - 1];
		p[1].off = p[0].off + 256;
		p[1].len = p[0].len - 256;
		p[0].len = 256;
		sg_io("seg_max + 1 write", 1, base, p, n + 1, 0x42, VIRTIO_BLK_S_IOERR);
		sg_io("seg_max + 1 read", 0, base, p, n + 1, 0x41, VIRTIO_BLK_S_IOERR);
		/* The disk still holds the seg_max write's data. */
		int merged = sg_merge;
		sg_merge = 0;
		struct piece plain = {0x80000, total_len(seg_r, n)};
		sg_io("after seg_max + 1", 0, base, &plain, 1, 0x41, VIRTIO_BLK_S_OK);
		if (merged) {
			/* Control: the shared-descriptor chains themselves are fine with seg_max pieces. */
			seg_layout(seg_w, n, 1, 1024, 0);
			sg_merge = 1;
			sg_io("seg_max write, header shared", 1, base, seg_w, n, 0x44, VIRTIO_BLK_S_OK);
			sg_io("seg_max read, status shared", 0, base, seg_r, n, 0x44, VIRTIO_BLK_S_OK);
			sg_merge = 0;
		}
	}
	/* Many misaligned segments (refused by SD). */
	seg_layout(seg_w, n, 0, 1024, 1);
	seg_layout(seg_r, n, 1, 1536, 1);
	if (blk == VIRTIO_SECTOR_SIZE)
		write_read("seg_max odd descriptors", 0x43, base + 512, seg_w, n, seg_r, n);
}

static void case_disk_end(void)
{
	uint64_t cap = dev->capacity, s64 = cap - 64;

	/* The last 64 sectors, pieces across boundaries. */
	static const struct piece w1[] = {{0xf000, 0x2000}, {0x20000 - 0x800, 0x2000}, {0x31000, 0x4000}};
	static const struct piece r1[] = {{0x4000, 0x6000}, {0x40000 - 0x1000, 0x2000}};
	write_read("last 64 sectors", 0x51, s64, w1, N(w1), r1, N(r1));
	/* The last block alone. */
	struct piece w2 = {0x10000 - 8, blk}, r2 = {0x1000 + 4, blk};
	write_read("last block", 0x52, cap - blk / VIRTIO_SECTOR_SIZE, &w2, 1, &r2, 1);
	/* The last 16 sectors at odd addresses. */
	static const struct piece w3[] = {{0x1, 100}, {0x1001, 412}, {0x2003, 7168}, {0x5001, 512}};
	static const struct piece r3[] = {{0x3, 8191}, {0x6001, 1}};
	if (blk == VIRTIO_SECTOR_SIZE)
		write_read("last 16 sectors at odd addresses", 0x53, cap - 16, w3, N(w3), r3, N(r3));
	/* Crossing the end: refused, the last sectors unchanged. */
	int odd_written = blk == VIRTIO_SECTOR_SIZE && unaligned && dma_layout(w3, N(w3));
	uint32_t last_pid = odd_written ? 0x53 : 0x52;
	uint64_t last_at = odd_written ? cap - 16 : cap - blk / VIRTIO_SECTOR_SIZE;
	struct piece cross = {0x8000, 16 * blk};
	sg_io("write across the end", 1, cap - 8 * (blk / VIRTIO_SECTOR_SIZE), &cross, 1, 0x54,
	      VIRTIO_BLK_S_IOERR);
	sg_io("read across the end", 0, cap - 8 * (blk / VIRTIO_SECTOR_SIZE), &cross, 1, 0,
	      VIRTIO_BLK_S_IOERR);
	struct piece tail = {0x8000, (uint32_t)(cap - last_at) * VIRTIO_SECTOR_SIZE};
	sg_io("end unchanged", 0, last_at, &tail, 1, last_pid, VIRTIO_BLK_S_OK);
}

static void run_case(const char *name, void (*fn)(void))
{
	sg_case = name;
	case_fails = 0;
	fn();
	if (case_fails == 0)
		gprintf("GUEST: sg %s ok\n", name);
}

static uint32_t parse_hex(const char *p)
{
	uint32_t v = 0;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	for (; *p; p++) {
		char c = *p;
		unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
			     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
			     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
						    : 16u;
		if (d > 15)
			break;
		v = v << 4 | d;
	}
	return v;
}

void test_virtio_sg(void)
{
	char arg[24];
	int n = virtio_blk_probe_all(sg_devs, VIRTIO_BLK_MAX_DEVS);

	sg_case = "setup";
	if (n <= 0) {
		if (n == 0)
			SGFAIL("no virtio-blk device");
		return;
	}
	dev = &sg_devs[0];
	if (bootarg("sg_unaligned", arg, sizeof(arg)))
		unaligned = arg[0] == '0' ? 0 : strcmp(arg, "dma") == 0 ? 2 : 1;
	seed = bootarg("sg_seed", arg, sizeof(arg)) ? parse_hex(arg) : (uint32_t)timer_now();
	if (virtio_blk_init_features(dev, VIRTIO_F_INDIRECT_DESC | VIRTIO_F_BLK_SIZE_MAX |
					      VIRTIO_F_BLK_SEG_MAX | VIRTIO_F_BLK_BLK_SIZE))
		return;
	if (!(dev->features & VIRTIO_F_INDIRECT_DESC) || !(dev->features & VIRTIO_F_BLK_SEG_MAX)) {
		SGFAIL("INDIRECT_DESC and SEG_MAX needed (features 0x%lx)", dev->features);
		return;
	}
	seg_max = virtio_blk_read_reg(dev, CFG_SEG_MAX);
	size_max = dev->features & VIRTIO_F_BLK_SIZE_MAX ? virtio_blk_read_reg(dev, CFG_SIZE_MAX) : 0;
	blk = dev->features & VIRTIO_F_BLK_BLK_SIZE ? virtio_blk_read_reg(dev, CFG_BLK_SIZE)
						    : VIRTIO_SECTOR_SIZE;
	gprintf("GUEST: sg seed=0x%x seg_max=%u size_max=%u blk_size=%u capacity=%lu unaligned=%d\n", seed,
		seg_max, size_max, blk, dev->capacity, unaligned);
	if (dev->read_only || dev->capacity < MIN_CAPACITY || seg_max < 2 ||
	    (blk != VIRTIO_SECTOR_SIZE && blk != 4096)) {
		SGFAIL("disk 0 must be writable, >= %d sectors, seg_max >= 2, block 512 or 4096",
		       MIN_CAPACITY);
		return;
	}
	if (unaligned)
		run_case("unaligned", case_unaligned);
	else
		gprintf("GUEST: sg unaligned skipped (sg_unaligned=0)\n");
	run_case("page-cross", case_page_cross);
	run_case("large", case_large);
	run_case("seg-max", case_seg_max);
	run_case("disk-end", case_disk_end);
	if (test_failures() == 0)
		gprintf("GUEST: sg all ok\n");
}
