/*
 * A VM's RAM: IPA ranges backed by contiguous host-physical ranges. Every
 * guest-supplied address that keel touches or hands to DMA goes through
 * gmem_translate, which refuses anything not wholly inside one range.
 */
#ifndef KEEL_CORE_GUEST_MEM_H
#define KEEL_CORE_GUEST_MEM_H

#include "keel/addr.h"

#define GMEM_MAX_RANGES 4

struct gmem_range {
	ipa_t ipa;
	paddr_t pa;
	uint64_t size;
};

struct guest_mem {
	struct gmem_range ranges[GMEM_MAX_RANGES];
	unsigned count;
};

/**
 * Translate [ipa, ipa+len) to host-physical. Returns false (and leaves *pa
 * untouched) unless the whole range, len >= 1, lies in a single RAM range.
 */
bool gmem_translate(const struct guest_mem *m, ipa_t ipa, uint64_t len, paddr_t *pa);

/** As gmem_translate, returning a hypervisor pointer (NULL when refused). */
void *gmem_ptr(const struct guest_mem *m, ipa_t ipa, uint64_t len);

#endif
