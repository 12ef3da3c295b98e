/*
 * Host-test fake of a VM with one virtio-blk disk, and a minimal guest-side
 * virtio-mmio driver that talks to it only through MMIO accesses and guest
 * RAM, as Linux's virtio_mmio + virtio_blk do.
 *
 * Guest RAM and the disk image are malloc'd host buffers (host pointers are
 * physical addresses in host tests) surrounded by guard zones filled with a
 * pattern, so tests can assert that nothing outside them changed; ASan
 * catches accesses beyond the guards.
 */
#ifndef KEEL_TESTS_VIRTIO_GUEST_H
#define KEEL_TESTS_VIRTIO_GUEST_H

#include "drivers/storage/ramdisk.h"
#include "vdev/virtio/virtio_blk.h"

#define VG_RAM_IPA	0x40000000ULL
#define VG_RAM_SIZE	0x100000u /* 1 MiB */
#define VG_GUARD	0x2000u
#define VG_GUARD_BYTE	0xa5u
#define VG_MMIO_BASE	0x0a000000ULL
#define VG_INTID	48u
#define VG_DISK_SECTORS 2048u /* 1 MiB */

/* Fixed guest-RAM layout used by the driver helpers. */
#define VG_DESC_IPA   (VG_RAM_IPA + 0x1000)
#define VG_AVAIL_IPA  (VG_RAM_IPA + 0x2000)
#define VG_USED_IPA   (VG_RAM_IPA + 0x3000)
#define VG_HDR_IPA    (VG_RAM_IPA + 0x5000) /* request headers, 16 bytes per slot */
#define VG_STATUS_IPA (VG_RAM_IPA + 0x6000) /* status bytes, one per slot */
#define VG_MISC_IPA   (VG_RAM_IPA + 0x7000) /* scratch: indirect tables, discard ranges */
#define VG_DATA_IPA   (VG_RAM_IPA + 0x10000)
/* Queues 1..3 (multi-queue): desc, avail and used a page apart, 0x3000 per queue. */
#define VG_MQ_RING_IPA (VG_RAM_IPA + 0xc0000)
#define VG_MAX_QUEUES  4u

/** A backend that queues requests until polled (completes them through an inner blkdev). */
struct slowdisk {
	struct blkdev bdev;
	struct blkdev *inner;
	struct blk_req *queue[256];
	unsigned count;
	unsigned capacity; /**< submits beyond this many queued return BLK_EBUSY */
	bool fail_next;	   /**< complete the next request with BLK_EIO */
	bool stuck;	   /**< poll completes nothing */
	unsigned ready_in; /**< completion_ready answers true on its ready_in-th call (0: never) */
	unsigned ready_calls;
	bool refused;	  /**< a submit was refused with BLK_EBUSY: the next completion wakes */
	bool inline_done; /**< complete each accepted request inside submit (after on_submit) */
	void (*on_submit)(struct slowdisk *s, struct blk_req *req); /**< test hook, may be NULL */
	void *hook_ctx;
	unsigned cancels;		/**< cancel calls */
	bool cancel_now;		/**< (cancellable) cancel completes the request inside the call */
	struct blk_req *cancelled[256]; /**< (cancellable, deferred) completed with BLK_ECANCELED by poll */
	unsigned ncancelled;
	unsigned hinted;	  /**< requests submitted with the batching hint (blk_req.batch) */
	unsigned commits;	  /**< blkdev_ops.commit calls */
	unsigned count_at_commit; /**< requests queued when commit was last called */
};

struct vg_opts {
	bool backend_ro; /**< ramdisk read-only */
	bool param_ro;	 /**< virtio_blk_params.read_only */
	bool slow;	 /**< put a slowdisk in front of the ramdisk */
	unsigned slow_capacity;
	const char *serial;
	uint32_t max_segs; /**< override the backend's limits when non-zero */
	uint32_t max_seg_size;
	uint32_t max_sectors;
	uint32_t block_size;   /**< override the backend's logical block size when non-zero */
	uint32_t flags_clear;  /**< BLKDEV_F_* to remove from the backend */
	bool pollable;	       /**< the slowdisk offers completion_ready */
	uint32_t poll_us;      /**< virtio_blk_params.poll_us */
	uint32_t coalesce_us;  /**< virtio_blk_params.coalesce_us */
	uint32_t ram_size;     /**< guest RAM bytes when non-zero (default VG_RAM_SIZE) */
	uint32_t disk_sectors; /**< disk size when non-zero (default VG_DISK_SECTORS) */
	bool no_bounce;	       /**< give a disk with blocks above 512 bytes no bounce buffer */
	unsigned nqueues;      /**< virtio_blk_params.nqueues */
};

struct vg {
	uint8_t *ram_alloc, *ram;
	uint64_t ram_size;
	uint8_t *disk_alloc, *disk;
	uint64_t disk_size;
	struct guest_mem mem;
	struct mmio_bus bus;
	struct ramdisk rd;
	struct slowdisk slow;
	struct virtio_blk *blk;
	void *bounce[VIRTIO_BLK_BOUNCE_PAGES]; /**< given when the block size exceeds 512 */
	int vm_marker;
	struct vm *vm;
	/* Driver state. */
	uint16_t qsize;
	uint16_t avail_idx; /**< of the current queue (cur_q) */
	uint64_t features;
	unsigned nqueues; /**< queues the driver set up (num_queues when F_MQ was negotiated, else 1) */
	unsigned cur_q;	  /**< the queue vg_set_desc / vg_publish / vg_notify / vg_used_* use */
	uint16_t q_avail_idx[VG_MAX_QUEUES];
	struct vcpu *as_vcpu; /**< the vCPU MMIO accesses come from (NULL: none, index 0) */
};

struct vg *vg_create(const struct vg_opts *o);
/** vg_create with the vGIC and vCPU-work fakes reset (a fresh machine around the new device). */
struct vg *vg_create_fresh(const struct vg_opts *o);
/** Free everything; returns false if a guard zone changed. */
bool vg_destroy(struct vg *g);
/** Byte off of the disk vg_create made: byte i of sector s is (s * 7 + i) & 0xff. */
uint8_t vg_disk_byte(uint64_t off);
/** The virtio-blk device's counters. */
struct virtio_blk_stats vg_blk_stats(struct vg *g);
bool vg_guards_intact(const struct vg *g);
/** Host pointer to guest RAM at ipa (aborts when outside RAM). */
void *vg_ptr(struct vg *g, uint64_t ipa);

/** One MMIO access through the bus; returns the dispatch result. */
int vg_access(struct vg *g, uint64_t off, uint8_t size, bool write, uint64_t *value);
uint32_t vg_rd(struct vg *g, uint64_t off);
void vg_wr(struct vg *g, uint64_t off, uint32_t value);

/**
 * Linux-like init with the offered features masked by want; queue 0 of qsize (and, with F_MQ
 * negotiated, every queue num_queues says, each of qsize). True when DRIVER_OK stuck.
 */
bool vg_driver_init(struct vg *g, uint64_t want, uint16_t qsize);

/** Make queue q the one the ring helpers below use (each keeps its own avail index). */
void vg_use_queue(struct vg *g, unsigned q);
/** Guest-physical address of queue q's descriptor table, avail or used ring. */
uint64_t vg_desc_ipa(unsigned q);
uint64_t vg_avail_ipa(unsigned q);
uint64_t vg_used_ipa(unsigned q);

void vg_set_desc(struct vg *g, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
/** Put head in the avail ring and bump avail->idx (does not notify). */
void vg_publish(struct vg *g, uint16_t head);
void vg_notify(struct vg *g);
uint16_t vg_used_idx(struct vg *g);
struct virtq_used_elem vg_used_elem(struct vg *g, uint16_t i);

struct vg_req {
	uint32_t type;
	uint64_t sector;
	uint64_t data_ipa;
	uint32_t data_len;
	bool data_writable; /**< device-writable data (reads, GET_ID) */
};
/** Build request `slot` (descriptors 3*slot.., header and status at fixed places), publish and notify. */
uint16_t vg_blk_submit(struct vg *g, unsigned slot, const struct vg_req *r);
/** 512-byte reads of sector i into data slot i, i = first..first+n-1: each built, published, notified. */
void vg_submit_reads(struct vg *g, unsigned first, unsigned n);
/** The same reads, built and published without a notify (the driver notifies once after, or not). */
void vg_queue_reads(struct vg *g, unsigned first, unsigned n);
/** Interrupts the device injected into the guest so far (VG_INTID). */
unsigned vg_irqs(struct vg *g);
/** As vg_blk_submit, without the notify (several requests, then one vg_notify). */
uint16_t vg_blk_queue(struct vg *g, unsigned slot, const struct vg_req *r);
uint8_t vg_status(struct vg *g, unsigned slot);

/** Put a slowdisk in front of inner (same limits and flags), queueing up to capacity requests. */
void slowdisk_init(struct slowdisk *s, struct blkdev *inner, unsigned capacity);
/** Offer completion_ready (answering per s->ready_in), as a pollable controller does. */
void slowdisk_make_pollable(struct slowdisk *s);
/** Offer blkdev_ops.cancel: at once (cancel_now) or on the next poll (deferred; not while stuck). */
void slowdisk_make_cancellable(struct slowdisk *s, bool cancel_now);
/** Complete the oldest request the slowdisk holds, if any (completion context). */
void slowdisk_complete_first(struct slowdisk *s);
/** Complete everything the slowdisk holds (completion context: never runs the device's work). */
void slowdisk_complete_all(struct slowdisk *s);

/**
 * Run the device's work hook as the VM's vCPU loop does (core/vm.c vm_run_work) while work is
 * asked for (tests/fakes/vm_work.c), at most max passes. Returns the passes run.
 */
unsigned vg_run_work(struct vg *g, unsigned max);

#endif
