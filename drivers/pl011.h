/* ARM PL011 UART, polled transmit only (keel's console). */
#ifndef KEEL_DRIVERS_PL011_H
#define KEEL_DRIVERS_PL011_H

#include "keel/types.h"

/** Write one character; waits (up to 10 ms) for FIFO space, drops the byte if the UART never drains. */
void pl011_putc(paddr_t base, char c);
/** Write one character if the transmit FIFO has room; never waits. */
bool pl011_try_putc(paddr_t base, char c);

/** Enable the UART, transmit and receive (UARTCR) if firmware left it off (QEMU 10 transmits only then). */
void pl011_enable(paddr_t base);

/** One received character, or -1 when the receive FIFO is empty. */
int pl011_getc(paddr_t base);
/** Enable the receive (and receive-timeout) interrupt. */
void pl011_rx_irq_enable(paddr_t base);

#endif
