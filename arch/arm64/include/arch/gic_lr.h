/*
 * The virtual CPU interface control of the CPU running the caller: list
 * registers and the hypervisor control register, for GICv3 (ICH_*_EL2) or
 * GICv2 (GICH_*), whichever the machine has. The vGIC state machine works on
 * the neutral struct gic_lr; gic_lr_encode/decode translate it to and from
 * the raw register value of this machine's GIC (kept raw so that an
 * unchanged LR is not written again). The fake arch keeps the registers in
 * arrays and chooses the layout with fake_gic_version, so vGIC logic is
 * host-testable for both.
 */
#ifndef KEEL_ARCH_GIC_LR_H
#define KEEL_ARCH_GIC_LR_H

#include <stdbool.h>
#include <stdint.h>

/** One list register, layout-neutral. */
struct gic_lr {
	uint32_t vintid;  /**< virtual INTID (GICv2: 10 bits, GICv3: up to 32 bits) */
	uint32_t pintid;  /**< hw: physical INTID (10 bits) */
	uint8_t priority; /**< 8-bit priority; both layouts keep its top 5 bits */
	bool pending, active;
	bool group1;
	bool hw; /**< deactivating the virtual interrupt deactivates pintid */
};

/* ICH_LR<n>_EL2 fields (GICv3 architecture, IHI 0069). */
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

/* GICH_LRn fields (GICv2 architecture, IHI 0048B 5.3.11). */
#define GICH_LR_VINTID_MASK  0x3ffu
#define GICH_LR_PINTID_SHIFT 10
#define GICH_LR_PINTID_MASK  (0x3ffu << 10)
#define GICH_LR_PRIO_SHIFT   23 /* Priority[27:23]: the top 5 bits of the 8-bit priority */
#define GICH_LR_PENDING	     (1u << 28)
#define GICH_LR_ACTIVE	     (1u << 29)
#define GICH_LR_STATE_MASK   (3u << 28)
#define GICH_LR_GROUP1	     (1u << 30)
#define GICH_LR_HW	     (1u << 31)

/* ICH_HCR_EL2 and GICH_HCR share these bits. */
#define ICH_HCR_EN   (1ULL << 0)
#define ICH_HCR_UIE  (1ULL << 1)
#define ICH_HCR_NPIE (1ULL << 3)

/** The layout-specific codecs (pure functions: also built for host tests). */
uint64_t gic_v3_lr_encode(const struct gic_lr *lr);
void gic_v3_lr_decode(uint64_t v, struct gic_lr *lr);
uint64_t gic_v2_lr_encode(const struct gic_lr *lr);
void gic_v2_lr_decode(uint64_t v, struct gic_lr *lr);

/** This machine's layout. A raw value of 0 is an invalid (empty) LR in both. */
uint64_t gic_lr_encode(const struct gic_lr *lr);
void gic_lr_decode(uint64_t v, struct gic_lr *lr);

unsigned gic_lr_count(void);
uint64_t gic_lr_read(unsigned i);
void gic_lr_write(unsigned i, uint64_t v);
uint64_t gic_hcr_read(void);
void gic_hcr_write(uint64_t v);

#endif
