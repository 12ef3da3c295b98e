/*
 * The virtual GIC: distributor/redistributor emulation and injection of
 * virtual interrupts through the list registers of the owning vCPU.
 */
#ifndef KEEL_CORE_VGIC_H
#define KEEL_CORE_VGIC_H

#include "keel/types.h"

struct vm;
struct vcpu;

/** Raise an edge (or a level that the caller will lower) on a VM's SPI or PPI. Returns 0 or -EINVAL. */
int vgic_inject(struct vm *vm, uint32_t intid);

#endif
