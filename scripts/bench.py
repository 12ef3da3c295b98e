#!/usr/bin/python3
"""`make bench`: Linux guest storage benchmarks, keel versus native QEMU, side by side.

Every configuration boots the same kit (build/kit/Image + initramfs.cpio.gz), 256 MiB of guest
RAM, 1 vCPU, -cpu max,sve=off,sme=off, on a fresh 256 MiB all-zero raw image (written out, not
sparse), and runs the guest's `keel.test=bench` (O_DIRECT kbench on the raw disk, 3 runs per
metric, medians taken by the guest):

  keel-ufs       Linux under keel on keel's virtio-blk, backed by the UFS controller keel drives
  keel-ufs-nopoll  the same with the disk's completion polling off (io-poll-us = 0)
  native-ufs     the same Linux on QEMU without keel, driving the same `ufs` + `ufs-lu` itself
  native-virtio  the same Linux on QEMU's own virtio-blk-device
  keel-sd        Linux under keel on virtio-blk backed by `sdhci-pci` + `sd-card` (keel's SD driver)
  native-sd      the same Linux natively on `sdhci-pci` + `sd-card`
  keel-ram       reference, no target: keel's virtio-blk on a RAM disk (the trap and virtio path alone)
  noisy          two Linux VMs on two GPT partitions of one UFS disk: VM B's 4k QD1 random reads alone
                 and beside VM A's 4k QD32 random reads (scripts/bench_noisy.py; target: B keeps >= 0.5
                 of its alone IOPS, p99 <= 3x alone)
  fio            Debian's fio in the guest, keel-UFS against native-UFS, several boots each: 4k and 1M jobs
                 at QD1 and QD32, a 4k queue-depth sweep (plotted) and 4k QD32 with 2 jobs on 2 vCPUs
                 (scripts/bench_fio.py)
  fw             EDK2 to the GRUB menu in a keel VM against plain QEMU -M virt -bios (scripts/bench_fw.py;
                 target: keel within 3x)

Prints a table of medians, the keel/native ratios against the targets (>= 0.95 sequential,
>= 0.90 4k QD1) and keel's per-VM counters. Raw console logs, a summary and results.json go to
build/bench/. Standard library only.

Environment: BENCH_MIB (192) / BENCH_OPS (10000): sequential MiB and random ops per run for the
UFS and virtio rows; BENCH_SD_MIB (32) / BENCH_SD_OPS (2000) for the SD rows (the SD card moves
~4.5 MB/s under TCG); BENCH_RUNS (3); BENCH_ONLY=keel-ufs,native-ufs,noisy,fio,... a subset; BENCH_FIO=0
leaves the fio rows out of a full run; BENCH_MMIO_SHADOW=0 makes the keel rows' virtio-mmio register reads
trap (mmio-shadow = <0>, as before the shadow page);
BENCH_TIMEOUT_SCALE (1.0) multiplies every per-boot time limit; BENCH_IO_POLL_US sets row (1)'s
disk io-poll-us (default: keel's own default); BENCH_NOISY_* for the noisy row (scripts/bench_noisy.py),
BENCH_FIO_* for the fio rows (scripts/bench_fio.py), BENCH_FW_RUNS (3) for the fw row.
"""
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import bench_common  # noqa: E402
import bench_fio  # noqa: E402
import bench_fw  # noqa: E402
import bench_noisy  # noqa: E402
import keel_qemu  # noqa: E402

KIT = os.path.join(ROOT, "build", "kit")
IMAGE = os.path.join(KIT, "Image")
INITRD = os.path.join(KIT, "initramfs.cpio.gz")
INITRD_FIO = os.path.join(KIT, "initramfs-fio.cpio.gz")
OUT = os.path.join(ROOT, "build", "bench")
NATIVE = os.path.join(ROOT, "guests", "linux", "run-native.sh")

DISK_MIB = 256  # power of two: sd-card needs it
GUEST_MEM = 256
CPU = os.environ.get("BENCH_CPU", "") or "max,sve=off,sme=off"  # keel and native get the same model
METRICS = [("seq_write_1m", "seq write 1M", "MB/s", 0.95),
           ("seq_read_1m", "seq read 1M", "MB/s", 0.95),
           ("rand_read_4k", "4k QD1 rand read", "IOPS", 0.90),
           ("rand_write_4k", "4k QD1 rand write", "IOPS", 0.90)]


MIB = bench_common.env_int("BENCH_MIB", 192)
OPS = bench_common.env_int("BENCH_OPS", 10000)
SD_MIB = bench_common.env_int("BENCH_SD_MIB", 32)
SD_OPS = bench_common.env_int("BENCH_SD_OPS", 2000)
RUNS = bench_common.env_int("BENCH_RUNS", 3)
TSCALE = bench_common.timeout_scale()


class Config:
    def __init__(self, key, label, how, disk, io_poll_us=None):
        self.key, self.label, self.how, self.disk = key, label, how, disk
        self.io_poll_us = io_poll_us  # keel rows: the disk's io-poll-us (None: keel's default)
        sd = disk == "sd"
        self.mib = SD_MIB if sd else MIB
        self.ops = SD_OPS if sd else OPS
        # generous bound: boot + the slowest rates seen (SD ~3 MB/s, 300 IOPS; others 100 MB/s, 1000 IOPS)
        seq_rate, iops = (3.0, 300) if sd else (100.0, 1000)
        est = 30 + RUNS * (2 * self.mib * 1.048576 / seq_rate + 2 * self.ops / iops)
        self.timeout = int(max(120, 2 * est) * TSCALE)
        self.result = None


CONFIGS = [
    Config("keel-ufs", "(1) keel: virtio-blk <- UFS", "keel", "ufs",
           io_poll_us=int(os.environ["BENCH_IO_POLL_US"]) if os.environ.get("BENCH_IO_POLL_US") else None),
    # the same with completion polling off: keel's interrupt path alone
    Config("keel-ufs-nopoll", "(1b) keel: ... UFS, io-poll-us 0", "keel", "ufs", io_poll_us=0),
    Config("native-ufs", "(2) native: UFS (ufs + ufs-lu)", "native", "ufs"),
    Config("native-virtio", "(3) native: virtio-blk-device", "native", "virtio"),
    Config("keel-sd", "(4) keel: virtio-blk <- SD", "keel", "sd"),
    Config("native-sd", "(5) native: SD (sdhci-pci + sd-card)", "native", "sd"),
    # reference only (no target): keel's virtio-blk path with no device behind it
    Config("keel-ram", "(ref) keel: virtio-blk <- RAM disk", "keel", "ram"),
]
# Run order: each keel row next to its native reference, so slow drifts in host load hit both.
RUN_ORDER = ["native-ufs", "keel-ufs", "keel-ufs-nopoll", "native-virtio", "keel-ram", "native-sd", "keel-sd"]


def guest_cmdline(cfg, disk_dev):
    return (f"console=ttyAMA0 keel.disk={disk_dev} keel.test=bench keel.bench.mib={cfg.mib} "
            f"keel.bench.ops={cfg.ops} keel.bench.runs={RUNS}")


def kill_session(sid):
    """Kill every process group in session sid (the processes this script started, nothing else)."""
    pgids = set()
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:  # fields after "comm)": state ppid pgrp session
                pgids.add(int(fields[2]))
        except (OSError, IndexError, ValueError):
            continue
    for g in pgids:
        try:
            os.killpg(g, signal.SIGKILL)
        except OSError:
            pass


def native_boot(disk, image, log_path, extra, timeout, smp=1, mem_mib=GUEST_MEM, initrd=None, qemu_args=None):
    """run-native.sh under our own bound; returns (rc or None on timeout, text). qemu_args: extra QEMU
    arguments (a string; scripts/insn_prof.py's plugin)."""
    env = dict(os.environ, KEEL_TIMEOUT=str(timeout), KEEL_SMP=str(smp), KEEL_MEM=f"{mem_mib}M",
               KEEL_CPU=CPU, KEEL_CACHE="writeback")
    env.pop("KEEL_QEMU_ARGS", None)
    if qemu_args:
        env["KEEL_QEMU_ARGS"] = qemu_args
    with tempfile.TemporaryDirectory() as kit:
        if initrd:  # run-native.sh boots $KEEL_KIT_DIR/{Image,initramfs.cpio.gz}
            os.symlink(IMAGE, os.path.join(kit, "Image"))
            os.symlink(initrd, os.path.join(kit, "initramfs.cpio.gz"))
            env["KEEL_KIT_DIR"] = kit
        with open(log_path, "w") as logf:
            proc = subprocess.Popen(["bash", NATIVE, disk, image] + extra, cwd=ROOT, env=env,
                                    stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                rc = proc.wait(timeout=timeout + 15)
            except subprocess.TimeoutExpired:
                rc = None
                try:
                    os.killpg(proc.pid, signal.SIGTERM)  # run-native.sh then kills QEMU's group
                    proc.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            finally:
                kill_session(proc.pid)  # QEMU runs in its own group inside our session
                if proc.poll() is None:
                    proc.wait()
    with open(log_path, errors="replace") as f:
        return rc, f.read().replace("\r", "")


def run_native(cfg, image, log_path):
    dev = {"ufs": "/dev/sda", "sd": "/dev/mmcblk0", "virtio": "/dev/vda"}[cfg.disk]
    extra = guest_cmdline(cfg, dev).split()[1:]  # run-native.sh adds console=ttyAMA0
    return native_boot(cfg.disk, image, log_path, extra, cfg.timeout)


def run_keel(cfg, image, log_path):
    disk = {"backend": cfg.disk, "io_poll_us": cfg.io_poll_us}
    if os.environ.get("BENCH_MMIO_SHADOW"):  # 0: register reads trap (before the shadow page)
        disk["mmio_shadow"] = int(os.environ["BENCH_MMIO_SHADOW"])
    devs = []
    if cfg.disk == "ram":
        disk["image"] = image  # loaded into machine RAM by QEMU; writes stay there
    else:
        devs = bench_common.storage_devs(cfg.disk, image)
    vm = keel_qemu.VmSpec("linux", IMAGE, initrd=INITRD, cmdline=guest_cmdline(cfg, "/dev/vda"),
                          mem_mib=GUEST_MEM, cpus=1, disks=[disk])
    return bench_common.run_keel([vm], log_path, cfg.timeout, CPU, devs)


BENCH_RE = re.compile(r"KEEL-BENCH (\w+) ([0-9.]+) (MB/s|IOPS)")
DISK_RE = re.compile(r"VM linux: disk linux/vda: (\d+) requests, (\d+) bytes read, (\d+) bytes written, "
                     r"(\d+) notify traps, (\d+) interrupts, (\d+) errors; bytes copied by keel: (\d+) "
                     r"\(data path: 0\); vCPU exits per request: ([0-9.]+)")
EXITS_RE = re.compile(r"VM linux: (\d+) vCPU exits")
POLL_RE = re.compile(r"VM linux: disk linux/vda: completion polling .*")
START_RE = re.compile(r"KEEL-TEST: step bench on .*\[t=([0-9.]+)\]")


def parse(cfg, rc, text, wall):
    r = {"config": cfg.key, "label": cfg.label, "rc": rc, "wall_s": round(wall, 1), "mib": cfg.mib,
         "ops": cfg.ops, "runs": {}, "median": {}, "counters": None, "driver_lines": [], "error": None}
    for name, val, _unit in BENCH_RE.findall(text):
        if name.endswith("_median"):
            r["median"][name[:-7]] = float(val)
        else:
            r["runs"].setdefault(name, []).append(float(val))
    m = START_RE.search(text)
    r["guest_bench_start_s"] = float(m.group(1)) if m else None
    if cfg.how == "keel":
        m = DISK_RE.search(text)
        if m:
            v = [int(x) for x in m.groups()[:7]]
            r["counters"] = dict(zip(["requests", "bytes_read", "bytes_written", "notify_traps", "interrupts",
                                      "errors", "bytes_copied"], v))
            r["counters"]["exits_per_request"] = float(m.group(8))
            r["counters"]["line"] = m.group(0)
        m = POLL_RE.search(text)
        r["poll_line"] = m.group(0).strip() if m else None
        m = EXITS_RE.search(text)
        if m and r["counters"]:
            r["counters"]["vcpu_exits"] = int(m.group(1))
        for line in text.splitlines():
            if re.search(r"\b(ufs|sd)\d+: .*\bcommands\b", line) or re.search(r"\bsd\d+: req \d+ cmds", line):
                r["driver_lines"].append(line.strip())
        if cfg.disk == "sd" and r["driver_lines"]:
            # keep the final driver line only (the SD driver's periodic counters repeat)
            r["driver_lines"] = r["driver_lines"][-1:]
    done = "KEEL-TEST: bench done" in text
    fail = re.search(r"KEEL-TEST: FAIL.*", text)
    if fail:
        r["error"] = fail.group(0)
    elif rc is None:
        r["error"] = f"timeout after {cfg.timeout} s" + ("" if done else " (bench not finished)")
    elif not done:
        r["error"] = f"QEMU exited with {rc} before 'KEEL-TEST: bench done'"
    elif len(r["median"]) < len(METRICS):
        r["error"] = "missing medians"
    if cfg.how == "keel" and r["error"]:
        pats = [r'backend "\w+" is unavailable', r"PANIC.*", r"Kernel panic.*"]
        if cfg.disk == "sd":
            pats.insert(1, r"sdhci: no SD.*")
        for pat in pats:
            m = re.search(pat, text)
            if m:
                r["error"] += "; keel: " + m.group(0).strip()
                break
    return r


def fmt(v, unit):
    return f"{v:.1f}" if unit == "MB/s" else f"{v:.0f}"


def table(results):
    lines = []
    w0 = 38
    head = f"{'configuration':<{w0}}" + "".join(f"{h:>19}" for _, h, _, _ in METRICS) + f"{'wall':>8}"
    units = f"{'':<{w0}}" + "".join(f"{'(' + u + ')':>19}" for _, _, u, _ in METRICS) + f"{'(s)':>8}"
    lines += [head, units, "-" * len(head)]
    for cfg in CONFIGS:
        r = results.get(cfg.key)
        if r is None:
            lines.append(f"{cfg.label:<{w0}}  (not run)")
            continue
        if r["error"]:
            why = ("n/a (keel SD backend not ready: " + r["error"] + ")") if cfg.key == "keel-sd" \
                else "FAILED: " + r["error"]
            lines.append(f"{cfg.label:<{w0}}  {why}")
            continue
        cells = "".join(f"{fmt(r['median'][k], u):>19}" for k, _, u, _ in METRICS)
        lines.append(f"{cfg.label:<{w0}}{cells}{r['wall_s']:>8.1f}")
    return lines


def ratios(results):
    lines = []
    for num, den, name, judged in (("keel-ufs", "native-ufs", "keel-UFS / native-UFS", True),
                                   ("keel-ufs-nopoll", "native-ufs",
                                    "keel-UFS with io-poll-us 0 / native-UFS (no target: polling off)", False),
                                   ("keel-sd", "native-sd", "keel-SD / native-SD", True)):
        a, b = results.get(num), results.get(den)
        if not a or not b:
            lines.append(f"{name}: not run")
            continue
        if a["error"] or b["error"]:
            who = "keel SD backend not ready" if num == "keel-sd" and a["error"] else "a run failed"
            lines.append(f"{name}: n/a ({who})")
            continue
        lines.append(f"{name}:")
        for k, h, _u, target in METRICS:
            ratio = a["median"][k] / b["median"][k] if b["median"][k] else 0.0
            verdict = ("met" if ratio >= target else "MISSED") if judged else ""
            lines.append(f"  {h:<20} {ratio:6.3f}" + (f"   target >= {target:.2f}  {verdict}" if judged else ""))
    vi, nu = results.get("native-virtio"), results.get("native-ufs")
    ku = results.get("keel-ufs")
    if vi and ku and not vi["error"] and not ku["error"]:
        lines.append("keel-UFS / native-virtio (for reference, no target):")
        lines.append("  " + ", ".join(f"{h} {ku['median'][k] / vi['median'][k]:.3f}" for k, h, _, _ in METRICS))
    return lines


def counters(results):
    lines = []
    for key in ("keel-ufs", "keel-ufs-nopoll", "keel-sd", "keel-ram"):
        r = results.get(key)
        if not r:
            continue
        c = r["counters"]
        lines.append(f"{key}:")
        if not c:
            lines.append("  (no per-VM disk counters in the log)")
            continue
        lines.append("  " + c["line"])
        if r.get("poll_line"):
            lines.append("  " + r["poll_line"])
        for dl in r["driver_lines"]:
            lines.append("  " + dl)
        if not r["driver_lines"] and key != "keel-ram":
            lines.append(f"  (no {'sd' if key == 'keel-sd' else 'ufs'}N controller counter line in the log)")
        req = max(c["requests"], 1)
        lines.append(f"  notify traps per request: {c['notify_traps'] / req:.3f}; interrupts per request: "
                     f"{c['interrupts'] / req:.3f}; vCPU exits per request: {c['exits_per_request']:.2f}"
                     + (f" ({c['vcpu_exits']} exits in the whole boot)" if "vcpu_exits" in c else "")
                     + f"; bytes copied by keel: {c['bytes_copied']}")
        moved = c["bytes_read"] + c["bytes_written"]
        lines.append(f"  average request: {moved / req / 1024:.1f} KiB over {c['requests']} requests")
    return lines


def qemu_version():
    try:
        out = subprocess.run([keel_qemu.QEMU, "--version"], capture_output=True, text=True).stdout
        return out.splitlines()[0].strip()
    except (OSError, IndexError):
        return "unknown"


def main():
    for f in (IMAGE, INITRD, INITRD_FIO, os.path.join(ROOT, "build", "qemu-virt", "keel.bin")):
        if not os.path.exists(f):
            sys.exit(f"bench: {f} is missing: run `make all guests kit`")
    only = [s.strip() for s in os.environ.get("BENCH_ONLY", "").split(",") if s.strip()]
    bykey = {c.key: c for c in CONFIGS}
    for k in only:
        if k not in bykey and k not in ("noisy", "fio", "fw"):
            sys.exit(f"bench: unknown configuration {k} (known: {', '.join(bykey)}, noisy, fio, fw)")
    os.makedirs(OUT, exist_ok=True)
    started = datetime.datetime.now().astimezone()
    header = [
        f"keel storage benchmark, {started.strftime('%Y-%m-%d %H:%M %Z')}",
        f"{qemu_version()} (TCG), host: {os.cpu_count()} cores, load average at start "
        + " ".join(f"{x:.2f}" for x in os.getloadavg()),
        f"every row: kernel {os.path.basename(IMAGE)} + initramfs from build/kit, {GUEST_MEM} MiB guest RAM, 1 vCPU "
        f"(native: -smp 1), -cpu {CPU}, fresh {DISK_MIB} MiB raw image, cache=writeback, "
        f"keel.test=bench with {RUNS} runs per metric (guest medians)",
        f"sizes per run: UFS/virtio rows {MIB} MiB sequential at 1 MiB, {OPS} random 4 KiB ops; "
        f"SD rows {SD_MIB} MiB, {SD_OPS} ops",
        "keel rows: QEMU -M virt,virtualization=on, keel at EL2 with 2 GiB machine RAM, the VM gets 256 MiB; "
        "native rows: -M virt, Linux at EL1",
    ]
    print("\n".join(header), flush=True)
    results = {}
    t_all = time.monotonic()
    for key in RUN_ORDER:
        if only and key not in only:
            continue
        cfg = bykey[key]
        image = os.path.join(OUT, f"{key}.img")
        log = os.path.join(OUT, f"{key}.log")
        bench_common.fresh_image(image, DISK_MIB)
        print(f"bench: {key}: {cfg.label} (bound {cfg.timeout} s) ...", end="", flush=True)
        t0 = time.monotonic()
        if cfg.how == "keel":
            rc, text = run_keel(cfg, image, log)
        else:
            rc, text = run_native(cfg, image, log)
        wall = time.monotonic() - t0
        r = parse(cfg, rc, text, wall)
        results[key] = r
        os.unlink(image)  # 256 MiB each: the log is what is kept
        print(f" {wall:.1f} s" + (f", {r['error']}" if r["error"] else ""), flush=True)
    fio = None
    if (not only and bench_common.env_int("BENCH_FIO", 1)) or "fio" in only:
        t0 = time.monotonic()
        fio = bench_fio.run((IMAGE, INITRD_FIO), OUT, CPU, native_boot, lambda s: print(s, flush=True))
        fio["wall_s"] = round(time.monotonic() - t0, 1)
        print(f"bench: fio: {fio['wall_s']:.1f} s" + (f", {fio['error']}" if fio["error"] else ""), flush=True)
    noisy = None
    if not only or "noisy" in only:
        t0 = time.monotonic()
        noisy = bench_noisy.run((IMAGE, INITRD), OUT, CPU, lambda s: print(s, flush=True),
                                native_boot=native_boot if bench_common.env_int("BENCH_NOISY_NATIVE", 1) else None)
        noisy["wall_s"] = round(time.monotonic() - t0, 1)
        print(f"bench: noisy: {noisy['wall_s']:.1f} s" + (f", {noisy['error']}" if noisy["error"] else ""),
              flush=True)
    fw = None
    if not only or "fw" in only:
        t0 = time.monotonic()
        fw = bench_fw.run(OUT, CPU, lambda s: print(s, flush=True))
        fw["wall_s"] = round(time.monotonic() - t0, 1)
        print(f"bench: fw: {fw['wall_s']:.1f} s" + (f", {fw['error']}" if fw["error"] else ""), flush=True)
    total = time.monotonic() - t_all
    out = header + [f"total bench time: {total:.0f} s", ""]
    if results:  # BENCH_ONLY=noisy (or fio) runs none of the single-VM rows
        out += ["Medians:"] + table(results) + [""]
        out += ["Ratios (targets: >= 0.95 sequential, >= 0.90 4k QD1):"] + ratios(results) + [""]
        out += ["Per-run values (guest):"]
        for cfg in CONFIGS:
            r = results.get(cfg.key)
            if r and r["runs"]:
                out.append(f"  {cfg.key}: " + "; ".join(
                    f"{k} " + " ".join(fmt(v, u) for v in r["runs"].get(k, [])) for k, _, u, _ in METRICS))
        out += ["", "keel per-VM counters (from keel's log):"] + counters(results) + [""]
    if fio:
        with open(os.path.join(OUT, "fio.md"), "w") as f:
            f.write("\n".join(bench_fio.markdown(fio)) + "\n")
        out += bench_fio.summary(fio) + [f"  wall time of the fio rows: {fio['wall_s']:.0f} s", ""]
    if noisy:
        out += bench_noisy.summary(noisy) + [""]
    if fw:
        out += bench_fw.summary(fw) + [""]
    out += [f"raw logs: {os.path.relpath(OUT, ROOT)}/<config>.log"
            + (", fio-<row>-<kind>-<boot>.log" if fio else "")
            + (", noisy-{alone,neighbour,native}-<pair>.log" if noisy else "")
            + (", fw-<native|keel>-<boot>.log" if fw else "")]
    print()
    print("\n".join(out))
    with open(os.path.join(OUT, "summary.txt"), "w") as f:
        f.write("\n".join(out) + "\n")
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump({"date": started.isoformat(), "qemu": qemu_version(), "cores": os.cpu_count(),
                   "results": results, "fio": fio, "noisy": noisy, "fw": fw}, f, indent=1)
    # Exit non-zero only when a reference or the keel UFS row could not run at all.
    # A missed noisy target is a result, not a failure; a noisy row that could not be measured is one.
    hard = [k for k, r in results.items() if r["error"] and k not in ("keel-sd", "keel-ram")]
    hard += ["noisy"] if noisy and noisy["error"] else []
    hard += ["fio"] if fio and fio["error"] else []
    hard += ["fw"] if fw and fw["error"] else []
    sys.exit(1 if hard else 0)


if __name__ == "__main__":
    main()
