/* Buffered console output (see core/console_buf.h). */
#include "core/console_buf.h"

#include <stdio.h>

#include "keel/util.h"

#define RING_MASK (CONBUF_RING - 1u)

_Static_assert((CONBUF_RING & RING_MASK) == 0, "CONBUF_RING must be a power of two");

void conbuf_init(struct conbuf *cb, bool (*try_put)(void *ctx, char c), void *ctx)
{
	struct spinlock unlocked = SPINLOCK_INIT;
	cb->reg_lock = unlocked;
	cb->drain_lock = unlocked;
	cb->try_put = try_put;
	cb->put_ctx = ctx;
	cb->streams = NULL;
	cb->pending = false;
	cb->cur = cb->rr = NULL;
	cb->pend_len = cb->pend_pos = 0;
	cb->cr_sent = false;
	cb->written = 0;
}

void conbuf_add_stream(struct conbuf *cb, struct con_stream *s, const char *name)
{
	if (__atomic_load_n(&s->registered, __ATOMIC_ACQUIRE))
		return;
	spin_lock(&cb->reg_lock);
	if (!s->registered) {
		s->name = name;
		s->next = NULL;
		/* Appended at the end: the drainer walks the list without the lock. */
		struct con_stream **pp = &cb->streams;
		while (*pp)
			pp = &(*pp)->next;
		__atomic_store_n(pp, s, __ATOMIC_RELEASE);
		__atomic_store_n(&s->registered, true, __ATOMIC_RELEASE);
	}
	spin_unlock(&cb->reg_lock);
}

size_t conbuf_stamp(char *buf, size_t len, uint64_t us)
{
	int n = snprintf(buf, len, "[%5u.%06u] ", (unsigned)(us / 1000000u), (unsigned)(us % 1000000u));
	return n > 0 ? MIN((size_t)n, len - 1) : 0;
}

uint32_t conbuf_queued(const struct con_stream *s)
{
	return __atomic_load_n(&s->head, __ATOMIC_ACQUIRE) - __atomic_load_n(&s->tail, __ATOMIC_ACQUIRE);
}

/* --- writers (stream lock held) ---------------------------------------------------- */

static uint32_t ring_room(const struct con_stream *s)
{
	return CONBUF_RING - (s->head - __atomic_load_n(&s->tail, __ATOMIC_ACQUIRE));
}

static void ring_put(struct con_stream *s, const char *p, size_t n)
{
	uint32_t h = s->head;
	for (size_t i = 0; i < n; i++)
		s->ring[(h + i) & RING_MASK] = p[i];
	__atomic_store_n(&s->head, h + (uint32_t)n, __ATOMIC_RELEASE);
}

/* Whole or not at all; a pending drop notice goes first once it fits with the text. */
static bool commit(struct con_stream *s, const char *p, size_t n, uint64_t now_us)
{
	if (s->dropped && !s->open) {
		char note[96];
		size_t k = s->name ? 0 : conbuf_stamp(note, sizeof(note), now_us);
		int m = snprintf(note + k, sizeof(note) - k, "%s... %llu bytes dropped\n",
				 s->name ? "" : "keel: WARN: log ", (unsigned long long)s->dropped);
		k = m > 0 ? MIN(k + (size_t)m, sizeof(note) - 1) : k;
		if (ring_room(s) >= k + n) {
			ring_put(s, note, k);
			s->dropped = 0;
		}
	}
	if (n > ring_room(s)) {
		s->dropped += n;
		s->dropped_total += n;
		return false;
	}
	ring_put(s, p, n);
	return true;
}

/* After a commit: drain now unless someone else does (they will see the pending flag). */
static void kick_drain(struct conbuf *cb)
{
	__atomic_store_n(&cb->pending, true, __ATOMIC_SEQ_CST);
	conbuf_drain(cb, CONBUF_DRAIN_BUDGET);
}

bool conbuf_write(struct conbuf *cb, struct con_stream *s, const char *text, size_t n, uint64_t now_us)
{
	spin_lock(&s->lock);
	bool ok = commit(s, text, n, now_us);
	spin_unlock(&s->lock);
	kick_drain(cb);
	return ok;
}

void conbuf_vm_putc(struct conbuf *cb, struct con_stream *s, char c, uint64_t now_us)
{
	if (c == '\r')
		return;
	bool committed = false;
	spin_lock(&s->lock);
	if (s->open) {
		/* The start of this line is already out (a prompt): the rest follows directly. */
		commit(s, &c, 1, now_us);
		committed = true;
		if (c == '\n')
			s->open = false;
	} else {
		if (s->len == 0)
			s->since_us = now_us;
		s->line[s->len++] = c;
		if (c == '\n' || s->len == CONBUF_LINE - 1) {
			if (c != '\n')
				s->line[s->len++] = '\n';
			commit(s, s->line, s->len, now_us);
			s->len = 0;
			committed = true;
		}
	}
	spin_unlock(&s->lock);
	if (committed)
		kick_drain(cb);
}

void conbuf_vm_tick(struct conbuf *cb, struct con_stream *s, uint64_t now_us)
{
	if (__atomic_load_n(&s->len, __ATOMIC_RELAXED) == 0)
		return;
	bool committed = false;
	spin_lock(&s->lock);
	if (s->len && !s->open && now_us - s->since_us >= CONBUF_PARTIAL_US) {
		committed = commit(s, s->line, s->len, now_us);
		s->open = committed;
		s->len = 0;
	}
	spin_unlock(&s->lock);
	if (committed)
		kick_drain(cb);
}

void conbuf_vm_end_line(struct conbuf *cb, struct con_stream *s, uint64_t now_us)
{
	spin_lock(&s->lock);
	if (s->len) {
		s->line[s->len++] = '\n';
		commit(s, s->line, s->len, now_us);
		s->len = 0;
	} else if (s->open) {
		commit(s, "\n", 1, now_us);
	}
	s->open = false;
	if (s->dropped) /* the notice, even with no more output to come */
		commit(s, "", 0, now_us);
	spin_unlock(&s->lock);
	kick_drain(cb);
}

/* --- the drainer (drain_lock held) --------------------------------------------------- */

/* One byte to the UART, '\n' as "\r\n"; false when the UART is full. */
static bool put(struct conbuf *cb, char c)
{
	if (c == '\n' && !cb->cr_sent) {
		if (!cb->try_put(cb->put_ctx, '\r'))
			return false;
		cb->cr_sent = true;
	}
	if (!cb->try_put(cb->put_ctx, c))
		return false;
	cb->cr_sent = false;
	cb->written++;
	return true;
}

static void set_pend(struct conbuf *cb, const char *text)
{
	int m = snprintf(cb->pend, sizeof(cb->pend), "%s", text);
	cb->pend_len = m > 0 ? MIN((uint32_t)m, (uint32_t)sizeof(cb->pend) - 1) : 0;
	cb->pend_pos = 0;
}

/* The next stream with output after the last one served, or NULL. */
static struct con_stream *next_stream(struct conbuf *cb, const struct con_stream *except)
{
	struct con_stream *first = __atomic_load_n(&cb->streams, __ATOMIC_ACQUIRE);
	struct con_stream *start = cb->rr && cb->rr->next ? cb->rr->next : first;
	struct con_stream *s = start;
	while (s) {
		if (s != except && conbuf_queued(s))
			return s;
		s = __atomic_load_n(&s->next, __ATOMIC_ACQUIRE);
		if (s == NULL)
			s = first;
		if (s == start)
			break;
	}
	return NULL;
}

/* Returns true when output remains (budget spent or the UART full). */
static bool drain_locked(struct conbuf *cb, unsigned budget)
{
	for (;;) {
		while (cb->pend_pos < cb->pend_len) {
			if (budget == 0 || !put(cb, cb->pend[cb->pend_pos]))
				return true;
			cb->pend_pos++;
			budget--;
		}
		struct con_stream *s = cb->cur;
		if (s == NULL) {
			s = next_stream(cb, NULL);
			if (s == NULL)
				return false;
			cb->cur = cb->rr = s;
			if (s->name) {
				char prefix[sizeof(cb->pend)];
				snprintf(prefix, sizeof(prefix), "[%s] ", s->name);
				set_pend(cb, prefix);
				continue;
			}
		}
		uint32_t head = __atomic_load_n(&s->head, __ATOMIC_ACQUIRE);
		uint32_t tail = s->tail;
		while (tail != head) {
			char c = s->ring[tail & RING_MASK];
			if (budget == 0 || !put(cb, c)) {
				__atomic_store_n(&s->tail, tail, __ATOMIC_RELEASE);
				return true;
			}
			budget--;
			tail++;
			if (c == '\n') {
				cb->cur = NULL;
				break;
			}
		}
		__atomic_store_n(&s->tail, tail, __ATOMIC_RELEASE);
		if (cb->cur == NULL)
			continue;
		/* An open line (a prompt) with nothing more yet: end it only if another stream waits. */
		if (next_stream(cb, s) == NULL)
			return false;
		spin_lock(&s->lock);
		s->open = false; /* the rest of the line is assembled, and gets a prefix, anew */
		spin_unlock(&s->lock);
		cb->cur = NULL;
		set_pend(cb, "\n");
	}
}

bool conbuf_drain(struct conbuf *cb, unsigned budget)
{
	bool more = false;
	while (spin_trylock(&cb->drain_lock)) {
		__atomic_store_n(&cb->pending, false, __ATOMIC_SEQ_CST);
		more = drain_locked(cb, budget);
		spin_unlock(&cb->drain_lock);
		/* A writer that committed while we held the lock left its output to us. */
		if (more || !__atomic_load_n(&cb->pending, __ATOMIC_SEQ_CST))
			break;
	}
	return more;
}

void conbuf_flush(struct conbuf *cb, uint64_t (*now)(void), uint64_t timeout_us, bool steal)
{
	uint64_t t0 = now();
	bool locked;
	while (!(locked = spin_trylock(&cb->drain_lock)) && now() - t0 < timeout_us)
		;
	/* A panic writes even without the lock (its holder may be stuck, or be this CPU). */
	if (!locked && !steal)
		return;
	uint64_t last = now();
	uint64_t before = cb->written, start = cb->written;
	/* Bounded even while other CPUs keep writing. */
	while (cb->written - start < CONBUF_FLUSH_MAX) {
		if (!drain_locked(cb, CONBUF_RING))
			break;
		if (cb->written != before) {
			before = cb->written;
			last = now();
		} else if (now() - last >= timeout_us) {
			break; /* the UART takes nothing: give up rather than hang */
		}
	}
	if (locked)
		spin_unlock(&cb->drain_lock);
}
