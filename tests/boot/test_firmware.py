"""Firmware guests (issue 15): Debian's U-Boot (qemu_arm64 u-boot.bin, as-is) boots in a VM from keel's
emulated CFI flash at IPA 0, probes it with CFI queries and keeps its environment in the writable
bank across a VM reset. Hostile flash sequences are tested in tests/unit/test_flash_cfi.c and fuzzed.
U-Boot's distro boot starts the kit's Linux from keel's virtio-blk (RAM and SD backends; its kernel
reads are split by keel), and Linux writes to its root filesystem on the same disk."""
import os
import re
import subprocess

import pytest

from conftest import ROOT, keel_qemu  # noqa: F401  (sys.path for scripts/)
from keel_qemu import VmSpec

UBOOT = "/usr/lib/u-boot/qemu_arm64/u-boot.bin"


def test_uboot_from_cfi_flash_env_survives_reset(keel):
    # Through U-Boot's own CFI driver (its mw/md use writeback addressing, which keel does not emulate).
    # Commands stay short: the emulated PL011's receive FIFO holds 64 characters.
    send = [
        ("Hit any key to stop autoboot", " "),
        (r"=> ", "flinfo\r"),
        (r"(?s)flinfo.*=> ", "setenv keeltest hello-flash\r"),
        (r"(?s)hello-flash.*=> ", "saveenv\r"),  # erase + buffered program of the variable bank
        (r"(?s)saveenv.*\[fw\] OK", "reset\r"),  # PSCI SYSTEM_RESET: the VM starts over
        (r"(?s)saveenv.*Hit any key to stop autoboot", " "),
        (r"(?s)saveenv.*Hit any key to stop autoboot.*=> ", "printenv keeltest\r"),
    ]
    r = keel([VmSpec("fw", firmware=UBOOT, mem_mib=256)], timeout=150, until=r"(?m)^\[fw\] keeltest=",
             send=send)
    out = r.out
    assert "[fw] U-Boot 2023.01" in out, out
    assert "[fw] Flash: 64 MiB" in out, out
    assert re.search(r"VM fw: first console output \d+ us after its start", out), out
    # U-Boot's probe takes each bank as one x16 part (QEMU's model answers it the same way).
    assert out.count("CFI conformant flash (16 x 16)  Size: 32 MB in 256 Sectors") == 2, out
    after = out.split("=> saveenv", 1)[1]
    assert "[fw] OK" in after, out
    assert "[fw] Loading Environment from Flash... OK" in after, out
    assert "[fw] keeltest=hello-flash" in after, out
    # saveenv erased and programmed the variable bank with no CFI error; the code bank was untouched.
    assert re.search(r"flash1: [1-9]\d* programs, [1-9]\d* block erases, \d+ trapped reads, 0 guest errors", out), out
    assert re.search(r"flash0: 0 programs, 0 block erases, \d+ trapped reads, 0 guest errors", out), out
    assert "PANIC" not in out, out


# --- distro boot of Linux from keel's virtio-blk (scripts/mkfwdisk.sh) -----------------------------

KIT_IMAGE = os.path.join(ROOT, "build", "kit", "Image")


def fw_disk(tmp_path, stamp, mib=128, bs=512):
    """An MBR disk whose partition 1 holds /extlinux/extlinux.conf, the kit's Image + initramfs and its
    root filesystem; Linux's command line asks the root system to write /keel-rootstamp and power off."""
    if not os.path.exists(KIT_IMAGE):
        pytest.fail("the Linux guest kit is missing: run `make kit`")
    disk = str(tmp_path / "fw.img")
    env = dict(os.environ, FW_CMDLINE=f"keel.poweroff keel.rootstamp={stamp}")
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "mkfwdisk.sh"), disk, str(mib), str(bs)], check=True,
                   env=env, capture_output=True)
    return disk


def assert_distro_boot(r, stamp, disk_backend, uboot_part=1):
    out = r.out
    assert re.search(r"VM fw: first console output \d+ us after its start", out), out
    assert re.search(rf"VM fw: disk fw/vda: {disk_backend}", out), out
    # U-Boot's distro boot found the disk, the extlinux.conf on its active partition, and read the
    # kernel Image in requests above the backend's limit, which keel split.
    assert f"[fw] Scanning virtio 0:{uboot_part}..." in out, out
    assert "[fw] Found /extlinux/extlinux.conf" in out, out
    assert "fs_devread read error" not in out and "Error reading" not in out, out
    assert "[fw] Starting kernel ..." in out, out
    m = re.search(r"disk fw/vda: (\d+) requests above the backend's limits split into (\d+) parts", out)
    assert m and int(m.group(1)) >= 1 and int(m.group(2)) > int(m.group(1)), out[-3000:]
    # Linux came up on the root filesystem of the same disk and wrote a file to it.
    assert "[fw] KEEL-ROOT: up on /dev/vda1" in out, out[-4000:]
    assert f"[fw] KEEL-ROOT: wrote /keel-rootstamp: keel-rootstamp {stamp} " in out, out[-4000:]
    assert "[fw] keel guest: root filesystem read-only" in out, out[-4000:]
    assert re.search(r"disk fw/vda: \d+ requests, \d+ bytes read, [1-9]\d* bytes written, \d+ notify traps, "
                     r"\d+ interrupts, 0 errors", out), out[-3000:]
    assert "VM fw: PSCI SYSTEM_OFF" in out and "PANIC" not in out and "Kernel panic" not in out, out[-4000:]
    assert r.rc == 0, out[-4000:]


def host_image_check(disk, tmp_path, stamp, part_offset_mib=1, root="/dev/vda1"):
    """The root partition of the host image is a clean ext4 holding the guest's stamp."""
    part = str(tmp_path / "root-part.img")
    subprocess.run(["dd", f"if={disk}", f"of={part}", "bs=1M", f"skip={part_offset_mib}"], check=True,
                   capture_output=True)
    fsck = subprocess.run(["e2fsck", "-fn", part], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    got = subprocess.run(["debugfs", "-R", "cat /keel-rootstamp", part], capture_output=True, text=True).stdout
    assert got.startswith(f"keel-rootstamp {stamp} ") and got.rstrip().endswith(" " + root), got


def test_uboot_distro_boot_linux_from_ram_disk(keel, tmp_path):
    stamp = "ram-%d" % os.getpid()
    disk = fw_disk(tmp_path, stamp)
    r = keel([VmSpec("fw", firmware=UBOOT, mem_mib=512, disks=[{"backend": "ram", "image": disk}])], timeout=300)
    assert_distro_boot(r, stamp, "ram")
    # A RAM disk lives in the machine's memory: the host file is the image as it was loaded. What Linux
    # wrote was read back in the guest (the stamp line above is `cat` of the file).


def test_uboot_distro_boot_linux_from_sd(keel, tmp_path):
    stamp = "sd-%d" % os.getpid()
    disk = fw_disk(tmp_path, stamp)  # 128 MiB: QEMU's sd-card wants a power of two
    devs = ["-drive", f"if=none,id=sd0,file={disk},format=raw", "-device", "sdhci-pci", "-device", "sd-card,drive=sd0"]
    r = keel([VmSpec("fw", firmware=UBOOT, mem_mib=512, disks=[{"backend": "sd"}])], timeout=500,
             storage_devs=devs)
    assert "SD card identified" in r.out, r.out
    assert_distro_boot(r, stamp, "sd0")
    host_image_check(disk, tmp_path, stamp)


def test_uboot_distro_boot_linux_from_ufs(keel, tmp_path):
    """U-Boot does only 512-byte I/O and does not accept BLK_SIZE: on the 4 KiB UFS LU keel serves its
    sub-block requests by read-modify-write through the bounce buffer (counted); Linux (which takes
    BLK_SIZE) then does 4 KiB I/O, and the host image checks clean."""
    stamp = "ufs-%d" % os.getpid()
    disk = fw_disk(tmp_path, stamp, bs=4096)
    devs = ["-drive", f"if=none,id=ufs0,file={disk},format=raw", "-device", "ufs,serial=keel",
            "-device", "ufs-lu,drive=ufs0,lun=0"]
    r = keel([VmSpec("fw", firmware=UBOOT, mem_mib=512, disks=[{"backend": "ufs"}])], timeout=500,
             storage_devs=devs)
    assert "FEATURES_OK refused" not in r.out, r.out[-4000:]
    assert_distro_boot(r, stamp, "ufs0", uboot_part=2)  # mkfwdisk.sh's hybrid MBR: 512-byte units in entry 2
    m = re.search(r"disk fw/vda: (\d+) sub-block requests served by read-modify-write", r.out)
    assert m and int(m.group(1)) >= 1, r.out[-4000:]
    host_image_check(disk, tmp_path, stamp)


# --- EDK2 + GRUB (scripts/mkefidisk.sh) ---------------------------------------------------------------

EDK2 = "/usr/share/AAVMF/AAVMF_CODE.fd"  # qemu-efi-aarch64 (scripts/setup.sh)


def efi_disk(tmp_path, stamp, mib=128, bs=512):
    """MBR: an ESP with Debian's monolithic GRUB and its grub.cfg, and ext4 with the kit's Linux and root
    filesystem. The root system writes /keel-rootstamp, reboots once (PSCI SYSTEM_RESET), then powers off."""
    for f in (KIT_IMAGE, EDK2):
        if not os.path.exists(f):
            pytest.fail(f"{f} is missing: run scripts/setup.sh and `make kit`")
    disk = str(tmp_path / "efi.img")
    env = dict(os.environ, FW_CMDLINE=f"keel.poweroff keel.reboot-once keel.rootstamp={stamp}")
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "mkefidisk.sh"), disk, str(mib), str(bs)], check=True,
                   env=env, capture_output=True)
    return disk


@pytest.mark.parametrize("backend", ["sd", "ufs"])
def test_edk2_grub_linux_twice_across_a_vm_reset(keel, tmp_path, backend):
    # EDK2 accepts VIRTIO_BLK_F_BLK_SIZE, so unlike U-Boot it also boots from a UFS LU (4096-byte blocks).
    stamp = f"efi-{backend}-{os.getpid()}"
    bs = 4096 if backend == "ufs" else 512
    disk = efi_disk(tmp_path, stamp, bs=bs)
    if backend == "sd":
        devs = ["-drive", f"if=none,id=sd0,file={disk},format=raw", "-device", "sdhci-pci",
                "-device", "sd-card,drive=sd0"]
    else:
        devs = ["-drive", f"if=none,id=ufs0,file={disk},format=raw", "-device", "ufs,serial=keel",
                "-device", "ufs-lu,drive=ufs0,lun=0"]
    r = keel([VmSpec("fw", firmware=EDK2, mem_mib=512, disks=[{"backend": backend}])], timeout=600,
             storage_devs=devs)
    out = r.out
    assert re.search(r"VM fw: first console output \d+ us after its start", out), out
    assert re.search(rf"VM fw: disk fw/vda: {backend}0", out), out
    first, _, second = out.partition("VM fw: PSCI SYSTEM_RESET")
    assert second, out[-4000:]
    for boot in (first, second):
        # EDK2 found GRUB on the ESP of keel's virtio-blk disk, GRUB started Linux through its EFI stub.
        assert "[fw] UEFI firmware" in boot, boot[-4000:]
        assert "keel-grub: menu" in boot and "keel-grub: loading Linux" in boot, boot[-4000:]
        assert "[fw] EFI stub: Booting Linux Kernel..." in boot, boot[-4000:]
        assert "[fw] KEEL-ROOT: up on /dev/vda2" in boot, boot[-4000:]
        assert f"KEEL-ROOT: wrote /keel-rootstamp: keel-rootstamp {stamp} " in boot, boot[-4000:]
    assert "keel.reboot-once: rebooting" in first and "keel.reboot-once: rebooting" not in second, out[-4000:]
    # Variables kept: the first boot found the variable bank erased and formatted it (block erases and
    # programs); the second found its store as it was left (keel keeps the bank across VM resets).
    flash1 = [tuple(map(int, m)) for m in re.findall(r"VM fw: flash1: (\d+) programs, (\d+) block erases", out)]
    assert len(flash1) == 2, flash1
    (p1, e1), (p2, e2) = flash1[0], (flash1[1][0] - flash1[0][0], flash1[1][1] - flash1[0][1])
    assert e1 >= 2 and p1 >= 10 and e2 * 4 <= e1 and p2 * 4 <= p1, flash1
    assert "[fw] keel guest: root filesystem read-only" in second, out[-4000:]
    assert "VM fw: PSCI SYSTEM_OFF" in second and "PANIC" not in out and "Kernel panic" not in out, out[-4000:]
    assert r.rc == 0, out[-4000:]
    host_image_check(disk, tmp_path, stamp, part_offset_mib=33, root="/dev/vda2")
