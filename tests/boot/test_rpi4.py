"""keel on QEMU raspi4b (PLATFORM=rpi4): GICv2 (GIC-400), spin-table CPUs, no PSCI firmware.

Boot DTB: the kernel package's bcm2711-rpi-4-b.dtb (from build/kit/debs) with stdout-path on
the PL011 and keel's VM nodes added by fdtput. Needs `make PLATFORM=rpi4`, `make guests`, the kit.
"""
import glob
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEEL = os.path.join(ROOT, "build", "rpi4", "keel.bin")
GUEST = os.path.join(ROOT, "guests", "baremetal", "build", "guest.bin")


def pi_dtb(tmp_path):
    debs = glob.glob(os.path.join(ROOT, "build", "kit", "debs", "linux-image-*arm64*.deb"))
    if not debs:
        pytest.skip("no kernel package in build/kit/debs (make kit)")
    out = tmp_path / "deb"
    out.mkdir()
    tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", debs[0]], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out), "--wildcards", "*bcm2711-rpi-4-b.dtb"], input=tar, check=True)
    return glob.glob(str(out / "usr/lib/linux-image-*/broadcom/bcm2711-rpi-4-b.dtb"))[0]


def fdtput(dtb, *args):
    subprocess.run(["fdtput", dtb] + [str(a) for a in args], check=True)


def boot(tmp_path, nr_vms, test="basic", timeout=60):
    """Boot keel on raspi4b with nr_vms bare-metal VMs of one vCPU; test: one keel.test for all, or a list."""
    for f in (KEEL, GUEST):
        if not os.path.exists(f):
            pytest.fail(f"{f} is missing: run `make PLATFORM=rpi4` and `make guests`")
    dtb = str(tmp_path / "keel-boot.dtb")
    subprocess.run(["cp", pi_dtb(tmp_path), dtb], check=True)
    fdtput(dtb, "-t", "s", "/chosen", "stdout-path", "serial0:115200n8")  # the PL011, QEMU's first -serial
    size = os.path.getsize(GUEST)
    loaders = []
    for i in reversed(range(nr_vms)):  # fdtput -c prepends: vm@0 ends up first
        node = f"/chosen/vm@{i}"
        base = 0x10000000 + i * 0x100000
        fdtput(dtb, "-c", node)
        fdtput(dtb, "-t", "s", node, "compatible", "keel,vm")
        fdtput(dtb, "-t", "s", node, "vm-name", f"vm{i}")
        fdtput(dtb, "-t", "x", node, "#address-cells", 2)
        fdtput(dtb, "-t", "x", node, "#size-cells", 2)
        fdtput(dtb, "-t", "x", node, "cpus", 1)
        fdtput(dtb, "-t", "x", node, "memory", 0, hex(0x4000000))
        vm_test = test[i] if isinstance(test, (list, tuple)) else test
        fdtput(dtb, "-t", "s", node, "bootargs", f"test={vm_test}")  # the bare-metal guest reads test=
        fdtput(dtb, "-c", node + "/kernel")
        fdtput(dtb, "-t", "s", node + "/kernel", "compatible", "multiboot,kernel")
        fdtput(dtb, "-t", "x", node + "/kernel", "reg", 0, hex(base), 0, hex(size))
        loaders += ["-device", f"loader,file={GUEST},addr={hex(base)},force-raw=on"]
    argv = ["nice", "-n", "5", "qemu-system-aarch64", "-M", "raspi4b", "-kernel", KEEL, "-dtb", dtb,
            "-serial", "stdio", "-serial", "null", "-display", "none", "-no-reboot"] + loaders
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    log = p.stdout + p.stderr
    os.makedirs(os.path.join(ROOT, "build", "test-logs"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "test-logs", f"rpi4-{nr_vms}vms.log"), "w") as f:
        f.write(log)
    return p.returncode, log


def test_two_vms_on_spin_table_cpus_and_machine_off(tmp_path):
    rc, log = boot(tmp_path, 2)
    assert "keel starting at EL2 on rpi4" in log
    assert "GICv2 (arm,gic-400) at 0xff841000" in log  # the GIC under /soc, translated through ranges
    assert "CPU 1 online" in log  # released from QEMU's spin-table stub
    # CPUs 2 and 3 have no vCPU: left in the stub they would spin (wfe does not sleep under TCG), so
    # keel releases them too and parks them in wfi; CPU 1 runs vm1
    for cpu in (2, 3):
        assert f"CPU {cpu} online" in log and f"CPU {cpu}: no vCPU here: parked in wfi" in log, log[-3000:]
    assert "CPU 1: no vCPU here" not in log
    for vm in ("vm0", "vm1"):
        assert f"[{vm}] GUEST: sgis 4..11 to self taken" in log
        assert f"[{vm}] GUEST: PASS" in log
        assert f"VM {vm}: powered off" in log
    assert "keel: PANIC" not in log
    # No PSCI on the Pi: the BCM2835 PM watchdog reset ends QEMU under -no-reboot.
    assert "all VMs are off; powering the machine off" in log
    assert rc == 0, log[-2000:]


def test_four_vms_on_the_four_spin_table_cpus_psci_and_basic(tmp_path):
    """All four of the Pi's CPUs (three released from the spin table), a VM on each: vm0 runs the PSCI
    suite (PSCI from keel, though the board has none), the others the basic suite (timer, SGIs, UART,
    FP/SIMD across traps, escape attempts at the GIC and outside their memory)."""
    rc, log = boot(tmp_path, 4, test=["psci", "basic gic_abuse=1", "basic", "basic"], timeout=120)
    for cpu in (1, 2, 3):
        assert f"CPU {cpu} online" in log, log[-3000:]
    assert "parked in wfi" not in log  # a vCPU on every CPU
    assert "[vm0] GUEST: psci version=0x10001" in log, log[-3000:]
    for vm in ("vm0", "vm1", "vm2", "vm3"):
        assert f"[{vm}] GUEST: PASS" in log, log[-3000:]
        assert f"VM {vm}: powered off" in log
    for vm in ("vm1", "vm2", "vm3"):
        assert f"[{vm}] GUEST: sgis 4..11 to self taken" in log
    # vm1's wrong accesses to the GIC-400's GICD (emulated) and GICV (hardware): abort or nothing.
    m = re.search(r"\[vm1\] GUEST: gic abuse: (\d+) refused, (\d+) ignored", log)
    assert m and int(m.group(1)) + int(m.group(2)) == 6 and int(m.group(1)) >= 3, log[-3000:]
    assert "[vm1] GUEST: sgi after gic abuse taken" in log
    assert "keel: PANIC" not in log
    assert "all VMs are off; powering the machine off" in log
    assert rc == 0, log[-2000:]
