/*
 * Block-request helpers for host tests of block devices (partitions, RAM
 * disks, shares): a done callback that records its calls, and a one-segment
 * read or write submitted in one call.
 */
#ifndef KEEL_TESTS_FAKE_BLK_H
#define KEEL_TESTS_FAKE_BLK_H

#include "drivers/storage/blkdev.h"

/** What a request's done said: how often it was called, the last status, and for which request. */
struct done_rec {
	int calls;
	int status;
	struct blk_req *req;
};

/** A blk_req done callback: req->ctx is a struct done_rec. */
void rec_done(struct blk_req *req, int status);

/**
 * Submit op on [sector, sector + bytes / 512) of dev with buf as its one segment (none when bytes is
 * 0), done into *r (cleared first); returns blkdev_submit's answer. The request lives in static
 * storage: one at a time, and it stays valid until the next call.
 */
int blk_rw(struct blkdev *dev, enum blk_op op, uint64_t sector, void *buf, uint32_t bytes,
	   struct done_rec *r);

#endif
