"""keel on QEMU raspi4b with the Pi's SD card: keel's SDHCI driver binds the DT's controllers
(the card is on the BCM2835 Arasan, `-drive if=sd`; the BCM2711 eMMC2 slot is empty and skipped),
and a VM gets an MBR partition of the card as its virtio-blk disk. QEMU models both controllers
without DMA, so keel moves the data by PIO there (counted). Needs `make PLATFORM=rpi4`, the guests
and the kit (its kernel package holds bcm2711-rpi-4-b.dtb).
"""
import os
import re
import subprocess

import pytest

from conftest import GUEST_BIN, ROOT, keel_qemu
from test_linux_blk import IMAGE, INITRD, assert_blk_test_passed

PI_KEEL = os.path.join(ROOT, "build", "rpi4", "keel.bin")


@pytest.fixture(autouse=True)
def pi_build():
    if not os.path.exists(PI_KEEL):
        pytest.fail(f"{PI_KEEL} is missing: run `make PLATFORM=rpi4`")


def pi_card(path, size_mib=128):
    """A Pi-style card: FAT boot partition 1 (8 MiB), Linux partition 2 (the rest). Random bytes
    everywhere, so that any stray write shows."""
    with open(path, "wb") as f:
        f.write(os.urandom(size_mib << 20))  # QEMU's SD card wants a power of two
    out = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "mkmbr.py"), str(path), str(size_mib),
                          "512", "0c:8", "83:0"], check=True, capture_output=True, text=True).stdout
    return {l.split()[0]: (int(l.split()[1]), int(l.split()[2])) for l in out.splitlines()}


def read_range(path, off, size):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(size)


def assert_controllers_bound(out):
    assert re.search(r"sd\d: Broadcom BCM2835 Arasan at 0xfe300000 \(DT mmc@7e300000\)", out), out
    assert "no card in the slot (bus power stays off): skipped" in out, out  # the eMMC2, one line
    assert "controller reset did not complete" not in out, out
    assert re.search(r"SD card identified in \d+ us: SDSC \"QEMU!\" .* PIO \(no DMA\)", out), out


def test_baremetal_vm_on_mbr_partition_of_the_pi_sd_card(keel, tmp_path):
    img = tmp_path / "pi-sd.img"
    layout = pi_card(img, 64)
    p1_off, p1_size = layout["1"]
    p2_off, p2_size = layout["2"]
    boot_before, mbr_before = read_range(img, p1_off, p1_size), read_range(img, 0, 512)
    p2_before = read_range(img, p2_off, 16 * 512)
    # test=virtio: reads sectors 0..7 of its disk, writes a pattern, reads it back, restores them.
    vm = keel_qemu.VmSpec("bm", GUEST_BIN, cmdline="test=virtio", mem_mib=64,
                          disks=[{"backend": "sd", "partition": "2"}])
    r = keel([vm], timeout=120, machine="raspi4b", storage_devs=keel_qemu.storage_devices("sd", str(img),
                                                                                          machine="raspi4b"))
    out = r.out
    assert_controllers_bound(out)
    assert re.search(r"disk bm/vda: sd\d:2", out), out
    m = re.search(r"\[bm\] GUEST: virtio read ok first bytes ([0-9a-f]{2}) ([0-9a-f]{2}) ([0-9a-f]{2}) "
                  r"([0-9a-f]{2})", out)
    assert m, out
    assert bytes(int(m.group(i), 16) for i in range(1, 5)) == p2_before[:4], out  # partition 2's own bytes
    assert "[bm] GUEST: virtio rw ok" in out and "[bm] GUEST: PASS" in out, out
    pio = [int(x) for x in re.findall(r"(\d+) requests through the data port \(no DMA\), (?:\d+) refused outside the DMA window", out)]
    assert pio and pio[-1] > 0, out  # the driver itself moved the guest's data
    assert "PANIC" not in out and r.rc == 0, out
    # The guest restored what it read; the boot partition and the MBR were never written.
    assert read_range(img, p2_off, 16 * 512) == p2_before
    assert read_range(img, p1_off, p1_size) == boot_before
    assert read_range(img, 0, 512) == mbr_before


def test_linux_ext4_on_pi_sd_partition_survives_reboot_and_checks_on_host(keel, tmp_path):
    if not (os.path.exists(IMAGE) and os.path.exists(INITRD)):
        pytest.fail("the Linux guest kit is missing: run `make kit`")
    img = tmp_path / "pi-sd.img"
    layout = pi_card(img, 128)
    p1_off, p1_size = layout["1"]
    p2_off, p2_size = layout["2"]
    boot_before = read_range(img, p1_off, p1_size)
    vm = keel_qemu.VmSpec("linux", IMAGE, initrd=INITRD, cmdline="console=ttyAMA0 keel.test=blk keel.disk=/dev/vda",
                          mem_mib=256, disks=[{"backend": "sd", "partition": "2"}])
    r = keel([vm], timeout=1500, machine="raspi4b",
             storage_devs=keel_qemu.storage_devices("sd", str(img), machine="raspi4b"))
    assert_controllers_bound(r.out)
    assert re.search(r"disk linux/vda: sd\d:2", r.out), r.out
    # The launcher's DTB carries /chosen seeds as the Pi firmware's does (cortex-a72 has no RNDR): keel
    # has boot entropy, and the guest the kaslr-seed keel derives for it.
    assert re.search(r"keel: boot entropy: DT rng-seed DT kaslr-seed;", r.out), r.out[:4000]
    assert "KASLR enabled" in r.out and "KASLR disabled" not in r.out, r.out[:6000]
    assert_blk_test_passed(r)
    assert read_range(img, p1_off, p1_size) == boot_before, "the boot partition changed"
    part = tmp_path / "p2.img"
    with open(part, "wb") as f:
        f.write(read_range(img, p2_off, p2_size))
    fsck = subprocess.run(["e2fsck", "-fn", str(part)], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    cat = subprocess.run(["debugfs", "-R", "cat /host-check.txt", str(part)], capture_output=True, text=True)
    assert "keel-host-check-v1: written by the guest in phase 2" in cat.stdout, cat.stdout + cat.stderr


def pi_run(keel, vm, img, timeout):
    return keel([vm], timeout=timeout, machine="raspi4b",
                storage_devs=keel_qemu.storage_devices("sd", str(img), machine="raspi4b"))


def test_hostile_virtio_blk_guest_on_the_pi_sd_backend(keel, tmp_path):
    from test_virtio_hostile import CASES, DISK0_BYTES, MEM_MIB, make_image
    img = tmp_path / "pi-sd.img"
    make_image(img, 0, DISK0_BYTES)  # 4 MiB: a power of two, as QEMU's SD card wants
    vm = keel_qemu.VmSpec("bm", GUEST_BIN, mem_mib=MEM_MIB, disks=[{"backend": "sd"}])
    # Buffers aimed at the boot module keel_qemu placed (the guest image itself) must be refused too.
    vm.cmdline = f"test=virtio-hostile disk_pattern=1 bad_ipas={keel_qemu.PI_MODULE_BASE:#x}"
    r = pi_run(keel, vm, img, 180)
    out = r.out
    assert_controllers_bound(out)
    assert re.search(r"VM bm: disk bm/vda: sd\d, 8192 sectors", out), out
    fails = [l for l in out.splitlines() if "GUEST: FAIL" in l]
    assert not fails, "\n".join(fails) + "\n\n" + out
    for case in CASES:
        if case == "read-only":
            assert "[bm] GUEST: hostile read-only skipped (no second disk)" in out, out
        else:
            assert f"[bm] GUEST: hostile {case} ok" in out, f"case {case} did not report ok:\n{out}"
    assert f"GUEST: hostile buffer at IPA {keel_qemu.PI_MODULE_BASE:#x}+0x200" in out, out
    assert "[bm] GUEST: hostile all ok" in out and "[bm] GUEST: PASS" in out, out
    m = re.search(r"disk bm/vda: (\d+) requests, .* (\d+) errors", out)
    assert m and int(m.group(2)) > 64, out
    assert "PANIC" not in out and "all VMs are off; powering the machine off" in out and r.rc == 0, out


def test_virtio_sg_guest_on_the_pi_sd_backend(keel, tmp_path):
    import random

    from test_virtio_sg import SECTOR, assert_guest_passed, expected_sectors, sector_bytes, sg_vm, written
    img = tmp_path / "pi-sd.img"
    size = 64 << 20
    with open(img, "wb") as f:
        f.truncate(size)
    seed = random.getrandbits(32)
    # Every layout, odd addresses and lengths included: PIO takes what no DMA mode could, so the
    # guest expects success for all of them (on sdhci-pci, with DMA, such requests get IOERR).
    r = pi_run(keel, sg_vm(seed, "sd"), img, 400)
    out = r.out
    assert_controllers_bound(out)
    assert_guest_passed(out)
    assert "GUEST: sg refused" not in out, out
    m = re.search(r"sd\d: \d+ requests, \d+ commands, \d+ bytes; (\d+) errors", out)
    assert m and int(m.group(1)) == 0, out
    assert r.rc == 0, out
    writes = written(out)
    assert writes, out
    last = expected_sectors(seed, writes)
    data = img.read_bytes()
    for s in sorted(last):
        assert data[s * SECTOR:(s + 1) * SECTOR] == sector_bytes(seed, last[s], s), \
            f"sector {s}: image differs from pattern {last[s]:#x} (seed {seed:#x})"
    touched = set(last)
    for s in range(size // SECTOR):
        if s not in touched and any(data[s * SECTOR:(s + 1) * SECTOR]):
            raise AssertionError(f"sector {s} was written but no successful write covers it")
