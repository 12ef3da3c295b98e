/*
 * Constants and wire structures from the virtio 1.2 specification that keel's
 * devices use: device status and feature bits (§2.1, §2.2, §6), the
 * virtio-mmio version 2 register map (§4.2.2), split virtqueues (§2.7) and
 * virtio-blk (§5.2). Everything a guest sees is little-endian; keel runs
 * little-endian (checked below), so the le* types are plain integers whose
 * name records the wire format.
 */
#ifndef KEEL_VDEV_VIRTIO_SPEC_H
#define KEEL_VDEV_VIRTIO_SPEC_H

#include "keel/types.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "virtio structures are little-endian; add byte swaps for a big-endian keel"
#endif

typedef uint16_t le16;
typedef uint32_t le32;
typedef uint64_t le64;

/* --- Device IDs (§5) --------------------------------------------------- */
#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLOCK	  2
#define VIRTIO_ID_CONSOLE 3

/* --- Device status field (§2.1) ---------------------------------------- */
#define VIRTIO_STATUS_ACKNOWLEDGE	 0x01u
#define VIRTIO_STATUS_DRIVER		 0x02u
#define VIRTIO_STATUS_DRIVER_OK		 0x04u
#define VIRTIO_STATUS_FEATURES_OK	 0x08u
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40u
#define VIRTIO_STATUS_FAILED		 0x80u

/* --- Reserved (device-independent) feature bits (§6) ------------------- */
#define VIRTIO_F_INDIRECT_DESC	   28 /* VIRTIO_RING_F_INDIRECT_DESC */
#define VIRTIO_F_EVENT_IDX	   29 /* VIRTIO_RING_F_EVENT_IDX */
#define VIRTIO_F_VERSION_1	   32
#define VIRTIO_F_ACCESS_PLATFORM   33
#define VIRTIO_F_RING_PACKED	   34
#define VIRTIO_F_IN_ORDER	   35
#define VIRTIO_F_ORDER_PLATFORM	   36
#define VIRTIO_F_SR_IOV		   37
#define VIRTIO_F_NOTIFICATION_DATA 38
#define VIRTIO_F_RING_RESET	   40

/* --- virtio-mmio register map, version 2 (§4.2.2) ---------------------- */
#define VIRTIO_MMIO_MAGIC_VALUE		0x000 /* R: 0x74726976 "virt" */
#define VIRTIO_MMIO_VERSION		0x004 /* R: 2 */
#define VIRTIO_MMIO_DEVICE_ID		0x008 /* R */
#define VIRTIO_MMIO_VENDOR_ID		0x00c /* R */
#define VIRTIO_MMIO_DEVICE_FEATURES	0x010 /* R: 32 bits selected by DeviceFeaturesSel */
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014 /* W */
#define VIRTIO_MMIO_DRIVER_FEATURES	0x020 /* W: 32 bits selected by DriverFeaturesSel */
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024 /* W */
#define VIRTIO_MMIO_QUEUE_SEL		0x030 /* W */
#define VIRTIO_MMIO_QUEUE_NUM_MAX	0x034 /* R */
#define VIRTIO_MMIO_QUEUE_NUM		0x038 /* W */
#define VIRTIO_MMIO_QUEUE_READY		0x044 /* RW */
#define VIRTIO_MMIO_QUEUE_NOTIFY	0x050 /* W */
#define VIRTIO_MMIO_INTERRUPT_STATUS	0x060 /* R */
#define VIRTIO_MMIO_INTERRUPT_ACK	0x064 /* W */
#define VIRTIO_MMIO_STATUS		0x070 /* RW */
#define VIRTIO_MMIO_QUEUE_DESC_LOW	0x080 /* W */
#define VIRTIO_MMIO_QUEUE_DESC_HIGH	0x084 /* W */
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW	0x090 /* W */
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH	0x094 /* W */
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW	0x0a0 /* W */
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH	0x0a4 /* W */
#define VIRTIO_MMIO_SHM_SEL		0x0ac /* W */
#define VIRTIO_MMIO_SHM_LEN_LOW		0x0b0 /* R */
#define VIRTIO_MMIO_SHM_LEN_HIGH	0x0b4 /* R */
#define VIRTIO_MMIO_SHM_BASE_LOW	0x0b8 /* R */
#define VIRTIO_MMIO_SHM_BASE_HIGH	0x0bc /* R */
#define VIRTIO_MMIO_QUEUE_RESET		0x0c0 /* RW, only with VIRTIO_F_RING_RESET */
#define VIRTIO_MMIO_CONFIG_GENERATION	0x0fc /* R */
#define VIRTIO_MMIO_CONFIG		0x100 /* device-specific configuration space */

#define VIRTIO_MMIO_MAGIC	0x74726976u
#define VIRTIO_MMIO_VERSION_2	2u
#define VIRTIO_MMIO_REGION_SIZE 0x200u

/* InterruptStatus / InterruptACK bits. */
#define VIRTIO_MMIO_INT_VRING  (1u << 0) /* used buffer notification */
#define VIRTIO_MMIO_INT_CONFIG (1u << 1) /* configuration change notification */

/* --- Split virtqueues (§2.7) -------------------------------------------- */
#define VIRTQ_DESC_F_NEXT     1u
#define VIRTQ_DESC_F_WRITE    2u
#define VIRTQ_DESC_F_INDIRECT 4u

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u
#define VIRTQ_USED_F_NO_NOTIFY	   1u

#define VIRTQ_DESC_ALIGN  16u
#define VIRTQ_AVAIL_ALIGN 2u
#define VIRTQ_USED_ALIGN  4u

struct virtq_desc {
	le64 addr;
	le32 len;
	le16 flags;
	le16 next;
};

struct virtq_avail {
	le16 flags;
	le16 idx;
	le16 ring[]; /* [queue size], then le16 used_event */
};

struct virtq_used_elem {
	le32 id;
	le32 len;
};

struct virtq_used {
	le16 flags;
	le16 idx;
	struct virtq_used_elem ring[]; /* [queue size], then le16 avail_event */
};

/* Sizes of the three areas for a queue of n entries (the table in §2.7). */
#define VIRTQ_DESC_BYTES(n)  (16u * (uint64_t)(n))
#define VIRTQ_AVAIL_BYTES(n) (6u + 2u * (uint64_t)(n))
#define VIRTQ_USED_BYTES(n)  (6u + 8u * (uint64_t)(n))

/* --- virtio-blk (§5.2) -------------------------------------------------- */
#define VIRTIO_BLK_F_SIZE_MAX	  1
#define VIRTIO_BLK_F_SEG_MAX	  2
#define VIRTIO_BLK_F_GEOMETRY	  4
#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_BLK_SIZE	  6
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_BLK_F_TOPOLOGY	  10
#define VIRTIO_BLK_F_CONFIG_WCE	  11
#define VIRTIO_BLK_F_MQ		  12
#define VIRTIO_BLK_F_DISCARD	  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14
#define VIRTIO_BLK_F_LIFETIME	  15
#define VIRTIO_BLK_F_SECURE_ERASE 16
#define VIRTIO_BLK_F_ZONED	  17

#define VIRTIO_BLK_T_IN		  0u
#define VIRTIO_BLK_T_OUT	  1u
#define VIRTIO_BLK_T_FLUSH	  4u
#define VIRTIO_BLK_T_GET_ID	  8u
#define VIRTIO_BLK_T_GET_LIFETIME 10u
#define VIRTIO_BLK_T_DISCARD	  11u
#define VIRTIO_BLK_T_WRITE_ZEROES 13u
#define VIRTIO_BLK_T_SECURE_ERASE 14u

#define VIRTIO_BLK_S_OK	    0u
#define VIRTIO_BLK_S_IOERR  1u
#define VIRTIO_BLK_S_UNSUPP 2u

#define VIRTIO_BLK_ID_BYTES    20u
#define VIRTIO_BLK_SECTOR_SIZE 512u

/* Flags of a discard / write-zeroes segment: bit 0 is unmap, the rest reserved. */
#define VIRTIO_BLK_DWZ_F_UNMAP 1u

/** The request header: the first 16 device-readable bytes of every request. */
struct virtio_blk_outhdr {
	le32 type;
	le32 reserved;
	le64 sector;
};

/** One range of a discard / write-zeroes request. */
struct virtio_blk_discard_write_zeroes {
	le64 sector;
	le32 num_sectors;
	le32 flags;
};

/** The configuration space (fields up to the secure-erase ones; zoned is not offered). */
struct virtio_blk_config {
	le64 capacity;
	le32 size_max;
	le32 seg_max;
	struct {
		le16 cylinders;
		uint8_t heads;
		uint8_t sectors;
	} geometry;
	le32 blk_size;
	struct {
		uint8_t physical_block_exp;
		uint8_t alignment_offset;
		le16 min_io_size;
		le32 opt_io_size;
	} topology;
	uint8_t writeback;
	uint8_t unused0;
	le16 num_queues;
	le32 max_discard_sectors;
	le32 max_discard_seg;
	le32 discard_sector_alignment;
	le32 max_write_zeroes_sectors;
	le32 max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
	le32 max_secure_erase_sectors;
	le32 max_secure_erase_seg;
	le32 secure_erase_sector_alignment;
};

_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc layout");
_Static_assert(sizeof(struct virtq_used_elem) == 8, "virtq_used_elem layout");
_Static_assert(sizeof(struct virtio_blk_outhdr) == 16, "virtio_blk_outhdr layout");
_Static_assert(sizeof(struct virtio_blk_discard_write_zeroes) == 16, "dwz layout");
_Static_assert(__builtin_offsetof(struct virtio_blk_config, blk_size) == 20, "blk config layout");
_Static_assert(__builtin_offsetof(struct virtio_blk_config, writeback) == 32, "blk config layout");
_Static_assert(__builtin_offsetof(struct virtio_blk_config, max_discard_sectors) == 36, "blk config layout");
_Static_assert(__builtin_offsetof(struct virtio_blk_config, write_zeroes_may_unmap) == 56,
	       "blk config layout");
_Static_assert(sizeof(struct virtio_blk_config) == 72, "blk config layout");

#endif
