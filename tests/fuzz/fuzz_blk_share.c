/*
 * blk_share fuzzing: disks share one fake controller (depth from the input) and the input chooses who
 * submits reads or flushes, which controller request completes with which status, cancels, controller
 * busy spells, polls and the passing of time (the fake clock). Checked: every accepted request completes
 * exactly once, to its owner's done and ctx; the controller never holds more than its depth, never two
 * FLUSHes; while another disk is active (work in flight or batched, refused and not woken since, or a
 * submit within SHARE_ACTIVE_US) a disk never has more than max(1, min(depth / 2, share_depth)) at the
 * controller; a disk alone (no other active or holding a reservation, no flush anywhere, controller
 * willing, a free slot) is never refused below the depth;
 * a flush completes with the status of a device FLUSH issued after it was submitted; and, once the
 * input ends and the owners retry whenever woken, every refused request runs (no lost wake-up).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/timer.h"
#include "drivers/storage/blk_share.h"
#include "keel/addr.h"

#define CHECK(c)                                                                                             \
	do {                                                                                                 \
		if (!(c))                                                                                    \
			abort();                                                                             \
	} while (0)

#define NDISKS 3
#define NREQS  24 /* per disk */
#define QMAX   (NDISKS * NREQS + 4)

enum tstate { T_FREE, T_OUT };

struct treq {
	struct blk_req req;
	struct blk_seg seg;
	unsigned disk;
	enum tstate state;
	unsigned ndone;
	unsigned flush_seen; /* device FLUSHes issued when this flush was submitted */
};

struct tdisk {
	struct blkdev *bdev;
	struct treq reqs[NREQS];
	struct treq *pending; /* refused: retried once woken */
	bool woken;
	bool submitted;	  /* has submitted (last_ns valid) */
	uint64_t last_ns; /* the clock at its last submit */
};

static struct {
	struct blkdev bdev;
	struct blk_req *q[QMAX];
	unsigned flush_no[QMAX]; /* for each queued FLUSH: its issue number */
	unsigned n, flushes, issued;
	bool busy;
} ctl;

static struct tdisk disks[NDISKS];
static unsigned ndisks, depth, share_depth;
static int completing_status;
static unsigned completing_flush; /* issue number of the FLUSH being completed, 0: none */

static struct treq *treq_of(struct blk_req *req)
{
	for (unsigned d = 0; d < ndisks; d++)
		if ((char *)req >= (char *)disks[d].reqs && (char *)req < (char *)(disks[d].reqs + NREQS))
			return (struct treq *)req;
	return NULL;
}

/* Work of disk k outstanding: a request at the controller, a flush batched, or a refused one not
 * woken since (a woken one holds a reservation: active only within the window of its last submit). */
static bool has_work(unsigned k)
{
	if (disks[k].pending != NULL && !disks[k].woken)
		return true;
	for (unsigned i = 0; i < NREQS; i++)
		if (disks[k].reqs[i].state == T_OUT)
			return true;
	return false;
}

/* Disk k is active as the share layer counts it (same clock, same arithmetic). */
static bool active(unsigned k)
{
	const struct tdisk *d = &disks[k];
	return has_work(k) || (d->submitted && timer_us() - d->last_ns / 1000u < SHARE_ACTIVE_US);
}

static bool other_active(unsigned me)
{
	for (unsigned k = 0; k < ndisks; k++)
		if (k != me && active(k))
			return true;
	return false;
}

static unsigned at_ctl(unsigned disk)
{
	unsigned mine = 0;
	for (unsigned i = 0; i < ctl.n; i++) {
		struct treq *o = treq_of(ctl.q[i]);
		mine += o != NULL && o->disk == disk;
	}
	return mine;
}

/* A disk's most requests at the controller while another is active. */
static unsigned busy_share(void)
{
	unsigned cap = share_depth ? (share_depth < depth ? share_depth : depth) : depth;
	unsigned s = depth / 2 < cap ? depth / 2 : cap;
	return s > 1 ? s : 1;
}

static int ctl_submit(struct blkdev *dev, struct blk_req *req)
{
	(void)dev;
	if (ctl.busy)
		return BLK_EBUSY;
	CHECK(ctl.n < depth); /* the group stops at the controller's depth */
	if (req->op == BLK_OP_FLUSH) {
		CHECK(ctl.flushes == 0); /* one FLUSH at a time */
		CHECK(treq_of(req) == NULL);
		ctl.flushes++;
		ctl.flush_no[ctl.n] = ++ctl.issued;
	} else {
		struct treq *t = treq_of(req);
		CHECK(t != NULL);
		CHECK(at_ctl(t->disk) + 1 <= depth);
		if (other_active(t->disk))
			CHECK(at_ctl(t->disk) + 1 <= busy_share()); /* its share beside an active neighbour */
	}
	ctl.q[ctl.n++] = req;
	return 0;
}

static struct blk_req *ctl_take(unsigned i, unsigned *flush_no)
{
	struct blk_req *req = ctl.q[i];
	*flush_no = ctl.flush_no[i];
	memmove(&ctl.q[i], &ctl.q[i + 1], (ctl.n - i - 1) * sizeof(ctl.q[0]));
	memmove(&ctl.flush_no[i], &ctl.flush_no[i + 1], (ctl.n - i - 1) * sizeof(ctl.flush_no[0]));
	ctl.n--;
	if (req->op == BLK_OP_FLUSH)
		ctl.flushes--;
	return req;
}

static void ctl_complete(unsigned i, int status)
{
	unsigned flush_no;
	struct blk_req *req = ctl_take(i, &flush_no);
	completing_status = status;
	completing_flush = req->op == BLK_OP_FLUSH ? flush_no : 0;
	req->done(req, status);
	completing_flush = 0;
}

static int ctl_cancel(struct blkdev *dev, struct blk_req *req)
{
	(void)dev;
	for (unsigned i = 0; i < ctl.n; i++) {
		if (ctl.q[i] == req) {
			unsigned flush_no;
			ctl_take(i, &flush_no);
			req->done(req, BLK_ECANCELED);
			return 0;
		}
	}
	return BLK_EINVAL;
}

static const struct blkdev_ops ctl_ops = {.submit = ctl_submit, .cancel = ctl_cancel};

static void owner_done(struct blk_req *req, int status)
{
	struct treq *t = req->ctx;
	CHECK(t == treq_of(req)); /* the owner's ctx came back */
	CHECK(t->state == T_OUT && t->ndone == 0);
	t->ndone++;
	t->state = T_FREE;
	if (req->op == BLK_OP_FLUSH && status != BLK_ECANCELED) {
		/* Completed by a device FLUSH issued after it was submitted, with that FLUSH's status. */
		CHECK(completing_flush > t->flush_seen);
		CHECK(status == completing_status);
	}
}

static void owner_wake(void *ctx)
{
	((struct tdisk *)ctx)->woken = true; /* never submits from here */
}

static int submit(struct tdisk *d, struct treq *t)
{
	unsigned me = t->disk;
	bool flush_anywhere = false, other_reserved = false;
	for (unsigned k = 0; k < ndisks; k++) {
		other_reserved |= k != me && disks[k].pending != NULL; /* woken: it holds a slot */
		for (unsigned i = 0; i < NREQS; i++)
			flush_anywhere |=
			    disks[k].reqs[i].state == T_OUT && disks[k].reqs[i].req.op == BLK_OP_FLUSH;
	}
	/* Alone: nothing stops a read but the controller's depth (4 KiB reads stay far below fair_bytes). */
	bool alone = t->req.op == BLK_OP_READ && !other_active(me) && !other_reserved && !flush_anywhere &&
		     !ctl.busy && ctl.n < depth;
	d->submitted = true;
	d->last_ns = fake_timer_ns;
	d->woken = false; /* a refusal gives back a reservation; only a wake-up after it counts */
	t->state = T_OUT;
	t->ndone = 0;
	t->flush_seen = ctl.issued;
	t->req.done = owner_done;
	t->req.ctx = t;
	int rc = blkdev_submit(d->bdev, &t->req);
	CHECK(rc == 0 || rc == BLK_EBUSY);
	CHECK(rc == 0 || !alone); /* a disk alone keeps the whole depth */
	if (rc != 0) {
		CHECK(t->req.done == owner_done && t->req.ctx == t); /* untouched when refused */
		t->state = T_FREE;
		d->pending = t;
	} else if (d->pending == t) {
		d->pending = NULL;
	}
	return rc;
}

static void new_request(struct tdisk *d, bool flush)
{
	if (d->pending) { /* an owner keeps its order: the refused one goes first */
		submit(d, d->pending);
		return;
	}
	for (unsigned i = 0; i < NREQS; i++) {
		struct treq *t = &d->reqs[i];
		if (t->state != T_FREE)
			continue;
		t->seg = (struct blk_seg){pa_init(0x40000000), 4096};
		t->req = (struct blk_req){
		    .op = flush ? BLK_OP_FLUSH : BLK_OP_READ,
		    .sector = 8 * i,
		    .nsectors = flush ? 0 : 8,
		    .segs = flush ? NULL : &t->seg,
		    .nsegs = flush ? 0 : 1,
		};
		submit(d, t);
		return;
	}
}

static void cancel_one(struct tdisk *d, unsigned pick)
{
	struct treq *t = &d->reqs[pick % NREQS];
	if (t->state != T_OUT)
		return;
	int rc = blkdev_cancel(d->bdev, &t->req);
	CHECK(rc == 0);
	CHECK(t->ndone == 1); /* this fake (and a batched flush) completes at once */
}

static void unbusy(void)
{
	if (ctl.busy) {
		ctl.busy = false;
		blkdev_wake(&ctl.bdev); /* the controller's promise after BLK_EBUSY */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	memset(&ctl, 0, sizeof(ctl));
	memset(disks, 0, sizeof(disks));
	fake_timer_manual = true;
	fake_timer_ns = 1000000000u;
	depth = 1 + data[0] % 8;
	ndisks = 2 + data[1] % 2;
	share_depth = (data[1] >> 1) % 4; /* 0: none */
	ctl.bdev = (struct blkdev){
	    .name = "fake",
	    .nsectors = 1u << 20,
	    .block_size = 512,
	    .max_segs = 16,
	    .max_seg_size = 65536,
	    .max_sectors = 4096,
	    .flags = BLKDEV_F_FLUSH,
	    .queue_depth = depth,
	    .share_depth = share_depth,
	    .ops = &ctl_ops,
	};
	for (unsigned d = 0; d < ndisks; d++) {
		disks[d].bdev = share_open(&ctl.bdev, &ctl.bdev, "d");
		CHECK(disks[d].bdev != NULL);
		blkdev_set_wake(disks[d].bdev, owner_wake, &disks[d]);
		for (unsigned i = 0; i < NREQS; i++)
			disks[d].reqs[i].disk = d;
	}

	for (size_t i = 2; i + 1 < size && i < 4000; i += 2) {
		uint8_t op = data[i], arg = data[i + 1];
		struct tdisk *d = &disks[arg % ndisks];
		switch (op % 9) {
		case 0:
		case 1:
			new_request(d, false);
			break;
		case 2:
			new_request(d, true);
			break;
		case 3:
		case 4:
			if (ctl.n > 0)
				ctl_complete(arg % ctl.n, (op & 0x80) ? BLK_EIO : BLK_OK);
			break;
		case 5:
			cancel_one(d, arg / NDISKS);
			break;
		case 6:
			if (ctl.busy)
				unbusy();
			else
				ctl.busy = true;
			break;
		case 7:
			if (d->woken && d->pending) {
				d->woken = false;
				submit(d, d->pending);
			}
			break;
		case 8: /* time passes: up to ~2.5 activity windows */
			fake_timer_ns += (uint64_t)arg * (SHARE_ACTIVE_US / 100u) * 1000u;
			break;
		}
	}

	/* The input is over: owners retry whenever woken, the controller completes everything. */
	unbusy();
	for (unsigned guard = 0; guard < 100000; guard++) {
		bool progress = false;
		unsigned before = ctl.n;
		disks[0].bdev->ops->poll(disks[0].bdev); /* retries a FLUSH the controller refused */
		progress = ctl.n != before;
		for (unsigned k = 0; k < ndisks; k++) {
			struct tdisk *d = &disks[k];
			if (d->woken && d->pending) {
				d->woken = false;
				submit(d, d->pending);
				progress = true;
			}
		}
		if (ctl.n > 0) {
			ctl_complete(0, BLK_OK);
			progress = true;
		}
		if (!progress)
			break;
	}
	CHECK(ctl.n == 0);
	for (unsigned k = 0; k < ndisks; k++) {
		CHECK(disks[k].pending == NULL); /* every refused request ran: no lost wake-up */
		for (unsigned i = 0; i < NREQS; i++)
			CHECK(disks[k].reqs[i].state == T_FREE);
		share_close(disks[k].bdev);
	}
	return 0;
}
