"""keel on QEMU virt with gic-version=2 (a GICv2 with the virtualization extensions, as the Pi 4's
GIC-400): the same keel binary drives it, and its guests get a GICv2 (distributor emulated, CPU
interface = the hardware's GICV mapped at their GICC)."""
import re

from conftest import GUEST_BIN, keel_qemu
from test_linux_blk import assert_blk_test_passed, host_check, linux_vm, ufs_devices


def basic_vm(name="bm", cmdline="test=basic"):
    return keel_qemu.VmSpec(name, GUEST_BIN, cmdline=cmdline, mem_mib=64)


def assert_basic_passed(out, name):
    assert f"[{name}] GUEST: GICv2 at 0x8000000, 0x8010000" in out, out
    assert re.search(rf"\[{name}\] GUEST: gicv2 typer=0x3 ctlr=0x1 spis=96 cpumask=0x1", out), out
    m = re.search(rf"\[{name}\] GUEST: timer ticks=(\d+)", out)
    assert m and int(m.group(1)) >= 10, out
    assert f"[{name}] GUEST: sgi 3 to self taken" in out, out
    assert f"[{name}] GUEST: sgis 4..11 to self taken" in out, out  # more than the 4 list registers
    assert f"[{name}] GUEST: fp ok" in out, out
    assert len(re.findall(rf"\[{name}\] GUEST: escape refused", out)) == 4, out
    assert f"[{name}] GUEST: PASS" in out, out


def test_gicv2_basic_timer_sgi(keel):
    r = keel([basic_vm()], timeout=60, gic_version=2)
    out = r.out
    assert "GICv2 (arm,cortex-a15-gic) at 0x8000000" in out, out
    assert_basic_passed(out, "bm")
    assert "eoimode=0" in out, out
    assert "GUEST: FAIL" not in out and "PANIC" not in out, out
    assert "vGIC" not in out, out  # no access the distributor model refused
    assert r.rc == 0, out


def test_gicv2_guest_split_eoi_uses_gicc_dir(keel):
    """EOImode 1 in the guest: its deactivations go to GICC_DIR, the second 4 KiB page of GICV."""
    r = keel([basic_vm(cmdline="test=basic eoimode=1")], timeout=60, gic_version=2)
    out = r.out
    assert "gicc ctlr=0x201 eoimode=1" in out, out
    assert_basic_passed(out, "bm")
    assert "GUEST: FAIL" not in out and r.rc == 0, out


def test_gicv2_two_vms_kicks_and_console_input(keel):
    """Two VMs on two CPUs: UART input injected into vm 0 from the boot CPU's interrupt handler
    (a cross-CPU kick by GICD_SGIR when vm 0 runs elsewhere) and both guests' own interrupts."""
    vms = [basic_vm(cmdline="test=console"), basic_vm("bm2")]
    r = keel(vms, timeout=60, gic_version=2, send=[(r"\[bm\] GUEST: console ready", "typed on gicv2\r")])
    out = r.out
    assert "CPU 1 online" in out, out
    assert "[bm] GUEST: console got 'typed on gicv2'" in out, out
    assert "[bm] GUEST: PASS" in out, out
    assert_basic_passed(out, "bm2")
    assert "GUEST: FAIL" not in out and r.rc == 0, out


def test_gicv2_smp_linux_on_ram_disk_survives_reboot(keel, tmp_path):
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as f:
        f.truncate(256 * 1024 * 1024)
    r = keel([linux_vm({"backend": "ram", "image": str(disk)}, cpus=2)], timeout=300, gic_version=2)
    assert "GICv2 (arm,cortex-a15-gic)" in r.out, r.out[:3000]
    assert_blk_test_passed(r)
    assert r.out.count("smp: Brought up 1 node, 2 CPUs") == 2, r.out[-4000:]
    assert "GIC: Using split EOI/Deactivate mode" not in r.out  # a guest at EL1 uses EOImode 0
    assert "vGIC" not in r.out, r.out[-4000:]


def test_gicv2_smp_linux_on_ufs_reaches_the_image(keel, tmp_path):
    """keel's UFS driver on GICv2: its PCI INTx SPI is routed by ITARGETSR; the data reach the image."""
    disk = tmp_path / "ufs.img"
    with open(disk, "wb") as f:
        f.truncate(256 * 1024 * 1024)
    r = keel([linux_vm({"backend": "ufs"}, cpus=2)], timeout=400, storage_devs=ufs_devices(disk), gic_version=2)
    assert re.search(r"VM linux: disk linux/vda: ufs0\b", r.out), r.out
    counts = [tuple(map(int, m)) for m in re.findall(r"ufs0: \d+ commands: (\d+) reads \(\d+ KiB\), (\d+) writes",
                                                     r.out)]
    assert counts and counts[-1][0] > 0 and counts[-1][1] > 0, r.out[-4000:]
    # Completions came by the controller's interrupt through the physical GICv2, not only by polling.
    irqs = [int(m) for m in re.findall(r"ufs0: \d+ commands: .*; (\d+) irqs, \d+ polled", r.out)]
    assert irqs and irqs[-1] > 0, r.out[-4000:]
    assert_blk_test_passed(r)
    fsck_rc, text = host_check(disk)
    assert fsck_rc == 0, "the guest's ext4 is not clean on the host image"
    assert "keel-host-check-v1: written by the guest in phase 2" in text, text


def test_gicv2_gic_abuse_is_refused_or_ignored(keel):
    """Wrong accesses to GICD (emulated) and to the CPU interface (the hardware GICV, mapped in stage 2):
    an abort or nothing, never a crash; the guest's GIC works on."""
    from test_keel_basic import assert_gic_abuse_refused_or_ignored
    r = keel([basic_vm(cmdline="test=basic gic_abuse=1")], timeout=60, gic_version=2)
    assert_gic_abuse_refused_or_ignored(r.out, "bm")
    assert r.rc == 0, r.out
