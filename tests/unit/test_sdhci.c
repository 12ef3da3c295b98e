/*
 * SDHCI request engine against a fake controller (tests/fakes/fake_sdhci.c,
 * behind arch/fake's mmio accessors): requests no DMA mode can express are
 * refused (no PIO); cancel drops a queued request or aborts the current one
 * (CMD12 abort, then CMD and DAT line resets, one per write), bounded by time,
 * with done called exactly once and the queue moving on; while two owners share
 * the controller, a large request moves in chunks with a neighbour's request
 * between two of them, each chunk started by its owner; and hardware errors of
 * each class are retried (line resets, bounded tries), then fail only their own
 * request, with one log line naming the error bits and the error counted.
 * On a non-coherent bus with a dma-ranges offset (the Pi's), DMA addresses
 * carry the offset, caches are maintained around the data and the ADMA2 table
 * before the command, and segments outside the DMA window are refused; a
 * controller without DMA moves odd segments through the data port.
 *
 * The host is set up directly (no card identification).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/mman.h>

#include "arch/cache.h"
#include "drivers/storage/sdhci.c"
#include "tests/fakes/fake_sdhci.h"

/* --- fakes for the rest of keel ---------------------------------------------- */

struct pci_dev *pci_dev_at(unsigned i)
{
	(void)i;
	return NULL;
}

void pci_enable(struct pci_dev *d)
{
	(void)d;
}

void pci_disable(struct pci_dev *d)
{
	(void)d;
}

int irq_register(uint32_t intid, bool edge, irq_handler_fn fn, void *ctx)
{
	(void)intid, (void)edge, (void)fn, (void)ctx;
	return 0;
}

int hyp_tick_register(irq_handler_fn fn, void *ctx)
{
	(void)fn, (void)ctx;
	return 0;
}

int storage_register(const char *backend, struct blkdev *dev)
{
	(void)backend, (void)dev;
	return 0;
}

/* --- helpers ----------------------------------------------------------------- */

static struct blkdev *dev;

static const struct sdhci_quirks test_quirks = {"test SDHCI", 0, 0, 0};

static int setup(void **state)
{
	(void)state;
	memset(&fk, 0, sizeof(fk));
	for (size_t i = 0; i < sizeof(fk_card); i++)
		fk_card[i] = (uint8_t)(i * 7 + i / 512);
	memset(hosts, 0, sizeof(hosts));
	nr_hosts = 1;
	struct sdhci_host *h = &hosts[0];
	memcpy(h->name, "sd0", 4);
	h->regs = (volatile uint8_t *)(uintptr_t)FK_BASE;
	h->quirks = &test_quirks;
	h->dma = DMA_ADMA64;
	h->bus = bus_dev_identity(pa_init(FK_BASE), 0, true);
	h->has_tick = true;
	h->lock = (struct spinlock)SPINLOCK_INIT;
	h->card.high_capacity = true;
	h->card.cmd23 = true;
	h->card.rca = 0x45670000;
	h->card.capacity = 64ull << 20;
	h->bdev = (struct blkdev){.name = h->name,
				  .nsectors = h->card.capacity / 512,
				  .block_size = 512,
				  .max_segs = SDHCI_MAX_SEGS,
				  .max_seg_size = SDHCI_MAX_SEG_SIZE,
				  .max_sectors = SDHCI_MAX_SECTORS,
				  .flags = BLKDEV_F_FLUSH,
				  .ops = &sdhci_blk_ops,
				  .priv = h};
	dev = &h->bdev;
	return 0;
}

struct rq {
	struct blk_req req;
	struct blk_seg segs[4];
	int status;
	int calls;
};

static void rq_done(struct blk_req *req, int status)
{
	struct rq *r = req->ctx;
	r->status = status;
	r->calls++;
}

static void rq_init(struct rq *r, enum blk_op op, uint64_t sector)
{
	memset(r, 0, sizeof(*r));
	r->req = (struct blk_req){.op = op, .sector = sector, .segs = r->segs, .done = rq_done, .ctx = r};
	r->status = 1;
}

static void rq_seg(struct rq *r, void *buf, uint32_t len)
{
	r->segs[r->req.nsegs++] = (struct blk_seg){ptr_to_pa(buf), len};
	r->req.nsectors += len / 512;
}

static const struct sdhci_stats *st(void)
{
	return sdhci_get_stats(0);
}

static uint8_t bufs[4][8192] __attribute__((aligned(64)));

/* --- tests ------------------------------------------------------------------- */

static void test_refuses_segments_no_dma_can_express(void **state)
{
	(void)state;
	struct rq r;

	/* Two segments, one at an odd address: ADMA2 cannot say it, SDMA takes one buffer only. */
	rq_init(&r, BLK_OP_READ, 0);
	r.segs[0] = (struct blk_seg){ptr_to_pa(bufs[0] + 1), 512};
	r.segs[1] = (struct blk_seg){ptr_to_pa(bufs[1]), 512};
	r.req.nsegs = 2;
	r.req.nsectors = 2;
	assert_int_equal(blkdev_submit(dev, &r.req), BLK_EINVAL);
	assert_int_equal(r.calls, 0);
	assert_int_equal(st()->unmappable, 1);
	assert_int_equal(fk.ncmds, 0); /* nothing reached the controller, no CPU copy either */
	/* A flood of them logs a few lines a second, not one each. */
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(blkdev_submit(dev, &r.req), BLK_EINVAL);
	assert_int_equal(st()->unmappable, 21);
	assert_int_equal(hosts[0].rl_refused.total_suppressed, 21 - RATELIMIT_BURST);

	/* One odd buffer above 4 GiB (SDMA addresses 32 bits): refused too. */
	rq_init(&r, BLK_OP_READ, 8);
	rq_seg(&r, bufs[2] + 1, 1024);
	assert_true(pa_addr(r.segs[0].pa) > (1ull << 32));
	assert_int_equal(blkdev_submit(dev, &r.req), BLK_EINVAL);
	assert_int_equal(st()->unmappable, 22);

	/* One odd buffer below 4 GiB: SDMA, counted; aligned segments: ADMA2. Both complete. */
	uint8_t *low = mmap((void *)0x30000000, 8192, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	assert_ptr_equal(low, (void *)0x30000000);
	rq_init(&r, BLK_OP_READ, 8);
	rq_seg(&r, low + 1, 1024);
	assert_int_equal(blkdev_submit(dev, &r.req), 0);
	dev->ops->poll(dev);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, BLK_OK);
	assert_int_equal(st()->sdma_fallbacks, 1);
	rq_init(&r, BLK_OP_WRITE, 16);
	rq_seg(&r, bufs[0], 512);
	rq_seg(&r, bufs[1] + 4, 1024);
	assert_int_equal(blkdev_submit(dev, &r.req), 0);
	dev->ops->poll(dev);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, BLK_OK);
	assert_int_equal(st()->sdma_fallbacks, 1);
	assert_int_equal(st()->errors, 0);
	munmap(low, 8192);
}

static unsigned find_cmd(unsigned from, uint8_t idx)
{
	for (unsigned i = from; i < fk.ncmds; i++)
		if ((fk.cmds[i] >> 8) == idx)
			return i;
	return ~0u;
}

static void test_cancel_queued_and_current(void **state)
{
	(void)state;
	struct rq a, b, c;

	fk.hang_data = true;
	rq_init(&a, BLK_OP_WRITE, 0);
	rq_seg(&a, bufs[0], 4096);
	rq_init(&b, BLK_OP_READ, 64);
	rq_seg(&b, bufs[1], 512);
	rq_init(&c, BLK_OP_READ, 128);
	rq_seg(&c, bufs[2], 1024);
	assert_int_equal(blkdev_submit(dev, &a.req), 0);
	assert_int_equal(blkdev_submit(dev, &b.req), 0);
	assert_int_equal(blkdev_submit(dev, &c.req), 0);
	dev->ops->poll(dev);
	assert_int_equal(fk.data_cmds, 1); /* a's CMD25 runs and never ends */
	assert_true(fk.xfer_active);

	/* Queued: dropped, done at once, the controller untouched. */
	unsigned cmds = fk.ncmds;
	assert_int_equal(blkdev_cancel(dev, &b.req), 0);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.status, BLK_ECANCELED);
	assert_int_equal(fk.ncmds, cmds);
	assert_int_equal(fk.nresets, 0);

	/* Current: CMD12 as an abort command, then the CMD line reset, then the DAT line reset. */
	fk.hang_data = false;
	assert_int_equal(blkdev_cancel(dev, &a.req), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, BLK_ECANCELED);
	assert_int_equal(fk.cmds[cmds],
			 SDHCI_CMD(SD_CMD_STOP, SDHCI_CMD_RESP_48B | SDHCI_CMD_CRC | SDHCI_CMD_INDEX) |
			     SDHCI_CMD_TYPE_ABORT);
	assert_true(fk.nresets >= 2);
	assert_int_equal(fk.resets[0], SDHCI_RESET_CMD);
	assert_int_equal(fk.resets[1], SDHCI_RESET_DAT);
	assert_false(fk.xfer_active);
	/* The engine moved on to c: the aborted write may still be programming, so CMD13 comes first. */
	assert_int_equal(find_cmd(cmds + 1, SD_CMD_SEND_STATUS), cmds + 1);
	dev->ops->poll(dev);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.status, BLK_OK);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(st()->cancels, 2);
	/* Completed requests are unknown: their done is not called again. */
	assert_true(blkdev_cancel(dev, &a.req) < 0);
	assert_true(blkdev_cancel(dev, &c.req) < 0);
	assert_int_equal(a.calls + b.calls + c.calls, 3);
}

/* The DAT line does not reset: a full reset stops the transfer (done once), the controller goes offline. */
static void test_cancel_dat_reset_fails_full_reset_offline(void **state)
{
	(void)state;
	struct rq a, b, d;

	fk.hang_data = true;
	fk.dat_stuck = true;
	rq_init(&a, BLK_OP_READ, 0);
	rq_seg(&a, bufs[0], 4096);
	rq_init(&b, BLK_OP_READ, 8);
	rq_seg(&b, bufs[1], 512);
	assert_int_equal(blkdev_submit(dev, &a.req), 0);
	assert_int_equal(blkdev_submit(dev, &b.req), 0);
	dev->ops->poll(dev);
	uint64_t t0 = timer_us();
	assert_int_equal(blkdev_cancel(dev, &a.req), 0);
	uint64_t took = timer_us() - t0;
	assert_true(took >= RESET_TIMEOUT_US); /* waited for the DAT reset, by time */
	assert_true(took < ABORT_CMD_US + 4 * RESET_TIMEOUT_US + 500000u);
	assert_int_equal(fk.resets[fk.nresets - 1], SDHCI_RESET_ALL);
	assert_false(fk.xfer_active);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, BLK_ECANCELED);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.status, BLK_EIO);
	rq_init(&d, BLK_OP_READ, 16);
	rq_seg(&d, bufs[2], 512);
	assert_int_equal(blkdev_submit(dev, &d.req), BLK_EIO);
	assert_int_equal(st()->lost, 0);
}

/* Not even a full reset completes: the request is never completed (its buffers may still be
 * accessed), bounded by time, and the controller is offline. */
static void test_cancel_never_stopped_is_never_completed(void **state)
{
	(void)state;
	struct rq a, d;

	fk.hang_data = true;
	fk.reset_stuck = true;
	rq_init(&a, BLK_OP_READ, 0);
	rq_seg(&a, bufs[0], 4096);
	assert_int_equal(blkdev_submit(dev, &a.req), 0);
	dev->ops->poll(dev);
	uint64_t t0 = timer_us();
	assert_int_equal(blkdev_cancel(dev, &a.req), 0);
	uint64_t took = timer_us() - t0;
	assert_true(took < ABORT_CMD_US + 5 * RESET_TIMEOUT_US + 500000u);
	assert_int_equal(a.calls, 0);
	assert_int_equal(st()->lost, 1);
	assert_true(blkdev_cancel(dev, &a.req) < 0);
	dev->ops->poll(dev);
	assert_int_equal(a.calls, 0);
	rq_init(&d, BLK_OP_READ, 8);
	rq_seg(&d, bufs[1], 512);
	assert_int_equal(blkdev_submit(dev, &d.req), BLK_EIO);
}

/* --- chunks while the controller is shared ------------------------------------- */

#define OWNER_A ((void *)1)
#define OWNER_B ((void *)2)
static unsigned kicks_a, kicks_b;
static uint8_t big[256 * 1024] __attribute__((aligned(4096)));
#define CHUNK_BYTES (SDHCI_CHUNK_SECTORS * 512u)
#define NCHUNKS	    (sizeof(big) / CHUNK_BYTES)

static void owner_kick(void *ctx)
{
	if (ctx == OWNER_A)
		kicks_a++;
	else
		kicks_b++;
}

static void rq_owner(struct rq *r, void *owner)
{
	r->req.owner_kick = owner_kick;
	r->req.owner_ctx = owner;
}

/* 256 KiB at sector 1000 in segments of 100, 60 and 96 KiB: chunk edges fall inside segments. */
static void rq_big(struct rq *r, enum blk_op op)
{
	rq_init(r, op, 1000);
	rq_seg(r, big, 100 * 1024);
	rq_seg(r, big + 100 * 1024, 60 * 1024);
	rq_seg(r, big + 160 * 1024, 96 * 1024);
	rq_owner(r, OWNER_A);
}

/* Owner B has used the controller: from now on it is shared. */
static void share_with_b(void)
{
	struct rq b;
	rq_init(&b, BLK_OP_READ, 0);
	rq_seg(&b, bufs[3], 512);
	rq_owner(&b, OWNER_B);
	assert_int_equal(blkdev_submit(dev, &b.req), 0);
	assert_int_equal(b.calls, 1);
	fk.data_cmds = 0;
	kicks_a = kicks_b = 0;
}

static void test_alone_a_large_request_is_one_command(void **state)
{
	(void)state;
	struct rq a;

	for (unsigned i = 0; i < 2; i++) {
		rq_big(&a, i ? BLK_OP_WRITE : BLK_OP_READ);
		assert_int_equal(blkdev_submit(dev, &a.req), 0);
		assert_int_equal(a.calls, 1);
		assert_int_equal(a.status, BLK_OK);
	}
	assert_int_equal(fk.data_cmds, 2);
	assert_int_equal(fk.d_blocks[1], 512);
	assert_int_equal(fk.d_bytes[1], 256 * 1024);
	assert_int_equal(st()->chunks, 0);
}

/* Pauses are set by real time: the tests end them, or make them long, instead of racing them. */
static void end_pause_tick(void)
{
	hosts[0].pace.until_us = 0;
	sdhci_tick(&hosts[0]);
}

static void long_pause(void)
{
	hosts[0].pace.until_us = timer_us() + 10000000u;
}

static void test_shared_large_request_moves_in_chunks_around_the_neighbour(void **state)
{
	(void)state;
	struct rq a, b;

	share_with_b();
	fk.us_per_block = 20; /* like QEMU's card: A's chunk holds the command write for a while */
	rq_big(&a, BLK_OP_READ);
	/* Submitted by its owner: the first chunk runs here; A's next one waits as long as it took. */
	uint64_t t0 = timer_us();
	assert_int_equal(blkdev_submit(dev, &a.req), 0);
	assert_int_equal(fk.data_cmds, 1);
	assert_int_equal(a.calls, 0);
	assert_ptr_equal(hosts[0].pace.owner, OWNER_A);
	assert_true(hosts[0].pace.until_us >= t0 + 2 * 20 * SDHCI_CHUNK_SECTORS);
	long_pause();

	/* B's request arrives during A's pause: it starts at once, between A's chunks. */
	rq_init(&b, BLK_OP_WRITE, 64);
	rq_seg(&b, bufs[1], 4096);
	rq_owner(&b, OWNER_B);
	assert_int_equal(blkdev_submit(dev, &b.req), 0);
	assert_int_equal(fk.data_cmds, 2);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.status, BLK_OK);
	assert_int_equal(fk.d_arg[1], 64);
	/* During its pause, neither A's own poll nor the tick starts A's chunk. */
	dev->ops->poll(dev);
	sdhci_tick(&hosts[0]);
	assert_int_equal(fk.data_cmds, 2);
	assert_int_equal(kicks_a, 0);

	/* After the pause the tick does not start A's chunk itself (CPU 0 is someone else's): it
	 * kicks A's owner, whose poll starts one chunk. */
	for (unsigned k = 1; k < NCHUNKS; k++) {
		end_pause_tick();
		assert_int_equal(kicks_a, k);
		assert_int_equal(fk.data_cmds, 1 + k);
		assert_int_equal(a.calls, 0);
		dev->ops->poll(dev);
		assert_int_equal(fk.data_cmds, 2 + k);
		long_pause();
		dev->ops->poll(dev); /* paused again: nothing more */
		assert_int_equal(fk.data_cmds, 2 + k);
	}
	assert_int_equal(a.calls, 1); /* once, after its last chunk */
	assert_int_equal(a.status, BLK_OK);
	end_pause_tick();
	dev->ops->poll(dev);
	assert_int_equal(fk.data_cmds, NCHUNKS + 1);
	assert_int_equal(a.calls, 1);

	/* A's chunks, in order, each from the right place in the segments (B's was command 1). */
	for (unsigned k = 0; k < NCHUNKS; k++) {
		unsigned n = k ? k + 1 : 0;
		assert_int_equal(fk.d_arg[n], 1000 + SDHCI_CHUNK_SECTORS * k);
		assert_int_equal(fk.d_blocks[n], SDHCI_CHUNK_SECTORS);
		assert_int_equal(fk.d_bytes[n], CHUNK_BYTES);
		assert_int_equal(fk.d_addr[n], pa_addr(ptr_to_pa(big + CHUNK_BYTES * k)));
	}
	assert_int_equal(st()->chunks, NCHUNKS);
	assert_int_equal(st()->errors, 0);
}

/* Shared, a request up to SDHCI_SPLIT_SECTORS still goes whole (a neighbour's usual I/O). */
static void test_shared_small_request_is_not_split(void **state)
{
	(void)state;
	struct rq a;

	share_with_b();
	rq_init(&a, BLK_OP_WRITE, 2000);
	rq_seg(&a, big, SDHCI_SPLIT_SECTORS * 512u);
	rq_owner(&a, OWNER_A);
	assert_int_equal(blkdev_submit(dev, &a.req), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, BLK_OK);
	assert_int_equal(fk.data_cmds, 1);
	assert_int_equal(fk.d_blocks[0], SDHCI_SPLIT_SECTORS);
	assert_int_equal(st()->chunks, 0);
}

/* A chunk that fails after its retries fails the whole request, once; no later chunk is issued. */
static void test_a_failed_chunk_fails_the_request(void **state)
{
	(void)state;
	struct rq a;

	share_with_b();
	rq_big(&a, BLK_OP_WRITE);
	fk.fail_from = 2;
	assert_int_equal(blkdev_submit(dev, &a.req), 0);
	for (unsigned i = 0; i < 4 && a.calls == 0; i++) {
		end_pause_tick();
		dev->ops->poll(dev);
	}
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, BLK_EIO);
	assert_int_equal(fk.data_cmds, 1 + 1 + SDHCI_RETRIES); /* chunk 2 and its retries, no chunk 3 */
	for (unsigned n = 1; n < fk.data_cmds; n++)
		assert_int_equal(fk.d_arg[n], 1000 + SDHCI_CHUNK_SECTORS);
	dev->ops->poll(dev);
	assert_int_equal(a.calls, 1);
	assert_int_equal(st()->errors, 1);
}

/* Cancel between two chunks drops it from the queue; in a chunk, it aborts the command. */
static void test_cancel_between_and_inside_chunks(void **state)
{
	(void)state;
	struct rq a, a2;

	share_with_b();
	rq_big(&a, BLK_OP_READ);
	assert_int_equal(blkdev_submit(dev, &a.req), 0);
	assert_int_equal(a.calls, 0);
	unsigned cmds = fk.ncmds;
	assert_int_equal(blkdev_cancel(dev, &a.req), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, BLK_ECANCELED);
	assert_int_equal(fk.ncmds, cmds); /* nothing ran: no abort needed */
	dev->ops->poll(dev);
	assert_int_equal(fk.data_cmds, 1);

	rq_big(&a2, BLK_OP_WRITE);
	fk.hang_from = 3; /* a2's second chunk never ends */
	hosts[0].pace.until_us = 0;
	assert_int_equal(blkdev_submit(dev, &a2.req), 0);
	end_pause_tick();
	dev->ops->poll(dev);
	assert_int_equal(fk.data_cmds, 3);
	assert_true(fk.xfer_active);
	assert_int_equal(a2.calls, 0);
	assert_int_equal(blkdev_cancel(dev, &a2.req), 0);
	assert_int_equal(a2.calls, 1);
	assert_int_equal(a2.status, BLK_ECANCELED);
	assert_int_equal((fk.cmds[cmds] & SDHCI_CMD_TYPE_ABORT) != 0 || find_cmd(cmds, SD_CMD_STOP) != ~0u,
			 1);
	assert_false(fk.xfer_active);
	dev->ops->poll(dev);
	assert_int_equal(fk.data_cmds, 3);
	assert_int_equal(a.calls + a2.calls, 2);
}

/* The chunk walk itself: sub-ranges of the segments, split inside them; out too small: 0. */
static void test_chunk_segments(void **state)
{
	(void)state;
	struct blk_seg segs[3] = {
	    {pa_init(0x10000), 1028}, {pa_init(0x20000), 2044}, {pa_init(0x30000), 1024}};
	struct blk_req req = {.op = BLK_OP_READ, .nsectors = 8, .segs = segs, .nsegs = 3};
	struct blk_seg out[3];
	unsigned n;

	assert_int_equal(sdhci_chunk_segs(&req, 0, 0, out, 3, &n), 8);
	assert_int_equal(n, 3);
	assert_int_equal(sdhci_chunk_segs(&req, 2, 3, out, 3, &n), 3); /* bytes 1024..2560 */
	assert_int_equal(n, 2);
	assert_int_equal(pa_addr(out[0].pa), 0x10000 + 1024);
	assert_int_equal(out[0].len, 4);
	assert_int_equal(pa_addr(out[1].pa), 0x20000);
	assert_int_equal(out[1].len, 1532);
	assert_int_equal(sdhci_chunk_segs(&req, 5, 3, out, 3, &n), 3); /* bytes 2560..4096 */
	assert_int_equal(n, 2);
	assert_int_equal(pa_addr(out[0].pa), 0x20000 + 1532);
	assert_int_equal(out[0].len, 512);
	assert_int_equal(out[1].len, 1024);
	assert_int_equal(sdhci_chunk_segs(&req, 0, 0, out, 2, &n), 0);
	assert_int_equal(sdhci_chunk_segs(&req, 8, 0, out, 3, &n), 0);
	segs[2].len = 512; /* the segments no longer add up to the request */
	assert_int_equal(sdhci_chunk_segs(&req, 5, 0, out, 3, &n), 0);
	assert_int_equal(n, 0);
}

/* Chunking follows contention: a second owner starts it, a second without one ends it. */
static void test_contention_window(void **state)
{
	(void)state;
	struct sdhci_contend c = {0};
	struct blk_req a = {.owner_ctx = OWNER_A}, b = {.owner_ctx = OWNER_B};
	struct blk_req keel = {.op = BLK_OP_READ}, flush = {.op = BLK_OP_FLUSH, .owner_ctx = OWNER_B};

	sdhci_contend_note(&c, &keel, 500); /* the GPT read at boot */
	sdhci_contend_note(&c, &a, 1000);
	sdhci_contend_note(&c, &keel, 1500); /* a share group's own FLUSH, say */
	sdhci_contend_note(&c, &a, 2000);
	sdhci_contend_note(&c, &flush, 2500);
	assert_false(sdhci_contended(&c, 2500));
	sdhci_contend_note(&c, &b, 3000);
	assert_true(sdhci_contended(&c, 3000));
	assert_true(sdhci_contended(&c, 3000 + SDHCI_CONTEND_US - 1));
	assert_false(sdhci_contended(&c, 3000 + SDHCI_CONTEND_US));
}

/* --- hardware errors: bounded retry, then an error upward ------------------------ */

struct err_class {
	const char *name; /* as the log line names it */
	uint32_t bits;
	uint16_t auto_cmd;
	uint8_t adma;
};

static const struct err_class err_classes[] = {
    {"command timeout", SDHCI_INT_CMD_TIMEOUT, 0, 0},
    {"command CRC", SDHCI_INT_CMD_CRC, 0, 0},
    {"command end bit", SDHCI_INT_CMD_END_BIT, 0, 0},
    {"command index", SDHCI_INT_CMD_INDEX, 0, 0},
    {"data timeout", SDHCI_INT_DATA_TIMEOUT, 0, 0},
    {"data CRC", SDHCI_INT_DATA_CRC, 0, 0},
    {"data end bit", SDHCI_INT_DATA_END_BIT, 0, 0},
    {"ADMA (ST_TFR, length mismatch)", SDHCI_INT_ADMA_ERR, 0, 0x7},
    {"auto CMD (timeout, index)", SDHCI_INT_AUTO_CMD_ERR, 0x12, 0},
};

static void fault_on(uint32_t first, uint32_t last, const struct err_class *c, unsigned times)
{
	fk.fault = (struct fk_fault){.times = times,
				     .first = first,
				     .last = last,
				     .bits = c->bits,
				     .auto_cmd = c->auto_cmd,
				     .adma = c->adma};
}

static void rq_io(struct rq *r, enum blk_op op, uint64_t sector, void *buf, uint32_t bytes)
{
	rq_init(r, op, sector);
	if (bytes)
		rq_seg(r, buf, bytes);
}

/* Submit and poll until done (bounded). */
static void run(struct rq *r)
{
	assert_int_equal(blkdev_submit(dev, &r->req), 0);
	for (unsigned i = 0; i < 16 && r->calls == 0; i++)
		dev->ops->poll(dev);
	assert_int_equal(r->calls, 1);
}

static uint8_t *card_at(uint64_t sector)
{
	return fk_card + sector * 512;
}

static void test_error_bits_are_named(void **state)
{
	(void)state;
	char buf[160];
	for (unsigned i = 0; i < ARRAY_SIZE(err_classes); i++) {
		const struct err_class *c = &err_classes[i];
		struct sdhci_err_seen e = {
		    .status = SDHCI_INT_ERROR | c->bits, .auto_cmd = c->auto_cmd, .adma = c->adma};
		sdhci_err_names(&e, buf, sizeof(buf));
		assert_string_equal(buf, c->name);
	}
	struct sdhci_err_seen two = {.status = SDHCI_INT_DATA_CRC | SDHCI_INT_ADMA_ERR, .adma = 1};
	sdhci_err_names(&two, buf, sizeof(buf));
	assert_string_equal(buf, "data CRC, ADMA (ST_FDS)");
	struct sdhci_err_seen none = {.status = 0};
	sdhci_err_names(&none, buf, sizeof(buf));
	assert_string_equal(buf, "no error bit");
	sdhci_err_names(&two, buf, 6); /* truncated, terminated */
	assert_string_equal(buf, "data ");
}

/* Each error class, once, on a read and on a write: one retry, then the right data, one line. */
static void test_each_error_class_once_is_retried(void **state)
{
	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(err_classes); i++) {
		for (unsigned w = 0; w < 2; w++) {
			setup(NULL);
			struct rq r;
			fault_on(100, 100, &err_classes[i], 1);
			if (w) {
				memset(bufs[0], 0x3c + (int)i, 4096);
				rq_io(&r, BLK_OP_WRITE, 96, bufs[0], 4096);
			} else {
				memset(bufs[0], 0, 4096);
				rq_io(&r, BLK_OP_READ, 96, bufs[0], 4096);
			}
			run(&r);
			if (r.status != BLK_OK)
				fail_msg("%s, %s: status %d", err_classes[i].name, w ? "write" : "read",
					 r.status);
			assert_int_equal(fk.fault.hits, 1);
			assert_memory_equal(bufs[0], card_at(96), 4096);
			if (w)
				assert_int_equal(card_at(96)[0], 0x3c + (int)i);
			assert_int_equal(st()->retries, 1);
			assert_int_equal(st()->errors, 0);
			assert_int_equal(fk.data_cmds, 2);
			assert_int_equal(hosts[0].err.lines, 1); /* "recovered" */
		}
	}
}

/* An error on every try: EIO after 1 + SDHCI_RETRIES tries, counted, one line; lifted, the same
 * sectors read right; a flood of failures logs a few lines a second. */
static void test_persistent_read_error_fails_then_lifts(void **state)
{
	(void)state;
	struct rq r;

	fault_on(200, 203, &err_classes[5], FK_FOREVER);
	rq_io(&r, BLK_OP_READ, 200, bufs[0], 4096);
	run(&r);
	assert_int_equal(r.status, BLK_EIO);
	assert_int_equal(fk.data_cmds, 1 + SDHCI_RETRIES);
	assert_int_equal(st()->retries, SDHCI_RETRIES);
	assert_int_equal(st()->errors, 1);
	assert_true(st()->resets >= 1 + SDHCI_RETRIES); /* CMD and DAT lines reset after each */
	assert_int_equal(hosts[0].err.lines, 1);

	/* A request away from the fault is untouched. */
	rq_io(&r, BLK_OP_READ, 300, bufs[1], 4096);
	run(&r);
	assert_int_equal(r.status, BLK_OK);
	assert_memory_equal(bufs[1], card_at(300), 4096);

	/* Lifted: the same sectors read right, with no retry. */
	fk.fault.times = 0;
	memset(bufs[0], 0, 4096);
	rq_io(&r, BLK_OP_READ, 200, bufs[0], 4096);
	run(&r);
	assert_int_equal(r.status, BLK_OK);
	assert_memory_equal(bufs[0], card_at(200), 4096);
	assert_int_equal(st()->errors, 1);
	assert_int_equal(st()->retries, SDHCI_RETRIES);
	assert_int_equal(hosts[0].err.lines, 1);

	/* A flood of failing requests: every one fails, a few lines a second. */
	fk.fault.times = FK_FOREVER;
	for (unsigned i = 0; i < 10; i++) {
		rq_io(&r, BLK_OP_READ, 200, bufs[0], 512);
		run(&r);
		assert_int_equal(r.status, BLK_EIO);
	}
	assert_int_equal(st()->errors, 11);
	assert_true(hosts[0].err.lines <= RATELIMIT_BURST);
	assert_true(hosts[0].err.rl.total_suppressed >= 1);
}

static void test_persistent_write_error_fails_then_lifts(void **state)
{
	(void)state;
	struct rq r;

	fault_on(500, 500, &err_classes[4], FK_FOREVER);
	memset(bufs[0], 0x77, 4096);
	rq_io(&r, BLK_OP_WRITE, 496, bufs[0], 4096);
	run(&r);
	assert_int_equal(r.status, BLK_EIO);
	assert_int_equal(fk.data_cmds, 1 + SDHCI_RETRIES);
	assert_int_equal(st()->errors, 1);
	assert_int_equal(hosts[0].err.lines, 1);
	assert_int_equal(find_cmd(0, SD_CMD_SEND_STATUS),
			 ~0u); /* no "programming done" asked after a failure */

	fk.fault.times = 0;
	rq_io(&r, BLK_OP_WRITE, 496, bufs[0], 4096);
	run(&r);
	assert_int_equal(r.status, BLK_OK);
	assert_memory_equal(card_at(496), bufs[0], 4096);
	assert_int_equal(st()->errors, 1);
}

/* A flush asks the card (CMD13): failing on every try it fails; once, it is retried; lifted, it succeeds. */
static void test_flush_asks_the_card(void **state)
{
	(void)state;
	struct rq r;
	const struct err_class timeout = err_classes[0];

	rq_io(&r, BLK_OP_FLUSH, 0, NULL, 0);
	run(&r);
	assert_int_equal(r.status, BLK_OK);
	assert_int_equal(find_cmd(0, SD_CMD_SEND_STATUS), 0);
	assert_int_equal(fk.cmds[0] & 0xff, SDHCI_CMD_RESP_48 | SDHCI_CMD_CRC | SDHCI_CMD_INDEX);

	fault_on(0, 0, &timeout, FK_FOREVER);
	fk.fault.cmd = SD_CMD_SEND_STATUS;
	rq_io(&r, BLK_OP_FLUSH, 0, NULL, 0);
	run(&r);
	assert_int_equal(r.status, BLK_EIO);
	assert_int_equal(fk.fault.hits, 1 + SDHCI_RETRIES);
	assert_int_equal(st()->errors, 1);
	assert_int_equal(st()->retries, SDHCI_RETRIES);
	assert_int_equal(hosts[0].err.lines, 1);
	assert_int_equal(fk.data_cmds, 0);

	fk.fault.times = 1;
	rq_io(&r, BLK_OP_FLUSH, 0, NULL, 0);
	run(&r);
	assert_int_equal(r.status, BLK_OK);
	assert_int_equal(st()->retries, SDHCI_RETRIES + 1);

	fk.fault.times = 0;
	rq_io(&r, BLK_OP_FLUSH, 0, NULL, 0);
	run(&r);
	assert_int_equal(r.status, BLK_OK);
	assert_int_equal(st()->errors, 1);
	assert_int_equal(hosts[0].err.lines, 2);
}

/* A's request fails for good while B's (another VM's) waits behind it: B completes with its data. */
static void test_error_spares_the_neighbours_queued_request(void **state)
{
	(void)state;
	struct rq a, b;

	fault_on(600, 607, &err_classes[5], FK_FOREVER);
	fk.hold = true; /* A's first try is in the controller when B arrives */
	rq_io(&a, BLK_OP_READ, 600, bufs[0], 4096);
	rq_owner(&a, OWNER_A);
	rq_io(&b, BLK_OP_READ, 700, bufs[1], 4096);
	rq_owner(&b, OWNER_B);
	assert_int_equal(blkdev_submit(dev, &a.req), 0);
	assert_int_equal(blkdev_submit(dev, &b.req), 0);
	assert_int_equal(fk.data_cmds, 1);
	assert_int_equal(a.calls + b.calls, 0);
	fk_release();
	for (unsigned i = 0; i < 16 && (a.calls == 0 || b.calls == 0); i++)
		dev->ops->poll(dev);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, BLK_EIO);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.status, BLK_OK);
	assert_memory_equal(bufs[1], card_at(700), 4096);
	assert_int_equal(fk.data_cmds, 1 + SDHCI_RETRIES + 1);
	assert_int_equal(fk.d_arg[fk.data_cmds - 1], 700);
	assert_int_equal(st()->errors, 1);
}

/* The controller says nothing (no event, no error bit): keel's own deadline ends the try, the lines are
 * reset and the request re-issued; silent on every try, it fails after 1 + SDHCI_RETRIES tries. */
static void test_silent_controller_hits_keels_deadline(void **state)
{
	(void)state;
	struct rq r;

	fk.hold = true; /* the first try never ends by itself */
	rq_io(&r, BLK_OP_READ, 800, bufs[0], 4096);
	assert_int_equal(blkdev_submit(dev, &r.req), 0);
	fk.hold = false;
	dev->ops->poll(dev);
	assert_int_equal(r.calls, 0); /* before its deadline it waits */
	hosts[0].deadline = 0;
	dev->ops->poll(dev);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, BLK_OK);
	assert_memory_equal(bufs[0], card_at(800), 4096);
	assert_int_equal(st()->retries, 1);
	assert_int_equal(st()->timeouts, 1);
	assert_int_equal(hosts[0].err.lines, 1);

	fk.hang_data = true;
	rq_io(&r, BLK_OP_READ, 800, bufs[0], 4096);
	assert_int_equal(blkdev_submit(dev, &r.req), 0);
	for (unsigned i = 0; i < 2 * (1 + SDHCI_RETRIES) && r.calls == 0; i++) {
		hosts[0].deadline = 0;
		dev->ops->poll(dev);
	}
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, BLK_EIO);
	assert_int_equal(fk.data_cmds, 2 + 1 + SDHCI_RETRIES);
	assert_int_equal(st()->timeouts, 2 + SDHCI_RETRIES);
	assert_int_equal(st()->errors, 1);
	assert_int_equal(hosts[0].err.lines, 2);
}

/* A chunk's error recovered by a retry is logged when that chunk ends, not lost among the others'. */
static void test_recovered_chunk_error_is_logged(void **state)
{
	(void)state;
	struct rq a;

	share_with_b();
	fault_on(1000 + SDHCI_CHUNK_SECTORS, 1000 + SDHCI_CHUNK_SECTORS, &err_classes[5], 1);
	memset(big, 0, sizeof(big));
	rq_big(&a, BLK_OP_READ);
	assert_int_equal(blkdev_submit(dev, &a.req), 0);
	for (unsigned i = 0; i < 2 * NCHUNKS && a.calls == 0; i++) {
		end_pause_tick();
		dev->ops->poll(dev);
	}
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, BLK_OK);
	assert_memory_equal(big, card_at(1000), sizeof(big));
	assert_int_equal(fk.fault.hits, 1);
	assert_int_equal(st()->retries, 1);
	assert_int_equal(hosts[0].err.lines, 1);
}

/* --- the Pi's bus: dma-ranges offset, cache maintenance, the data port ----------- */

/* A non-coherent bus whose DMA window covers keel's statics (the hosts, bufs) at bus = pa + offset;
 * the fake controller masters the same bus (what it reaches outside the window fails the test). */
#define TEST_DMA_OFFSET 0x100000000000ull
static void noncoherent_window(void)
{
	uintptr_t lo = MIN((uintptr_t)hosts, (uintptr_t)bufs),
		  hi = MAX((uintptr_t)(hosts + 1), (uintptr_t)(bufs + 1));
	hosts[0].bus.dma_coherent = false;
	hosts[0].bus.dma_lo = pa_init(lo);
	hosts[0].bus.dma_size = hi - lo;
	hosts[0].bus.dma_offset = TEST_DMA_OFFSET;
	fk.dma_lo = lo;
	fk.dma_size = hi - lo;
	fk.dma_offset = TEST_DMA_OFFSET;
	fake_cache_n = 0;
}

/* Index in fake_cache_log of the first event op on exactly [p, p + len) from index from; ~0u: none. */
static unsigned cache_find(unsigned from, enum fake_cache_op op, const void *p, size_t len)
{
	for (unsigned i = from; i < fake_cache_n && i < FAKE_CACHE_LOG_MAX; i++)
		if (fake_cache_log[i].op == op && fake_cache_log[i].p == p && fake_cache_log[i].len == len)
			return i;
	return ~0u;
}

static void test_dma_ranges_and_cache_maintenance_on_a_noncoherent_bus(void **state)
{
	(void)state;
	struct rq r;
	noncoherent_window();

	/* A write: the data cleaned to memory, then the ADMA2 table, both before the command; the line
	 * carries the bus address (physical + the dma-ranges offset), not the physical one. */
	for (unsigned i = 0; i < 1024; i++)
		bufs[0][i] = (uint8_t)(i * 13 + 5);
	rq_init(&r, BLK_OP_WRITE, 8);
	rq_seg(&r, bufs[0], 1024);
	assert_int_equal(blkdev_submit(dev, &r.req), 0);
	dev->ops->poll(dev);
	assert_int_equal(r.status, BLK_OK);
	assert_int_equal(fk.data_cmds, 1);
	assert_int_equal(fk.d_addr[0], (uint64_t)(uintptr_t)bufs[0] + TEST_DMA_OFFSET);
	assert_memory_equal(card_at(8), bufs[0], 1024); /* the fake reached it through the offset */
	unsigned seg = cache_find(0, FAKE_CACHE_CLEAN, bufs[0], 1024);
	unsigned tab = cache_find(0, FAKE_CACHE_CLEAN, hosts[0].adma, SDHCI_ADMA_WORDS_64 * 4);
	assert_true(seg < fk.cache_n_at[0]);
	assert_true(tab < fk.cache_n_at[0]);
	assert_int_equal(cache_find(0, FAKE_CACHE_CLEAN_INVAL, bufs[0], 1024),
			 ~0u); /* a write needs no inval */
	/* The ADMA2 table's own address goes to the controller as a bus address too. */
	assert_int_equal((uint64_t)fk_reg(SDHCI_ADMA_ADDR + 4, 4) << 32 | fk_reg(SDHCI_ADMA_ADDR, 4),
			 (uint64_t)(uintptr_t)hosts[0].adma + TEST_DMA_OFFSET);

	/* A read: clean+invalidate before (no dirty line may land over the DMA data) and after (no
	 * stale line read), two segments. */
	unsigned before = fake_cache_n;
	memset(bufs[1], 0, 512);
	memset(bufs[2], 0, 1024);
	rq_init(&r, BLK_OP_READ, 8);
	rq_seg(&r, bufs[1], 512);
	rq_seg(&r, bufs[2], 1024);
	assert_int_equal(blkdev_submit(dev, &r.req), 0);
	dev->ops->poll(dev);
	assert_int_equal(r.status, BLK_OK);
	assert_memory_equal(bufs[1], card_at(8), 512);
	assert_memory_equal(bufs[2], card_at(9), 1024);
	for (unsigned i = 0; i < 2; i++) {
		const void *p = i ? (const void *)bufs[2] : (const void *)bufs[1];
		size_t len = i ? 1024 : 512;
		unsigned first = cache_find(before, FAKE_CACHE_CLEAN_INVAL, p, len);
		assert_true(first < fk.cache_n_at[1]);
		assert_true(cache_find(first + 1, FAKE_CACHE_CLEAN_INVAL, p, len) != ~0u); /* and after */
	}

	/* Coherent (PCI on virt): none at all. */
	hosts[0].bus.dma_coherent = true;
	before = fake_cache_n;
	rq_init(&r, BLK_OP_READ, 8);
	rq_seg(&r, bufs[1], 512);
	assert_int_equal(blkdev_submit(dev, &r.req), 0);
	dev->ops->poll(dev);
	assert_int_equal(r.status, BLK_OK);
	assert_int_equal(fake_cache_n, before);
}

static void test_segment_outside_the_dma_window_is_refused_and_counted(void **state)
{
	(void)state;
	struct rq r;
	uint8_t outside[1024] __attribute__((aligned(64))); /* the stack: not in the window */
	noncoherent_window();
	rq_init(&r, BLK_OP_READ, 0);
	rq_seg(&r, bufs[0], 512);
	rq_seg(&r, outside, 1024);
	assert_int_equal(blkdev_submit(dev, &r.req), BLK_EIO);
	assert_int_equal(st()->dma_window_refused, 1);
	assert_int_equal(fk.ncmds, 0); /* never a command with a wrong address */
	assert_int_equal(r.calls, 0);
	/* One that straddles the window's end: refused too. */
	uintptr_t end = (uintptr_t)pa_addr(hosts[0].bus.dma_lo) + hosts[0].bus.dma_size;
	rq_init(&r, BLK_OP_WRITE, 0);
	r.segs[0] = (struct blk_seg){pa_init(end - 512), 1024};
	r.req.nsegs = 1;
	r.req.nsectors = 2;
	assert_int_equal(blkdev_submit(dev, &r.req), BLK_EIO);
	assert_int_equal(st()->dma_window_refused, 2);
	assert_int_equal(fk.ncmds, 0);
	/* Inside: served. */
	memset(bufs[3], 0, 512);
	rq_init(&r, BLK_OP_READ, 0);
	rq_seg(&r, bufs[3], 512);
	assert_int_equal(blkdev_submit(dev, &r.req), 0);
	dev->ops->poll(dev);
	assert_int_equal(r.status, BLK_OK);
	assert_memory_equal(bufs[3], card_at(0), 512);
	assert_int_equal(st()->dma_window_refused, 2);
}

static void test_pio_on_a_controller_without_dma(void **state)
{
	(void)state;
	struct rq r;
	hosts[0].dma = DMA_NONE;
	hosts[0].bus.dma_coherent = false; /* PIO is CPU access: no maintenance even so */
	fake_cache_n = 0;

	/* A read into odd, unaligned segments (no DMA mode could take them): the card's bytes through
	 * the data port, in order, byte for byte, all blocks in one poll. */
	rq_init(&r, BLK_OP_READ, 4);
	rq_seg(&r, bufs[0] + 1, 300);
	r.segs[r.req.nsegs++] = (struct blk_seg){ptr_to_pa(bufs[1] + 3), 724};
	r.req.nsectors = 2;
	assert_int_equal(blkdev_submit(dev, &r.req), 0);
	dev->ops->poll(dev);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, BLK_OK);
	uint8_t got[1024];
	memcpy(got, bufs[0] + 1, 300);
	memcpy(got + 300, bufs[1] + 3, 724);
	assert_memory_equal(got, card_at(4), 1024);
	assert_int_equal(fk.pio_words, 256);
	assert_int_equal(fk.pio_blocks, 0);
	assert_false(fk_reg(SDHCI_XFER_MODE, 2) & SDHCI_XFER_DMA);
	assert_int_equal(st()->pio_requests, 1);
	assert_int_equal(fake_cache_n, 0);

	/* A write of three blocks from three segments: the card gets exactly their bytes. */
	uint8_t next[512];
	memcpy(next, card_at(11), 512);
	for (unsigned i = 0; i < 1536; i++)
		bufs[2][i] = (uint8_t)(i * 7 + 1);
	fk.pio_words = 0;
	rq_init(&r, BLK_OP_WRITE, 8);
	rq_seg(&r, bufs[2], 512);
	rq_seg(&r, bufs[2] + 512, 512);
	rq_seg(&r, bufs[2] + 1024, 512);
	assert_int_equal(blkdev_submit(dev, &r.req), 0);
	dev->ops->poll(dev);
	assert_int_equal(r.status, BLK_OK);
	assert_int_equal(fk.pio_words, 384);
	assert_memory_equal(card_at(8), bufs[2], 1536);
	assert_memory_equal(card_at(11), next, 512);
	assert_int_equal(st()->pio_requests, 2);
	assert_int_equal(st()->errors, 0);
	assert_int_equal(fake_cache_n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_refuses_segments_no_dma_can_express, setup),
	    cmocka_unit_test_setup(test_cancel_queued_and_current, setup),
	    cmocka_unit_test_setup(test_cancel_dat_reset_fails_full_reset_offline, setup),
	    cmocka_unit_test_setup(test_cancel_never_stopped_is_never_completed, setup),
	    cmocka_unit_test_setup(test_alone_a_large_request_is_one_command, setup),
	    cmocka_unit_test_setup(test_shared_large_request_moves_in_chunks_around_the_neighbour, setup),
	    cmocka_unit_test_setup(test_shared_small_request_is_not_split, setup),
	    cmocka_unit_test_setup(test_a_failed_chunk_fails_the_request, setup),
	    cmocka_unit_test_setup(test_cancel_between_and_inside_chunks, setup),
	    cmocka_unit_test_setup(test_chunk_segments, setup),
	    cmocka_unit_test_setup(test_contention_window, setup),
	    cmocka_unit_test_setup(test_error_bits_are_named, setup),
	    cmocka_unit_test_setup(test_each_error_class_once_is_retried, setup),
	    cmocka_unit_test_setup(test_persistent_read_error_fails_then_lifts, setup),
	    cmocka_unit_test_setup(test_persistent_write_error_fails_then_lifts, setup),
	    cmocka_unit_test_setup(test_flush_asks_the_card, setup),
	    cmocka_unit_test_setup(test_error_spares_the_neighbours_queued_request, setup),
	    cmocka_unit_test_setup(test_silent_controller_hits_keels_deadline, setup),
	    cmocka_unit_test_setup(test_recovered_chunk_error_is_logged, setup),
	    cmocka_unit_test_setup(test_dma_ranges_and_cache_maintenance_on_a_noncoherent_bus, setup),
	    cmocka_unit_test_setup(test_segment_outside_the_dma_window_is_refused_and_counted, setup),
	    cmocka_unit_test_setup(test_pio_on_a_controller_without_dma, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
