/* Minimal virtio-mmio (version 2, virtio 1.2 §4.2) block driver: one split virtqueue of at
 * most 8 entries in guest RAM per device, one request in flight, completion polled on the used
 * ring. Also exposes the raw ring (descriptor table, avail publish, used poll) so that the
 * hostile tests can hand-build malformed requests. */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include <stdint.h>

#define VIRTIO_ID_BLOCK		  2
#define VIRTIO_BLK_T_IN		  0
#define VIRTIO_BLK_T_OUT	  1
#define VIRTIO_BLK_T_FLUSH	  4
#define VIRTIO_BLK_T_GET_ID	  8
#define VIRTIO_BLK_T_DISCARD	  11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK		  0
#define VIRTIO_BLK_S_IOERR	  1
#define VIRTIO_BLK_S_UNSUPP	  2
#define VIRTIO_SECTOR_SIZE	  512
#define VIRTIO_BLK_MAX_DEVS	  2

#define VIRTIO_F_BLK_RO	      (1ull << 5)
#define VIRTIO_F_BLK_BLK_SIZE (1ull << 6)
/** Not a feature: asks virtio_blk_init_features not to accept BLK_SIZE (a careless driver). */
#define VIRTIO_DRV_NO_BLK_SIZE	 (1ull << 63)
#define VIRTIO_F_INDIRECT_DESC	 (1ull << 28)
#define VIRTIO_F_VERSION_1	 (1ull << 32)
#define VIRTIO_F_ACCESS_PLATFORM (1ull << 33)

#define VIRTIO_STATUS_DRIVER_OK	  4u
#define VIRTIO_STATUS_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED	  128u
#define VIRTIO_MMIO_INT_VRING	  1u
#define VIRTIO_MMIO_INT_CONFIG	  2u

/* Register offsets the tests use directly. */
#define VIRTIO_MMIO_QUEUE_SEL	  0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM	  0x038
#define VIRTIO_MMIO_QUEUE_READY	  0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY  0x050
#define VIRTIO_MMIO_INT_STATUS	  0x060
#define VIRTIO_MMIO_INT_ACK	  0x064
#define VIRTIO_MMIO_STATUS	  0x070
#define VIRTIO_MMIO_QUEUE_DESC_LO 0x080

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtio_blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct virtio_ring; /* the queue memory of one device (virtio.c) */

struct virtio_blk {
	uintptr_t base;
	uint64_t size;	   /* of the register window, from DT reg */
	uint32_t intid;	   /* from DT interrupts (SPI -> 32 + n), 0 if unknown */
	uint64_t capacity; /* in 512-byte sectors */
	int read_only;	   /* VIRTIO_BLK_F_RO offered */
	uint64_t offered;  /* device features */
	uint64_t features; /* negotiated */
	uint16_t qsize, avail_idx, used_idx;
	struct virtio_ring *ring;
};

/** Lists the DT "virtio,mmio" transports with a device behind them and picks the first block
 * device. 0 or < 0 (FAIL printed). */
int virtio_blk_probe(struct virtio_blk *d);
/** Same, but fills up to max (<= VIRTIO_BLK_MAX_DEVS) block devices in DT order, each with its
 * own queue memory. Returns how many, or < 0 (FAIL printed; none is not a failure here). */
int virtio_blk_probe_all(struct virtio_blk *devs, int max);
/** Reset, feature negotiation (VERSION_1), queue 0 set-up, DRIVER_OK. 0 or < 0 (FAIL printed). */
int virtio_blk_init(struct virtio_blk *d);
/** As virtio_blk_init, also accepting those of `extra` features the device offers. */
int virtio_blk_init_features(struct virtio_blk *d, uint64_t extra);
/** As virtio_blk_init_features, with the descriptor table, avail and used rings at the given
 * IPAs instead of the driver's own (NULL: its own). Returns 1 (nothing printed) if the device
 * then reports NEEDS_RESET or FAILED. */
int virtio_blk_init_rings(struct virtio_blk *d, uint64_t extra, const uint64_t ring_ipa[3]);
/** One request; returns the device's status byte, or < 0 if it did not complete in time or
 * the used ring entry is inconsistent. `buf` must not cross the driver's bounce limit (4 KiB). */
int virtio_blk_rw(struct virtio_blk *d, int write, uint64_t sector, void *buf, uint32_t len);

/** The descriptor table of d's queue (d->qsize entries), for hand-built chains. */
volatile struct virtq_desc *virtio_blk_desc(struct virtio_blk *d);
/**
 * Puts `head` (any value) in the next avail ring slot, publishes it, notifies queue 0 and polls
 * the used ring for up to timeout_ms. Returns 0 with the used element's id and len; 1 if the
 * used index did not move in time (nothing printed: the caller decides whether that is a
 * failure); -1 if it moved by other than one (FAIL printed).
 */
int virtio_blk_kick(struct virtio_blk *d, uint16_t head, uint32_t timeout_ms, uint32_t *id, uint32_t *len);
/** Moves avail.idx by delta without filling ring slots and notifies (a hostile ring). */
void virtio_blk_bump_avail(struct virtio_blk *d, uint16_t delta);
/** The used index as the device last wrote it. */
uint16_t virtio_blk_used_idx(struct virtio_blk *d);
uint32_t virtio_blk_read_reg(struct virtio_blk *d, uint32_t off);
void virtio_blk_write_reg(struct virtio_blk *d, uint32_t off, uint32_t value);

#endif
