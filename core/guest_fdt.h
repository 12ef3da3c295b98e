/*
 * The DTB keel writes for each guest: exactly its partition (memory, vCPUs,
 * PSCI, its GIC (v3, or v2 with the host's compatible), timer, UART, its
 * virtio devices, chosen/bootargs/initrd and the boot's seeds, and for a firmware VM the CFI flash
 * banks).
 */
#ifndef KEEL_CORE_GUEST_FDT_H
#define KEEL_CORE_GUEST_FDT_H

#include "keel/types.h"

#define GUEST_FDT_MAX_DEVS 8
#define GUEST_FDT_RNG_SEED 32 /**< bytes of /chosen/rng-seed (as QEMU virt gives) */

struct guest_fdt_dev {
	const char *compatible; /**< e.g. "virtio,mmio" */
	uint64_t base, size;
	uint32_t intid; /**< SPI INTID (>= 32) */
	bool edge;
};

struct guest_fdt_params {
	unsigned nr_cpus;
	uint64_t ram_base, ram_size;
	const char *bootargs;
	uint64_t initrd_base, initrd_size; /**< size 0: none */
	uint32_t timer_ppis[4];		   /**< secure, non-secure, virtual, hyp INTIDs */
	unsigned gic_version;		   /**< 3 (default when 0) or 2 */
	const char *gic_compatible;	   /**< v2: the host's ("arm,gic-400", "arm,cortex-a15-gic") */
	uint64_t gicc_size;		   /**< v2: the guest's GICC window (8 KiB, or 4 KiB) */
	struct guest_fdt_dev devs[GUEST_FDT_MAX_DEVS];
	unsigned nr_devs;
	/** /chosen/kaslr-seed (8 bytes) and /chosen/rng-seed; false: neither (no entropy at boot). */
	bool seeds;
	uint64_t kaslr_seed;
	uint8_t rng_seed[GUEST_FDT_RNG_SEED];
	/** Firmware VM: a "cfi-flash" node with QEMU virt's two banks (GUEST_FLASH_BASE, bank width 4). */
	bool flash;
};

/** Write the guest DTB into buf (len bytes). Returns 0 or a negative libfdt error. */
int guest_fdt_build(void *buf, size_t len, const struct guest_fdt_params *p);

#endif
