/* test=iso's attack queue (iso_queue.c): one virtio-blk queue of up to IQ_MAX requests, each one
 * indirect descriptor, with every ring and table in scratch RAM the caller provides. */
#ifndef GUEST_ISO_H
#define GUEST_ISO_H

#include <stdint.h>

#include "timer.h"
#include "virtio.h"

#define IQ_MAX 512

/* The attack queue: up to IQ_MAX requests, each one indirect descriptor, all in scratch RAM. */
struct iq {
	struct virtio_blk *d;
	uint16_t qsize, avail_idx, used_idx;
	uint32_t size_max, seg_max;
	volatile struct virtq_desc *desc;
	volatile uint16_t *avail; /* flags, idx, ring[qsize], used_event */
	volatile uint32_t *used;  /* flags|idx, then (id, len) pairs */
	volatile struct virtio_blk_req_hdr *hdr;
	volatile uint8_t *status; /* 16 bytes apart */
	volatile struct virtq_desc *itab;
	uint32_t itab_entries;
	uintptr_t data; /* DATA_CAP bytes */
	uintptr_t tramp;
};

static inline uint64_t ms_now(void)
{
	return timer_now() / (timer_freq() / 1000);
}

/** Device reset (waits up to 1 s), VERSION_1 + INDIRECT_DESC (+ SIZE_MAX, SEG_MAX: size_max and
 * seg_max read from config space), the largest power-of-two queue <= IQ_MAX, DRIVER_OK, no
 * interrupts. 0 or -1 (FAIL printed). */
int iq_init(struct iq *iq);
/** Request `head`: an IN of `sector` with nseg data buffers (set with iq_seg) and a status byte. */
void iq_set(struct iq *iq, uint16_t head, uint64_t sector, uint32_t nseg);
void iq_seg(struct iq *iq, uint16_t head, uint32_t i, uint64_t addr, uint32_t len);
/** Queues `head` in the avail ring; iq_publish makes the queued heads visible (and notifies). */
void iq_push(struct iq *iq, uint16_t head);
void iq_publish(struct iq *iq, int notify);

#endif
