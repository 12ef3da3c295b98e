/* Minimal virtio-mmio (version 2, virtio 1.2 §4.2) block driver: one split virtqueue of at
 * most 8 entries in guest RAM, one request in flight, completion polled on the used ring. */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include <stdint.h>

#define VIRTIO_ID_BLOCK	    2
#define VIRTIO_BLK_T_IN	    0
#define VIRTIO_BLK_T_OUT    1
#define VIRTIO_BLK_S_OK	    0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_SECTOR_SIZE  512

struct virtio_blk {
	uintptr_t base;
	uint64_t size;	   /* of the register window, from DT reg */
	uint32_t intid;	   /* from DT interrupts (SPI -> 32 + n), 0 if unknown */
	uint64_t capacity; /* in 512-byte sectors */
	int read_only;	   /* VIRTIO_BLK_F_RO offered */
	uint16_t qsize, avail_idx, used_idx;
};

/** Lists the DT "virtio,mmio" transports with a device behind them and picks the first block
 * device. 0 or < 0 (FAIL printed). */
int virtio_blk_probe(struct virtio_blk *d);
/** Reset, feature negotiation (VERSION_1), queue 0 set-up, DRIVER_OK. 0 or < 0 (FAIL printed). */
int virtio_blk_init(struct virtio_blk *d);
/** One request; returns the device's status byte, or < 0 if it did not complete in time or
 * the used ring entry is inconsistent. `buf` must not cross the driver's bounce limit (4 KiB). */
int virtio_blk_rw(struct virtio_blk *d, int write, uint64_t sector, void *buf, uint32_t len);

#endif
