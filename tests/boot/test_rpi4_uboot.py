"""The Pi 4 SD card image (scripts/mksdimage.py, `make sdimage`) on QEMU raspi4b: Debian's U-Boot for
the Pi (u-boot-rpi:arm64, fetched by scripts/get-uboot-rpi.sh) finds boot.scr on the card's FAT
partition, loads keel, its DTB and the guest from it and booti's keel; the boot partition's bytes
are the same afterwards.

QEMU stands in for the Pi firmware: `-kernel` U-Boot (kernel8.img on a real card), `-dtb` the card's
own bcm2711-rpi-4-b.dtb. U-Boot prints on the mini UART, keel on the PL011: both serial ports share
one mux chardev on stdout. Needs `make PLATFORM=rpi4`, `make guests`, the kit (its kernel .deb has
the DTB).
"""
import os
import struct
import subprocess

import pytest

from conftest import GUEST_BIN, LOG_DIR, ROOT, image_sha256 as sha256_of, keel_qemu

KEEL = os.path.join(ROOT, "build", "rpi4", "keel.bin")
UBOOT = os.path.join(ROOT, "build", "u-boot-rpi", "usr", "lib", "u-boot", "rpi_arm64", "u-boot.bin")


def uboot_rpi():
    if not os.path.exists(UBOOT):
        r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "get-uboot-rpi.sh")], capture_output=True,
                           text=True)
        if r.returncode != 0 or not os.path.exists(UBOOT):
            pytest.skip("Debian's u-boot-rpi:arm64 cannot be had (apt-get download failed: no arm64 "
                        f"architecture or no archive?): {r.stderr.strip()[-300:]}")
    return UBOOT


def partitions(img):
    """[(first byte, size in bytes)] of the MBR's primary partitions (512-byte sectors)."""
    with open(img, "rb") as f:
        b0 = f.read(512)
    assert b0[510:512] == b"\x55\xaa", "no MBR signature"
    parts = []
    for i in range(4):
        _, _, ptype, _, lba, n = struct.unpack_from("<B3sB3sII", b0, 446 + 16 * i)
        if ptype:
            parts.append((lba * 512, n * 512))
    return parts


def boot_card(tmp_path, name, mksdimage_args, timeout=180, until=None):
    for f in (KEEL, GUEST_BIN):
        if not os.path.exists(f):
            pytest.fail(f"{f} is missing: run `make PLATFORM=rpi4` and `make guests`")
    uboot = uboot_rpi()
    img = str(tmp_path / "sd.img")
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "mksdimage.py"), img, "--keel", KEEL,
                    "--uboot", uboot, "--guest", GUEST_BIN] + mksdimage_args, check=True, capture_output=True)
    parts = partitions(img)
    assert len(parts) == 2, parts
    dtb = str(tmp_path / "bcm2711-rpi-4-b.dtb")  # what the Pi firmware would hand U-Boot
    subprocess.run(["mcopy", "-i", f"{img}@@{parts[0][0]}", "::bcm2711-rpi-4-b.dtb", dtb], check=True)
    boot_before = sha256_of(img, *parts[0])
    argv = ["nice", "-n", "10", "qemu-system-aarch64", "-M", "raspi4b", "-kernel", uboot, "-dtb", dtb,
            "-chardev", "stdio,id=con,mux=on,signal=off", "-serial", "chardev:con", "-serial", "chardev:con",
            "-monitor", "none", "-display", "none", "-no-reboot",
            "-drive", f"if=sd,file={img},format=raw"]
    os.makedirs(LOG_DIR, exist_ok=True)
    rc, out = keel_qemu.run(argv, timeout, os.path.join(LOG_DIR, name + ".log"), until=until)
    boot_after = sha256_of(img, *parts[0])
    return rc, out, boot_before, boot_after


def test_uboot_runs_boot_scr_from_the_card_and_starts_keel(tmp_path):
    rc, out, boot_before, boot_after = boot_card(tmp_path, "rpi4-uboot-basic", ["--bootargs", "test=basic"])
    assert "Found U-Boot script /boot.scr" in out, out
    assert "keel: loading keel.bin, keel.dtb and the guests from mmc 0:1" in out, out
    assert "Starting kernel" in out, out
    assert "keel: keel starting at EL2 on rpi4, DTB at 0x2600000" in out, out  # the card's keel.dtb
    assert "[vm0] GUEST: bootargs=\"test=basic\"" in out, out
    assert "[vm0] GUEST: PASS" in out, out
    assert "VM vm0: powered off" in out, out
    assert "all VMs are off; powering the machine off" in out, out
    assert "keel: PANIC" not in out, out
    assert rc == 0, out[-3000:]
    assert boot_after == boot_before, "the card's FAT boot partition changed"


def test_vm_on_the_cards_second_partition_writes_it_and_the_boot_partition_is_unchanged(tmp_path):
    # vm0's disk is MBR partition 2 of the card U-Boot booted from; test=virtio writes a pattern to its
    # sectors 0..7, reads it back, restores them. Partition 1 (the FAT keel was loaded from) is not the
    # VM's: its bytes must not change.
    rc, out, boot_before, boot_after = boot_card(
        tmp_path, "rpi4-uboot-disk", ["--bootargs", "test=virtio", "--disk-partition", "2"],
        until=r"keel: PANIC")
    assert "keel: keel starting at EL2 on rpi4" in out, out
    assert "[vm0] GUEST: virtio rw ok" in out, out
    assert "[vm0] GUEST: PASS" in out, out
    assert "keel: PANIC" not in out, out
    assert rc == 0, out[-3000:]
    assert boot_after == boot_before, "the card's FAT boot partition changed"


def test_sdimage_layout(tmp_path):
    """What a Pi's firmware and U-Boot look for, without booting: MBR with an active FAT32 (0x0c) first
    and a Linux (0x83) second partition, the boot files, config.txt, a mkimage script that booti's keel,
    and keel.dtb's VM node (its kernel's size, its disk on partition 2)."""
    for f in (KEEL, GUEST_BIN):
        if not os.path.exists(f):
            pytest.fail(f"{f} is missing: run `make PLATFORM=rpi4` and `make guests`")
    img = str(tmp_path / "sd.img")
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "mksdimage.py"), img, "--keel", KEEL,
                    "--uboot", GUEST_BIN, "--guest", GUEST_BIN, "--guest", GUEST_BIN, "--disk-partition", "2",
                    "--bootargs", "test=virtio", "--size-mib", "128"], check=True, capture_output=True)
    with open(img, "rb") as f:
        b0 = f.read(512)
    assert [b0[446 + 16 * i + 4] for i in range(4)] == [0x0C, 0x83, 0, 0]
    assert [b0[446 + 16 * i] for i in range(2)] == [0x80, 0]
    (boot_off, boot_size), (data_off, data_size) = partitions(img)
    assert (boot_off, boot_size, data_off) == (1 << 20, 64 << 20, 65 << 20)
    assert data_off + data_size == os.path.getsize(img) == 128 << 20
    fat = f"{img}@@{boot_off}"
    names = subprocess.run(["mdir", "-b", "-i", fat, "::"], check=True, capture_output=True, text=True).stdout
    assert sorted(n.strip("/:").split("/")[-1] for n in names.split()) == sorted(
        ["kernel8.img", "config.txt", "bcm2711-rpi-4-b.dtb", "keel.bin", "keel.dtb", "boot.scr", "boot.cmd",
         "guest0.bin", "guest1.bin"])

    def get(name):
        out = tmp_path / name
        subprocess.run(["mcopy", "-o", "-i", fat, "::" + name, str(out)], check=True)
        return str(out)

    with open(get("keel.bin"), "rb") as a, open(KEEL, "rb") as b:
        assert a.read() == b.read()
    assert "arm_64bit=1" in open(get("config.txt")).read().splitlines()
    scr = open(get("boot.scr"), "rb").read()
    assert scr[:4] == b"\x27\x05\x19\x56"  # the legacy image magic U-Boot's `source` checks
    assert b"booti 0x200000 - 0x2600000" in scr and b" 0x11000000 guest1.bin" in scr
    dtb = get("keel.dtb")

    def prop(node, name, kind="s"):
        return subprocess.run(["fdtget", "-t", kind, dtb, node, name], check=True, capture_output=True,
                              text=True).stdout.split()
    assert prop("/chosen", "stdout-path") == ["serial0:115200n8"]
    size = hex(os.path.getsize(GUEST_BIN))
    assert prop("/chosen/vm@1/kernel", "reg", "x") == ["0", "11000000", "0", size[2:]]
    assert prop("/chosen/vm@0", "bootargs") == ["test=virtio"]
    assert prop("/chosen/vm@0/disk@0", "backend") + prop("/chosen/vm@0/disk@0", "partition") == ["sd", "2"]
    r = subprocess.run(["fdtget", dtb, "/chosen/vm@1/disk@0", "backend"], capture_output=True)
    assert r.returncode != 0  # only vm@0 has the disk
