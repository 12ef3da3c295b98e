/*
 * vGIC state embedded in struct vm / struct vcpu (see core/vgic.h for the API).
 * Everything here is protected by the owning VM's vgic_dist.lock.
 */
#ifndef KEEL_CORE_VGIC_STATE_H
#define KEEL_CORE_VGIC_STATE_H

#include "arch/spinlock.h"
#include "keel/types.h"

#define VGIC_NR_SPIS 96 /* SPI INTIDs 32..127: the most a VM can have */
#define VGIC_NR_PRIV 32 /* SGIs 0..15 and PPIs 16..31, per vCPU */
#define VGIC_MAX_LRS 16 /* architectural maximum of ICH_LR<n>_EL2 */
#define VGIC_NO_VCPU 0xff
#define VGIC_V3	     3 /* the models: the guest sees the host's GIC version */
#define VGIC_V2	     2

struct vcpu;

/** One virtual interrupt (SGI, PPI or SPI). */
struct vgic_irq {
	uint8_t priority; /**< implemented bits only (VGIC_PRIO_MASK) */
	bool enabled;
	bool pending_latch; /**< edge pending, or soft pending (ISPENDR, vgic_inject) of a level interrupt */
	bool line_level;    /**< level input (vgic_set_level) */
	bool active;
	bool edge;	    /**< ICFGR Int_config[1]: true = edge-triggered */
	bool group1;	    /**< IGROUPR */
	bool hw;	    /**< linked to a physical PPI (LR HW bit) */
	bool phys_active;   /**< hw: the physical interrupt is active, waiting for the guest's deactivation */
	bool in_lr;	    /**< listed in an LR of vCPU `owner` since its last flush */
	bool lr_latched;    /**< in_lr: the LR's pending state came from pending_latch */
	uint8_t owner;	    /**< vCPU whose LR holds it / on which it is active, else VGIC_NO_VCPU */
	uint8_t route_vcpu; /**< SPIs: vCPU index matching `route`, else VGIC_NO_VCPU */
	uint16_t pintid;    /**< hw: physical INTID */
	uint64_t route;	    /**< SPIs: v3 IROUTER affinity (Aff3..Aff0; IRM is RAZ); v2 ITARGETSR vCPU mask */
};

/** A vCPU's redistributor and list-register bookkeeping. */
struct vgic_vcpu {
	struct vgic_irq priv[VGIC_NR_PRIV]; /**< SGIs and PPIs */
	bool asleep;			    /**< GICR_WAKER.ProcessorSleep */
	uint32_t lr_used;		    /**< LRs written by the last vgic_flush_lrs */
	uint32_t lr_intid[VGIC_MAX_LRS];    /**< INTID held by each used LR */
	uint32_t lr_live;		    /**< LRs whose hardware content may be valid (lr_val) */
	uint64_t lr_val[VGIC_MAX_LRS];	    /**< live LRs: their hardware content as last read/written */
	uint64_t hcr;			    /**< ICH_HCR_EL2 as keel last wrote it (see vgic_vcpu_load) */
	uint32_t hw_deact;		    /**< physical PPIs (bit = INTID) keel must deactivate itself */
	/** priv[i] may be active or pending (bit i): a superset, see vgic_dist.spi_maybe. */
	uint32_t priv_maybe;
};

/** A VM's distributor. */
struct vgic_dist {
	struct spinlock lock;
	uint8_t model;	  /**< VGIC_V3 or VGIC_V2 (vgic_set_model; survives vgic_vm_init) */
	uint32_t ctlr;	  /**< GICD_CTLR EnableGrp0 (bit 0) | EnableGrp1 (bit 1) */
	unsigned nr_spis; /**< SPIs 32..32+nr_spis-1 exist */
	struct vgic_irq spi[VGIC_NR_SPIS];
	void (*kick)(struct vcpu *vcpu); /**< see vgic_set_kick; survives vgic_vm_init */
	uint32_t bad_accesses;		 /**< guest accesses logged or suppressed (rate limit) */
	/**
	 * spi[i] may be active or pending (bit i). Set wherever an interrupt becomes active or
	 * pending (vgic_note); cleared by the scans that find it neither. The list-register flush
	 * and the pending check visit only these, not every interrupt on every guest entry.
	 */
	uint32_t spi_maybe[(VGIC_NR_SPIS + 31) / 32];
};

#endif
