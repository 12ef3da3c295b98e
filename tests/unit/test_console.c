/* Buffered console output (core/console_buf.c) against a fake UART. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/console_buf.h"
#include "tests/fakes/fake_uart.h"

static struct fake_uart uart;
static struct conbuf cb;
static struct con_stream vm_a, vm_b, logs;

static int setup(void **state)
{
	(void)state;
	fake_uart_reset(&uart);
	memset(&vm_a, 0, sizeof(vm_a));
	memset(&vm_b, 0, sizeof(vm_b));
	memset(&logs, 0, sizeof(logs));
	conbuf_init(&cb, fake_uart_try_put, &uart);
	conbuf_add_stream(&cb, &vm_a, "A");
	conbuf_add_stream(&cb, &vm_b, "B");
	conbuf_add_stream(&cb, &logs, NULL);
	return 0;
}

static void vm_puts(struct con_stream *s, const char *text, uint64_t now)
{
	for (const char *p = text; *p; p++)
		conbuf_vm_putc(&cb, s, *p, now);
}

static uint64_t fake_clock;
static unsigned clock_reads;
static uint64_t fake_now(void)
{
	clock_reads++;
	return fake_clock += 1000; /* every read: 1 ms later */
}

/* Drain with the UART open until nothing remains (bounded). */
static void drain_all(void)
{
	uart.room = -1;
	for (int i = 0; i < 100000 && conbuf_drain(&cb, 64); i++)
		;
	assert_false(conbuf_drain(&cb, 64));
}

/* The output split at "\r\n" into lines; returns how many. */
static unsigned split_lines(char lines[][256], unsigned max)
{
	unsigned n = 0;
	const char *p = uart.out;
	const char *e;
	while (n < max && (e = strstr(p, "\r\n")) != NULL) {
		size_t len = (size_t)(e - p);
		assert_true(len < 256);
		memcpy(lines[n], p, len);
		lines[n][len] = '\0';
		n++;
		p = e + 2;
	}
	return n;
}

static char lines[8192][256];

static void test_flood_drops_and_counts_without_blocking(void **state)
{
	(void)state;
	uart.room = 0; /* the UART takes nothing: a slow or wedged line */
	size_t a_bytes = 0;
	for (int i = 0; i < 2000; i++) {
		char l[64];
		snprintf(l, sizeof(l), "a-line %04d xxxxxxxxxxxxxxxx\n", i);
		vm_puts(&vm_a, l, 1);
		a_bytes += strlen(l);
	}
	/* Nothing waited for the UART: at most one refused try per committed line. */
	assert_int_equal(uart.len, 0);
	assert_true(uart.calls <= 2000);
	assert_true(conbuf_queued(&vm_a) <= CONBUF_RING);
	assert_true(vm_a.dropped_total > 0);
	assert_int_equal(conbuf_queued(&vm_a) + vm_a.dropped_total, a_bytes);
	assert_int_equal(vm_a.dropped, vm_a.dropped_total);

	/* Another VM's lines are not lost behind the flood. */
	vm_puts(&vm_b, "b-line 0\n", 2);
	vm_puts(&vm_b, "b-line 1\n", 2);
	vm_puts(&vm_b, "b-line 2\n", 2);
	assert_int_equal(conbuf_queued(&vm_b), 27);
	assert_int_equal(vm_b.dropped_total, 0);

	drain_all();
	unsigned n = split_lines(lines, 8192);
	unsigned next_b = 0, next_a = 0, first_b = 0;
	for (unsigned i = 0; i < n; i++) {
		if (strncmp(lines[i], "[B] ", 4) == 0) {
			char want[32];
			snprintf(want, sizeof(want), "[B] b-line %u", next_b);
			assert_string_equal(lines[i], want);
			if (next_b++ == 0)
				first_b = i;
			continue;
		}
		unsigned k;
		char tail[32];
		assert_int_equal(sscanf(lines[i], "[A] a-line %u %31s", &k, tail), 2);
		assert_string_equal(tail, "xxxxxxxxxxxxxxxx");
		assert_true(k >= next_a); /* in order, whole; dropped ones are simply missing */
		next_a = k + 1;
	}
	assert_int_equal(next_b, 3);
	assert_true(first_b <= 1); /* round-robin: B waits for at most one of A's lines */
	assert_int_equal(conbuf_queued(&vm_a), 0);

	/* Room again: the next line is preceded by the count of what was lost. */
	uint64_t lost = vm_a.dropped_total;
	vm_puts(&vm_a, "after\n", 3);
	char want[96];
	snprintf(want, sizeof(want), "[A] ... %llu bytes dropped\r\n[A] after\r\n", (unsigned long long)lost);
	assert_non_null(strstr(uart.out, want));
	assert_int_equal(vm_a.dropped, 0);
}

static void test_lines_never_interleave(void **state)
{
	(void)state;
	char a_lines[50][64], b_lines[50][64];
	for (int i = 0; i < 50; i++) {
		snprintf(a_lines[i], sizeof(a_lines[i]), "alpha %d %.*s\n", i, i % 37,
			 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
		snprintf(b_lines[i], sizeof(b_lines[i]), "beta %d %.*s\n", i, (i * 7) % 41,
			 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	}
	/* Both VMs write a character at a time, alternately; the UART takes a few bytes now and then. */
	size_t ia = 0, ib = 0, pa = 0, pb = 0;
	unsigned step = 0;
	while (ia < 50 || ib < 50) {
		if (ia < 50) {
			conbuf_vm_putc(&cb, &vm_a, a_lines[ia][pa++], step);
			if (a_lines[ia][pa] == '\0')
				ia++, pa = 0;
		}
		if (ib < 50) {
			conbuf_vm_putc(&cb, &vm_b, b_lines[ib][pb++], step);
			if (b_lines[ib][pb] == '\0')
				ib++, pb = 0;
		}
		if (++step % 5 == 0) {
			uart.room = step % 11;
			conbuf_drain(&cb, 1 + step % 13);
		} else {
			uart.room = 0;
		}
	}
	uart.room = -1;
	conbuf_flush(&cb, fake_now, 100000, false);
	unsigned n = split_lines(lines, 8192);
	assert_int_equal(n, 100);
	unsigned na = 0, nb = 0;
	for (unsigned i = 0; i < n; i++) {
		char want[80];
		if (lines[i][1] == 'A')
			snprintf(want, sizeof(want), "[A] %.*s", (int)strlen(a_lines[na]) - 1, a_lines[na]),
			    na++;
		else
			snprintf(want, sizeof(want), "[B] %.*s", (int)strlen(b_lines[nb]) - 1, b_lines[nb]),
			    nb++;
		assert_string_equal(lines[i], want);
	}
	assert_int_equal(na, 50);
	assert_int_equal(nb, 50);
}

static void test_one_drainer_at_a_time(void **state)
{
	(void)state;
	/* Another CPU is draining: a writer only commits and leaves the output to it. */
	assert_true(spin_trylock(&cb.drain_lock));
	vm_puts(&vm_a, "while busy\n", 1);
	assert_int_equal(uart.len, 0);
	assert_int_equal(uart.calls, 0);
	assert_true(cb.pending);
	assert_false(conbuf_drain(&cb, 64)); /* a second drainer does nothing either */
	assert_int_equal(uart.len, 0);
	spin_unlock(&cb.drain_lock);
	assert_false(conbuf_drain(&cb, 64));
	assert_string_equal(uart.out, "[A] while busy\r\n");

	/* A drain call writes at most its budget. */
	fake_uart_reset(&uart);
	uart.room = 0;
	vm_puts(&vm_a, "0123456789012345678901234567890123456789\n", 1);
	uart.room = -1;
	assert_true(conbuf_drain(&cb, 10));
	assert_int_equal(uart.len, 10);
	assert_false(conbuf_drain(&cb, 1000));
	assert_string_equal(uart.out, "[A] 0123456789012345678901234567890123456789\r\n");
}

static void test_flush_empties_everything(void **state)
{
	(void)state;
	uart.room = 0;
	vm_puts(&vm_a, "a1\na2\n", 1);
	vm_puts(&vm_b, "b1\nb-unfinished", 1);
	conbuf_write(&cb, &logs, "[    0.000001] keel: log 1\n", 27, 1);
	conbuf_vm_end_line(&cb, &vm_b, 2); /* the VM stops: its partial line ends */
	assert_int_equal(uart.len, 0);
	uart.room = -1;
	conbuf_flush(&cb, fake_now, 100000, false);
	assert_int_equal(conbuf_queued(&vm_a), 0);
	assert_int_equal(conbuf_queued(&vm_b), 0);
	assert_int_equal(conbuf_queued(&logs), 0);
	assert_non_null(strstr(uart.out, "[A] a1\r\n"));
	assert_non_null(strstr(uart.out, "[A] a2\r\n"));
	assert_non_null(strstr(uart.out, "[B] b1\r\n"));
	assert_non_null(strstr(uart.out, "[B] b-unfinished\r\n"));
	assert_non_null(strstr(uart.out, "[    0.000001] keel: log 1\r\n"));

	/* A wedged UART, and a drainer that never lets go: the flush still returns, by time. */
	fake_uart_reset(&uart);
	uart.room = 0;
	vm_puts(&vm_a, "stuck\n", 3);
	assert_true(spin_trylock(&cb.drain_lock));
	clock_reads = 0;
	conbuf_flush(&cb, fake_now, 100000, true); /* panic: writes anyway (and gives up on the UART) */
	assert_true(clock_reads < 1000);
	uart.room = -1;
	conbuf_flush(&cb, fake_now, 100000, false); /* others leave it to the lock holder */
	assert_int_equal(uart.len, 0);
	uart.room = 0;
	spin_unlock(&cb.drain_lock);
	assert_int_equal(uart.len, 0);
	conbuf_flush(&cb, fake_now, 100000, false);
	assert_int_equal(uart.len, 0);
	uart.room = -1;
	conbuf_flush(&cb, fake_now, 100000, false);
	assert_string_equal(uart.out, "[A] stuck\r\n");
}

static void test_prompt_without_newline(void **state)
{
	(void)state;
	vm_puts(&vm_b, "login: ", 1000);
	conbuf_vm_tick(&cb, &vm_b, 1000 + CONBUF_PARTIAL_US - 1);
	assert_int_equal(uart.len, 0);
	conbuf_vm_tick(&cb, &vm_b, 1000 + CONBUF_PARTIAL_US);
	assert_string_equal(uart.out, "[B] login: ");
	vm_puts(&vm_b, "r", 50000); /* echo of typed input follows directly */
	assert_string_equal(uart.out, "[B] login: r");
	vm_puts(&vm_a, "hello\n", 50001); /* another VM's line ends the open one */
	assert_string_equal(uart.out, "[B] login: r\r\n[A] hello\r\n");
	vm_puts(&vm_b, "oot\n", 50002);
	assert_string_equal(uart.out, "[B] login: r\r\n[A] hello\r\n[B] oot\r\n");
}

static void test_log_stream_and_long_lines(void **state)
{
	(void)state;
	uart.room = 0;
	char line[128];
	unsigned dropped = 0;
	for (unsigned i = 0; i < 200; i++) {
		int n = snprintf(line, sizeof(line), "[    1.%06u] keel: WARN: line %u\n", i, i);
		if (!conbuf_write(&cb, &logs, line, (size_t)n, 1))
			dropped += (unsigned)n;
	}
	assert_true(dropped > 0);
	assert_int_equal(logs.dropped_total, dropped);
	drain_all();
	assert_null(strstr(uart.out, "] [")); /* no VM prefix on log lines */
	assert_int_equal(uart.out[0], '[');
	conbuf_write(&cb, &logs, "x\n", 2, 2000000);
	snprintf(line, sizeof(line), "[    2.000000] keel: WARN: log ... %u bytes dropped\r\nx\r\n", dropped);
	assert_non_null(strstr(uart.out, line));

	/* A VM line longer than the line buffer comes out in whole pieces. */
	fake_uart_reset(&uart);
	for (unsigned i = 0; i < 2 * CONBUF_LINE; i++)
		conbuf_vm_putc(&cb, &vm_a, 'z', 3);
	conbuf_vm_putc(&cb, &vm_a, '\n', 3);
	unsigned n = split_lines(lines, 8192);
	assert_int_equal(n, 3);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(strncmp(lines[i], "[A] z", 5), 0);
	assert_int_equal(strlen(lines[0]) - 4 + strlen(lines[1]) - 4 + strlen(lines[2]) - 4, 2 * CONBUF_LINE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_flood_drops_and_counts_without_blocking, setup),
	    cmocka_unit_test_setup(test_lines_never_interleave, setup),
	    cmocka_unit_test_setup(test_one_drainer_at_a_time, setup),
	    cmocka_unit_test_setup(test_flush_empties_everything, setup),
	    cmocka_unit_test_setup(test_prompt_without_newline, setup),
	    cmocka_unit_test_setup(test_log_stream_and_long_lines, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
