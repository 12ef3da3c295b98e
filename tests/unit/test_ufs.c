/*
 * UFS driver against a fake UFSHCI controller: bring-up, the zero-copy data
 * path (PRDT entries point at the callers' buffers), queueing beyond the slot
 * count, UNIT ATTENTION retries, timeouts (reset, retry once, then BLK_EIO),
 * fatal controller errors, refused segments, and completions that resubmit.
 *
 * The fake executes a command when its doorbell bit is set (or later, on
 * request) against a 1 MiB RAM disk of 4096-byte blocks, behind arch/fake's
 * MMIO accessors. The driver's files are linked in; setup() clears its ufs_hosts
 * so each test starts from a fresh state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/timer.h"
#include "core/irq.h"
#include "drivers/pci.h"
#include "drivers/storage/storage.h"
#include "drivers/storage/ufs_priv.h"

/* --- the fake controller ----------------------------------------------------- */

#define FK_BLOCK  4096u
#define FK_BLOCKS 256u
#define FK_BAR	  0x10000000u /* BAR 0 of the fake PCI function */

static struct fake_ufs {
	uint32_t cap, hce, hcs, is, ie, dbr, utrlba, utrlbau, uicarg2, utmrlba, utmrlbau;
	bool tm_works;	      /* execute TM requests (ABORT TASK); else ignore UTMRLDBR, as QEMU's model */
	bool clr_works;	      /* UTRLCLR releases a slot; else ignore it, as QEMU's model */
	uint32_t aborted;     /* slots whose task an ABORT TASK ended: never executed, released by UTRLCLR */
	bool finish_on_clear; /* the deferred commands finish just as UTRLCLR arrives (a cancel races them) */
	uint32_t sticky;      /* slots whose doorbell bit not even disabling the controller clears */
	unsigned tm_aborts, clears;
	bool hce_stuck;	 /* HCE never reads 1 */
	bool defer;	 /* execute rung commands only in fk_run() */
	int hang_io;	 /* swallow this many READ/WRITEs (they stay rung until HCE is cleared) */
	bool fatal_next; /* the next doorbell raises a host controller fatal error instead */
	int ua_tur;	 /* TEST UNIT READYs answered with UNIT ATTENTION */
	int ua_io;	 /* READ/WRITEs answered with UNIT ATTENTION */
	int aborted_io;	 /* READ/WRITEs answered with ABORTED COMMAND (QEMU's answer to a host EIO) */
	uint32_t pending;
	unsigned dbr_writes, last_dbr_bits; /* UTRLDBR writes, bits set in the last one */
	unsigned max_rung, nops, queries, turs, reads, writes, syncs, unmaps, disables;
	unsigned max_prd_entries;
	uint64_t last_prd_addr[4];
	uint8_t disk[FK_BLOCKS * FK_BLOCK];
} fk;

static struct ufs_utrd *fk_utrd(unsigned s)
{
	return (struct ufs_utrd *)(uintptr_t)(((uint64_t)fk.utrlbau << 32 | fk.utrlba) + s * 32u);
}

static uint32_t be32(const uint8_t *p)
{
	return ufs_be32(p);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void sense(uint8_t *rsp, uint8_t key, uint8_t asc)
{
	rsp[6] = 1;
	rsp[7] = SCSI_STATUS_CHECK_CONDITION;
	rsp[11] = 20;
	rsp[33] = 18;
	rsp[34] = 0x70;
	rsp[34 + 2] = key;
	rsp[34 + 12] = asc;
}

/* Move len bytes between the disk at off and the PRDT's buffers. */
static void fk_dma(const struct ufs_prd *prdt, unsigned n, uint64_t off, uint32_t len, bool to_disk)
{
	fk.max_prd_entries = n > fk.max_prd_entries ? n : fk.max_prd_entries;
	for (unsigned i = 0; i < n && len; i++) {
		uint8_t *buf = (uint8_t *)(uintptr_t)((uint64_t)prdt[i].addr_hi << 32 | prdt[i].addr_lo);
		uint32_t cnt = prdt[i].dbc + 1;
		if (i < 4)
			fk.last_prd_addr[i] = (uintptr_t)buf;
		assert_true(cnt <= UFS_PRD_MAX_BYTES && cnt % 4 == 0 && (uintptr_t)buf % 4 == 0);
		cnt = cnt < len ? cnt : len;
		if (to_disk)
			memcpy(fk.disk + off, buf, cnt);
		else
			memcpy(buf, fk.disk + off, cnt);
		off += cnt;
		len -= cnt;
	}
	assert_int_equal(len, 0);
}

static void fk_exec(unsigned s)
{
	struct ufs_utrd *d = fk_utrd(s);
	uint8_t *ucd = (uint8_t *)(uintptr_t)((uint64_t)d->ucd_hi << 32 | d->ucd_lo);
	uint8_t *rsp = ucd + d->rsp_off * 4u;
	const struct ufs_prd *prdt = (const struct ufs_prd *)(ucd + d->prdt_off * 4u);
	const uint8_t *cdb = ucd + 16;

	memset(rsp, 0, 64);
	rsp[3] = ucd[3];
	switch (ucd[0]) {
	case UFS_UPIU_NOP_OUT:
		fk.nops++;
		rsp[0] = UFS_UPIU_NOP_IN;
		break;
	case UFS_UPIU_QUERY_REQ:
		fk.queries++;
		rsp[0] = UFS_UPIU_QUERY_RSP; /* fDeviceInit reads 0: the device is initialised at once */
		break;
	case UFS_UPIU_COMMAND: {
		rsp[0] = UFS_UPIU_RESPONSE;
		uint64_t lba = 0;
		uint32_t blocks = 0;
		switch (cdb[0]) {
		case SCSI_TEST_UNIT_READY:
			fk.turs++;
			if (fk.ua_tur > 0) {
				fk.ua_tur--;
				sense(rsp, SCSI_SENSE_UNIT_ATTENTION, 0x29);
			}
			break;
		case SCSI_SERVICE_IN16: {
			uint8_t cap[32] = {0};
			put32(cap + 4, FK_BLOCKS - 1);
			put32(cap + 8, FK_BLOCK);
			cap[14] = 0x80;
			fk_dma(prdt, d->prdt_len, 0, 0, false);
			memcpy((void *)(uintptr_t)((uint64_t)prdt[0].addr_hi << 32 | prdt[0].addr_lo), cap,
			       32);
			break;
		}
		case SCSI_READ10:
		case SCSI_WRITE10:
			lba = be32(cdb + 2);
			blocks = (uint32_t)(cdb[7] << 8 | cdb[8]);
			/* fallthrough */
		case SCSI_READ16:
		case SCSI_WRITE16: {
			if (cdb[0] == SCSI_READ16 || cdb[0] == SCSI_WRITE16) {
				lba = (uint64_t)be32(cdb + 2) << 32 | be32(cdb + 6);
				blocks = be32(cdb + 10);
			}
			bool write = cdb[0] == SCSI_WRITE10 || cdb[0] == SCSI_WRITE16;
			if (fk.ua_io > 0) {
				fk.ua_io--;
				sense(rsp, SCSI_SENSE_UNIT_ATTENTION, 0x29);
				break;
			}
			if (fk.aborted_io > 0) {
				fk.aborted_io--;
				sense(rsp, SCSI_SENSE_ABORTED_COMMAND, 0x00);
				rsp[34 + 13] = 0x06;
				break;
			}
			if (lba + blocks > FK_BLOCKS) {
				sense(rsp, 0x5, 0x21);
				break;
			}
			assert_int_equal(be32(ucd + 12), blocks * FK_BLOCK);
			assert_int_equal(ucd[1], write ? UFS_UPIU_FLAG_WRITE : UFS_UPIU_FLAG_READ);
			fk_dma(prdt, d->prdt_len, lba * FK_BLOCK, blocks * FK_BLOCK, write);
			if (write)
				fk.writes++;
			else
				fk.reads++;
			break;
		}
		case SCSI_SYNC_CACHE10:
			fk.syncs++;
			break;
		case SCSI_UNMAP: {
			const uint8_t *p =
			    (const uint8_t *)(uintptr_t)((uint64_t)prdt[0].addr_hi << 32 | prdt[0].addr_lo);
			lba = (uint64_t)be32(p + 8) << 32 | be32(p + 12);
			blocks = be32(p + 16);
			assert_true(lba + blocks <= FK_BLOCKS);
			memset(fk.disk + lba * FK_BLOCK, 0, blocks * FK_BLOCK);
			fk.unmaps++;
			break;
		}
		default:
			sense(rsp, 0x5, 0x20);
		}
		break;
	}
	default:
		fail_msg("unexpected UPIU 0x%02x", ucd[0]);
	}
	d->dw2 = UFS_OCS_SUCCESS;
	fk.dbr &= ~(1u << s);
	if (d->dw0 & UFS_UTRD_INTERRUPT)
		fk.is |= UFS_IS_UTRCS;
}

static void fk_run(void);

/* ABORT TASK from TM slot 0: the task (a rung, unexecuted slot) is ended without a response. */
static void fk_tm_exec(void)
{
	struct ufs_utmrd *d = (struct ufs_utmrd *)(uintptr_t)((uint64_t)fk.utmrlbau << 32 | fk.utmrlba);
	uint8_t *req = (uint8_t *)&d->dw[UFS_UTMRD_REQ_DW], *rsp = (uint8_t *)&d->dw[UFS_UTMRD_RSP_DW];
	unsigned task = req[19];

	assert_int_equal(req[0], UFS_UPIU_TM_REQ);
	assert_int_equal(req[5], UFS_TMF_ABORT_TASK);
	assert_true(task < 32);
	memset(rsp, 0, 32);
	rsp[0] = UFS_UPIU_TM_RSP;
	rsp[3] = req[3];
	if (fk.dbr & (1u << task)) {
		fk.aborted |= 1u << task;
		fk.pending &= ~(1u << task);
		rsp[15] = UFS_TM_SERVICE_SUCCEEDED;
		fk.tm_aborts++;
	} else {
		rsp[15] = UFS_TM_SERVICE_COMPLETE;
	}
	d->dw[2] = UFS_OCS_SUCCESS;
}

static bool is_io(unsigned s)
{
	struct ufs_utrd *d = fk_utrd(s);
	uint8_t *ucd = (uint8_t *)(uintptr_t)((uint64_t)d->ucd_hi << 32 | d->ucd_lo);
	uint8_t op = ucd[16];
	return ucd[0] == UFS_UPIU_COMMAND &&
	       (op == SCSI_READ10 || op == SCSI_WRITE10 || op == SCSI_READ16 || op == SCSI_WRITE16);
}

static uint32_t ufs_fake_read(uint32_t off)
{
	switch (off) {
	case UFS_REG_CAP:
		return fk.cap;
	case UFS_REG_VER:
		return 0x400;
	case UFS_REG_IS:
		return fk.is;
	case UFS_REG_IE:
		return fk.ie;
	case UFS_REG_HCS:
		return fk.hcs;
	case UFS_REG_HCE:
		return fk.hce;
	case UFS_REG_UTRLDBR:
		return fk.dbr;
	case UFS_REG_UTMRLDBR:
		return 0; /* executed at once, or ignored */
	case UFS_REG_UCMDARG2:
		return fk.uicarg2;
	default:
		return 0;
	}
}

static void ufs_fake_write(uint32_t off, uint32_t v)
{
	switch (off) {
	case UFS_REG_IS:
		fk.is &= ~v;
		break;
	case UFS_REG_IE:
		fk.ie = v;
		break;
	case UFS_REG_HCE:
		if ((v & 1) && !fk.hce && !fk.hce_stuck) {
			fk.hce = 1;
			fk.hcs = UFS_HCS_UCRDY;
		} else if (!(v & 1) && fk.hce) {
			/* Disabling the host controller aborts every request. */
			fk.hce = 0;
			fk.hcs = 0;
			fk.dbr &= fk.sticky;
			fk.pending = 0;
			fk.disables++;
		}
		break;
	case UFS_REG_UTRLBA:
		fk.utrlba = v & ~0x3ffu;
		break;
	case UFS_REG_UTRLBAU:
		fk.utrlbau = v;
		break;
	case UFS_REG_UTMRLBA:
		fk.utmrlba = v & ~0x3ffu;
		break;
	case UFS_REG_UTMRLBAU:
		fk.utmrlbau = v;
		break;
	case UFS_REG_UTMRLDBR:
		assert_int_equal(v, 1u);
		if (fk.tm_works)
			fk_tm_exec();
		break;
	case UFS_REG_UTRLCLR:
		fk.clears++;
		if (fk.finish_on_clear)
			fk_run();
		if (fk.clr_works) {
			fk.dbr &= v; /* zero bits clear */
			fk.pending &= v;
			fk.aborted &= v;
		}
		break;
	case UFS_REG_UICCMD:
		if (v == UFS_UIC_DME_LINKSTARTUP) {
			fk.hcs |= UFS_HCS_DP | UFS_HCS_UTRLRDY | UFS_HCS_UTMRLRDY;
			fk.uicarg2 = 0;
		} else {
			fk.uicarg2 = 1;
		}
		fk.is |= UFS_IS_UCCS;
		break;
	case UFS_REG_UTRLDBR: {
		uint32_t ring = v & ~fk.dbr;
		assert_true(fk.hce);
		fk.dbr_writes++;
		fk.last_dbr_bits = (unsigned)__builtin_popcount(v);
		fk.dbr |= ring;
		unsigned n = (unsigned)__builtin_popcount(fk.dbr);
		fk.max_rung = n > fk.max_rung ? n : fk.max_rung;
		for (; ring; ring &= ring - 1) {
			unsigned s = (unsigned)__builtin_ctz(ring);
			if (fk.fatal_next) {
				fk.fatal_next = false;
				fk.is |= UFS_IS_HCFES;
			} else if (fk.hang_io > 0 && is_io(s)) {
				fk.hang_io--;
			} else if (fk.defer) {
				fk.pending |= 1u << s;
			} else {
				fk_exec(s);
			}
		}
		break;
	}
	default:
		break;
	}
}

/* The controller's registers, as arch/fake's MMIO accessors reach them: 32-bit accesses in BAR 0. */
uint32_t fake_mmio_read(uintptr_t addr, unsigned size)
{
	assert_int_equal(size, 4);
	assert_in_range(addr, FK_BAR, FK_BAR + UFS_REG_SPAN - 4);
	return ufs_fake_read((uint32_t)(addr - FK_BAR));
}

void fake_mmio_write(uintptr_t addr, unsigned size, uint32_t v)
{
	assert_int_equal(size, 4);
	assert_in_range(addr, FK_BAR, FK_BAR + UFS_REG_SPAN - 4);
	ufs_fake_write((uint32_t)(addr - FK_BAR), v);
}

static void fk_run(void)
{
	while (fk.pending) {
		unsigned s = (unsigned)__builtin_ctz(fk.pending);
		fk.pending &= fk.pending - 1;
		fk_exec(s);
	}
}

/* --- fakes for the rest of keel ---------------------------------------------- */

static struct pci_dev fake_pci;
static bool pci_enabled;
static irq_handler_fn irq_fn, tick_fn;
static void *irq_ctx, *tick_ctx;
static struct blkdev *registered;

struct pci_dev *pci_dev_at(unsigned i)
{
	return i == 0 ? &fake_pci : NULL;
}

void pci_enable(struct pci_dev *d)
{
	(void)d;
	pci_enabled = true;
}

void pci_disable(struct pci_dev *d)
{
	(void)d;
	pci_enabled = false;
}

int irq_register(uint32_t intid, bool edge, irq_handler_fn fn, void *ctx)
{
	assert_int_equal(intid, 36);
	assert_false(edge); /* INTx is level */
	irq_fn = fn;
	irq_ctx = ctx;
	return 0;
}

int hyp_tick_register(irq_handler_fn fn, void *ctx)
{
	tick_fn = fn;
	tick_ctx = ctx;
	return 0;
}

int storage_register(const char *backend, struct blkdev *dev)
{
	assert_string_equal(backend, "ufs");
	registered = dev;
	return 0;
}

static void fire_irq_if_asserted(void)
{
	if (fk.is & fk.ie)
		irq_fn(irq_ctx);
}

/* --- test helpers ---------------------------------------------------------- */

static int setup(void **state)
{
	(void)state;
	memset(&fk, 0, sizeof(fk));
	fk.cap = 31u | (7u << 16) | UFS_CAP_64AS;
	fk.ua_tur = 1; /* power-on UNIT ATTENTION */
	for (unsigned i = 0; i < sizeof(fk.disk); i++)
		fk.disk[i] = (uint8_t)(i * 13 + (i >> 12));
	memset(ufs_hosts, 0, sizeof(ufs_hosts));
	ufs_nr_hosts = 0;
	fake_pci = (struct pci_dev){.vendor = 0x1b36, .device = 0x0013, .class_code = 0x010901, .intid = 36};
	fake_pci.bar[0] = pa_init(FK_BAR);
	fake_pci.bar_size[0] = 0x2000;
	registered = NULL;
	irq_fn = tick_fn = NULL;
	return 0;
}

struct rq {
	struct blk_req req;
	struct blk_seg segs[8];
	int status;
	int calls;
	struct rq *resubmit; /* submitted from inside done */
};

static void rq_done(struct blk_req *req, int status)
{
	struct rq *r = req->ctx;
	r->status = status;
	r->calls++;
	if (r->resubmit) {
		struct rq *next = r->resubmit;
		r->resubmit = NULL;
		assert_int_equal(blkdev_submit(registered, &next->req), 0);
	}
}

static void rq_init(struct rq *r, enum blk_op op, uint64_t sector, uint64_t nsectors)
{
	memset(r, 0, sizeof(*r));
	r->req = (struct blk_req){
	    .op = op, .sector = sector, .nsectors = nsectors, .segs = r->segs, .done = rq_done, .ctx = r};
	r->status = 1;
}

static void rq_seg(struct rq *r, void *buf, uint32_t len)
{
	r->segs[r->req.nsegs++] = (struct blk_seg){ptr_to_pa(buf), len};
}

static void poll_until(struct rq *r, uint64_t max_us)
{
	uint64_t end = timer_us() + max_us;
	while (r->calls == 0 && timer_us() < end)
		registered->ops->poll(registered);
}

static const struct ufs_stats *st(void)
{
	return ufs_stats(registered);
}

/* --- tests ----------------------------------------------------------------- */

static void test_bringup_registers_lu0(void **state)
{
	(void)state;
	assert_int_equal(ufs_probe_all(NULL), 0);
	assert_non_null(registered);
	assert_true(pci_enabled);
	assert_non_null(irq_fn);
	assert_non_null(tick_fn);
	assert_int_equal(registered->block_size, 4096);
	assert_int_equal(registered->nsectors, FK_BLOCKS * 8);
	assert_true(registered->flags & BLKDEV_F_FLUSH);
	assert_true(registered->flags & BLKDEV_F_DISCARD);
	assert_int_equal(registered->max_segs, UFS_PRDT_MAX);
	assert_int_equal(registered->max_seg_size, UFS_PRD_MAX_BYTES);
	assert_true(fk.nops >= 1 && fk.queries >= 2);
	assert_int_equal(fk.turs, 2); /* UNIT ATTENTION once, then GOOD */
	assert_int_equal(fk.ie, UFS_IE_ENABLED);
	assert_non_null(st());
}

static void test_bringup_fails_cleanly(void **state)
{
	(void)state;
	fk.hce_stuck = true;
	assert_int_not_equal(ufs_probe_all(NULL), 0);
	assert_null(registered);
	assert_false(pci_enabled);
}

static void test_read_write_zero_copy_irq(void **state)
{
	(void)state;
	static uint8_t a[4096] __attribute__((aligned(64))), b[8192] __attribute__((aligned(64)));
	struct rq w, r;

	assert_int_equal(ufs_probe_all(NULL), 0);
	memset(a, 0x11, sizeof(a));
	memset(b, 0x22, sizeof(b));
	/* Write blocks 3..5 from two segments: the fake copies straight from these buffers. */
	rq_init(&w, BLK_OP_WRITE, 3 * 8, 3 * 8);
	rq_seg(&w, a, sizeof(a));
	rq_seg(&w, b, sizeof(b));
	assert_int_equal(blkdev_submit(registered, &w.req), 0);
	assert_int_equal(w.calls, 0); /* completes on the interrupt, not inside submit */
	assert_true(fk.is & UFS_IS_UTRCS);
	fire_irq_if_asserted();
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.status, BLK_OK);
	assert_int_equal(fk.is, 0); /* the handler cleared the source: the level line drops */
	assert_int_equal(fk.last_prd_addr[0], (uintptr_t)a);
	assert_int_equal(fk.last_prd_addr[1], (uintptr_t)b);
	assert_int_equal(fk.disk[3 * 4096], 0x11);
	assert_int_equal(fk.disk[4 * 4096], 0x22);
	assert_int_equal(fk.disk[6 * 4096 - 1], 0x22);

	static uint8_t back[3 * 4096] __attribute__((aligned(64)));
	rq_init(&r, BLK_OP_READ, 3 * 8, 3 * 8);
	rq_seg(&r, back, sizeof(back));
	assert_int_equal(blkdev_submit(registered, &r.req), 0);
	fire_irq_if_asserted();
	assert_int_equal(r.status, BLK_OK);
	assert_memory_equal(back, a, 4096);
	assert_memory_equal(back + 4096, b, 8192);
	assert_int_equal(st()->reads, 1);
	assert_int_equal(st()->writes, 1);
	assert_int_equal(st()->irqs, 2);
	assert_int_equal(st()->polled, 0);
}

static void test_large_segment_is_split_not_copied(void **state)
{
	(void)state;
	static uint8_t big[512 * 1024] __attribute__((aligned(4096)));
	struct rq r;

	assert_int_equal(ufs_probe_all(NULL), 0);
	rq_init(&r, BLK_OP_READ, 0, sizeof(big) / 512);
	rq_seg(&r, big, sizeof(big));
	/* Above the advertised segment size: blkdev_submit refuses it, the driver itself still splits it. */
	assert_int_not_equal(blkdev_submit(registered, &r.req), 0);
	assert_int_equal(registered->ops->submit(registered, &r.req), 0);
	poll_until(&r, 100000);
	assert_int_equal(r.status, BLK_OK);
	assert_int_equal(fk.max_prd_entries, 2);
	assert_int_equal(fk.last_prd_addr[0], (uintptr_t)big);
	assert_int_equal(fk.last_prd_addr[1], (uintptr_t)big + UFS_PRD_MAX_BYTES);
	assert_memory_equal(big, fk.disk, sizeof(big));
	assert_int_equal(st()->segs_split, 1);
	assert_int_equal(st()->polled, 1);
}

static void test_misaligned_segment_refused_and_counted(void **state)
{
	(void)state;
	static uint8_t buf[8192 + 8] __attribute__((aligned(64)));
	struct rq r;

	assert_int_equal(ufs_probe_all(NULL), 0);
	unsigned cmds = (unsigned)st()->commands;
	rq_init(&r, BLK_OP_READ, 0, 16);
	rq_seg(&r, buf + 2, 4096); /* not dword aligned: no PRDT entry can say this */
	rq_seg(&r, buf + 4098, 4096);
	assert_int_equal(blkdev_submit(registered, &r.req), BLK_EINVAL);
	assert_int_equal(r.calls, 0);
	assert_int_equal(st()->segs_refused, 1);
	/* Length not whole dwords. */
	rq_init(&r, BLK_OP_WRITE, 0, 8);
	rq_seg(&r, buf, 4094);
	rq_seg(&r, buf + 4096, 2);
	assert_int_equal(blkdev_submit(registered, &r.req), BLK_EINVAL);
	assert_int_equal(st()->segs_refused, 2);
	assert_int_equal(st()->commands, cmds); /* nothing reached the controller */
	/* Not aligned to the 4096-byte block. */
	rq_init(&r, BLK_OP_READ, 1, 8);
	rq_seg(&r, buf, 4096);
	assert_int_equal(blkdev_submit(registered, &r.req), BLK_EINVAL);
}

static void test_queue_beyond_slots_and_resubmit_from_done(void **state)
{
	(void)state;
	enum { N = 40 };
	static struct rq rs[N + 1];
	static uint8_t bufs[N + 1][4096] __attribute__((aligned(64)));

	assert_int_equal(ufs_probe_all(NULL), 0);
	fk.defer = true;
	for (unsigned i = 0; i <= N; i++) {
		rq_init(&rs[i], BLK_OP_READ, (i % FK_BLOCKS) * 8, 8);
		rq_seg(&rs[i], bufs[i], 4096);
	}
	rs[0].resubmit = &rs[N]; /* its done submits another request, with no driver lock held */
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(blkdev_submit(registered, &rs[i].req), 0);
	assert_int_equal(fk.max_rung, 32); /* every slot in use */
	assert_int_equal(st()->waited, N - 32);
	for (unsigned round = 0; round < 4; round++) {
		fk_run();
		fire_irq_if_asserted();
	}
	for (unsigned i = 0; i <= N; i++) {
		assert_int_equal(rs[i].calls, 1);
		assert_int_equal(rs[i].status, BLK_OK);
		assert_memory_equal(bufs[i], fk.disk + (i % FK_BLOCKS) * 4096, 4096);
	}
	assert_int_equal(st()->reads, N + 1);
}

/* Submit reads of blocks first.. with the batching hint (or without), buffers from bufs. */
static void submit_batch(struct rq *rs, uint8_t (*bufs)[4096], unsigned first, unsigned n, bool batch)
{
	for (unsigned i = first; i < first + n; i++) {
		rq_init(&rs[i], BLK_OP_READ, i * 8, 8);
		rq_seg(&rs[i], bufs[i], 4096);
		rs[i].req.batch = batch;
		assert_int_equal(blkdev_submit(registered, &rs[i].req), 0);
	}
}

static void complete_all_ok(struct rq *rs, uint8_t (*bufs)[4096], unsigned n)
{
	fk_run();
	fire_irq_if_asserted();
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(rs[i].calls, 1);
		assert_int_equal(rs[i].status, BLK_OK);
		assert_memory_equal(bufs[i], fk.disk + i * 4096, 4096);
	}
}

/* Hinted submits leave their doorbell bits unrung; the commit rings them all in one write. */
static void test_batch_rings_once_at_commit(void **state)
{
	(void)state;
	enum { N = 6 };
	static struct rq rs[N];
	static uint8_t bufs[N][4096] __attribute__((aligned(64)));

	assert_int_equal(ufs_probe_all(NULL), 0);
	fk.defer = true;
	unsigned w0 = fk.dbr_writes, d0 = (unsigned)st()->doorbells, c0 = (unsigned)st()->commands;
	submit_batch(rs, bufs, 0, N, true);
	assert_int_equal(fk.dbr_writes, w0); /* nothing rung yet */
	assert_int_equal(fk.dbr, 0);
	assert_int_equal(st()->commands, c0 + N);
	blkdev_commit(registered);
	assert_int_equal(fk.dbr_writes, w0 + 1);
	assert_int_equal(fk.last_dbr_bits, N);
	assert_int_equal(__builtin_popcount(fk.dbr), N);
	assert_int_equal(st()->doorbells, d0 + 1);
	blkdev_commit(registered); /* nothing left: no write */
	assert_int_equal(fk.dbr_writes, w0 + 1);
	complete_all_ok(rs, bufs, N);
}

/* A submit without the hint rings at once, and takes a batch's bits with it. */
static void test_unhinted_submit_rings_pending_bits(void **state)
{
	(void)state;
	enum { N = 4 };
	static struct rq rs[N];
	static uint8_t bufs[N][4096] __attribute__((aligned(64)));

	assert_int_equal(ufs_probe_all(NULL), 0);
	fk.defer = true;
	unsigned w0 = fk.dbr_writes;
	submit_batch(rs, bufs, 0, N - 1, true);
	assert_int_equal(fk.dbr_writes, w0);
	submit_batch(rs, bufs, N - 1, 1, false);
	assert_int_equal(fk.dbr_writes, w0 + 1);
	assert_int_equal(fk.last_dbr_bits, N);
	blkdev_commit(registered); /* the batch's commit finds nothing left */
	assert_int_equal(fk.dbr_writes, w0 + 1);
	complete_all_ok(rs, bufs, N);
}

/* A batch whose commit never comes is rung by the tick (the service path), its timeout from then. */
static void test_tick_rings_forgotten_batch(void **state)
{
	(void)state;
	enum { N = 3 };
	static struct rq rs[N];
	static uint8_t bufs[N][4096] __attribute__((aligned(64)));

	assert_int_equal(ufs_probe_all(NULL), 0);
	fk.defer = true;
	unsigned w0 = fk.dbr_writes;
	submit_batch(rs, bufs, 0, N, true);
	tick_fn(tick_ctx);
	assert_int_equal(fk.dbr_writes, w0 + 1);
	assert_int_equal(fk.last_dbr_bits, N);
	assert_int_equal(st()->timeouts, 0);
	complete_all_ok(rs, bufs, N);
}

/* Cancelling a hinted request before its commit takes it back: the controller never sees it. */
static void test_cancel_unrung_request(void **state)
{
	(void)state;
	static struct rq rs[2];
	static uint8_t bufs[2][4096] __attribute__((aligned(64)));

	assert_int_equal(ufs_probe_all(NULL), 0);
	fk.defer = true;
	unsigned w0 = fk.dbr_writes;
	submit_batch(rs, bufs, 0, 2, true);
	assert_int_equal(blkdev_cancel(registered, &rs[1].req), 0);
	assert_int_equal(rs[1].calls, 1);
	assert_int_equal(rs[1].status, BLK_ECANCELED);
	assert_int_equal(fk.clears, 0);
	blkdev_commit(registered);
	assert_int_equal(fk.dbr_writes, w0 + 1);
	assert_int_equal(fk.last_dbr_bits, 1);
	fk_run();
	fire_irq_if_asserted();
	assert_int_equal(rs[0].status, BLK_OK);
	assert_int_equal(fk.reads, 1);
}

static void test_unit_attention_is_retried(void **state)
{
	(void)state;
	static uint8_t buf[4096] __attribute__((aligned(64)));
	struct rq r;

	assert_int_equal(ufs_probe_all(NULL), 0);
	fk.ua_io = 2;
	rq_init(&r, BLK_OP_READ, 8, 8);
	rq_seg(&r, buf, 4096);
	assert_int_equal(blkdev_submit(registered, &r.req), 0);
	poll_until(&r, 100000);
	assert_int_equal(r.status, BLK_OK);
	assert_int_equal(st()->retries, 2);
	/* More than the retry budget: an error, not a hang. */
	fk.ua_io = 100;
	rq_init(&r, BLK_OP_READ, 8, 8);
	rq_seg(&r, buf, 4096);
	assert_int_equal(blkdev_submit(registered, &r.req), 0);
	poll_until(&r, 100000);
	assert_int_equal(r.status, BLK_EIO);
	assert_int_equal(st()->errors, 1);
}

/* A device error: re-issued within UFS_SCSI_RETRIES, then BLK_EIO upward (a transient one is absorbed). */
static void test_aborted_command_retried_then_error(void **state)
{
	(void)state;
	static uint8_t buf[4096] __attribute__((aligned(64)));
	struct rq r;

	assert_int_equal(ufs_probe_all(NULL), 0);
	fk.aborted_io = 1;
	rq_init(&r, BLK_OP_WRITE, 8, 8);
	rq_seg(&r, buf, 4096);
	assert_int_equal(blkdev_submit(registered, &r.req), 0);
	poll_until(&r, 100000);
	assert_int_equal(r.status, BLK_OK);
	assert_int_equal(st()->retries, 1);
	assert_int_equal(st()->errors, 0);
	fk.aborted_io = 1000; /* persistent */
	rq_init(&r, BLK_OP_READ, 8, 8);
	rq_seg(&r, buf, 4096);
	assert_int_equal(blkdev_submit(registered, &r.req), 0);
	poll_until(&r, 100000);
	assert_int_equal(r.status, BLK_EIO);
	assert_int_equal(st()->retries, 1 + UFS_SCSI_RETRIES);
	assert_int_equal(st()->errors, 1);
	assert_int_equal(fk.aborted_io, 1000 - 1 - UFS_SCSI_RETRIES); /* no more re-issues than that */
}

static void test_timeout_resets_and_retries_once(void **state)
{
	(void)state;
	static uint8_t buf[4096] __attribute__((aligned(64)));
	struct rq r;

	assert_int_equal(ufs_probe_all(NULL), 0);
	fk.hang_io = 1;
	rq_init(&r, BLK_OP_WRITE, 16, 8);
	memset(buf, 0x5a, sizeof(buf));
	rq_seg(&r, buf, 4096);
	assert_int_equal(blkdev_submit(registered, &r.req), 0);
	/* The tick finds the overdue slot, resets the controller and re-issues the request. */
	uint64_t end = timer_us() + 10 * UFS_IO_TIMEOUT_US;
	while (r.calls == 0 && timer_us() < end)
		tick_fn(tick_ctx);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, BLK_OK);
	assert_int_equal(fk.disk[16 * 512], 0x5a);
	assert_int_equal(st()->timeouts, 1);
	assert_int_equal(st()->resets, 1);
	assert_int_equal(fk.disables, 1);
	assert_int_equal(fk.ie, UFS_IE_ENABLED);

	/* Hangs again after the reset: the second timeout fails it. */
	fk.hang_io = 2;
	rq_init(&r, BLK_OP_READ, 16, 8);
	rq_seg(&r, buf, 4096);
	assert_int_equal(blkdev_submit(registered, &r.req), 0);
	end = timer_us() + 10 * UFS_IO_TIMEOUT_US;
	while (r.calls == 0 && timer_us() < end)
		registered->ops->poll(registered);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, BLK_EIO);
	assert_int_equal(st()->timeouts, 3);
	assert_int_equal(st()->resets, 3);

	/* The controller works afterwards. */
	rq_init(&r, BLK_OP_READ, 16, 8);
	rq_seg(&r, buf, 4096);
	assert_int_equal(blkdev_submit(registered, &r.req), 0);
	fire_irq_if_asserted();
	assert_int_equal(r.status, BLK_OK);
}

static void test_fatal_error_fails_outstanding_and_recovers(void **state)
{
	(void)state;
	static uint8_t buf[4096] __attribute__((aligned(64)));
	struct rq r, r2;

	assert_int_equal(ufs_probe_all(NULL), 0);
	fk.fatal_next = true;
	rq_init(&r, BLK_OP_READ, 0, 8);
	rq_seg(&r, buf, 4096);
	assert_int_equal(blkdev_submit(registered, &r.req), 0);
	fire_irq_if_asserted();
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, BLK_EIO);
	assert_int_equal(st()->fatal_errors, 1);
	assert_int_equal(st()->resets, 1);
	rq_init(&r2, BLK_OP_READ, 0, 8);
	rq_seg(&r2, buf, 4096);
	assert_int_equal(blkdev_submit(registered, &r2.req), 0);
	fire_irq_if_asserted();
	assert_int_equal(r2.status, BLK_OK);
}

static void test_dead_controller_fails_requests(void **state)
{
	(void)state;
	static uint8_t buf[4096] __attribute__((aligned(64)));
	struct rq r;

	assert_int_equal(ufs_probe_all(NULL), 0);
	fk.fatal_next = true;
	fk.hce_stuck = true; /* the reset cannot bring it back */
	rq_init(&r, BLK_OP_READ, 0, 8);
	rq_seg(&r, buf, 4096);
	assert_int_equal(blkdev_submit(registered, &r.req), 0);
	fire_irq_if_asserted();
	assert_int_equal(r.status, BLK_EIO);
	rq_init(&r, BLK_OP_READ, 0, 8);
	rq_seg(&r, buf, 4096);
	assert_int_equal(blkdev_submit(registered, &r.req), BLK_EIO);
	tick_fn(tick_ctx); /* harmless */
}

static void test_flush_and_discard(void **state)
{
	(void)state;
	struct rq f, d;

	assert_int_equal(ufs_probe_all(NULL), 0);
	rq_init(&f, BLK_OP_FLUSH, 0, 0);
	f.req.segs = NULL;
	assert_int_equal(blkdev_submit(registered, &f.req), 0);
	fire_irq_if_asserted();
	assert_int_equal(f.status, BLK_OK);
	assert_int_equal(fk.syncs, 1);

	rq_init(&d, BLK_OP_DISCARD, 8 * 10, 8 * 2);
	d.req.segs = NULL;
	assert_int_equal(blkdev_submit(registered, &d.req), 0);
	fire_irq_if_asserted();
	assert_int_equal(d.status, BLK_OK);
	assert_int_equal(fk.unmaps, 1);
	for (unsigned i = 10 * 4096; i < 12 * 4096; i++)
		assert_int_equal(fk.disk[i], 0);
	assert_int_not_equal(fk.disk[12 * 4096 + 1], 0);
	assert_int_equal(st()->flushes, 1);
	assert_int_equal(st()->unmaps, 1);
}

static void test_prdt_build_rules(void **state)
{
	(void)state;
	struct ufs_prd prdt[4];
	struct blk_seg segs[2] = {{pa_init(0x1000), 600 * 1024}, {pa_init(0x200000), 4}};
	unsigned bad = 99;

	assert_int_equal(ufs_prdt_build(prdt, 4, segs, 2, &bad), 4);
	assert_int_equal(prdt[0].dbc, UFS_PRD_MAX_BYTES - 1);
	assert_int_equal(prdt[1].addr_lo, 0x1000 + UFS_PRD_MAX_BYTES);
	assert_int_equal(prdt[2].dbc, 600 * 1024 - 2 * UFS_PRD_MAX_BYTES - 1);
	assert_int_equal(prdt[3].dbc, 3);
	assert_int_equal(ufs_prdt_build(prdt, 3, segs, 2, &bad), -2);
	segs[1].pa = pa_init(0x200002);
	assert_int_equal(ufs_prdt_build(prdt, 4, segs, 2, &bad), -1);
	assert_int_equal(bad, 1);
	uint8_t cdb[16];
	ufs_cdb_rw(cdb, false, 0x100000000ull, 8);
	assert_int_equal(cdb[0], SCSI_READ16);
	ufs_cdb_rw(cdb, true, 5, 8);
	assert_int_equal(cdb[0], SCSI_WRITE10);
	assert_int_equal(cdb[5], 5);
	assert_int_equal(cdb[8], 8);
}

/* --- cancel ------------------------------------------------------------------ */

static void fill_slots(struct rq *rs, uint8_t (*bufs)[4096], unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		rq_init(&rs[i], BLK_OP_READ, (i % FK_BLOCKS) * 8, 8);
		rq_seg(&rs[i], bufs[i], 4096);
		assert_int_equal(blkdev_submit(registered, &rs[i].req), 0);
	}
}

static void test_cancel_waiting_request(void **state)
{
	(void)state;
	enum { N = 34 };
	static struct rq rs[N];
	static uint8_t bufs[N][4096] __attribute__((aligned(64)));

	assert_int_equal(ufs_probe_all(NULL), 0);
	fk.defer = true;
	fill_slots(rs, bufs, N); /* 32 issued, 2 waiting */
	assert_int_equal(st()->waited, 2);
	unsigned cmds = (unsigned)st()->commands;
	/* The first waiter: dropped from the FIFO, done at once, nothing reaches the controller. */
	assert_int_equal(blkdev_cancel(registered, &rs[32].req), 0);
	assert_int_equal(rs[32].calls, 1);
	assert_int_equal(rs[32].status, BLK_ECANCELED);
	assert_int_equal(st()->cancels, 1);
	fk_run();
	fire_irq_if_asserted();
	fk_run(); /* the other waiter, issued into a freed slot */
	fire_irq_if_asserted();
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(rs[i].calls, 1);
		assert_int_equal(rs[i].status, i == 32 ? BLK_ECANCELED : BLK_OK);
	}
	assert_int_equal(st()->commands, cmds + 1);
	assert_int_equal(fk.reads, N - 1);
	/* A completed request is unknown to the driver: its done is not called again. */
	assert_true(blkdev_cancel(registered, &rs[32].req) < 0);
	assert_true(blkdev_cancel(registered, &rs[0].req) < 0);
	assert_int_equal(rs[0].calls, 1);
	assert_int_equal(rs[32].calls, 1);
}

/* An issued request that never completes by itself, aborted at the controller; the others go on. */
static void cancel_issued(bool tm, bool *reset_seen)
{
	static struct rq r, other;
	static uint8_t buf[4096] __attribute__((aligned(64))), obuf[4096] __attribute__((aligned(64)));

	assert_int_equal(ufs_probe_all(NULL), 0);
	fk.tm_works = tm;
	fk.clr_works = true;
	fk.hang_io = 1;
	memset(buf, 0x11, sizeof(buf));
	rq_init(&r, BLK_OP_READ, 0, 8);
	rq_seg(&r, buf, 4096);
	assert_int_equal(blkdev_submit(registered, &r.req), 0);
	fk.defer = true;
	rq_init(&other, BLK_OP_READ, 8, 8);
	rq_seg(&other, obuf, 4096);
	assert_int_equal(blkdev_submit(registered, &other.req), 0);

	assert_int_equal(blkdev_cancel(registered, &r.req), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, BLK_ECANCELED);
	assert_int_equal(fk.dbr & 1u, 0); /* slot 0 released before done */
	assert_int_equal(buf[0], 0x11);	  /* no data moved */
	assert_int_equal(fk.clears, 1);
	assert_int_equal(fk.tm_aborts, tm ? 1 : 0);
	assert_int_equal(st()->tm_aborts, tm ? 1 : 0);
	assert_int_equal(st()->cancels, 1);
	*reset_seen = fk.disables != 0 || st()->resets != 0;
	/* The neighbour was not touched, and the controller works on. */
	assert_int_equal(other.calls, 0);
	fk_run();
	fire_irq_if_asserted();
	assert_int_equal(other.calls, 1);
	assert_int_equal(other.status, BLK_OK);
	fk.defer = false;
	rq_init(&r, BLK_OP_READ, 0, 8);
	rq_seg(&r, buf, 4096);
	assert_int_equal(blkdev_submit(registered, &r.req), 0);
	fire_irq_if_asserted();
	assert_int_equal(r.status, BLK_OK);
	assert_int_equal(r.calls, 1);
}

static void test_cancel_issued_abort_task_then_clear(void **state)
{
	(void)state;
	bool reset;
	cancel_issued(true, &reset);
	assert_false(reset);
}

static void test_cancel_issued_clear_only_when_no_task_management(void **state)
{
	(void)state;
	bool reset;
	cancel_issued(false, &reset); /* as QEMU: UTMRLDBR ignored, the UTMRD's OCS stays invalid */
	assert_false(reset);
	assert_true(ufs_hosts[0].tm_unsupported);
}

/* The request finished as the abort came: it completes once, with its real status and data. */
static void test_cancel_races_completion(void **state)
{
	(void)state;
	static uint8_t buf[4096] __attribute__((aligned(64)));
	struct rq r;

	assert_int_equal(ufs_probe_all(NULL), 0);
	fk.defer = true;
	fk.finish_on_clear = true;
	rq_init(&r, BLK_OP_READ, 8, 8);
	rq_seg(&r, buf, 4096);
	assert_int_equal(blkdev_submit(registered, &r.req), 0);
	assert_int_equal(blkdev_cancel(registered, &r.req), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, BLK_OK);
	assert_memory_equal(buf, fk.disk + 8 * 512, 4096);
	assert_int_equal(st()->resets, 0);
}

/* Neither ABORT TASK nor UTRLCLR frees the slot: the controller is reset, by time; done once, after. */
static void test_cancel_stuck_slot_resets_by_time(void **state)
{
	(void)state;
	static uint8_t buf[4096] __attribute__((aligned(64))), obuf[4096] __attribute__((aligned(64)));
	struct rq r, other;

	assert_int_equal(ufs_probe_all(NULL), 0);
	fk.hang_io = 1;
	rq_init(&r, BLK_OP_WRITE, 0, 8);
	rq_seg(&r, buf, 4096);
	assert_int_equal(blkdev_submit(registered, &r.req), 0);
	fk.defer = true;
	rq_init(&other, BLK_OP_READ, 8, 8);
	rq_seg(&other, obuf, 4096);
	assert_int_equal(blkdev_submit(registered, &other.req), 0);
	fk.defer = false; /* the reset's bring-up commands run at once */

	uint64_t t0 = timer_us();
	assert_int_equal(blkdev_cancel(registered, &r.req), 0);
	uint64_t took = timer_us() - t0;
	assert_true(took >= UFS_ABORT_TIMEOUT_US);
	assert_true(took < UFS_ABORT_TIMEOUT_US + 2000000u);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, BLK_ECANCELED);
	assert_int_equal(fk.disables, 1); /* the reset path ran (its drain freed the slot) */
	assert_int_equal(st()->abort_resets, 1);
	assert_int_equal(st()->resets, 1);
	assert_int_equal(fk.writes, 0);
	/* The neighbour is retried after the reset, not failed. */
	fk_run();
	fire_irq_if_asserted();
	assert_int_equal(other.calls, 1);
	assert_int_equal(other.status, BLK_OK);
	assert_int_equal(r.calls, 1);
	/* The tick finds nothing more to do for the cancelled request. */
	tick_fn(tick_ctx);
	assert_int_equal(r.calls, 1);
}

/* Not even a reset frees the slot: the request is never completed (its buffers may still be accessed), the
 * slot is never used again, the others go on. */
static void test_cancel_slot_kept_through_reset_is_never_completed(void **state)
{
	(void)state;
	static uint8_t buf[4096] __attribute__((aligned(64))), obuf[4096] __attribute__((aligned(64)));
	struct rq r, other;

	assert_int_equal(ufs_probe_all(NULL), 0);
	fk.hang_io = 1;
	fk.sticky = 1u; /* slot 0 */
	rq_init(&r, BLK_OP_READ, 0, 8);
	rq_seg(&r, buf, 4096);
	assert_int_equal(blkdev_submit(registered, &r.req), 0);
	fk.defer = true;
	rq_init(&other, BLK_OP_READ, 8, 8);
	rq_seg(&other, obuf, 4096);
	assert_int_equal(blkdev_submit(registered, &other.req), 0);
	fk.defer = false;

	assert_int_equal(blkdev_cancel(registered, &r.req), 0);
	assert_int_equal(r.calls, 0);
	assert_int_equal(st()->lost, 1);
	assert_int_equal(st()->resets, 1);
	assert_int_equal(ufs_hosts[0].poisoned, 1u);
	assert_int_equal(ufs_hosts[0].state, UFS_UP);
	fire_irq_if_asserted();
	assert_int_equal(other.calls, 1);
	assert_int_equal(other.status, BLK_OK);
	/* New requests avoid the kept slot; the lost one stays unanswered. */
	rq_init(&other, BLK_OP_READ, 16, 8);
	rq_seg(&other, obuf, 4096);
	assert_int_equal(blkdev_submit(registered, &other.req), 0);
	fire_irq_if_asserted();
	assert_int_equal(other.status, BLK_OK);
	tick_fn(tick_ctx);
	assert_int_equal(r.calls, 0);
}

/* Error lines are limited by time: a burst of refusals prints a few lines, not one per request. */
/* Sense data as the log line names it, and which CHECK CONDITIONs are retried. */
static void test_sense_keys(void **state)
{
	(void)state;
	assert_string_equal(ufs_sense_key_name(0x0), "NO SENSE");
	assert_string_equal(ufs_sense_key_name(0x3), "MEDIUM ERROR");
	assert_string_equal(ufs_sense_key_name(0x4), "HARDWARE ERROR");
	assert_string_equal(ufs_sense_key_name(0x6), "UNIT ATTENTION");
	assert_string_equal(ufs_sense_key_name(0xb), "ABORTED COMMAND"); /* QEMU's answer to a host EIO */
	assert_string_equal(ufs_sense_key_name(0xf), "COMPLETED");
	assert_string_equal(ufs_sense_key_name(0x10), "?");
	assert_string_equal(ufs_sense_key_name(0xff), "?");

	uint8_t rsp[UFS_UCD_RSP_LEN] = {UFS_UPIU_RESPONSE, 0, 0, 7};
	struct ufs_result r;
	sense(rsp, 0xb, 0x00);
	rsp[34 + 13] = 0x06;
	ufs_rsp_parse(rsp, UFS_OCS_SUCCESS, &r);
	assert_int_equal(r.status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(r.sense_key, 0xb);
	assert_int_equal(r.asc, 0x00);
	assert_int_equal(r.ascq, 0x06);
	assert_int_equal(ufs_scsi_verdict(&r, 7), UFS_RETRY); /* bounded by UFS_SCSI_RETRIES */
	sense(rsp, 0x3, 0x11);				      /* MEDIUM ERROR, unrecovered read error */
	ufs_rsp_parse(rsp, UFS_OCS_SUCCESS, &r);
	assert_int_equal(ufs_scsi_verdict(&r, 7), UFS_FAIL);
	sense(rsp, SCSI_SENSE_UNIT_ATTENTION, 0x29);
	ufs_rsp_parse(rsp, UFS_OCS_SUCCESS, &r);
	assert_int_equal(ufs_scsi_verdict(&r, 7), UFS_RETRY);
}

static void test_error_log_limited_by_time(void **state)
{
	(void)state;
	static uint8_t buf[8192] __attribute__((aligned(64)));
	struct rq r;

	assert_int_equal(ufs_probe_all(NULL), 0);
	for (unsigned i = 0; i < 50; i++) {
		rq_init(&r, BLK_OP_READ, 0, 8);
		rq_seg(&r, buf + 2, 4096);
		assert_int_equal(blkdev_submit(registered, &r.req), BLK_EINVAL);
	}
	assert_int_equal(st()->segs_refused, 50);
	assert_int_equal(ufs_hosts[0].rl.total_suppressed, 50 - RATELIMIT_BURST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prdt_build_rules),
	    cmocka_unit_test(test_sense_keys),
	    cmocka_unit_test_setup(test_bringup_registers_lu0, setup),
	    cmocka_unit_test_setup(test_bringup_fails_cleanly, setup),
	    cmocka_unit_test_setup(test_read_write_zero_copy_irq, setup),
	    cmocka_unit_test_setup(test_large_segment_is_split_not_copied, setup),
	    cmocka_unit_test_setup(test_misaligned_segment_refused_and_counted, setup),
	    cmocka_unit_test_setup(test_queue_beyond_slots_and_resubmit_from_done, setup),
	    cmocka_unit_test_setup(test_batch_rings_once_at_commit, setup),
	    cmocka_unit_test_setup(test_unhinted_submit_rings_pending_bits, setup),
	    cmocka_unit_test_setup(test_tick_rings_forgotten_batch, setup),
	    cmocka_unit_test_setup(test_cancel_unrung_request, setup),
	    cmocka_unit_test_setup(test_unit_attention_is_retried, setup),
	    cmocka_unit_test_setup(test_aborted_command_retried_then_error, setup),
	    cmocka_unit_test_setup(test_timeout_resets_and_retries_once, setup),
	    cmocka_unit_test_setup(test_fatal_error_fails_outstanding_and_recovers, setup),
	    cmocka_unit_test_setup(test_dead_controller_fails_requests, setup),
	    cmocka_unit_test_setup(test_flush_and_discard, setup),
	    cmocka_unit_test_setup(test_cancel_waiting_request, setup),
	    cmocka_unit_test_setup(test_cancel_issued_abort_task_then_clear, setup),
	    cmocka_unit_test_setup(test_cancel_issued_clear_only_when_no_task_management, setup),
	    cmocka_unit_test_setup(test_cancel_races_completion, setup),
	    cmocka_unit_test_setup(test_cancel_stuck_slot_resets_by_time, setup),
	    cmocka_unit_test_setup(test_cancel_slot_kept_through_reset_is_never_completed, setup),
	    cmocka_unit_test_setup(test_error_log_limited_by_time, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
