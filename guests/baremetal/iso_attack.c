/*
 * test=iso: the hostile neighbour of the isolation boot test (tests/boot/test_isolation.py).
 *
 * Runs beside a Linux VM that does verified I/O on another partition of the same controller and
 * attacks the shared storage path in timed phases, each bracketed by "GUEST: ISO: phase <p> start"
 * and "GUEST: ISO: phase <p> end" (the host maps the neighbour's rounds to them by arrival time):
 *   idle  nothing (more baseline rounds for the neighbour)
 * then, in this order (b last: a guest it breaks cannot run the others):
 *   a     the avail ring is never empty: zero-sector reads (complete at once) republished as soon
 *         as used, plus one real 4 KiB read so completions keep arriving; notified only when
 *         nothing completed for 2 ms (whoever pumps on completion finds it refilled)
 *   b     a full queue of large reads of a poison pattern aimed at the guest's own load address,
 *         then PSCI SYSTEM_RESET; the second boot (marker on the disk) checks its image: no
 *         poison in [load address, +RESET_READ_BYTES), and prints "ISO: image fnv=... len=..."
 *         over text+rodata for the host to compare with guest.bin
 *   c     a storm of guest errors: loads outside the VM's RAM, malformed chains, broken rings
 *   d     full depth of 64 KiB reads made of 16 segments at odd addresses with odd lengths
 *   e     full depth of maximal requests: seg_max segments of size_max bytes (config space)
 *   post  (second boot, after "phase b end") the disk still works: the poison region reads back
 * Each phase lasts iso.secs seconds (bootarg, default 12); iso.dry=1 makes a, c, d, e idle and b a
 * plain reset (a control run: the neighbour must then pass every bound). The first boot waits until the host
 * writes "KEEL-ISO-GO" into block 1 of the disk (so that the neighbour has booted); then "idle".
 * Disk layout (4 KiB blocks, the disk is at least 2 MiB): block 0 marker ("KEEL-ISO-MARK <p>"
 * while a reset is pending, "KEEL-ISO-DONE" at the end), block 1 the go flag, POISON_SECTOR on
 * RESET_READ_BYTES of the poison pattern; every other block is only ever read.
 */
#include <stdint.h>

#include "arch.h"
#include "exceptions.h"
#include "lib.h"
#include "psci.h"
#include "tests.h"
#include "timer.h"
#include "uart.h"
#include "virtio.h"
#include "iso.h"

#define BLK		 4096u
#define MARK_SECTOR	 0
#define GO_SECTOR	 8
#define POISON_SECTOR	 2048 /* 1 MiB */
#define RESET_READ_BYTES (256u << 10)
#define POISON_LO	 0x6b65656c2d69736full /* "osi-leek" little-endian: not stored anywhere */
#define SEG_CAP		 510
#define SCRATCH_OFF	 (16u << 20)
#define SCRATCH_SIZE	 (40u << 20)
#define DATA_CAP	 (8u << 20)
#define GO_TIMEOUT_S	 600

extern char _image_start[], _ro_end[];

static const char *const phases[] = {"idle", "a", "c", "d", "e", "b", "post"};
#define NPHASES ((int)ARRAY_SIZE(phases))

static struct virtio_blk dev;
static struct iq q;
static uint8_t blkbuf[BLK] __attribute__((aligned(16)));
static uint32_t phase_secs = 12;
static int dry; /* bootarg iso.dry=1: the same phases without the attacks (a control run) */

static void wr32(uintptr_t a, uint32_t v)
{
	mmio_write32(a, v);
}

/* ---- simple synchronous I/O through the driver in virtio.c (4 KiB at a time) ---- */

static int sync_init(void)
{
	return virtio_blk_init(&dev);
}

static int blk_io(int write, uint64_t sector, void *buf)
{
	int st = virtio_blk_rw(&dev, write, sector, buf, BLK);

	if (st != VIRTIO_BLK_S_OK) {
		gprintf("GUEST: FAIL ISO: %s of sector %lu: status %d\n", write ? "write" : "read", sector,
			st);
		test_fail();
		return -1;
	}
	return 0;
}

static void put_text(uint8_t *b, const char *s)
{
	memset(b, 0, BLK);
	memcpy(b, s, strlen(s));
}

static int write_marker(const char *text)
{
	put_text(blkbuf, text);
	return blk_io(1, MARK_SECTOR, blkbuf);
}

struct iq_stats {
	uint64_t done, ok, err, resets;
};

/*
 * Republishes every used request at once until `end_ms`; re-initialises on NEEDS_RESET. lazy: notify
 * only when nothing completed for 2 ms, so that whoever pumps the ring on completion (another CPU's
 * interrupt handler, a polling vCPU) finds it refilled behind its back instead of the guest's own
 * notify trap draining it.
 */
static void iq_storm(struct iq *iq, uint64_t end_ms, struct iq_stats *s, void (*fill)(struct iq *), int lazy)
{
	fill(iq);
	for (uint16_t h = 0; h < iq->qsize; h++)
		iq_push(iq, h);
	iq_publish(iq, 1);
	uint64_t progress = ms_now();

	while (ms_now() < end_ms) {
		uint16_t uidx = (uint16_t)(iq->used[0] >> 16); /* flags | idx << 16 */
		unsigned n = 0;

		while (iq->used_idx != uidx && n < iq->qsize) {
			dmb_sy();
			uint32_t id = iq->used[1 + 2 * (iq->used_idx % iq->qsize)];

			iq->used_idx++;
			s->done++;
			if (id >= iq->qsize)
				continue;
			if (iq->status[16u * id] == VIRTIO_BLK_S_OK)
				s->ok++;
			else
				s->err++;
			iq->status[16u * id] = 0xff;
			iq_push(iq, (uint16_t)id);
			n++;
		}
		if (n) {
			iq_publish(iq, !lazy);
			progress = ms_now();
		} else if (lazy && ms_now() - progress >= 2) {
			iq_publish(iq, 1);
			progress = ms_now();
		}
		if (virtio_blk_read_reg(iq->d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET) {
			s->resets++;
			if (iq_init(iq))
				return;
			fill(iq);
			for (uint16_t h = 0; h < iq->qsize; h++)
				iq_push(iq, h);
			iq_publish(iq, 1);
		}
	}
}

/* (a): head 0 reads 4 KiB for real; every other head is a zero-sector read. */
static void fill_spin(struct iq *iq)
{
	iq_set(iq, 0, 0, 1);
	iq_seg(iq, 0, 0, iq->data, BLK);
	for (uint16_t h = 1; h < iq->qsize; h++)
		iq_set(iq, h, (uint64_t)h * 8, 0);
}

/* (d): 16 segments at odd addresses, lengths 4095/4097 alternating: 64 KiB per request. */
static void fill_unaligned(struct iq *iq)
{
	uint64_t span = 128 * (uint64_t)iq->qsize;
	uint64_t cap = iq->d->capacity > span ? iq->d->capacity - span : 1;

	for (uint16_t h = 0; h < iq->qsize; h++) {
		iq_set(iq, h, ((uint64_t)h * 128) % cap, 16);
		for (uint32_t i = 0; i < 16; i++)
			iq_seg(iq, h, i, iq->data + 1 + i * 8192u + (h % 8) * 2, (i & 1) ? 4097 : 4095);
	}
}

/* (e): seg_max segments of size_max bytes (all into the same buffer), from sector 0. */
static void fill_max(struct iq *iq)
{
	uint32_t seg = iq->size_max, n = iq->seg_max;

	if (seg > DATA_CAP)
		seg = DATA_CAP;
	seg &= ~(BLK - 1);
	if (seg == 0)
		seg = BLK;
	if (n > SEG_CAP)
		n = SEG_CAP;
	while (n > 1 && (uint64_t)n * seg / VIRTIO_SECTOR_SIZE > iq->d->capacity)
		n--;
	for (uint16_t h = 0; h < iq->qsize; h++) {
		iq_set(iq, h, 0, n);
		for (uint32_t i = 0; i < n; i++)
			iq_seg(iq, h, i, iq->data, seg);
	}
	gprintf("GUEST: ISO: maximal requests: %u x %u bytes at depth %u\n", n, seg, iq->qsize);
}

static void storm_phase(const char *name, void (*fill)(struct iq *), uint64_t end_ms, int lazy)
{
	struct iq_stats s = {0};

	if (iq_init(&q)) {
		test_fail();
		return;
	}
	iq_storm(&q, end_ms, &s, fill, lazy);
	gprintf("GUEST: ISO: %s: %lu completions (%lu ok, %lu errors), %lu resets, qsize %u\n", name, s.done,
		s.ok, s.err, s.resets, q.qsize);
}

/* ---- (c) the error storm ---- */

static void flood_phase(uint64_t end_ms)
{
	uint64_t outside = env.ram_base + env.ram_size + 0x10000, aborts = 0, malformed = 0, broken = 0;
	uint32_t id, len;

	if (sync_init()) {
		test_fail();
		return;
	}
	for (uint64_t i = 0; ms_now() < end_ms; i++) {
		uint32_t v;
		struct trap_record r;

		trap_arm();
		__asm__ volatile("ldr %w0, [%1]" : "=r"(v) : "r"(outside + (i % 64) * 8) : "memory");
		r = trap_disarm();
		aborts += r.taken > 0;

		volatile struct virtq_desc *t = virtio_blk_desc(&dev);

		/* header outside RAM: a malformed chain */
		t[0].addr = outside;
		t[0].len = 16;
		t[0].flags = VIRTQ_DESC_F_NEXT;
		t[0].next = 1;
		t[1].addr = (uintptr_t)blkbuf;
		t[1].len = 1;
		t[1].flags = VIRTQ_DESC_F_WRITE;
		t[1].next = 0;
		if (virtio_blk_kick(&dev, 0, 100, &id, &len) == 0)
			malformed++;
		if ((i & 15) == 15) { /* a broken ring: head out of range -> NEEDS_RESET, re-init */
			virtio_blk_kick(&dev, 0xffff, 10, &id, &len);
			broken++;
			if (sync_init()) {
				test_fail();
				return;
			}
		}
	}
	gprintf("GUEST: ISO: flood: %lu aborts, %lu malformed chains completed, %lu broken rings\n", aborts,
		malformed, broken);
}

/* ---- (b) reads aimed at the image, then SYSTEM_RESET ---- */

static uint64_t poison_word(unsigned i)
{
	return (i & 1) ? ~POISON_LO : POISON_LO;
}

typedef void (*tramp_fn)(uint64_t notify, uint64_t fn);

static void reset_attack(void)
{
	uint64_t w[BLK / 8];
	uint32_t seg, nseg;

	for (unsigned i = 0; i < BLK / 8; i++)
		w[i] = poison_word(i);
	if (sync_init())
		goto fail;
	for (uint32_t off = 0; off < RESET_READ_BYTES; off += BLK)
		if (blk_io(1, POISON_SECTOR + off / VIRTIO_SECTOR_SIZE, w))
			goto fail;
	if (write_marker("KEEL-ISO-MARK b"))
		goto fail;
	if (iq_init(&q))
		goto fail;
	seg = q.size_max & ~(BLK - 1);
	if (seg == 0 || seg > RESET_READ_BYTES)
		seg = seg ? RESET_READ_BYTES : BLK;
	/* As large as the device accepts (seg_max * size_max), up to RESET_READ_BYTES. */
	nseg = RESET_READ_BYTES / seg;
	if (nseg > q.seg_max)
		nseg = q.seg_max;
	if (nseg > SEG_CAP)
		nseg = SEG_CAP;
	if (nseg == 0) {
		gprintf("GUEST: FAIL ISO: seg_max %u\n", q.seg_max);
		goto fail;
	}
	for (uint16_t h = 0; h < (dry ? 0 : q.qsize); h++) {
		iq_set(&q, h, POISON_SECTOR, nseg);
		for (uint32_t i = 0; i < nseg; i++)
			iq_seg(&q, h, i, (uintptr_t)_image_start + i * seg, seg);
		iq_push(&q, h);
	}
	iq_publish(&q, 0);
	gprintf("GUEST: ISO: reset attack: %u reads of %u bytes at 0x%lx, then SYSTEM_RESET\n",
		dry ? 0 : q.qsize, nseg * seg, (uint64_t)(uintptr_t)_image_start);
	/* From here the image (code, stack) may be overwritten: notify and reset from scratch RAM. */
	static const uint32_t code[] = {
	    0xb900001f, /* str wzr, [x0]  (QueueNotify = 0) */
	    0xd5033f9f, /* dsb sy */
	    0xaa0103e0, /* mov x0, x1 */
	    0xd4000002, /* hvc #0 (patched to smc #0 below if needed) */
	    0xd65f03c0, /* ret (only if the reset was refused) */
	};
	irq_disable();
	timer_stop();
	for (unsigned i = 0; i < ARRAY_SIZE(code); i++)
		wr32(q.tramp + 4 * i, code[i]);
	if (!psci_conduit_is_hvc())
		wr32(q.tramp + 12, 0xd4000003);
	dsb_sy();
	__asm__ volatile("ic iallu" ::: "memory");
	dsb_sy();
	isb();
	((tramp_fn)q.tramp)(q.d->base + VIRTIO_MMIO_QUEUE_NOTIFY, PSCI_SYSTEM_RESET);
fail:
	gprintf("GUEST: FAIL ISO: reset attack could not be set up\n");
	test_fail();
}

static uint64_t fnv1a(const volatile uint8_t *p, uint64_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (uint64_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void check_image_after_reset(void)
{
	const volatile uint64_t *p = (const volatile uint64_t *)(uintptr_t)_image_start;
	uint64_t len = (uint64_t)(_ro_end - _image_start), hits = 0, first = 0;

	gprintf("GUEST: ISO: second boot after the reset attack\n");
	delay_ms(1000); /* late DMA, if any, lands meanwhile */
	for (uint64_t i = 0; i + 1 < RESET_READ_BYTES / 8; i += 2) {
		if (p[i] == poison_word(0) && p[i + 1] == poison_word(1)) {
			if (!hits)
				first = (uintptr_t)&p[i];
			hits++;
		}
	}
	gprintf("GUEST: ISO: image fnv=0x%lx len=%lu\n", fnv1a((const volatile uint8_t *)_image_start, len),
		len);
	if (hits) {
		gprintf("GUEST: FAIL ISO: %lu poison blocks in the image after reset, first at 0x%lx\n", hits,
			first);
		test_fail();
	} else {
		gprintf("GUEST: ISO: reset attack: image intact\n");
	}
}

/* After the reboot: A's own disk still serves it (the poison region reads back), for half a phase. */
static void post_reset_phase(uint64_t end_ms)
{
	const volatile uint64_t *w = (const volatile uint64_t *)blkbuf;
	unsigned blocks = 0;

	end_ms -= phase_secs * 500ull;
	while (ms_now() < end_ms) {
		uint32_t off = (blocks * BLK) % RESET_READ_BYTES;

		if (blk_io(0, POISON_SECTOR + off / VIRTIO_SECTOR_SIZE, blkbuf))
			return;
		for (unsigned i = 0; i < BLK / 8; i++) {
			if (w[i] != poison_word(i)) {
				gprintf("GUEST: FAIL ISO: poison block at +0x%x reads back wrong\n", off);
				test_fail();
				return;
			}
		}
		blocks++;
		delay_ms(20);
	}
	gprintf("GUEST: ISO: post: %u blocks read back after the reset\n", blocks);
}

/* ---- phases ---- */

static void wait_for_go(void)
{
	uint64_t end = ms_now() + GO_TIMEOUT_S * 1000ull;

	gprintf("GUEST: ISO: waiting for the go flag\n");
	while (ms_now() < end) {
		if (blk_io(0, GO_SECTOR, blkbuf))
			return;
		if (!memcmp(blkbuf, "KEEL-ISO-GO", 11)) {
			gprintf("GUEST: ISO: go\n");
			return;
		}
		delay_ms(200);
	}
	gprintf("GUEST: FAIL ISO: no go flag in %u s\n", GO_TIMEOUT_S);
	test_fail();
}

static int setup_scratch(void)
{
	uintptr_t base = env.ram_base + SCRATCH_OFF;

	if (env.ram_size < SCRATCH_OFF + SCRATCH_SIZE) {
		gprintf("GUEST: FAIL ISO: needs %u MiB of RAM\n", (SCRATCH_OFF + SCRATCH_SIZE) >> 20);
		return -1;
	}
	if (env.dtb + (2u << 20) > base && env.dtb < base + SCRATCH_SIZE) {
		gprintf("GUEST: FAIL ISO: the DTB at 0x%lx is in the scratch area\n", env.dtb);
		return -1;
	}
	q.d = &dev;
	q.tramp = base;
	q.desc = (volatile struct virtq_desc *)(base + 0x1000);
	q.avail = (volatile uint16_t *)(base + 0x4000);
	q.used = (volatile uint32_t *)(base + 0x5000);
	q.hdr = (volatile struct virtio_blk_req_hdr *)(base + 0x8000);
	q.status = (volatile uint8_t *)(base + 0xc000);
	q.itab_entries = SEG_CAP + 2;
	q.itab = (volatile struct virtq_desc *)(base + 0x100000);
	q.data = base + 0x100000 + IQ_MAX * (SEG_CAP + 2) * sizeof(struct virtq_desc);
	q.data = (q.data + 0xfffff) & ~(uintptr_t)0xfffff;
	if (q.data + DATA_CAP > base + SCRATCH_SIZE)
		return -1;
	return 0;
}

void test_iso(void)
{
	char arg[16];
	int first = 0;

	if (bootarg("iso.secs", arg, sizeof(arg))) {
		phase_secs = 0;
		for (const char *c = arg; *c >= '0' && *c <= '9'; c++)
			phase_secs = phase_secs * 10 + (uint32_t)(*c - '0');
	}
	dry = bootarg("iso.dry", arg, sizeof(arg)) && arg[0] == '1';
	if (platform_irq_init() || setup_scratch() || virtio_blk_probe(&dev) || sync_init()) {
		test_fail();
		return;
	}
	if (dev.capacity * VIRTIO_SECTOR_SIZE < POISON_SECTOR * VIRTIO_SECTOR_SIZE + RESET_READ_BYTES) {
		gprintf("GUEST: FAIL ISO: disk too small (%lu sectors)\n", dev.capacity);
		test_fail();
		return;
	}
	if (blk_io(0, MARK_SECTOR, blkbuf))
		return;
	if (!memcmp(blkbuf, "KEEL-ISO-MARK b", 15)) {
		check_image_after_reset();
		delay_ms(phase_secs * 500);
		gprintf("GUEST: ISO: phase b end\n");
		if (write_marker("KEEL-ISO-RESUMED"))
			return;
		first = 6;
	} else {
		wait_for_go();
		if (test_failures())
			return;
	}
	for (int p = first; p < NPHASES; p++) {
		uint64_t end = ms_now() + phase_secs * 1000ull;

		gprintf("GUEST: ISO: phase %s start\n", phases[p]);
		if (dry && p >= 1 && p <= 4)
			delay_ms(phase_secs * 1000);
		switch (dry && p >= 1 && p <= 4 ? 0 : p) {
		case 0:
			if (p == 0)
				delay_ms(phase_secs * 1000);
			break;
		case 1:
			storm_phase("a", fill_spin, end, 1);
			break;
		case 2:
			flood_phase(end);
			break;
		case 3:
			storm_phase("d", fill_unaligned, end, 0);
			break;
		case 4:
			storm_phase("e", fill_max, end, 0);
			break;
		case 5:
			reset_attack();
			return; /* not reached unless the set-up failed */
		case 6:
			post_reset_phase(end);
			break;
		}
		/* Stop the attack (device reset) before the phase ends. */
		if (sync_init()) {
			test_fail();
			return;
		}
		gprintf("GUEST: ISO: phase %s end\n", phases[p]);
	}
	if (write_marker("KEEL-ISO-DONE"))
		return;
	gprintf("GUEST: ISO: done\n");
}
