/* VM disks: storage backend -> virtio-blk on a virtio-mmio slot, listed in the guest DTB. */
#include "vdev/vdev_disks.h"

#include <errno.h>
#include <stdio.h>

#include "core/page_alloc.h"
#include "core/vm.h"
#include "drivers/storage/storage.h"
#include "vdev/virtio/virtio_blk.h"

#define VDEV_MAX_DISKS (CONFIG_MAX_VMS * CONFIG_MAX_DISKS)

struct vdev_disk {
	struct virtio_blk blk;
	char name[48];
	void *bounce[VIRTIO_BLK_BOUNCE_PAGES]; /**< sub-block I/O, for disks with blocks above 512 bytes */
};

static struct vdev_disk disks[VDEV_MAX_DISKS];
static unsigned nr_disks;

static void disk_reset(void *dev)
{
	struct vdev_disk *d = dev;
	virtio_blk_reset(&d->blk);
}

static bool disk_quiesce(void *dev)
{
	struct vdev_disk *d = dev;
	return virtio_blk_quiesce(&d->blk);
}

static bool disk_work(void *dev)
{
	struct vdev_disk *d = dev;
	return virtio_blk_work(&d->blk);
}

static void disk_report(void *dev, const struct vm *vm)
{
	struct vdev_disk *d = dev;
	struct virtio_blk_stats s;
	virtio_blk_get_stats(&d->blk, &s);
	uint64_t exits = vm_exits(vm);
	log_info("VM %s: disk %s: %llu requests, %llu bytes read, %llu bytes written, %llu notify traps, "
		 "%llu interrupts, %llu errors; bytes copied by keel: %llu (data path: %llu); "
		 "vCPU exits per request: %llu.%02llu",
		 vm->name, d->name, (unsigned long long)s.requests, (unsigned long long)s.bytes_read,
		 (unsigned long long)s.bytes_written, (unsigned long long)s.notifications,
		 (unsigned long long)s.interrupts, (unsigned long long)s.errors,
		 (unsigned long long)s.bytes_copied, (unsigned long long)s.rmw_bytes,
		 (unsigned long long)(s.requests ? exits / s.requests : 0),
		 (unsigned long long)(s.requests ? (exits * 100 / s.requests) % 100 : 0));
	_Static_assert(VIRTIO_BLK_MAX_QUEUES == 4, "the line below prints four queues");
	if (d->blk.mmio.nqueues > 1)
		log_info("VM %s: disk %s: %u queues, requests per queue: %llu %llu %llu %llu", vm->name,
			 d->name, d->blk.mmio.nqueues, (unsigned long long)s.queue_requests[0],
			 (unsigned long long)s.queue_requests[1], (unsigned long long)s.queue_requests[2],
			 (unsigned long long)s.queue_requests[3]);
	if (s.io_errors)
		log_info("VM %s: disk %s: %llu I/O errors from its backend %s (requests the device failed)",
			 vm->name, d->name, (unsigned long long)s.io_errors, d->blk.bdev->name);
	if (s.polls)
		log_info("VM %s: disk %s: completion polling (window %u us): %llu lone requests polled, %llu "
			 "completed in the window, %llu left to the interrupt, %llu given up for a pending "
			 "interrupt; %llu us polling in all, %llu clock reads",
			 vm->name, d->name, d->blk.poll_us, (unsigned long long)s.polls,
			 (unsigned long long)s.poll_hits, (unsigned long long)s.poll_misses,
			 (unsigned long long)s.poll_breaks, (unsigned long long)s.poll_wait_us,
			 (unsigned long long)s.poll_clock_reads);
	if (s.polls || s.poll_skips[0] || s.poll_skips[1])
		log_info(
		    "VM %s: disk %s: polling by request size: %llu of %llu polled large requests (over "
		    "%u KiB) completed in the window; %llu small and %llu large lone requests not polled "
		    "(their recent ones took longer than the window)",
		    vm->name, d->name, (unsigned long long)s.poll_hits_large,
		    (unsigned long long)s.polls_large, VIRTIO_BLK_POLL_LARGE_SECTORS / 2,
		    (unsigned long long)s.poll_skips[0], (unsigned long long)s.poll_skips[1]);
	if (s.poll_off || s.poll_trials || s.quiet_passes)
		log_info(
		    "VM %s: disk %s: polling measured: %llu lone requests not polled, %llu trials of the "
		    "other mode, %llu switches (polling now %s); %llu unpolled epochs found the guest busy, "
		    "%llu polled ones at depth; %llu queue passes left notifications off",
		    vm->name, d->name, (unsigned long long)s.poll_off, (unsigned long long)s.poll_trials,
		    (unsigned long long)s.poll_switches, virtio_blk_poll_mode(&d->blk),
		    (unsigned long long)s.poll_busy_epochs, (unsigned long long)s.poll_deep_epochs,
		    (unsigned long long)s.quiet_passes);
	if (s.irq_holds)
		log_info("VM %s: disk %s: interrupt coalescing (deadline %u us): %llu interrupts held while "
			 "the guest was busy; delivered %llu when it idled, %llu at the deadline",
			 vm->name, d->name, d->blk.coalesce_us, (unsigned long long)s.irq_holds,
			 (unsigned long long)s.irq_idle_releases, (unsigned long long)s.irq_late_releases);
	if (s.rw_requests)
		log_info("VM %s: disk %s: data segments: %llu in %llu reads and writes; %llu in the %llu of "
			 "them over %u KiB (size_max %u KiB)",
			 vm->name, d->name, (unsigned long long)s.rw_segs, (unsigned long long)s.rw_requests,
			 (unsigned long long)s.large_segs, (unsigned long long)s.large_requests,
			 VIRTIO_BLK_POLL_LARGE_SECTORS / 2, d->blk.config.size_max / 1024);
	if (s.split_requests)
		log_info("VM %s: disk %s: %llu requests above the backend's limits split into %llu parts",
			 vm->name, d->name, (unsigned long long)s.split_requests,
			 (unsigned long long)s.split_parts);
	if (s.rmw_requests)
		log_info("VM %s: disk %s: %llu sub-block requests served by read-modify-write through the "
			 "bounce buffer in %llu backend requests, %llu bytes copied (%llu waits for the disk "
			 "to drain)",
			 vm->name, d->name, (unsigned long long)s.rmw_requests,
			 (unsigned long long)s.rmw_parts, (unsigned long long)s.rmw_bytes,
			 (unsigned long long)s.rmw_waits);
	if (s.busy || s.work_yields || s.cancels || s.log_suppressed)
		log_info(
		    "VM %s: disk %s: %llu backend-busy refusals, %llu queue passes stopped at the budget, "
		    "%llu requests cancelled, %llu guest errors (%llu log lines suppressed)",
		    vm->name, d->name, (unsigned long long)s.busy, (unsigned long long)s.work_yields,
		    (unsigned long long)s.cancels, (unsigned long long)s.guest_errors,
		    (unsigned long long)s.log_suppressed);
	log_info(
	    "VM %s: disk %s: register traps: %llu reads, %llu writes (shadow page %s); %llu waits for "
	    "a queue's or the transport's lock, %llu us in all; %llu notifies left to a running queue pass, "
	    "%llu completions left to the lock's holder",
	    vm->name, d->name, (unsigned long long)d->blk.mmio.read_traps,
	    (unsigned long long)d->blk.mmio.write_traps, d->blk.mmio.shadow ? "on: reads do not trap" : "off",
	    (unsigned long long)s.lock_waits, (unsigned long long)s.lock_wait_us,
	    (unsigned long long)s.notify_handoffs, (unsigned long long)s.done_left);
	if (d->blk.bdev->ops->report)
		d->blk.bdev->ops->report(d->blk.bdev);
}

static const struct vm_dev_ops disk_ops = {
    .quiesce = disk_quiesce,
    .reset = disk_reset,
    .work = disk_work,
    .report = disk_report,
};

int vdev_attach_disks(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	for (unsigned i = 0; i < cfg->nr_disks; i++) {
		const struct vm_disk_config *dc = &cfg->disks[i];
		if (nr_disks >= VDEV_MAX_DISKS)
			return -ENOSPC;
		struct blkdev *bdev = storage_open(dc);
		if (bdev == NULL) {
			log_err("%s/disk@%u: backend \"%s\" is unavailable", cfg->node, i, dc->backend);
			return -ENODEV;
		}
		struct vdev_disk *d = &disks[nr_disks];
		snprintf(d->name, sizeof(d->name), "%s/vd%c", vm->name, 'a' + i);
		if (bdev->block_size > BLK_SECTOR_SIZE) {
			for (unsigned k = 0; k < VIRTIO_BLK_BOUNCE_PAGES; k++)
				if ((d->bounce[k] = page_alloc()) == NULL)
					return -ENOMEM;
		}
		ipa_t base;
		uint32_t intid;
		if (!vm_alloc_virtio_slot(vm, &base, &intid))
			return -ENOSPC;
		struct virtio_blk_params p = {
		    .vm = vm,
		    .name = d->name,
		    .mem = &vm->mem,
		    .base = base,
		    .intid = intid,
		    .bdev = bdev,
		    .serial = dc->serial,
		    .read_only = dc->read_only,
		    .poll_us = dc->io_poll_us,
		    .coalesce_us = dc->irq_coalesce_us,
		    .bounce = bdev->block_size > BLK_SECTOR_SIZE ? d->bounce : NULL,
		    .nqueues = vm->nr_vcpus, /* a queue per vCPU (clamped to VIRTIO_BLK_MAX_QUEUES) */
		};
		int rc = virtio_blk_init(&d->blk, &p, &vm->mmio);
		if (rc != 0) {
			log_err("%s/disk@%u: virtio-blk init failed (%d)", cfg->node, i, rc);
			return rc;
		}
		if (!dc->no_mmio_shadow) {
			/* Register reads from a read-only page of their own (the slot is a whole page). */
			uint32_t *shadow = page_alloc();
			if (shadow == NULL)
				return -ENOMEM;
			virtio_mmio_attach_shadow(&d->blk.mmio, shadow);
			rc = vm_map_shadow(vm, base, shadow);
			if (rc != 0) {
				log_err("%s/disk@%u: cannot map its register shadow (%d)", cfg->node, i, rc);
				return rc;
			}
		}
		/* The device decodes VIRTIO_MMIO_REGION_SIZE bytes of its GUEST_VIRTIO_STRIDE slot. */
		struct guest_fdt_dev node = {"virtio,mmio", ipa_addr(base), VIRTIO_MMIO_REGION_SIZE, intid,
					     true};
		if (!vm_add_device(vm, &node, &disk_ops, d))
			return -ENOSPC;
		nr_disks++;
		log_info("VM %s: disk %s: %s%s, %llu sectors, virtio-mmio at IPA 0x%llx, INTID %u", vm->name,
			 d->name, bdev->name, dc->read_only ? " (read-only)" : "",
			 (unsigned long long)bdev->nsectors, (unsigned long long)ipa_addr(base), intid);
	}
	return 0;
}
