"""What the `make bench` rows share (scripts/bench.py, bench_fio.py, bench_noisy.py): the environment
readers, a fresh raw disk image, the QEMU storage devices behind keel, and one keel boot under QEMU.
Standard library only."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import keel_qemu  # noqa: E402


def env_int(name, default):
    """The integer in environment variable name; default when it is unset or blank."""
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


def env_float(name, default):
    """The number in environment variable name; default when it is unset or blank."""
    v = os.environ.get(name, "")
    return float(v) if v.strip() else default


def timeout_scale():
    """BENCH_TIMEOUT_SCALE (1.0): what every per-boot time limit is multiplied by."""
    return env_float("BENCH_TIMEOUT_SCALE", 1.0)


def fresh_image(path, mib):
    """A fresh all-zero raw image of mib MiB, written out (not sparse) so host file allocation stays out
    of the figures."""
    if os.path.exists(path):
        os.unlink(path)
    chunk = b"\0" * (1 << 20)
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())


def storage_devs(disk, image):
    """QEMU arguments for the controller keel (or a native guest) drives, "ufs" or "sd", over image."""
    drive = f"if=none,id=d0,file={image},format=raw,cache=writeback"
    if disk == "ufs":
        return ["-drive", drive, "-device", "ufs,serial=keel", "-device", "ufs-lu,drive=d0,lun=0"]
    if disk == "sd":
        return ["-drive", drive, "-device", "sdhci-pci", "-device", "sd-card,drive=d0"]
    raise ValueError(disk)


def run_keel(vms, log_path, timeout, cpu, devs=(), **run_kw):
    """Boot keel with vms (keel_qemu.VmSpec) under QEMU, its command line saved to log_path + ".cmd";
    run_kw go to keel_qemu.run (until, send). Returns keel_qemu.run's (rc or None on timeout, text)."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = keel_qemu.build(vms, tmp, cpu=cpu, storage_devs=list(devs))
        with open(log_path + ".cmd", "w") as f:
            f.write(" ".join(argv) + "\n")
        return keel_qemu.run(argv, timeout, log_path, **run_kw)
