# Raspberry Pi 4 (BCM2711), as QEMU raspi4b models it: RAM from 0; an Image with
# text_offset 0x200000 is loaded at 0x200000 (QEMU -kernel, U-Boot booti).
KEEL_BASE := 0x200000
# The drivers this board's storage_init and console use (Makefile: DRIVER_SRCS_<name>): the PL011 and
# the SDHCI controllers the DT describes; no PCIe (the Pi 4's VL805 USB bridge is not used).
DRIVERS := pl011 sdhci
