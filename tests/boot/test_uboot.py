"""U-Boot (Debian's u-boot-qemu, at EL2 under virtualization=on) loads keel and a guest from a FAT
partition, adds the VM node to its DTB with `fdt` commands and starts keel with booti."""
import os
import subprocess

from conftest import GUEST_BIN, KEEL_BIN, ROOT, keel_qemu

UBOOT = "/usr/lib/u-boot/qemu_arm64/u-boot.bin"


def test_uboot_booti_starts_keel_and_its_guest(tmp_path):
    disk = str(tmp_path / "boot.img")
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "mkbootdisk.py"), disk, KEEL_BIN, GUEST_BIN,
                    "test=basic", "64"], check=True)
    argv = ["qemu-system-aarch64", "-M", "virt,virtualization=on,gic-version=3", "-cpu", "max,sve=off,sme=off",
            "-m", "1G", "-nographic", "-nic", "none", "-bios", UBOOT,
            "-drive", f"if=none,file={disk},format=raw,id=d", "-device", "virtio-blk-device,drive=d"]
    rc, out = keel_qemu.run(argv, 90, os.path.join(ROOT, "build", "test-logs", "test_uboot.log"))
    assert "Found U-Boot script /boot.scr" in out, out
    assert "Starting kernel" in out, out
    assert "keel: keel starting at EL2" in out, out
    assert "[guest] GUEST: hello from EL1" in out, out
    assert "[guest] GUEST: PASS" in out, out
    assert rc == 0, out
