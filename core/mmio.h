/*
 * The MMIO bus: emulated devices are regions of a VM's IPA space that are
 * absent from its stage-2 map. A stage-2 data abort is decoded once into a
 * struct mmio_access and dispatched to the region covering the IPA.
 */
#ifndef KEEL_CORE_MMIO_H
#define KEEL_CORE_MMIO_H

#include "keel/types.h"

struct vcpu;

/** One decoded guest load or store. */
struct mmio_access {
	ipa_t ipa;	  /**< faulting guest address */
	uint64_t offset;  /**< ipa - region base, filled in by the bus */
	uint8_t size;	  /**< access size in bytes: 1, 2, 4 or 8 */
	bool write;	  /**< true for a store */
	uint64_t value;	  /**< store: the value written; load: set by the read callback */
	uint8_t reg;	  /**< Xt / Wt register number (31 = xzr) */
	bool sign_extend; /**< load sign-extends (SSE) */
	bool reg64;	  /**< destination is a 64-bit register (SF) */
};

/**
 * Callback result: 0 = done; a negative value = the guest gets a synchronous external abort. A device
 * that refuses an access logs why itself (rate-limited); the trap handler adds no line of its own.
 */
typedef int (*mmio_fn)(void *dev, struct vcpu *vcpu, struct mmio_access *acc);

struct mmio_region {
	ipa_t base;
	uint64_t size;
	mmio_fn read;
	mmio_fn write;
	void *dev;
	const char *name;
};

#define MMIO_BUS_MAX_REGIONS 32

/** A VM's set of emulated regions; lookups are by IPA. */
struct mmio_bus {
	struct mmio_region regions[MMIO_BUS_MAX_REGIONS];
	unsigned count;
};

/** Add a region; returns -EEXIST on overlap, -ENOSPC when full, -EINVAL on an empty or wrapping range. */
int mmio_bus_register(struct mmio_bus *bus, const struct mmio_region *r);

/** The region holding [ipa, ipa+size), or NULL. */
const struct mmio_region *mmio_bus_find(const struct mmio_bus *bus, ipa_t ipa, uint64_t size);

/**
 * Dispatch a decoded access. Returns -ENOENT when no region covers it (the
 * caller injects an abort), else the callback's result. For loads the value
 * is truncated to size and sign-extended per the access before return.
 */
int mmio_bus_dispatch(const struct mmio_bus *bus, struct vcpu *vcpu, struct mmio_access *acc);

#endif
