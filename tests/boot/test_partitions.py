"""A VM given one GPT partition of a UFS disk fills it completely; its neighbour is untouched."""
import hashlib
import os
import subprocess

from conftest import ROOT
from test_linux_blk import linux_vm, ufs_devices


def sha(path, off, size):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(off)
        left = size
        while left:
            b = f.read(min(left, 1 << 20))
            h.update(b)
            left -= len(b)
    return h.hexdigest()


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
