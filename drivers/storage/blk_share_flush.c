/*
 * Flush coalescing for the share groups (see drivers/storage/blk_share.h): at most one device FLUSH
 * at the controller; flushes arriving meanwhile form the next batch, issued as one FLUSH.
 */
#include "arch/spinlock.h"
#include "arch/timer.h"
#include "drivers/storage/blk_share_priv.h"

static void flush_entry_put(struct share_flush *f)
{
	struct share_client *c = f->c;
	c->nflush--;
	f->req = NULL;
	f->next = c->flush_free;
	c->flush_free = f;
}

/* Complete a detached list of batched flushes with status, freeing each entry before its done. */
static void complete_flushes(struct share_group *g, struct share_flush *f, int status)
{
	while (f != NULL) {
		spin_lock(&g->lock);
		struct share_flush *next = f->next;
		struct blk_req *req = f->req;
		flush_entry_put(f);
		spin_unlock(&g->lock);
		req->done(req, status);
		f = next;
	}
}

static void group_flush_done(struct blk_req *req, int status);

/*
 * Issue the waiting batch as one device FLUSH, if none is at the controller and the group has a
 * slot. The batch is fixed when the FLUSH is issued: later flushes wait for the next one.
 */
void share_flush_try_issue(struct share_group *g)
{
	spin_lock(&g->lock);
	/* Reservations do not hold a FLUSH back: one a disk never comes to use would hold it forever. */
	if (g->flush_busy || g->next == NULL || g->inflight >= g->depth) {
		spin_unlock(&g->lock);
		return;
	}
	g->cur = g->next;
	g->next = g->next_tail = NULL;
	g->flush_busy = true;
	g->inflight++;
	g->device_flushes++;
	/* Alternate: this may run inside the previous one's done, which its driver may still be in. */
	struct blk_req *freq = &g->flush_reqs[g->device_flushes & 1];
	spin_unlock(&g->lock);

	*freq = (struct blk_req){.op = BLK_OP_FLUSH, .done = group_flush_done, .ctx = g};
	int rc = blkdev_submit(g->whole, freq);
	if (rc == 0)
		return;

	spin_lock(&g->lock);
	struct share_flush *batch = g->cur;
	g->cur = NULL;
	g->flush_busy = false;
	g->inflight--;
	g->device_flushes--;
	if (rc == BLK_EBUSY) {
		/* Back in front of the waiting batch; the next completion, submit or poll retries. */
		struct share_flush *tail = batch;
		while (tail->next != NULL)
			tail = tail->next;
		tail->next = g->next;
		if (g->next == NULL)
			g->next_tail = tail;
		g->next = batch;
		spin_unlock(&g->lock);
		return;
	}
	spin_unlock(&g->lock);
	complete_flushes(g, batch, rc);
	share_wake_waiters(g, timer_us());
}

static void group_flush_done(struct blk_req *req, int status)
{
	struct share_group *g = req->ctx;

	spin_lock(&g->lock);
	struct share_flush *batch = g->cur;
	g->cur = NULL;
	g->flush_busy = false;
	g->inflight--;
	spin_unlock(&g->lock);
	share_flush_try_issue(g); /* the batch that waited, before its members can add to it */
	complete_flushes(g, batch, status);
	share_wake_waiters(g, timer_us());
}

int share_flush_submit(struct share_client *c, struct blk_req *req)
{
	struct share_group *g = c->g;

	uint64_t now = timer_us();
	spin_lock(&g->lock);
	c->submitted = true;
	c->last_submit_us = now;
	struct share_flush *f = c->flush_free;
	if (f == NULL) {
		share_refuse(g, c); /* SHARE_FLUSHES of its flushes wait: their completion wakes it */
		spin_unlock(&g->lock);
		return BLK_EBUSY;
	}
	if (c->reserved) { /* a submit: the reservation is used up */
		c->reserved = false;
		g->reserved--;
	}
	c->flush_free = f->next;
	c->nflush++;
	c->st.admitted++;
	f->req = req;
	f->next = NULL;
	if (g->next != NULL) {
		c->st.coalesced++;
		g->next_tail->next = f;
	} else {
		g->next = f;
	}
	g->next_tail = f;
	spin_unlock(&g->lock);
	share_flush_try_issue(g);
	return 0;
}

/* Unlink req's entry from list *head (tail updated when given). Lock held. */
static struct share_flush *flush_unlink(struct share_flush **head, struct share_flush **tail,
					const struct share_client *c, const struct blk_req *req)
{
	struct share_flush *prev = NULL;

	for (struct share_flush *f = *head; f != NULL; prev = f, f = f->next) {
		if (f->req != req || f->c != c)
			continue;
		if (prev)
			prev->next = f->next;
		else
			*head = f->next;
		if (tail && *tail == f)
			*tail = prev;
		return f;
	}
	return NULL;
}

/* A flush moves no data: dropping it from its batch is a complete abort. */
int share_flush_cancel(struct share_client *c, struct blk_req *req)
{
	struct share_group *g = c->g;

	spin_lock(&g->lock);
	struct share_flush *f = flush_unlink(&g->next, &g->next_tail, c, req);
	if (f == NULL)
		f = flush_unlink(&g->cur, NULL, c, req);
	if (f == NULL) {
		spin_unlock(&g->lock);
		return BLK_EINVAL; /* already completed */
	}
	flush_entry_put(f);
	spin_unlock(&g->lock);
	req->done(req, BLK_ECANCELED);
	share_wake_waiters(g, timer_us());
	return 0;
}
