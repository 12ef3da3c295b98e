# Raspberry Pi 4 (BCM2711), as QEMU raspi4b models it: RAM from 0; an Image with
# text_offset 0x200000 is loaded at 0x200000 (QEMU -kernel, U-Boot booti).
KEEL_BASE := 0x200000
