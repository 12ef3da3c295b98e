/* PL011 polled transmit. Every register access is one MMIO access (a trap under keel). */
#include <stdarg.h>
#include <stdint.h>

#include "arch.h"
#include "uart.h"

#define UART_DR	   0x00
#define UART_FR	   0x18
#define UART_CR	   0x30
#define FR_RXFE	   (1u << 4)
#define FR_TXFF	   (1u << 5)
#define CR_UARTEN  (1u << 0)
#define CR_TXE	   (1u << 8)
#define CR_RXE	   (1u << 9)
#define TXFF_SPINS 100000

static uintptr_t uart = PL011_DEFAULT_BASE;

void uart_init(uintptr_t base)
{
	uart = base;
	mmio_write32(uart + UART_CR, CR_UARTEN | CR_TXE | CR_RXE);
}

uintptr_t uart_base(void)
{
	return uart;
}

void uart_putc(char c)
{
	/* Bounded: a console that never drains must not hang the guest. */
	for (int i = 0; i < TXFF_SPINS && (mmio_read32(uart + UART_FR) & FR_TXFF); i++)
		;
	mmio_write32(uart + UART_DR, (uint8_t)c);
}

int uart_getc(void)
{
	if (mmio_read32(uart + UART_FR) & FR_RXFE)
		return -1;
	return (int)(mmio_read32(uart + UART_DR) & 0xff);
}

void uart_puts(const char *s)
{
	while (*s) {
		if (*s == '\n')
			uart_putc('\r');
		uart_putc(*s++);
	}
}

static void put_num(uint64_t v, unsigned base, int neg, int width, char pad, int upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char buf[24];
	int n = 0;

	do {
		buf[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (neg)
		width--;
	if (neg && pad == '0')
		uart_putc('-');
	for (; width > n; width--)
		uart_putc(pad);
	if (neg && pad != '0')
		uart_putc('-');
	while (n)
		uart_putc(buf[--n]);
}

void gprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			if (*fmt == '\n')
				uart_putc('\r');
			uart_putc(*fmt);
			continue;
		}
		fmt++;
		char pad = ' ';
		int width = 0, lng = 0;

		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			put_num(v < 0 ? -(uint64_t)v : (uint64_t)v, 10, v < 0, width, pad, 0);
			break;
		}
		case 'u':
			put_num(lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, 0, width, pad, 0);
			break;
		case 'x':
		case 'X':
			put_num(lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, 0, width, pad,
				*fmt == 'X');
			break;
		case 'p':
			uart_puts("0x");
			put_num((uintptr_t)va_arg(ap, void *), 16, 0, width, pad, 0);
			break;
		case 'c':
			uart_putc((char)va_arg(ap, int));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			int len = 0;

			if (!s)
				s = "(null)";
			while (s[len])
				len++;
			for (; width > len; width--)
				uart_putc(' ');
			uart_puts(s);
			break;
		}
		case '%':
			uart_putc('%');
			break;
		case '\0':
			fmt--;
			break;
		default:
			uart_putc('%');
			uart_putc(*fmt);
			break;
		}
	}
	va_end(ap);
}
