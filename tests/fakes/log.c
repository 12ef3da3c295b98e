/* Host-test implementation of keel/log.h: print to stderr; panic aborts. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "keel/log.h"

void log_printf(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
#ifdef KEEL_FUZZ
	(void)lvl;
	(void)fmt;
	(void)ap;
	return;
#else
	static const char *const tag[] = {"E", "W", "I", "D"};
	fprintf(stderr, "[keel %s] ", tag[lvl]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
#endif
}

void panic(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "PANIC: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
