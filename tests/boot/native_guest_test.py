"""Native (no hypervisor) runs of the bare-metal test guest on QEMU virt at EL1.

This validates the guest itself: the same binary later runs under keel, where the same
markers are expected. QEMU runs in its own session and the whole process group is killed
on timeout, so no QEMU is left behind.
"""
import os
import re
import shutil
import signal
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUEST_DIR = os.path.join(ROOT, "guests", "baremetal")
QEMU = "qemu-system-aarch64"
TIMEOUT_S = 60

pytestmark = pytest.mark.skipif(shutil.which(QEMU) is None, reason="qemu-system-aarch64 not installed")

BINARIES = {
    "gcc": os.path.join(GUEST_DIR, "build", "guest.bin"),
    "clang": os.path.join(GUEST_DIR, "build", "clang", "guest.bin"),
}


@pytest.fixture(scope="module")
def guest_bins():
    for family in BINARIES:
        subprocess.run(["make", "-C", GUEST_DIR, "CC_FAMILY=" + family], check=True,
                       stdout=subprocess.DEVNULL)
    return BINARIES


def run_qemu(binary, append, cpu="max", mem="128M", extra=()):
    cmd = [QEMU, "-M", "virt,gic-version=3", "-cpu", cpu, "-m", mem, "-nographic", "-nic", "none",
           "-kernel", binary, "-append", append, *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail("QEMU timed out; output:\n" + out.decode(errors="replace"))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, out.decode(errors="replace").replace("\r", "")


def assert_clean(rc, out):
    assert rc == 0, out
    assert "GUEST: FAIL" not in out, out
    assert "GUEST: PASS" in out, out


@pytest.mark.parametrize("family", ["gcc", "clang"])
@pytest.mark.parametrize("cpu", ["max", "cortex-a57"])
def test_basic(guest_bins, family, cpu):
    rc, out = run_qemu(guest_bins[family], "test=basic", cpu=cpu)
    assert_clean(rc, out)
    assert "GUEST: hello from EL1" in out
    ticks = re.search(r"GUEST: timer ticks=(\d+)", out)
    assert ticks and int(ticks.group(1)) >= 10, out
    assert "GUEST: fp ok" in out
    assert len(re.findall(r"GUEST: escape refused far=0x[0-9a-f]+ esr=0x[0-9a-f]+", out)) == 4, out
    assert "GUEST: ldp abort ok" in out
    assert "GUEST: stp abort ok" in out


def test_basic_eoimode1(guest_bins):
    rc, out = run_qemu(guest_bins["gcc"], "test=basic eoimode=1", mem="256M")
    assert_clean(rc, out)
    assert "eoimode=1" in out


def test_default_is_basic(guest_bins):
    rc, out = run_qemu(guest_bins["gcc"], "console=ttyAMA0")
    assert_clean(rc, out)
    assert "test=basic" in out and "GUEST: fp ok" in out


def test_psci(guest_bins):
    rc, out = run_qemu(guest_bins["gcc"], "test=psci")
    assert_clean(rc, out)
    assert re.search(r"GUEST: psci version=0x10001", out), out
    assert "GUEST: psci features SYSTEM_OFF (0x84000008) = 0" in out


def make_disk(path):
    data = bytes(range(256)) * 4096  # 1 MiB
    with open(path, "wb") as f:
        f.write(data)
    return data


@pytest.mark.parametrize("family", ["gcc", "clang"])
def test_virtio_rw(guest_bins, family, tmp_path):
    disk = tmp_path / "disk.img"
    data = make_disk(disk)
    rc, out = run_qemu(guest_bins[family], "test=virtio", extra=(
        "-global", "virtio-mmio.force-legacy=false", "-device", "virtio-blk-device,drive=d0",
        "-drive", "if=none,id=d0,file=%s,format=raw" % disk))
    assert_clean(rc, out)
    assert "GUEST: virtio rw ok" in out
    assert disk.read_bytes() == data, "guest did not restore sectors 0..7"


def test_virtio_read_only(guest_bins, tmp_path):
    disk = tmp_path / "disk.img"
    data = make_disk(disk)
    rc, out = run_qemu(guest_bins["gcc"], "test=virtio", extra=(
        "-global", "virtio-mmio.force-legacy=false", "-device", "virtio-blk-device,drive=d0",
        "-drive", "if=none,id=d0,file=%s,format=raw,readonly=on" % disk))
    assert_clean(rc, out)
    assert "GUEST: virtio ro ok" in out
    assert disk.read_bytes() == data


def test_unknown_test_fails(guest_bins):
    rc, out = run_qemu(guest_bins["gcc"], "test=nope")
    assert rc == 0, out
    assert "GUEST: FAIL unknown test 'nope'" in out
    assert "GUEST: PASS" not in out
