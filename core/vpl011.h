/*
 * An emulated PL011 per VM: transmit goes to keel's console as whole lines
 * prefixed by the VM's name; receive takes keel's console input (first VM)
 * through a 64-byte FIFO. The interrupt is a level line (TXRIS is always set:
 * the FIFO drains instantly; RX while characters wait).
 */
#ifndef KEEL_CORE_VPL011_H
#define KEEL_CORE_VPL011_H

#include "arch/spinlock.h"
#include "keel/types.h"

struct vm;

struct vpl011 {
	struct spinlock lock; /**< guards everything below vm and intid (vCPU accesses, console input) */
	struct vm *vm;
	uint32_t intid;
	uint32_t cr, lcr_h, ibrd, fbrd, ifls, imsc, dmacr;
	bool line;
	bool said_first_tx; /**< the first output since the VM's (re)start was logged with its time */
	uint8_t rx[64];	    /**< receive FIFO (console input) */
	unsigned rx_head, rx_count;
};

/** Console input for this VM: queue a character (dropped when the FIFO is full) and raise RX. */
void vpl011_receive(void *ctx, char c);

/** Register the UART's 4 KiB MMIO region at base on the VM's bus. */
int vpl011_init(struct vpl011 *u, struct vm *vm, ipa_t base, uint32_t intid);

/** Back to the state after power-on (VM reset hook). */
void vpl011_reset(void *dev);

#endif
