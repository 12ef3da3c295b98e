#!/usr/bin/python3
"""Make a Raspberry Pi 4 SD card image that boots keel through U-Boot (`make sdimage`).

usage: mksdimage.py OUT --keel KEEL_BIN --uboot U_BOOT_BIN --guest GUEST [--guest GUEST ...]
                    [--bootargs ARGS] [--mem-mib N] [--dtb DTB] [--disk-partition N]
                    [--data-fs ext4|raw] [--size-mib N] [--boot-mib N]

The card has an MBR (the Pi's ROM and firmware read MBR, not GPT) with:
  1: FAT32 (type 0c, active), the boot partition: kernel8.img (U-Boot), config.txt (arm_64bit=1),
     bcm2711-rpi-4-b.dtb (unchanged: the firmware hands it to U-Boot; QEMU's -dtb),
     keel.bin, keel.dtb (the kernel package's bcm2711-rpi-4-b.dtb with stdout-path on the PL011 and
     keel's /chosen/vm@N nodes), one guestN.bin per --guest and boot.scr (mkimage script: loads
     them and `booti`s keel). A real Pi also needs its closed firmware files (start4.elf,
     fixup4.dat) copied here; QEMU does not.
  2: Linux (type 83), a VM's disk: an empty ext4 (or zeros with --data-fs raw). With
     --disk-partition N, vm@0 gets disk@0 { backend = "sd"; partition = "N"; }.
Each --guest is one VM (vm@0, vm@1, ...), one vCPU, --mem-mib of RAM, bootargs --bootargs.
Without --dtb the DTB comes from the kernel .deb in build/kit/debs (`make kit`).
Needs mkimage (u-boot-tools), mkfs.vfat + mcopy (dosfstools, mtools), mke2fs, fdtput, dpkg-deb.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import mkmbr  # noqa: E402

# keel's Image header asks for text_offset 0x200000 from the start of RAM (0 on the Pi): booti would
# move it there anyway. The DTB and the guests sit above keel's image (keel.bin + bss, < 8 MiB).
KEEL_ADDR = 0x200000
DTB_ADDR = 0x2600000
GUEST_BASE = 0x10000000
GUEST_STRIDE = 0x1000000

CONFIG_TXT = """# Raspberry Pi 4 firmware settings for keel (read by start4.elf on a real board)
arm_64bit=1
kernel=kernel8.img
# the PL011 (UART0) on GPIO 14/15, where keel and U-Boot print; Bluetooth gets the mini UART
enable_uart=1
dtoverlay=disable-bt
"""


def run(*cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, **kw)


def kit_dtb(tmp):
    """The kernel package's bcm2711-rpi-4-b.dtb, kept in build/rpi4/ while it is newer than the .deb
    (unpacking the kernel .deb takes seconds)."""
    debs = glob.glob(os.path.join(ROOT, "build", "kit", "debs", "linux-image-*arm64*.deb"))
    if not debs:
        raise SystemExit("mksdimage: no kernel package in build/kit/debs (run `make kit`) and no --dtb")
    deb = sorted(debs)[-1]
    cached = os.path.join(ROOT, "build", "rpi4", "bcm2711-rpi-4-b.dtb")
    if os.path.exists(cached) and os.path.getmtime(cached) >= os.path.getmtime(deb):
        return cached
    out = os.path.join(tmp, "deb")
    os.mkdir(out)
    tar = run("dpkg-deb", "--fsys-tarfile", deb).stdout
    run("tar", "-x", "-C", out, "--wildcards", "*bcm2711-rpi-4-b.dtb", input=tar)
    found = glob.glob(os.path.join(out, "usr/lib/linux-image-*/broadcom/bcm2711-rpi-4-b.dtb"))
    if not found:
        raise SystemExit(f"mksdimage: {os.path.basename(deb)} has no bcm2711-rpi-4-b.dtb")
    os.makedirs(os.path.dirname(cached), exist_ok=True)
    run("cp", found[0], cached + ".tmp")
    os.replace(cached + ".tmp", cached)
    return cached


def keel_dtb(src, dst, guests, bootargs, mem_mib, disk_partition):
    run("cp", src, dst)
    run("fdtput", dst, "-t", "s", "/chosen", "stdout-path", "serial0:115200n8")  # the PL011
    for i in reversed(range(len(guests))):  # fdtput -c prepends: vm@0 ends up first
        node = f"/chosen/vm@{i}"
        run("fdtput", dst, "-c", node)
        for prop, kind, val in (("compatible", "s", ["keel,vm"]), ("vm-name", "s", [f"vm{i}"]),
                                ("#address-cells", "x", [2]), ("#size-cells", "x", [2]), ("cpus", "x", [1]),
                                ("memory", "x", [0, hex(mem_mib << 20)]), ("bootargs", "s", [bootargs])):
            run("fdtput", dst, "-t", kind, node, prop, *val)
        run("fdtput", dst, "-c", node + "/kernel")
        run("fdtput", dst, "-t", "s", node + "/kernel", "compatible", "multiboot,kernel")
        run("fdtput", dst, "-t", "x", node + "/kernel", "reg", 0, hex(GUEST_BASE + i * GUEST_STRIDE), 0,
            hex(os.path.getsize(guests[i])))
        if i == 0 and disk_partition:
            d = node + "/disk@0"
            run("fdtput", dst, "-c", d)
            run("fdtput", dst, "-t", "s", d, "compatible", "keel,disk")
            run("fdtput", dst, "-t", "s", d, "backend", "sd")
            run("fdtput", dst, "-t", "s", d, "partition", str(disk_partition))


def boot_script(nr_guests):
    """U-Boot's distro boot runs boot.scr with devtype/devnum/distro_bootpart set; `source` by hand
    (or a board whose boot command differs) falls back to mmc 0:1, QEMU's card."""
    lines = ['if test -z "${devtype}"; then setenv devtype mmc; setenv devnum 0; setenv distro_bootpart 1; fi',
             'setenv keelpart "${devtype} ${devnum}:${distro_bootpart}"',
             'echo "keel: loading keel.bin, keel.dtb and the guests from ${keelpart}"',
             f"load ${{keelpart}} {KEEL_ADDR:#x} keel.bin",
             f"load ${{keelpart}} {DTB_ADDR:#x} keel.dtb"]
    for i in range(nr_guests):
        lines.append(f"load ${{keelpart}} {GUEST_BASE + i * GUEST_STRIDE:#x} guest{i}.bin")
    lines.append(f"booti {KEEL_ADDR:#x} - {DTB_ADDR:#x}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--keel", required=True)
    ap.add_argument("--uboot", required=True)
    ap.add_argument("--guest", action="append", required=True)
    ap.add_argument("--bootargs", default="test=basic")
    ap.add_argument("--mem-mib", type=int, default=64)
    ap.add_argument("--dtb")
    ap.add_argument("--disk-partition", type=int, choices=(2,))
    ap.add_argument("--data-fs", choices=("ext4", "raw"), default="ext4")
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--boot-mib", type=int, default=64)
    a = ap.parse_args()
    if len(a.guest) * GUEST_STRIDE > 0x10000000 or a.mem_mib << 20 > GUEST_STRIDE * 64:
        raise SystemExit("mksdimage: too many guests or too much memory per VM")
    for f in [a.keel, a.uboot] + a.guest:
        if not os.path.isfile(f):
            raise SystemExit(f"mksdimage: {f} is missing")
    with tempfile.TemporaryDirectory() as tmp:
        dtb = os.path.join(tmp, "keel.dtb")
        pi_dtb = a.dtb or kit_dtb(tmp)
        keel_dtb(pi_dtb, dtb, a.guest, a.bootargs, a.mem_mib, a.disk_partition)
        cmd, scr, cfg = (os.path.join(tmp, n) for n in ("boot.cmd", "boot.scr", "config.txt"))
        with open(cmd, "w") as f:
            f.write(boot_script(len(a.guest)))
        with open(cfg, "w") as f:
            f.write(CONFIG_TXT)
        run("mkimage", "-A", "arm64", "-T", "script", "-C", "none", "-n", "keel", "-d", cmd, scr)
        new = a.out + ".tmp"
        open(new, "wb").close()  # mkmbr.build resizes an existing file and writes its block 0
        layout = mkmbr.build(new, a.size_mib, 512, [(0x0C, a.boot_mib, True), (0x83, 0, False)])
        (_, boot_off, boot_size), (_, data_off, data_size) = layout
        boot = os.path.join(tmp, "boot.img")
        run("mkfs.vfat", "-F", "32", "-n", "KEELBOOT", "-C", boot, boot_size // 1024)
        files = [(a.uboot, "kernel8.img"), (cfg, "config.txt"), (a.keel, "keel.bin"), (dtb, "keel.dtb"),
                 (pi_dtb, "bcm2711-rpi-4-b.dtb"),
                 (scr, "boot.scr"), (cmd, "boot.cmd")]
        files += [(g, f"guest{i}.bin") for i, g in enumerate(a.guest)]
        for src, name in files:
            run("mcopy", "-i", boot, src, "::" + name)
        data = os.path.join(tmp, "data.img")
        with open(data, "wb") as f:
            f.truncate(data_size)
        if a.data_fs == "ext4":
            run("mke2fs", "-q", "-F", "-t", "ext4", "-L", "keel-vm", data)
        with open(new, "r+b") as out:
            for part, off in ((boot, boot_off), (data, data_off)):
                out.seek(off)
                with open(part, "rb") as p:
                    while chunk := p.read(1 << 20):
                        if chunk.count(0) == len(chunk):
                            out.seek(len(chunk), 1)  # keep the image sparse
                        else:
                            out.write(chunk)
        os.replace(new, a.out)
    print(f"{a.out}: {a.size_mib} MiB; 1: FAT32 boot at {boot_off} ({boot_size >> 20} MiB), "
          f"2: {a.data_fs} VM disk at {data_off} ({data_size >> 20} MiB)")


if __name__ == "__main__":
    main()
