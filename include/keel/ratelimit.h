/*
 * Time-based log rate limiting: at most RATELIMIT_BURST lines per limiter in
 * any RATELIMIT_WINDOW_US window. One limiter per (VM or device, cause). Pure:
 * the caller passes the time, so it is host-testable and usable in any layer.
 *
 *   uint32_t missed;
 *   if (ratelimit_allow(&dev->rl_bad_desc, timer_us(), &missed))
 *           log_warn("%s: bad descriptor%s", name, ...);   // report missed when non-zero
 *
 * Not locked: callers hold the lock of the object the limiter lives in, or
 * accept a racy count (a line more or less, never a crash).
 */
#ifndef KEEL_RATELIMIT_H
#define KEEL_RATELIMIT_H

#include "keel/log.h"
#include "keel/types.h"

#define RATELIMIT_BURST	    5u
#define RATELIMIT_WINDOW_US 1000000u

struct ratelimit {
	uint64_t window_start_us; /**< start of the current window */
	uint32_t printed;	  /**< lines allowed in the current window */
	uint32_t suppressed;	  /**< lines refused since the last allowed one */
	uint64_t total_suppressed;
};

/**
 * May a line be printed at now_us? When true, *missed (if not NULL) is the
 * number of lines suppressed since the last allowed one (print it as
 * "(N similar lines suppressed)" when non-zero) and the count restarts.
 */
static inline bool ratelimit_allow(struct ratelimit *rl, uint64_t now_us, uint32_t *missed)
{
	if (rl->printed == 0 || now_us - rl->window_start_us >= RATELIMIT_WINDOW_US ||
	    now_us < rl->window_start_us) {
		rl->window_start_us = now_us;
		rl->printed = 0;
	}
	if (rl->printed >= RATELIMIT_BURST) {
		rl->suppressed++;
		rl->total_suppressed++;
		return false;
	}
	rl->printed++;
	if (missed)
		*missed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}

/**
 * ratelimit_allow for a log site of `name` (a device): when lines were suppressed, first logs
 * "<name>: (N similar lines suppressed)", which counts as one of the window's lines, so a window
 * never shows more than RATELIMIT_BURST lines.
 */
static inline bool ratelimit_log_allowed(struct ratelimit *rl, uint64_t now_us, const char *name)
{
	uint32_t missed = 0;
	if (!ratelimit_allow(rl, now_us, &missed))
		return false;
	if (missed == 0)
		return true;
	log_warn("%s: (%u similar lines suppressed)", name, missed);
	return ratelimit_allow(rl, now_us, NULL);
}

#endif
