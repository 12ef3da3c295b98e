/*
 * Access to the GICv3 virtual CPU interface control registers of the CPU
 * running the caller (list registers, ICH_HCR_EL2). The fake arch keeps
 * them in an array so vGIC logic is host-testable.
 */
#ifndef KEEL_ARCH_GIC_LR_H
#define KEEL_ARCH_GIC_LR_H

#include <stdint.h>

/* ICH_LR<n>_EL2 fields (GICv3 architecture). */
#define ICH_LR_VINTID_MASK  0xffffffffULL
#define ICH_LR_PINTID_SHIFT 32
#define ICH_LR_PINTID_MASK  (0x3ffULL << 32)
#define ICH_LR_PRIO_SHIFT   48
#define ICH_LR_GROUP1	    (1ULL << 60)
#define ICH_LR_HW	    (1ULL << 61)
#define ICH_LR_STATE_SHIFT  62
#define ICH_LR_STATE_MASK   (3ULL << 62)
#define ICH_LR_PENDING	    (1ULL << 62)
#define ICH_LR_ACTIVE	    (2ULL << 62)

/* ICH_HCR_EL2 */
#define ICH_HCR_EN   (1ULL << 0)
#define ICH_HCR_UIE  (1ULL << 1)
#define ICH_HCR_NPIE (1ULL << 3)

unsigned gic_lr_count(void);
uint64_t gic_lr_read(unsigned i);
void gic_lr_write(unsigned i, uint64_t v);
uint64_t gic_hcr_read(void);
void gic_hcr_write(uint64_t v);

#endif
