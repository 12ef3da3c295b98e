/* Host-test UART sink for core/console_buf.c: records what is written; can refuse (FIFO full). */
#ifndef KEEL_TESTS_FAKE_UART_H
#define KEEL_TESTS_FAKE_UART_H

#include <stdbool.h>
#include <stddef.h>

#define FAKE_UART_CAP (1u << 20)

struct fake_uart {
	char out[FAKE_UART_CAP + 1]; /**< everything written, NUL-terminated */
	size_t len;
	long room;    /**< bytes it takes before refusing; negative: unlimited */
	size_t calls; /**< put attempts, accepted or refused */
};

/** Empty, unlimited room. */
void fake_uart_reset(struct fake_uart *u);
/** The conbuf try_put: ctx is a struct fake_uart. */
bool fake_uart_try_put(void *ctx, char c);

#endif
