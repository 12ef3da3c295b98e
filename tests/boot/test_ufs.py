"""keel drives QEMU's UFS controller (PCIe ufs + ufs-lu) and serves LU 0 to a VM as virtio-blk.

The image is prefilled on the host with a random first block. The bare-metal guest (test=virtio)
reads sectors 0..7 (must show the host's bytes), writes a pattern, reads it back, and writes the
original bytes back. The host then checks the file: block 0 holds the original bytes again (the
restore write reached the image through keel's UFS driver) and nothing else changed.
"""
import os
import re

from conftest import GUEST_BIN, keel_qemu

IMG_BYTES = 64 * 1024 * 1024
BLOCK = 4096


def ufs_devs(img):
    return ["-drive", f"if=none,id=ufs0,file={img},format=raw",
            "-device", "ufs,serial=keel", "-device", "ufs-lu,drive=ufs0,lun=0"]


def make_image(path):
    first = os.urandom(BLOCK)
    tail = bytes(range(256)) * 16  # a known block elsewhere, which the guest never touches
    with open(path, "wb") as f:
        f.write(first)
        f.truncate(IMG_BYTES)
        f.seek(IMG_BYTES - BLOCK)
        f.write(tail)
    return first, tail


def test_ufs_virtio_rw_reaches_the_image(keel, tmp_path):
    img = str(tmp_path / "ufs.img")
    first, tail = make_image(img)
    vm = keel_qemu.VmSpec("bm", GUEST_BIN, cmdline="test=virtio", mem_mib=64, disks=[{"backend": "ufs"}])
    r = keel([vm], timeout=60, storage_devs=ufs_devs(img))
    out = r.out

    # The controller came up and LU 0 was published with QEMU's 4096-byte blocks.
    m = re.search(r"ufs0: UFSHCI [0-9.]+ at 0x[0-9a-f]+, (\d+) slots.*LU 0: (\d+) blocks of (\d+) bytes", out)
    assert m, out
    assert int(m.group(1)) >= 1
    assert int(m.group(2)) * int(m.group(3)) == IMG_BYTES, out
    assert int(m.group(3)) == 4096, out
    assert "storage: ufs0 is ufs, 131072 sectors of 512 bytes, block 4096" in out, out

    # The guest read the host's bytes through keel's UFS driver, wrote, read back, restored.
    want = " ".join(f"{b:02x}" for b in first[:4])
    assert f"[bm] GUEST: virtio read ok first bytes {want}" in out, out
    assert "[bm] GUEST: virtio rw ok" in out, out
    assert "[bm] GUEST: PASS" in out and "GUEST: FAIL" not in out, out
    assert "PANIC" not in out and "failed:" not in out and "refused" not in out.replace(" 0 segments refused", ""), out
    assert r.rc == 0, out

    with open(img, "rb") as f:
        data = f.read()
    assert len(data) == IMG_BYTES
    assert data[:BLOCK] == first, "block 0 does not hold the restored bytes"
    assert data[IMG_BYTES - BLOCK:] == tail
    assert data[BLOCK:IMG_BYTES - BLOCK].count(0) == IMG_BYTES - 2 * BLOCK, "bytes outside block 0 changed"


def test_ufs_disk_without_controller_is_reported(keel):
    """No UFS controller on the machine: the PCIe scan finds none, and the VM's ufs disk is reported
    unavailable by name (keel stops on the configuration error, as for any unresolvable disk)."""
    vm = keel_qemu.VmSpec("bm", GUEST_BIN, cmdline="test=basic", mem_mib=64, disks=[{"backend": "ufs"}])
    r = keel([vm], timeout=30, until=r"(PANIC.*\n|GUEST: PASS)")
    assert "PCIe 00:00.0: 1b36:0008" in r.out, r.out  # the host bridge was enumerated
    assert "ufs0:" not in r.out, r.out
    assert "storage: no ufs device was found" in r.out, r.out
    assert 'disk@0: backend "ufs" is unavailable' in r.out, r.out


def unit_byte(sector, i):
    """Byte i of sector `sector` as test=virtio no_blk_size=1 writes it (guests/baremetal/virtio_test.c)."""
    return (sector * 37 + i * 7 + 0x5a) & 0xff


def test_driver_without_blk_size_uses_512_byte_units_on_a_4k_lu(keel, tmp_path):
    """virtio 1.2 §5.2.5: units stay 512 bytes whatever blk_size says. A driver that does not accept
    BLK_SIZE (as U-Boot) is taken, and its 512-byte reads and writes on the 4 KiB LU are served by
    read-modify-write through keel's bounce buffer: single sectors inside a block and a write across
    a block boundary, each read back. The host checks that the image holds exactly those sectors
    changed, their 4 KiB neighbours kept."""
    img = tmp_path / "ufs.img"
    make_image(img)
    before = bytearray(img.read_bytes())
    vm = keel_qemu.VmSpec("bm", GUEST_BIN, cmdline="test=virtio no_blk_size=1", mem_mib=64,
                          disks=[{"backend": "ufs"}])
    r = keel([vm], timeout=60, storage_devs=ufs_devs(img))
    out = r.out
    assert "[bm] GUEST: virtio 512-byte rw ok" in out, out
    assert "[bm] GUEST: PASS" in out and "GUEST: FAIL" not in out, out
    assert "FEATURES_OK refused" not in out, out
    assert "PANIC" not in out and r.rc == 0, out
    # Counted: 3 writes + 16 one-sector reads are sub-block (the first two 4 KiB reads are aligned).
    m = re.search(r"disk bm/vda: (\d+) sub-block requests served by read-modify-write through the bounce "
                  r"buffer in (\d+) backend requests, (\d+) bytes copied", out)
    assert m, out
    assert int(m.group(1)) == 3 + 16, out
    assert int(m.group(3)) == (1 + 2 + 3 + 16) * 512, out
    assert f"bytes copied by keel: {int(m.group(3))} (data path: {int(m.group(3))})" in out, out

    want = bytearray(before)
    for first, count in ((9, 1), (13, 2), (15, 3)):
        for s in range(first, first + count):
            want[s * 512:(s + 1) * 512] = bytes(unit_byte(s, i) for i in range(512))
    data = img.read_bytes()
    assert data[:24 * 512] == bytes(want[:24 * 512])
    assert data == bytes(want), "bytes outside the written sectors changed"
