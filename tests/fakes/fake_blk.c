/* Block-request helpers for host tests (see fake_blk.h). */
#include "tests/fakes/fake_blk.h"

#include "keel/addr.h"

void rec_done(struct blk_req *req, int status)
{
	struct done_rec *r = req->ctx;
	r->calls++;
	r->status = status;
	r->req = req;
}

int blk_rw(struct blkdev *dev, enum blk_op op, uint64_t sector, void *buf, uint32_t bytes, struct done_rec *r)
{
	static struct blk_seg seg;
	static struct blk_req req;
	seg = (struct blk_seg){ptr_to_pa(buf), bytes};
	req = (struct blk_req){.op = op,
			       .sector = sector,
			       .nsectors = bytes / 512,
			       .segs = &seg,
			       .nsegs = bytes ? 1 : 0,
			       .done = rec_done,
			       .ctx = r};
	*r = (struct done_rec){0};
	return blkdev_submit(dev, &req);
}
