"""keel drives QEMU's sdhci-pci + sd-card itself and serves the card to a VM as its virtio-blk disk.

The bare-metal guest's `test=virtio` reads sectors 0..7, writes a pattern, reads it back and restores
the original data, all through keel's virtio-blk -> SDHCI (ADMA2, zero copy). sd-card needs a
power-of-two image size; QEMU models images up to 2 GiB as SDSC (byte addressing, CSD v1) and larger
ones as SDHC (block addressing, CSD v2), so both card kinds are booted.
"""
import os
import re

from conftest import GUEST_BIN, keel_qemu

MIB = 1024 * 1024


def sd_devs(image):
    return ["-drive", f"if=none,id=sd0,file={image},format=raw", "-device", "sdhci-pci",
            "-device", "sd-card,drive=sd0"]


def sd_vm():
    return keel_qemu.VmSpec("bm", GUEST_BIN, cmdline="test=virtio", mem_mib=64, disks=[{"backend": "sd"}])


def make_image(path, size, head=b""):
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    return str(path)


def assert_ok(r):
    out = r.out
    assert "PANIC" not in out, out
    assert "[bm] GUEST: virtio rw ok" in out, out
    assert "GUEST: FAIL" not in out, out
    assert "[bm] GUEST: PASS" in out, out
    assert r.rc == 0, out


def identification(out):
    m = re.search(r"sd0: SD card identified in \d+ us: (\S+) \"QEMU!\" \(MID 0xaa\), (\d+) MiB, CSD v(\d), "
                  r"RCA 0x[0-9a-f]{4}, (\d)-bit, ([a-z ]+) (\d+) kHz, (ADMA2 32-bit|ADMA2 64-bit|SDMA)", out)
    assert m, out
    return m


def test_sd_blank_64m(keel, tmp_path):
    img = make_image(tmp_path / "sd.img", 64 * MIB)
    r = keel([sd_vm()], timeout=60, storage_devs=sd_devs(img))
    assert_ok(r)
    out = r.out
    assert re.search(r"sd0: QEMU sdhci-pci at 0x[0-9a-f]+ \(PCI [0-9a-f:.]+ 1b36:0007 INTID \d+\)", out), out
    m = identification(out)
    assert m.group(1) == "SDSC" and m.group(2) == "64" and m.group(3) == "1", m.group(0)
    assert m.group(4) == "4" and m.group(5) == "high speed", m.group(0)
    assert m.group(7) == "ADMA2 32-bit", m.group(0)
    assert "storage: sd0 is sd, 131072 sectors of 512 bytes" in out, out
    assert re.search(r"disk bm/vda: sd0, 131072 sectors", out), out
    # The guest restored what it read: the blank card is still blank and the same size.
    assert os.path.getsize(img) == 64 * MIB
    with open(img, "rb") as f:
        assert f.read(8 * 512) == bytes(8 * 512)


def test_sd_data_round_trip_on_host_image(keel, tmp_path):
    # Known bytes in sectors 0..7 (and beyond): the guest must read them, and its restore write
    # (of what it read) must leave the host image byte-identical.
    head = os.urandom(16 * 512)
    img = make_image(tmp_path / "sd.img", 64 * MIB, head)
    r = keel([sd_vm()], timeout=60, storage_devs=sd_devs(img))
    assert_ok(r)
    m = re.search(r"\[bm\] GUEST: virtio read ok first bytes ([0-9a-f]{2}) ([0-9a-f]{2}) ([0-9a-f]{2}) "
                  r"([0-9a-f]{2})", r.out)
    assert m, r.out
    assert bytes(int(m.group(i), 16) for i in range(1, 5)) == head[:4], r.out
    with open(img, "rb") as f:
        assert f.read(len(head)) == head


def test_sd_high_capacity_card(keel, tmp_path):
    head = os.urandom(8 * 512)
    img = make_image(tmp_path / "sdhc.img", 4096 * MIB, head)  # sparse
    r = keel([sd_vm()], timeout=60, storage_devs=sd_devs(img))
    assert_ok(r)
    m = identification(r.out)
    assert m.group(1) == "SDHC/SDXC" and m.group(2) == "4096" and m.group(3) == "2", m.group(0)
    assert "storage: sd0 is sd, 8388608 sectors of 512 bytes" in r.out, r.out
    with open(img, "rb") as f:
        assert f.read(len(head)) == head


def test_sd_controller_without_card(keel):
    # An empty slot is reported and skipped; keel and a VM without an SD disk run on.
    vm = keel_qemu.VmSpec("bm", GUEST_BIN, cmdline="test=basic", mem_mib=64)
    r = keel([vm], timeout=60, storage_devs=["-device", "sdhci-pci"])
    assert "sd0: no card in the slot" in r.out, r.out
    assert "PANIC" not in r.out, r.out
    assert "[bm] GUEST: PASS" in r.out and r.rc == 0, r.out
