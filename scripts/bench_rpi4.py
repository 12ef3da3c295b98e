#!/usr/bin/python3
"""`make bench PLATFORM=rpi4`: keel-SD against native Linux on QEMU raspi4b (issue 12).

Two rows, both the kit's Linux (build/kit/Image + initramfs.cpio.gz) running `keel.test=bench`
(O_DIRECT kbench on the raw disk, queue depth 1) on a fresh all-zero CARD_MIB MiB card given to QEMU
as `-drive if=sd` (the BCM2835 Arasan at 0xfe300000):

  native-rpi4   QEMU -M raspi4b -kernel Image -dtb bcm2711-rpi-4-b.dtb: Linux drives the Arasan itself
                (sdhci-iproc; QEMU gives it no DMA, so Linux uses PIO too). The DTB is the kernel
                package's, with what QEMU 10 does not model switched off (native_dtb).
  keel-rpi4     keel (build/rpi4/keel.bin) on -M raspi4b, one VM (1 vCPU, 256 MiB) with the whole card
                as its virtio-blk disk; keel moves the blocks through the data port (counted).

Each row boots BENCH_RUNS times (default 3), the rows alternating (native, keel, native, ...), one
guest run per boot; the row's figure is the median over its boots. Sizes per boot:
BENCH_RPI4_MIB (4) MiB sequential at 1 MiB, BENCH_RPI4_OPS (200) random 4 KiB operations (the data
port moves ~0.1-3 MB/s under TCG). BENCH_TIMEOUT_SCALE multiplies the per-boot bound.
Writes build/bench/rpi4.txt (summary), rpi4.json and rpi4-<row>-<boot>.log. A missed target is a
result: the exit status is non-zero only when a row produced no figures at all.
"""
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import keel_qemu  # noqa: E402

KIT = os.path.join(ROOT, "build", "kit")
IMAGE = os.path.join(KIT, "Image")
INITRD = os.path.join(KIT, "initramfs.cpio.gz")
PI_KEEL = os.path.join(ROOT, "build", "rpi4", "keel.bin")
OUT = os.path.join(ROOT, "build", "bench")
CARD_MIB = 64  # power of two: QEMU's SD card needs it
GUEST_MEM = 256
METRICS = [("seq_write_1m", "seq write 1M", "MB/s", 0.95),
           ("seq_read_1m", "seq read 1M", "MB/s", 0.95),
           ("rand_read_4k", "4k QD1 rand read", "IOPS", 0.90),
           ("rand_write_4k", "4k QD1 rand write", "IOPS", 0.90)]
ROWS = [("native-rpi4", "native: Linux on the Arasan (sdhci-iproc, PIO)"),
        ("keel-rpi4", "keel: virtio-blk <- SD (data port)")]
# Nodes of the kernel package's bcm2711-rpi-4-b.dtb that QEMU 10's raspi4b does not model: the HDMI
# block at bus 0x7ef00000 answers with an external abort, which kills Linux at boot.
UNMODELLED = ["clock@7ef00000", "interrupt-controller@7ef00100", "hdmi@7ef00700", "hdmi@7ef05700",
              "i2c@7ef04500", "i2c@7ef09500"]
ARASAN = "/soc/mmc@7e300000"


def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


def guest_cmdline(console, mib, ops):
    return f"console={console} keel.disk={{disk}} keel.test=bench keel.bench.mib={mib} " \
           f"keel.bench.ops={ops} keel.bench.runs=1"


def native_dtb(workdir):
    """The kernel package's bcm2711-rpi-4-b.dtb made bootable on QEMU raspi4b: the unmodelled HDMI
    nodes disabled; the Arasan's mmc-pwrseq (the Wi-Fi reset line, behind the firmware GPIO expander
    QEMU does not answer) removed, so the card probes; alias mmc0 = the Arasan, so the card is
    /dev/mmcblk0 whatever the probe order; /chosen seeds as the Pi firmware writes them."""
    dtb = os.path.join(workdir, "native.dtb")
    shutil.copyfile(keel_qemu.pi_dtb(workdir), dtb)
    for node in UNMODELLED:
        keel_qemu.fdtput(dtb, "-t", "s", f"/soc/{node}", "status", "disabled")
    keel_qemu.fdtput(dtb, "-d", ARASAN, "mmc-pwrseq")
    keel_qemu.fdtput(dtb, "-t", "s", "/aliases", "mmc0", ARASAN)
    keel_qemu.pi_firmware_seeds(dtb)  # as keel's row gets them (the Pi firmware's seeds)
    return dtb


def native_argv(dtb, card, cmdline):
    # The DT's stdout-path is serial1, the mini UART (ttyS1): QEMU's second -serial. Linux cannot power
    # the model off (no firmware): the run stops at the end marker.
    return ["nice", "-n", "10", keel_qemu.QEMU, "-M", "raspi4b", "-kernel", IMAGE, "-dtb", dtb,
            "-initrd", INITRD, "-append", cmdline, "-drive", f"if=sd,file={card},format=raw",
            "-display", "none", "-serial", "null", "-serial", "stdio", "-monitor", "none", "-no-reboot"]


def fresh_card(path):
    with open(path, "wb") as f:
        chunk = b"\0" * (1 << 20)
        for _ in range(CARD_MIB):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())


BENCH_RE = re.compile(r"KEEL-BENCH (\w+) ([0-9.]+) (MB/s|IOPS)")
DISK_RE = re.compile(r"VM linux: disk linux/vda: (\d+) requests, (\d+) bytes read, (\d+) bytes written, "
                     r"(\d+) notify traps, (\d+) interrupts, (\d+) errors; bytes copied by keel: (\d+)")
SD_REQ_RE = re.compile(r"(sd\d+): (\d+) requests, (\d+) commands, (\d+) bytes; (\d+) errors, (\d+) retries, "
                       r"(\d+) timeouts, (\d+) resets; (\d+) segments split, (\d+) SDMA fallbacks")
SD_PIO_RE = re.compile(r"(sd\d+): (\d+) requests through the data port \(no DMA\), (\d+) refused outside the "
                       r"DMA window")
END_RE = r"KEEL-TEST: (bench done|FAIL)"


def parse_boot(kind, rc, text):
    """One boot's log -> {values: {metric: float}, counters: {...} or None, error: str or None}."""
    r = {"rc": rc, "values": {}, "counters": None, "error": None}
    for name, val, _unit in BENCH_RE.findall(text):
        if not name.endswith("_median"):
            r["values"][name] = float(val)
    if kind == "keel":
        c = {}
        m = None
        for m in DISK_RE.finditer(text):
            pass
        if m:
            c.update(zip(["requests", "bytes_read", "bytes_written", "notify_traps", "interrupts", "errors",
                          "bytes_copied"], (int(x) for x in m.groups())))
        sd = {}  # the last report of each controller (the counters are cumulative)
        for m in SD_REQ_RE.finditer(text):
            sd.setdefault(m.group(1), {}).update(requests=int(m.group(2)), bytes=int(m.group(4)),
                                                 errors=int(m.group(5)), sdma_fallbacks=int(m.group(10)))
        for m in SD_PIO_RE.finditer(text):
            sd.setdefault(m.group(1), {}).update(data_port=int(m.group(2)), window_refused=int(m.group(3)))
        if sd:
            c["sd"] = sd
        r["counters"] = c or None
    fail = re.search(r"KEEL-TEST: FAIL.*", text)
    if fail:
        r["error"] = fail.group(0).strip()
    elif "KEEL-TEST: bench done" not in text:
        r["error"] = "timeout" if rc is None else f"QEMU exited with {rc} before 'KEEL-TEST: bench done'"
    elif len(r["values"]) < len(METRICS):
        r["error"] = "missing figures"
    if r["error"] and kind == "keel":
        m = re.search(r"PANIC.*|Kernel panic.*|sdhci: no SD.*", text)
        if m:
            r["error"] += "; " + m.group(0).strip()
    return r


def medians(boots):
    """Median per metric over the boots that finished (None when none did)."""
    good = [b for b in boots if not b["error"]]
    if not good:
        return None
    return {k: statistics.median(b["values"][k] for b in good) for k, _, _, _ in METRICS}


def fmt(v, unit):
    return f"{v:.2f}" if unit == "MB/s" else f"{v:.0f}"


def summary(res):
    """The table, the ratios against the targets and keel's counters, as lines."""
    lines = [f"{'row':<50}" + "".join(f"{h + ' (' + u + ')':>24}" for _, h, u, _ in METRICS) + f"{'boots':>8}"]
    for key, label in ROWS:
        row = res["rows"].get(key)
        ok = sum(1 for b in row["boots"] if not b["error"]) if row else 0
        if not row or not row["median"]:
            why = "; ".join(b["error"] for b in row["boots"]) if row else "not run"
            lines.append(f"{label:<50}  no figures ({why})")
            continue
        lines.append(f"{label:<50}" + "".join(f"{fmt(row['median'][k], u):>24}" for k, _, u, _ in METRICS)
                     + f"{ok:>5}/{len(row['boots'])}")
    lines.append("")
    nat, kee = res["rows"].get("native-rpi4"), res["rows"].get("keel-rpi4")
    if nat and kee and nat["median"] and kee["median"]:
        lines.append("keel-rpi4 / native-rpi4 (targets: >= 0.95 sequential 1M, >= 0.90 4k QD1):")
        for k, h, _u, target in METRICS:
            b = nat["median"][k]
            ratio = kee["median"][k] / b if b else 0.0
            lines.append(f"  {h:<20} {ratio:6.3f}   target >= {target:.2f}  {'met' if ratio >= target else 'MISSED'}")
    else:
        lines.append("keel-rpi4 / native-rpi4: n/a (a row has no figures)")
    lines.append("")
    lines.append("per-boot values (boot order alternates native, keel):")
    for key, _label in ROWS:
        row = res["rows"].get(key)
        if not row:
            continue
        for i, b in enumerate(row["boots"]):
            vals = ", ".join(f"{k} {fmt(b['values'][k], u)}" for k, _, u, _ in METRICS if k in b["values"])
            lines.append(f"  {key} boot {i + 1}: {vals or '-'}" + (f"  [{b['error']}]" if b["error"] else ""))
    if kee:
        lines.append("")
        lines.append("keel counters (last boot that reported them):")
        c = next((b["counters"] for b in reversed(kee["boots"]) if b["counters"]), None)
        if not c:
            lines.append("  (none in the log)")
        else:
            if "bytes_copied" in c:
                lines.append(f"  disk linux/vda: {c['requests']} requests, {c['bytes_read']} bytes read, "
                             f"{c['bytes_written']} bytes written, {c['errors']} errors; bytes copied by keel: "
                             f"{c['bytes_copied']}")
            for name, s in sorted(c.get("sd", {}).items()):
                lines.append(f"  {name}: {s.get('requests', '?')} requests, {s.get('errors', '?')} errors, "
                             f"{s.get('sdma_fallbacks', '?')} SDMA fallbacks, {s.get('data_port', '?')} requests "
                             f"through the data port (no DMA), {s.get('window_refused', '?')} refused outside "
                             "the DMA window")
    return lines


def run_boot(kind, card, log, workdir, mib, ops, timeout):
    if kind == "native":
        cmd = guest_cmdline("ttyS1", mib, ops).format(disk="/dev/mmcblk0")
        argv = native_argv(native_dtb(workdir), card, cmd)
        until = END_RE  # then stop QEMU: Linux halts instead of powering the model off
    else:
        vm = keel_qemu.VmSpec("linux", IMAGE, initrd=INITRD, mem_mib=GUEST_MEM, cpus=1, disks=[{"backend": "sd"}],
                              cmdline=guest_cmdline("ttyAMA0", mib, ops).format(disk="/dev/vda"))
        argv = ["nice", "-n", "10"] + keel_qemu.build(
            [vm], workdir, machine="raspi4b",
            storage_devs=keel_qemu.storage_devices("sd", card, machine="raspi4b"))
        until = None  # keel powers the machine off after the VM's poweroff, after its counters
    with open(log + ".cmd", "w") as f:
        f.write(" ".join(argv) + "\n")
    rc, text = keel_qemu.run(argv, timeout, log, until=until)
    if kind == "native" and re.search(r"KEEL-TEST: bench done", text):
        rc = 0
    return rc, text.replace("\r", "")


def main():
    for f in (IMAGE, INITRD, PI_KEEL):
        if not os.path.exists(f):
            sys.exit(f"bench rpi4: {f} is missing: run `make PLATFORM=rpi4 all guests kit`")
    mib, ops = env_int("BENCH_RPI4_MIB", 4), env_int("BENCH_RPI4_OPS", 200)
    boots = env_int("BENCH_RUNS", 3)
    timeout = int(600 * float(os.environ.get("BENCH_TIMEOUT_SCALE", "") or 1.0))
    os.makedirs(OUT, exist_ok=True)
    started = datetime.datetime.now().astimezone()
    header = [f"keel raspi4b SD benchmark, {started.strftime('%Y-%m-%d %H:%M %Z')}",
              f"host: {os.cpu_count()} cores, load average at start " + " ".join(f"{x:.2f}" for x in os.getloadavg()),
              f"both rows: kit Linux, keel.test=bench, one run per boot, {boots} boots per row (alternating), "
              f"medians over boots; per boot {mib} MiB sequential at 1 MiB and {ops} random 4 KiB ops, QD1, "
              f"O_DIRECT, on a fresh {CARD_MIB} MiB card (-drive if=sd, the Arasan); QEMU -M raspi4b under nice -n 10"]
    print("\n".join(header), flush=True)
    res = {"date": started.isoformat(), "mib": mib, "ops": ops, "boots": boots,
           "rows": {k: {"boots": [], "median": None} for k, _ in ROWS}}
    t_all = time.monotonic()
    for i in range(boots):
        for key, _label in ROWS:
            kind = key.split("-")[0]
            log = os.path.join(OUT, f"rpi4-{key}-{i + 1}.log")
            card = os.path.join(OUT, "rpi4-card.img")
            fresh_card(card)
            print(f"bench rpi4: {key} boot {i + 1}/{boots} (bound {timeout} s) ...", end="", flush=True)
            t0 = time.monotonic()
            with tempfile.TemporaryDirectory() as tmp:
                rc, text = run_boot(kind, card, log, tmp, mib, ops, timeout)
            b = parse_boot(kind, rc, text)
            b["wall_s"] = round(time.monotonic() - t0, 1)
            res["rows"][key]["boots"].append(b)
            os.unlink(card)
            print(f" {b['wall_s']:.1f} s" + (f", {b['error']}" if b["error"] else ""), flush=True)
    for key, _ in ROWS:
        res["rows"][key]["median"] = medians(res["rows"][key]["boots"])
    out = header + [f"total time: {time.monotonic() - t_all:.0f} s", ""] + summary(res) + \
        ["", f"raw logs: {os.path.relpath(OUT, ROOT)}/rpi4-<row>-<boot>.log"]
    print()
    print("\n".join(out))
    with open(os.path.join(OUT, "rpi4.txt"), "w") as f:
        f.write("\n".join(out) + "\n")
    with open(os.path.join(OUT, "rpi4.json"), "w") as f:
        json.dump(res, f, indent=1)
    sys.exit(0 if all(res["rows"][k]["median"] for k, _ in ROWS) else 1)


if __name__ == "__main__":
    main()
