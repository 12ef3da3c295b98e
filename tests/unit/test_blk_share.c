/*
 * Fair shares of a shared controller (drivers/storage/blk_share.c) against a fake controller that holds
 * requests until the test completes them and may refuse with BLK_EBUSY.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/cpu.h"
#include "arch/timer.h"
#include "drivers/storage/blk_share.h"
#include "drivers/storage/part.h"
#include "keel/addr.h"
#include "tests/fakes/irq_route.h"

/* --- the fake controller ---------------------------------------------------- */

#define FAKE_MAX 512

struct fake_ctl {
	struct blkdev bdev;
	struct blk_req *q[FAKE_MAX]; /* in submission order */
	unsigned n;
	unsigned max_n;		/* most requests at once */
	unsigned flushes;	/* device flushes at once now */
	unsigned max_flushes;	/* ... at most */
	unsigned total_flushes; /* ... in all */
	unsigned busy;		/* refuse this many submits with BLK_EBUSY */
	unsigned cancels;	/* cancel calls */
	bool ready;		/* completion_ready answer */
	unsigned polls;
	unsigned hinted;  /* requests submitted with the batching hint */
	unsigned commits; /* commit calls */
};

static int fake_submit(struct blkdev *dev, struct blk_req *req)
{
	struct fake_ctl *f = dev->priv;
	f->hinted += req->batch;
	if (f->busy > 0) {
		f->busy--;
		return BLK_EBUSY;
	}
	assert_true(f->n < FAKE_MAX);
	f->q[f->n++] = req;
	if (f->n > f->max_n)
		f->max_n = f->n;
	if (req->op == BLK_OP_FLUSH) {
		f->total_flushes++;
		if (++f->flushes > f->max_flushes)
			f->max_flushes = f->flushes;
	}
	return 0;
}

static bool fake_take(struct fake_ctl *f, struct blk_req *req)
{
	for (unsigned i = 0; i < f->n; i++) {
		if (f->q[i] != req)
			continue;
		memmove(&f->q[i], &f->q[i + 1], (f->n - i - 1) * sizeof(f->q[0]));
		f->n--;
		if (req->op == BLK_OP_FLUSH)
			f->flushes--;
		return true;
	}
	return false;
}

static int fake_cancel(struct blkdev *dev, struct blk_req *req)
{
	struct fake_ctl *f = dev->priv;
	f->cancels++;
	if (!fake_take(f, req))
		return BLK_EINVAL;
	req->done(req, BLK_ECANCELED);
	return 0;
}

static bool fake_ready(struct blkdev *dev)
{
	return ((struct fake_ctl *)dev->priv)->ready;
}

static void fake_poll(struct blkdev *dev)
{
	((struct fake_ctl *)dev->priv)->polls++;
}

static void fake_commit(struct blkdev *dev)
{
	((struct fake_ctl *)dev->priv)->commits++;
}

static const struct blkdev_ops fake_ops = {
    .submit = fake_submit,
    .poll = fake_poll,
    .completion_ready = fake_ready,
    .cancel = fake_cancel,
    .commit = fake_commit,
};

static struct fake_ctl ctl;

/* The test's clock: it moves only when a test says so (activity windows are by time). */
static void advance_us(uint64_t us)
{
	fake_timer_ns += us * 1000u;
}

static void fake_init(uint32_t depth, uint32_t max_sectors)
{
	fake_timer_manual = true;
	fake_timer_ns = 1000000000u;
	memset(&ctl, 0, sizeof(ctl));
	ctl.bdev = (struct blkdev){
	    .name = "fake0",
	    .nsectors = 1u << 20,
	    .block_size = 512,
	    .max_segs = 256,
	    .max_seg_size = 1u << 20,
	    .max_sectors = max_sectors,
	    .flags = BLKDEV_F_FLUSH,
	    .queue_depth = depth,
	    .ops = &fake_ops,
	    .priv = &ctl,
	};
}

/* Complete the request at position i (0: oldest) of the fake's queue. */
static void fake_complete_at(unsigned i, int status)
{
	assert_true(i < ctl.n);
	struct blk_req *req = ctl.q[i];
	fake_take(&ctl, req);
	req->done(req, status);
}

/* Complete the oldest request of op. */
static void fake_complete_op(enum blk_op op, int status)
{
	for (unsigned i = 0; i < ctl.n; i++) {
		if (ctl.q[i]->op == op) {
			fake_complete_at(i, status);
			return;
		}
	}
	fail_msg("no request of op %d at the controller", op);
}

/* --- the VM disks' side ------------------------------------------------------ */

struct treq {
	struct blk_req req;
	struct blk_seg seg;
	unsigned ndone;
	int status;
	void *ctx_seen;
};

struct tdisk {
	struct blkdev *bdev;
	unsigned wakes;
};

static void treq_done(struct blk_req *req, int status)
{
	struct treq *t = (struct treq *)req;
	t->ndone++;
	t->status = status;
	t->ctx_seen = req->ctx;
}

static void tdisk_wake(void *ctx)
{
	((struct tdisk *)ctx)->wakes++;
}

static void tdisk_open(struct tdisk *d, struct blkdev *target, const char *name)
{
	memset(d, 0, sizeof(*d));
	d->bdev = share_open(&ctl.bdev, target, name);
	assert_non_null(d->bdev);
	blkdev_set_wake(d->bdev, tdisk_wake, d);
}

static int submit_op(struct tdisk *d, struct treq *t, enum blk_op op, uint32_t nsectors)
{
	memset(t, 0, sizeof(*t));
	t->seg = (struct blk_seg){pa_init(0x40000000), nsectors * BLK_SECTOR_SIZE};
	t->req = (struct blk_req){
	    .op = op,
	    .sector = 8,
	    .nsectors = op == BLK_OP_FLUSH ? 0 : nsectors,
	    .segs = op == BLK_OP_FLUSH ? NULL : &t->seg,
	    .nsegs = op == BLK_OP_FLUSH ? 0 : 1,
	    .done = treq_done,
	    .ctx = t,
	};
	return blkdev_submit(d->bdev, &t->req);
}

static int submit_read(struct tdisk *d, struct treq *t)
{
	return submit_op(d, t, BLK_OP_READ, 8);
}

static int submit_flush(struct tdisk *d, struct treq *t)
{
	return submit_op(d, t, BLK_OP_FLUSH, 0);
}

static struct share_stats stats(struct tdisk *d)
{
	struct share_stats s;
	share_get_stats(d->bdev, &s);
	return s;
}

static struct treq rq[4][FAKE_MAX / 4];

/* --- tests ---------------------------------------------------------------------- */

/*
 * Shares of data in flight: on a controller that moves one request at a time (fair_bytes 256 KiB),
 * a disk sending maximal requests has one at the controller while a neighbour is there, so the
 * neighbour's small request waits behind at most one; alone, bytes do not limit it. Requests are
 * capped at the controller's fair_sectors.
 */
static void test_byte_share_and_fair_request_size(void **state)
{
	(void)state;
	struct tdisk a, b;
	fake_init(4, 4096);
	ctl.bdev.fair_bytes = 256u * 1024;
	ctl.bdev.fair_sectors = 256;
	tdisk_open(&a, &ctl.bdev, "a");
	assert_int_equal(a.bdev->max_sectors, 256); /* 128 KiB: what virtio-blk advertises */
	/* Alone: the request share (4), not bytes, limits A. */
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(submit_op(&a, &rq[0][i], BLK_OP_READ, 256), 0);
	while (ctl.n)
		fake_complete_at(0, BLK_OK);
	tdisk_open(&b, &ctl.bdev, "b");
	/* B is open but idle: A, active alone, keeps the depth but holds at most fair_bytes (256 KiB),
	 * all that B's first request will wait behind. */
	assert_int_equal(submit_op(&a, &rq[0][0], BLK_OP_READ, 256), 0);
	assert_int_equal(submit_op(&a, &rq[0][1], BLK_OP_READ, 256), 0);
	assert_int_equal(submit_op(&a, &rq[0][2], BLK_OP_READ, 256), BLK_EBUSY);
	assert_int_equal(submit_op(&a, &rq[0][2], BLK_OP_READ, 8), BLK_EBUSY);
	while (ctl.n)
		fake_complete_at(0, BLK_OK);
	/* B reads once: it counts as active for a while after, with nothing in flight. */
	assert_int_equal(submit_op(&b, &rq[1][0], BLK_OP_READ, 8), 0);
	fake_complete_at(0, BLK_OK);
	/* Two active disks: 128 KiB each in flight. A's first maximal request goes (nothing in flight)... */
	assert_int_equal(submit_op(&a, &rq[0][4], BLK_OP_READ, 256), 0);
	/* ...a second does not, though A is within its share of 2 requests. */
	assert_int_equal(submit_op(&a, &rq[0][5], BLK_OP_READ, 256), BLK_EBUSY);
	/* B's small request is admitted at once and waits behind one of A's only. */
	assert_int_equal(submit_op(&b, &rq[1][1], BLK_OP_READ, 8), 0);
	assert_int_equal(ctl.n, 2);
	/* A's completion wakes A (it waits for bytes), which may then send its next one. */
	fake_complete_op(BLK_OP_READ, BLK_OK);
	assert_true(a.wakes >= 1);
	assert_int_equal(submit_op(&a, &rq[0][5], BLK_OP_READ, 256), 0);
	while (ctl.n)
		fake_complete_at(0, BLK_OK);
	share_close(b.bdev);
	share_close(a.bdev);
}

/* A disk alone on a controller may fill its whole queue depth (QD32 on UFS is not slowed). */
static void test_alone_gets_full_depth(void **state)
{
	(void)state;
	struct tdisk a;
	fake_init(32, 65536);
	tdisk_open(&a, &ctl.bdev, "a");
	assert_int_equal(a.bdev->queue_depth, 32);
	for (unsigned i = 0; i < 32; i++)
		assert_int_equal(submit_read(&a, &rq[0][i]), 0);
	assert_int_equal(ctl.n, 32);
	assert_int_equal(submit_read(&a, &rq[0][32]), BLK_EBUSY); /* and no more than the depth */
	assert_int_equal(ctl.n, 32);
	fake_complete_at(0, BLK_OK);
	assert_int_equal(a.wakes, 1); /* its own completion resumes it */
	assert_int_equal(rq[0][0].ndone, 1);
	assert_int_equal(rq[0][0].status, BLK_OK);
	assert_ptr_equal(rq[0][0].ctx_seen, &rq[0][0]); /* the owner's ctx and done are restored */
	assert_ptr_equal(rq[0][0].req.done, treq_done);
	assert_int_equal(submit_read(&a, &rq[0][32]), 0);
	while (ctl.n)
		fake_complete_at(0, BLK_OK);
	struct share_stats s = stats(&a);
	assert_int_equal(s.admitted, 33);
	assert_int_equal(s.refused, 1);
	share_close(a.bdev);
}

/* An open disk that does nothing takes nothing: its neighbour keeps the whole depth. */
static void test_idle_neighbour_takes_nothing(void **state)
{
	(void)state;
	struct tdisk a, b;
	fake_init(8, 65536);
	tdisk_open(&a, &ctl.bdev, "a");
	tdisk_open(&b, &ctl.bdev, "b");
	unsigned na = 0;
	while (submit_read(&a, &rq[0][na]) == 0)
		na++;
	assert_int_equal(na, 8);
	while (ctl.n)
		fake_complete_at(0, BLK_OK);
	/* b read once, long ago: idle again. */
	assert_int_equal(submit_read(&b, &rq[1][0]), 0);
	fake_complete_at(0, BLK_OK);
	advance_us(SHARE_ACTIVE_US);
	for (na = 0; submit_read(&a, &rq[0][na]) == 0;)
		na++;
	assert_int_equal(na, 8);
	while (ctl.n)
		fake_complete_at(0, BLK_OK);
	share_close(a.bdev);
	share_close(b.bdev);
}

/* How many of disk d's requests (rq[d]) are at the controller. */
static unsigned at_ctl(unsigned d)
{
	unsigned n = 0;
	for (unsigned i = 0; i < ctl.n; i++)
		n += (struct treq *)ctl.q[i] >= rq[d] && (struct treq *)ctl.q[i] < rq[d] + FAKE_MAX / 4;
	return n;
}

/*
 * A controller that overlaps little (share_depth 2 of 32 slots): a flooder alone has all 32; while a
 * queue-depth-1 neighbour is active (in flight, or submitted within SHARE_ACTIVE_US) the flooder is
 * held at 2, so each of the neighbour's requests waits behind at most 2; once the neighbour has been
 * quiet for the window, the flooder's own completion gives it the whole depth back.
 */
static void test_share_depth_while_neighbour_active(void **state)
{
	(void)state;
	struct tdisk a, b;
	fake_init(32, 65536);
	ctl.bdev.share_depth = 2;
	tdisk_open(&a, &ctl.bdev, "a");
	tdisk_open(&b, &ctl.bdev, "b");
	unsigned na = 0, nb = 0;
	while (submit_read(&a, &rq[0][na]) == 0)
		na++;
	assert_int_equal(na, 32); /* alone (b idle): the whole depth */
	/* b arrives: the slots are all a's. The next completion wakes b, a is refused. */
	assert_int_equal(submit_read(&b, &rq[1][nb]), BLK_EBUSY);
	fake_complete_at(0, BLK_OK);
	assert_int_equal(b.wakes, 1);
	assert_int_equal(submit_read(&a, &rq[0][na]), BLK_EBUSY);
	assert_int_equal(submit_read(&b, &rq[1][nb++]), 0);
	/* a drains to its share of 2, then keeps it (retrying after every completion). */
	while (at_ctl(0) > 2) {
		fake_complete_at(0, BLK_OK);
		assert_int_equal(submit_read(&a, &rq[0][na]), BLK_EBUSY);
	}
	fake_complete_at(ctl.n - 1, BLK_OK); /* b's */
	/* b's QD1 loop: each request waits behind 2 of a's at most, b stays active between them. */
	for (unsigned k = 0; k < 20; k++) {
		advance_us(SHARE_ACTIVE_US / 2);
		assert_int_equal(submit_read(&b, &rq[1][nb++]), 0);
		assert_true(at_ctl(0) <= 2);
		fake_complete_at(0, BLK_OK); /* one of a's: a may send one more, no more */
		assert_int_equal(submit_read(&a, &rq[0][na++]), 0);
		assert_int_equal(submit_read(&a, &rq[0][na]), BLK_EBUSY);
		assert_int_equal(at_ctl(0), 2);
		fake_complete_at(ctl.n - 2, BLK_OK); /* b's (before a's newest) */
		assert_int_equal(at_ctl(1), 0);
	}
	assert_true(ctl.max_n <= 32);
	/* b is quiet for a window: a's next completion wakes it to the whole depth again. */
	advance_us(SHARE_ACTIVE_US);
	fake_complete_at(0, BLK_OK);
	assert_true(a.wakes >= 1);
	unsigned more = 0;
	while (submit_read(&a, &rq[0][na]) == 0) {
		na++;
		more++;
	}
	assert_int_equal(at_ctl(0), 32);
	assert_int_equal(more, 31);
	while (ctl.n)
		fake_complete_at(0, BLK_OK);
	share_close(a.bdev);
	share_close(b.bdev);
}

/*
 * One disk floods; its neighbour still gets its share. B arrives while A holds the whole depth:
 * freed slots go to B (woken) until B has its share, A is held at its share.
 */
static void test_flooder_leaves_neighbour_its_share(void **state)
{
	(void)state;
	struct tdisk a, b;
	fake_init(8, 65536);
	tdisk_open(&a, &ctl.bdev, "a");
	unsigned na = 0, nb = 0;
	while (submit_read(&a, &rq[0][na]) == 0)
		na++;
	assert_int_equal(na, 8); /* alone: everything */
	tdisk_open(&b, &ctl.bdev, "b");
	assert_int_equal(submit_read(&b, &rq[1][nb]), BLK_EBUSY); /* the controller is full */
	for (unsigned round = 0; round < 4; round++) {
		fake_complete_op(BLK_OP_READ, BLK_OK); /* one of A's */
		assert_int_equal(b.wakes, round + 1);  /* B, waiting, is woken by A's completion */
		/* A floods on at once (from its done, before B runs): held at its share of 4. */
		assert_int_equal(submit_read(&a, &rq[0][na]), BLK_EBUSY);
		assert_int_equal(submit_read(&b, &rq[1][nb]), 0);
		nb++;
		if (round < 3)
			assert_int_equal(submit_read(&b, &rq[1][nb]), BLK_EBUSY); /* group full again */
	}
	assert_int_equal(nb, 4);
	assert_int_equal(submit_read(&b, &rq[1][nb]), BLK_EBUSY); /* B at its share now */
	assert_int_equal(ctl.n, 8);
	/* From now on each keeps 4: a completion of A's goes to A, not to B over its share. */
	fake_complete_op(BLK_OP_READ, BLK_OK);
	assert_int_equal(submit_read(&b, &rq[1][nb]), BLK_EBUSY);
	assert_int_equal(submit_read(&a, &rq[0][na++]), 0);
	assert_true(ctl.max_n <= 8);
	while (ctl.n)
		fake_complete_at(0, BLK_OK);
	assert_true(stats(&b).admitted == 4 && stats(&b).refused >= 4);
	share_close(a.bdev);
	share_close(b.bdev);
}

/*
 * Depth 1, four disks: refused disks are woken one per freed slot, round-robin after the last one
 * woken; a woken disk's slot is not taken by the disk whose request just completed; nobody is
 * forgotten, also when the completion was a neighbour's.
 */
static void test_round_robin_no_lost_wakeup(void **state)
{
	(void)state;
	struct tdisk d[4];
	fake_init(1, 65536);
	for (unsigned i = 0; i < 4; i++)
		tdisk_open(&d[i], &ctl.bdev, "d");
	assert_int_equal(submit_read(&d[0], &rq[0][0]), 0);
	for (unsigned i = 1; i < 4; i++)
		assert_int_equal(submit_read(&d[i], &rq[i][0]), BLK_EBUSY);
	/* d0 completes; d1 (next after d0) is woken; d0 resubmits first and must wait its turn. */
	fake_complete_at(0, BLK_OK);
	assert_int_equal(d[1].wakes, 1);
	assert_int_equal(d[2].wakes + d[3].wakes + d[0].wakes, 0);
	assert_int_equal(submit_read(&d[0], &rq[0][1]), BLK_EBUSY);
	/* Each woken disk submits, then its request completes and wakes the next one round. */
	const unsigned expect[4] = {1, 2, 3, 0};
	unsigned want[4] = {0, 1, 0, 0};
	for (unsigned k = 0; k < 4; k++) {
		for (unsigned i = 0; i < 4; i++)
			assert_int_equal(d[i].wakes, want[i]);
		unsigned who = expect[k];
		assert_int_equal(submit_read(&d[who], &rq[who][1 + (who == 0)]), 0);
		fake_complete_at(0, BLK_OK); /* a neighbour's completion wakes the next */
		if (k < 3)
			want[expect[k + 1]]++;
	}
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(d[i].wakes, 1); /* each refused disk woken exactly once */
	assert_int_equal(ctl.max_n, 1);
	for (unsigned i = 0; i < 4; i++)
		share_close(d[i].bdev);
}

/*
 * A disk held at its own share waits while a neighbour's completion frees a slot it may not take,
 * and is woken when its own request completes.
 */
static void test_waiter_over_share_woken_by_own_completion(void **state)
{
	(void)state;
	struct tdisk a, b;
	fake_init(4, 65536);
	tdisk_open(&a, &ctl.bdev, "a");
	tdisk_open(&b, &ctl.bdev, "b");
	assert_int_equal(submit_read(&b, &rq[1][0]), 0); /* b is active */
	assert_int_equal(submit_read(&a, &rq[0][0]), 0);
	assert_int_equal(submit_read(&a, &rq[0][1]), 0);
	assert_int_equal(submit_read(&a, &rq[0][2]), BLK_EBUSY); /* share 2 */
	fake_complete_at(1, BLK_OK);				 /* a's */
	assert_int_equal(a.wakes, 1);
	assert_int_equal(submit_read(&a, &rq[0][2]), 0);
	assert_int_equal(submit_read(&a, &rq[0][3]), BLK_EBUSY);
	fake_complete_at(0, BLK_OK); /* b's: b is still active, a still at its share, not woken */
	assert_int_equal(a.wakes, 1);
	fake_complete_at(0, BLK_OK); /* a's own */
	assert_int_equal(a.wakes, 2);
	while (ctl.n)
		fake_complete_at(0, BLK_OK);
	share_close(a.bdev);
	share_close(b.bdev);
}

/* A disk with no wake-up registered cannot be woken: no slot is held back for it. */
static void test_no_slot_held_for_unwakeable(void **state)
{
	(void)state;
	struct tdisk a, b;
	fake_init(1, 65536);
	tdisk_open(&a, &ctl.bdev, "a");
	tdisk_open(&b, &ctl.bdev, "b");
	blkdev_set_wake(a.bdev, NULL, NULL);
	assert_int_equal(submit_read(&b, &rq[1][0]), 0);
	assert_int_equal(submit_read(&a, &rq[0][0]), BLK_EBUSY);
	fake_complete_at(0, BLK_OK);
	assert_int_equal(submit_read(&b, &rq[1][1]), 0); /* the slot was not kept for a */
	fake_complete_at(0, BLK_OK);
	assert_int_equal(submit_read(&a, &rq[0][0]), 0);
	fake_complete_at(0, BLK_OK);
	share_close(a.bdev);
	share_close(b.bdev);
}

/* The controller itself refuses: the disk waits and the controller's wake-up reaches it. */
static void test_controller_busy_wakes_through(void **state)
{
	(void)state;
	struct tdisk a;
	fake_init(8, 65536);
	tdisk_open(&a, &ctl.bdev, "a");
	ctl.busy = 1;
	assert_int_equal(submit_read(&a, &rq[0][0]), BLK_EBUSY);
	assert_int_equal(a.wakes, 0); /* not woken into the same refusal at once */
	blkdev_wake(&ctl.bdev);
	assert_int_equal(a.wakes, 1);
	assert_int_equal(submit_read(&a, &rq[0][0]), 0);
	fake_complete_at(0, BLK_OK);
	assert_int_equal(rq[0][0].ndone, 1);
	share_close(a.bdev);
}

/*
 * A refused disk whose retry is admitted before any wake-up waits no more: a freed slot goes to a disk
 * that does wait, not to it (it has nothing to send).
 */
static void test_admitted_retry_ends_wait(void **state)
{
	(void)state;
	struct tdisk a, b, c;
	fake_init(2, 65536);
	tdisk_open(&a, &ctl.bdev, "a");
	tdisk_open(&b, &ctl.bdev, "b");
	tdisk_open(&c, &ctl.bdev, "c");
	ctl.busy = 1;
	assert_int_equal(submit_read(&a, &rq[0][0]), BLK_EBUSY); /* the controller refuses */
	assert_int_equal(submit_read(&a, &rq[0][0]), 0);	 /* its owner retries (a guest notify) */
	assert_int_equal(submit_read(&b, &rq[1][0]), 0);
	assert_int_equal(submit_read(&c, &rq[2][0]), BLK_EBUSY); /* the group is full */
	fake_complete_at(0, BLK_OK);				 /* a's */
	assert_int_equal(a.wakes, 0);
	assert_int_equal(c.wakes, 1);
	assert_int_equal(submit_read(&c, &rq[2][0]), 0);
	while (ctl.n)
		fake_complete_at(0, BLK_OK);
	share_close(a.bdev);
	share_close(b.bdev);
	share_close(c.bdev);
}

/* Partitions of one device form one group: the share is of the device, not of each window. */
static void test_partitions_share_one_group(void **state)
{
	(void)state;
	struct tdisk a, b;
	fake_init(4, 65536);
	struct blkdev *pa = part_open(&ctl.bdev, "pa", 0, 4096);
	struct blkdev *pb = part_open(&ctl.bdev, "pb", 4096, 4096);
	tdisk_open(&a, pa, "a");
	tdisk_open(&b, pb, "b");
	assert_int_equal(submit_read(&b, &rq[1][0]), 0); /* both active */
	unsigned na = 0;
	while (submit_read(&a, &rq[0][na]) == 0)
		na++;
	assert_int_equal(na, 2);
	assert_int_equal(submit_read(&b, &rq[1][1]), 0);
	assert_int_equal(submit_read(&b, &rq[1][2]), BLK_EBUSY);
	assert_int_equal(ctl.q[0]->sector, 4096 + 8); /* b's went through its window */
	while (ctl.n)
		fake_complete_at(0, BLK_OK);
	assert_int_equal(rq[0][0].ndone + rq[0][1].ndone + rq[1][0].ndone + rq[1][1].ndone, 4);
	assert_int_equal(b.wakes, 1);
	share_close(a.bdev);
	share_close(b.bdev);
	part_close(pa);
	part_close(pb);
}

/*
 * A flush storm from three disks: one device FLUSH at a time, the storm becomes one more; each
 * flush completes with the status of a device FLUSH issued after it was submitted.
 */
static void test_flush_storm_coalesced(void **state)
{
	(void)state;
	struct tdisk d[3];
	fake_init(32, 65536);
	for (unsigned i = 0; i < 3; i++)
		tdisk_open(&d[i], &ctl.bdev, "d");
	assert_int_equal(submit_flush(&d[0], &rq[0][0]), 0);
	assert_int_equal(ctl.total_flushes, 1);
	for (unsigned k = 1; k <= 20; k++)
		assert_int_equal(submit_flush(&d[k % 3], &rq[k % 3][k]), 0);
	assert_int_equal(ctl.total_flushes, 1); /* the storm waits for the FLUSH at the controller */
	/* The first FLUSH completes: only the flush submitted before it was issued. */
	fake_complete_op(BLK_OP_FLUSH, BLK_OK);
	assert_int_equal(rq[0][0].ndone, 1);
	assert_int_equal(rq[0][0].status, BLK_OK);
	for (unsigned k = 1; k <= 20; k++)
		assert_int_equal(rq[k % 3][k].ndone, 0);
	assert_int_equal(ctl.total_flushes, 2); /* the storm, as one FLUSH */
	/* Flushes arriving now wait for a third FLUSH. */
	for (unsigned k = 21; k < 24; k++)
		assert_int_equal(submit_flush(&d[k % 3], &rq[k % 3][k]), 0);
	fake_complete_op(BLK_OP_FLUSH, BLK_EIO);
	for (unsigned k = 1; k <= 20; k++) {
		assert_int_equal(rq[k % 3][k].ndone, 1);
		assert_int_equal(rq[k % 3][k].status, BLK_EIO);
	}
	for (unsigned k = 21; k < 24; k++)
		assert_int_equal(rq[k % 3][k].ndone, 0);
	assert_int_equal(ctl.total_flushes, 3);
	fake_complete_op(BLK_OP_FLUSH, BLK_OK);
	for (unsigned k = 21; k < 24; k++) {
		assert_int_equal(rq[k % 3][k].ndone, 1);
		assert_int_equal(rq[k % 3][k].status, BLK_OK);
	}
	assert_int_equal(ctl.max_flushes, 1);
	assert_int_equal(ctl.total_flushes, 3);
	assert_int_equal(ctl.n, 0);
	assert_int_equal(stats(&d[0]).coalesced + stats(&d[1]).coalesced + stats(&d[2]).coalesced, 19 + 2);
	for (unsigned i = 0; i < 3; i++)
		share_close(d[i].bdev);
}

/* A flush waits for a slot when the group is full, and is issued by the next completion. */
static void test_flush_waits_for_slot(void **state)
{
	(void)state;
	struct tdisk a;
	fake_init(2, 65536);
	tdisk_open(&a, &ctl.bdev, "a");
	assert_int_equal(submit_read(&a, &rq[0][0]), 0);
	assert_int_equal(submit_read(&a, &rq[0][1]), 0);
	assert_int_equal(submit_flush(&a, &rq[0][2]), 0);
	assert_int_equal(ctl.total_flushes, 0);
	assert_int_equal(ctl.n, 2);
	fake_complete_at(0, BLK_OK);
	assert_int_equal(ctl.total_flushes, 1);
	fake_complete_op(BLK_OP_FLUSH, BLK_OK);
	assert_int_equal(rq[0][2].ndone, 1);
	fake_complete_at(0, BLK_OK);
	share_close(a.bdev);
}

/* cancel: a batched flush completes at once with BLK_ECANCELED, exactly once; an admitted request is
 * cancelled at the controller and completes to its owner's done and ctx. */
static void test_cancel(void **state)
{
	(void)state;
	struct tdisk a;
	fake_init(8, 65536);
	tdisk_open(&a, &ctl.bdev, "a");
	assert_int_equal(submit_flush(&a, &rq[0][0]), 0); /* at the controller */
	assert_int_equal(submit_flush(&a, &rq[0][1]), 0); /* waiting in the next batch */
	assert_int_equal(submit_flush(&a, &rq[0][2]), 0);
	assert_int_equal(blkdev_cancel(a.bdev, &rq[0][1].req), 0);
	assert_int_equal(rq[0][1].ndone, 1);
	assert_int_equal(rq[0][1].status, BLK_ECANCELED);
	assert_int_equal(ctl.cancels, 0); /* nothing to abort at the controller */
	assert_int_equal(blkdev_cancel(a.bdev, &rq[0][1].req), BLK_EINVAL); /* done only once */
	fake_complete_op(BLK_OP_FLUSH, BLK_OK);
	fake_complete_op(BLK_OP_FLUSH, BLK_OK);
	assert_int_equal(rq[0][0].ndone, 1);
	assert_int_equal(rq[0][1].ndone, 1);
	assert_int_equal(rq[0][1].status, BLK_ECANCELED);
	assert_int_equal(rq[0][2].ndone, 1);
	assert_int_equal(rq[0][2].status, BLK_OK);

	assert_int_equal(submit_read(&a, &rq[0][3]), 0);
	assert_int_equal(blkdev_cancel(a.bdev, &rq[0][3].req), 0);
	assert_int_equal(ctl.cancels, 1);
	assert_int_equal(rq[0][3].ndone, 1);
	assert_int_equal(rq[0][3].status, BLK_ECANCELED);
	assert_ptr_equal(rq[0][3].ctx_seen, &rq[0][3]);
	assert_int_equal(blkdev_cancel(a.bdev, &rq[0][3].req), BLK_EINVAL);
	assert_int_equal(rq[0][3].ndone, 1);
	/* Its slot is free again: the full depth is available. */
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(submit_read(&a, &rq[1][i]), 0);
	while (ctl.n)
		fake_complete_at(0, BLK_OK);
	share_close(a.bdev);
}

/* A flush whose device FLUSH is at the controller may be cancelled too (it moves no data): once. */
static void test_cancel_flush_in_flight(void **state)
{
	(void)state;
	struct tdisk a, b;
	fake_init(8, 65536);
	tdisk_open(&a, &ctl.bdev, "a");
	tdisk_open(&b, &ctl.bdev, "b");
	assert_int_equal(submit_flush(&a, &rq[0][0]), 0);
	assert_int_equal(submit_flush(&b, &rq[1][0]), 0);
	assert_int_equal(ctl.total_flushes, 2 - 1);
	assert_int_equal(blkdev_cancel(a.bdev, &rq[0][0].req), 0);
	assert_int_equal(rq[0][0].ndone, 1);
	assert_int_equal(rq[0][0].status, BLK_ECANCELED);
	assert_int_equal(blkdev_cancel(b.bdev, &rq[0][0].req), BLK_EINVAL); /* not b's */
	fake_complete_op(BLK_OP_FLUSH, BLK_OK);
	assert_int_equal(rq[0][0].ndone, 1);
	assert_int_equal(rq[1][0].ndone, 0); /* b's waits for its own FLUSH */
	fake_complete_op(BLK_OP_FLUSH, BLK_OK);
	assert_int_equal(rq[1][0].ndone, 1);
	assert_int_equal(rq[1][0].status, BLK_OK);
	share_close(a.bdev);
	share_close(b.bdev);
}

/* Requests are capped at 1 MiB (virtio-blk derives size_max * seg_max from it); a smaller limit holds. */
static void test_size_cap(void **state)
{
	(void)state;
	struct tdisk a;
	fake_init(8, 65536);
	tdisk_open(&a, &ctl.bdev, "a");
	assert_int_equal(a.bdev->max_sectors, 2048);
	assert_int_equal(a.bdev->max_segs, 256);
	assert_int_equal(a.bdev->max_seg_size, 1u << 20);
	assert_int_equal(a.bdev->nsectors, 1u << 20);
	assert_int_equal(submit_op(&a, &rq[0][0], BLK_OP_READ, 2048), 0);
	assert_int_equal(submit_op(&a, &rq[0][1], BLK_OP_READ, 2056), BLK_EINVAL);
	assert_int_equal(ctl.n, 1);
	fake_complete_at(0, BLK_OK);
	share_close(a.bdev);

	fake_init(8, 1024);
	tdisk_open(&a, &ctl.bdev, "a");
	assert_int_equal(a.bdev->max_sectors, 1024);
	share_close(a.bdev);
}

/* Completion polling sees through the share: poll and completion_ready reach the controller. */
/*
 * The controller's interrupt follows the disk with the most requests at it, on that disk's CPU: a
 * QD32 neighbour takes its own completions, a QD1 disk beside it is not interrupted for them; the
 * route moves back when the busy disk goes idle, and never between equals. A polled controller
 * (intid 0) is never routed.
 */
static void test_interrupt_follows_the_busiest_disk(void **state)
{
	(void)state;
	struct tdisk a, b;
	fake_init(32, 65536);
	ctl.bdev.share_depth = 2;
	ctl.bdev.intid = 40;
	fake_irq_route = (struct fake_irq_route){0};
	tdisk_open(&a, &ctl.bdev, "a");
	tdisk_open(&b, &ctl.bdev, "b");

	fake_cpu_mpidr = 0x80000000; /* b's vCPU: CPU 0 */
	assert_int_equal(submit_read(&b, &rq[1][0]), 0);
	assert_int_equal(fake_irq_route.moves, 1); /* the first client takes it */
	assert_int_equal(fake_irq_route.intid, 40);
	assert_int_equal(fake_irq_route.mpidr, 0x80000000);

	fake_cpu_mpidr = 0x80000001; /* a's vCPU: CPU 1 */
	assert_int_equal(submit_read(&a, &rq[0][0]), 0);
	assert_int_equal(fake_irq_route.moves, 1); /* 1 against 1: it stays */
	assert_int_equal(submit_read(&a, &rq[0][1]), 0);
	assert_int_equal(fake_irq_route.moves, 2); /* 2 against 1: to a's CPU */
	assert_int_equal(fake_irq_route.mpidr, 0x80000001);

	/* b's QD1 loop beside a's 2: the interrupt stays on a's CPU. */
	for (unsigned k = 1; k < 10; k++) {
		fake_complete_at(0, BLK_OK); /* b's oldest or a's: whichever is first */
		fake_cpu_mpidr = 0x80000000;
		if (at_ctl(1) == 0)
			assert_int_equal(submit_read(&b, &rq[1][k]), 0);
		fake_cpu_mpidr = 0x80000001;
		if (at_ctl(0) < 2)
			assert_int_equal(submit_read(&a, &rq[0][k + 1]), 0);
	}
	assert_int_equal(fake_irq_route.moves, 2);
	assert_int_equal(fake_irq_route.mpidr, 0x80000001);

	/* a goes idle: b's next submit takes the interrupt back to CPU 0. */
	while (ctl.n)
		fake_complete_at(0, BLK_OK);
	fake_cpu_mpidr = 0x80000000;
	assert_int_equal(submit_read(&b, &rq[1][0]), 0);
	assert_int_equal(fake_irq_route.moves, 3);
	assert_int_equal(fake_irq_route.mpidr, 0x80000000);
	while (ctl.n)
		fake_complete_at(0, BLK_OK);
	/* Time at the controller, per disk: b's last request took 300 us. */
	struct share_stats before = stats(&b);
	assert_int_equal(submit_read(&b, &rq[1][1]), 0);
	advance_us(300);
	fake_complete_at(0, BLK_OK);
	struct share_stats after = stats(&b);
	assert_int_equal(after.done, before.done + 1);
	assert_int_equal(after.lat_sum_us, before.lat_sum_us + 300);
	assert_true(after.lat_max_us >= 300);
	/* The clock is passed along, not read again: the device gets the share's reading at submit, and
	 * the share takes the driver's reading of the completion pass (here 120 us after the submit,
	 * although the fake clock has moved on by 1000). */
	assert_int_equal(submit_read(&b, &rq[1][1]), 0);
	assert_int_equal(ctl.q[0]->submit_us, timer_us());
	ctl.q[0]->done_us = ctl.q[0]->submit_us + 120;
	advance_us(1000);
	fake_complete_at(0, BLK_OK);
	assert_int_equal(stats(&b).lat_sum_us, after.lat_sum_us + 120);
	share_close(a.bdev);
	share_close(b.bdev);

	/* A polled controller: nothing to route. */
	fake_init(32, 65536);
	fake_irq_route = (struct fake_irq_route){0};
	tdisk_open(&a, &ctl.bdev, "a");
	assert_int_equal(submit_read(&a, &rq[0][0]), 0);
	assert_int_equal(fake_irq_route.moves, 0);
	while (ctl.n)
		fake_complete_at(0, BLK_OK);
	share_close(a.bdev);
}

static void test_poll_passthrough(void **state)
{
	(void)state;
	struct tdisk a;
	fake_init(8, 65536);
	tdisk_open(&a, &ctl.bdev, "a");
	assert_non_null(a.bdev->ops->completion_ready);
	assert_false(a.bdev->ops->completion_ready(a.bdev));
	ctl.ready = true;
	assert_true(a.bdev->ops->completion_ready(a.bdev));
	a.bdev->ops->poll(a.bdev);
	assert_int_equal(ctl.polls, 1);
	share_close(a.bdev);
}

/* The batching hint and its commit reach the controller through a share over a partition. */
static void test_batch_hint_and_commit_pass_through(void **state)
{
	(void)state;
	struct tdisk a;
	fake_init(8, 65536);
	struct blkdev *pa = part_open(&ctl.bdev, "pa", 4096, 4096);
	tdisk_open(&a, pa, "a");
	for (unsigned i = 0; i < 3; i++) {
		memset(&rq[0][i], 0, sizeof(rq[0][i]));
		rq[0][i].seg = (struct blk_seg){pa_init(0x40000000), 8 * BLK_SECTOR_SIZE};
		rq[0][i].req = (struct blk_req){.op = BLK_OP_READ,
						.sector = 8 * i,
						.nsectors = 8,
						.segs = &rq[0][i].seg,
						.nsegs = 1,
						.done = treq_done,
						.ctx = &rq[0][i],
						.batch = true};
		assert_int_equal(blkdev_submit(a.bdev, &rq[0][i].req), 0);
	}
	assert_int_equal(ctl.n, 3);
	assert_int_equal(ctl.hinted, 3);
	assert_int_equal(ctl.commits, 0);
	blkdev_commit(a.bdev);
	assert_int_equal(ctl.commits, 1);
	assert_int_equal(submit_read(&a, &rq[0][3]), 0); /* without the hint: none arrives */
	assert_int_equal(ctl.hinted, 3);
	while (ctl.n)
		fake_complete_at(0, BLK_OK);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(rq[0][i].ndone, 1);
	/* A device without a commit op: blkdev_commit does nothing. */
	struct blkdev_ops no_commit = fake_ops;
	no_commit.commit = NULL;
	ctl.bdev.ops = &no_commit;
	blkdev_commit(a.bdev);
	assert_int_equal(ctl.commits, 1);
	ctl.bdev.ops = &fake_ops;
	share_close(a.bdev);
	part_close(pa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_byte_share_and_fair_request_size),
	    cmocka_unit_test(test_alone_gets_full_depth),
	    cmocka_unit_test(test_idle_neighbour_takes_nothing),
	    cmocka_unit_test(test_share_depth_while_neighbour_active),
	    cmocka_unit_test(test_flooder_leaves_neighbour_its_share),
	    cmocka_unit_test(test_round_robin_no_lost_wakeup),
	    cmocka_unit_test(test_waiter_over_share_woken_by_own_completion),
	    cmocka_unit_test(test_no_slot_held_for_unwakeable),
	    cmocka_unit_test(test_controller_busy_wakes_through),
	    cmocka_unit_test(test_admitted_retry_ends_wait),
	    cmocka_unit_test(test_partitions_share_one_group),
	    cmocka_unit_test(test_flush_storm_coalesced),
	    cmocka_unit_test(test_flush_waits_for_slot),
	    cmocka_unit_test(test_cancel),
	    cmocka_unit_test(test_cancel_flush_in_flight),
	    cmocka_unit_test(test_size_cap),
	    cmocka_unit_test(test_poll_passthrough),
	    cmocka_unit_test(test_batch_hint_and_commit_pass_through),
	    cmocka_unit_test(test_interrupt_follows_the_busiest_disk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
