/*
 * The hypervisor console: log lines with a timestamp, VM output prefixed by
 * the VM's name, console input, and panic(). Output is buffered (core/console_buf.c):
 * writers never wait for the UART; the writer that finds no drainer, or the
 * hypervisor tick, writes a bounded amount through the platform's UART op.
 */
#include "core/console.h"

#include <stdarg.h>
#include <stdio.h>

#include "arch/spinlock.h"
#include "arch/timer.h"
#include "core/irq.h"
#include "core/platform.h"
#include "keel/log.h"

static paddr_t console_uart;
static bool console_ready;
static enum log_level console_level = LOG_INFO;

/* How long a synchronous flush waits for the drain lock, and for the UART to take a byte. */
#define CONSOLE_FLUSH_TIMEOUT_US 100000u

static bool uart_try_put(void *ctx, char c);

/* All console output: keel's log stream and every VM's stream (registered on first use). */
static struct conbuf out = {.try_put = uart_try_put};
static struct con_stream log_stream;
/* Until the hypervisor tick first runs, log lines are written out synchronously (boot). */
static volatile bool console_async;
static struct con_stream *input_line;

static paddr_t uart_now(void)
{
	return console_ready ? console_uart : platform.early_uart;
}

static bool uart_try_put(void *ctx, char c)
{
	(void)ctx;
	if (platform.ops->console_try_putc)
		return platform.ops->console_try_putc(uart_now(), c);
	platform.ops->console_putc(uart_now(), c);
	return true;
}

void console_init(paddr_t uart)
{
	console_flush();
	console_uart = uart;
	console_ready = true;
}

static void (*input_sink)(void *ctx, char c);
static void *input_ctx;

void console_set_input(void (*sink)(void *ctx, char c), void *ctx)
{
	input_sink = sink;
	input_ctx = ctx;
}

static void console_rx_irq(void *ctx)
{
	(void)ctx;
	/* Drain the FIFO (bounded: it holds at most 32 characters, more may arrive meanwhile). */
	for (unsigned i = 0; i < 64; i++) {
		int c = platform.ops->console_getc(console_uart);
		if (c < 0)
			break;
		if (input_sink)
			input_sink(input_ctx, (char)c);
	}
}

int console_input_start(uint32_t intid)
{
	if (!console_ready || intid == 0 || !platform.ops->console_getc ||
	    !platform.ops->console_rx_irq_enable)
		return -1;
	int rc = irq_register(intid, false, console_rx_irq, NULL);
	if (rc == 0)
		platform.ops->console_rx_irq_enable(console_uart);
	return rc;
}

void console_set_level(enum log_level lvl)
{
	console_level = lvl;
}

/* Blocking, unbuffered output: only for early reports (MMU off) and panic's own line. */
static void put_raw(const char *s, size_t n)
{
	paddr_t uart = uart_now();
	for (size_t i = 0; i < n && s[i]; i++) {
		if (s[i] == '\n')
			platform.ops->console_putc(uart, '\r');
		platform.ops->console_putc(uart, s[i]);
	}
}

void console_flush(void)
{
	conbuf_flush(&out, timer_us, CONSOLE_FLUSH_TIMEOUT_US, false);
}

void console_write(const char *s, size_t n)
{
	conbuf_add_stream(&out, &log_stream, NULL);
	conbuf_write(&out, &log_stream, s, n, timer_us());
	if (!console_async)
		console_flush();
}

static size_t format_line(char *line, size_t len, const char *prefix, const char *fmt, va_list ap)
{
	size_t n = conbuf_stamp(line, len, timer_us());
	int m = snprintf(line + n, len - n, "%s", prefix);
	if (m > 0)
		n = MIN(n + (size_t)m, len - 2);
	m = vsnprintf(line + n, len - n, fmt, ap);
	if (m > 0)
		n = MIN(n + (size_t)m, len - 2);
	line[n++] = '\n';
	line[n] = '\0';
	return n;
}

/* The last log lines, for the keel console's log command (a ring of whole lines' bytes). */
#define RECENT_LOG 2048u
static char recent[RECENT_LOG];
static size_t recent_end; /* bytes ever written; the ring holds the last RECENT_LOG */
static struct spinlock recent_lock = SPINLOCK_INIT;

static void remember(const char *line, size_t n)
{
	spin_lock(&recent_lock);
	for (size_t i = 0; i < n; i++)
		recent[(recent_end + i) % RECENT_LOG] = line[i];
	recent_end += n;
	spin_unlock(&recent_lock);
}

void console_replay_log(void)
{
	static char copy[RECENT_LOG];
	spin_lock(&recent_lock);
	size_t n = MIN(recent_end, (size_t)RECENT_LOG);
	for (size_t i = 0; i < n; i++)
		copy[i] = recent[(recent_end - n + i) % RECENT_LOG];
	spin_unlock(&recent_lock);
	size_t start = 0;
	if (recent_end > RECENT_LOG) /* the oldest line was cut: skip its tail */
		while (start < n && copy[start++] != '\n')
			;
	while (start < n) {
		size_t end = start;
		while (end < n && copy[end] != '\n')
			end++;
		if (end < n)
			console_reply(copy + start, end - start + 1);
		start = end + 1;
	}
}

void console_reply(const char *s, size_t n)
{
	conbuf_add_stream(&out, &log_stream, NULL);
	conbuf_write(&out, &log_stream, s, n, timer_us());
	if (!console_async)
		console_flush();
}

void log_printf(enum log_level lvl, const char *fmt, ...)
{
	static const char *const prefix[] = {"keel: ERROR: ", "keel: WARN: ", "keel: ", "keel: debug: "};
	if (lvl > console_level)
		return;
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	size_t n = format_line(line, sizeof(line), prefix[lvl], fmt, ap);
	va_end(ap);
	remember(line, n);
	console_write(line, n);
}

/*
 * VM output: see core/console_buf.h. An interactive prompt has no newline, so
 * the tick commits the input VM's partial line once it has waited a little.
 */
void console_vm_set_interactive(struct con_stream *l)
{
	input_line = l;
}

void console_vm_putc(struct con_stream *l, const char *vm_name, char c)
{
	conbuf_add_stream(&out, l, vm_name);
	conbuf_vm_putc(&out, l, c, timer_us());
}

void console_tick(void)
{
	console_async = true;
	struct con_stream *l = input_line;
	if (l != NULL && l->registered)
		conbuf_vm_tick(&out, l, timer_us());
	conbuf_drain(&out, CONBUF_DRAIN_BUDGET);
}

void console_vm_flush(struct con_stream *l, const char *vm_name)
{
	conbuf_add_stream(&out, l, vm_name);
	conbuf_vm_end_line(&out, l, timer_us());
	console_flush();
}

NORETURN void panic(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	size_t n = format_line(line, sizeof(line), "keel: PANIC: ", fmt, ap);
	va_end(ap);
	/* Everything before it first, then the panic line itself, unbuffered (the ring may be full). */
	conbuf_flush(&out, timer_us, CONSOLE_FLUSH_TIMEOUT_US, true);
	put_raw(line, n);
	for (;;)
		__asm__ volatile("msr daifset, #0xf\n wfi");
}

static void early_puts(const char *s)
{
	put_raw(s, 1024);
}

static void early_puthex(uint64_t v)
{
	char b[19] = "0x";
	for (int i = 0; i < 16; i++)
		b[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
	b[18] = 0;
	early_puts(b);
}

/* Called from head.S with the MMU off: no printf (it needs the MMU on). */
void early_report_wrong_el(uint64_t el)
{
	early_puts("keel: must be entered at EL2, but was entered at EL");
	char d[2] = {(char)('0' + (el & 3)), 0};
	early_puts(d);
	early_puts(" (QEMU needs -M virt,virtualization=on); halting\n");
}

void early_report_wrong_place(uint64_t at, uint64_t linked)
{
	early_puts("keel: loaded at ");
	early_puthex(at);
	early_puts(" but linked at ");
	early_puthex(linked);
	early_puts("; halting\n");
}
