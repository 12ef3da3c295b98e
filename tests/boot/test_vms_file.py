"""`make run VMS=file`: a VM configuration file (devicetree source) boots several VMs.

(a) The launcher's errors name the file, the node and the property (no QEMU).
(b) The shipped example, guests/configs/two-linux-ufs.dts, boots two Linux VMs on two GPT
    partitions of one UFS disk through scripts/run.sh (what `make run` runs); each VM stamps its own
    partition, and the host image shows each stamp where it belongs and everything else untouched.
"""
import hashlib
import os
import subprocess
import textwrap
import time

import pytest

from conftest import KEEL_BIN, LOG_DIR, ROOT, keel_qemu, KIT

import vms_config  # noqa: E402 (scripts/ is on sys.path, see conftest)

EXAMPLE = os.path.join(ROOT, "guests", "configs", "two-linux-ufs.dts")
MIB = 1 << 20


def write_config(tmp_path, body, name="vms.dts"):
    path = tmp_path / name
    path.write_text("/dts-v1/;\n/ {\n\tchosen {\n" + textwrap.indent(textwrap.dedent(body), "\t\t") + "\t};\n};\n")
    return str(path)


VM0 = """\
vm@0 {
    memory = <0x0 0x4000000>;
    kernel { file = "kernel.bin"; };
    %s
};
"""


def error_of(path):
    with pytest.raises(vms_config.ConfigError) as e:
        keel_qemu.load_vms_file(path)
    return str(e.value)


@pytest.fixture
def kernel_file(tmp_path):
    (tmp_path / "kernel.bin").write_bytes(b"\0" * 4096)


def test_config_file_parses_into_vms(tmp_path, kernel_file):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "initrd").write_bytes(b"x")
    (tmp_path / "img" / "ram.img").write_bytes(b"\0" * 4096)
    path = write_config(tmp_path, """\
        vm@0 {
            compatible = "keel,vm";
            vm-name = "first";
            cpus = <2>;
            #address-cells = <2>;
            #size-cells = <2>;
            memory = <0x0 0x8000000>;
            bootargs = "console=ttyAMA0 quiet";
            kernel { compatible = "multiboot,kernel"; file = "kernel.bin"; };
            ramdisk { file = "img/initrd"; };
            disk@0 { compatible = "keel,disk"; backend = "ufs"; partition = "data"; read-only; serial = "s1"; };
            disk@1 { backend = "ram"; file = "${ROOT}/../%s/img/ram.img"; io-poll-us = <0>; };
        };
        vm@1 {
            memory-range = <0x0 0x60000000 0x0 0x2000000>;
            kernel { file = "./kernel.bin"; };
        };
        """ % os.path.relpath(str(tmp_path), os.path.dirname(ROOT)))
    a, b = keel_qemu.load_vms_file(path)
    assert (a.name, a.cpus, a.mem_mib, a.cmdline) == ("first", 2, 128, "console=ttyAMA0 quiet")
    assert a.kernel == str(tmp_path / "kernel.bin") and a.initrd == str(tmp_path / "img" / "initrd")
    assert a.disks[0]["backend"] == "ufs" and a.disks[0]["partition"] == "data"
    assert a.disks[0]["read_only"] and a.disks[0]["serial"] == "s1"
    assert a.disks[1]["image"] == str(tmp_path / "img" / "ram.img") and a.disks[1]["io_poll_us"] == 0
    assert (b.name, b.cpus, b.mem_range, b.mem_mib, b.initrd, b.disks) == ("vm@1", 1, (0x60000000, 0x2000000),
                                                                           32, None, [])


@pytest.mark.parametrize("body, expected", [
    (VM0 % 'disk@0 { backend = "ufs"; partition = "a"; colour = "red"; };',
     "/chosen/vm@0/disk@0: colour: unknown property"),
    (VM0 % "", None),  # placeholder replaced below: kernel with reg
    ("vm@0 {\n    memory = <0x0 0x4000000>;\n};\n",
     "/chosen/vm@0: kernel: missing"),
    (VM0 % 'ramdisk { file = "no-such-initrd"; };',
     '/chosen/vm@0/ramdisk: file: "no-such-initrd" not found'),
    (VM0 % 'disk@0 { backend = "ufs"; partition = ""; };',
     '/chosen/vm@0/disk@0: partition: "": a GPT partition name'),
    (VM0 % 'disk@0 { backend = "ufs"; partition = "this-name-is-far-too-long-for-a-gpt-entry"; };',
     "/chosen/vm@0/disk@0: partition:"),
    (VM0 % 'disk@0 { backend = "ufs"; partition = <1>; };',
     "/chosen/vm@0/disk@0: partition: expected one string"),
    (VM0 % 'disk@0 { backend = "floppy"; };',
     '/chosen/vm@0/disk@0: backend: unknown "floppy"'),
    (VM0 % "disk@0 { partition = \"a\"; };",
     "/chosen/vm@0/disk@0: backend: missing"),
    (VM0 % 'disk@0 { backend = "ram"; };',
     "/chosen/vm@0/disk@0: file: missing"),
    (VM0 % 'disk@0 { backend = "ufs"; file = "kernel.bin"; };',
     '/chosen/vm@0/disk@0: file: only a "ram" disk has an image file'),
    (VM0 % 'kernel@1 { file = "kernel.bin"; };',
     "/chosen/vm@0/kernel@1: a second kernel node"),
    (VM0 % 'net@0 { };',
     "/chosen/vm@0/net@0: unknown node"),
    ("vm@0 {\n    memory = <0x0 0x4000000>;\n    kernel { file = \"${NOPE}/Image\"; };\n};\n",
     "/chosen/vm@0/kernel: file: unknown variable ${NOPE}"),
    ("vm@0 {\n    memory = <0x0 0x4000100>;\n    kernel { file = \"kernel.bin\"; };\n};\n",
     "/chosen/vm@0: memory: size 0x4000100 is not a whole number of MiB"),
    ("vm@0 {\n    compatible = \"xen,domain\";\n    memory = <0x0 0x4000000>;\n"
     "    kernel { file = \"kernel.bin\"; };\n};\n",
     '/chosen/vm@0: compatible: "xen,domain", expected "keel,vm"'),
])
def test_errors_name_file_node_and_property(tmp_path, kernel_file, body, expected):
    if expected is None:
        body = "vm@0 {\n    memory = <0x0 0x4000000>;\n    kernel { reg = <0x0 0x50000000 0x0 0x1000>; };\n};\n"
        expected = '/chosen/vm@0/kernel: reg: unknown property (give file = "path"'
    path = write_config(tmp_path, body)
    msg = error_of(path)
    assert msg.startswith(path + ": "), msg
    assert expected in msg, msg


def test_file_level_errors(tmp_path, kernel_file):
    missing = str(tmp_path / "missing.dts")
    assert error_of(missing) == f"{missing}: no such file"
    bad = tmp_path / "bad.dts"
    bad.write_text("/dts-v1/;\n/ { chosen { vm@0 { memory = <0x0 0x4000000> }; }; };\n")
    msg = error_of(str(bad))
    assert msg.startswith(f"{bad}: not valid devicetree source (dtc)") and "bad.dts:" in msg, msg
    path = write_config(tmp_path, "", name="empty.dts")
    assert error_of(path) == f"{path}: /chosen: no vm@N nodes"
    other = tmp_path / "other.dts"
    other.write_text("/dts-v1/;\n/ { memory { }; chosen { }; };\n")
    assert "/memory: unknown node" in error_of(str(other))
    path = write_config(tmp_path, (VM0 % "") + (VM0 % "").replace("vm@0", "vm@1"), name="twice.dts")
    # both default to their node name; give both the same vm-name
    with open(path) as f:
        text = f.read().replace("memory =", 'vm-name = "same";\n\t\t    memory =')
    with open(path, "w") as f:
        f.write(text)
    assert error_of(path) == f'{path}: /chosen/vm@1: vm-name: "same" is used twice'


@pytest.mark.parametrize("disks, expected", [
    ('disk@0 { backend = "ufs"; partition = "a"; };\n    disk@1 { backend = "ufs"; partition = "a"; };',
     '/chosen/vm@0/disk@1: backend "ufs" partition "a" is already given to /chosen/vm@0/disk@0'),
    ('disk@0 { backend = "sd"; };\n    disk@1 { backend = "sd"; partition = "a"; };',
     '/chosen/vm@0/disk@1: backend "sd" partition "a" is inside the whole disk given to /chosen/vm@0/disk@0'),
    ('disk@0 { backend = "ufs"; partition = "a"; };\n    disk@1 { backend = "ufs"; };',
     '/chosen/vm@0/disk@1: backend "ufs" (whole disk) contains partition "a" given to /chosen/vm@0/disk@0'),
    ('disk@0 { backend = "ufs"; };\n    disk@1 { backend = "ufs"; };',
     '/chosen/vm@0/disk@1: backend "ufs" (whole disk) is already given to /chosen/vm@0/disk@0'),
])
def test_assign_once_in_the_launcher(tmp_path, kernel_file, disks, expected):
    path = write_config(tmp_path, VM0 % disks)
    assert error_of(path) == f"{path}: {expected}"


def test_partition_missing_from_the_given_disk(tmp_path, kernel_file):
    path = write_config(tmp_path, VM0 % 'disk@0 { backend = "ufs"; partition = "data"; };')
    vms = keel_qemu.load_vms_file(path)
    image = str(tmp_path / "disk.img")
    subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts", "mkgpt.py"), image, "8", "4096", "root:0"],
                   check=True, capture_output=True)
    with pytest.raises(vms_config.ConfigError) as e:
        keel_qemu.vms_machine_disk(path, vms, disk=image)
    assert str(e.value) == f'{path}: /chosen/vm@0/disk@0: partition: "data" is not on {image} (its GPT has: root)'
    with pytest.raises(vms_config.ConfigError) as e:  # a 4096-byte-block GPT is no GPT for an SD card
        keel_qemu.vms_machine_disk(path, [keel_qemu.VmSpec("x", "k", disks=[dict(vms[0].disks[0], backend="sd")])],
                                   disk=image)
    assert "no GPT with 512-byte blocks" in str(e.value)
    with pytest.raises(vms_config.ConfigError) as e:
        keel_qemu.vms_machine_disk(path, vms, disk=str(tmp_path / "nope.img"))
    assert str(e.value) == f"{path}: DISK={tmp_path / 'nope.img'}: no such file"


def test_run_sh_reports_config_errors(tmp_path, kernel_file):
    """The real command path (make run -> scripts/run.sh -> keel_qemu.py --vms) stops with the message."""
    path = write_config(tmp_path, VM0 % 'disk@0 { backend = "sd"; partition = "p"; };')
    r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "run.sh")], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, env=dict(os.environ, VMS=path, STORAGE="ufs"), timeout=60)
    assert r.returncode != 0
    assert f'{path}: /chosen/vm@0/disk@0: backend: "sd" but the machine\'s disk is ufs' in r.stderr, r.stderr


def test_machine_disk_is_made_with_the_named_partitions(tmp_path):
    vms = keel_qemu.load_vms_file(EXAMPLE)
    storage, image = keel_qemu.vms_machine_disk(EXAMPLE, vms, disk_dir=str(tmp_path))
    assert storage == "ufs" and image == str(tmp_path / "two-linux-ufs.img")
    assert vms_config.gpt_partition_names(image, 4096) == ["vm-a", "vm-b"]
    # an existing image with those partitions is kept (its data too)
    with open(image, "r+b") as f:
        f.seek(2 * MIB)
        f.write(b"keep me")
    keel_qemu.vms_machine_disk(EXAMPLE, vms, disk_dir=str(tmp_path))
    with open(image, "rb") as f:
        f.seek(2 * MIB)
        assert f.read(7) == b"keep me"


def test_keel_refuses_one_partition_for_two_vms(keel, tmp_path, monkeypatch):
    """keel's own assign-once check (the launcher's is bypassed), node names as in the file."""
    monkeypatch.setattr(vms_config, "check_assign_once", lambda path, vms: None)
    path = write_config(tmp_path, """\
        vm@0 {
            memory = <0x0 0x4000000>;
            kernel { file = "${ROOT}/guests/baremetal/build/guest.bin"; };
            disk@0 { backend = "ufs"; partition = "vm-a"; };
        };
        vm@3 {
            memory = <0x0 0x4000000>;
            kernel { file = "${ROOT}/guests/baremetal/build/guest.bin"; };
            disk@0 { backend = "ufs"; partition = "vm-b"; };
            disk@7 { backend = "ufs"; partition = "vm-a"; };
        };
        """)
    vms = keel_qemu.load_vms_file(path)
    storage, image = keel_qemu.vms_machine_disk(path, vms, disk_dir=str(tmp_path))
    r = keel(vms, timeout=30, until=r"PANIC.*\n", storage_devs=keel_qemu.storage_devices(storage, image))
    assert ('PANIC: VM configuration: /chosen/vm@3/disk@7: backend "ufs" partition "vm-a" is already given to '
            "/chosen/vm@0/disk@0") in r.out, r.out


def gpt_layout(image, bs=4096):
    """{name: (offset, size)} from the primary GPT."""
    import struct
    out = {}
    with open(image, "rb") as f:
        f.seek(bs)
        hdr = f.read(92)
        array_lba, count, esize = struct.unpack_from("<QII", hdr, 72)
        f.seek(array_lba * bs)
        data = f.read(count * esize)
    for i in range(count):
        e = data[i * esize:(i + 1) * esize]
        first, last = struct.unpack_from("<QQ", e, 32)
        name = e[56:128].decode("utf-16-le").rstrip("\0")
        if name:
            out[name] = (first * bs, (last - first + 1) * bs)
    return out


def region_sha(image, off, size):
    h = hashlib.sha256()
    with open(image, "rb") as f:
        f.seek(off)
        while size:
            b = f.read(min(size, MIB))
            h.update(b)
            size -= len(b)
    return h.hexdigest()


def read(image, off, size):
    with open(image, "rb") as f:
        f.seek(off)
        return f.read(size)


def test_example_boots_two_linux_vms_on_two_partitions(tmp_path):
    for f in (KEEL_BIN, os.path.join(KIT, "Image"), os.path.join(KIT, "initramfs.cpio.gz")):
        if not os.path.exists(f):
            pytest.fail(f"{f} is missing: run `make all kit`")
    vms = keel_qemu.load_vms_file(EXAMPLE)
    _, image = keel_qemu.vms_machine_disk(EXAMPLE, vms, disk_dir=str(tmp_path))
    layout = gpt_layout(image)
    assert set(layout) == {"vm-a", "vm-b"}
    # Each partition holds data of its own before the run.
    for name, (off, size) in layout.items():
        with open(image, "r+b") as f:
            f.seek(off)
            f.write((f"host-data {name}\n".encode() * (size // 15 + 1))[:size])
    edges = {}  # what must not change: the GPT, the gaps, and each partition between its stamps
    size = os.path.getsize(image)
    untouched, pos = {}, 0
    for name, (off, psize) in sorted(layout.items(), key=lambda kv: kv[1][0]):
        untouched[f"before {name}"] = (pos, off - pos)
        pos = off + psize
    untouched["after the last partition (backup GPT)"] = (pos, size - pos)
    for name, (off, psize) in layout.items():
        untouched[f"{name} between its stamps"] = (off + MIB, psize - MIB - 65536)
    for what, (off, n) in untouched.items():
        edges[what] = region_sha(image, off, n)

    os.makedirs(LOG_DIR, exist_ok=True)
    t0 = time.monotonic()
    r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "run.sh")], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=400,
                       env=dict(os.environ, VMS=os.path.relpath(EXAMPLE), DISK=image, RUN_TIMEOUT="300"))
    took = time.monotonic() - t0
    out = r.stdout.replace("\r", "")
    with open(os.path.join(LOG_DIR, "test_example_boots_two_linux_vms_on_two_partitions.log"), "w") as f:
        f.write(out)
    assert "disk vm-a/vda: ufs0:vm-a" in out and "disk vm-b/vda: ufs0:vm-b" in out, out[-4000:]
    for vm in ("vm-a", "vm-b"):
        assert f"[{vm}] KEEL-TEST: stamp: /dev/vda ({layout[vm][1]} bytes) held: host-data {vm}" in out, out[-4000:]
        assert f"[{vm}] KEEL-TEST: stamp ok {vm}" in out, out[-4000:]
        assert f"VM {vm}: PSCI SYSTEM_OFF" in out, out[-4000:]
    assert "KEEL-TEST: FAIL" not in out and "PANIC" not in out and "Kernel panic" not in out
    assert "all VMs are off" in out and r.returncode == 0, out[-4000:]
    print(f"two Linux VMs: {took:.1f} s")

    for name, (off, psize) in layout.items():
        stamp = f"keel-stamp {name}\n".encode()
        assert read(image, off, MIB) == (stamp * (MIB // len(stamp) + 1))[:MIB], f"{name}: head stamp"
        assert read(image, off + psize - 65536, 65536) == (stamp * (65536 // len(stamp) + 1))[:65536], \
            f"{name}: tail stamp"
    for what, (off, n) in untouched.items():
        assert region_sha(image, off, n) == edges[what], f"{what} changed"


def test_chosen_stay_on_is_read_and_nothing_else_is_allowed(tmp_path, kernel_file):
    path = write_config(tmp_path, VM0 % "")
    assert not vms_config.stay_on(path)
    with open(path) as f:
        text = f.read()
    on = str(tmp_path / "on.dts")
    with open(on, "w") as f:
        f.write(text.replace("\tchosen {\n", "\tchosen {\n\t\tkeel,stay-on;\n", 1))
    assert vms_config.stay_on(on) and len(keel_qemu.load_vms_file(on)) == 1
    bad = str(tmp_path / "bad.dts")
    with open(bad, "w") as f:
        f.write(text.replace("\tchosen {\n", "\tchosen {\n\t\tkeel,stay-onn;\n", 1))
    assert "keel,stay-onn" in error_of(bad)
