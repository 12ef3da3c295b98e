"""Two Linux VMs at once on two GPT partitions of one UFS disk: one controller, shared fairly (blk_share)."""
import os
import re
import subprocess

from conftest import ROOT, keel_qemu
from test_linux_blk import IMAGE, INITRD, ufs_devices
from test_partitions import sha


def fill_vm(name, partition):
    return keel_qemu.VmSpec(name, IMAGE, initrd=INITRD, mem_mib=256,
                            cmdline="console=ttyAMA0 keel.test=fill keel.disk=/dev/vda",
                            disks=[{"backend": "ufs", "partition": partition}])


def test_two_vms_fill_partitions_of_one_ufs_disk(keel, tmp_path):
    img = str(tmp_path / "ufs-gpt.img")
    out = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "mkgpt.py"), img, "64", "4096",
                          "vm-a:16", "vm-b:16"], check=True, capture_output=True, text=True).stdout
    layout = {l.split()[0]: (int(l.split()[1]), int(l.split()[2])) for l in out.splitlines()}
    before_head = sha(img, 0, layout["vm-a"][0])

    r = keel([fill_vm("vma", "vm-a"), fill_vm("vmb", "vm-b")], timeout=600, storage_devs=ufs_devices(img))
    for vm, part in (("vma", "vm-a"), ("vmb", "vm-b")):
        size = layout[part][1]
        assert f"[{vm}] KEEL-TEST: fill ok ({size} bytes)" in r.out, r.out[-4000:]
        # Both disks are clients of one group: two disks, each (while both are active) held at the LU's
        # share depth (UFS: 2 of its 32 slots).
        m = re.search(rf"ufs0:{part}: share of ufs0: (\d+) admitted, \d+ answered busy, .* "
                      r"\(depth (\d+), share depth (\d+), (\d+) disks; all active: share (\d+) requests", r.out)
        assert m, r.out[-4000:]
        assert int(m.group(1)) >= size // (1 << 20) * 2, m.group(0)  # written, then read back
        depth, share_depth, disks, share = (int(m.group(i)) for i in range(2, 6))
        assert disks == 2 and share_depth == 2 and share == max(1, min(depth // 2, share_depth)), m.group(0)
    assert "PANIC" not in r.out and "KEEL-TEST: FAIL" not in r.out
    assert r.rc == 0, r.out[-4000:]

    for part in ("vm-a", "vm-b"):
        off, size = layout[part]
        with open(img, "rb") as f:
            f.seek(off)
            data = f.read(size)
        assert data == (b"keel-fill\n" * (size // 10 + 1))[:size], f"{part} does not hold what its VM wrote"
    assert sha(img, 0, layout["vm-a"][0]) == before_head, "the GPT changed"
