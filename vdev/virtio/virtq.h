/*
 * Split-virtqueue engine, device side (virtio 1.2 §2.7).
 *
 * The driver (guest) owns the descriptor table and the available ring and may
 * rewrite them at any time, so every guest-owned field is read exactly once
 * into hypervisor memory and validated there. The three ring areas are
 * validated and translated once, when the driver sets QueueReady; a popped
 * chain is returned as a list of translated buffers and the consumer never
 * touches guest descriptors again.
 *
 * Not thread-safe: the owning device serialises all calls on a queue with a lock of its own.
 */
#ifndef KEEL_VDEV_VIRTQ_H
#define KEEL_VDEV_VIRTQ_H

#include "core/guest_mem.h"
#include "vdev/virtio/virtio_spec.h"

/** Largest queue size keel offers (QueueNumMax). */
#define VIRTQ_MAX_SIZE 512u
/** Most buffers in one popped chain, direct and indirect together (a chain fits the queue). */
#define VIRTQ_CHAIN_MAX_BUFS VIRTQ_MAX_SIZE
/** Most entries in one indirect table (its len is at most this * 16). */
#define VIRTQ_INDIRECT_MAX VIRTQ_MAX_SIZE
/** Required alignment of an indirect table (keel policy: the spec sets none; see virtq.c). */

/** One guest buffer of a popped chain, already translated. */
struct virtq_buf {
	ipa_t ipa;     /**< guest address, for logs */
	paddr_t pa;    /**< host-physical address of the whole buffer (one RAM range) */
	uint32_t len;  /**< bytes, >= 1 (zero-length descriptors are skipped) */
	bool writable; /**< device-writable (VIRTQ_DESC_F_WRITE) */
};

/**
 * A popped descriptor chain. bufs[0..nreadable) are device-readable and
 * bufs[nreadable..nbufs) device-writable (the order the spec requires).
 * readable_len + writable_len <= UINT32_MAX.
 */
struct virtq_chain {
	uint16_t head; /**< index to return with virtq_push */
	uint16_t nbufs;
	uint16_t nreadable;
	uint32_t readable_len;
	uint32_t writable_len;
	/* For VIRTQ_POP_BAD_CHAIN: where an error answer can go (see virtq_pop). */
	bool status_ok;	   /**< the last non-empty descriptor is device-writable and wholly in RAM */
	bool any_writable; /**< the chain has at least one non-empty device-writable descriptor */
	paddr_t status_pa; /**< the last byte of that descriptor, when status_ok */
	struct virtq_buf bufs[VIRTQ_CHAIN_MAX_BUFS];
};

enum virtq_pop_result {
	VIRTQ_POP_EMPTY,	/**< nothing available */
	VIRTQ_POP_OK,		/**< *chain is filled */
	VIRTQ_POP_BAD_CHAIN,	/**< chain->head is consumed; the chain was walked to its end but is
				     malformed: answer it by the rule in virtq_pop; bufs are not valid */
	VIRTQ_POP_BROKEN_CHAIN, /**< chain->head is consumed; the chain could not be walked to its end,
				     so no status byte can be trusted: set DEVICE_NEEDS_RESET */
	VIRTQ_POP_RING_ERROR,	/**< the ring itself is broken: nothing consumed; the device must stop
				     using the queue and set DEVICE_NEEDS_RESET */
};

struct virtq {
	const struct guest_mem *mem;
	uint16_t max_size;

	/* Programmed by the driver through the transport; validated at virtq_enable. */
	uint32_t num;
	uint64_t desc_ipa;
	uint64_t avail_ipa;
	uint64_t used_ipa;
	bool ready;

	/* Valid while ready. */
	uint16_t size;
	bool event_idx; /**< VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;	/**< VIRTIO_F_INDIRECT_DESC negotiated */
	volatile struct virtq_desc *desc;
	volatile struct virtq_avail *avail;
	volatile struct virtq_used *used;
	uint16_t last_avail_idx; /**< next avail ring slot to consume */
	uint16_t used_idx;	 /**< shadow of used->idx (the device is its only writer) */
	uint16_t signalled_used; /**< used_idx when the driver was last interrupted */
	bool signalled_valid;
	bool unsignalled; /**< used entries added since the last virtq_needs_interrupt */
	bool notify_off;  /**< virtq_quiet_notify asked the driver not to notify; virtq_arm_notify undid it */

	const char *error; /**< why the last enable/pop failed (static string) */
};

/** Initialise to the reset state; max_size is a power of two <= VIRTQ_MAX_SIZE. */
void virtq_init(struct virtq *vq, const struct guest_mem *mem, uint16_t max_size);

/** Back to the reset state: not ready, num = max_size, addresses 0. Never touches guest memory. */
void virtq_reset(struct virtq *vq);

/**
 * The driver set QueueReady: check num (power of two, 1..max_size), the
 * alignment of the three areas (16/2/4), that each lies wholly in one guest
 * RAM range and that they do not overlap, then translate them once.
 * features are the negotiated ones. Returns 0, or -EINVAL with vq->error set
 * (the queue stays not ready).
 */
int virtq_enable(struct virtq *vq, uint64_t features);

/**
 * Take the next available chain. Each descriptor is read once.
 *
 * VIRTQ_POP_BROKEN_CHAIN (the walk cannot reach the chain's end): next out of
 * range, a chain longer than its table (loops), a nested indirect table,
 * INDIRECT together with NEXT, INDIRECT when not negotiated, an indirect table
 * that is empty, not a multiple of 16 bytes, longer than VIRTQ_INDIRECT_MAX
 * entries or not wholly inside guest RAM. Indirect tables may have any
 * alignment (the spec sets none).
 * VIRTQ_POP_BAD_CHAIN (walked to its end, then refused): a buffer not wholly
 * inside one guest RAM range, a readable buffer after a writable one, more
 * than VIRTQ_CHAIN_MAX_BUFS buffers, more than 4 GiB in total.
 * VIRTQ_POP_RING_ERROR: avail->idx more than the queue size ahead of the
 * device, or a head index out of range.
 *
 * The answer rule for a chain that is not VIRTQ_POP_OK, so that a malformed
 * request never looks like success to its driver: BAD_CHAIN with status_ok ->
 * the device writes its error status to status_pa and pushes a used length
 * that counts it; BAD_CHAIN without status_ok but any_writable, BROKEN_CHAIN
 * and RING_ERROR -> DEVICE_NEEDS_RESET (virtio 1.2 §2.1.2) and the queue is not
 * used again until reset; a used entry with nothing written only when the chain
 * has no device-writable byte at all (BAD_CHAIN, !any_writable).
 */
enum virtq_pop_result virtq_pop(struct virtq *vq, struct virtq_chain *chain);

/** Return a chain: write the used element, then (after a barrier) used->idx. -EINVAL if not ready or head out
 * of range. */
int virtq_push(struct virtq *vq, uint16_t head, uint32_t len);

/**
 * After one or more virtq_push: should the driver be interrupted? Honours
 * VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX (§2.7.7). Records
 * the current used index as signalled, so call it once per batch and inject
 * when it returns true.
 */
bool virtq_needs_interrupt(struct virtq *vq);

/**
 * The device ran out of work: with EVENT_IDX ask the driver to notify on the
 * next buffer (avail_event = last_avail_idx), then re-check. Returns true if
 * buffers are available (keep popping, or a notification could be lost).
 */
bool virtq_arm_notify(struct virtq *vq);

/**
 * The device has requests in flight and looks at the ring again when one completes: ask the
 * driver not to notify (VIRTQ_USED_F_NO_NOTIFY; with EVENT_IDX, avail_event stays behind). Only
 * advice: a driver may notify anyway. Undone by virtq_arm_notify.
 */
void virtq_quiet_notify(struct virtq *vq);

#endif
