/* Raspberry Pi 4 (BCM2711, QEMU raspi4b): the board description. */
#include "core/platform.h"
#include "platform/rpi4/board.h"

#include "drivers/pl011.h"
#include "keel/addr.h"
#include "vdev/vdev_disks.h"

static const struct platform_ops rpi4_ops = {
    .console_putc = pl011_putc,
    .console_try_putc = pl011_try_putc,
    .console_getc = pl011_getc,
    .console_rx_irq_enable = pl011_rx_irq_enable,
    .console_early_init = pl011_enable,
    .storage_init = rpi4_storage_init,
    .power_off = rpi4_power_off,
    .vm_attach_devices = vdev_attach_disks,
};

/* RAM from 0 up to the peripherals at 0xfc000000 (low peripheral mode), and above 4 GiB on 8 GiB boards. */
static const struct platform_mem_window rpi4_ram[] = {
    {{0x00000000}, 0xfc000000ULL},
    {{0x100000000ULL}, 7ULL << 30},
};

const struct platform_desc platform = {
    .name = "rpi4",
    .early_uart = {0xfe201000}, /* PL011 UART0, QEMU's first -serial */
    .ram_windows = rpi4_ram,
    .nr_ram_windows = 2,
    .ops = &rpi4_ops,
};
