#!/usr/bin/python3
"""Make a U-Boot boot disk for keel: an MBR disk with one FAT partition holding keel.bin, the guest
images and a boot.scr that adds the VM nodes to U-Boot's DTB (dom0less style) and boots keel with booti.

usage: mkbootdisk.py DISK KEEL_BIN GUEST_KERNEL [BOOTARGS] [VM_MEM_MIB]
This is the flow for a dev board: copy the files to the board's boot partition and let U-Boot run
boot.scr (adjust the load addresses to the board's RAM). Needs mkimage, mkfs.vfat and mcopy.
"""
import os
import struct
import subprocess
import sys
import tempfile

PART_START = 2048  # sectors
PART_MIB = 30
KEEL_ADDR = 0x40200000
DTB_ADDR = 0x48000000
GUEST_ADDR = 0x50000000


def boot_script(bootargs, mem_mib):
    return f"""fdt addr ${{fdtcontroladdr}}
fdt move ${{fdtcontroladdr}} {DTB_ADDR:#x} 0x100000
fdt addr {DTB_ADDR:#x}
load virtio 0:1 {GUEST_ADDR:#x} guest.bin
fdt mknode /chosen vm@0
fdt set /chosen/vm@0 compatible "keel,vm"
fdt set /chosen/vm@0 vm-name "guest"
fdt set /chosen/vm@0 "#address-cells" <2>
fdt set /chosen/vm@0 "#size-cells" <2>
fdt set /chosen/vm@0 memory <0x0 {mem_mib << 20:#x}>
fdt set /chosen/vm@0 bootargs "{bootargs}"
fdt mknode /chosen/vm@0 kernel
fdt set /chosen/vm@0/kernel compatible "multiboot,kernel"
fdt set /chosen/vm@0/kernel reg <0x0 {GUEST_ADDR:#x} 0x0 0x${{filesize}}>
load virtio 0:1 {KEEL_ADDR:#x} keel.bin
booti {KEEL_ADDR:#x} - {DTB_ADDR:#x}
"""


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    disk, keel, guest = sys.argv[1:4]
    bootargs = sys.argv[4] if len(sys.argv) > 4 else ""
    mem_mib = int(sys.argv[5]) if len(sys.argv) > 5 else 64
    with tempfile.TemporaryDirectory() as tmp:
        cmd = os.path.join(tmp, "boot.cmd")
        scr = os.path.join(tmp, "boot.scr")
        part = os.path.join(tmp, "part.img")
        with open(cmd, "w") as f:
            f.write(boot_script(bootargs, mem_mib))
        subprocess.run(["mkimage", "-T", "script", "-d", cmd, scr], check=True, capture_output=True)
        subprocess.run(["mkfs.vfat", "-C", part, str(PART_MIB * 1024)], check=True, capture_output=True)
        for src, name in ((keel, "keel.bin"), (guest, "guest.bin"), (scr, "boot.scr")):
            subprocess.run(["mcopy", "-i", part, src, "::" + name], check=True, capture_output=True)
        mbr = bytearray(512)  # one bootable FAT32 (LBA) partition; this U-Boot reads MBR, not GPT
        mbr[446:462] = struct.pack("<B3sB3sII", 0x80, b"\0\x02\0", 0x0C, b"\xff\xff\xff", PART_START,
                                   PART_MIB * 2048)
        mbr[510:512] = b"\x55\xaa"
        with open(disk, "wb") as out, open(part, "rb") as p:
            out.truncate((PART_START + PART_MIB * 2048 + 2048) * 512)
            out.write(mbr)
            out.seek(PART_START * 512)
            out.write(p.read())


if __name__ == "__main__":
    main()
