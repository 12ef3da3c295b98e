"""Linux under keel on keel's virtio-blk: ext4 created in the guest, data verified across a guest reboot."""
import re

import pytest

from conftest import keel_qemu, IMAGE, INITRD, require_kit


def linux_vm(disk, cmdline="console=ttyAMA0 keel.test=blk keel.disk=/dev/vda", **kw):
    return keel_qemu.VmSpec("linux", IMAGE, initrd=INITRD, cmdline=cmdline, mem_mib=256, disks=[disk], **kw)


@pytest.fixture(scope="module", autouse=True)
def kit_present():
    require_kit()


def assert_blk_test_passed(r):
    out = r.out
    assert "disk linux/vda" in out, out
    assert "KEEL-TEST: phase1 ok" in out, out[-4000:]
    assert "VM linux: PSCI SYSTEM_RESET" in out, out[-4000:]
    # The second boot found the files of the first and verified every checksum.
    after_reset = out.split("VM linux: PSCI SYSTEM_RESET", 1)[1]
    assert "KEEL-TEST: phase2 ok" in after_reset, out[-4000:]
    assert "KEEL-TEST: PASS" in after_reset, out[-4000:]
    assert "KEEL-TEST: FAIL" not in out
    assert "PANIC" not in out and "Kernel panic" not in out
    assert "VM linux: PSCI SYSTEM_OFF" in out
    assert r.rc == 0


def test_smp_linux_ext4_on_ram_backed_virtio_blk_survives_reboot(keel, tmp_path):
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as f:
        f.truncate(256 * 1024 * 1024)
    r = keel([linux_vm({"backend": "ram", "image": str(disk)}, cpus=2)], timeout=300)
    assert_blk_test_passed(r)
    # Two vCPUs on two physical CPUs, started with PSCI CPU_ON, on both boots.
    assert r.out.count("smp: Brought up 1 node, 2 CPUs") == 2, r.out[-4000:]


def ufs_devices(image):
    return ["-drive", f"if=none,id=ufs0,file={image},format=raw",
            "-device", "ufs,serial=keel", "-device", "ufs-lu,drive=ufs0,lun=0"]


def host_check(image):
    """What the guest left on the disk, read on the host after QEMU exited."""
    import subprocess
    fsck = subprocess.run(["e2fsck", "-fn", str(image)], capture_output=True, text=True)
    cat = subprocess.run(["debugfs", "-R", "cat /host-check.txt", str(image)], capture_output=True, text=True)
    return fsck.returncode, cat.stdout


def test_linux_ext4_on_ufs_backed_virtio_blk_reaches_the_image(keel, tmp_path):
    disk = tmp_path / "ufs.img"
    with open(disk, "wb") as f:
        f.truncate(256 * 1024 * 1024)
    r = keel([linux_vm({"backend": "ufs"})], timeout=300, storage_devs=ufs_devices(disk))
    # The disk really went through keel's UFS driver: the controller was brought up, the VM's
    # disk names it, and the driver itself counted the guest's reads and writes.
    assert "storage: ufs0 is ufs, " in r.out, r.out
    assert re.search(r"VM linux: disk linux/vda: ufs0\b", r.out), r.out
    counts = [tuple(map(int, m)) for m in re.findall(r"ufs0: \d+ commands: (\d+) reads \(\d+ KiB\), (\d+) writes", r.out)]
    assert counts and counts[-1][0] > 0 and counts[-1][1] > 0, r.out[-4000:]
    assert_blk_test_passed(r)
    fsck_rc, text = host_check(disk)
    assert fsck_rc == 0, "the guest's ext4 is not clean on the host image"
    assert "keel-host-check-v1: written by the guest in phase 2" in text, text


def test_smp_linux_uses_two_queues_of_a_ufs_backed_disk(keel, tmp_path):
    """VIRTIO_BLK_F_MQ: a 2-vCPU VM's disk offers 2 queues, Linux maps one per CPU and uses them,
    and what it wrote reaches the UFS image intact."""
    disk = tmp_path / "ufs.img"
    with open(disk, "wb") as f:
        f.truncate(256 * 1024 * 1024)
    r = keel([linux_vm({"backend": "ufs"}, cpus=2)], timeout=300, storage_devs=ufs_devices(disk))
    assert r.out.count("smp: Brought up 1 node, 2 CPUs") == 2, r.out[-4000:]
    # Linux found two hardware queues on both boots (/sys/block/vda/mq has two entries).
    assert r.out.count("blk: /dev/vda has 2 hardware queues") == 2, r.out[-4000:]
    # keel's counters per queue: requests were popped from both.
    m = re.findall(r"VM linux: disk linux/vda: 2 queues, requests per queue: (\d+) (\d+) 0 0", r.out)
    assert m, r.out[-4000:]
    q0, q1 = map(int, m[-1])
    assert q0 > 0 and q1 > 0, (q0, q1)
    assert_blk_test_passed(r)
    fsck_rc, text = host_check(disk)
    assert fsck_rc == 0, "the guest's ext4 is not clean on the host image"
    assert "keel-host-check-v1: written by the guest in phase 2" in text, text


def sd_devices(image):
    return ["-drive", f"if=none,id=sd0,file={image},format=raw", "-device", "sdhci-pci", "-device", "sd-card,drive=sd0"]


def test_linux_ext4_on_sd_backed_virtio_blk_reaches_the_image(keel, tmp_path):
    disk = tmp_path / "sd.img"
    with open(disk, "wb") as f:
        f.truncate(128 * 1024 * 1024)  # QEMU's sd-card wants a power of two
    r = keel([linux_vm({"backend": "sd"})], timeout=400, storage_devs=sd_devices(disk))
    assert "SD card identified" in r.out, r.out
    assert re.search(r"VM linux: disk linux/vda: sd0\b", r.out), r.out
    counts = [tuple(map(int, m)) for m in re.findall(r"sd0: (\d+) requests, \d+ commands, (\d+) bytes", r.out)]
    assert counts and counts[-1][0] > 0 and counts[-1][1] > 0, r.out[-4000:]
    assert_blk_test_passed(r)
    fsck_rc, text = host_check(disk)
    assert fsck_rc == 0, "the guest's ext4 is not clean on the host image"
    assert "keel-host-check-v1: written by the guest in phase 2" in text, text
