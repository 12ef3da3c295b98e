#!/usr/bin/python3
"""Instructions per request, keel against native, counted by QEMU (scripts/insn_plugin.c).

  scripts/insn_prof.py [JOB ...]      (default: randread-4k-qd1 read-1m-qd32; fio jobs of bench_fio.py)

For each job, four boots of the kit's Linux running fio alone on a fresh UFS image, each under the
plugin: keel (one 1-vCPU VM, virtio-blk on UFS) and native (Linux driving QEMU's UFS), each with a short
and a long run of the job. Boot and start-up are the same in both runs, so the long run's counts less
the short run's, over its extra requests (fio's IOPS x runtime), are per request of the job alone:
  - the guest's instructions per request, under keel and natively;
  - keel's own instructions per request (blocks that start in keel's text), and the keel functions
    they are in (symbols from build/qemu-virt/keel.elf).
Instruction counts do not depend on what else the host is doing, unlike IOPS: they tell whether keel
adds work per request, or the guest does more, as opposed to QEMU running the same work slower.
The plugin slows QEMU down, so the IOPS printed beside are not the bench's.
Results: build/bench/insn.md (and insn-*.log, insn-*.out). INSN_SECS=short,long (default 3,9).
"""
import bisect
import collections
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import bench_common  # noqa: E402
import bench_fio  # noqa: E402
import keel_qemu  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGIN = os.path.join(ROOT, "build", "host", "insn_plugin.so")
ELF = os.path.join(ROOT, "build", "qemu-virt", "keel.elf")
OUT = os.path.join(ROOT, "build", "bench")
DEFAULT_JOBS = ["randread-4k-qd1", "read-1m-qd32"]


def keel_text(elf):
    """(lo, hi) of keel's executable segment."""
    out = subprocess.run(["readelf", "-lW", elf], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        p = line.split()
        if p and p[0] == "LOAD" and "E" in p[6:-1]:
            vaddr, memsz = int(p[2], 16), int(p[5], 16)
            return vaddr, vaddr + memsz
    raise RuntimeError(f"{elf}: no executable LOAD segment")


def parse_counts(text):
    """The plugin's file: (other instructions, [(block start, instructions, runs)])."""
    other, blocks = 0, []
    for line in text.splitlines():
        p = line.split()
        if len(p) == 2 and p[0] == "other":
            other = int(p[1])
        elif len(p) == 3:
            blocks.append((int(p[0], 16), int(p[1]), int(p[2])))
    return other, blocks


def functions(elf):
    """Sorted [(address, name)] of keel's code symbols."""
    out = subprocess.run(["nm", "-n", elf], capture_output=True, text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in "tTwW" and not p[2].startswith("$"):
            syms.append((int(p[0], 16), p[2]))
    return syms


def by_function(blocks, syms):
    """Counter {function: instructions} of keel blocks (a block lies within one function)."""
    addrs = [a for a, _ in syms]
    c = collections.Counter()
    for start, n, runs in blocks:
        i = bisect.bisect_right(addrs, start) - 1
        c[syms[i][1] if i >= 0 else "?"] += n * runs
    return c


def per_request(short, long, syms):
    """short, long: {"counts": (other, blocks), "requests": n}. The long run less the short one."""
    dreq = long["requests"] - short["requests"]
    if dreq <= 0:
        return None
    guest = (long["counts"][0] - short["counts"][0]) / dreq
    f = by_function(long["counts"][1], syms)
    f.subtract(by_function(short["counts"][1], syms))
    keel = sum(f.values()) / dreq
    return {"guest": guest, "keel": keel, "requests": dreq,
            "functions": [(name, v / dreq) for name, v in f.most_common(12) if v > 0]}


def requests_of(text, job, secs):
    """The job's requests: fio's IOPS (read + write) x its runtime."""
    v = bench_fio.parse_fio(text).get(job)
    if not v:
        return None
    return (v.get("rd_iops", 0) + v.get("wr_iops", 0)) * secs


def boot(side, job, secs, lo_hi, image):
    bench_fio.SECS = secs
    tag = f"insn-{side}-{job}-{secs}s"
    log, counts = os.path.join(OUT, tag + ".log"), os.path.join(OUT, tag + ".out")
    if os.path.exists(counts):
        os.unlink(counts)
    lo, hi = lo_hi if side == "keel" else (0, 0)
    plugin = ["-plugin", f"{PLUGIN},lo={lo:#x},hi={hi:#x},out={counts}"]
    bench_fio.fresh_image(image)
    timeout = bench_fio.timeout_for([job]) * 2  # the plugin slows QEMU down
    if side == "keel":
        vm = keel_qemu.VmSpec("linux", bench.IMAGE, initrd=bench.INITRD_FIO,
                              cmdline=bench_fio.cmdline("/dev/vda", [job]), mem_mib=bench_fio.GUEST_MEM,
                              cpus=1, disks=[{"backend": "ufs"}])
        rc, text = bench_common.run_keel([vm], log, timeout, bench.CPU,
                                         bench_common.storage_devs("ufs", image) + plugin)
    else:
        rc, text = bench.native_boot("ufs", image, log, bench_fio.cmdline("/dev/sda", [job]).split()[1:], timeout,
                                     1, bench_fio.GUEST_MEM, bench.INITRD_FIO, qemu_args=" ".join(plugin))
    err = bench_fio.boot_error(rc, text, [job], timeout)
    if err or not os.path.exists(counts):
        raise RuntimeError(f"{tag}: {err or 'the plugin wrote no counts'} (see {log})")
    with open(counts) as f:
        return {"counts": parse_counts(f.read()), "requests": requests_of(text, job, secs),
                "iops": requests_of(text, job, 1)}


def markdown(results):
    lines = ["| fio job | guest instructions per request, native | under keel | keel / native | "
             "keel's own per request | IOPS native / keel (under the plugin) |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for job, r in results.items():
        n, k = r["native"], r["keel"]
        lines.append(f"| {job} | {n['guest']:.0f} | {k['guest']:.0f} | {k['guest'] / n['guest']:.3f} | "
                     f"{k['keel']:.0f} | {r['iops']['native']:.0f} / {r['iops']['keel']:.0f} |")
    for job, r in results.items():
        lines.append("")
        lines.append(f"keel's instructions per request in {job}, by function: " + ", ".join(
            f"{name} {v:.0f}" for name, v in r["keel"]["functions"]))
    return lines


def main(argv):
    jobs = argv or DEFAULT_JOBS
    short, long = (int(x) for x in os.environ.get("INSN_SECS", "3,9").split(","))
    subprocess.run(["make", "-s", "-C", ROOT, "build/host/insn_plugin.so"], check=True)
    os.makedirs(OUT, exist_ok=True)
    lo_hi = keel_text(ELF)
    syms = functions(ELF)
    image = os.path.join(OUT, "insn.img")
    results = {}
    try:
        for job in jobs:
            runs = {(side, s): boot(side, job, s, lo_hi, image) for side in ("native", "keel") for s in (short, long)}
            results[job] = {side: per_request(runs[(side, short)], runs[(side, long)], syms)
                            for side in ("native", "keel")}
            results[job]["iops"] = {side: runs[(side, long)]["iops"] for side in ("native", "keel")}
            print(f"insn: {job}: guest {results[job]['native']['guest']:.0f} (native) / "
                  f"{results[job]['keel']['guest']:.0f} (keel) instructions per request, keel's own "
                  f"{results[job]['keel']['keel']:.0f}", flush=True)
    finally:
        if os.path.exists(image):
            os.unlink(image)
    md = markdown(results)
    with open(os.path.join(OUT, "insn.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main(sys.argv[1:])
