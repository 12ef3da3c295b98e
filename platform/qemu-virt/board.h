#ifndef KEEL_PLATFORM_QEMU_VIRT_BOARD_H
#define KEEL_PLATFORM_QEMU_VIRT_BOARD_H

int qemu_virt_storage_init(const void *fdt);

#endif
