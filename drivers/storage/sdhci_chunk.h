/*
 * Fair turns on an SD controller, which runs one command at a time: the
 * driver's FIFO of waiting requests, each with how far it has got, and the
 * chunks a large request is served in while another VM waits. Pure code, no
 * register access: host-testable.
 *
 * A request is served as one command when its owner is alone on the
 * controller. When another owner has submitted within SDHCI_CONTEND_US, a
 * request above SDHCI_SPLIT_SECTORS moves as commands of at most
 * SDHCI_CHUNK_SECTORS; after each chunk
 * it goes back to the tail of the FIFO with its progress, so a neighbour's
 * request waits behind at most one chunk, not behind a whole 1 MiB request.
 * And paced by time: after a chunk that took t, its owner's next command waits
 * t (others go first), so one owner holds the controller at most about half of
 * the time while it is shared. (QEMU's model moves the data inside the register
 * write that starts a command, holding its global lock, which every vCPU needs:
 * back-to-back chunks would starve the neighbour's vCPU itself.)
 * Splitting stays inside the driver: the request keeps its size and segment
 * list for the layers above, and completes once.
 */
#ifndef KEEL_DRIVERS_SDHCI_CHUNK_H
#define KEEL_DRIVERS_SDHCI_CHUNK_H

#include "drivers/storage/blkdev.h"

#define SDHCI_QUEUE_MAX	    256u     /**< requests held per controller (two VMs' full virtio queues) */
#define SDHCI_CHUNK_SECTORS 64u	     /**< 32 KiB: ~7 ms of an emulated card at 5 MB/s */
#define SDHCI_SPLIT_SECTORS 128u     /**< a request up to 64 KiB goes whole (a neighbour's usual I/O) */
#define SDHCI_CONTEND_US    5000000u /**< another owner's submit within this: requests are chunked */

/** A waiting request and the sectors of it already moved (0: not started). */
struct sdhci_queued {
	struct blk_req *req;
	uint32_t done;
};

/** FIFO of waiting requests (the host's lock protects it). */
struct sdhci_queue {
	struct sdhci_queued e[SDHCI_QUEUE_MAX];
	unsigned head, count;
};

/** Append req with its progress. False when the queue is full. */
bool sdhci_queue_push(struct sdhci_queue *q, struct blk_req *req, uint32_t done);

/** Take the oldest entry into *out. False when empty. */
bool sdhci_queue_pop(struct sdhci_queue *q, struct sdhci_queued *out);

/** The oldest entry's request, NULL when empty. */
struct blk_req *sdhci_queue_peek(const struct sdhci_queue *q);

/** Remove req (keeping the others' order). False when req is not queued. */
bool sdhci_queue_remove(struct sdhci_queue *q, const struct blk_req *req);

/**
 * Who has used the controller lately: the last submitter's owner (blk_req.owner_ctx) and when
 * another owner last submitted. sdhci_contend_note on every submit (requests without an owner and
 * flushes do not count); sdhci_contended says whether requests are chunked now.
 */
struct sdhci_contend {
	const void *last_owner;
	uint64_t mixed_us; /* 0: never */
};

void sdhci_contend_note(struct sdhci_contend *c, const struct blk_req *req, uint64_t now_us);
bool sdhci_contended(const struct sdhci_contend *c, uint64_t now_us);

/** Most sectors req's next command moves, `done` of it moved already: 0 means all the rest. */
uint32_t sdhci_chunk_max(const struct sdhci_contend *c, const struct blk_req *req, uint32_t done,
			 uint64_t now_us);

/** The owner whose next command waits (pacing), and until when. */
struct sdhci_pace {
	const void *owner;
	uint64_t until_us;
};

#define SDHCI_PACE_MAX_US 50000u /**< longest pause (a chunk slowed by retries pauses no longer) */

/** A chunk of owner's request ran from start_us to now_us: its next command waits as long. */
void sdhci_pace_note(struct sdhci_pace *p, const void *owner, uint64_t start_us, uint64_t now_us);

/**
 * Bring to the head of q the oldest request that may start at now_us (one not of the paced
 * owner while its pause lasts). False when there is none (the queue empty or all paced).
 */
bool sdhci_queue_pick(struct sdhci_queue *q, const struct sdhci_pace *p, uint64_t now_us);

/**
 * The piece of req's data from sector `done` on, at most max_sectors (0: all the rest): its
 * segments (sub-ranges of req->segs, split where the piece starts or ends inside one) into out
 * (max_out entries), their count into *nout. Returns the piece's sectors; 0 when done is not
 * inside the request, the segments do not add up to it, or out is too small.
 */
uint32_t sdhci_chunk_segs(const struct blk_req *req, uint32_t done, uint32_t max_sectors, struct blk_seg *out,
			  unsigned max_out, unsigned *nout);

#endif
