/* Create a VM's virtio-blk disks from its configuration (platform op vm_attach_devices). */
#ifndef KEEL_VDEV_DISKS_H
#define KEEL_VDEV_DISKS_H

struct vm;

/** One virtio-mmio virtio-blk device per configured disk; returns 0 or negative. */
int vdev_attach_disks(struct vm *vm);

#endif
