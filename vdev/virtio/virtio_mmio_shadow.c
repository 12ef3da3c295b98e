/*
 * virtio-mmio register values, and the read-only shadow page that holds them for the guest to read
 * without a trap (see virtio_mmio.h, "Shadow page").
 */
#include "arch/cache.h"
#include "arch/barrier.h"
#include "vdev/virtio/virtio_mmio.h"

/* The page holds the transport's 0x200-byte window; the rest stays 0. */
#define SHADOW_WORDS (VIRTIO_MMIO_REGION_SIZE / 4)

uint32_t virtio_mmio_reg_value(struct virtio_mmio *t, uint32_t off, bool *readable)
{
	const struct virtq *vq = virtio_mmio_selected_queue(t);

	*readable = true;
	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return VIRTIO_MMIO_VERSION_2;
	case VIRTIO_MMIO_DEVICE_ID:
		return t->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR_KEEL;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (t->device_features_sel == 0)
			return (uint32_t)t->device_features;
		if (t->device_features_sel == 1)
			return (uint32_t)(t->device_features >> 32);
		return 0;
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		/* 0 tells the driver the selected queue does not exist. */
		return vq ? vq->max_size : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return vq ? vq->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return t->interrupt_status;
	case VIRTIO_MMIO_STATUS:
		return t->status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		/* No shared memory regions: a length of -1 says "no such region". */
		return 0xffffffffu;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return t->config_generation;
	default:
		/* Write-only and unknown registers. */
		*readable = false;
		return 0;
	}
}

static void put(struct virtio_mmio *t, uint32_t off, uint32_t v)
{
	WRITE_ONCE(t->shadow[off / 4], v);
}

/* The guest may read the page as Device memory (uncached): make the words it reads reach the point of
 * coherency (the clean ends with a DSB, which also orders it before a following injection). */
static void publish(struct virtio_mmio *t, uint32_t off, uint32_t len)
{
	dcache_clean_range((const uint8_t *)t->shadow + off, len);
	smp_mb();
}

/* The config word at off (relative to the config space). */
static uint32_t config_word(struct virtio_mmio *t, uint32_t off)
{
	uint32_t v = 0;
	if (t->ops->config_read(t, off, 4, &v))
		return v;
	/* A config space whose length is not a multiple of 4: its tail bytes, 0 past the end. */
	v = 0;
	for (unsigned i = 0; i < 4; i++) {
		uint32_t b = 0;
		if (t->ops->config_read(t, off + i, 1, &b))
			v |= (b & 0xffu) << (8 * i);
	}
	return v;
}

static void fill_regs(struct virtio_mmio *t)
{
	for (uint32_t off = 0; off < VIRTIO_MMIO_CONFIG; off += 4) {
		bool readable;
		put(t, off, virtio_mmio_reg_value(t, off, &readable));
	}
}

static void fill_config(struct virtio_mmio *t)
{
	for (uint32_t off = VIRTIO_MMIO_CONFIG; off < VIRTIO_MMIO_REGION_SIZE; off += 4)
		put(t, off, config_word(t, off - VIRTIO_MMIO_CONFIG));
}

void virtio_mmio_shadow_regs(struct virtio_mmio *t)
{
	if (t->shadow == NULL)
		return;
	fill_regs(t);
	publish(t, 0, VIRTIO_MMIO_CONFIG);
}

void virtio_mmio_shadow_config(struct virtio_mmio *t)
{
	if (t->shadow == NULL)
		return;
	put(t, VIRTIO_MMIO_CONFIG_GENERATION, t->config_generation);
	fill_config(t);
	publish(t, 0, VIRTIO_MMIO_REGION_SIZE);
}

void virtio_mmio_shadow_word(struct virtio_mmio *t, uint32_t off)
{
	if (t->shadow == NULL)
		return;
	bool readable;
	put(t, off, virtio_mmio_reg_value(t, off, &readable));
	publish(t, off, 4);
}

void virtio_mmio_attach_shadow(struct virtio_mmio *t, uint32_t *page)
{
	virtio_mmio_lock(t);
	t->shadow = page;
	if (page != NULL) {
		for (unsigned i = SHADOW_WORDS; i < VIRTIO_MMIO_SHADOW_SIZE / 4; i++)
			page[i] = 0;
		fill_regs(t);
		fill_config(t);
		publish(t, 0, VIRTIO_MMIO_SHADOW_SIZE);
	}
	virtio_mmio_unlock(t);
}
