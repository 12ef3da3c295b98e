/*
 * PCIe through the generic ECAM host bridge (QEMU virt, many boards): keel
 * enumerates the bus itself, assigns memory BARs from the host bridge's
 * `ranges`, enables memory decoding and bus mastering, and resolves INTx to
 * a GIC SPI through the host node's `interrupt-map`. Controller drivers stay
 * bus-agnostic: they take a register base and an INTID.
 */
#ifndef KEEL_DRIVERS_PCI_H
#define KEEL_DRIVERS_PCI_H

#include "keel/types.h"

#define PCI_MAX_DEVS 16

struct pci_dev {
	uint8_t bus, dev, fn;
	uint16_t vendor, device;
	uint32_t class_code;   /**< class << 16 | subclass << 8 | prog-if */
	paddr_t bar[6];        /**< assigned memory BARs (0 when absent) */
	uint64_t bar_size[6];
	uint32_t intid;        /**< GIC INTID of its INTx line, 0 when none */
};

/** Enumerate bus 0 of the ECAM host bridge in fdt; assign BARs. Returns devices found or negative. */
int pci_init(const void *fdt);
/** The first device matching vendor:device (or class when vendor is 0xffff), NULL if none. */
struct pci_dev *pci_find(uint16_t vendor, uint16_t device);
struct pci_dev *pci_find_class(uint32_t class_code, uint32_t mask);
/** Enable memory decoding and bus mastering. */
void pci_enable(struct pci_dev *d);

#endif
