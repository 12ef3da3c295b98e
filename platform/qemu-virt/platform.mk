# QEMU virt: RAM starts at 0x40000000; QEMU -kernel and U-Boot booti both put an
# Image with text_offset 0x200000 at RAM base + 2 MiB.
KEEL_BASE := 0x40200000
