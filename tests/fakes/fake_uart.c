/* Host-test UART sink (see fake_uart.h). */
#include "tests/fakes/fake_uart.h"

void fake_uart_reset(struct fake_uart *u)
{
	u->len = 0;
	u->out[0] = '\0';
	u->room = -1;
	u->calls = 0;
}

bool fake_uart_try_put(void *ctx, char c)
{
	struct fake_uart *u = ctx;
	u->calls++;
	if (u->room == 0 || u->len >= FAKE_UART_CAP)
		return false;
	if (u->room > 0)
		u->room--;
	u->out[u->len++] = c;
	u->out[u->len] = '\0';
	return true;
}
