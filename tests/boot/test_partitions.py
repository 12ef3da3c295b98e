"""A VM given one GPT partition of a UFS disk fills it completely; its neighbour is untouched."""
import os
import subprocess

from conftest import ROOT, image_sha256 as sha
from test_linux_blk import linux_vm, ufs_devices


def test_partition_fill_leaves_neighbour_and_gpt_intact(keel, tmp_path):
    img = str(tmp_path / "ufs-gpt.img")
    out = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "mkgpt.py"), img, "64", "4096",
                          "vm-a:16", "vm-b:0"], check=True, capture_output=True, text=True).stdout
    layout = {l.split()[0]: (int(l.split()[1]), int(l.split()[2])) for l in out.splitlines()}
    a_off, a_size = layout["vm-a"]
    b_off, b_size = layout["vm-b"]
    with open(img, "r+b") as f:  # the neighbour holds data of its own
        f.seek(b_off)
        f.write(os.urandom(b_size))
    before_b = sha(img, b_off, b_size)
    before_head = sha(img, 0, a_off)
    before_tail = sha(img, b_off + b_size, os.path.getsize(img) - b_off - b_size)

    vm = linux_vm({"backend": "ufs", "partition": "vm-a"},
                  cmdline="console=ttyAMA0 keel.test=fill keel.disk=/dev/vda")
    r = keel([vm], timeout=300, storage_devs=ufs_devices(img))
    assert "disk linux/vda: ufs0:vm-a" in r.out, r.out
    assert f"KEEL-TEST: fill ok ({a_size} bytes)" in r.out, r.out[-3000:]
    assert "KEEL-TEST: PASS" in r.out and r.rc == 0

    assert sha(img, b_off, b_size) == before_b, "the neighbouring partition changed"
    assert sha(img, 0, a_off) == before_head, "the GPT (or the gap before vm-a) changed"
    assert sha(img, b_off + b_size, os.path.getsize(img) - b_off - b_size) == before_tail, "the backup GPT changed"
    with open(img, "rb") as f:
        f.seek(a_off)
        data = f.read(a_size)
    assert data == (b"keel-fill\n" * (a_size // 10 + 1))[:a_size], "vm-a does not hold what the guest wrote"


def make_mbr_card(path):
    """A Raspberry Pi style SD card: a FAT boot partition (1), a Linux partition (2), every byte random."""
    with open(path, "wb") as f:
        f.write(os.urandom(64 << 20))  # QEMU's sd-card wants a power of two
    out = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "mkmbr.py"), path, "64", "512",
                          "0c:8", "83:8"], check=True, capture_output=True, text=True).stdout
    return {l.split()[0]: (int(l.split()[1]), int(l.split()[2])) for l in out.splitlines()}


def sd_devices(image):
    return ["-drive", f"if=none,id=sd0,file={image},format=raw", "-device", "sdhci-pci", "-device", "sd-card,drive=sd0"]


def test_mbr_partition_by_number_on_sd_leaves_boot_partition_intact(keel, tmp_path):
    img = str(tmp_path / "sd-mbr.img")
    layout = make_mbr_card(img)
    p2_off, p2_size = layout["2"]
    total = os.path.getsize(img)
    before_head = sha(img, 0, p2_off)  # block 0 and the boot partition
    before_tail = sha(img, p2_off + p2_size, total - p2_off - p2_size)

    vm = linux_vm({"backend": "sd", "partition": "2"}, cmdline="console=ttyAMA0 keel.test=fill keel.disk=/dev/vda")
    r = keel([vm], timeout=300, storage_devs=sd_devices(img))
    assert "storage: sd0: MBR partition 2 (type 0x83) is blocks 18432..34815" in r.out, r.out
    assert "disk linux/vda: sd0:2" in r.out, r.out
    assert f"KEEL-TEST: fill ok ({p2_size} bytes)" in r.out, r.out[-3000:]
    assert "KEEL-TEST: PASS" in r.out and r.rc == 0
    assert sha(img, 0, p2_off) == before_head, "the MBR or the boot partition changed"
    assert sha(img, p2_off + p2_size, total - p2_off - p2_size) == before_tail, "bytes past partition 2 changed"
    with open(img, "rb") as f:
        f.seek(p2_off)
        data = f.read(p2_size)
    assert data == (b"keel-fill\n" * (p2_size // 10 + 1))[:p2_size], "partition 2 does not hold what the guest wrote"


def test_mbr_boot_partition_is_refused_unless_the_config_allows_it(keel, tmp_path):
    img = str(tmp_path / "sd-mbr.img")
    layout = make_mbr_card(img)
    p1_off, p1_size = layout["1"]
    before = sha(img, 0, p1_off + p1_size)
    vm = linux_vm({"backend": "sd", "partition": "1"}, cmdline="console=ttyAMA0 keel.test=fill keel.disk=/dev/vda")
    r = keel([vm], timeout=120, until=r"PANIC|GUEST|KEEL-TEST", storage_devs=sd_devices(img))
    assert "MBR partition 1 is the boot partition; the disk node must say allow-boot-partition" in r.out, r.out
    # A configuration keel cannot honour stops keel at boot (no VM ran), naming the VM.
    assert "PANIC: /chosen/vm@0: the VM could not be created" in r.out, r.out[-3000:]
    assert "KEEL-TEST: fill" not in r.out, r.out[-3000:]
    assert sha(img, 0, p1_off + p1_size) == before, "the boot partition changed although it was refused"
