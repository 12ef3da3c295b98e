/*
 * The machine (from the boot DTB) and the VM configuration (from /chosen, in
 * the style of Xen's dom0less bindings):
 *
 *   chosen {
 *     vm@0 {
 *       compatible = "keel,vm";
 *       #address-cells = <2>; #size-cells = <2>;
 *       vm-name = "linux";            (default: the node name)
 *       cpus = <1>;                   (vCPUs, pinned to physical CPUs in order)
 *       memory = <0x0 0x10000000>;    (size; or memory-range = <base size>)
 *       bootargs = "console=ttyAMA0";
 *       kernel { compatible = "multiboot,kernel"; reg = <addr size>; };
 *       ramdisk { compatible = "multiboot,ramdisk"; reg = <addr size>; };
 *       firmware { compatible = "keel,firmware"; reg = <addr size>; };
 *                (firmware boot, as QEMU virt's -bios: the image, at most 64 MiB, is the VM's
 *                 read-only CFI flash bank at IPA 0, a second writable bank at 0x04000000 holds
 *                 firmware variables; the DTB is at RAM base and vCPU 0 starts at IPA 0 with x0
 *                 = the DTB. kernel and ramdisk are then not allowed: the firmware loads them.)
 *       disk@0 { compatible = "keel,disk"; backend = "ram"; reg = <addr size>;
 *                read-only; serial = "..."; partition = "name";
 *                (GPT disk: partition name; MBR disk: primary partition number "1".."4";
 *                 allow-boot-partition; lets the VM have the MBR boot partition)
 *                io-poll-us = <500>;      (completion polling window, 0: off)
 *                irq-coalesce-us = <1000>; };  (interrupt coalescing deadline, 0: off)
 *     };
 *   };
 *
 * Parsing only reads the DTB; every error names the node and property.
 */
#ifndef KEEL_CORE_CONFIG_H
#define KEEL_CORE_CONFIG_H

#include "keel/types.h"

#define MACHINE_MAX_RAM	     4
#define MACHINE_MAX_CPUS     8
#define MACHINE_MAX_RESERVED 8
#define CONFIG_MAX_VMS	     4
#define CONFIG_MAX_DISKS     2

struct phys_range {
	paddr_t base;
	uint64_t size;
};

enum { MACHINE_CPU_PSCI, MACHINE_CPU_SPIN_TABLE, MACHINE_CPU_NONE };

struct machine_info {
	struct phys_range ram[MACHINE_MAX_RAM];
	unsigned nr_ram;
	unsigned nr_cpus;
	uint64_t cpu_mpidr[MACHINE_MAX_CPUS];
	/** Per CPU, from its DT enable-method: MACHINE_CPU_PSCI or MACHINE_CPU_SPIN_TABLE (+ release
	 * address). */
	uint8_t cpu_enable[MACHINE_MAX_CPUS];
	paddr_t cpu_release_addr[MACHINE_MAX_CPUS];
	unsigned gic_version;	    /**< 3 (arm,gic-v3) or 2 (arm,gic-400, arm,cortex-a15-gic) */
	const char *gic_compatible; /**< the host GIC's compatible (static string), for the guests' DT */
	struct phys_range gicd;
	struct phys_range gicr;	  /**< v3: redistributors */
	struct phys_range gicc;	  /**< v2: CPU interface */
	struct phys_range gich;	  /**< v2: virtual interface control */
	struct phys_range gicv;	  /**< v2: virtual CPU interface (mapped into guests at their GICC) */
	uint32_t gic_maint_intid; /**< the maintenance interrupt (PPI 9 = INTID 25 on virt and the Pi) */
	struct phys_range uart;
	uint32_t uart_intid;	     /**< 0 when unknown */
	struct phys_range pcie_ecam; /**< size 0 when absent */
	uint32_t timer_virt_ppi;     /**< INTID of the virtual timer (27 on virt) */
	bool has_psci;		     /**< the DT has an arm,psci-0.2/1.0 node */
	bool psci_smc;		     /**< PSCI conduit: smc (true) or hvc */
	/** RAM the firmware keeps (/memreserve/ entries, /reserved-memory children): never given to VMs. */
	struct phys_range reserved[MACHINE_MAX_RESERVED];
	unsigned nr_reserved;
};

struct vm_module {
	paddr_t base;
	uint64_t size; /**< 0 when absent */
};

struct vm_disk_config {
	char node[32];	      /**< DT node name inside the VM node ("disk@0"), for messages */
	char backend[16];     /**< "ram", "ufs", "sd" */
	struct vm_module ram; /**< backend "ram": the image in reserved memory */
	bool read_only;
	char serial[21];
	char partition[37];	   /**< GPT partition name or MBR partition number, "" for the whole device */
	bool allow_boot_partition; /**< "allow-boot-partition": an MBR disk's boot partition may be given */
	/** "io-poll-us": how long keel may wait for a lone request after a notify (0: never). */
	uint32_t io_poll_us;
	/** "irq-coalesce-us": how long an interrupt may wait for a busy guest to idle (0: never held). */
	uint32_t irq_coalesce_us;
	/** "mmio-shadow = <0>": every register read traps (default: reads come from a read-only shadow page).
	 */
	bool no_mmio_shadow;
};

#define CONFIG_IO_POLL_US_DEFAULT      500u
#define CONFIG_IO_POLL_US_MAX	       10000u
#define CONFIG_IRQ_COALESCE_US_DEFAULT 1000u
#define CONFIG_IRQ_COALESCE_US_MAX     10000u
#define CONFIG_FIRMWARE_MAX	       0x04000000ULL /**< one flash bank, as QEMU virt */

struct vm_config {
	char name[32];
	char node[48]; /**< DT node name, for messages */
	unsigned nr_cpus;
	unsigned first_pcpu;
	uint64_t mem_size;
	bool has_mem_base;
	paddr_t mem_base;
	struct vm_module kernel, ramdisk;
	struct vm_module firmware; /**< size 0: the kernel is started directly */
	char bootargs[512];
	struct vm_disk_config disks[CONFIG_MAX_DISKS];
	unsigned nr_disks;
};

struct keel_config {
	struct vm_config vms[CONFIG_MAX_VMS];
	unsigned nr_vms;
	/** /chosen "keel,stay-on": when every VM is off, keel stays at its console instead of powering off.
	 */
	bool stay_on;
};

/** Read RAM, CPUs, GIC, UART, timer, PCIe and PSCI from the boot DTB. Returns 0 or -EINVAL (err says why). */
int machine_parse(const void *fdt, struct machine_info *mi, char *err, size_t errlen);

/**
 * Read and validate the VMs under /chosen: modules inside RAM, no overlaps
 * between modules, fixed VM memory and the reserved ranges given, vCPUs
 * available. Every storage is assigned once, over all VMs: a backend's whole
 * disk, or one GPT partition of it, goes to at most one disk node (two
 * different partitions of one backend are fine), and RAM-disk images do not
 * overlap. Returns 0 or -EINVAL with err naming node and property (for a
 * double assignment: both disk nodes and the backend).
 */
int config_parse(const void *fdt, const struct machine_info *mi, const struct phys_range *reserved,
		 unsigned nr_reserved, struct keel_config *cfg, char *err, size_t errlen);

#endif
