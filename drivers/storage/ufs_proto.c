/* UFS descriptor, UPIU and SCSI CDB encoding (see drivers/storage/ufs_proto.h). */
#include "drivers/storage/ufs_proto.h"

#include <string.h>

#include "keel/addr.h"
#include "keel/util.h"

_Static_assert(sizeof(struct ufs_utrd) == 32, "UTRD is 32 bytes");
_Static_assert(sizeof(struct ufs_prd) == 16, "PRD entry is 16 bytes");
_Static_assert(sizeof(struct ufs_utmrd) == 80, "UTMRD is 80 bytes");
_Static_assert(UFS_UCD_SIZE % UFS_UCD_ALIGN == 0, "UCDs stay 128-byte aligned in an array");

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

unsigned ufs_prdt_count(const struct blk_seg *segs, unsigned nsegs)
{
	unsigned n = 0;
	for (unsigned i = 0; i < nsegs; i++)
		n += (segs[i].len + UFS_PRD_MAX_BYTES - 1) / UFS_PRD_MAX_BYTES;
	return n;
}

int ufs_prdt_build(struct ufs_prd *prdt, unsigned max, const struct blk_seg *segs, unsigned nsegs,
		   unsigned *bad)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nsegs; i++) {
		uint64_t pa = pa_addr(segs[i].pa);
		uint32_t len = segs[i].len;
		if (len == 0 || pa % UFS_PRD_ALIGN != 0 || len % UFS_PRD_ALIGN != 0 || pa + len < pa) {
			*bad = i;
			return -1;
		}
		while (len > 0) {
			uint32_t piece = len < UFS_PRD_MAX_BYTES ? len : UFS_PRD_MAX_BYTES;
			if (n >= max)
				return -2;
			prdt[n].addr_lo = (uint32_t)pa;
			prdt[n].addr_hi = (uint32_t)(pa >> 32);
			prdt[n].rsvd = 0;
			prdt[n].dbc = piece - 1;
			n++;
			pa += piece;
			len -= piece;
		}
	}
	return (int)n;
}

void ufs_utrd_fill(struct ufs_utrd *d, uint64_t ucd_pa, uint32_t dd, unsigned prdt_len, bool irq)
{
	d->dw0 = UFS_UTRD_CT_UFS_STORAGE | dd | (irq ? UFS_UTRD_INTERRUPT : 0);
	d->dw1 = 0;
	d->dw2 = UFS_OCS_INVALID;
	d->dw3 = 0;
	d->ucd_lo = (uint32_t)ucd_pa;
	d->ucd_hi = (uint32_t)(ucd_pa >> 32);
	d->rsp_len = (uint16_t)(UFS_UCD_RSP_LEN / 4);
	d->rsp_off = (uint16_t)(UFS_UCD_RSP_OFF / 4);
	d->prdt_len = (uint16_t)prdt_len;
	d->prdt_off = (uint16_t)(UFS_UCD_PRDT_OFF / 4);
}

void ufs_utmrd_abort_task(struct ufs_utmrd *d, uint8_t lun, uint8_t tm_tag, uint8_t task_tag)
{
	memset(d, 0, sizeof(*d));
	d->dw[2] = UFS_OCS_INVALID;
	uint8_t *u = (uint8_t *)&d->dw[UFS_UTMRD_REQ_DW];
	u[0] = UFS_UPIU_TM_REQ;
	u[2] = lun;
	u[3] = tm_tag;
	u[5] = UFS_TMF_ABORT_TASK;
	u[15] = lun;	  /* input parameter 1: LUN of the task (big-endian) */
	u[19] = task_tag; /* input parameter 2: its task tag */
}

void ufs_utmrd_result(const struct ufs_utmrd *d, uint8_t *ocs, uint8_t *service_response)
{
	const uint8_t *r = (const uint8_t *)&d->dw[UFS_UTMRD_RSP_DW];
	*ocs = (uint8_t)(d->dw[2] & UFS_OCS_MASK);
	*service_response = r[0] == UFS_UPIU_TM_RSP ? r[15] : 0xff; /* output parameter 1, low byte */
}

static void upiu_header(uint8_t *upiu, uint8_t trans, uint8_t flags, uint8_t lun, uint8_t tag)
{
	memset(upiu, 0, UFS_UPIU_REQ_LEN); /* data segment length 0: nothing after is read */
	upiu[0] = trans;
	upiu[1] = flags;
	upiu[2] = lun;
	upiu[3] = tag;
}

void ufs_upiu_command(uint8_t *upiu, uint8_t lun, uint8_t tag, uint8_t flags, uint32_t exp_len,
		      const uint8_t cdb[UFS_CDB_LEN])
{
	upiu_header(upiu, UFS_UPIU_COMMAND, flags, lun, tag);
	/* byte 4: command set type 0 (SCSI); data segment length 0 */
	put_be32(upiu + 12, exp_len);
	memcpy(upiu + 16, cdb, UFS_CDB_LEN);
}

void ufs_upiu_nop_out(uint8_t *upiu, uint8_t tag)
{
	upiu_header(upiu, UFS_UPIU_NOP_OUT, 0, 0, tag);
}

void ufs_upiu_query(uint8_t *upiu, uint8_t tag, uint8_t func, uint8_t opcode, uint8_t idn, uint8_t index,
		    uint8_t selector, uint32_t value)
{
	upiu_header(upiu, UFS_UPIU_QUERY_REQ, 0, 0, tag);
	upiu[5] = func;
	upiu[12] = opcode;
	upiu[13] = idn;
	upiu[14] = index;
	upiu[15] = selector;
	put_be32(upiu + 20, value);
}

void ufs_cdb_rw(uint8_t cdb[UFS_CDB_LEN], bool write, uint64_t lba, uint32_t blocks)
{
	memset(cdb, 0, UFS_CDB_LEN);
	if (lba <= 0xffffffffull && blocks <= 0xffffu && lba + blocks <= 0x100000000ull) {
		cdb[0] = write ? SCSI_WRITE10 : SCSI_READ10;
		put_be32(cdb + 2, (uint32_t)lba);
		put_be16(cdb + 7, (uint16_t)blocks);
	} else {
		cdb[0] = write ? SCSI_WRITE16 : SCSI_READ16;
		put_be64(cdb + 2, lba);
		put_be32(cdb + 10, blocks);
	}
}

void ufs_cdb_simple(uint8_t cdb[UFS_CDB_LEN], uint8_t opcode)
{
	memset(cdb, 0, UFS_CDB_LEN);
	cdb[0] = opcode;
}

void ufs_cdb_read_capacity16(uint8_t cdb[UFS_CDB_LEN], uint32_t alloc_len)
{
	memset(cdb, 0, UFS_CDB_LEN);
	cdb[0] = SCSI_SERVICE_IN16;
	cdb[1] = SCSI_SAI_READ_CAP16;
	put_be32(cdb + 10, alloc_len);
}

void ufs_cdb_unmap(uint8_t cdb[UFS_CDB_LEN])
{
	memset(cdb, 0, UFS_CDB_LEN);
	cdb[0] = SCSI_UNMAP;
	put_be16(cdb + 7, UFS_UNMAP_PARAM_LEN);
}

void ufs_unmap_params(uint8_t *buf, uint64_t lba, uint32_t blocks)
{
	memset(buf, 0, UFS_UNMAP_PARAM_LEN);
	put_be16(buf, UFS_UNMAP_PARAM_LEN - 2); /* UNMAP data length */
	put_be16(buf + 2, 16);			/* block descriptor data length */
	put_be64(buf + 8, lba);
	put_be32(buf + 16, blocks);
}

void ufs_rsp_parse(const uint8_t *rsp, uint32_t ocs, struct ufs_result *r)
{
	memset(r, 0, sizeof(*r));
	r->ocs = (uint8_t)(ocs & UFS_OCS_MASK);
	r->trans = rsp[0];
	r->tag = rsp[3];
	r->response = rsp[6];
	r->status = rsp[7];
	r->value = ufs_be32(rsp + 20);
	if (r->trans == UFS_UPIU_RESPONSE) {
		uint16_t dsl = (uint16_t)(rsp[10] << 8 | rsp[11]);
		uint16_t sense_len = (uint16_t)(rsp[32] << 8 | rsp[33]);
		/* Fixed-format sense: key at 2, ASC/ASCQ at 12/13 (of the sense data at byte 34). */
		if (dsl >= 2 + 14 && sense_len >= 14) {
			r->sense_key = rsp[34 + 2] & 0xfu;
			r->asc = rsp[34 + 12];
			r->ascq = rsp[34 + 13];
		}
	}
}

enum ufs_verdict ufs_scsi_verdict(const struct ufs_result *r, uint8_t tag)
{
	if (r->ocs != UFS_OCS_SUCCESS || r->trans != UFS_UPIU_RESPONSE || r->tag != tag)
		return UFS_FAIL;
	if (r->status == SCSI_STATUS_GOOD && r->response == 0)
		return UFS_OK;
	if (r->status == SCSI_STATUS_BUSY || r->status == SCSI_STATUS_TASK_SET_FULL)
		return UFS_RETRY;
	/* As SCSI hosts do: ABORTED COMMAND (the target gave up on this one, e.g. a transport or host I/O
	 * error) may succeed when re-issued; MEDIUM ERROR and the rest will not. */
	if (r->status == SCSI_STATUS_CHECK_CONDITION &&
	    (r->sense_key == SCSI_SENSE_UNIT_ATTENTION || r->sense_key == SCSI_SENSE_ABORTED_COMMAND ||
	     (r->sense_key == SCSI_SENSE_NOT_READY && r->asc == 0x04)))
		return UFS_RETRY;
	return UFS_FAIL;
}

const char *ufs_sense_key_name(uint8_t key)
{
	static const char *const names[16] = {
	    "NO SENSE",		"RECOVERED ERROR", "NOT READY",	     "MEDIUM ERROR",
	    "HARDWARE ERROR",	"ILLEGAL REQUEST", "UNIT ATTENTION", "DATA PROTECT",
	    "BLANK CHECK",	"VENDOR SPECIFIC", "COPY ABORTED",   "ABORTED COMMAND",
	    "EQUAL (obsolete)", "VOLUME OVERFLOW", "MISCOMPARE",     "COMPLETED",
	};
	return key < ARRAY_SIZE(names) ? names[key] : "?";
}
