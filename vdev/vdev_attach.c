/* A VM's emulated devices (see vdev/vdev_attach.h). */
#include "vdev/vdev_attach.h"

#include "vdev/vdev_disks.h"
#include "vdev/vdev_flash.h"

int vdev_attach_devices(struct vm *vm)
{
	int rc = vdev_attach_flash(vm);
	return rc ? rc : vdev_attach_disks(vm);
}
