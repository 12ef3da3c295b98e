"""The fio rows of `make bench` (scripts/bench_fio.py): the guest's reading of fio's JSON, the host's
parsing, medians and failures on made-up logs, and one short real run of a keel and a native boot."""
import os
import subprocess

import pytest

from conftest import ROOT, KIT
import bench
import bench_fio

INIT = os.path.join(ROOT, "guests", "linux", "init")

# fio 3.33 --output-format=json, trimmed to the members the guest reads and a few it must not
FIO_JSON = """{
  "fio version" : "fio-3.33",
  "global options" : {
    "filename" : "/dev/vda",
    "iodepth" : "7"
  },
  "jobs" : [
    {
      "jobname" : "randread-4k-qd1",
      "groupid" : 0,
      "error" : 0,
      "job options" : {
        "name" : "randread-4k-qd1",
        "iops" : "99"
      },
      "read" : {
        "io_bytes" : 40960000,
        "bw_bytes" : 8192000,
        "iops" : 2000.500000,
        "slat_ns" : {
          "mean" : 9999.0
        },
        "clat_ns" : {
          "min" : 1,
          "mean" : 456789.5,
          "percentile" : {
            "1.000000" : 100,
            "99.000000" : 987654,
            "99.500000" : 999999
          }
        },
        "lat_ns" : {
          "min" : 2,
          "mean" : 466789.5,
          "percentile" : {
            "1.000000" : 110,
            "99.000000" : 997654,
            "99.500000" : 1000999
          }
        }
      },
      "write" : {
        "bw_bytes" : 0,
        "iops" : 0.000000,
        "clat_ns" : {
          "mean" : 0.0
        },
        "lat_ns" : {
          "mean" : 0.0
        }
      },
      "trim" : {
        "iops" : 77.0,
        "clat_ns" : {
          "mean" : 7777777.0
        }
      },
      "usr_cpu" : 1.234,
      "sys_cpu" : 20.5
    },
    {
      "jobname" : "write-1m-qd32",
      "error" : 0,
      "read" : {
        "bw_bytes" : 0,
        "iops" : 0.000000
      },
      "write" : {
        "bw_bytes" : 314572800,
        "iops" : 300.000000,
        "clat_ns" : {
          "mean" : 106666666.0,
          "percentile" : {
            "99.000000" : 200000000
          }
        },
        "lat_ns" : {
          "mean" : 106676666.0,
          "percentile" : {
            "99.000000" : 200010000
          }
        }
      },
      "usr_cpu" : 2.0,
      "sys_cpu" : 80.0
    }
  ],
  "disk_util" : [
    {
      "name" : "vda",
      "read_ios" : 123,
      "util" : 99.0
    }
  ]
}
"""


def guest_fio_summary(tmp_path):
    """The guest's fio_summary (guests/linux/init, an awk program) run with the host's awk."""
    with open(INIT) as f:
        text = f.read()
    start = text.index("fio_summary() {")
    func = text[start:text.index("\n}\n", start) + 3]
    js = tmp_path / "fio.json"
    js.write_text(FIO_JSON)
    return subprocess.run(["bash", "-c", func + f'\nfio_summary "{js}"'], capture_output=True, text=True,
                          check=True).stdout


def test_guest_prints_one_line_per_job_from_fio_json(tmp_path):
    out = guest_fio_summary(tmp_path)
    assert out.splitlines() == [
        "KEEL-FIO randread-4k-qd1 rd_iops=2000.500000 rd_bw=8192000 rd_lat_us=466.8 rd_p99_us=997.7 "
        "wr_iops=0.000000 wr_bw=0 wr_lat_us=0.0 usr_cpu=1.2 sys_cpu=20.5 err=0",
        "KEEL-FIO write-1m-qd32 rd_iops=0.000000 rd_bw=0 wr_iops=300.000000 wr_bw=314572800 wr_lat_us=106676.7 "
        "wr_p99_us=200010.0 usr_cpu=2.0 sys_cpu=80.0 err=0"]
    # and the host reads what the guest printed
    got = bench_fio.parse_fio("".join("[linux] " + line + "\n" for line in out.splitlines()))
    assert bench_fio.figures(got["randread-4k-qd1"]) == {"iops": 2000.5, "mbs": 8.192, "lat_us": 466.8,
                                                         "p99_us": 997.7}
    assert bench_fio.figures(got["write-1m-qd32"]) == {"iops": 300.0, "mbs": 314.5728, "lat_us": 106676.7,
                                                       "p99_us": 200010.0}


def fio_line(job, iops, side="rd", lat=100.0):
    return f"KEEL-FIO {job} {side}_iops={iops} {side}_bw={iops * 4096} {side}_lat_us={lat} err=0\n"


DONE = "KEEL-TEST: fio done\n"
KEEL_COUNTERS = ("[  9.0] keel: VM linux: 2000 vCPU exits, 0 resets (0 stop requests while stopping); keel time per "
                 "exit 50.5 us, 12% of vCPU time (100 exits timed)\n"
                 "[  9.0] keel: VM linux: exits by kind: 1500 MMIO, 300 interrupt, 100 WFI/WFE, 50 HVC/SMC, "
                 "40 sysreg, 10 other\n"
                 "[  9.0] keel: VM linux: keel time per exit by kind (timed exits): MMIO 12.5 us (90), interrupt "
                 "30.0 us (20), WFI/WFE 0.0 us (0), HVC/SMC 4.2 us (3), sysreg 0.0 us (0), other 0.0 us (0)\n"
                 "[  9.1] keel: VM linux: disk linux/vda: 1000 requests, 4096000 bytes read, 0 bytes written, 1000 "
                 "notify traps, 250 interrupts, 0 errors; bytes copied by keel: 0 (data path: 0); vCPU exits per "
                 "request: 2.00\n"
                 "[  9.1] keel: VM linux: disk linux/vda: data segments: 1300 in 1000 reads and writes; 20 in the "
                 "5 of them over 64 KiB (size_max 256 KiB)\n"
                 "[  9.2] keel: VM linux: disk linux/vda: completion polling (window 500 us): 800 lone requests "
                 "polled, 700 completed in the window, 60 left to the interrupt, 40 given up for a pending "
                 "interrupt; 1000 us polling in all\n"
                 "[  9.3] keel: ufs0: 1006 commands: 1000 reads (4000 KiB), 0 writes (0 KiB), 0 flushes, 0 unmaps; "
                 "0 errors, 0 retries, 0 timeouts, 0 resets, 0 segments refused, 0 split; 300 irqs, 700 polled\n")


@pytest.mark.parametrize("rc, text, err", [
    (0, fio_line("a", 1) + fio_line("b", 2) + DONE, None),
    (0, fio_line("a", 1) + DONE, "no result for b"),
    (0, fio_line("a", 1) + fio_line("b", 2).replace("err=0", "err=5") + DONE, "fio error in b"),
    (0, "KEEL-TEST: FAIL fio exited with 1\n" + DONE, "KEEL-TEST: FAIL fio exited with 1"),
    (None, fio_line("a", 1), "timeout after 77 s"),
    (1, fio_line("a", 1) + fio_line("b", 2), "QEMU exited with 1 before 'KEEL-TEST: fio done'"),
], ids=["ok", "missing-job", "fio-error", "guest-fail", "timeout", "early-exit"])
def test_boot_error(rc, text, err):
    assert bench_fio.boot_error(rc, text, ["a", "b"], 77) == err


def test_run_takes_medians_over_boots_and_reports_failed_ones(monkeypatch, tmp_path):
    monkeypatch.setattr(bench_fio, "BOOTS", 3)
    monkeypatch.setattr(bench_fio, "SMP2", 0)
    monkeypatch.setattr(bench_fio, "JOBS_1", ["randread-4k-qd1", "randread-4k-qd32"])
    monkeypatch.setattr(bench_fio, "fresh_image", lambda path: open(path, "w").close())
    keel_iops = iter([(900, 2000), (1000, 2500), (800, 3000)])
    native_iops = iter([(1000, 4000), (1100, 0), (1200, 5000)])
    calls = []

    def keel(kit, image, log, jobs, cpus, cpu):
        calls.append(("keel", cpus))
        a, b = next(keel_iops)
        marks = ("KEEL-FIO-MARK randread-4k-qd1 [t=9]\n" + counters_at(0, 0, 0, 100, 50)
                 + "KEEL-FIO-MARK randread-4k-qd32 [t=19]\n" + counters_at(400, 400, 100, 900, 700))
        return 0, marks + fio_line("randread-4k-qd1", a) + fio_line("randread-4k-qd32", b) + DONE + KEEL_COUNTERS

    def native(disk, image, log, extra, timeout, smp, mem, initrd):
        calls.append(("native", smp))
        assert disk == "ufs" and mem == 512 and initrd == "initrd" and "keel.test=fio" in extra
        a, b = next(native_iops)
        if not b:  # the second native boot fails: its figures must not count
            return 0, fio_line("randread-4k-qd1", a) + "KEEL-TEST: FAIL fio exited with 1\n"
        return 0, fio_line("randread-4k-qd1", a) + fio_line("randread-4k-qd32", b) + DONE

    monkeypatch.setattr(bench_fio, "run_keel", keel)
    res = bench_fio.run(("image", "initrd"), str(tmp_path), "max", native, lambda s: None)
    assert calls == [("native", 1), ("keel", 1)] * 3  # alternating, native first
    assert res["error"] == "failed boots: native-ufs 1vcpu boot 2"
    qd1, qd32 = res["jobs"]["randread-4k-qd1"], res["jobs"]["randread-4k-qd32"]
    assert qd1["keel-ufs"]["iops"] == {"median": 900, "min": 800, "max": 1000, "n": 3}
    assert qd1["native-ufs"]["iops"] == {"median": 1100, "min": 1000, "max": 1200, "n": 2}
    assert qd32["native-ufs"]["iops"]["median"] == 4500 and qd32["keel-ufs"]["iops"]["median"] == 2500
    assert bench_fio.ratio(res, "randread-4k-qd1") == 900 / 1100
    c = res["boot"][1]["counters"]
    assert c["requests"] == 1000 and c["vcpu_exits"] == 2000 and c["poll_hits"] == 700 and c["interrupts"] == 250
    text = "\n".join(bench_fio.summary(res))
    assert "2.00 vCPU exits, 1.000 notify traps, 0.250 interrupts" in text and "FAILED" in text
    assert c["exit_kinds"] == {"mmio": 1500, "irq": 300, "wfx": 100, "hvc": 50, "sysreg": 40, "other": 10}
    assert "exits per request by kind: 1.50 mmio, 0.30 irq, 0.10 wfx, 0.05 hvc, 0.04 sysreg, 0.01 other" in text
    assert (c["rw_segs"], c["rw_requests"], c["large_segs"], c["large_requests"]) == (1300, 1000, 20, 5)
    assert c["us_per_exit_kind"] == {"mmio": 12.5, "irq": 30.0, "wfx": 0.0, "hvc": 4.2, "sysreg": 0.0, "other": 0.0}
    assert "keel us per exit by kind: mmio 12.5, irq 30.0" in text
    assert "900 (800-1000)" in text and "0.818" in text and "300 irqs, 700 polled" in text
    md = bench_fio.markdown(res)
    assert "| randread-4k-qd1 | 1100 (1000–1200) | 900 (800–1000) | 0.82 | 100 / 100 | 2.00, 1.00, 0.25 |" in md
    # per job: qd32 is the power-off report less the snapshot at its mark (600 requests, 1100 exits)
    assert "| randread-4k-qd32 | 4500 (4000–5000) | 2500 (2000–3000) | 0.56 | 100 / 100 | 1.83, 1.00, 0.25 |" in md
    assert "keel per request (this job): 1.83 (1.83-1.83) vCPU exits, 1.000 (1.000-1.000) notify traps" in text
    assert "0.250 (0.250-0.250) interrupts, 0.000 (0.000-0.000) lock waits of 0.00 (0.00-0.00) us" in text
    assert not os.path.exists(tmp_path / "fio.img")
    if res["plot"].endswith(".png"):
        with open(res["plot"], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def counters_at(req, notify, irqs, exits, mmio, locks=0):
    """keel's `stats` (or power-off) lines with these figures, in the format parse_counters reads."""
    return (f"[  5.0] keel: VM linux: {exits} vCPU exits, 0 resets (0 stop requests while stopping); keel time "
            f"per exit 10.0 us, 5% of vCPU time (9 exits timed)\n"
            f"[  5.0] keel: VM linux: exits by kind: {mmio} MMIO, {exits - mmio} interrupt, 0 WFI/WFE, 0 HVC/SMC, "
            f"0 sysreg, 0 other\n"
            f"[  5.0] keel: VM linux: disk linux/vda: {req} requests, 0 bytes read, 0 bytes written, {notify} "
            f"notify traps, {irqs} interrupts, 0 errors; bytes copied by keel: 0 (data path: 0); vCPU exits per "
            f"request: 1.00\n"
            f"[  5.0] keel: VM linux: disk linux/vda: register traps: 0 reads, {notify} writes (shadow page on); "
            f"{locks} waits for a queue's or the transport's lock, {locks * 3} us in all; "
            f"{locks * 2} notifies left to a running "
            f"queue pass\n")


def test_counters_per_job_are_differences_of_the_snapshots_at_the_marks():
    """The keel console's `stats` at each job's mark, and the power-off report after the last job."""
    import re
    text = ("[linux] KEEL-FIO-MARK randread-4k-qd32 [t=9.1]\n" + "keel: keel console\nkeel> stats linux\n"
            + counters_at(10, 10, 10, 100, 60, locks=1)
            + "[linux] KEEL-FIO-MARK randread-4k-qd32-j2 [t=15.0]\n" + counters_at(110, 60, 70, 400, 200, locks=5)
            + fio_line("randread-4k-qd32", 5) + fio_line("randread-4k-qd32-j2", 6) + DONE
            + counters_at(310, 80, 100, 900, 450, locks=9))
    per = bench_fio.job_counters(text, ["randread-4k-qd32", "randread-4k-qd32-j2"])
    a, b = per["randread-4k-qd32"], per["randread-4k-qd32-j2"]
    assert (a["requests"], a["notify_traps"], a["interrupts"], a["vcpu_exits"]) == (100, 50, 60, 300)
    assert (b["requests"], b["notify_traps"], b["interrupts"], b["vcpu_exits"]) == (200, 20, 30, 500)
    assert a["exit_kinds"]["mmio"] == 140 and b["exit_kinds"]["irq"] == 360 - 110
    assert (a["lock_waits"], b["lock_waits"], b["lock_wait_us"], b["handoffs"]) == (4, 4, 12, 8)
    assert bench_fio.per_request(b) == {"exits": 2.5, "notify": 0.1, "irqs": 0.15, "locks": 0.02, "lock_us": 0.06}
    # a job whose mark never came has no counters (and the others are still right)
    assert bench_fio.job_counters(text, ["randread-4k-qd1", "randread-4k-qd32-j2"]) == {"randread-4k-qd32-j2": b}
    # the host's answers: keel console, stats, back to the guest, its line; one job's mark is not another's
    # with the guest's end mark after the last job, that job ends there, not at power-off (whose report
    # also counts the console exits of the result lines)
    ended = text.replace(DONE, "[linux] KEEL-FIO-MARK end [t=20.0]\n" + counters_at(290, 75, 95, 800, 400, locks=8) + DONE)
    per = bench_fio.job_counters(ended, ["randread-4k-qd32", "randread-4k-qd32-j2"])
    assert per["randread-4k-qd32"] == a
    e = per["randread-4k-qd32-j2"]
    assert (e["requests"], e["notify_traps"], e["interrupts"], e["vcpu_exits"], e["lock_waits"]) == (180, 15, 25, 400, 3)
    assert e["exit_kinds"]["mmio"] == 200
    sends = bench_fio.mark_sends(["randread-4k-qd32", "randread-4k-qd32-j2"])
    assert [t for _r, t in sends] == ["\x1dk", "stats linux\r", "\x1d0", "go\r"] * 3
    assert re.search(sends[8][0], "KEEL-FIO-MARK end [t=20.0]")
    assert re.search(sends[0][0], "KEEL-FIO-MARK randread-4k-qd32-j2 [t=1]") is None


def test_short_real_fio_rows(monkeypatch, tmp_path):
    """One keel and one native boot with three short jobs: the kit's fio runs and both rows report."""
    kit = (os.path.join(KIT, "Image"), os.path.join(KIT, "initramfs-fio.cpio.gz"))
    for f in kit + (os.path.join(ROOT, "build", "qemu-virt", "keel.bin"),):
        if not os.path.exists(f):
            pytest.skip(f"{f} is missing: run `make all guests kit`")
    monkeypatch.setattr(bench_fio, "BOOTS", 1)
    monkeypatch.setattr(bench_fio, "SECS", 1)
    monkeypatch.setattr(bench_fio, "SMP2", 0)
    # 1 MiB writes at QD32 too: their 32 MiB of buffers usually lie partly in huge pages (the guest's
    # THP is "always"), which the guest can merge; a lone 1 MiB buffer may or may not be contiguous.
    monkeypatch.setattr(bench_fio, "JOBS_1", ["randread-4k-qd4", "write-1m-qd1", "write-1m-qd32"])
    res = bench_fio.run(kit, str(tmp_path), "max,sve=off,sme=off", bench.native_boot, print)
    assert res["error"] is None, res
    for row in ("native-ufs", "keel-ufs"):
        for job in ("randread-4k-qd4", "write-1m-qd1", "write-1m-qd32"):
            s = res["jobs"][job][row]
            assert s["iops"]["median"] > 0 and s["lat_us"]["median"] > 0, (row, job, res)
        # 1 MiB writes: MB/s is IOPS in MiB
        w = res["jobs"]["write-1m-qd1"][row]
        assert abs(w["mbs"]["median"] - w["iops"]["median"] * 1.048576) < 0.01 * w["mbs"]["median"]
    c = res["boot"][1]["counters"]
    assert res["boot"][1]["row"] == "keel-ufs" and c["requests"] > 0 and c["bytes_written"] > 0, res
    assert c["lock_waits"] >= 0, c  # keel's report carries the lock waits
    # The guest merged contiguous pages (size_max is the UFS segment size, 256 KiB): its 1 MiB writes
    # came in clearly fewer segments than one per page (a 4 KiB size_max forced exactly 256). How many
    # fewer depends on how contiguous fio's buffers happen to be (huge pages where THP found them).
    assert c["large_requests"] > 0 and c["large_segs"] < 0.9 * 256 * c["large_requests"], c
    # Counters per job, from keel's console at each job's mark: every job has its own, and together
    # they hold nearly all of the boot's requests (the rest: the guest's start before the first job).
    per = res["boot"][1]["job_counters"]
    assert sorted(per) == sorted(["randread-4k-qd4", "write-1m-qd1", "write-1m-qd32"]), per
    assert all(p["requests"] > 0 and p["notify_traps"] > 0 for p in per.values()), per
    assert 0.9 * c["requests"] <= sum(p["requests"] for p in per.values()) <= c["requests"], (per, c)
    assert per["write-1m-qd32"]["large_requests"] > 0 and per["randread-4k-qd4"]["large_requests"] == 0, per
    # the last job ended at the guest's end mark, answered by keel's console like the others
    with open(tmp_path / res["boot"][1]["log"], errors="replace") as f:
        log = f.read()
    assert "KEEL-FIO-MARK end" in log and "KEEL-FIO-MARK end: no line" not in log
    # keel timed some of its MMIO and interrupt exits (one exit in 16 is timed)
    assert c["us_per_exit_kind"]["mmio"] > 0 and c["us_per_exit_kind"]["irq"] > 0, c
    assert not os.path.exists(tmp_path / "fio.img")


def test_summary_judges_the_issue_jobs_and_not_the_plot_depths():
    def row(iops):
        return {"iops": {"median": iops, "min": iops, "max": iops, "n": 1}}

    jobs = {"randread-4k-qd1": (1000, 990), "read-1m-qd32": (1000, 700), "randread-4k-qd4": (1000, 700)}
    res = {"boots": 1, "secs": 3, "guest_mem_mib": 512, "boot": [], "plot": "no plot", "error": None,
           "jobs": {j: {"native-ufs": row(n), "keel-ufs": row(k)} for j, (n, k) in jobs.items()}}
    lines = {ln.split()[0]: ln for ln in bench_fio.summary(res) if ln.split() and ln.split()[0] in jobs}
    assert lines["randread-4k-qd1"].rstrip().endswith("met")
    assert lines["read-1m-qd32"].rstrip().endswith("below")
    assert lines["randread-4k-qd4"].rstrip().endswith("(plot depth)") and "0.700" in lines["randread-4k-qd4"]
