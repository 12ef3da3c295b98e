# QEMU virt: RAM starts at 0x40000000; QEMU -kernel and U-Boot booti both put an
# Image with text_offset 0x200000 at RAM base + 2 MiB.
KEEL_BASE := 0x40200000
# The drivers this board's storage_init and console use (Makefile: DRIVER_SRCS_<name>).
DRIVERS := pl011 pci ufs sdhci sdhci-pci
