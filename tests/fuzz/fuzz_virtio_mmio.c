/*
 * libFuzzer target for the virtio-mmio v2 transport's register state machine,
 * with a small device type behind it (two queues, config space, a feature
 * check that refuses some sets). The input is a program of register accesses
 * (any offset, size and value; a bias towards real registers and the queue
 * setup sequence), guest RAM writes, and checks after each step.
 *
 * Invariants: no crash, panic or sanitizer report; DRIVER_OK is never set
 * without FEATURES_OK, and FEATURES_OK never survives a refused feature set or a
 * set without VERSION_1; after Status is written 0 the device is back to its reset
 * state (status, interrupt status, every queue not ready); a ready queue has a
 * non-zero power-of-two size within QueueNumMax; notifies reach the device only
 * for ready queues with DRIVER_OK. The shadow page equals, at every offset, what a
 * trapped 4-byte read returns (0 where a read returns nothing), after every step, signals
 * from "another CPU" and config changes included.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_input.h"
#include "keel/addr.h"
#include "keel/util.h"
#include "tests/fakes/fake_vgic.h"
#include "vdev/virtio/virtio_mmio.h"
#include "vdev/virtio/virtio_spec.h"

#define RAM_IPA	 0x40000000ULL
#define RAM_SIZE 0x8000u
#define BASE	 0x0a000000ULL
#define QMAX	 64u
#define OFFERED                                                                                              \
	(BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX) | BIT(VIRTIO_F_INDIRECT_DESC) | BIT(3) | BIT(40))

static uint8_t *ram;
static struct guest_mem mem;
static struct mmio_bus bus;
static struct virtio_mmio t;
static uint8_t config[24];
static int vm_marker;
static unsigned notifies_bad;
static uint32_t shadow[VIRTIO_MMIO_SHADOW_SIZE / 4] __attribute__((aligned(VIRTIO_MMIO_SHADOW_SIZE)));

static bool cfg_read(struct virtio_mmio *tp, uint32_t off, unsigned size, uint32_t *v)
{
	(void)tp;
	if (off >= sizeof(config) || size > sizeof(config) - off)
		return false;
	*v = 0;
	memcpy(v, config + off, size);
	return true;
}

static bool cfg_write(struct virtio_mmio *tp, uint32_t off, unsigned size, uint32_t v)
{
	(void)tp;
	if (off < 8 || off >= sizeof(config) || size > sizeof(config) - off)
		return false;
	memcpy(config + off, &v, size);
	return true;
}

static bool feat_ok(struct virtio_mmio *tp, uint64_t features)
{
	(void)tp;
	return !(features & BIT(3)) || (features & BIT(40)); /* a dependency, as real devices have */
}

static void notify(struct virtio_mmio *tp, unsigned q, uint16_t vcpu)
{
	(void)vcpu;
	if (q >= tp->nqueues || !tp->queues[q].ready || !(tp->status & VIRTIO_STATUS_DRIVER_OK))
		notifies_bad++;
}

static void dev_reset(struct virtio_mmio *tp)
{
	if (!tp->resetting)
		abort();
}

static const struct virtio_dev_ops ops = {
    .config_read = cfg_read,
    .config_write = cfg_write,
    .features_ok = feat_ok,
    .queue_notify = notify,
    .reset = dev_reset,
};

static const uint16_t regs[] = {
    VIRTIO_MMIO_MAGIC_VALUE,
    VIRTIO_MMIO_VERSION,
    VIRTIO_MMIO_DEVICE_ID,
    VIRTIO_MMIO_DEVICE_FEATURES,
    VIRTIO_MMIO_DEVICE_FEATURES_SEL,
    VIRTIO_MMIO_DRIVER_FEATURES,
    VIRTIO_MMIO_DRIVER_FEATURES_SEL,
    VIRTIO_MMIO_QUEUE_SEL,
    VIRTIO_MMIO_QUEUE_NUM_MAX,
    VIRTIO_MMIO_QUEUE_NUM,
    VIRTIO_MMIO_QUEUE_READY,
    VIRTIO_MMIO_QUEUE_NOTIFY,
    VIRTIO_MMIO_INTERRUPT_STATUS,
    VIRTIO_MMIO_INTERRUPT_ACK,
    VIRTIO_MMIO_STATUS,
    VIRTIO_MMIO_QUEUE_DESC_LOW,
    VIRTIO_MMIO_QUEUE_DESC_HIGH,
    VIRTIO_MMIO_QUEUE_DRIVER_LOW,
    VIRTIO_MMIO_QUEUE_DRIVER_HIGH,
    VIRTIO_MMIO_QUEUE_DEVICE_LOW,
    VIRTIO_MMIO_QUEUE_DEVICE_HIGH,
    VIRTIO_MMIO_SHM_SEL,
    VIRTIO_MMIO_SHM_LEN_LOW,
    VIRTIO_MMIO_SHM_BASE_LOW,
    VIRTIO_MMIO_QUEUE_RESET,
    VIRTIO_MMIO_CONFIG_GENERATION,
    VIRTIO_MMIO_CONFIG,
    VIRTIO_MMIO_CONFIG + 4,
    VIRTIO_MMIO_CONFIG + 12,
};

static int access(uint64_t off, uint8_t size, bool write, uint64_t value)
{
	struct mmio_access a = {.ipa = ipa_init(BASE + off), .size = size, .write = write, .reg64 = true};
	a.value = value;
	return mmio_bus_dispatch(&bus, NULL, &a);
}

static uint32_t trapped_read(uint64_t off)
{
	struct mmio_access a = {.ipa = ipa_init(BASE + off), .size = 4, .write = false, .reg64 = true};
	if (mmio_bus_dispatch(&bus, NULL, &a) != 0)
		abort();
	return (uint32_t)a.value;
}

static void check_shadow(void)
{
	for (uint32_t off = 0; off < VIRTIO_MMIO_SHADOW_SIZE; off += 4) {
		bool readable = false;
		if (off < VIRTIO_MMIO_CONFIG)
			(void)virtio_mmio_reg_value(&t, off, &readable);
		else
			readable = off - VIRTIO_MMIO_CONFIG < sizeof(config);
		if (shadow[off / 4] != (readable ? trapped_read(off) : 0))
			abort();
	}
}

static void check(void)
{
	uint32_t st = t.status;
	if ((st & VIRTIO_STATUS_DRIVER_OK) && !(st & VIRTIO_STATUS_FEATURES_OK))
		abort();
	if ((st & VIRTIO_STATUS_FEATURES_OK) &&
	    (!(t.driver_features & BIT(VIRTIO_F_VERSION_1)) || !feat_ok(&t, t.driver_features) ||
	     (t.driver_features & ~OFFERED)))
		abort();
	for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
		const struct virtq *vq = &t.queues[q];
		if (vq->ready &&
		    (q >= t.nqueues || vq->size == 0 || vq->size > QMAX || (vq->size & (vq->size - 1))))
			abort();
	}
	if (notifies_bad)
		abort();
	check_shadow();
}

static void check_reset_state(void)
{
	if (t.status != 0 || t.interrupt_status != 0)
		abort();
	for (unsigned q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
		if (t.queues[q].ready)
			abort();
}

static void setup(void)
{
	memset(ram, 0, RAM_SIZE);
	for (unsigned i = 0; i < sizeof(config); i++)
		config[i] = (uint8_t)i;
	mem.ranges[0] = (struct gmem_range){ipa_init(RAM_IPA), ptr_to_pa(ram), RAM_SIZE};
	mem.count = 1;
	memset(&bus, 0, sizeof(bus));
	notifies_bad = 0;
	struct virtio_mmio_params p = {
	    .vm = (struct vm *)&vm_marker,
	    .name = "fuzz/mmio",
	    .mem = &mem,
	    .base = ipa_init(BASE),
	    .intid = 40,
	    .device_id = 42,
	    .device_features = OFFERED,
	    .nqueues = 2,
	    .queue_max = QMAX,
	    .ops = &ops,
	    .owner = NULL,
	};
	if (virtio_mmio_init(&t, &p, &bus) != 0)
		abort();
	memset(shadow, 0xa5, sizeof(shadow));
	virtio_mmio_attach_shadow(&t, shadow);
	fake_vgic_reset();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t sizes[] = {4, 4, 4, 4, 1, 2, 8, 3};
	struct input in = {data, size};
	if (ram == NULL)
		ram = malloc(RAM_SIZE);
	setup();
	for (unsigned steps = 0; in.n > 0 && steps < 2048; steps++) {
		uint8_t op = (uint8_t)take(&in, 1);
		switch (op >> 5) {
		case 0:
		case 1:
		case 2: { /* a real register, 32-bit mostly */
			uint64_t off = regs[(op & 0x1f) % ARRAY_SIZE(regs)];
			uint8_t sz = sizes[take(&in, 1) & 7];
			bool write = (take(&in, 1) & 1) != 0;
			uint64_t v = write ? take(&in, 4) : 0;
			bool zero_status = write && off == VIRTIO_MMIO_STATUS && v == 0 && sz == 4;
			access(off, sz, write, v);
			if (zero_status)
				check_reset_state();
			break;
		}
		case 3: { /* anywhere in (and just past) the region */
			uint64_t off = take(&in, 2) % (VIRTIO_MMIO_REGION_SIZE + 0x10);
			uint8_t sz = sizes[take(&in, 1) & 7];
			bool write = (op & 1) != 0;
			access(off, sz, write, write ? take(&in, 8) : 0);
			break;
		}
		case 4: { /* program a queue inside RAM (or near its end) */
			uint32_t base = (uint32_t)(take(&in, 2) % RAM_SIZE);
			access(VIRTIO_MMIO_QUEUE_SEL, 4, true, op & 3);
			access(VIRTIO_MMIO_QUEUE_NUM, 4, true, 1u << (op >> 2 & 7));
			access(VIRTIO_MMIO_QUEUE_DESC_LOW, 4, true, RAM_IPA + base);
			access(VIRTIO_MMIO_QUEUE_DESC_HIGH, 4, true, 0);
			access(VIRTIO_MMIO_QUEUE_DRIVER_LOW, 4, true, RAM_IPA + ((base + 0x800) % RAM_SIZE));
			access(VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 4, true, 0);
			access(VIRTIO_MMIO_QUEUE_DEVICE_LOW, 4, true, RAM_IPA + ((base + 0x1000) % RAM_SIZE));
			access(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 4, true, 0);
			access(VIRTIO_MMIO_QUEUE_READY, 4, true, 1);
			break;
		}
		case 5: { /* the driver's init sequence up to FEATURES_OK, with chosen features */
			access(VIRTIO_MMIO_STATUS, 4, true, 0);
			check_reset_state();
			access(VIRTIO_MMIO_STATUS, 4, true, 3);
			access(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 4, true, 0);
			access(VIRTIO_MMIO_DRIVER_FEATURES, 4, true, take(&in, 4));
			access(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 4, true, 1);
			access(VIRTIO_MMIO_DRIVER_FEATURES, 4, true, take(&in, 4));
			access(VIRTIO_MMIO_STATUS, 4, true, 0xb);
			break;
		}
		case 6: /* guest RAM */
			ram[take(&in, 2) % RAM_SIZE] = (uint8_t)take(&in, 1);
			break;
		default: /* the device's side, as from another CPU */
			spin_lock(&t.lock);
			switch (op & 3) {
			case 0:
				spin_unlock(&t.lock);
				virtio_mmio_reset(&t);
				check_reset_state();
				spin_lock(&t.lock);
				break;
			case 1:
				virtio_mmio_signal_used(&t);
				break;
			case 2:
				config[take(&in, 1) % sizeof(config)] = (uint8_t)take(&in, 1);
				virtio_mmio_signal_config(&t, true);
				break;
			default:
				virtio_mmio_set_needs_reset(&t, "fuzz");
				break;
			}
			spin_unlock(&t.lock);
			break;
		}
		check();
	}
	return 0;
}
