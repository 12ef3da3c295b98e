/* SDHCI request errors (see sdhci_err.h). */
#include "drivers/storage/sdhci_err.h"

#include <stdio.h>
#include <string.h>

#include "drivers/storage/sdhci_regs.h"
#include "keel/log.h"
#include "keel/util.h"

struct bit_name {
	uint32_t bit;
	const char *name;
};

static const struct bit_name int_names[] = {
    {SDHCI_INT_CMD_TIMEOUT, "command timeout"}, {SDHCI_INT_CMD_CRC, "command CRC"},
    {SDHCI_INT_CMD_END_BIT, "command end bit"}, {SDHCI_INT_CMD_INDEX, "command index"},
    {SDHCI_INT_DATA_TIMEOUT, "data timeout"},	{SDHCI_INT_DATA_CRC, "data CRC"},
    {SDHCI_INT_DATA_END_BIT, "data end bit"},	{SDHCI_INT_BUS_POWER, "current limit"},
    {SDHCI_INT_AUTO_CMD_ERR, "auto CMD"},	{SDHCI_INT_ADMA_ERR, "ADMA"},
};

/* Auto CMD error status (SDHCI v3.00 2.2.23). */
static const struct bit_name acmd_names[] = {
    {1u << 0, "not executed"}, {1u << 1, "timeout"}, {1u << 2, "CRC"},
    {1u << 3, "end bit"},      {1u << 4, "index"},   {1u << 7, "command not issued"},
};

static const char *const adma_states[] = {"ST_STOP", "ST_FDS", "state 2", "ST_TFR"};

/* Append to buf at *at (always NUL-terminated, truncated when full). */
static void put(char *buf, size_t len, size_t *at, const char *s)
{
	if (*at + 1 >= len)
		return;
	int n = snprintf(buf + *at, len - *at, "%s", s);
	if (n > 0)
		*at = MIN(len - 1, *at + (size_t)n);
}

void sdhci_err_names(const struct sdhci_err_seen *e, char *buf, size_t len)
{
	size_t at = 0;
	bool any = false;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (unsigned i = 0; i < ARRAY_SIZE(int_names); i++) {
		if (!(e->status & int_names[i].bit))
			continue;
		put(buf, len, &at, any ? ", " : "");
		put(buf, len, &at, int_names[i].name);
		any = true;
		if (int_names[i].bit == SDHCI_INT_AUTO_CMD_ERR) {
			put(buf, len, &at, " (");
			bool sub = false;
			for (unsigned k = 0; k < ARRAY_SIZE(acmd_names); k++)
				if (e->auto_cmd & acmd_names[k].bit) {
					put(buf, len, &at, sub ? ", " : "");
					put(buf, len, &at, acmd_names[k].name);
					sub = true;
				}
			put(buf, len, &at, sub ? ")" : "no cause)");
		}
		if (int_names[i].bit == SDHCI_INT_ADMA_ERR) {
			put(buf, len, &at, " (");
			put(buf, len, &at, adma_states[e->adma & 3u]);
			put(buf, len, &at, (e->adma & 4u) ? ", length mismatch)" : ")");
		}
	}
	if (!any)
		put(buf, len, &at, "no error bit");
}

void sdhci_err_note(struct sdhci_err *err, const struct sdhci_err_seen *e)
{
	err->last = *e;
	err->count++;
}

void sdhci_err_end(struct sdhci_err *err, const char *dev, const struct blk_req *req, unsigned tries,
		   unsigned max_tries, int status, uint64_t now_us)
{
	if (err->count == 0)
		return;
	if (status == BLK_ECANCELED) { /* stopped by its owner: not the hardware's failure */
		err->count = 0;
		return;
	}
	const struct sdhci_err_seen *e = &err->last;
	if (ratelimit_log_allowed(&err->rl, now_us, dev)) {
		char bits[160];
		sdhci_err_names(e, bits, sizeof(bits));
		err->lines++;
		if (status == BLK_OK)
			log_warn(
			    "%s: %s of %llu sectors at %llu recovered on try %u of %u after %u error(s), "
			    "the last CMD%u (arg 0x%x): %s [%s], status 0x%08x, card status 0x%08x",
			    dev, blk_op_name(req->op), (unsigned long long)req->nsectors,
			    (unsigned long long)req->sector, tries, max_tries, err->count, e->cmd, e->arg,
			    e->what, bits, e->status, e->r1);
		else
			log_err("%s: %s of %llu sectors at %llu failed (I/O error to its owner) after %u "
				"tries: CMD%u (arg 0x%x): %s [%s], status 0x%08x, card status 0x%08x",
				dev, blk_op_name(req->op), (unsigned long long)req->nsectors,
				(unsigned long long)req->sector, tries, e->cmd, e->arg, e->what, bits,
				e->status, e->r1);
	}
	err->count = 0;
}
