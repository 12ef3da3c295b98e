/*
 * test=console: console input reaches the guest's UART. Prints "GUEST: console ready", then reads
 * characters (polling the PL011's RXFE flag) until a newline, for up to 20 s, and prints them back
 * as "GUEST: console got '<line>'". The host types the line into QEMU's standard input.
 */
#include "lib.h"
#include "tests.h"
#include "timer.h"
#include "uart.h"

#define LINE_MAX_CHARS 64
#define WAIT_MS	       20000

void test_console(void)
{
	char line[LINE_MAX_CHARS + 1];
	unsigned n = 0;
	uint64_t end = timer_now() + timer_freq() / 1000 * WAIT_MS;

	gprintf("GUEST: console ready\n");
	while (timer_now() < end) {
		int c = uart_getc();
		if (c < 0)
			continue;
		if (c == '\r' || c == '\n')
			break;
		if (n < LINE_MAX_CHARS)
			line[n++] = (char)c;
	}
	line[n] = 0;
	if (n == 0) {
		gprintf("GUEST: FAIL console: nothing received in %u ms\n", WAIT_MS);
		test_fail();
		return;
	}
	gprintf("GUEST: console got '%s'\n", line);
}
