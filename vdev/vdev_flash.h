/* A firmware VM's CFI flash banks (QEMU virt's -bios layout) as emulated devices. */
#ifndef KEEL_VDEV_FLASH_H
#define KEEL_VDEV_FLASH_H

struct vm;

/**
 * For a VM with a firmware (cfg->firmware, storage vm->flash_pa): bank 0 (the firmware, read-only) at
 * GUEST_FLASH_BASE and bank 1 (variables, writable, kept across VM resets) after it, each an MMIO
 * region running the CFI command set (vdev/flash_cfi.h) and, while in read-array mode, mapped
 * read-only in stage 2 so that reads and instruction fetches do not trap; a store faults in and
 * is decoded as a command. Nothing for other VMs. Returns 0 or negative.
 */
int vdev_attach_flash(struct vm *vm);

#endif
