/* QEMU virt (virtualization=on): the board description. */
#include "core/platform.h"
#include "platform/qemu-virt/board.h"

#include "drivers/pl011.h"
#include "keel/addr.h"
#include "vdev/vdev_attach.h"

static const struct platform_ops qemu_virt_ops = {
    .console_putc = pl011_putc,
    .console_try_putc = pl011_try_putc,
    .console_getc = pl011_getc,
    .console_rx_irq_enable = pl011_rx_irq_enable,
    .storage_init = qemu_virt_storage_init,
    .vm_attach_devices = vdev_attach_devices,
};

/* virt places up to 255 GiB of RAM at 1 GiB; high PCIe windows lie above. */
static const struct platform_mem_window qemu_virt_ram[] = {
    {{0x40000000}, 255ULL << 30},
};

const struct platform_desc platform = {
    .name = "qemu-virt",
    .early_uart = {0x09000000},
    .ram_windows = qemu_virt_ram,
    .nr_ram_windows = 1,
    .ops = &qemu_virt_ops,
};
