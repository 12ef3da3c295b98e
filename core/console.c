/*
 * The hypervisor console: log lines with a timestamp, VM output prefixed by
 * the VM's name, and panic(). Output goes through the platform's UART op.
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
static struct spinlock console_lock = SPINLOCK_INIT;
static enum log_level console_level = LOG_INFO;

void console_init(paddr_t uart)
{
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

static void end_open_line(void);

static void put_raw(const char *s, size_t n)
{
	paddr_t uart = console_ready ? console_uart : platform.early_uart;
	for (size_t i = 0; i < n && s[i]; i++) {
		if (s[i] == '\n')
			platform.ops->console_putc(uart, '\r');
		platform.ops->console_putc(uart, s[i]);
	}
}

void console_write(const char *s, size_t n)
{
	spin_lock(&console_lock);
	end_open_line();
	put_raw(s, n);
	spin_unlock(&console_lock);
}

static size_t stamp(char *buf, size_t len)
{
	uint64_t us = timer_us();
	int n = snprintf(buf, len, "[%5u.%06u] ", (unsigned)(us / 1000000u), (unsigned)(us % 1000000u));
	return n > 0 ? (size_t)n : 0;
}

static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	char line[256];
	size_t n = stamp(line, sizeof(line));
	int m = snprintf(line + n, sizeof(line) - n, "%s", prefix);
	if (m > 0)
		n += (size_t)m;
	if (n < sizeof(line)) {
		m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		if (m > 0)
			n = MIN(n + (size_t)m, sizeof(line) - 2);
	}
	line[n++] = '\n';
	line[n] = '\0';
	console_write(line, n);
}

void log_printf(enum log_level lvl, const char *fmt, ...)
{
	static const char *const prefix[] = {"keel: ERROR: ", "keel: WARN: ", "keel: ", "keel: debug: "};
	if (lvl > console_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(prefix[lvl], fmt, ap);
	va_end(ap);
}

/*
 * VM output, each line prefixed with the VM's name and line-buffered, so that
 * VMs running side by side never interleave inside a line. An interactive
 * prompt has no newline, so the tick writes out the input VM's partial line
 * once it has waited a little; the rest of that line then follows directly.
 * A log line or another VM's output first ends such an open line.
 */
#define CONSOLE_PARTIAL_US 30000

static const struct console_vm_line *open_line;
static struct console_vm_line *input_line;

static void end_open_line(void)
{
	if (open_line) {
		put_raw("\n", 1);
		open_line = NULL;
	}
}

static void put_prefixed(const struct console_vm_line *l, const char *s, size_t n)
{
	if (open_line != l) {
		end_open_line();
		char prefix[48];
		int m = snprintf(prefix, sizeof(prefix), "[%s] ", l->name);
		if (m > 0)
			put_raw(prefix, MIN((size_t)m, sizeof(prefix) - 1));
		open_line = l;
	}
	put_raw(s, n);
	if (n && s[n - 1] == '\n')
		open_line = NULL;
}

void console_vm_set_interactive(struct console_vm_line *l)
{
	input_line = l;
}

void console_vm_putc(struct console_vm_line *l, const char *vm_name, char c)
{
	if (c == '\r')
		return;
	spin_lock(&console_lock);
	l->name = vm_name;
	if (open_line == l) {
		put_prefixed(l, &c, 1);
	} else {
		if (l->len == 0)
			l->since_us = timer_us();
		l->buf[l->len++] = c;
		if (c == '\n' || l->len == sizeof(l->buf) - 1) {
			if (c != '\n')
				l->buf[l->len++] = '\n';
			put_prefixed(l, l->buf, l->len);
			l->len = 0;
		}
	}
	spin_unlock(&console_lock);
}

void console_tick(void)
{
	struct console_vm_line *l = input_line;
	if (l == NULL || l->len == 0)
		return;
	spin_lock(&console_lock);
	if (l->len && timer_us() - l->since_us >= CONSOLE_PARTIAL_US) {
		put_prefixed(l, l->buf, l->len);
		l->len = 0;
	}
	spin_unlock(&console_lock);
}

void console_vm_flush(struct console_vm_line *l, const char *vm_name)
{
	spin_lock(&console_lock);
	l->name = vm_name;
	if (l->len) {
		l->buf[l->len++] = '\n';
		put_prefixed(l, l->buf, l->len);
		l->len = 0;
	}
	if (open_line == l)
		end_open_line();
	spin_unlock(&console_lock);
}

NORETURN void panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("keel: PANIC: ", fmt, ap);
	va_end(ap);
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
