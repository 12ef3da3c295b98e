/* Request FIFO with progress, contention window and chunk segments (see sdhci_chunk.h). */
#include "drivers/storage/sdhci_chunk.h"

#include "keel/addr.h"
#include "keel/util.h"

bool sdhci_queue_push(struct sdhci_queue *q, struct blk_req *req, uint32_t done)
{
	if (q->count >= SDHCI_QUEUE_MAX)
		return false;
	q->e[(q->head + q->count) % SDHCI_QUEUE_MAX] = (struct sdhci_queued){req, done};
	q->count++;
	return true;
}

bool sdhci_queue_pop(struct sdhci_queue *q, struct sdhci_queued *out)
{
	if (q->count == 0)
		return false;
	*out = q->e[q->head];
	q->head = (q->head + 1) % SDHCI_QUEUE_MAX;
	q->count--;
	return true;
}

struct blk_req *sdhci_queue_peek(const struct sdhci_queue *q)
{
	return q->count ? q->e[q->head].req : NULL;
}

bool sdhci_queue_remove(struct sdhci_queue *q, const struct blk_req *req)
{
	for (unsigned i = 0; i < q->count; i++) {
		if (q->e[(q->head + i) % SDHCI_QUEUE_MAX].req != req)
			continue;
		for (unsigned j = i; j + 1 < q->count; j++)
			q->e[(q->head + j) % SDHCI_QUEUE_MAX] = q->e[(q->head + j + 1) % SDHCI_QUEUE_MAX];
		q->count--;
		return true;
	}
	return false;
}

void sdhci_contend_note(struct sdhci_contend *c, const struct blk_req *req, uint64_t now_us)
{
	/* keel's own requests (the GPT read at boot, a share group's coalesced FLUSH) have no owner,
	 * and a flush moves no data on SD: neither is a second VM. */
	if (req->owner_ctx == NULL || req->op == BLK_OP_FLUSH)
		return;
	if (req->owner_ctx != c->last_owner) {
		if (c->last_owner != NULL || c->mixed_us != 0)
			c->mixed_us =
			    now_us ? now_us : 1; /* not the first submitter ever: a change of owner */
		c->last_owner = req->owner_ctx;
	}
}

bool sdhci_contended(const struct sdhci_contend *c, uint64_t now_us)
{
	return c->mixed_us != 0 && now_us - c->mixed_us < SDHCI_CONTEND_US;
}

void sdhci_pace_note(struct sdhci_pace *p, const void *owner, uint64_t start_us, uint64_t now_us)
{
	uint64_t took = now_us > start_us ? now_us - start_us : 0;
	p->owner = owner;
	p->until_us = now_us + MIN(took, (uint64_t)SDHCI_PACE_MAX_US);
}

bool sdhci_queue_pick(struct sdhci_queue *q, const struct sdhci_pace *p, uint64_t now_us)
{
	bool paused = now_us < p->until_us;
	for (unsigned i = 0; i < q->count; i++) {
		struct sdhci_queued e = q->e[(q->head + i) % SDHCI_QUEUE_MAX];
		if (paused && e.req->owner_ctx == p->owner)
			continue;
		/* To the head, the ones before it keeping their order. */
		for (unsigned j = i; j > 0; j--)
			q->e[(q->head + j) % SDHCI_QUEUE_MAX] = q->e[(q->head + j - 1) % SDHCI_QUEUE_MAX];
		q->e[q->head] = e;
		return true;
	}
	return false;
}

uint32_t sdhci_chunk_max(const struct sdhci_contend *c, const struct blk_req *req, uint32_t done,
			 uint64_t now_us)
{
	/* A request once split stays split: its owner is paced chunk by chunk. */
	if (!sdhci_contended(c, now_us) || (done == 0 && req->nsectors <= SDHCI_SPLIT_SECTORS))
		return 0;
	return SDHCI_CHUNK_SECTORS;
}

uint32_t sdhci_chunk_segs(const struct blk_req *req, uint32_t done, uint32_t max_sectors, struct blk_seg *out,
			  unsigned max_out, unsigned *nout)
{
	*nout = 0;
	if (done >= req->nsectors)
		return 0;
	uint64_t left = req->nsectors - done;
	uint32_t sectors = max_sectors && left > max_sectors ? max_sectors : (uint32_t)left;
	uint64_t skip = (uint64_t)done * BLK_SECTOR_SIZE, want = (uint64_t)sectors * BLK_SECTOR_SIZE;

	/* Bounded by the request's segment count (blkdev_submit checked it against max_segs). */
	for (unsigned i = 0; i < req->nsegs && want > 0; i++) {
		uint64_t len = req->segs[i].len;
		if (skip >= len) {
			skip -= len;
			continue;
		}
		if (*nout >= max_out) {
			*nout = 0;
			return 0;
		}
		uint64_t take = MIN(len - skip, want);
		out[(*nout)++] = (struct blk_seg){pa_add(req->segs[i].pa, skip), (uint32_t)take};
		want -= take;
		skip = 0;
	}
	if (want != 0) {
		*nout = 0;
		return 0;
	}
	return sectors;
}
