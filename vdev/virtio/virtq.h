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
 * Not thread-safe: the owning device serialises all calls with its lock.
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
#define VIRTQ_INDIRECT_ALIGN 16u

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
	struct virtq_buf bufs[VIRTQ_CHAIN_MAX_BUFS];
};

enum virtq_pop_result {
	VIRTQ_POP_EMPTY,      /**< nothing available */
	VIRTQ_POP_OK,	      /**< *chain is filled */
	VIRTQ_POP_BAD_CHAIN,  /**< chain->head is valid and consumed, the chain is malformed: complete it
				   with an error (virtq_push(head, 0)); nothing else in *chain is valid */
	VIRTQ_POP_RING_ERROR, /**< the ring itself is broken: nothing consumed; the device must stop using
				   the queue and set DEVICE_NEEDS_RESET */
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
 * Take the next available chain. Each descriptor is read once; rejected as
 * VIRTQ_POP_BAD_CHAIN: next out of range, a chain longer than the queue size
 * (loops), a nested indirect table, INDIRECT together with NEXT, INDIRECT
 * when not negotiated, an indirect table that is empty, misaligned, not a
 * multiple of 16 bytes or longer than VIRTQ_INDIRECT_MAX entries, a buffer
 * not wholly inside one guest RAM range, a readable buffer after a writable
 * one, more than VIRTQ_CHAIN_MAX_BUFS buffers, more than 4 GiB in total.
 * VIRTQ_POP_RING_ERROR: avail->idx more than the queue size ahead of the
 * device, or a head index out of range.
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

#endif
