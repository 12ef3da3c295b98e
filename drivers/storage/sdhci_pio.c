/* PIO bounce-block copies to and from request segments (see sdhci_pio.h). */
#include "drivers/storage/sdhci_pio.h"

#include <string.h>

#include "keel/addr.h"
#include "keel/util.h"

bool sdhci_pio_copy(const struct blk_seg *segs, unsigned nsegs, uint64_t off, void *buf, uint32_t len,
		    bool to_segs)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < nsegs; i++)
		total += segs[i].len;
	if (off > total || len > total - off)
		return false;
	uint8_t *b = buf;
	for (unsigned i = 0; i < nsegs && len > 0; i++) {
		if (off >= segs[i].len) {
			off -= segs[i].len;
			continue;
		}
		uint32_t n = (uint32_t)MIN((uint64_t)len, segs[i].len - off);
		uint8_t *p = (uint8_t *)pa_to_ptr(segs[i].pa) + off;
		if (to_segs)
			memcpy(p, b, n);
		else
			memcpy(b, p, n);
		b += n;
		len -= n;
		off = 0;
	}
	return true;
}
