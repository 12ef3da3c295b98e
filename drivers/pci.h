/*
 * PCIe through the generic ECAM host bridge (QEMU virt, many boards): keel
 * enumerates the bus itself, assigns memory BARs from the host bridge's
 * `ranges`, enables memory decoding and bus mastering, and resolves INTx to
 * a GIC SPI through the host node's `interrupt-map`. Controller drivers stay
 * bus-agnostic: they take a register base and an INTID.
 *
 * Scope: the first bus of the bridge's bus-range (no bridges are followed),
 * memory BARs only (I/O BARs are left unassigned), legacy INTx only.
 */
#ifndef KEEL_DRIVERS_PCI_H
#define KEEL_DRIVERS_PCI_H

#include "keel/types.h"

#define PCI_MAX_DEVS 16

/* Configuration-space offsets and bits drivers may need. */
#define PCI_CFG_VENDOR_DEVICE 0x00
#define PCI_CFG_COMMAND	      0x04
#define PCI_CFG_CLASS_REV     0x08
#define PCI_CFG_BAR0	      0x10
#define PCI_CFG_INTERRUPT     0x3c /**< line (7:0), pin (15:8; 1 = INTA) */
#define PCI_CMD_MEM	      (1u << 1)
#define PCI_CMD_MASTER	      (1u << 2)
#define PCI_CMD_INTX_DISABLE  (1u << 10)

struct pci_dev {
	uint8_t bus, dev, fn;
	uint16_t vendor, device;
	uint32_t class_code; /**< class << 16 | subclass << 8 | prog-if */
	paddr_t bar[6];	     /**< assigned memory BARs (0 when absent; the upper slot of a 64-bit BAR is 0) */
	uint64_t bar_size[6];
	uint32_t intid;	   /**< GIC INTID of its INTx line, 0 when none */
	bool claimed;	   /**< set by the driver that took it (pci_find skips nothing; for logs) */
	bool dma_coherent; /**< the host bridge is "dma-coherent": no cache maintenance around DMA */
};

/** Enumerate bus 0 of the ECAM host bridge in fdt; assign BARs. Returns devices found or negative. */
int pci_init(const void *fdt);
/** The first device matching vendor:device (vendor 0xffff: device is class << 8 | subclass), NULL if none. */
struct pci_dev *pci_find(uint16_t vendor, uint16_t device);
/** The first device with (class_code & mask) == (class_code_wanted & mask), NULL if none. */
struct pci_dev *pci_find_class(uint32_t class_code, uint32_t mask);
/** The i-th enumerated device (0-based), NULL past the end: for drivers that take every match. */
struct pci_dev *pci_dev_at(unsigned i);
/** Enable memory decoding and bus mastering (and INTx delivery). */
void pci_enable(struct pci_dev *d);
/** Disable bus mastering and memory decoding (a driver giving a broken device up). */
void pci_disable(struct pci_dev *d);
/** Aligned 32-bit configuration-space access (off & 3 must be 0, off < 4096). */
uint32_t pci_cfg_read32(const struct pci_dev *d, uint32_t off);
void pci_cfg_write32(const struct pci_dev *d, uint32_t off, uint32_t val);

#endif
