/*
 * A board is data: one const struct platform_desc per platform/<board>/,
 * holding addresses for the time before the DT is read and the ops that
 * bind drivers and virtual devices. Generic code never tests which board.
 */
#ifndef KEEL_CORE_PLATFORM_H
#define KEEL_CORE_PLATFORM_H

#include "keel/types.h"

struct vm;
struct vm_config;
struct vm_disk_config;
struct blkdev;

struct platform_ops {
	/** Polled console output (physical UART). */
	void (*console_putc)(paddr_t uart, char c);
	/** Non-blocking console output: false when the UART cannot take the byte now. May be NULL. */
	bool (*console_try_putc)(paddr_t uart, char c);
	/** Polled console input: a character or -1; and enabling its receive interrupt. May be NULL. */
	int (*console_getc)(paddr_t uart);
	void (*console_rx_irq_enable)(paddr_t uart);
	/** Bring up storage controllers found in the DT; returns 0 or negative. */
	int (*storage_init)(const void *fdt);
	/** Power the machine off where the DT gives no PSCI; may return (then keel halts). May be NULL. */
	void (*power_off)(void);
	/** Make the early UART transmit (before the first console byte). May be NULL. */
	void (*console_early_init)(paddr_t uart);
	/** Create the VM's virtual devices beyond vGIC/UART (virtio disks). */
	int (*vm_attach_devices)(struct vm *vm);
};

struct platform_mem_window {
	paddr_t base;
	uint64_t size;
};

struct platform_desc {
	const char *name;
	paddr_t early_uart; /**< console before the DT is parsed */
	/** Where RAM can be: mapped Normal at EL2 before the DT is read; the rest is Device. */
	const struct platform_mem_window *ram_windows;
	unsigned nr_ram_windows;
	const struct platform_ops *ops;
};

/** Defined by exactly one platform/<board>/ per build. */
extern const struct platform_desc platform;

#endif
