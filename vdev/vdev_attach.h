/* Every emulated device a VM's configuration asks for (platform op vm_attach_devices). */
#ifndef KEEL_VDEV_ATTACH_H
#define KEEL_VDEV_ATTACH_H

struct vm;

/** A firmware VM's flash banks (vdev/vdev_flash.h), then its disks (vdev/vdev_disks.h). 0 or negative. */
int vdev_attach_devices(struct vm *vm);

#endif
