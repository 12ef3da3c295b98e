/* virtio-mmio v2 register emulation: negotiation, status machine, queue setup, interrupts. */
#include "vdev/virtio/virtio_mmio.h"

#include <errno.h>

#include "arch/barrier.h"
#include "arch/timer.h"
#include "core/vgic.h"
#include "core/vm.h"
#include "keel/util.h"

#define STATUS_KNOWN                                                                                         \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK |                        \
	 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED)

bool virtio_mmio_log_allowed(struct virtio_mmio *t)
{
	t->guest_errors++;
	return ratelimit_log_allowed(&t->log_rl, timer_us(), t->name);
}

static void reset_registers(struct virtio_mmio *t)
{
	t->status = 0;
	t->device_features_sel = 0;
	t->driver_features_sel = 0;
	t->driver_features = 0;
	t->queue_sel = 0;
	t->shm_sel = 0;
	t->interrupt_status = 0;
	__atomic_store_n(&t->used_due, false, __ATOMIC_RELAXED);
	t->driver_acks = false;
	for (unsigned q = 0; q < t->nqueues; q++)
		virtq_reset(&t->queues[q]);
}

int virtio_mmio_init(struct virtio_mmio *t, const struct virtio_mmio_params *p, struct mmio_bus *bus)
{
	uint16_t qmax = p->queue_max;

	if (p->nqueues == 0 || p->nqueues > VIRTIO_MMIO_MAX_QUEUES || p->ops == NULL ||
	    p->ops->config_read == NULL || p->ops->queue_notify == NULL || p->ops->reset == NULL ||
	    qmax == 0 || qmax > VIRTQ_MAX_SIZE || (qmax & (qmax - 1)) != 0 ||
	    !(p->device_features & BIT(VIRTIO_F_VERSION_1)) || p->mem == NULL)
		return -EINVAL;

	struct spinlock unlocked = SPINLOCK_INIT;
	t->lock = unlocked;
	t->vm = p->vm;
	t->name = p->name ? p->name : "virtio";
	t->mem = p->mem;
	t->base = p->base;
	t->intid = p->intid;
	t->device_id = p->device_id;
	t->device_features = p->device_features;
	t->nqueues = p->nqueues;
	t->ops = p->ops;
	t->owner = p->owner;
	t->config_generation = 0;
	t->resetting = false;
	t->interrupts = 0;
	t->notifications = 0;
	t->guest_errors = 0;
	t->log_rl = (struct ratelimit){0};
	t->shadow = NULL;
	t->read_traps = 0;
	t->write_traps = 0;
	t->lock_waits = 0;
	t->lock_wait_us = 0;
	for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
		virtq_init(&t->queues[q], p->mem, qmax);
	reset_registers(t);

	struct mmio_region r = {
	    .base = p->base,
	    .size = VIRTIO_MMIO_REGION_SIZE,
	    .read = virtio_mmio_read,
	    .write = virtio_mmio_write,
	    .dev = t,
	    .name = t->name,
	};
	return mmio_bus_register(bus, &r);
}

bool virtio_mmio_live(const struct virtio_mmio *t)
{
	uint32_t status = READ_ONCE(t->status);
	return (status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(status & (VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED)) &&
	       !READ_ONCE(t->resetting);
}

bool virtio_mmio_negotiated(const struct virtio_mmio *t, unsigned bit)
{
	return (t->status & VIRTIO_STATUS_FEATURES_OK) && bit < 64 && (t->driver_features & BIT(bit));
}

static void inject(struct virtio_mmio *t)
{
	/* vgic_inject only fails for an intid the VM does not have: a VM-setup bug, not the guest's. */
	if (vgic_inject(t->vm, t->intid) != 0) {
		log_err("%s: cannot inject intid %u", t->name, t->intid);
		return;
	}
	t->interrupts++;
}

void virtio_mmio_signal_used(struct virtio_mmio *t)
{
	t->interrupt_status |= VIRTIO_MMIO_INT_VRING;
	virtio_mmio_shadow_word(t,
				VIRTIO_MMIO_INTERRUPT_STATUS); /* before the guest can take the interrupt */
	inject(t);
}

/*
 * Why none is lost: the signaller sets used_due, then (full barrier) tries the lock; a holder
 * releases the lock, then (full barrier) looks at used_due. One of them sees the other's store.
 */
void virtio_mmio_flush_used(struct virtio_mmio *t)
{
	for (;;) {
		smp_mb(); /* the flag or the release before the look */
		if (!__atomic_load_n(&t->used_due, __ATOMIC_RELAXED) || !spin_trylock(&t->lock))
			return;
		if (__atomic_exchange_n(&t->used_due, false, __ATOMIC_ACQUIRE) && !t->resetting)
			virtio_mmio_signal_used(t);
		spin_unlock(&t->lock); /* not virtio_mmio_unlock: this loop looks again itself */
	}
}

void virtio_mmio_signal_used_async(struct virtio_mmio *t)
{
	__atomic_store_n(&t->used_due, true, __ATOMIC_RELAXED);
	virtio_mmio_flush_used(t);
}

void virtio_mmio_signal_config(struct virtio_mmio *t, bool config_changed)
{
	if (config_changed) {
		t->config_generation++;
		virtio_mmio_shadow_config(t);
	}
	t->interrupt_status |= VIRTIO_MMIO_INT_CONFIG;
	virtio_mmio_shadow_word(t, VIRTIO_MMIO_INTERRUPT_STATUS);
	inject(t);
}

void virtio_mmio_set_needs_reset(struct virtio_mmio *t, const char *why)
{
	if (t->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return;
	if (virtio_mmio_log_allowed(t)) /* the guest can break its ring again after each reset */
		log_warn("%s: device needs reset: %s", t->name, why);
	t->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	virtio_mmio_shadow_word(t, VIRTIO_MMIO_STATUS);
	if (t->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_mmio_signal_config(t, false);
}

struct virtq *virtio_mmio_selected_queue(struct virtio_mmio *t)
{
	return t->queue_sel < t->nqueues ? &t->queues[t->queue_sel] : NULL;
}

/* --- config space -------------------------------------------------------- */

static int config_access(struct virtio_mmio *t, struct mmio_access *acc)
{
	uint32_t off = (uint32_t)(acc->offset - VIRTIO_MMIO_CONFIG);

	/* §4.2.2.2: 8-, 16- and 32-bit accesses, naturally aligned (64-bit fields are read as two words). */
	if ((acc->size != 1 && acc->size != 2 && acc->size != 4) || off % acc->size != 0) {
		virtio_guest_err(t, "config access of %u bytes at 0x%x rejected", acc->size, off);
		return -EINVAL;
	}
	virtio_mmio_lock(t);
	if (!acc->write) {
		uint32_t v = 0;
		if (!t->ops->config_read(t, off, acc->size, &v)) {
			virtio_guest_err(t, "config read past the end at 0x%x", off);
			v = 0;
		}
		acc->value = v;
	} else if (t->ops->config_write == NULL ||
		   !t->ops->config_write(t, off, acc->size, (uint32_t)acc->value)) {
		virtio_guest_err(t, "config write at 0x%x ignored", off);
	}
	if (acc->write)
		virtio_mmio_shadow_config(t);
	virtio_mmio_unlock(t);
	return 0;
}

/* --- reads --------------------------------------------------------------- */

static uint32_t read_register(struct virtio_mmio *t, uint64_t off)
{
	bool readable;
	uint32_t v = virtio_mmio_reg_value(t, (uint32_t)off, &readable);

	if (!readable)
		virtio_guest_err(t, "read of write-only or unknown register 0x%llx", (unsigned long long)off);
	return v;
}

int virtio_mmio_read(void *dev, struct vcpu *vcpu, struct mmio_access *acc)
{
	struct virtio_mmio *t = dev;
	(void)vcpu;

	t->read_traps++; /* racy: a statistic */
	if (acc->offset >= VIRTIO_MMIO_CONFIG)
		return config_access(t, acc);
	if (acc->size != 4 || acc->offset % 4 != 0) {
		virtio_guest_err(t, "register read of %u bytes at 0x%llx rejected", acc->size,
				 (unsigned long long)acc->offset);
		return -EINVAL;
	}
	virtio_mmio_lock(t);
	acc->value = read_register(t, acc->offset);
	virtio_mmio_unlock(t);
	return 0;
}

/* --- writes -------------------------------------------------------------- */

/* Called with the lock held; reports whether DRIVER_OK was newly set. */
static void write_status(struct virtio_mmio *t, uint32_t value, bool *now_driver_ok)
{
	uint32_t cur = t->status;
	/* DEVICE_NEEDS_RESET is the device's to set: a driver echoing it back changes nothing. */
	uint32_t want = value & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET;

	if (value & ~STATUS_KNOWN) {
		virtio_guest_err(t, "status 0x%x has unknown bits; ignored", value);
		return;
	}
	if ((cur & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) & ~want) {
		virtio_guest_err(t, "status write 0x%x clears bits of 0x%x; ignored", value, cur);
		return;
	}
	uint32_t added = want & ~cur;
	if (added & VIRTIO_STATUS_FAILED) {
		log_info("%s: driver set FAILED", t->name);
		t->status |= VIRTIO_STATUS_FAILED;
	}
	/* Take the initialisation steps in order (§3.1.1), even when one write sets several. */
	if (added & VIRTIO_STATUS_ACKNOWLEDGE)
		t->status |= VIRTIO_STATUS_ACKNOWLEDGE;
	if (added & VIRTIO_STATUS_DRIVER) {
		/* U-Boot acknowledges, resets, then writes DRIVER alone (§3.1.1 wants ACKNOWLEDGE first).
		 * ACKNOWLEDGE only says the guest noticed the device, which a driver evidently did: imply
		 * it, counted as a guest error, rather than leave a real firmware driver without its disk. */
		if (!(t->status & VIRTIO_STATUS_ACKNOWLEDGE)) {
			virtio_guest_err(t, "DRIVER without ACKNOWLEDGE; ACKNOWLEDGE implied");
			t->status |= VIRTIO_STATUS_ACKNOWLEDGE;
		}
		t->status |= VIRTIO_STATUS_DRIVER;
	}
	if (added & VIRTIO_STATUS_FEATURES_OK) {
		uint64_t f = t->driver_features;
		if (!(t->status & VIRTIO_STATUS_DRIVER)) {
			virtio_guest_err(t, "FEATURES_OK before DRIVER; ignored");
			return;
		}
		if (f & ~t->device_features) {
			virtio_guest_err(t,
					 "driver features 0x%llx not offered (0x%llx); FEATURES_OK refused",
					 (unsigned long long)f, (unsigned long long)t->device_features);
			return;
		}
		if (!(f & BIT(VIRTIO_F_VERSION_1))) {
			virtio_guest_err(t, "driver did not accept VIRTIO_F_VERSION_1; FEATURES_OK refused");
			return;
		}
		if (t->ops->features_ok && !t->ops->features_ok(t, f)) {
			virtio_guest_err(t, "features 0x%llx refused by the device", (unsigned long long)f);
			return;
		}
		t->status |= VIRTIO_STATUS_FEATURES_OK;
	}
	if (added & VIRTIO_STATUS_DRIVER_OK) {
		if (!(t->status & VIRTIO_STATUS_FEATURES_OK)) {
			virtio_guest_err(t, "DRIVER_OK before FEATURES_OK; ignored");
			return;
		}
		t->status |= VIRTIO_STATUS_DRIVER_OK;
		*now_driver_ok = true;
	}
}

/* The driver wrote 0 to Status. Called and returns without the lock. */
static void device_reset(struct virtio_mmio *t)
{
	virtio_mmio_lock(t);
	if (t->resetting) {
		/* Another vCPU is already resetting this device; its reset covers ours. */
		virtio_mmio_unlock(t);
		return;
	}
	t->resetting = true;
	t->status &= ~VIRTIO_STATUS_DRIVER_OK; /* stop new work before dropping the lock */
	virtio_mmio_shadow_word(t, VIRTIO_MMIO_STATUS);
	virtio_mmio_unlock(t);

	t->ops->reset(t);

	virtio_mmio_lock(t);
	reset_registers(t);
	t->resetting = false;
	virtio_mmio_shadow_regs(t);
	virtio_mmio_unlock(t);
}

void virtio_mmio_reset(struct virtio_mmio *t)
{
	device_reset(t);
}

/* Queue configuration registers: only between FEATURES_OK and QueueReady (§4.2.3.2). */
static struct virtq *queue_for_config(struct virtio_mmio *t, uint64_t off)
{
	struct virtq *vq = virtio_mmio_selected_queue(t);

	if (vq == NULL) {
		virtio_guest_err(t, "write 0x%llx to absent queue %u ignored", (unsigned long long)off,
				 t->queue_sel);
		return NULL;
	}
	if (!(t->status & VIRTIO_STATUS_FEATURES_OK)) {
		virtio_guest_err(t, "queue register 0x%llx written before FEATURES_OK; ignored",
				 (unsigned long long)off);
		return NULL;
	}
	if (vq->ready) {
		virtio_guest_err(t, "queue register 0x%llx written while queue %u is ready; ignored",
				 (unsigned long long)off, t->queue_sel);
		return NULL;
	}
	return vq;
}

static void set_low(uint64_t *v, uint32_t lo)
{
	*v = (*v & 0xffffffff00000000ULL) | lo;
}

static void set_high(uint64_t *v, uint32_t hi)
{
	*v = (*v & 0xffffffffULL) | ((uint64_t)hi << 32);
}

static void write_queue_ready(struct virtio_mmio *t, uint32_t value)
{
	struct virtq *vq = virtio_mmio_selected_queue(t);

	if (vq == NULL) {
		virtio_guest_err(t, "QueueReady for absent queue %u ignored", t->queue_sel);
		return;
	}
	if (value == 0) {
		if (!vq->ready)
			return;
		/* Without VIRTIO_F_RING_RESET a live queue is only torn down by a device reset. */
		if (t->status & VIRTIO_STATUS_DRIVER_OK) {
			virtio_guest_err(t, "QueueReady=0 on live queue %u ignored (reset the device)",
					 t->queue_sel);
			return;
		}
		virtq_reset(vq);
		return;
	}
	if (value != 1) {
		virtio_guest_err(t, "QueueReady=%u ignored", value);
		return;
	}
	if (queue_for_config(t, VIRTIO_MMIO_QUEUE_READY) == NULL)
		return;
	if (virtq_enable(vq, t->driver_features) != 0) {
		virtio_guest_err(t, "queue %u: %s (num %u desc 0x%llx driver 0x%llx device 0x%llx)",
				 t->queue_sel, vq->error, vq->num, (unsigned long long)vq->desc_ipa,
				 (unsigned long long)vq->avail_ipa, (unsigned long long)vq->used_ipa);
		/* The driver does not read QueueReady back; without this it would wait forever. */
		virtio_mmio_set_needs_reset(t, "invalid queue configuration");
	}
}

/*
 * QueueNotify, the request path's trap: served without t->lock, which a queue pass of another vCPU
 * (or a completion) may hold for a while. What it reads may change under it (a reset, QueueReady):
 * the device re-checks under the lock before it touches the queue, and a notify that races a
 * reset is spurious, which the device must tolerate (§2.7.10).
 */
static void write_queue_notify(struct virtio_mmio *t, struct vcpu *vcpu, uint32_t value)
{
	__atomic_fetch_add(&t->notifications, 1, __ATOMIC_RELAXED);
	/* Without VIRTIO_F_NOTIFICATION_DATA the value is the queue index. */
	if (value >= t->nqueues) {
		virtio_guest_err(t, "notify for absent queue %u ignored", value);
		return;
	}
	if (!virtio_mmio_live(t) || !READ_ONCE(t->queues[value].ready))
		return; /* spurious */
	t->ops->queue_notify(t, value, vcpu ? (uint16_t)vcpu->index : 0);
}

int virtio_mmio_write(void *dev, struct vcpu *vcpu, struct mmio_access *acc)
{
	struct virtio_mmio *t = dev;
	struct virtq *vq;
	bool now_driver_ok = false;

	t->write_traps++; /* racy: a statistic */
	if (acc->offset >= VIRTIO_MMIO_CONFIG)
		return config_access(t, acc);
	if (acc->size != 4 || acc->offset % 4 != 0) {
		virtio_guest_err(t, "register write of %u bytes at 0x%llx rejected", acc->size,
				 (unsigned long long)acc->offset);
		return -EINVAL;
	}
	uint32_t value = (uint32_t)acc->value;

	if (acc->offset == VIRTIO_MMIO_STATUS && value == 0) {
		device_reset(t);
		return 0;
	}
	if (acc->offset == VIRTIO_MMIO_QUEUE_NOTIFY) {
		write_queue_notify(t, vcpu, value);
		return 0;
	}

	virtio_mmio_lock(t);
	if (t->resetting) {
		virtio_guest_err(t, "write 0x%llx during reset ignored", (unsigned long long)acc->offset);
		virtio_mmio_unlock(t);
		return 0;
	}
	switch (acc->offset) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->device_features_sel = value;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (!(t->status & VIRTIO_STATUS_DRIVER) || (t->status & VIRTIO_STATUS_FEATURES_OK)) {
			virtio_guest_err(t, "DriverFeatures written in status 0x%x; ignored", t->status);
		} else if (t->driver_features_sel == 0) {
			set_low(&t->driver_features, value);
		} else if (t->driver_features_sel == 1) {
			set_high(&t->driver_features, value);
		} else if (value != 0) {
			virtio_guest_err(t, "DriverFeatures word %u = 0x%x ignored", t->driver_features_sel,
					 value);
		}
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->driver_features_sel = value;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		t->queue_sel = value;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		vq = queue_for_config(t, acc->offset);
		if (vq)
			vq->num = value;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		write_queue_ready(t, value);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		vq = queue_for_config(t, acc->offset);
		if (vq == NULL)
			break;
		switch (acc->offset) {
		case VIRTIO_MMIO_QUEUE_DESC_LOW:
			set_low(&vq->desc_ipa, value);
			break;
		case VIRTIO_MMIO_QUEUE_DESC_HIGH:
			set_high(&vq->desc_ipa, value);
			break;
		case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
			set_low(&vq->avail_ipa, value);
			break;
		case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
			set_high(&vq->avail_ipa, value);
			break;
		case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
			set_low(&vq->used_ipa, value);
			break;
		default:
			set_high(&vq->used_ipa, value);
			break;
		}
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		t->interrupt_status &= ~value;
		t->driver_acks = t->driver_acks || value != 0;
		break;
	case VIRTIO_MMIO_STATUS:
		write_status(t, value, &now_driver_ok);
		break;
	case VIRTIO_MMIO_SHM_SEL:
		t->shm_sel = value;
		break;
	case VIRTIO_MMIO_MAGIC_VALUE:
	case VIRTIO_MMIO_VERSION:
	case VIRTIO_MMIO_DEVICE_ID:
	case VIRTIO_MMIO_VENDOR_ID:
	case VIRTIO_MMIO_DEVICE_FEATURES:
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
	case VIRTIO_MMIO_INTERRUPT_STATUS:
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
	case VIRTIO_MMIO_CONFIG_GENERATION:
		virtio_guest_err(t, "write 0x%x to read-only register 0x%llx ignored", value,
				 (unsigned long long)acc->offset);
		break;
	default:
		virtio_guest_err(t, "write 0x%x to unknown register 0x%llx ignored", value,
				 (unsigned long long)acc->offset);
		break;
	}
	/* Keep the shadow exact before the guest runs again: InterruptACK changes one word. */
	if (acc->offset == VIRTIO_MMIO_INTERRUPT_ACK)
		virtio_mmio_shadow_word(t, VIRTIO_MMIO_INTERRUPT_STATUS);
	else
		virtio_mmio_shadow_regs(t);
	virtio_mmio_unlock(t);

	if (now_driver_ok && t->ops->driver_ok)
		t->ops->driver_ok(t);
	return 0;
}
