"""The keel console with three Linux VMs from guests/configs/three-vms.dts (issue 13).

vm-a writes fsync'd files on ext4; vm-b has a shell; vm-c writes and reads back verified rounds. Through
QEMU's stdin the test gives vm-b the input and runs a command there, lists the VMs, stops vm-a in the
middle of its writes and starts it again: it must find its filesystem clean and every file it reported
synced intact, while vm-c's rounds go on, all verified. The host image is checked after the run.
"""
import os
import re
import subprocess

import pytest

from conftest import ROOT, keel_qemu, KIT

EXAMPLE = os.path.join(ROOT, "guests", "configs", "three-vms.dts")
ESC = keel_qemu.CONSOLE_ESC


def gpt_layout(image, bs=4096):
    out = {}
    with open(image, "rb") as f:
        f.seek(bs)
        hdr = f.read(92)
        import struct
        lba, count, esize = struct.unpack_from("<QII", hdr, 72)
        f.seek(lba * bs)
        data = f.read(count * esize)
    for i in range(count):
        e = data[i * esize:(i + 1) * esize]
        if e[:16] != b"\0" * 16:
            first, last = struct.unpack_from("<QQ", e, 32)
            out[e[56:128].decode("utf-16-le").rstrip("\0")] = (first * bs, (last - first + 1) * bs)
    return out


def writer_file(n):
    line = f"keel-writer file {n}\n".encode()
    return (line * (262144 // len(line) + 1))[:262144]


def test_three_vms_console_stop_and_start_keep_data(keel, tmp_path):
    for f in (os.path.join(KIT, "Image"), os.path.join(KIT, "initramfs.cpio.gz")):
        if not os.path.exists(f):
            pytest.fail(f"{f} is missing: run `make kit`")
    vms = keel_qemu.load_vms_file(EXAMPLE)
    assert [v.name for v in vms] == ["vm-a", "vm-b", "vm-c"]
    _, image = keel_qemu.vms_machine_disk(EXAMPLE, vms, disk_dir=str(tmp_path))
    send = [
        # vm-b's shell (it boots without a test): input to it, a command, its output.
        (r"\[vm-b\] .*initramfs shell", ESC + "1"),
        (r"console input goes to VM vm-b", "echo keel-$((6*7))-from-b\r"),
        (r"\[vm-b\] keel-42-from-b", ESC + "k"),
        (r"keel: keel console", "vms\r"),
        # vm-a has fsync'd a few files and vm-c has verified a few rounds: stop vm-a mid-write.
        (r"(?s)\A(?=.*\[vm-a\] KEEL-WRITER: synced 4\r?\n)(?=.*\[vm-c\] KEEL-ISO round 2 )", "stop vm-a\r"),
        (r"VM vm-a: powered off", "vms\r"),
        (r"keel: vm 0 vm-a: off", "start vm-a\r"),
        # vm-a's second life checks and verifies, writes two more files and powers off; then vm-c stops
        # its rounds on a typed line, and vm-b's shell powers off.
        (r"\[vm-a\] KEEL-WRITER: done", ESC + "2"),
        (r"console input goes to VM vm-c", "\r"),
        (r"\[vm-c\] KEEL-ISO last round", ESC + "1"),
        (r"console input goes to VM vm-b", "poweroff -f\r"),
    ]
    r = keel(vms, timeout=600, send=send, until=r"PANIC|Kernel panic|KEEL-TEST: FAIL",
             storage_devs=keel_qemu.storage_devices("ufs", image))
    out = r.out
    assert "[vm-b] keel-42-from-b" in out, out[-4000:]
    listing = out.split("keel> vms", 1)[1]
    for i, name in enumerate(("vm-a", "vm-b", "vm-c")):
        assert re.search(rf"keel: vm {i} {name}: running, vCPUs 0->CPU{i}, 256 MiB, 1 disk", listing), listing[:3000]
    # What vm-a reported synced before the stop, and what its second boot found.
    before, after = out.split("VM vm-a: stop from the keel console", 1)
    synced = max(int(n) for n in re.findall(r"\[vm-a\] KEEL-WRITER: synced (\d+)", before))
    assert synced >= 4
    assert "[vm-a] KEEL-WRITER: fsck clean" in after, after[-4000:]
    m = re.search(r"\[vm-a\] KEEL-WRITER: verified (\d+) files, (\d+) partial", after)
    assert m and int(m.group(1)) >= synced and int(m.group(2)) <= 1, after[-4000:]
    assert "[vm-a] KEEL-WRITER: done, fsck clean" in after and "[vm-a] KEEL-TEST: PASS" in after
    # vm-c ran on throughout, every round verified, including rounds during vm-a's stop and start.
    rounds = re.findall(r"\[vm-c\] KEEL-ISO round (\d+) \d+ ms (\w+)", out)
    assert rounds and all(res == "ok" for _, res in rounds), rounds
    during = re.findall(r"\[vm-c\] KEEL-ISO round \d+ \d+ ms ok", after.split("[vm-a] KEEL-WRITER: done")[0])
    assert len(during) >= 1, "vm-c made no round while vm-a was stopped and restarted"
    assert "KEEL-TEST: FAIL" not in out and "PANIC" not in out and "Kernel panic" not in out
    assert "all VMs are off" in out and r.rc == 0, out[-4000:]

    # The host image: vm-a's filesystem is clean and holds every file it reported synced, whole.
    off, size = gpt_layout(image)["vm-a"]
    part = str(tmp_path / "vm-a.img")
    subprocess.run(["dd", f"if={image}", f"of={part}", "bs=1M", f"skip={off >> 20}", f"count={size >> 20}"],
                   check=True, capture_output=True)
    fsck = subprocess.run(["e2fsck", "-fn", part], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    for n in range(1, synced + 3):  # the synced ones, and the two written after the restart
        got = subprocess.run(["debugfs", "-R", f"cat /f{n}", part], capture_output=True).stdout
        if n <= synced:
            assert got == writer_file(n), f"f{n} on the host image is not what vm-a synced"
    # vm-c's last round is on the image where vm-c wrote it.
    last = int(rounds[-1][0])
    off_c, _ = gpt_layout(image)["vm-c"]
    with open(image, "rb") as f:
        f.seek(off_c)
        head = f.read(65536)
    line = f"keel-iso round {last}\n".encode()
    assert head == (line * (65536 // len(line) + 1))[:65536], "vm-c's last round is not on the image"
