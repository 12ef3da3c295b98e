#include "core/memmap.h"

#include "keel/addr.h"
#include "keel/util.h"

bool memmap_reserve(struct memmap *m, paddr_t base, uint64_t size)
{
	if (m->nr_reserved >= MEMMAP_MAX_RESERVED)
		return false;
	m->reserved[m->nr_reserved++] = (struct phys_range){base, size};
	return true;
}

bool memmap_alloc(struct memmap *m, uint64_t size, uint64_t align, paddr_t *out)
{
	for (unsigned r = 0; r < m->mi->nr_ram; r++) {
		uint64_t lo = pa_addr(m->mi->ram[r].base), hi = lo + m->mi->ram[r].size;
		uint64_t cand = ALIGN_UP(lo, align);
		while (cand + size <= hi && cand + size > cand) {
			bool clash = false;
			for (unsigned i = 0; i < m->nr_reserved; i++) {
				uint64_t b = pa_addr(m->reserved[i].base), s = m->reserved[i].size;
				if (ranges_overlap(cand, size, b, s)) {
					cand = ALIGN_UP(b + s, align);
					clash = true;
					break;
				}
			}
			if (!clash) {
				*out = pa_init(cand);
				return memmap_reserve(m, *out, size);
			}
		}
	}
	return false;
}
