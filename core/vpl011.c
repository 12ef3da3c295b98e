/* Emulated PL011 (see core/vpl011.h). */
#include "core/vpl011.h"

#include <errno.h>

#include "arch/timer.h"
#include "core/vgic.h"
#include "core/vm.h"
#include "keel/log.h"

#define UARTDR	       0x000
#define UARTRSR	       0x004
#define UARTFR	       0x018
#define UARTILPR       0x020
#define UARTIBRD       0x024
#define UARTFBRD       0x028
#define UARTLCR_H      0x02c
#define UARTCR	       0x030
#define UARTIFLS       0x034
#define UARTIMSC       0x038
#define UARTRIS	       0x03c
#define UARTMIS	       0x040
#define UARTICR	       0x044
#define UARTDMACR      0x048
#define UARTFR_RXFE    (1u << 4)
#define UARTFR_TXFE    (1u << 7)
#define UART_TXI       (1u << 5)
#define UART_PERIPH_ID 0xfe0

/* PL011 r1p5 peripheral and PrimeCell IDs, as the AMBA bus probe reads them. */
static const uint8_t pl011_ids[8] = {0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1};

#define UART_RXI (1u << 4)
#define UART_RTI (1u << 6)

static uint32_t raw_status(const struct vpl011 *u)
{
	/* TX FIFO always below its trigger level; RX (and its timeout) while characters wait. */
	return UART_TXI | (u->rx_count ? UART_RXI | UART_RTI : 0);
}

/* Lock held. The vGIC takes its own lock inside: the order is UART, then vGIC. */
static void update_line(struct vpl011 *u)
{
	bool level = (raw_status(u) & u->imsc) != 0;
	if (level != u->line) {
		u->line = level;
		vgic_set_level(u->vm, u->intid, level);
	}
}

static void read_locked(struct vpl011 *u, struct mmio_access *acc)
{
	uint64_t off = acc->offset;
	switch (off) {
	case UARTDR:
		acc->value = 0;
		if (u->rx_count) {
			acc->value = u->rx[u->rx_head];
			u->rx_head = (u->rx_head + 1) % sizeof(u->rx);
			u->rx_count--;
		}
		update_line(u);
		break;
	case UARTRSR:
		acc->value = 0;
		break;
	case UARTFR:
		acc->value = UARTFR_TXFE | (u->rx_count ? 0 : UARTFR_RXFE);
		break;
	case UARTIBRD:
		acc->value = u->ibrd;
		break;
	case UARTFBRD:
		acc->value = u->fbrd;
		break;
	case UARTLCR_H:
		acc->value = u->lcr_h;
		break;
	case UARTCR:
		acc->value = u->cr;
		break;
	case UARTIFLS:
		acc->value = u->ifls;
		break;
	case UARTIMSC:
		acc->value = u->imsc;
		break;
	case UARTRIS:
		acc->value = raw_status(u);
		break;
	case UARTMIS:
		acc->value = raw_status(u) & u->imsc;
		break;
	case UARTDMACR:
		acc->value = u->dmacr;
		break;
	default:
		if (off >= UART_PERIPH_ID && off < 0x1000 && (off & 3) == 0)
			acc->value = pl011_ids[(off - UART_PERIPH_ID) / 4];
		else
			acc->value = 0;
	}
}

static int vpl011_read(void *dev, struct vcpu *vcpu, struct mmio_access *acc)
{
	struct vpl011 *u = dev;
	(void)vcpu;
	spin_lock(&u->lock);
	read_locked(u, acc);
	spin_unlock(&u->lock);
	return 0;
}

static void write_locked(struct vpl011 *u, const struct mmio_access *acc)
{
	uint32_t v = (uint32_t)acc->value;
	switch (acc->offset) {
	case UARTDR:
		if (!u->said_first_tx) {
			/* Boot time as the user sees it: to the guest's (or its firmware's) first output. */
			u->said_first_tx = true;
			log_info("VM %s: first console output %llu us after its start", u->vm->name,
				 (unsigned long long)(timer_us() - u->vm->loaded_us));
		}
		console_vm_putc(&u->vm->con, u->vm->name, (char)(v & 0xff));
		break;
	case UARTIBRD:
		u->ibrd = v & 0xffff;
		break;
	case UARTFBRD:
		u->fbrd = v & 0x3f;
		break;
	case UARTLCR_H:
		u->lcr_h = v & 0xff;
		break;
	case UARTCR:
		u->cr = v & 0xffff;
		break;
	case UARTIFLS:
		u->ifls = v & 0x3f;
		break;
	case UARTIMSC:
		u->imsc = v & 0x7ff;
		update_line(u);
		break;
	case UARTICR:
		update_line(u);
		break;
	case UARTDMACR:
		u->dmacr = v & 7;
		break;
	default:
		break; /* read-only or reserved: ignored */
	}
}

static int vpl011_write(void *dev, struct vcpu *vcpu, struct mmio_access *acc)
{
	struct vpl011 *u = dev;
	(void)vcpu;
	spin_lock(&u->lock);
	write_locked(u, acc);
	spin_unlock(&u->lock);
	return 0;
}

void vpl011_receive(void *ctx, char c)
{
	struct vpl011 *u = ctx;
	spin_lock(&u->lock);
	if (u->rx_count < sizeof(u->rx)) {
		u->rx[(u->rx_head + u->rx_count) % sizeof(u->rx)] = (uint8_t)c;
		u->rx_count++;
	}
	update_line(u);
	spin_unlock(&u->lock);
}

void vpl011_reset(void *dev)
{
	struct vpl011 *u = dev;
	spin_lock(&u->lock);
	u->cr = 0x300;
	u->ifls = 0x12;
	u->lcr_h = u->ibrd = u->fbrd = u->imsc = u->dmacr = 0;
	u->line = false; /* the vGIC's reset lowered it too */
	u->said_first_tx = false;
	u->rx_head = u->rx_count = 0;
	spin_unlock(&u->lock);
}

int vpl011_init(struct vpl011 *u, struct vm *vm, ipa_t base, uint32_t intid)
{
	struct spinlock unlocked = SPINLOCK_INIT;
	u->lock = unlocked;
	u->vm = vm;
	u->intid = intid;
	vpl011_reset(u);
	static const struct vm_dev_ops vpl011_ops = {.reset = vpl011_reset};
	if (!vm_add_device(vm, NULL, &vpl011_ops, u))
		return -ENOSPC;
	struct mmio_region r = {
	    .base = base,
	    .size = 0x1000,
	    .read = vpl011_read,
	    .write = vpl011_write,
	    .dev = u,
	    .name = "pl011",
	};
	return mmio_bus_register(&vm->mmio, &r);
}
