#include "drivers/pl011.h"

#include "keel/addr.h"

#define UARTDR 0x00
#define UARTFR 0x18
#define UARTFR_TXFF (1u << 5)
#define PL011_SPIN_LIMIT 1000000u

void pl011_putc(paddr_t base, char c)
{
	volatile uint32_t *regs = pa_to_ptr(base);
	/* A wedged UART must not hang the hypervisor: give up after a bound. */
	for (unsigned i = 0; i < PL011_SPIN_LIMIT; i++) {
		if (!(regs[UARTFR / 4] & UARTFR_TXFF)) {
			regs[UARTDR / 4] = (uint32_t)(unsigned char)c;
			return;
		}
	}
}
