/* Polled PL011 console and a small printf. */
#ifndef GUEST_UART_H
#define GUEST_UART_H

#include <stdint.h>

#define PL011_DEFAULT_BASE 0x09000000UL

/** Uses the PL011 at base from now on and enables its transmitter. */
void uart_init(uintptr_t base);
uintptr_t uart_base(void);
void uart_putc(char c);
/** The next received character, or -1 when the receive FIFO is empty. */
int uart_getc(void);
void uart_puts(const char *s);
/** printf subset: %s %c %d %i %u %x %X %p %%, 'l'/'ll'/'z' sizes, '0' flag and field width. */
void gprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
