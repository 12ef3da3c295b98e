/* Unit tests for the virtio-mmio v2 transport, driven through the MMIO bus with a dummy device type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "arch/cache.h"
#include "keel/util.h"
#include "tests/fakes/fake_vgic.h"
#include "vdev/virtio/virtio_mmio.h"

#define RAM_IPA	 0x40000000ULL
#define RAM_SIZE 0x10000u
#define BASE	 0x0a000000ULL
#define INTID	 40u
#define DESC	 (RAM_IPA + 0x1000)
#define AVAIL	 (RAM_IPA + 0x2000)
#define USED	 (RAM_IPA + 0x3000)

#define OFFERED (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX) | BIT(3))

struct fx {
	uint8_t *ram;
	struct guest_mem mem;
	struct mmio_bus bus;
	struct virtio_mmio t;
	int vm_marker;
	uint8_t config[12];
	unsigned notifies, resets, driver_oks;
	bool lock_held_at_notify; /* t->lock was held when queue_notify ran */
	bool refuse_features;
	uint32_t *shadow; /* attached by setup_shadow: every write is followed by check_shadow */
};

static bool dummy_config_read(struct virtio_mmio *t, uint32_t off, unsigned size, uint32_t *v)
{
	struct fx *f = t->owner;
	if (off >= sizeof(f->config) || size > sizeof(f->config) - off)
		return false;
	*v = 0;
	memcpy(v, f->config + off, size);
	return true;
}

static bool dummy_features_ok(struct virtio_mmio *t, uint64_t features)
{
	struct fx *f = t->owner;
	(void)features;
	return !f->refuse_features;
}

static void dummy_notify(struct virtio_mmio *t, unsigned q, uint16_t vcpu)
{
	struct fx *f = t->owner;
	assert_int_equal(q, 0);
	assert_int_equal(vcpu, 0); /* the fixture's accesses come from no vCPU: 0 */
	f->lock_held_at_notify = t->lock.v != 0;
	f->notifies++;
}

static void dummy_driver_ok(struct virtio_mmio *t)
{
	((struct fx *)t->owner)->driver_oks++;
}

static void dummy_reset(struct virtio_mmio *t)
{
	assert_true(t->resetting);
	((struct fx *)t->owner)->resets++;
}

static const struct virtio_dev_ops dummy_ops = {
    .config_read = dummy_config_read,
    .features_ok = dummy_features_ok,
    .queue_notify = dummy_notify,
    .driver_ok = dummy_driver_ok,
    .reset = dummy_reset,
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->ram = calloc(1, RAM_SIZE);
	f->mem.ranges[0] = (struct gmem_range){ipa_init(RAM_IPA), ptr_to_pa(f->ram), RAM_SIZE};
	f->mem.count = 1;
	for (unsigned i = 0; i < sizeof(f->config); i++)
		f->config[i] = (uint8_t)(0x10 + i);
	struct virtio_mmio_params p = {
	    .vm = (struct vm *)&f->vm_marker,
	    .name = "vm1/dummy",
	    .mem = &f->mem,
	    .base = ipa_init(BASE),
	    .intid = INTID,
	    .device_id = 42,
	    .device_features = OFFERED,
	    .nqueues = 1,
	    .queue_max = 64,
	    .ops = &dummy_ops,
	    .owner = f,
	};
	assert_int_equal(virtio_mmio_init(&f->t, &p, &f->bus), 0);
	fake_vgic_reset();
	*state = f;
	return 0;
}

/* The same fixture with a shadow page, first filled with a pattern the transport must overwrite. */
static int setup_shadow(void **state)
{
	setup(state);
	struct fx *f = *state;
	f->shadow = aligned_alloc(VIRTIO_MMIO_SHADOW_SIZE, VIRTIO_MMIO_SHADOW_SIZE);
	memset(f->shadow, 0xa5, VIRTIO_MMIO_SHADOW_SIZE);
	fake_cache_n = 0;
	virtio_mmio_attach_shadow(&f->t, f->shadow);
	/* The whole page reaches the point of coherency. */
	assert_true(fake_cache_n >= 1);
	struct fake_cache_event *e = &fake_cache_log[(fake_cache_n - 1) % FAKE_CACHE_LOG_MAX];
	assert_int_equal(e->op, FAKE_CACHE_CLEAN);
	assert_ptr_equal(e->p, f->shadow);
	assert_int_equal(e->len, VIRTIO_MMIO_SHADOW_SIZE);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	free(f->shadow);
	free(f->ram);
	free(f);
	return 0;
}

static void check_shadow(struct fx *f);
static uint32_t rd(struct fx *f, uint64_t off);

static int acc(struct fx *f, uint64_t off, uint8_t size, bool write, uint64_t *v)
{
	struct mmio_access a = {.ipa = ipa_init(BASE + off), .size = size, .write = write, .reg64 = true};
	if (write)
		a.value = *v;
	int rc = mmio_bus_dispatch(&f->bus, NULL, &a);
	if (!write)
		*v = a.value;
	else
		check_shadow(f);
	return rc;
}

/* The registers a driver may read (virtio 1.2 §4.2.2, table "MMIO Device Register Layout"). */
static const uint32_t readable_regs[] = {
    VIRTIO_MMIO_MAGIC_VALUE,   VIRTIO_MMIO_VERSION,	      VIRTIO_MMIO_DEVICE_ID,
    VIRTIO_MMIO_VENDOR_ID,     VIRTIO_MMIO_DEVICE_FEATURES,   VIRTIO_MMIO_QUEUE_NUM_MAX,
    VIRTIO_MMIO_QUEUE_READY,   VIRTIO_MMIO_INTERRUPT_STATUS,  VIRTIO_MMIO_STATUS,
    VIRTIO_MMIO_SHM_LEN_LOW,   VIRTIO_MMIO_SHM_LEN_HIGH,      VIRTIO_MMIO_SHM_BASE_LOW,
    VIRTIO_MMIO_SHM_BASE_HIGH, VIRTIO_MMIO_CONFIG_GENERATION,
};

static bool is_readable(uint32_t off)
{
	for (unsigned i = 0; i < ARRAY_SIZE(readable_regs); i++)
		if (readable_regs[i] == off)
			return true;
	return off >= VIRTIO_MMIO_CONFIG && off - VIRTIO_MMIO_CONFIG < sizeof(((struct fx *)0)->config);
}

/* Every word of the shadow page equals what a trapped 4-byte read returns there (0 where a read
 * returns nothing: write-only and unknown registers, past the config, past the window). */
static void check_shadow(struct fx *f)
{
	if (f->shadow == NULL)
		return;
	uint64_t errors = f->t.guest_errors;
	for (uint32_t off = 0; off < VIRTIO_MMIO_SHADOW_SIZE; off += 4) {
		uint32_t want = is_readable(off) ? rd(f, off) : 0;
		if (f->shadow[off / 4] != want)
			fail_msg("shadow word at 0x%x is 0x%x, a trapped read returns 0x%x", off,
				 f->shadow[off / 4], want);
	}
	assert_int_equal(f->t.guest_errors, errors); /* the check itself read nothing it may not */
}

/* The last cache maintenance covered the shadow word at off. */
static void assert_word_published(struct fx *f, uint32_t off)
{
	assert_true(fake_cache_n >= 1);
	struct fake_cache_event *e = &fake_cache_log[(fake_cache_n - 1) % FAKE_CACHE_LOG_MAX];
	const uint8_t *w = (const uint8_t *)f->shadow + off;
	assert_int_equal(e->op, FAKE_CACHE_CLEAN);
	assert_true((const uint8_t *)e->p <= w && w + 4 <= (const uint8_t *)e->p + e->len);
}

static uint32_t rd(struct fx *f, uint64_t off)
{
	uint64_t v = 0;
	assert_int_equal(acc(f, off, 4, false, &v), 0);
	return (uint32_t)v;
}

static void wr(struct fx *f, uint64_t off, uint32_t value)
{
	uint64_t v = value;
	assert_int_equal(acc(f, off, 4, true, &v), 0);
}

#define S_A  VIRTIO_STATUS_ACKNOWLEDGE
#define S_D  VIRTIO_STATUS_DRIVER
#define S_F  VIRTIO_STATUS_FEATURES_OK
#define S_OK VIRTIO_STATUS_DRIVER_OK

static void negotiate(struct fx *f, uint64_t features)
{
	wr(f, VIRTIO_MMIO_STATUS, S_A);
	wr(f, VIRTIO_MMIO_STATUS, S_A | S_D);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	wr(f, VIRTIO_MMIO_STATUS, S_A | S_D | S_F);
}

static void setup_queue(struct fx *f, uint32_t num, uint64_t desc)
{
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, num);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)AVAIL);
	wr(f, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
	wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)USED);
	wr(f, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
}

static void bring_up(struct fx *f)
{
	negotiate(f, BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX));
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_A | S_D | S_F);
	setup_queue(f, 64, DESC);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 1);
	unsigned before = f->driver_oks;
	wr(f, VIRTIO_MMIO_STATUS, S_A | S_D | S_F | S_OK);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_A | S_D | S_F | S_OK);
	assert_int_equal(f->driver_oks, before + 1);
}

static void test_identity_registers(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd(f, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), 42);
	assert_int_equal(rd(f, VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR_KEEL);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 64);
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG_GENERATION), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffffu);
	assert_int_equal(rd(f, VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffffu);
	/* Feature words. */
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), (uint32_t)OFFERED);
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), (uint32_t)(OFFERED >> 32));
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 7);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	/* Absent queue. */
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	/* Writes to read-only registers and reads of write-only or unknown ones are harmless. */
	wr(f, VIRTIO_MMIO_MAGIC_VALUE, 0);
	wr(f, VIRTIO_MMIO_INTERRUPT_STATUS, 3);
	wr(f, 0x0f8, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NOTIFY), 0);
	assert_int_equal(rd(f, 0x0f8), 0);
	assert_int_equal(rd(f, 0x028), 0); /* legacy GuestPageSize: not in v2 */
	assert_true(f->t.guest_errors > 0);
}

static void test_bad_access_sizes(void **state)
{
	struct fx *f = *state;
	uint64_t v = 0;
	assert_int_equal(acc(f, VIRTIO_MMIO_MAGIC_VALUE, 2, false, &v), -EINVAL);
	assert_int_equal(acc(f, VIRTIO_MMIO_MAGIC_VALUE, 1, false, &v), -EINVAL);
	assert_int_equal(acc(f, VIRTIO_MMIO_MAGIC_VALUE, 8, false, &v), -EINVAL);
	assert_int_equal(acc(f, VIRTIO_MMIO_MAGIC_VALUE + 2, 2, false, &v), -EINVAL);
	v = S_A;
	assert_int_equal(acc(f, VIRTIO_MMIO_STATUS, 1, true, &v), -EINVAL);
	assert_int_equal(acc(f, VIRTIO_MMIO_STATUS + 1, 4, true, &v), -EINVAL);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	/* Outside the 0x200 region: no device there. */
	assert_int_equal(acc(f, 0x200, 4, false, &v), -ENOENT);
	assert_int_equal(acc(f, 0x1fc, 8, false, &v), -ENOENT);
}

static void test_config_space(void **state)
{
	struct fx *f = *state;
	uint64_t v;
	assert_int_equal(acc(f, 0x100, 1, false, &v), 0);
	assert_int_equal(v, 0x10);
	assert_int_equal(acc(f, 0x102, 2, false, &v), 0);
	assert_int_equal(v, 0x1312);
	assert_int_equal(acc(f, 0x104, 4, false, &v), 0);
	assert_int_equal(v, 0x17161514);
	assert_int_equal(acc(f, 0x101, 2, false, &v), -EINVAL); /* misaligned */
	assert_int_equal(acc(f, 0x102, 4, false, &v), -EINVAL);
	assert_int_equal(acc(f, 0x100, 8, false, &v), -EINVAL); /* 64-bit: two 32-bit reads instead */
	v = 0x55;
	assert_int_equal(acc(f, 0x10c, 4, false, &v), 0); /* past the end */
	assert_int_equal(v, 0);
	assert_int_equal(acc(f, 0x1fc, 4, false, &v), 0);
	assert_int_equal(v, 0);
	v = 0xff;
	assert_int_equal(acc(f, 0x100, 1, true, &v), 0); /* read-only config: ignored */
	assert_int_equal(acc(f, 0x100, 1, false, &v), 0);
	assert_int_equal(v, 0x10);
}

static void test_status_state_machine(void **state)
{
	struct fx *f = *state;
	wr(f, VIRTIO_MMIO_STATUS, S_F); /* FEATURES_OK before DRIVER */
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	wr(f, VIRTIO_MMIO_STATUS, S_D); /* DRIVER alone (U-Boot after a reset): ACKNOWLEDGE implied */
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_A | S_D);
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	wr(f, VIRTIO_MMIO_STATUS, S_A | S_F); /* FEATURES_OK before DRIVER */
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_A);
	wr(f, VIRTIO_MMIO_STATUS, S_A | S_D | S_OK); /* DRIVER_OK before FEATURES_OK */
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_A | S_D);
	wr(f, VIRTIO_MMIO_STATUS, S_A); /* clearing a bit without a reset */
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_A | S_D);
	wr(f, VIRTIO_MMIO_STATUS, S_A | S_D | 0x10); /* unknown bit */
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_A | S_D);
	assert_int_equal(f->driver_oks, 0);
	/* A driver may set several steps in one write. */
	wr(f, VIRTIO_MMIO_STATUS, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* before DRIVER: ignored */
	wr(f, VIRTIO_MMIO_STATUS, S_A | S_D);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(f, VIRTIO_MMIO_STATUS, S_A | S_D | S_F);
	assert_int_equal(f->t.driver_features, BIT(VIRTIO_F_VERSION_1));
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_A | S_D | S_F);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 0); /* after FEATURES_OK: ignored */
	assert_int_equal(f->t.driver_features, BIT(VIRTIO_F_VERSION_1));
	assert_true(virtio_mmio_negotiated(&f->t, VIRTIO_F_VERSION_1));
	assert_false(virtio_mmio_negotiated(&f->t, VIRTIO_F_EVENT_IDX));
	/* FAILED is accepted at any point. */
	wr(f, VIRTIO_MMIO_STATUS, S_A | S_D | S_F | VIRTIO_STATUS_FAILED);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_A | S_D | S_F | VIRTIO_STATUS_FAILED);
}

static void test_feature_negotiation_refusals(void **state)
{
	struct fx *f = *state;
	negotiate(f, BIT(VIRTIO_F_VERSION_1) | BIT(5)); /* not offered */
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_A | S_D);
	wr(f, VIRTIO_MMIO_STATUS, 0);
	negotiate(f, BIT(3)); /* no VERSION_1 */
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_A | S_D);
	wr(f, VIRTIO_MMIO_STATUS, 0);
	f->refuse_features = true;
	negotiate(f, BIT(VIRTIO_F_VERSION_1));
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_A | S_D);
	wr(f, VIRTIO_MMIO_STATUS, 0);
	f->refuse_features = false;
	negotiate(f, BIT(VIRTIO_F_VERSION_1) | BIT(3));
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_A | S_D | S_F);
	/* High word selector beyond 1 is ignored. */
	assert_int_equal(f->t.driver_features, BIT(VIRTIO_F_VERSION_1) | BIT(3));
}

static void test_queue_registers(void **state)
{
	struct fx *f = *state;
	wr(f, VIRTIO_MMIO_STATUS, S_A);
	wr(f, VIRTIO_MMIO_STATUS, S_A | S_D);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 8); /* before FEATURES_OK */
	assert_int_equal(f->t.queues[0].num, 64);
	wr(f, VIRTIO_MMIO_STATUS, 0);
	bring_up(f);
	struct virtq *vq = &f->t.queues[0];
	assert_true(vq->ready);
	assert_int_equal(vq->desc_ipa, DESC);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 8); /* while ready */
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1234);
	assert_int_equal(vq->num, 64);
	assert_int_equal(vq->desc_ipa, DESC);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 0); /* live queue: needs a device reset */
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 1);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 3);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, 8); /* absent queue */
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	/* Reset clears the queue and all registers. */
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(f->resets, 2);
	assert_false(vq->ready);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_int_equal(f->t.driver_features, 0);
}

static void test_bad_queue_config_needs_reset(void **state)
{
	struct fx *f = *state;
	negotiate(f, BIT(VIRTIO_F_VERSION_1));
	setup_queue(f, 48, DESC); /* not a power of two */
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_int_equal(fake_vgic_total(), 0); /* no DRIVER_OK yet: no config interrupt */
	/* The driver echoing NEEDS_RESET back in its next write is not an error. */
	wr(f, VIRTIO_MMIO_STATUS, S_A | S_D | S_F | VIRTIO_STATUS_DEVICE_NEEDS_RESET | S_OK);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS),
			 S_A | S_D | S_F | VIRTIO_STATUS_DEVICE_NEEDS_RESET | S_OK);
	/* But the device is not live: notifies go nowhere. */
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(f->notifies, 0);
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);

	negotiate(f, BIT(VIRTIO_F_VERSION_1));
	setup_queue(f, 64, RAM_IPA + RAM_SIZE - 0x100); /* descriptor table runs out of RAM */
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	wr(f, VIRTIO_MMIO_STATUS, 0);
	negotiate(f, BIT(VIRTIO_F_VERSION_1));
	setup_queue(f, 64, DESC + 4); /* misaligned */
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
}

static void test_notify_and_interrupts(void **state)
{
	struct fx *f = *state;
	struct vm *vm = (struct vm *)&f->vm_marker;
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0); /* before DRIVER_OK: spurious, ignored */
	assert_int_equal(f->notifies, 0);
	bring_up(f);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(f->notifies, 1);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 1); /* absent queue */
	assert_int_equal(f->notifies, 1);
	assert_int_equal(f->t.notifications, 3);
	/* QueueNotify never takes the lock: another CPU holding it (a queue pass, a completion) does
	 * not hold up the trap, and the device's op runs without it. */
	struct mmio_access n = {.ipa = ipa_init(BASE + VIRTIO_MMIO_QUEUE_NOTIFY),
				.size = 4,
				.write = true,
				.reg64 = true,
				.value = 0};
	spin_lock(&f->t.lock);
	assert_int_equal(mmio_bus_dispatch(&f->bus, NULL, &n), 0);
	spin_unlock(&f->t.lock);
	assert_int_equal(f->notifies, 2);
	assert_true(f->lock_held_at_notify); /* held by this test, not taken by the transport */
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_false(f->lock_held_at_notify);
	assert_int_equal(f->notifies, 3);
	assert_int_equal(f->t.notifications, 5);

	spin_lock(&f->t.lock);
	virtio_mmio_signal_used(&f->t);
	spin_unlock(&f->t.lock);
	assert_int_equal(fake_vgic_count(vm, INTID), 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	spin_lock(&f->t.lock);
	virtio_mmio_set_needs_reset(&f->t, "test");
	virtio_mmio_set_needs_reset(&f->t, "twice: one notification");
	spin_unlock(&f->t.lock);
	assert_int_equal(fake_vgic_count(vm, INTID), 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, 0xffffffff);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* After NEEDS_RESET, notifies are ignored until the driver resets. */
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(f->notifies, 3);
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	bring_up(f);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(f->notifies, 4);
}

/* Completion context (another CPU) raises and changes what reads return: the page follows, cleaned. */
static void test_shadow_follows_signals(void **state)
{
	struct fx *f = *state;
	bring_up(f);
	assert_int_equal(f->shadow[VIRTIO_MMIO_INTERRUPT_STATUS / 4], 0);

	spin_lock(&f->t.lock);
	virtio_mmio_signal_used(&f->t);
	spin_unlock(&f->t.lock);
	assert_int_equal(f->shadow[VIRTIO_MMIO_INTERRUPT_STATUS / 4], VIRTIO_MMIO_INT_VRING);
	assert_word_published(f, VIRTIO_MMIO_INTERRUPT_STATUS);
	check_shadow(f);

	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(f->shadow[VIRTIO_MMIO_INTERRUPT_STATUS / 4], 0);
	assert_word_published(f, VIRTIO_MMIO_INTERRUPT_STATUS);

	/* A config change: new bytes and a new generation, both in the page. */
	f->config[4] = 0xee;
	spin_lock(&f->t.lock);
	virtio_mmio_signal_config(&f->t, true);
	spin_unlock(&f->t.lock);
	assert_int_equal(f->shadow[VIRTIO_MMIO_CONFIG_GENERATION / 4], 1);
	assert_int_equal(f->shadow[(VIRTIO_MMIO_CONFIG + 4) / 4] & 0xff, 0xee);
	assert_int_equal(f->shadow[VIRTIO_MMIO_INTERRUPT_STATUS / 4], VIRTIO_MMIO_INT_CONFIG);
	check_shadow(f);

	spin_lock(&f->t.lock);
	virtio_mmio_set_needs_reset(&f->t, "test");
	spin_unlock(&f->t.lock);
	assert_true(f->shadow[VIRTIO_MMIO_STATUS / 4] & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	check_shadow(f);

	/* A VM reset (not a guest write) clears the page's registers too. */
	virtio_mmio_reset(&f->t);
	assert_int_equal(f->shadow[VIRTIO_MMIO_STATUS / 4], 0);
	assert_int_equal(f->shadow[VIRTIO_MMIO_INTERRUPT_STATUS / 4], 0);
	check_shadow(f);
}

/* Selectors: the page shows the selected feature word and queue. */
static void test_shadow_follows_selectors(void **state)
{
	struct fx *f = *state;
	assert_int_equal(f->shadow[VIRTIO_MMIO_MAGIC_VALUE / 4], 0x74726976);
	assert_int_equal(f->shadow[VIRTIO_MMIO_DEVICE_FEATURES / 4], (uint32_t)OFFERED);
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(f->shadow[VIRTIO_MMIO_DEVICE_FEATURES / 4], (uint32_t)(OFFERED >> 32));
	assert_int_equal(f->shadow[VIRTIO_MMIO_QUEUE_NUM_MAX / 4], 64);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(f->shadow[VIRTIO_MMIO_QUEUE_NUM_MAX / 4], 0);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(f->shadow[VIRTIO_MMIO_QUEUE_NUM_MAX / 4], 64);
	/* Past the window and the config: 0, not the fill pattern. */
	assert_int_equal(f->shadow[(VIRTIO_MMIO_CONFIG + sizeof(f->config)) / 4], 0);
	assert_int_equal(f->shadow[VIRTIO_MMIO_SHADOW_SIZE / 4 - 1], 0);
	/* Trapped accesses are counted. */
	assert_true(f->t.write_traps >= 3);
}

static void test_init_rejects_bad_params(void **state)
{
	struct fx *f = *state;
	struct virtio_mmio t2;
	struct virtio_mmio_params p = {
	    .name = "x",
	    .mem = &f->mem,
	    .base = ipa_init(BASE + 0x1000),
	    .intid = INTID,
	    .device_id = 2,
	    .device_features = BIT(VIRTIO_F_VERSION_1),
	    .nqueues = 1,
	    .queue_max = 64,
	    .ops = &dummy_ops,
	};
	p.queue_max = 48;
	assert_int_equal(virtio_mmio_init(&t2, &p, &f->bus), -EINVAL);
	p.queue_max = VIRTQ_MAX_SIZE * 2;
	assert_int_equal(virtio_mmio_init(&t2, &p, &f->bus), -EINVAL);
	p.queue_max = 64;
	p.device_features = 0;
	assert_int_equal(virtio_mmio_init(&t2, &p, &f->bus), -EINVAL);
	p.device_features = BIT(VIRTIO_F_VERSION_1);
	p.base = ipa_init(BASE + 0x100); /* overlaps the first device */
	assert_int_equal(virtio_mmio_init(&t2, &p, &f->bus), -EEXIST);
}

/* Guest-caused log lines are limited by time per device: a burst of bad accesses prints at most
 * RATELIMIT_BURST lines in a second and counts every error; a later line reports the rest. */
static void test_guest_error_log_limited_by_time(void **state)
{
	struct fx *f = *state;
	uint64_t before = f->t.guest_errors;
	for (unsigned i = 0; i < 1000; i++)
		wr(f, 0x0f8, i); /* unknown register: a guest error and a log line each */
	assert_int_equal(f->t.guest_errors - before, 1000);
	assert_true(f->t.log_rl.printed <= RATELIMIT_BURST);
	assert_true(f->t.log_rl.total_suppressed >= 1000 - RATELIMIT_BURST);
	uint32_t pending = f->t.log_rl.suppressed;
	assert_true(pending > 0);
	/* A window later the next line is allowed; it first reports the suppressed count. */
	f->t.log_rl.window_start_us -= RATELIMIT_WINDOW_US;
	assert_true(virtio_mmio_log_allowed(&f->t));
	assert_int_equal(f->t.log_rl.suppressed, 0);
	/* A second device has its own limiter. */
	struct virtio_mmio other = f->t;
	other.log_rl = (struct ratelimit){0};
	assert_true(virtio_mmio_log_allowed(&other));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_identity_registers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_access_sizes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_space, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_state_machine, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_feature_negotiation_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_registers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_queue_config_needs_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notify_and_interrupts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_init_rejects_bad_params, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_guest_error_log_limited_by_time, setup, teardown),
	    /* Again with a shadow page: after every write of each sequence, the page equals trapped reads. */
	    cmocka_unit_test_setup_teardown(test_identity_registers, setup_shadow, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_access_sizes, setup_shadow, teardown),
	    cmocka_unit_test_setup_teardown(test_config_space, setup_shadow, teardown),
	    cmocka_unit_test_setup_teardown(test_status_state_machine, setup_shadow, teardown),
	    cmocka_unit_test_setup_teardown(test_feature_negotiation_refusals, setup_shadow, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_registers, setup_shadow, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_queue_config_needs_reset, setup_shadow, teardown),
	    cmocka_unit_test_setup_teardown(test_notify_and_interrupts, setup_shadow, teardown),
	    cmocka_unit_test_setup_teardown(test_shadow_follows_signals, setup_shadow, teardown),
	    cmocka_unit_test_setup_teardown(test_shadow_follows_selectors, setup_shadow, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
