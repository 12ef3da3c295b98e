#!/usr/bin/python3
"""The firmware row of `make bench` (scripts/bench.py): EDK2's boot to the GRUB menu in a keel VM against
plain QEMU (`-M virt -bios`), issue 15's target: keel within 3x.

Both boot Debian's EDK2 (qemu-efi-aarch64, AAVMF_CODE.fd) with 512 MiB of RAM, one vCPU, the same
-cpu, and a disk from scripts/mkefidisk.sh (ESP with GRUB, whose grub.cfg prints "keel-grub: menu"
first): plain QEMU on its virtio-blk-device, keel on its own virtio-blk over a RAM disk. Measured from
the host's arrival time of console lines (QEMU's stdout, one clock): plain QEMU from its process start,
keel from its VM's start (the arrival of keel's "first console output N us after its start" line,
less N), to "UEFI firmware" (the first line) and to "keel-grub: menu". QEMU stops once the menu shows.
BENCH_FW_RUNS boots each (default 3); medians reported. Can be run alone: scripts/bench_fw.py.
"""
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import keel_qemu  # noqa: E402
from keel_qemu import VmSpec  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EDK2 = "/usr/share/AAVMF/AAVMF_CODE.fd"
MEM = 512
TARGET = 3.0
FIRST_RE = re.compile(r"VM fw: first console output (\d+) us after its start")


def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


def timed_lines(argv, log_path, stop, timeout):
    """Run argv (own session); [(host time, line)] until stop(line) or timeout. Kills what it started."""
    lines, partial = [], ""
    t0 = time.monotonic()
    proc = subprocess.Popen(["nice", "-n", "5"] + argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    os.set_blocking(proc.stdout.fileno(), False)
    try:
        with open(log_path, "w") as logf:
            while time.monotonic() - t0 < timeout:
                chunk = proc.stdout.read()
                now = time.monotonic()
                if chunk:
                    text = chunk.decode("utf-8", "replace").replace("\r", "")
                    logf.write(text)
                    partial += text
                    *done, partial = partial.split("\n")
                    lines += [(now, line) for line in done]
                    if any(stop(line) for line in done):
                        break
                elif proc.poll() is not None:
                    break
                else:
                    time.sleep(0.005)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()
    return t0, lines


def first_at(lines, pattern):
    for t, line in lines:
        if pattern in line:
            return t
    return None


def boot_native(disk, cpu, log):
    argv = [keel_qemu.QEMU, "-M", "virt", "-cpu", cpu, "-m", str(MEM), "-smp", "1", "-nographic", "-nic", "none",
            "-bios", EDK2, "-drive", f"if=none,id=d0,file={disk},format=raw,snapshot=on",
            "-device", "virtio-blk-device,drive=d0"]
    t0, lines = timed_lines(argv, log, lambda l: "keel-grub: menu" in l, 300)
    return t0, lines, t0


def boot_keel(disk, cpu, log):
    with tempfile.TemporaryDirectory() as tmp:
        vm = VmSpec("fw", firmware=EDK2, mem_mib=MEM, disks=[{"backend": "ram", "image": disk}])
        argv = keel_qemu.build([vm], tmp, cpu=cpu)
        t_qemu, lines = timed_lines(argv, log, lambda l: "keel-grub: menu" in l, 300)
    start = None
    for t, line in lines:
        m = FIRST_RE.search(line)
        if m:
            start = t - int(m.group(1)) / 1e6
            break
    return start, lines, t_qemu


def run(outdir, cpu, say, runs=None):
    runs = runs or env_int("BENCH_FW_RUNS", 3)
    res = {"config": "fw", "runs": runs, "error": None}
    for kind in ("native", "keel"):
        res[kind] = {"first": [], "grub": [], "grub_from_qemu": []}
    if not os.path.exists(EDK2):
        res["error"] = f"{EDK2} is missing (scripts/setup.sh installs qemu-efi-aarch64)"
        return res
    disk = os.path.join(outdir, "fw-efi.img")
    try:
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "mkefidisk.sh"), disk, "128"], check=True,
                       capture_output=True)
        for i in range(runs):
            for kind, boot in (("native", boot_native), ("keel", boot_keel)):
                log = os.path.join(outdir, f"fw-{kind}-{i + 1}.log")
                say(f"bench: fw: {kind} boot {i + 1} ...")
                t0, lines, t_qemu = boot(disk, cpu, log)
                first, grub = first_at(lines, "UEFI firmware"), first_at(lines, "keel-grub: menu")
                if t0 is None or first is None or grub is None:
                    res["error"] = f"{kind} boot {i + 1}: no EDK2 or GRUB line (see {log})"
                    return res
                res[kind]["first"].append(round(first - t0, 3))
                res[kind]["grub"].append(round(grub - t0, 3))
                res[kind]["grub_from_qemu"].append(round(grub - t_qemu, 3))
    except subprocess.CalledProcessError as e:
        res["error"] = f"mkefidisk.sh failed: {e.stderr.decode(errors='replace')[-300:]}"
    finally:
        if os.path.exists(disk):
            os.unlink(disk)
    if not res["error"]:
        for kind in ("native", "keel"):
            for k in ("first", "grub", "grub_from_qemu"):
                res[kind][k + "_median"] = statistics.median(res[kind][k])
        res["ratio"] = round(res["keel"]["grub_median"] / res["native"]["grub_median"], 2)
    return res


def summary(res):
    head = (f"Firmware (EDK2 {os.path.basename(EDK2)} -> GRUB menu, {MEM} MiB, 1 vCPU; keel: virtio-blk on a RAM "
            f"disk, from its VM's start; plain QEMU -M virt -bios, from process start; {res['runs']} boots each):")
    if res["error"]:
        return [head, f"  FAILED: {res['error']}"]
    lines = [head, f"  {'':<14}{'first line s':>14}{'GRUB menu s':>13}{'from QEMU start':>17}   per boot (GRUB menu)"]
    for kind in ("native", "keel"):
        r = res[kind]
        lines.append(f"  {kind:<14}{r['first_median']:>14.2f}{r['grub_median']:>13.2f}"
                     f"{r['grub_from_qemu_median']:>17.2f}   " + " ".join(f"{v:.2f}" for v in r["grub"]))
    verdict = "met" if res["ratio"] <= TARGET else "MISSED"
    lines.append(f"  keel / native to the GRUB menu: {res['ratio']:.2f}x (target <= {TARGET:.0f}x: {verdict})")
    return lines


if __name__ == "__main__":
    out = os.path.join(ROOT, "build", "bench")
    os.makedirs(out, exist_ok=True)
    r = run(out, os.environ.get("BENCH_CPU", "") or "max,sve=off,sme=off", lambda s: print(s, flush=True))
    print("\n".join(summary(r)))
    sys.exit(1 if r["error"] else 0)
