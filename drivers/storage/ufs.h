/* UFS host controller (UFSHCI) driver. */
#ifndef KEEL_DRIVERS_UFS_H
#define KEEL_DRIVERS_UFS_H

/** Find UFS host controllers (PCI class 01:09 / QEMU 1b36:0013), bring each up, register LU 0 as "ufs". */
int ufs_probe_all(const void *fdt);

#endif
