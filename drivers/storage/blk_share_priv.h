/*
 * Internals shared by blk_share.c (admission, wake-up, clients) and blk_share_flush.c (flush
 * coalescing). Nothing else includes this.
 */
#ifndef KEEL_DRIVERS_BLK_SHARE_PRIV_H
#define KEEL_DRIVERS_BLK_SHARE_PRIV_H

#include "arch/spinlock.h"
#include "drivers/storage/blk_share.h"

struct share_group;

/* A flush waiting in a batch: the caller's request stays untouched until its done. */
struct share_flush {
	struct blk_req *req;
	struct share_client *c;
	struct share_flush *next;
};

struct share_client {
	struct blkdev bdev; /* what the VM disk is given */
	struct blkdev *target;
	struct share_group *g;
	bool used;
	/* Under g->lock: */
	bool waiting;		 /* refused with BLK_EBUSY and not woken since */
	bool reserved;		 /* woken: holds one of g->reserved until its next submit */
	uint32_t inflight;	 /* its requests at the controller (not its batched flushes) */
	uint64_t inflight_bytes; /* data bytes of those (reads and writes) */
	uint32_t nflush;	 /* its flushes in a batch */
	bool submitted;		 /* has submitted at least once (last_submit_us is valid) */
	uint64_t last_submit_us; /* timer_us() of its last submit, admitted or not */
	uint64_t mpidr;		 /* the CPU of its last submit (its VM's vCPU) */
	struct share_flush *flush_free;
	struct share_stats st;
	struct share_flush flushes[SHARE_FLUSHES];
	char name[SHARE_NAME_SIZE];
};

struct share_group {
	struct blkdev *whole;
	bool used;
	uint32_t depth;
	uint32_t fair_bytes;  /* data bytes in flight the controller should hold, all clients together */
	uint32_t share_depth; /* most requests per client while several are active */
	struct spinlock lock; /* guards everything below and the clients' state */
	uint32_t nclients;
	struct share_client *clients[SHARE_MAX_CLIENTS];
	uint32_t inflight;	 /* requests at the controller, the group's flush included */
	uint32_t reserved;	 /* slots held for woken clients */
	unsigned rr_next;	 /* where the next wake-up scan starts: after the last client woken */
	bool flush_busy;	 /* a device FLUSH is at the controller */
	struct share_flush *cur; /* completed by the flush at the controller */
	struct share_flush *next, *next_tail; /* waiting for the next one */
	uint64_t device_flushes;
	/* The controller's interrupt follows the client with the most requests at it (route_follow). */
	uint32_t intid;			     /* whole->intid; 0: polled, nothing to route */
	const struct share_client *route_to; /* who it was last routed for (NULL: nobody yet) */
	uint64_t route_mpidr;		     /* where it goes (valid once route_to was set) */
	uint64_t reroutes;		     /* times it moved */
	struct blk_req flush_reqs[2];	     /* the device FLUSH, two in turn */
};

/** c was refused: it waits (and gives back a reservation it did not use). Lock held. */
void share_refuse(struct share_group *g, struct share_client *c);

/** Wake the waiting clients that can now be admitted (round-robin). Lock not held. */
void share_wake_waiters(struct share_group *g, uint64_t now);

/** Issue the waiting flush batch as one device FLUSH if none is at the controller and a slot is free. */
void share_flush_try_issue(struct share_group *g);

/** Add a client's flush to the waiting batch (BLK_EBUSY when SHARE_FLUSHES of its own wait). */
int share_flush_submit(struct share_client *c, struct blk_req *req);

/** Drop a client's batched flush, completing it with BLK_ECANCELED; BLK_EINVAL if it is not there. */
int share_flush_cancel(struct share_client *c, struct blk_req *req);

#endif
