/* The IPA layout every VM sees: QEMU virt's, so unmodified virt kernels run. */
#ifndef KEEL_CORE_VM_LAYOUT_H
#define KEEL_CORE_VM_LAYOUT_H

#define GUEST_FLASH_BASE    0x00000000ULL /* firmware VMs: two CFI flash banks, as QEMU virt */
#define GUEST_FLASH_BANK    0x04000000ULL /* bytes per bank; bank 1 (variables) follows bank 0 */
#define GUEST_GICD_BASE	    0x08000000ULL
#define GUEST_GICR_BASE	    0x080a0000ULL
#define GUEST_GICR_STRIDE   0x20000ULL
#define GUEST_GICC_BASE	    0x08010000ULL /* GICv2 guests: the hardware's GICV, mapped by stage 2 */
#define GUEST_GICC_SIZE	    0x2000ULL	  /* 8 KiB: GICC_DIR at 0x1000 (4 KiB when the GICV is that small) */
#define GUEST_UART_BASE	    0x09000000ULL
#define GUEST_UART_INTID    33 /* SPI 1 */
#define GUEST_VIRTIO_BASE   0x0a000000ULL
#define GUEST_VIRTIO_STRIDE 0x1000ULL /* one device per 4 KiB page: its read-only shadow (virtio_mmio.h) */
#define GUEST_VIRTIO_INTID  48	      /* SPI 16 + n */
#define GUEST_VIRTIO_MAX    8
#define GUEST_RAM_BASE	    0x40000000ULL
#define GUEST_KERNEL_OFFSET 0x200000ULL /* Image placement: RAM base + 2 MiB */
#define GUEST_FDT_MAX	    0x10000ULL

#endif
