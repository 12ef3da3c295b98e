/* The per-VM MMIO bus: find the emulated region for a trapped access and call it. */
#include "core/mmio.h"

#include <errno.h>

#include "keel/addr.h"
#include "keel/util.h"

int mmio_bus_register(struct mmio_bus *bus, const struct mmio_region *r)
{
	uint64_t base = ipa_addr(r->base);
	if (r->size == 0 || base + r->size < base)
		return -EINVAL;
	for (unsigned i = 0; i < bus->count; i++) {
		const struct mmio_region *o = &bus->regions[i];
		if (ranges_overlap(base, r->size, ipa_addr(o->base), o->size))
			return -EEXIST;
	}
	if (bus->count >= MMIO_BUS_MAX_REGIONS)
		return -ENOSPC;
	bus->regions[bus->count++] = *r;
	return 0;
}

const struct mmio_region *mmio_bus_find(const struct mmio_bus *bus, ipa_t ipa, uint64_t size)
{
	for (unsigned i = 0; i < bus->count; i++) {
		const struct mmio_region *r = &bus->regions[i];
		if (range_within(ipa_addr(ipa), size, ipa_addr(r->base), r->size))
			return r;
	}
	return NULL;
}

static uint64_t load_extend(const struct mmio_access *acc, uint64_t v)
{
	unsigned bits = acc->size * 8u;
	if (bits < 64) {
		v &= (1ULL << bits) - 1;
		if (acc->sign_extend && (v & (1ULL << (bits - 1))))
			v |= ~((1ULL << bits) - 1);
	}
	if (!acc->reg64)
		v &= 0xffffffffULL;
	return v;
}

int mmio_bus_dispatch(const struct mmio_bus *bus, struct vcpu *vcpu, struct mmio_access *acc)
{
	if (acc->size != 1 && acc->size != 2 && acc->size != 4 && acc->size != 8)
		return -EINVAL;
	const struct mmio_region *r = mmio_bus_find(bus, acc->ipa, acc->size);
	if (r == NULL)
		return -ENOENT;
	acc->offset = ipa_addr(acc->ipa) - ipa_addr(r->base);
	if (acc->write) {
		if (acc->size < 8)
			acc->value &= (1ULL << (acc->size * 8u)) - 1;
		return r->write ? r->write(r->dev, vcpu, acc) : -EPERM;
	}
	acc->value = 0;
	int rc = r->read ? r->read(r->dev, vcpu, acc) : -EPERM;
	if (rc == 0)
		acc->value = load_extend(acc, acc->value);
	return rc;
}
