#include "drivers/pl011.h"

#include "arch/timer.h"
#include "keel/addr.h"

#define UARTDR		      0x00
#define UARTFR		      0x18
#define UARTFR_TXFF	      (1u << 5)
#define UARTCR		      0x30
#define UARTCR_ON	      0x301u /* UARTEN | TXE | RXE */
#define UARTIMSC	      0x38
#define UARTICR		      0x44
#define UARTFR_RXFE	      (1u << 4)
#define UART_RXIM	      (1u << 4)
#define UART_RTIM	      (1u << 6)
#define PL011_PUTC_TIMEOUT_US 10000u

int pl011_getc(paddr_t base)
{
	volatile uint32_t *regs = pa_to_ptr(base);
	if (regs[UARTFR / 4] & UARTFR_RXFE)
		return -1;
	return (int)(regs[UARTDR / 4] & 0xff);
}

void pl011_enable(paddr_t base)
{
	volatile uint32_t *regs = pa_to_ptr(base);
	if ((regs[UARTCR / 4] & UARTCR_ON) != UARTCR_ON)
		regs[UARTCR / 4] |= UARTCR_ON;
}

void pl011_rx_irq_enable(paddr_t base)
{
	volatile uint32_t *regs = pa_to_ptr(base);
	regs[UARTICR / 4] = UART_RXIM | UART_RTIM;
	regs[UARTIMSC / 4] |= UART_RXIM | UART_RTIM;
}

bool pl011_try_putc(paddr_t base, char c)
{
	volatile uint32_t *regs = pa_to_ptr(base);
	if (regs[UARTFR / 4] & UARTFR_TXFF)
		return false;
	regs[UARTDR / 4] = (uint32_t)(unsigned char)c;
	return true;
}

void pl011_putc(paddr_t base, char c)
{
	if (pl011_try_putc(base, c))
		return;
	/* A wedged UART must not hang the hypervisor: give up after a while (the byte is lost). */
	uint64_t t0 = timer_us();
	while (timer_us() - t0 < PL011_PUTC_TIMEOUT_US)
		if (pl011_try_putc(base, c))
			return;
}
