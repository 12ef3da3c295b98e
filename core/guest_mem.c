/* Guest RAM translation: the single gate between guest addresses and host memory. */
#include "core/guest_mem.h"

#include "keel/util.h"

bool gmem_translate(const struct guest_mem *m, ipa_t ipa, uint64_t len, paddr_t *pa)
{
	if (len == 0)
		return false;
	for (unsigned i = 0; i < m->count && i < GMEM_MAX_RANGES; i++) {
		const struct gmem_range *r = &m->ranges[i];
		if (range_within(ipa_addr(ipa), len, ipa_addr(r->ipa), r->size)) {
			*pa = pa_add(r->pa, ipa_addr(ipa) - ipa_addr(r->ipa));
			return true;
		}
	}
	return false;
}

void *gmem_ptr(const struct guest_mem *m, ipa_t ipa, uint64_t len)
{
	paddr_t pa;
	if (!gmem_translate(m, ipa, len, &pa))
		return NULL;
	return pa_to_ptr(pa);
}
