#!/usr/bin/python3
"""The noisy-neighbour row of `make bench` (scripts/bench.py): is a quiet VM's storage isolated from a
busy neighbour on the same UFS disk?

One UFS LU (QEMU `ufs` + `ufs-lu`, 4096-byte blocks) with a GPT of two partitions, vm-a and vm-b; two
Linux VMs from the kit under keel, 1 vCPU each on its own physical CPU (QEMU -smp 2), each given one
partition as its virtio-blk disk (the guests' `keel.test=noisy`, guests/linux/init). Two boots:

  alone      A (vm@1) boots and idles; once it is idle, B (vm@0) does BENCH_NOISY_OPS 4 KiB QD1 O_DIRECT
             random reads
  neighbour  A runs 4 KiB QD32 random reads (Linux AIO) for BENCH_NOISY_SECS seconds; once A's load has
             started, the host types "go" on keel's console (input reaches vm@0 only) and B does the
             same QD1 reads as in the alone boot (for at most BENCH_NOISY_SECS - 18 s)

  native     the reference without keel (when the caller passes a native runner): the same Linux on QEMU
             alone (-smp 2, 2 x GUEST_MEM) drives the UFS LU itself; its QD1 reads on vm-b (CPU 0) alone,
             then beside the QD32 load on vm-a (CPU 1). What the emulated machine itself keeps for a QD1
             reader beside such a load, with no hypervisor at all: the bound under which keel's ratio sits.

B times every read (kbench's timed form). The row reports B's IOPS and p50/p99 latency in both boots,
the ratios (neighbour / alone), A's IOPS and latency, and the verdict against the target: B keeps
>= 0.5 of its alone IOPS and its p99 stays <= 3x alone. The overlap is checked from the console order:
B's measurement must start after A's load started and end before A's load ended, else the row is
reported as not measured. B is vm@0, whose vCPU runs on the boot CPU (where keel routes the storage
interrupts today): the realistic victim.

Environment: BENCH_NOISY_PAIRS (3), BENCH_NOISY_OPS (5000), BENCH_NOISY_SECS (30), BENCH_NOISY_QD (32), BENCH_NOISY_B_POLL_US (B's disk
io-poll-us; default keel's own), BENCH_NOISY_A_CPUS (1; A's vCPUs, each on its own physical CPU); BENCH_TIMEOUT_SCALE.
"""
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_common  # noqa: E402
import keel_qemu  # noqa: E402
import mkgpt  # noqa: E402

DISK_MIB = 256
BLOCK = 4096
GUEST_MEM = 256
TARGET_IOPS = 0.5  # B keeps at least this share of its alone IOPS
TARGET_P99 = 3.0  # B's p99 at most this multiple of its alone p99


OPS = bench_common.env_int("BENCH_NOISY_OPS", 5000)
SECS = bench_common.env_int("BENCH_NOISY_SECS", 30)
QD = bench_common.env_int("BENCH_NOISY_QD", 32)
PAIRS = bench_common.env_int("BENCH_NOISY_PAIRS", 3)  # boot pairs (and native runs); the row takes medians
B_POLL_US = bench_common.env_int("BENCH_NOISY_B_POLL_US", -1)  # B's disk io-poll-us; -1: keel's default
A_CPUS = bench_common.env_int("BENCH_NOISY_A_CPUS", 1)  # A's vCPUs (2: its disk offers 2 queues, F_MQ)
TSCALE = bench_common.timeout_scale()
# A VM's lines carry its name under keel ("[b] KEEL-BENCH ..."); the native reference's carry none.
LINE_RE = re.compile(r"^(?:\[(\w+)\] )?KEEL-BENCH (noisy_\w+) ([0-9.]+) (\S+)", re.M)


def make_disk(path):
    """GPT (4096-byte LBAs) with vm-a and vm-b, the partitions written out with zeros (no sparse holes,
    as the other rows' images), returns {name: (offset, size)}."""
    if os.path.exists(path):
        os.unlink(path)
    layout = mkgpt.build(path, DISK_MIB, BLOCK, [("vm-a", DISK_MIB // 2 - 1), ("vm-b", 0)])
    chunk = b"\0" * (1 << 20)
    with open(path, "r+b") as f:
        for _name, off, size in layout:
            f.seek(off)
            for _ in range(size // len(chunk)):
                f.write(chunk)
            f.write(b"\0" * (size % len(chunk)))
        f.flush()
        os.fsync(f.fileno())
    return {name: (off, size) for name, off, size in layout}


def b_cap(secs):
    """B's time cap: A's load keeps running around B's whole measurement. The margin covers the two
    guests' boot skew and the "go" line's trip to B (up to ~4 s seen with A loaded, host load 8)."""
    return max(3, secs - 18)


def vms(image_kit, initrd_kit, neighbour, ops, secs, qd):
    common = "console=ttyAMA0 keel.disk=/dev/vda keel.test=noisy"
    b = keel_qemu.VmSpec("b", image_kit, initrd=initrd_kit, mem_mib=GUEST_MEM, cpus=1,
                         cmdline=f"{common} keel.noisy.role=measure keel.noisy.ops={ops} keel.noisy.secs={b_cap(secs)}",
                         disks=[{"backend": "ufs", "partition": "vm-b",
                                 "io_poll_us": B_POLL_US if B_POLL_US >= 0 else None}])
    a_role = f"keel.noisy.role=load keel.noisy.qd={qd} keel.noisy.secs={secs}" if neighbour \
        else f"keel.noisy.role=idle keel.noisy.secs={secs + 60}"
    a = keel_qemu.VmSpec("a", image_kit, initrd=initrd_kit, mem_mib=GUEST_MEM, cpus=A_CPUS,
                         cmdline=f"{common} {a_role}", disks=[{"backend": "ufs", "partition": "vm-a"}])
    return [b, a]  # B is vm@0: the VM that gets console input (the "go" line)


def boot(kit, image, log_path, neighbour, cpu, ops, secs, qd):
    image_kit, initrd_kit = kit
    devs = bench_common.storage_devs("ufs", image)
    if neighbour:
        go_when = r"(?sm)\A(?=.*^\[b\] KEEL-TEST: noisy ready)(?=.*^\[a\] KEEL-TEST: noisy start load)"
        # both VMs power off when done; keel then prints its per-VM counters and QEMU exits
        until = None
        timeout = (90 + secs * 2) * TSCALE
    else:
        # A booted and idle (its kernel boot would otherwise compete for the host's CPUs)
        go_when = r"(?sm)\A(?=.*^\[b\] KEEL-TEST: noisy ready)(?=.*^\[a\] KEEL-TEST: noisy start idle)"
        until = r"(?m)^\[b\] KEEL-TEST: noisy done"  # A idles on: stop QEMU once B is done
        timeout = (90 + b_cap(secs)) * TSCALE
    rc, text = bench_common.run_keel(vms(image_kit, initrd_kit, neighbour, ops, secs, qd), log_path, timeout, cpu,
                                     devs, until=until, send=[(go_when, "go\r")])
    return rc, text, timeout


def native_boot_run(native_boot, image, log_path, ops, secs, qd):
    """The native reference boot; returns {"alone": {...}, "beside": {...}, "load": {...}, "error": ...}."""
    extra = ["keel.disk=/dev/sda2", "keel.test=noisy", "keel.noisy.role=native", "keel.noisy.load_disk=/dev/sda1",
             f"keel.noisy.ops={ops}", f"keel.noisy.secs={secs}", f"keel.noisy.qd={qd}"]
    timeout = (120 + secs * 2) * TSCALE
    rc, text = native_boot("ufs", image, log_path, extra, timeout, smp=2, mem_mib=2 * GUEST_MEM)
    r = {"rc": rc, "error": None}
    for part in ("alone", "beside", "load"):
        r[part] = bench_values(text, None, f"noisy_native_{part}")
    fail = re.search(r"^KEEL-TEST: FAIL.*|Kernel panic.*", text, re.M)
    if fail:
        r["error"] = fail.group(0).strip()
    elif any(k not in r[p] for p in ("alone", "beside", "load") for k in ("iops", "p50", "p99")):
        r["error"] = "no result" + why_none(rc, timeout)
    else:
        b = pos(text, r"^KEEL-BENCH noisy_native_beside ")
        a = pos(text, r"^KEEL-BENCH noisy_native_load ")
        if b is None or a is None or b > a:
            r["error"] = "the QD1 reads did not end inside the load (console order)"
    if not r["error"]:
        r["iops_ratio"], r["p99_ratio"] = ratios(r["alone"], r["beside"])
    return r


def bench_values(text, vm, name):
    """kbench's figures for name from vm's lines (vm None: the lines without a VM name)."""
    return {m.group(2)[len(name):].lstrip("_") or "iops": float(m.group(3))
            for m in LINE_RE.finditer(text) if m.group(1) == vm and m.group(2).startswith(name)}


def why_none(rc, timeout):
    """How a boot that reported no result ended."""
    return f" (QEMU exit {rc})" if rc is not None else f" (stopped after {timeout:.0f} s)"


def ratios(alone, beside):
    """IOPS and p99 of the QD1 reads beside the load, each over its value alone."""
    return (beside["iops"] / alone["iops"] if alone["iops"] else 0.0,
            beside["p99"] / alone["p99"] if alone["p99"] else float("inf"))


def pos(text, pattern):
    m = re.search(pattern, text, re.M)
    return m.start() if m else None


def parse_boot(rc, text, timeout, neighbour):
    r = {"rc": rc, "b": bench_values(text, "b", "noisy_measure"), "error": None}
    if neighbour:
        r["a"] = bench_values(text, "a", "noisy_load")
    fail = re.search(r"^\[\w\] KEEL-TEST: FAIL.*", text, re.M)
    panic = re.search(r"PANIC.*|Kernel panic.*", text)
    need = ["iops", "p50", "p99"]
    if fail or panic:
        r["error"] = (fail or panic).group(0).strip()
    elif any(k not in r["b"] for k in need):
        r["error"] = "B reported no result" + why_none(rc, timeout)
    elif neighbour and any(k not in r["a"] for k in need):
        r["error"] = "A reported no result" + why_none(rc, timeout)
    if neighbour and not r["error"]:
        a0 = pos(text, r"^\[a\] KEEL-TEST: noisy start load")
        b0 = pos(text, r"^\[b\] KEEL-TEST: noisy start measure")
        b1 = pos(text, r"^\[b\] KEEL-BENCH noisy_measure ")
        a1 = pos(text, r"^\[a\] KEEL-BENCH noisy_load ")
        r["overlap"] = None not in (a0, b0, b1, a1) and a0 < b0 and b1 < a1
        if not r["overlap"]:
            r["error"] = "B's measurement did not run entirely inside A's load (console order)"
    m = re.search(r"disk b/vda: (\d+) requests.*", text)
    r["b_disk_line"] = m.group(0).strip() if m else None
    m = re.search(r"disk a/vda: (\d+) requests.*", text)
    r["a_disk_line"] = m.group(0).strip() if m else None
    for vm in ("b", "a"):  # each disk's time at the controller, from admission to completion (blk_share)
        m = re.search(rf"ufs\d+:vm-{vm}: at ufs\d+: .*", text)
        r[f"{vm}_ctl_line"] = m.group(0).strip() if m else None
    ufs = re.findall(r"ufs\d+: \d+ commands: .*", text)
    r["ufs_line"] = ufs[-1].strip() if ufs else None  # the controller's totals when the last VM stopped
    return r


def median_by(runs, key):
    """The run whose key is the median (the lower middle one for an even count)."""
    ranked = sorted(runs, key=lambda r: r[key])
    return ranked[(len(ranked) - 1) // 2]


def run(kit, outdir, cpu, say, ops=OPS, secs=SECS, qd=QD, native_boot=None, pairs=PAIRS):
    """pairs x (the alone and the neighbour boot, then the native reference when native_boot is given,
    scripts/bench.py's runner). B's rate varies between boots (completion polling), so one pair is not
    a measurement: the row's ratios are the medians of the pairs' ratios, and the pair (and native run)
    with the median IOPS ratio is the one shown in detail. Returns the result dict (error set when the
    keel row could not be measured)."""
    image = os.path.join(outdir, "noisy.img")
    res = {"config": "noisy", "ops": ops, "load_secs": secs, "b_cap_secs": b_cap(secs), "qd": qd, "error": None,
           "pairs": [], "native_runs": []}
    try:
        for p in range(1, pairs + 1):
            pair = {}
            res["layout"] = make_disk(image)
            for phase, neighbour in (("alone", False), ("neighbour", True)):
                # A neighbour boot whose measurement fell outside A's load (a slow host) is run once more.
                for attempt in (1, 2) if neighbour else (1,):
                    log = os.path.join(outdir, f"noisy-{phase}-{p}.log")
                    say(f"bench: noisy: pair {p}/{pairs}: {phase}" + (f" (attempt {attempt})" if attempt > 1 else "")
                        + " ...")
                    load0 = os.getloadavg()[0]
                    rc, text, timeout = boot(kit, image, log, neighbour, cpu, ops, secs, qd)
                    pair[phase] = parse_boot(rc, text, timeout, neighbour)
                    pair[phase]["host_load"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
                    pair[phase]["attempt"] = attempt
                    if pair[phase].get("overlap", True):
                        break
                if pair[phase]["error"]:
                    res["error"] = f"pair {p}: {phase}: {pair[phase]['error']}"
                    res.update(pair)
                    return res
            verdict(pair)
            pair["pair"] = p
            res["pairs"].append(pair)
            if native_boot is not None:
                make_disk(image)  # fresh, as the keel boots had it
                say(f"bench: noisy: pair {p}/{pairs}: native reference ...")
                res["native_runs"].append(native_boot_run(native_boot, image,
                                                          os.path.join(outdir, f"noisy-native-{p}.log"), ops, secs, qd))
    finally:
        if os.path.exists(image):
            os.unlink(image)
    mid = median_by(res["pairs"], "iops_ratio")
    res["alone"], res["neighbour"], res["median_pair"] = mid["alone"], mid["neighbour"], mid["pair"]
    verdict(res)
    good = [n for n in res["native_runs"] if not n["error"]]
    if good:
        res["native"] = dict(median_by(good, "iops_ratio"))
        res["native"]["iops_ratio"] = statistics.median(n["iops_ratio"] for n in good)
        res["native"]["p99_ratio"] = statistics.median(n["p99_ratio"] for n in good)
    elif res["native_runs"]:
        res["native"] = res["native_runs"][-1]
    return res


def verdict(res):
    """The ratios (B beside the neighbour / B alone; over several pairs, the medians of the pairs'
    ratios) and whether the target is met."""
    if res.get("pairs"):
        res["iops_ratio"] = statistics.median(p["iops_ratio"] for p in res["pairs"])
        res["p99_ratio"] = statistics.median(p["p99_ratio"] for p in res["pairs"])
    else:
        res["iops_ratio"], res["p99_ratio"] = ratios(res["alone"]["b"], res["neighbour"]["b"])
    res["met"] = res["iops_ratio"] >= TARGET_IOPS and res["p99_ratio"] <= TARGET_P99


def summary(res):
    """Lines for summary.txt."""
    head = (f"Noisy neighbour (UFS, two GPT partitions of one LU; B: {res['ops']} 4k QD1 random reads, at most "
            f"{res['b_cap_secs']} s; A: 4k QD{res['qd']} random reads for {res['load_secs']} s):")
    if res["error"]:
        return [head, f"  FAILED: {res['error']}"]
    a, b0, b1 = res["neighbour"]["a"], res["alone"]["b"], res["neighbour"]["b"]
    lines = [head,
             f"  {'':<34}{'IOPS':>9}{'p50 us':>10}{'p99 us':>10}{'max us':>10}{'ops':>8}{'secs':>7}"]
    for label, v in (("B alone (A idle)", b0), ("B beside A's QD" + str(res["qd"]) + " load", b1),
                     (f"A (QD{res['qd']}, while B ran and after)", a)):
        lines.append(f"  {label:<34}{v['iops']:>9.0f}{v['p50']:>10.1f}{v['p99']:>10.1f}"
                     f"{v.get('max', 0):>10.1f}{v.get('ios', 0):>8.0f}{v.get('secs', 0):>7.1f}")
    verdict = "met" if res["met"] else "MISSED"
    pairs = res.get("pairs", [])
    if len(pairs) > 1:
        lines[1:1] = [f"  (the pair with the median IOPS ratio, {res['median_pair']} of {len(pairs)}; each pair: "
                      + "; ".join(f"B alone {p['alone']['b']['iops']:.0f}, beside {p['neighbour']['b']['iops']:.0f}, "
                                  f"ratio {p['iops_ratio']:.2f} / {p['p99_ratio']:.2f}x" for p in pairs) + ")"]
    lines.append(f"  B with neighbour / alone{' (medians of the pairs)' if len(pairs) > 1 else ''}: "
                 f"IOPS {res['iops_ratio']:.3f} (target >= {TARGET_IOPS}), "
                 f"p99 {res['p99_ratio']:.2f}x (target <= {TARGET_P99:g}x): {verdict}")
    lines.append("  host load average (1 min) before/after each boot: "
                 + "; ".join(f"{p} {res[p]['host_load'][0]:.2f}/{res[p]['host_load'][1]:.2f}"
                             for p in ("alone", "neighbour") if "host_load" in res[p])
                 + f" ({os.cpu_count()} host cores; the figure after includes this QEMU)")
    n = res.get("native")
    if n and n["error"]:
        lines.append(f"  native reference (no keel: one Linux, -smp 2, both partitions): FAILED: {n['error']}")
    elif n:
        lines.append("  native reference (no keel: one Linux on QEMU, -smp 2, drives both partitions itself):")
        for label, v in (("QD1 reads alone", n["alone"]), (f"QD1 reads beside QD{res['qd']} load", n["beside"]),
                         (f"the QD{res['qd']} load", n["load"])):
            lines.append(f"  {label:<34}{v['iops']:>9.0f}{v['p50']:>10.1f}{v['p99']:>10.1f}"
                         f"{v.get('max', 0):>10.1f}{v.get('ios', 0):>8.0f}{v.get('secs', 0):>7.1f}")
        runs = [r for r in res.get("native_runs", []) if not r["error"]]
        each = "; ".join(f"{r['alone']['iops']:.0f} -> {r['beside']['iops']:.0f}" for r in runs)
        lines.append(f"  native beside / alone{' (medians of ' + str(len(runs)) + ' runs: ' + each + ')' if len(runs) > 1 else ''}: "
                     f"IOPS {n['iops_ratio']:.3f}, p99 {n['p99_ratio']:.2f}x "
                     f"(keel: IOPS {res['iops_ratio']:.3f}, p99 {res['p99_ratio']:.2f}x)")
    if res["neighbour"].get("attempt", 1) > 1:
        lines.append("  the first neighbour boot was discarded: B's measurement fell outside A's load")
    for phase in ("alone", "neighbour"):
        for key in ("b_disk_line", "a_disk_line", "b_ctl_line", "a_ctl_line", "ufs_line"):
            line = res[phase].get(key)
            if line:
                lines.append(f"  {phase}: {line}")
    return lines
