/*
 * Buffered console output: writers append whole lines to bounded per-stream
 * rings under a short per-stream lock and never wait for the UART; one
 * drainer at a time (a try-lock) moves a bounded number of bytes per call to
 * the UART, a line at a time, round-robin over the streams. Pure (the caller
 * passes the time and the UART's non-blocking put), so it is host-testable;
 * core/console.c owns the one instance keel uses.
 *
 * Streams: one per VM (lines reach the UART as "[vm-name] text") and one for
 * keel's log lines (name NULL, lines pre-formatted with their timestamp). Only
 * whole lines enter a ring, so lines never interleave, except an interactive
 * VM's prompt (a partial line committed by conbuf_vm_tick), which another
 * stream's line ends with a newline, as before. A line that does not fit is
 * dropped and counted; "... N bytes dropped" follows once room returns.
 */
#ifndef KEEL_CORE_CONSOLE_BUF_H
#define KEEL_CORE_CONSOLE_BUF_H

#include "arch/spinlock.h"
#include "keel/types.h"

#define CONBUF_RING	    4096u	   /**< bytes buffered per stream (power of two) */
#define CONBUF_LINE	    200u	   /**< longest VM line; longer ones are split */
#define CONBUF_DRAIN_BUDGET 1024u	   /**< bytes a writer's drain call writes at most */
#define CONBUF_FLUSH_MAX    (256u * 1024u) /**< bytes a synchronous flush writes at most */
#define CONBUF_PARTIAL_US   30000u	   /**< an interactive prompt waits this long for its newline */

struct con_stream {
	struct spinlock lock; /**< writers: line buffer, ring head, drop counts */
	const char *name;     /**< VM name ("[name] " prefix), NULL for keel's log stream */
	char ring[CONBUF_RING];
	uint32_t head;		/**< free-running; written by writers (release) */
	uint32_t tail;		/**< free-running; written by the drainer (release) */
	uint64_t dropped;	/**< bytes dropped since the last notice */
	uint64_t dropped_total; /**< bytes dropped ever */
	char line[CONBUF_LINE]; /**< VM line being assembled */
	uint32_t len;
	uint64_t since_us; /**< when the assembled partial line began */
	bool open;	   /**< a partial line was committed: the rest goes straight to the ring */
	bool registered;
	struct con_stream *next;
};

struct conbuf {
	struct spinlock reg_lock;   /**< the stream list */
	struct spinlock drain_lock; /**< taken with try-lock: one drainer at a time */
	/** Non-blocking UART output: false when it cannot take the byte now. */
	bool (*try_put)(void *ctx, char c);
	void *put_ctx;
	struct con_stream *streams;
	volatile bool pending; /**< a writer committed while someone drained */
	/* Drainer state (drain_lock held). */
	struct con_stream *cur; /**< stream whose line is being written, or NULL */
	struct con_stream *rr;	/**< last stream served (round-robin) */
	char pend[48];		/**< prefix or line end being written */
	uint32_t pend_len, pend_pos;
	bool cr_sent; /**< '\r' of a "\r\n" already written */
	uint64_t written;
};

/** Start with no streams and this UART output. */
void conbuf_init(struct conbuf *cb, bool (*try_put)(void *ctx, char c), void *ctx);
/** Add a stream (idempotent; a zeroed struct is a valid unregistered stream). name NULL: log stream. */
void conbuf_add_stream(struct conbuf *cb, struct con_stream *s, const char *name);

/** Append a whole pre-formatted record (should end with '\n') to s; false if it was dropped. */
bool conbuf_write(struct conbuf *cb, struct con_stream *s, const char *text, size_t n, uint64_t now_us);
/** One VM output character: lines are assembled, then committed whole. */
void conbuf_vm_putc(struct conbuf *cb, struct con_stream *s, char c, uint64_t now_us);
/** Commit s's assembled partial line (a prompt) once it has waited CONBUF_PARTIAL_US. */
void conbuf_vm_tick(struct conbuf *cb, struct con_stream *s, uint64_t now_us);
/** Commit s's assembled partial line, ended by a newline (the VM stops). */
void conbuf_vm_end_line(struct conbuf *cb, struct con_stream *s, uint64_t now_us);

/**
 * Write at most budget bytes to the UART, unless another CPU is draining (then
 * it will see what was committed). Never waits. Returns true when output remains.
 */
bool conbuf_drain(struct conbuf *cb, unsigned budget);
/**
 * Write everything out synchronously (panic, power-off): waits for the drain
 * lock and for the UART, each up to timeout_us, then gives up. When the lock
 * does not come free in time, steal (panic only) writes anyway; otherwise the
 * holder is left to write. The clock is read through now().
 */
void conbuf_flush(struct conbuf *cb, uint64_t (*now)(void), uint64_t timeout_us, bool steal);
/** Bytes waiting in s's ring. */
uint32_t conbuf_queued(const struct con_stream *s);
/** "[sssss.uuuuuu] " into buf; returns its length. */
size_t conbuf_stamp(char *buf, size_t len, uint64_t us);

#endif
