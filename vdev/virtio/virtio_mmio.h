/*
 * virtio-mmio transport, version 2 (modern) only (virtio 1.2 §4.2.2).
 *
 * Emulates the register block of one device on a VM's MMIO bus: feature
 * negotiation, the device-status state machine, queue configuration, the
 * interrupt status/ack pair and the device-specific configuration space. The
 * device type (virtio-blk, ...) plugs in through struct virtio_dev_ops and
 * owns the queue processing.
 *
 * Locking: one spinlock per device (t->lock) guards the registers and the
 * interrupt status. The queues' processing is the device type's, under locks
 * of its own (virtio-blk: one per queue, taken before t->lock when both are
 * held): a queue's configuration is written under t->lock only while it is not
 * ready, and `ready` is published after the rest (virtq_enable), so a holder
 * of the device's queue lock reads it with acquire and then uses the ring; a
 * reset sets `resetting` before the device's reset op, which takes every
 * queue lock. Ops marked "lock held" run under t->lock; the others run without
 * it so they may take it themselves and call into a storage driver. Every
 * holder releases it with virtio_mmio_unlock, which raises an interrupt left
 * to it meanwhile (virtio_mmio_signal_used_async). A QueueNotify write never
 * takes it: the request path's trap does not wait for another vCPU's
 * register access or queue pass (queue_notify).
 *
 * Guest mistakes (bad access size, unknown offset, writes to read-only
 * registers, out-of-order status, queue registers written while QueueReady=1
 * ...) are logged (rate-limited) and ignored; a misaligned or wrongly sized
 * access is rejected (the guest gets an external abort). Never a crash.
 *
 * Shadow page (optional, virtio_mmio_attach_shadow): a 4 KiB page holding, at each offset of the
 * 0x200-byte window, what a trapped 4-byte read returns now (Magic .. ConfigGeneration for the current
 * DeviceFeaturesSel / QueueSel, the config space at 0x100+ through config_read; 0 for write-only and
 * unknown registers and past the end of the config). The transport rewrites it under t->lock after
 * every change a read could see (trapped writes, reset, signal_used / signal_config / set_needs_reset
 * from any CPU), cleans it to the point of coherency and issues a barrier before any injection. The
 * VM maps it read-only at the device's IPA, so reads do not trap and writes take a stage-2 permission
 * fault that is emulated as before. Differences from trapped reads: a read of a write-only or unknown
 * register returns 0 without a log line, and a byte / halfword register read returns those bytes of
 * the register instead of an external abort (the driver MUST use 32-bit accesses, §4.2.2.2).
 */
#ifndef KEEL_VDEV_VIRTIO_MMIO_H
#define KEEL_VDEV_VIRTIO_MMIO_H

#include "arch/spinlock.h"
#include "arch/timer.h"
#include "core/mmio.h"
#include "keel/log.h"
#include "keel/ratelimit.h"
#include "vdev/virtio/virtq.h"

#define VIRTIO_MMIO_MAX_QUEUES 4
/** VendorID: "KEEL" in little-endian ASCII. */
#define VIRTIO_MMIO_VENDOR_KEEL 0x4c45454bu

struct vm;
struct virtio_mmio;

struct virtio_dev_ops {
	/** Read size (1, 2 or 4) bytes of config space at offset (aligned to size). Return false past the
	 * end. Lock held. */
	bool (*config_read)(struct virtio_mmio *t, uint32_t offset, unsigned size, uint32_t *value);
	/** Write config space; return false to refuse. NULL: read-only config. Lock held. */
	bool (*config_write)(struct virtio_mmio *t, uint32_t offset, unsigned size, uint32_t value);
	/** Accept the negotiated features at FEATURES_OK (false: FEATURES_OK stays clear). NULL: accept. Lock
	 * held. */
	bool (*features_ok)(struct virtio_mmio *t, uint64_t features);
	/**
	 * vCPU number vcpu of the VM notified queue q (q < nqueues; it was ready and the device live
	 * when the transport looked, without the lock: re-check under it). Lock NOT held.
	 */
	void (*queue_notify)(struct virtio_mmio *t, unsigned q, uint16_t vcpu);
	/** DRIVER_OK was just set. NULL: nothing to do. Lock NOT held. */
	void (*driver_ok)(struct virtio_mmio *t);
	/**
	 * The driver wrote 0 to Status. Quiesce: wait (bounded) for in-flight
	 * requests and stop touching the queues. Afterwards the transport
	 * resets every queue and register. Lock NOT held; t->resetting is set.
	 */
	void (*reset)(struct virtio_mmio *t);
};

struct virtio_mmio_params {
	struct vm *vm;
	const char *name;	     /**< for log lines: name the VM and the device, e.g. "vm1/vda" */
	const struct guest_mem *mem; /**< the VM's RAM (queues are translated through it) */
	ipa_t base;		     /**< region base; the region is VIRTIO_MMIO_REGION_SIZE bytes */
	uint32_t intid;		     /**< the SPI the device raises (vgic_inject) */
	uint32_t device_id;	     /**< VIRTIO_ID_* */
	uint64_t device_features;    /**< offered features; must include VIRTIO_F_VERSION_1 */
	unsigned nqueues;	     /**< 1..VIRTIO_MMIO_MAX_QUEUES */
	uint16_t queue_max;	     /**< QueueNumMax: power of two <= VIRTQ_MAX_SIZE */
	const struct virtio_dev_ops *ops;
	void *owner; /**< the device type's object, for the ops */
};

struct virtio_mmio {
	struct spinlock lock;

	/* Fixed at init. */
	struct vm *vm;
	const char *name;
	const struct guest_mem *mem;
	ipa_t base;
	uint32_t intid;
	uint32_t device_id;
	uint64_t device_features;
	unsigned nqueues;
	const struct virtio_dev_ops *ops;
	void *owner;

	/* Register state (lock held). */
	uint32_t status;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint64_t driver_features; /**< what the driver wrote; the negotiated set once FEATURES_OK */
	uint32_t queue_sel;
	uint32_t shm_sel;
	uint32_t interrupt_status;
	bool used_due;	  /**< a used-buffer interrupt left to t->lock's holder (atomic, no lock) */
	bool driver_acks; /**< the driver has acknowledged an interrupt since its reset (it takes them) */
	uint32_t config_generation;
	bool resetting; /**< a reset is quiescing the device with the lock dropped */
	struct virtq queues[VIRTIO_MMIO_MAX_QUEUES];

	uint64_t interrupts;	 /**< injections made */
	uint64_t notifications;	 /**< QueueNotify writes (traps); atomic: counted without the lock */
	uint64_t guest_errors;	 /**< rejected or ignored guest accesses */
	struct ratelimit log_rl; /**< guest-caused log lines of this device, limited by time */
	uint32_t *shadow;	 /**< the shadow page (VIRTIO_MMIO_SHADOW_SIZE bytes), NULL: reads trap */
	uint64_t read_traps;	 /**< register / config reads that trapped */
	uint64_t write_traps;	 /**< register / config writes (all trap) */
	uint64_t lock_waits;	 /**< times a CPU found t->lock held and waited (virtio_mmio_lock) */
	uint64_t lock_wait_us;	 /**< ... the time they waited, in all */
};

/** Take l; a CPU that finds it held waits, and adds one to *waits and the time it waited to *wait_us
 * (the clock is read only when the lock was held). The holder's counters are guarded by l. */
static inline void virtio_lock_counted(struct spinlock *l, uint64_t *waits, uint64_t *wait_us)
{
	if (spin_trylock(l))
		return;
	uint64_t t0 = timer_us();
	spin_lock(l);
	(*waits)++;
	*wait_us += timer_us() - t0;
}

/**
 * Take t->lock; a CPU that finds it held (another vCPU of the VM, or a completion on any CPU)
 * waits, and counts the wait and its time (lock_waits, lock_wait_us): the contention multi-queue
 * devices are measured by. The clock is read only when the lock was held.
 */
static inline void virtio_mmio_lock(struct virtio_mmio *t)
{
	virtio_lock_counted(&t->lock, &t->lock_waits, &t->lock_wait_us);
}

/** Raise the used-buffer interrupt left to t->lock's holder, if any and the lock is free (no lock
 * held). */
void virtio_mmio_flush_used(struct virtio_mmio *t);

/**
 * Release t->lock, then raise the interrupt left to its holder while it was held
 * (virtio_mmio_signal_used_async). Every holder releases the lock so: an interrupt left behind waits
 * for the next release otherwise.
 */
static inline void virtio_mmio_unlock(struct virtio_mmio *t)
{
	spin_unlock(&t->lock);
	virtio_mmio_flush_used(t);
}

#define VIRTIO_MMIO_SHADOW_SIZE 4096u

/** Initialise and register the MMIO region on bus. Returns 0 or the negative mmio_bus_register / -EINVAL
 * error. */
int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_mmio_params *p, struct mmio_bus *bus);

/** The MMIO callbacks (registered by virtio_mmio_init; exposed for tests and fuzzing). */
int virtio_mmio_read(void *dev, struct vcpu *vcpu, struct mmio_access *acc);
int virtio_mmio_write(void *dev, struct vcpu *vcpu, struct mmio_access *acc);

/**
 * Give the transport its shadow page (VIRTIO_MMIO_SHADOW_SIZE bytes, page-aligned, owned by the caller
 * for the device's lifetime) and fill it; from now on it is kept current. The caller maps it read-only
 * into the VM afterwards. NULL detaches (reads must trap again first). Lock NOT held.
 */
void virtio_mmio_attach_shadow(struct virtio_mmio *t, uint32_t *page);

/** What a 4-byte read of register off (< 0x100) returns; *readable false for write-only / unknown
 * offsets (which read 0). Lock held. */
uint32_t virtio_mmio_reg_value(struct virtio_mmio *t, uint32_t off, bool *readable);

/** The queue QueueSel selects, NULL when it selects none (lock held). */
struct virtq *virtio_mmio_selected_queue(struct virtio_mmio *t);

/** Shadow upkeep (no-ops without a shadow; lock held): every register word, the config space and
 * ConfigGeneration, one register word. Each publishes what it wrote (clean to PoC, barrier). */
void virtio_mmio_shadow_regs(struct virtio_mmio *t);
void virtio_mmio_shadow_config(struct virtio_mmio *t);
void virtio_mmio_shadow_word(struct virtio_mmio *t, uint32_t off);

/** Reset the device as a driver's write of 0 to Status does (VM reset). Lock NOT held. */
void virtio_mmio_reset(struct virtio_mmio *t);

/** True when queues may be processed: DRIVER_OK, no NEEDS_RESET / FAILED, not resetting. Lock held
 * (without it, a hint that may be stale by the time it returns). */
bool virtio_mmio_live(const struct virtio_mmio *t);

/** True when feature bit was negotiated (FEATURES_OK accepted it). Lock held, or from a queue pass
 * (the features do not change while the device is live). */
bool virtio_mmio_negotiated(const struct virtio_mmio *t, unsigned bit);

/** Raise a used-buffer notification: set InterruptStatus bit 0 and inject. Lock held. */
void virtio_mmio_signal_used(struct virtio_mmio *t);
/**
 * The same from any context, t->lock NOT held, without waiting for it: raised now if the lock is
 * free, else by its holder as it releases it (virtio_mmio_unlock). A completion on another VM's CPU
 * never spins on a lock a vCPU of this VM holds.
 */
void virtio_mmio_signal_used_async(struct virtio_mmio *t);

/** Raise a configuration-change notification (and bump ConfigGeneration if config_changed). Lock held. */
void virtio_mmio_signal_config(struct virtio_mmio *t, bool config_changed);

/**
 * The device hit an error only a reset cures (a broken ring): set
 * DEVICE_NEEDS_RESET and, if DRIVER_OK is set, send a configuration change
 * notification (§2.1.2). Queue processing stops. Lock held.
 */
void virtio_mmio_set_needs_reset(struct virtio_mmio *t, const char *why);

/**
 * Rate-limit guest-caused log lines by time (keel/ratelimit.h, per device); counts the error. When
 * a line is allowed after others were suppressed, first logs "(N similar lines suppressed)". Lock
 * held or not (racy counters are fine).
 */
bool virtio_mmio_log_allowed(struct virtio_mmio *t);

/** Log a guest-caused error naming the device, rate-limited. */
#define virtio_guest_err(t, fmt, ...)                                                                        \
	do {                                                                                                 \
		if (virtio_mmio_log_allowed(t))                                                              \
			log_warn("%s: " fmt, (t)->name, ##__VA_ARGS__);                                      \
	} while (0)

#endif
