/* Fair shares of a storage controller among VM disks (see drivers/storage/blk_share.h). */
#include "drivers/storage/blk_share.h"

#include "arch/cpu.h"
#include "arch/spinlock.h"
#include "arch/timer.h"
#include "core/irq.h"
#include "drivers/storage/blk_share_priv.h"
#include "keel/log.h"
#include "keel/util.h"

static struct share_group groups[SHARE_MAX_GROUPS];
static struct share_client clients[SHARE_MAX_CLIENTS];
static struct spinlock pool_lock = SPINLOCK_INIT;

/*
 * Active: has work at the controller, batched or refused (waiting), or submitted within
 * SHARE_ACTIVE_US. A QD1 guest has nothing in flight between two requests; the window keeps it
 * counted. A woken disk that never comes back to use its reservation stops counting after the window.
 * Lock held.
 */
static bool client_active(const struct share_client *c, uint64_t now)
{
	return c->inflight > 0 || c->nflush > 0 || c->waiting ||
	       (c->submitted && now - c->last_submit_us < SHARE_ACTIVE_US);
}

/* How many clients are active now (the divisor of the shares). Lock held. */
static unsigned active_clients(const struct share_group *g, uint64_t now)
{
	unsigned n = 0;
	for (unsigned i = 0; i < SHARE_MAX_CLIENTS; i++)
		if (g->clients[i] != NULL && client_active(g->clients[i], now))
			n++;
	return n;
}

/* A client's share of requests: the whole depth alone, else depth / active capped at share_depth. */
static uint32_t share_of(const struct share_group *g, unsigned nactive)
{
	if (nactive <= 1)
		return g->depth;
	return MAX(MIN(g->depth / nactive, g->share_depth), 1u);
}

/*
 * A client's share of the data bytes in flight: fair_bytes among the active clients, whenever another
 * disk is open (an idle neighbour's next request waits behind at most fair_bytes, however long it
 * was quiet); a client that is the controller's only disk is not limited by bytes.
 */
static uint64_t byte_share_of(const struct share_group *g, unsigned nactive)
{
	return g->nclients > 1 ? g->fair_bytes / MAX(nactive, 1u) : UINT64_MAX;
}

/* Data bytes a request moves at the controller (what a neighbour waits behind). */
static uint64_t req_bytes(const struct blk_req *req)
{
	return req->op == BLK_OP_READ || req->op == BLK_OP_WRITE ? req->nsectors * BLK_SECTOR_SIZE : 0;
}

/*
 * May c put one more request of `bytes` at the controller now? Within its share of requests and of
 * data bytes in flight (a client with nothing in flight may always send one request, so large
 * requests still go), and the group within its depth. Lock held.
 */
static bool can_admit(const struct share_group *g, const struct share_client *c, uint64_t bytes,
		      unsigned nactive)
{
	uint32_t others_reserved = g->reserved - (c->reserved ? 1u : 0u);
	bool bytes_ok = c->inflight_bytes == 0 || c->inflight_bytes + bytes <= byte_share_of(g, nactive);
	return c->inflight < share_of(g, nactive) && bytes_ok && g->inflight + others_reserved < g->depth;
}

void share_refuse(struct share_group *g, struct share_client *c)
{
	if (c->reserved) {
		c->reserved = false;
		g->reserved--;
	}
	c->waiting = true;
	c->st.refused++;
}

/*
 * Pick the waiting clients that can now be admitted, round-robin after the last one woken, each
 * with a reserved slot so that a busier neighbour cannot take it first. Lock held; returns how
 * many were put in woken (call wake_clients after unlocking).
 */
static unsigned collect_wakeups(struct share_group *g, struct share_client **woken, uint64_t now)
{
	unsigned n = 0;
	bool any = false;
	for (unsigned i = 0; i < SHARE_MAX_CLIENTS && !any; i++)
		any = g->clients[i] != NULL && g->clients[i]->waiting;
	if (!any)
		return 0; /* the common case, on every completion: nobody to wake, no shares to compute */
	unsigned nactive = active_clients(g, now);
	uint32_t share = share_of(g, nactive);
	uint64_t bshare = byte_share_of(g, nactive);

	for (unsigned k = 0; k < SHARE_MAX_CLIENTS; k++) {
		unsigned i = (g->rr_next + k) % SHARE_MAX_CLIENTS;
		struct share_client *c = g->clients[i];
		if (c == NULL || !c->waiting || c->inflight >= share || c->inflight_bytes >= bshare)
			continue;
		if (g->inflight + g->reserved >= g->depth)
			break;
		c->waiting = false;
		c->st.woken++;
		g->rr_next = (i + 1) % SHARE_MAX_CLIENTS;
		if (c->bdev.wake == NULL)
			continue; /* nobody to wake: hold no slot for it (its own completions resume it) */
		c->reserved = true;
		g->reserved++;
		woken[n++] = c;
	}
	return n;
}

static void wake_clients(struct share_client **woken, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		blkdev_wake(&woken[i]->bdev);
}

void share_wake_waiters(struct share_group *g, uint64_t now)
{
	struct share_client *woken[SHARE_MAX_CLIENTS];

	spin_lock(&g->lock);
	unsigned n = collect_wakeups(g, woken, now);
	spin_unlock(&g->lock);
	wake_clients(woken, n);
}

/*
 * The controller's interrupt goes to the CPU of the client with the most requests at it: the VM that
 * loads the controller takes its completions on its own CPU, and a quiet neighbour's CPU is
 * interrupted only for (about) its own. c was just admitted, on its own CPU. It moves only when c has
 * more at the controller than the client it follows now (no ping-pong between equals). Lock held
 * (so two CPUs never write the route in the opposite order of their decisions).
 */
static void route_follow(struct share_group *g, struct share_client *c)
{
	const struct share_client *r = g->route_to;

	if (g->intid == 0 || (r != NULL && r != c && c->inflight <= r->inflight))
		return;
	bool moved = r == NULL || g->route_mpidr != c->mpidr;
	g->route_to = c;
	if (!moved)
		return;
	g->route_mpidr = c->mpidr;
	g->reroutes++;
	irq_route(g->intid, c->mpidr);
}

static void share_done(struct blk_req *req, int status)
{
	struct share_client *c = req->ctx;
	struct share_group *g = c->g;

	req->done = req->stack_done;
	req->ctx = req->stack_ctx;
	/* The driver's clock of this completion pass, else one read here. */
	uint64_t now = req->done_us ? req->done_us : timer_us();
	uint64_t lat = now - req->stack_t0;
	spin_lock(&g->lock);
	c->inflight--;
	c->inflight_bytes -= req_bytes(req);
	g->inflight--;
	c->st.done++;
	c->st.lat_sum_us += lat;
	c->st.lat_max_us = MAX(c->st.lat_max_us, lat);
	spin_unlock(&g->lock);
	share_flush_try_issue(g);
	share_wake_waiters(g, now);
	req->done(req, status);
}

static int share_submit(struct blkdev *dev, struct blk_req *req)
{
	struct share_client *c = dev->priv;
	struct share_group *g = c->g;

	share_flush_try_issue(g); /* a batch the controller refused earlier */
	if (req->op == BLK_OP_FLUSH)
		return share_flush_submit(c, req);

	uint64_t bytes = req_bytes(req);
	uint64_t now = timer_us();
	spin_lock(&g->lock);
	c->submitted = true;
	c->last_submit_us = now;
	c->mpidr = cpu_mpidr();
	/* The controller's only disk has the whole depth and no byte share: no need to count. */
	unsigned nactive = g->nclients > 1 ? active_clients(g, now) : 1u;
	if (!can_admit(g, c, bytes, nactive)) {
		share_refuse(g, c);
		struct share_client *woken[SHARE_MAX_CLIENTS];
		unsigned n = collect_wakeups(g, woken, now); /* a reservation it gave back */
		spin_unlock(&g->lock);
		wake_clients(woken, n);
		return BLK_EBUSY;
	}
	if (c->reserved) {
		c->reserved = false;
		g->reserved--;
	}
	/* Admitted: it waits no more (its owner retries refused requests first, in order). A stale
	 * waiting flag would later reserve a slot for a disk with nothing to submit. */
	c->waiting = false;
	c->inflight++;
	c->inflight_bytes += bytes;
	g->inflight++;
	c->st.admitted++;
	route_follow(g, c);
	spin_unlock(&g->lock);

	req->stack_done = req->done;
	req->stack_ctx = req->ctx;
	req->stack_t0 = now;
	req->submit_us = now; /* the device below need not read the clock again */
	req->done_us = 0;
	req->done = share_done;
	req->ctx = c;
	int rc = blkdev_submit(c->target, req);
	/* On success req may already be completed (done inside submit): do not touch it. */
	if (rc == 0)
		return 0;
	req->done = req->stack_done;
	req->ctx = req->stack_ctx;

	struct share_client *woken[SHARE_MAX_CLIENTS];
	spin_lock(&g->lock);
	c->inflight--;
	c->inflight_bytes -= bytes;
	g->inflight--;
	c->st.admitted--;
	unsigned n = collect_wakeups(g, woken, now);
	if (rc == BLK_EBUSY) {
		/* After the scan: the controller is full; its wake-up or a completion resumes it. */
		c->waiting = true;
		c->st.refused++;
	}
	spin_unlock(&g->lock);
	wake_clients(woken, n);
	return rc;
}

static int share_cancel(struct blkdev *dev, struct blk_req *req)
{
	struct share_client *c = dev->priv;

	if (req->op != BLK_OP_FLUSH)
		return blkdev_cancel(c->target, req); /* at the controller: its done runs share_done */
	return share_flush_cancel(c, req);
}

/* Hinted requests went to the target unchanged (the hint travels in req): end the batch there. */
static void share_commit(struct blkdev *dev)
{
	struct share_client *c = dev->priv;

	blkdev_commit(c->target);
}

static void share_poll(struct blkdev *dev)
{
	struct share_client *c = dev->priv;

	if (c->target->ops->poll)
		c->target->ops->poll(c->target);
	share_flush_try_issue(c->g);
}

static bool share_completion_ready(struct blkdev *dev)
{
	struct share_client *c = dev->priv;
	return c->target->ops->completion_ready(c->target);
}

static void share_report(struct blkdev *dev)
{
	struct share_client *c = dev->priv;
	struct share_group *g = c->g;

	spin_lock(&g->lock);
	struct share_stats st = c->st;
	uint32_t nclients = g->nclients;
	/* The shares that apply while every open disk is active. */
	uint32_t share = share_of(g, nclients);
	uint64_t bshare = byte_share_of(g, nclients);
	uint64_t dflush = g->device_flushes;
	uint64_t reroutes = g->reroutes;
	bool routed_here = g->route_to == c;
	spin_unlock(&g->lock);
	log_info("%s: share of %s: %llu admitted, %llu answered busy, %llu wake-ups, %llu flushes coalesced "
		 "(depth %u, share depth %u, %u disks; all active: share %u requests, %llu KiB in flight; "
		 "requests up to %u KiB, %llu device flushes; interrupt moved %llu times%s)",
		 c->name, g->whole->name, (unsigned long long)st.admitted, (unsigned long long)st.refused,
		 (unsigned long long)st.woken, (unsigned long long)st.coalesced, g->depth, g->share_depth,
		 nclients, share, (unsigned long long)(bshare == UINT64_MAX ? 0 : bshare / 1024),
		 c->bdev.max_sectors / 2, (unsigned long long)dflush, (unsigned long long)reroutes,
		 routed_here ? ", now on this disk's CPU" : "");
	/* Own line: the console keeps lines under 256 bytes. */
	log_info("%s: at %s: %llu requests, %llu us on average from admission to completion, %llu us at most",
		 c->name, g->whole->name, (unsigned long long)st.done,
		 (unsigned long long)(st.done ? st.lat_sum_us / st.done : 0),
		 (unsigned long long)st.lat_max_us);
	if (c->target->ops->report)
		c->target->ops->report(c->target);
}

static const struct blkdev_ops share_ops = {
    .submit = share_submit,
    .poll = share_poll,
    .report = share_report,
    .cancel = share_cancel,
    .commit = share_commit,
};

/* For a target that can be polled: virtio-blk's completion polling sees through the share. */
static const struct blkdev_ops share_ops_pollable = {
    .submit = share_submit,
    .poll = share_poll,
    .completion_ready = share_completion_ready,
    .report = share_report,
    .cancel = share_cancel,
    .commit = share_commit,
};

/* A group's controller says a refused submit may now succeed: wake who can be admitted. */
static void share_dev_wake(void *ctx)
{
	share_wake_waiters(ctx, timer_us());
}

static struct share_group *group_get(struct blkdev *whole)
{
	struct share_group *free = NULL;

	for (unsigned i = 0; i < SHARE_MAX_GROUPS; i++) {
		if (groups[i].used && groups[i].whole == whole)
			return &groups[i];
		if (!groups[i].used && free == NULL)
			free = &groups[i];
	}
	if (free == NULL)
		return NULL;
	uint32_t depth = whole->queue_depth ? whole->queue_depth : BLKDEV_DEFAULT_DEPTH;
	*free = (struct share_group){
	    .whole = whole,
	    .used = true,
	    .depth = depth,
	    .share_depth = whole->share_depth ? MIN(whole->share_depth, depth) : depth,
	    .fair_bytes = whole->fair_bytes ? whole->fair_bytes : BLKDEV_DEFAULT_FAIR_BYTES,
	    .lock = SPINLOCK_INIT,
	    .intid = whole->intid,
	};
	blkdev_set_wake(whole, share_dev_wake, free);
	return free;
}

static void name_copy(char *dst, size_t size, const char *src)
{
	size_t i = 0;
	while (src[i] != '\0' && i + 1 < size) {
		dst[i] = src[i];
		i++;
	}
	dst[i] = '\0';
}

struct blkdev *share_open(struct blkdev *whole, struct blkdev *target, const char *name)
{
	struct share_client *c = NULL;

	spin_lock(&pool_lock);
	struct share_group *g = group_get(whole);
	for (unsigned i = 0; g != NULL && i < SHARE_MAX_CLIENTS; i++) {
		if (!clients[i].used) {
			c = &clients[i];
			break;
		}
	}
	unsigned slot = SHARE_MAX_CLIENTS;
	if (c != NULL) {
		spin_lock(&g->lock);
		for (unsigned i = 0; i < SHARE_MAX_CLIENTS; i++) {
			if (g->clients[i] == NULL) {
				slot = i;
				break;
			}
		}
		spin_unlock(&g->lock);
	}
	if (c == NULL || slot == SHARE_MAX_CLIENTS) {
		if (g != NULL && g->nclients == 0)
			g->used = false;
		spin_unlock(&pool_lock);
		log_err("storage: %s: more than %u disks share controllers", name, SHARE_MAX_CLIENTS);
		return NULL;
	}

	*c = (struct share_client){.target = target, .g = g, .used = true};
	name_copy(c->name, sizeof(c->name), name);
	for (unsigned i = 0; i < SHARE_FLUSHES; i++) {
		c->flushes[i] = (struct share_flush){.c = c, .next = c->flush_free};
		c->flush_free = &c->flushes[i];
	}
	bool pollable = target->ops->poll != NULL && target->ops->completion_ready != NULL;
	c->bdev = (struct blkdev){
	    .name = c->name,
	    .nsectors = target->nsectors,
	    .block_size = target->block_size,
	    .max_segs = target->max_segs,
	    .max_seg_size = target->max_seg_size,
	    .max_sectors = MIN(MIN(target->max_sectors, SHARE_MAX_SECTORS),
			       whole->fair_sectors ? whole->fair_sectors : SHARE_MAX_SECTORS),
	    .flags = target->flags,
	    .queue_depth = g->depth,
	    .ops = pollable ? &share_ops_pollable : &share_ops,
	    .priv = c,
	};
	blkdev_set_wake(target, share_dev_wake, g);
	spin_lock(&g->lock);
	g->clients[slot] = c;
	g->nclients++;
	spin_unlock(&g->lock);
	spin_unlock(&pool_lock);
	return &c->bdev;
}

static struct share_client *client_of(const struct blkdev *dev)
{
	for (unsigned i = 0; i < SHARE_MAX_CLIENTS; i++)
		if (clients[i].used && dev == &clients[i].bdev)
			return &clients[i];
	return NULL;
}

bool share_is_client(const struct blkdev *dev)
{
	spin_lock(&pool_lock);
	bool r = client_of(dev) != NULL;
	spin_unlock(&pool_lock);
	return r;
}

struct blkdev *share_target(const struct blkdev *client)
{
	const struct share_client *c = client->priv;
	return c->target;
}

void share_get_stats(const struct blkdev *client, struct share_stats *out)
{
	struct share_client *c = client->priv;

	spin_lock(&c->g->lock);
	*out = c->st;
	spin_unlock(&c->g->lock);
}

void share_close(struct blkdev *dev)
{
	spin_lock(&pool_lock);
	struct share_client *c = client_of(dev);
	if (c == NULL)
		panic("storage: closing %s, which is not a share client", dev->name);
	struct share_group *g = c->g;
	spin_lock(&g->lock);
	if (c->inflight != 0 || c->nflush != 0)
		panic("storage: closing %s with %u requests and %u flushes in flight", c->name, c->inflight,
		      c->nflush);
	if (c->reserved)
		g->reserved--;
	if (g->route_to == c)
		g->route_to = NULL; /* the route stays; the next admitted client takes it over */
	for (unsigned i = 0; i < SHARE_MAX_CLIENTS; i++)
		if (g->clients[i] == c)
			g->clients[i] = NULL;
	g->nclients--;
	bool last = g->nclients == 0;
	if (last && (g->flush_busy || g->next != NULL))
		panic("storage: closing the last disk of %s with a flush in flight", g->whole->name);
	spin_unlock(&g->lock);
	blkdev_set_wake(c->target, NULL, NULL);
	if (last) {
		blkdev_set_wake(g->whole, NULL, NULL);
		g->used = false;
	}
	c->used = false;
	spin_unlock(&pool_lock);
	if (!last)
		share_wake_waiters(g, timer_us()); /* the others' shares grew */
}
