/*
 * UFS host controller (UFSHCI 2.x-4.0, single doorbell) and UPIU formats:
 * register offsets, the in-memory descriptors the controller reads (UTRD,
 * UCD, PRDT), and pure helpers that build command UPIUs, SCSI CDBs and PRDTs
 * and decode responses. No MMIO here: host-testable.
 *
 * Byte order: UTRD and PRDT are little-endian (CPU order on arm64); UPIUs and
 * SCSI data are big-endian (the helpers convert).
 */
#ifndef KEEL_DRIVERS_STORAGE_UFS_PROTO_H
#define KEEL_DRIVERS_STORAGE_UFS_PROTO_H

#include "drivers/storage/blkdev.h"
#include "keel/types.h"

/* --- host controller registers (byte offsets in BAR 0) -------------------- */
#define UFS_REG_CAP	 0x00
#define UFS_REG_VER	 0x08
#define UFS_REG_HCPID	 0x10
#define UFS_REG_HCMID	 0x14
#define UFS_REG_IS	 0x20
#define UFS_REG_IE	 0x24
#define UFS_REG_HCS	 0x30
#define UFS_REG_HCE	 0x34
#define UFS_REG_UECPA	 0x38
#define UFS_REG_UECDL	 0x3c
#define UFS_REG_UECN	 0x40
#define UFS_REG_UECT	 0x44
#define UFS_REG_UECDME	 0x48
#define UFS_REG_UTRLBA	 0x50
#define UFS_REG_UTRLBAU	 0x54
#define UFS_REG_UTRLDBR	 0x58
#define UFS_REG_UTRLCLR	 0x5c
#define UFS_REG_UTRLRSR	 0x60
#define UFS_REG_UTRLCNR	 0x64
#define UFS_REG_UTMRLBA	 0x70
#define UFS_REG_UTMRLBAU 0x74
#define UFS_REG_UTMRLDBR 0x78
#define UFS_REG_UTMRLCLR 0x7c
#define UFS_REG_UTMRLRSR 0x80
#define UFS_REG_UICCMD	 0x90
#define UFS_REG_UCMDARG1 0x94
#define UFS_REG_UCMDARG2 0x98
#define UFS_REG_UCMDARG3 0x9c
#define UFS_REG_SPAN	 0xa0 /**< BAR 0 must be at least this long */

#define UFS_CAP_NUTRS(c)  (((c)&0x1fu) + 1)
#define UFS_CAP_NUTMRS(c) ((((c) >> 16) & 0x7u) + 1)
#define UFS_CAP_64AS	  (1u << 24)

#define UFS_IS_UTRCS  (1u << 0)
#define UFS_IS_UE     (1u << 2)
#define UFS_IS_UTMRCS (1u << 9)
#define UFS_IS_UCCS   (1u << 10)
#define UFS_IS_DFES   (1u << 11)
#define UFS_IS_UTPES  (1u << 12)
#define UFS_IS_HCFES  (1u << 16)
#define UFS_IS_SBFES  (1u << 17)
#define UFS_IS_CEFES  (1u << 18)
/** Errors after which the controller is reset (UIC error, device/UTP/host/bus/crypto fatal). */
#define UFS_IS_FATAL (UFS_IS_UE | UFS_IS_DFES | UFS_IS_UTPES | UFS_IS_HCFES | UFS_IS_SBFES | UFS_IS_CEFES)

#define UFS_HCS_DP	 (1u << 0)
#define UFS_HCS_UTRLRDY	 (1u << 1)
#define UFS_HCS_UTMRLRDY (1u << 2)
#define UFS_HCS_UCRDY	 (1u << 3)
#define UFS_HCE_ENABLE	 (1u << 0)

#define UFS_UIC_DME_LINKSTARTUP 0x16
#define UFS_UIC_RESULT_MASK	0xffu

/* --- transfer request descriptors ------------------------------------------ */
#define UFS_UTRD_CT_UFS_STORAGE (1u << 28)
#define UFS_UTRD_DD_NONE	(0u << 25)
#define UFS_UTRD_DD_WRITE	(1u << 25) /**< host to device */
#define UFS_UTRD_DD_READ	(2u << 25) /**< device to host */
#define UFS_UTRD_INTERRUPT	(1u << 24)
#define UFS_OCS_MASK		0xffu
#define UFS_OCS_SUCCESS		0x0u
#define UFS_OCS_INVALID		0xfu /**< written before issue: "not yet executed" */

/** UTP Transfer Request Descriptor: 32 bytes, in the list at UTRLBA. */
struct ufs_utrd {
	uint32_t dw0; /**< CT, DD, I */
	uint32_t dw1;
	uint32_t dw2; /**< OCS (7:0), written by the controller */
	uint32_t dw3;
	uint32_t ucd_lo; /**< UTP command descriptor base, 128-byte aligned */
	uint32_t ucd_hi;
	uint16_t rsp_len;  /**< response UPIU length, dwords */
	uint16_t rsp_off;  /**< response UPIU offset in the UCD, dwords */
	uint16_t prdt_len; /**< PRDT entries */
	uint16_t prdt_off; /**< PRDT offset in the UCD, dwords */
};

/** Physical Region Description entry: 16 bytes. */
struct ufs_prd {
	uint32_t addr_lo; /**< dword aligned */
	uint32_t addr_hi;
	uint32_t rsvd;
	uint32_t dbc; /**< byte count - 1 (17:0); bits 1:0 are 11b: whole dwords */
};

/** UTP Task Management Request Descriptor: 80 bytes, in the list at UTMRLBA. */
struct ufs_utmrd {
	uint32_t dw[20];
};

/* Task management (UFSHCI 3.0 6.2, UFS 3.1 10.7.8): the request UPIU at dword 4, the response at 12. */
#define UFS_UTMRD_REQ_DW	 4u
#define UFS_UTMRD_RSP_DW	 12u
#define UFS_UPIU_TM_REQ		 0x04
#define UFS_UPIU_TM_RSP		 0x24
#define UFS_TMF_ABORT_TASK	 0x01
#define UFS_TM_SERVICE_COMPLETE	 0x00 /**< function complete (e.g. the task was not found: it finished) */
#define UFS_TM_SERVICE_SUCCEEDED 0x08 /**< function succeeded: the task was aborted */

#define UFS_PRD_MAX_BYTES (256u * 1024u)
#define UFS_PRD_ALIGN	  4u

/* UTP command descriptor layout (keel's choice, as Linux): command UPIU, response UPIU, PRDT, scratch. */
#define UFS_UCD_CMD_OFF	    0u
#define UFS_UCD_RSP_OFF	    512u
#define UFS_UCD_RSP_LEN	    512u
#define UFS_UCD_PRDT_OFF    1024u
#define UFS_PRDT_MAX	    256u
#define UFS_UCD_SCRATCH_OFF (UFS_UCD_PRDT_OFF + UFS_PRDT_MAX * 16u)
#define UFS_UCD_SCRATCH_LEN 128u
#define UFS_UCD_SIZE	    (UFS_UCD_SCRATCH_OFF + UFS_UCD_SCRATCH_LEN) /* 5248: a multiple of 128 */
_Static_assert(UFS_UCD_SIZE % 128u == 0, "UCDs are 128-byte aligned");
#define UFS_UCD_ALIGN 128u

/** What the controller reads of keel's request UPIUs: header (12) and transaction fields (20); keel's
 * requests carry no data segment. */
#define UFS_UPIU_REQ_LEN 32u

/* --- UPIU ------------------------------------------------------------------- */
#define UFS_UPIU_NOP_OUT   0x00
#define UFS_UPIU_COMMAND   0x01
#define UFS_UPIU_QUERY_REQ 0x16
#define UFS_UPIU_NOP_IN	   0x20
#define UFS_UPIU_RESPONSE  0x21
#define UFS_UPIU_QUERY_RSP 0x36

#define UFS_UPIU_FLAG_WRITE 0x20
#define UFS_UPIU_FLAG_READ  0x40

#define UFS_QUERY_FUNC_READ    0x01
#define UFS_QUERY_FUNC_WRITE   0x81
#define UFS_QUERY_OP_READ_FLAG 0x05
#define UFS_QUERY_OP_SET_FLAG  0x06
#define UFS_FLAG_FDEVICEINIT   0x01

/* SCSI */
#define SCSI_TEST_UNIT_READY 0x00
#define SCSI_READ_CAPACITY10 0x25
#define SCSI_READ10	     0x28
#define SCSI_WRITE10	     0x2a
#define SCSI_SYNC_CACHE10    0x35
#define SCSI_UNMAP	     0x42
#define SCSI_READ16	     0x88
#define SCSI_WRITE16	     0x8a
#define SCSI_SERVICE_IN16    0x9e
#define SCSI_SAI_READ_CAP16  0x10

#define SCSI_STATUS_GOOD	    0x00
#define SCSI_STATUS_CHECK_CONDITION 0x02
#define SCSI_STATUS_BUSY	    0x08
#define SCSI_STATUS_TASK_SET_FULL   0x28

#define SCSI_SENSE_NOT_READY	   0x2
#define SCSI_SENSE_UNIT_ATTENTION  0x6
#define SCSI_SENSE_ABORTED_COMMAND 0xb

#define UFS_CDB_LEN	    16u
#define UFS_UNMAP_PARAM_LEN 24u

/** A decoded response UPIU plus the descriptor's OCS. */
struct ufs_result {
	uint8_t ocs;
	uint8_t trans; /**< transaction type of the response */
	uint8_t tag;
	uint8_t response; /**< UPIU response (0: target success) */
	uint8_t status;	  /**< SCSI status, or the query response code */
	uint8_t sense_key, asc, ascq;
	uint32_t value; /**< query: the returned flag/attribute value */
};

enum ufs_verdict {
	UFS_OK,
	UFS_RETRY, /**< transient: unit attention, not ready, aborted command, busy, task set full */
	UFS_FAIL,
};

/**
 * Describe segs as PRDT entries (at most max), splitting segments larger than
 * UFS_PRD_MAX_BYTES. Returns the entry count, or -1 when a segment cannot be
 * expressed (address or length not whole dwords, zero length, address
 * overflow), with *bad set to its index; -2 when more than max entries are needed.
 */
int ufs_prdt_build(struct ufs_prd *prdt, unsigned max, const struct blk_seg *segs, unsigned nsegs,
		   unsigned *bad);
/** PRDT entries segs need (splitting at UFS_PRD_MAX_BYTES), without checking alignment. */
unsigned ufs_prdt_count(const struct blk_seg *segs, unsigned nsegs);

/** Fill a UTRD for a UCD at ucd_pa with prdt_len entries. dd: UFS_UTRD_DD_*; irq: set the I bit. */
void ufs_utrd_fill(struct ufs_utrd *d, uint64_t ucd_pa, uint32_t dd, unsigned prdt_len, bool irq);

/** Command UPIU (512-byte area cleared first). flags: UFS_UPIU_FLAG_*. */
void ufs_upiu_command(uint8_t *upiu, uint8_t lun, uint8_t tag, uint8_t flags, uint32_t exp_len,
		      const uint8_t cdb[UFS_CDB_LEN]);
void ufs_upiu_nop_out(uint8_t *upiu, uint8_t tag);
void ufs_upiu_query(uint8_t *upiu, uint8_t tag, uint8_t func, uint8_t opcode, uint8_t idn, uint8_t index,
		    uint8_t selector, uint32_t value);

/**
 * Fill a UTMRD with ABORT TASK for the command tagged task_tag on lun (tm_tag: the TM request's own tag).
 * OCS is set to UFS_OCS_INVALID ("not executed"), the interrupt bit is clear (keel polls the doorbell).
 */
void ufs_utmrd_abort_task(struct ufs_utmrd *d, uint8_t lun, uint8_t tm_tag, uint8_t task_tag);
/** OCS of a completed UTMRD and the service response of its TM response UPIU. */
void ufs_utmrd_result(const struct ufs_utmrd *d, uint8_t *ocs, uint8_t *service_response);

/** READ/WRITE (10) when lba and blocks fit, else (16). */
void ufs_cdb_rw(uint8_t cdb[UFS_CDB_LEN], bool write, uint64_t lba, uint32_t blocks);
void ufs_cdb_simple(uint8_t cdb[UFS_CDB_LEN], uint8_t opcode);
void ufs_cdb_read_capacity16(uint8_t cdb[UFS_CDB_LEN], uint32_t alloc_len);
void ufs_cdb_unmap(uint8_t cdb[UFS_CDB_LEN]);
/** The UNMAP parameter list (UFS_UNMAP_PARAM_LEN bytes) for one range. */
void ufs_unmap_params(uint8_t *buf, uint64_t lba, uint32_t blocks);

/** Decode the response UPIU rsp (at least 64 bytes) and ocs. */
void ufs_rsp_parse(const uint8_t *rsp, uint32_t ocs, struct ufs_result *r);
/** Classify a SCSI command's outcome. */
enum ufs_verdict ufs_scsi_verdict(const struct ufs_result *r, uint8_t tag);
/** The SPC name of a sense key ("MEDIUM ERROR"), for log lines; "?" above 0xf. */
const char *ufs_sense_key_name(uint8_t key);

static inline uint32_t ufs_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t ufs_be64(const uint8_t *p)
{
	return (uint64_t)ufs_be32(p) << 32 | ufs_be32(p + 4);
}

#endif
