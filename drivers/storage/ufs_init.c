/*
 * UFS driver, bring-up (see ufs_priv.h): synchronous commands while nobody else drives the controller
 * (state DOWN or RESETTING): HCE, UIC link startup, the request lists, NOP, fDeviceInit, LU 0 TEST UNIT
 * READY and READ CAPACITY. Every wait is bounded by time.
 */
#include <string.h>

#include "arch/barrier.h"
#include "arch/cache.h"
#include "arch/timer.h"
#include "drivers/storage/reg_wait.h"
#include "drivers/storage/ufs_priv.h"
#include "keel/log.h"

bool ufs_wait_reg(const struct ufs_host *h, uint32_t off, uint32_t mask, uint32_t want, uint64_t timeout_us)
{
	return reg_wait32(h->regs + off / 4, mask, want, timeout_us);
}

static void udelay(uint64_t us)
{
	uint64_t end = timer_us() + us;
	while (timer_us() < end)
		;
}

static int internal_slot(const struct ufs_host *h)
{
	uint32_t ok = h->slot_mask & ~h->poisoned;
	return ok ? (int)ctz32(ok) : -1;
}

/* Run the UPIU already built in slot s; data_len bytes of m->scratch are the data. 0, or -1 on timeout. */
static int internal_exec(struct ufs_host *h, unsigned s, uint32_t dd, uint32_t data_len, struct ufs_result *r)
{
	struct ufs_mem *m = h->mem;
	uint8_t *ucd = m->ucd[s];
	unsigned nprd = 0;

	if (data_len) {
		struct ufs_prd *prd = (struct ufs_prd *)(void *)(ucd + UFS_UCD_PRDT_OFF);
		*prd = (struct ufs_prd){(uint32_t)ptr_pa(m->scratch), (uint32_t)(ptr_pa(m->scratch) >> 32), 0,
					data_len - 1};
		nprd = 1;
		dcache_clean_inval_range(m->scratch, data_len);
	}
	ufs_utrd_fill(&m->utrl[s], ptr_pa(ucd), dd, nprd, false);
	dcache_clean_inval_range(ucd, UFS_UCD_SIZE);
	dcache_clean_range(&m->utrl[s], sizeof(m->utrl[s]));
	h->stats.commands++;
	h->stats.doorbells++;
	mb();
	wr(h, UFS_REG_UTRLDBR, 1u << s);
	if (!ufs_wait_reg(h, UFS_REG_UTRLDBR, 1u << s, 0, UFS_INTERNAL_TIMEOUT_US)) {
		log_err("%s: bring-up command (UPIU 0x%02x) timed out", h->name, ucd[0]);
		h->poisoned |= 1u << s; /* the controller still owns it */
		return -1;
	}
	mb();
	wr(h, UFS_REG_IS, UFS_IS_UTRCS);
	dcache_clean_inval_range(&m->utrl[s], sizeof(m->utrl[s]));
	dcache_inval_range(ucd + UFS_UCD_RSP_OFF, UFS_UCD_RSP_LEN);
	if (data_len)
		dcache_inval_range(m->scratch, data_len);
	ufs_rsp_parse(ucd + UFS_UCD_RSP_OFF, READ_ONCE(m->utrl[s].dw2), r);
	return 0;
}

static int run_nop(struct ufs_host *h)
{
	struct ufs_result r;
	int s = internal_slot(h);

	if (s < 0)
		return -1;
	ufs_upiu_nop_out(h->mem->ucd[s], (uint8_t)s);
	if (internal_exec(h, (unsigned)s, UFS_UTRD_DD_NONE, 0, &r) != 0)
		return -1;
	return (r.ocs == UFS_OCS_SUCCESS && r.trans == UFS_UPIU_NOP_IN && r.tag == s && r.response == 0) ? 0
													 : -1;
}

static int run_query_flag(struct ufs_host *h, uint8_t func, uint8_t opcode, uint8_t idn, uint32_t *value)
{
	struct ufs_result r;
	int s = internal_slot(h);

	if (s < 0)
		return -1;
	ufs_upiu_query(h->mem->ucd[s], (uint8_t)s, func, opcode, idn, 0, 0, 0);
	if (internal_exec(h, (unsigned)s, UFS_UTRD_DD_NONE, 0, &r) != 0)
		return -1;
	if (r.ocs != UFS_OCS_SUCCESS || r.trans != UFS_UPIU_QUERY_RSP || r.tag != s || r.response != 0) {
		log_err("%s: query opcode 0x%x idn 0x%x failed: ocs 0x%x response 0x%x", h->name, opcode, idn,
			r.ocs, r.response);
		return -1;
	}
	*value = r.value & 0xffu;
	return 0;
}

static enum ufs_verdict run_scsi(struct ufs_host *h, const uint8_t cdb[UFS_CDB_LEN], bool write, uint32_t len,
				 struct ufs_result *r)
{
	int s = internal_slot(h);
	uint8_t flags = len == 0 ? 0 : (write ? UFS_UPIU_FLAG_WRITE : UFS_UPIU_FLAG_READ);
	uint32_t dd = len == 0 ? UFS_UTRD_DD_NONE : (write ? UFS_UTRD_DD_WRITE : UFS_UTRD_DD_READ);

	if (s < 0)
		return UFS_FAIL;
	ufs_upiu_command(h->mem->ucd[s], UFS_LUN, (uint8_t)s, flags, len, cdb);
	if (internal_exec(h, (unsigned)s, dd, len, r) != 0)
		return UFS_FAIL;
	return ufs_scsi_verdict(r, (uint8_t)s);
}

static int link_startup(struct ufs_host *h)
{
	for (unsigned t = 0; t < UFS_LINK_TRIES; t++) {
		if (!ufs_wait_reg(h, UFS_REG_HCS, UFS_HCS_UCRDY, UFS_HCS_UCRDY, UFS_UIC_TIMEOUT_US)) {
			log_err("%s: UIC not ready for commands (HCS 0x%x)", h->name, rd(h, UFS_REG_HCS));
			return -1;
		}
		wr(h, UFS_REG_IS, UFS_IS_UCCS);
		wr(h, UFS_REG_UCMDARG1, 0);
		wr(h, UFS_REG_UCMDARG2, 0);
		wr(h, UFS_REG_UCMDARG3, 0);
		wr(h, UFS_REG_UICCMD, UFS_UIC_DME_LINKSTARTUP);
		if (!ufs_wait_reg(h, UFS_REG_IS, UFS_IS_UCCS, UFS_IS_UCCS, UFS_UIC_TIMEOUT_US)) {
			log_warn("%s: DME_LINKSTARTUP did not complete (try %u)", h->name, t + 1);
			continue;
		}
		uint32_t result = rd(h, UFS_REG_UCMDARG2) & UFS_UIC_RESULT_MASK;
		wr(h, UFS_REG_IS, UFS_IS_UCCS);
		if (result != 0) {
			log_warn("%s: DME_LINKSTARTUP result %u (try %u)", h->name, result, t + 1);
			continue;
		}
		if (ufs_wait_reg(h, UFS_REG_HCS, UFS_HCS_DP, UFS_HCS_DP, UFS_UIC_TIMEOUT_US))
			return 0;
		log_warn("%s: link up but no device present (try %u)", h->name, t + 1);
	}
	return -1;
}

static int lists_start(struct ufs_host *h)
{
	struct ufs_mem *m = h->mem;
	uint64_t utrl = ptr_pa(m->utrl), utmrl = ptr_pa(m->utmrl);

	memset(m->utrl, 0, sizeof(m->utrl));
	memset(m->utmrl, 0, sizeof(m->utmrl));
	dcache_clean_inval_range(m->utrl, sizeof(m->utrl));
	dcache_clean_inval_range(m->utmrl, sizeof(m->utmrl));
	wr(h, UFS_REG_UTRLBA, (uint32_t)utrl);
	wr(h, UFS_REG_UTRLBAU, (uint32_t)(utrl >> 32));
	wr(h, UFS_REG_UTMRLBA, (uint32_t)utmrl);
	wr(h, UFS_REG_UTMRLBAU, (uint32_t)(utmrl >> 32));
	uint32_t rdy = UFS_HCS_UTRLRDY | UFS_HCS_UTMRLRDY;
	if (!ufs_wait_reg(h, UFS_REG_HCS, rdy, rdy, UFS_LIST_READY_TIMEOUT_US)) {
		log_err("%s: request lists not ready (HCS 0x%x)", h->name, rd(h, UFS_REG_HCS));
		return -1;
	}
	wr(h, UFS_REG_UTRLRSR, 1);
	wr(h, UFS_REG_UTMRLRSR, 1);
	return 0;
}

static int device_init(struct ufs_host *h)
{
	uint32_t v = 1;
	unsigned t;

	for (t = 0; t < UFS_NOP_TRIES && run_nop(h) != 0; t++)
		udelay(1000);
	if (t == UFS_NOP_TRIES) {
		log_err("%s: no NOP IN from the device", h->name);
		return -1;
	}
	if (run_query_flag(h, UFS_QUERY_FUNC_WRITE, UFS_QUERY_OP_SET_FLAG, UFS_FLAG_FDEVICEINIT, &v) != 0)
		return -1;
	uint64_t end = timer_us() + UFS_FDEVICEINIT_TIMEOUT_US;
	do {
		if (run_query_flag(h, UFS_QUERY_FUNC_READ, UFS_QUERY_OP_READ_FLAG, UFS_FLAG_FDEVICEINIT,
				   &v) != 0)
			return -1;
		if (v == 0)
			return 0;
		udelay(1000);
	} while (timer_us() < end);
	log_err("%s: fDeviceInit still set after %u ms", h->name, UFS_FDEVICEINIT_TIMEOUT_US / 1000);
	return -1;
}

/* TEST UNIT READY on LU 0 until GOOD; UNIT ATTENTION after power-on or reset is expected. */
static int lu_ready(struct ufs_host *h)
{
	uint8_t cdb[UFS_CDB_LEN];
	struct ufs_result r;

	ufs_cdb_simple(cdb, SCSI_TEST_UNIT_READY);
	for (unsigned t = 0; t < UFS_TUR_TRIES; t++) {
		enum ufs_verdict v = run_scsi(h, cdb, false, 0, &r);
		if (v == UFS_OK)
			return 0;
		if (v == UFS_FAIL) {
			log_err("%s: LU %u: TEST UNIT READY failed: ocs 0x%x status 0x%x sense %x/%02x/%02x",
				h->name, UFS_LUN, r.ocs, r.status, r.sense_key, r.asc, r.ascq);
			return -1;
		}
		udelay(t == 0 ? 0 : 10000);
	}
	log_err("%s: LU %u never became ready", h->name, UFS_LUN);
	return -1;
}

/*
 * Disable the controller (which aborts every request) and wait, by time, for the doorbell to drain.
 * A slot still rung after that is the controller's for good: poisoned, never used again. -1 when
 * HCE does not clear (every slot still rung is then poisoned too).
 */
int ufs_hc_disable(struct ufs_host *h)
{
	wr(h, UFS_REG_IE, 0);
	if (rd(h, UFS_REG_HCE) & UFS_HCE_ENABLE) {
		wr(h, UFS_REG_HCE, 0);
		if (!ufs_wait_reg(h, UFS_REG_HCE, UFS_HCE_ENABLE, 0, UFS_HCE_TIMEOUT_US)) {
			log_err("%s: HCE stays set after disable", h->name);
			h->poisoned |= rd(h, UFS_REG_UTRLDBR) & h->slot_mask;
			return -1;
		}
	}
	if (!ufs_wait_reg(h, UFS_REG_UTRLDBR, h->slot_mask, 0, UFS_DRAIN_TIMEOUT_US)) {
		uint32_t stuck = rd(h, UFS_REG_UTRLDBR) & h->slot_mask;
		log_err("%s: slots 0x%x still rung after disable: not used again", h->name, stuck);
		h->poisoned |= stuck;
	}
	return 0;
}

/*
 * Bring the controller from any state to operational with LU 0 ready:
 * disable, enable, link startup, request lists, NOP, fDeviceInit, TEST UNIT
 * READY, interrupts on. The caller owns the controller (DOWN or RESETTING).
 */
int ufs_hc_bringup(struct ufs_host *h)
{
	if (ufs_hc_disable(h) != 0)
		return -1;
	if ((h->poisoned & h->slot_mask) == h->slot_mask)
		return -1;
	wr(h, UFS_REG_HCE, UFS_HCE_ENABLE);
	if (!ufs_wait_reg(h, UFS_REG_HCE, UFS_HCE_ENABLE, UFS_HCE_ENABLE, UFS_HCE_TIMEOUT_US)) {
		log_err("%s: HCE does not set", h->name);
		return -1;
	}
	if (link_startup(h) != 0 || lists_start(h) != 0)
		return -1;
	wr(h, UFS_REG_IS, 0xffffffffu);
	if (device_init(h) != 0 || lu_ready(h) != 0)
		return -1;
	wr(h, UFS_REG_IS, 0xffffffffu);
	wr(h, UFS_REG_IE, UFS_IE_ENABLED);
	return 0;
}

/* READ CAPACITY (16), falling back to (10): block size, block count, thin provisioning. */
int ufs_lu_capacity(struct ufs_host *h)
{
	uint8_t cdb[UFS_CDB_LEN];
	struct ufs_result r;
	const uint8_t *d = h->mem->scratch;
	uint64_t last;
	uint32_t bs;

	ufs_cdb_read_capacity16(cdb, 32);
	if (run_scsi(h, cdb, false, 32, &r) == UFS_OK) {
		last = ufs_be64(d);
		bs = ufs_be32(d + 8);
		h->unmap = (d[14] & 0x80) != 0; /* LBPME */
	} else {
		ufs_cdb_simple(cdb, SCSI_READ_CAPACITY10);
		if (run_scsi(h, cdb, false, 8, &r) != UFS_OK) {
			log_err("%s: READ CAPACITY failed: status 0x%x sense %x/%02x/%02x", h->name, r.status,
				r.sense_key, r.asc, r.ascq);
			return -1;
		}
		last = ufs_be32(d);
		bs = ufs_be32(d + 4);
		h->unmap = false;
	}
	if (bs < 512 || bs > 65536 || (bs & (bs - 1)) != 0 || last == UINT64_MAX ||
	    last >= (UINT64_MAX >> 16)) {
		log_err("%s: LU %u reports block size %u, last LBA %llu: unusable", h->name, UFS_LUN, bs,
			(unsigned long long)last);
		return -1;
	}
	h->lba_shift = (uint32_t)__builtin_ctz(bs);
	h->lba_count = last + 1;
	return 0;
}
