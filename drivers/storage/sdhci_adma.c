/* ADMA2 descriptor tables from request segments (see sdhci_adma.h). */
#include "drivers/storage/sdhci_adma.h"

#include "drivers/storage/sdhci_regs.h"
#include "keel/addr.h"
#include "keel/util.h"

#define ADDR32_LIMIT (1ULL << 32)

static void put_line(uint32_t *table, unsigned i, bool dma64, uint64_t addr, uint32_t len, bool end)
{
	uint32_t attr = SDHCI_ADMA2_VALID | SDHCI_ADMA2_TRAN | (end ? SDHCI_ADMA2_END : 0);
	/* len is 1..65536; 65536 is encoded as 0. */
	uint32_t w0 = attr | (uint32_t)(len & 0xffffu) << 16;

	if (dma64) {
		uint32_t *l = &table[i * SDHCI_ADMA_WORDS_64];
		l[0] = w0;
		l[1] = (uint32_t)addr;
		l[2] = (uint32_t)(addr >> 32);
	} else {
		uint32_t *l = &table[i * SDHCI_ADMA_WORDS_32];
		l[0] = w0;
		l[1] = (uint32_t)addr;
	}
}

int sdhci_adma_build(uint32_t *table, unsigned max_lines, bool dma64, const struct bus_dev *bus,
		     const struct blk_seg *segs, unsigned nsegs, unsigned *splits)
{
	unsigned lines = 0, extra = 0;

	if (nsegs == 0 || segs == NULL)
		return SDHCI_ADMA_EEMPTY;
	/* Check everything before writing anything. */
	for (unsigned i = 0; i < nsegs; i++) {
		uint32_t len = segs[i].len;
		dma_addr_t d = dma_init(0);
		if (len == 0)
			return SDHCI_ADMA_EEMPTY;
		if (!bus_dma_addr(bus, segs[i].pa, len, &d))
			return SDHCI_ADMA_EWINDOW;
		uint64_t pa = dma_addr(d);
		if (!IS_ALIGNED(pa, SDHCI_ADMA_ALIGN) || !IS_ALIGNED(len, SDHCI_ADMA_ALIGN))
			return SDHCI_ADMA_EALIGN;
		if (pa + len < pa || (!dma64 && pa + len > ADDR32_LIMIT))
			return SDHCI_ADMA_ERANGE;
		unsigned n = (unsigned)((len + SDHCI_ADMA_LINE_MAX - 1) / SDHCI_ADMA_LINE_MAX);
		if (n > max_lines - lines) /* lines <= max_lines always */
			return SDHCI_ADMA_ETOOMANY;
		lines += n;
		extra += n - 1;
	}
	if (splits)
		*splits = extra;
	if (table == NULL)
		return (int)lines;

	unsigned at = 0;
	for (unsigned i = 0; i < nsegs; i++) {
		dma_addr_t d = dma_init(0);
		bus_dma_addr(bus, segs[i].pa, segs[i].len, &d); /* checked above */
		uint64_t pa = dma_addr(d);
		uint32_t left = segs[i].len;
		while (left > 0) {
			uint32_t piece = MIN(left, SDHCI_ADMA_LINE_MAX);
			left -= piece;
			put_line(table, at, dma64, pa, piece, at + 1 == lines);
			pa += piece;
			at++;
		}
	}
	return (int)lines;
}

int sdhci_plan_xfer(const struct sdhci_xfer_caps *c, const struct blk_req *req, enum sdhci_path *path,
		    unsigned *splits, unsigned *bad)
{
	*bad = 0;
	*path = SDHCI_PATH_ADMA;
	*splits = 0;
	uint64_t total = 0;
	if (req->segs == NULL || req->nsegs == 0)
		return BLK_EINVAL;
	for (unsigned i = 0; i < req->nsegs; i++) {
		if (req->segs[i].len == 0)
			return BLK_EINVAL;
		total += req->segs[i].len;
	}
	if (total != req->nsectors * BLK_SECTOR_SIZE)
		return BLK_EINVAL;
	if (c->pio) {
		*path = SDHCI_PATH_PIO;
		return 0;
	}
	dma_addr_t d0 = dma_init(0);
	for (unsigned i = 0; i < req->nsegs; i++) {
		if (!bus_dma_addr(c->bus, req->segs[i].pa, req->segs[i].len, &d0)) {
			*bad = i;
			return BLK_EIO;
		}
	}
	if (c->adma) {
		int n = sdhci_adma_build(NULL, c->max_lines, c->dma64, c->bus, req->segs, req->nsegs, splits);
		if (n > 0)
			return 0;
		*splits = 0;
		if (n != SDHCI_ADMA_EALIGN && n != SDHCI_ADMA_ERANGE && n != SDHCI_ADMA_ETOOMANY)
			return BLK_EINVAL;
	}
	bus_dma_addr(c->bus, req->segs[0].pa, req->segs[0].len, &d0);
	if (req->nsegs == 1 && dma_addr(d0) + req->segs[0].len <= ADDR32_LIMIT) {
		*path = SDHCI_PATH_SDMA;
		return 0;
	}
	while (*bad + 1 < req->nsegs && IS_ALIGNED(pa_addr(req->segs[*bad].pa), SDHCI_ADMA_ALIGN) &&
	       IS_ALIGNED(req->segs[*bad].len, SDHCI_ADMA_ALIGN))
		(*bad)++;
	return BLK_EINVAL;
}
