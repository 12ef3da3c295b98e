/*
 * Internal to virtio-blk: shared by virtio_blk.c (slots, completion, the pump) and
 * virtio_blk_parse.c (request parsing) and virtio_blk_poll.c (completion polling). Unless said
 * otherwise, functions taking a struct vblk_queue run with that queue's lock held (bq->lock), and
 * those taking only the device need no lock.
 */
#ifndef KEEL_VDEV_VIRTIO_BLK_INT_H
#define KEEL_VDEV_VIRTIO_BLK_INT_H

#include "vdev/virtio/virtio_blk.h"

/* The last device-writable byte: where the status goes. The chain has writable_len >= 1. */
static inline paddr_t last_writable_byte(const struct virtq_chain *c)
{
	const struct virtq_buf *b = &c->bufs[c->nbufs - 1];
	return pa_add(b->pa, b->len - 1);
}

/** Write a request's status byte (guest memory the device checked is inside the VM's RAM). */
static inline void vblk_write_status(paddr_t pa, uint8_t status)
{
	*(volatile uint8_t *)pa_to_ptr(pa) = status;
}

/** The queue a slot belongs to (its ring, its lock). */
static inline struct vblk_queue *vblk_queue_of(struct virtio_blk *d, const struct virtio_blk_slot *s)
{
	return &d->queues[s->q];
}

/**
 * Take bq's lock; a CPU that finds it held (another vCPU's pass, a completion finishing its list)
 * waits, and counts the wait and its time (stats.lock_waits, lock_wait_us): the contention
 * multi-queue devices are measured by. The clock is read only when the lock was held.
 */
void vblk_lock(struct vblk_queue *bq);
/**
 * Release bq's lock, then finish the completions left to its holder meanwhile (vblk_drain_done).
 * Every holder releases it so: a completion left behind waits for the next release otherwise.
 */
void vblk_unlock(struct vblk_queue *bq);

/* --- request slots (virtio_blk_slots.c) --- */

#define SLOT_NONE 0xffffu
enum slot_state { SLOT_FREE, SLOT_PENDING, SLOT_INFLIGHT };

uint16_t vblk_slot_index(const struct virtio_blk *d, const struct virtio_blk_slot *s);
/** A free slot, PENDING; the pump checked that one exists (panics otherwise: a keel bug). */
struct virtio_blk_slot *vblk_slot_alloc(struct vblk_queue *bq);
void vblk_slot_free(struct vblk_queue *bq, struct virtio_blk_slot *s);
/** The pending list: parsed requests awaiting (re)submission, in order. */
void vblk_pending_push_back(struct vblk_queue *bq, struct virtio_blk_slot *s);
void vblk_pending_push_front(struct vblk_queue *bq, struct virtio_blk_slot *s);
struct virtio_blk_slot *vblk_pending_pop_front(struct vblk_queue *bq);
/** Drop the requests that never reached the backend (nothing of them touched the disk). */
void vblk_drop_pending(struct vblk_queue *bq);
/**
 * Ask the backend to abort every in-flight request not yet cancelled (orphans included), once.
 * Called WITHOUT any lock: done may run inside blkdev_cancel. The slots stay INFLIGHT until their
 * done, and nothing is popped meanwhile (resetting or quiescing), so none is reused under us.
 */
void vblk_cancel_in_flight(struct virtio_blk *d);
/** Let the backend reap what it finished, if it can be polled (any context, no lock held). */
static inline void vblk_poll_backend(struct virtio_blk *d)
{
	if (d->bdev->ops->poll)
		d->bdev->ops->poll(d->bdev);
}
/**
 * virtio_dev_ops.reset: the driver wrote 0 to Status. Cancels what is in flight, waits for it by
 * time (VIRTIO_BLK_RESET_WAIT_US), then orphans what remains (virtio_blk_reset.c).
 */
void vblk_reset(struct virtio_mmio *t);

/* --- completion (virtio_blk.c, virtio_blk_done.c) --- */

/**
 * Lock held. Finish what the backend completed for s with rc: the status and used entry, a
 * follow-up part queued for the owner's vCPU, the interrupt decision. Never pops, parses or
 * submits. Adds to *kick (a bit per vCPU index) the vCPUs to ask for work once the lock is released.
 */
void vblk_complete_locked(struct vblk_queue *bq, struct virtio_blk_slot *s, int rc, uint32_t *kick);
/**
 * blk_req.done (completion context: any CPU's interrupt handler, any vCPU's polling, maybe another
 * VM's, or the backend's submit). Never waits for a lock: s goes on its queue's done_list, finished
 * here if that queue's lock is free, else by its holder when it releases it (virtio_blk_done.c).
 */
void vblk_req_done(struct blk_req *req, int rc);
/** Finish the completions on bq->done_list if its lock is free (lock NOT held); kicks outside it. */
void vblk_drain_done(struct vblk_queue *bq);

/** Queue a parsed request (s->req filled in) on the pending list, to be submitted by the pump. */
void vblk_queue_slot(struct vblk_queue *bq, struct virtio_blk_slot *s, const struct virtq_chain *c,
		     uint32_t type, uint32_t used_len_ok, uint32_t used_len_err);
/** Complete a request that never reached the backend: status byte and used entry. */
void vblk_complete_now(struct vblk_queue *bq, const struct virtq_chain *c, uint8_t status, uint32_t used_len);
/** Push a used entry on bq's ring (ready) and note that an interrupt decision is due. */
void vblk_push_used(struct vblk_queue *bq, uint16_t head, uint32_t len);
/** Parse one popped chain: complete it at once or queue a slot for the backend. */
void vblk_handle_chain(struct vblk_queue *bq, const struct virtq_chain *c);
/**
 * Answer a chain virtq_pop refused but walked to its end (its answer rule): IOERR in the status
 * byte, or DEVICE_NEEDS_RESET (returns false: the queue stopped), or an untouched used entry when
 * the chain has nothing device-writable. Lock held.
 */
bool vblk_answer_bad_chain(struct vblk_queue *bq, const struct virtq_chain *c, const char *why);
/** The transport's features_ok op: BLK_SIZE is required when blocks are larger than 512 bytes and
 * the disk has no bounce buffer for sub-block I/O. */
bool vblk_features_ok(struct virtio_mmio *t, uint64_t features);
/**
 * At the end of a notify's pump (lock held): is exactly one request in flight, and is it to be
 * polled (the measured choice, its size class's estimate)? Its size class, or -1: no poll.
 */
int vblk_lone_poll_due(struct vblk_queue *bq);
/**
 * Lock held, before a submission: judge the lone request the measured choice left unpolled, if one
 * awaits (did the guest wait for it before adding this one?).
 */
void vblk_lone_judge(struct vblk_queue *bq);
/**
 * After that notify's pump said yes (the VM's own vCPU, lock NOT held): poll the backend for the lone
 * request of size class c up to d->poll_us (virtio_blk_params.poll_us). Completions it reaps, this
 * disk's or other VMs', go through their req_done like any completion.
 */
void vblk_poll_lone_request(struct vblk_queue *bq, unsigned c);
/* --- the interrupt decision (virtio_blk_irq.c) --- */

/** Deliver the interrupt coalescing held back, if any (lock held). */
void vblk_release_irq(struct vblk_queue *bq);
/**
 * Used entries were added since the last decision: interrupt the guest now, or hold the interrupt
 * back while it is busy (coalescing; the release is asked for with vm_defer_work).
 */
void vblk_flush_irq(struct vblk_queue *bq);
/**
 * On the VM's own vCPU (the pump): deliver a held interrupt once a vCPU idles or its time is up
 * (coalesce_us; VIRTIO_BLK_HOLD_STRETCH times that while it carries fewer than
 * VIRTIO_BLK_HOLD_BATCH used entries); otherwise make sure the deferred work still comes.
 */
void vblk_release_due(struct vblk_queue *bq);

/**
 * Make s (parsed, segs[0..nsegs) holding all of its data) a split request of nsectors from sector:
 * its parts are built by vblk_split_next before each submission (split_due).
 */
void vblk_split_start(struct virtio_blk_slot *s, unsigned nsegs, uint64_t sector, uint64_t nsectors);
/**
 * Build s->req as the next part (after the one just done, if any): as many of the remaining
 * segments as the backend takes in one request (max_sectors, seg_max), cut to whole blocks. False,
 * with a guest-error log line, when no part can be built (seg_max segments hold less than a block).
 */
bool vblk_split_next(struct vblk_queue *bq, struct virtio_blk_slot *s);
/** s is a split request with parts not yet built (the current one is not its last). */
bool vblk_split_more(const struct virtio_blk_slot *s);

/* --- set-up (virtio_blk_setup.c) --- */

/** b's limits and block size are ones virtio-blk can serve. */
bool vblk_backend_usable(const struct blkdev *b);
/** Fill d->config (d->bdev, d->seg_max, d->read_only set) and return the device features to offer. */
uint64_t vblk_setup_config(struct virtio_blk *d);
/** Initialise queue q of the nq the device offers (q < VIRTIO_BLK_MAX_QUEUES; none past nq): its lock,
 * its empty lists, and its equal share of d->slots (the first queues one more when they do not divide). */
void vblk_queue_init(struct virtio_blk *d, unsigned q, unsigned nq);

/* --- sub-block requests through the bounce buffer (virtio_blk_rmw.c) --- */

/** Set up the bounce buffer from p->bounce when the backend's blocks exceed 512 bytes (init). */
void vblk_rmw_init(struct virtio_blk *d, const struct virtio_blk_params *p);
/** Sub-block requests can be served (a bounce buffer that holds at least one block). */
bool vblk_rmw_available(const struct virtio_blk *d);
/**
 * Make the parsed s (segs[0..nsegs) holding the guest's data) a sub-block request of nsectors
 * from sector; the pump runs its phases (rmw_due) once it may start (vblk_rmw_may_submit).
 */
void vblk_rmw_start(struct vblk_queue *bq, struct virtio_blk_slot *s, unsigned nsegs, uint64_t sector,
		    uint64_t nsectors);
/**
 * May the pump submit s now? Not while a sub-block request holds the disk (the gate, from any
 * queue); a sub-block request claims the gate, then starts once nothing else of the disk is in
 * flight. True: s is counted in flight (d->inflight_total) until vblk_inflight_done. False: the
 * pump puts s back at the front and stops; whatever ends the wait (the disk drained, the gate
 * released) asks this queue for work.
 */
bool vblk_rmw_may_submit(struct vblk_queue *bq, struct virtio_blk_slot *s);

enum vblk_rmw_step { VBLK_RMW_SUBMIT, VBLK_RMW_DONE };
/**
 * The owner's phase just done (or none yet): copy what it read to the guest or merge the guest's
 * bytes, then build s->req as the next phase (SUBMIT), or report the request complete (DONE).
 */
enum vblk_rmw_step vblk_rmw_next(struct vblk_queue *bq, struct virtio_blk_slot *s);
/** s (rmw) has phases or copies left to run on the owner's vCPU. */
bool vblk_rmw_more(const struct virtio_blk *d, const struct virtio_blk_slot *s);
/** s is being freed: if it owned the disk (the gate) and the bounce buffer, release them and ask the
 * queues that stopped for it for work. */
void vblk_rmw_release(struct virtio_blk *d, const struct virtio_blk_slot *s);
/**
 * A request submitted with vblk_rmw_may_submit's leave is no longer in flight (completed, or its
 * submission refused). Any lock or none. When the disk drains for a claimed sub-block request, its
 * queue is asked for work.
 */
void vblk_inflight_done(struct virtio_blk *d, uint32_t n);
/** Nothing of the disk may be in flight any more (the count reached zero, or the last orphan of a
 * reset completed): a sub-block request that claimed the disk and waits to start is asked to. */
void vblk_rmw_drained(struct virtio_blk *d);
/** Ask bq's vCPU (the one that last notified it) for work. Any context. */
void vblk_request_work(struct vblk_queue *bq);
/** Queue lock held: a broken ring; DEVICE_NEEDS_RESET until the driver resets the device (takes the
 * transport's lock, after the queue's: the lock order). */
void vblk_needs_reset(struct vblk_queue *bq, const char *why);

#endif
