/*
 * Logging and panic. Implemented by core/console.c on the target and by
 * tests/fakes on the host. Lines are prefixed with a timestamp.
 */
#ifndef KEEL_LOG_H
#define KEEL_LOG_H

#include "keel/util.h"

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/** Print one log line (a trailing newline is added). */
void log_printf(enum log_level lvl, const char *fmt, ...) PRINTF_LIKE(2, 3);

/** A broken hypervisor invariant: print and stop every CPU. Never for guest-caused errors. */
NORETURN void panic(const char *fmt, ...) PRINTF_LIKE(1, 2);

#define log_err(...)   log_printf(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_printf(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_printf(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_printf(LOG_DEBUG, __VA_ARGS__)

#endif
