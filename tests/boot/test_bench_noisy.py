"""The noisy-neighbour bench row (scripts/bench_noisy.py): its console parsing and verdict on made-up logs,
and one short real run of both boots (two Linux VMs on two GPT partitions of one UFS disk)."""
import os

import pytest

from conftest import ROOT, KIT
import bench_noisy


def bench_lines(vm, name, iops, p50, p99):
    return (f"[{vm}] KEEL-BENCH {name} {iops} IOPS\n[{vm}] KEEL-BENCH {name}_p50 {p50} us\n"
            f"[{vm}] KEEL-BENCH {name}_p99 {p99} us\n[{vm}] KEEL-BENCH {name}_max 9000.0 us\n"
            f"[{vm}] KEEL-BENCH {name}_ios 3000 ops\n[{vm}] KEEL-BENCH {name}_secs 1.5 s\n")


A_START = "[a] KEEL-TEST: noisy start load\n"
B_START = "[b] KEEL-TEST: noisy start measure (go: go)\n"


def test_parse_overlapping_boot():
    text = (A_START + "[   3.0] keel: something\n" + B_START + bench_lines("b", "noisy_measure", 800, 806.1, 6561.9)
            + bench_lines("a", "noisy_load", 10337, 2503.9, 9122.8))
    r = bench_noisy.parse_boot(0, text, 100, neighbour=True)
    assert r["error"] is None and r["overlap"]
    assert r["b"] == {"iops": 800, "p50": 806.1, "p99": 6561.9, "max": 9000.0, "ios": 3000, "secs": 1.5}
    assert r["a"]["iops"] == 10337 and r["a"]["p99"] == 9122.8
    assert r["b_ctl_line"] is None  # no keel counters in this log


def test_parse_keeps_each_disks_time_at_the_controller():
    ctl = ("[  40.1] keel: ufs0:vm-b: at ufs0: 5001 requests, 812 us on average from admission to completion, "
           "9001 us at most\n[  40.2] keel: ufs0:vm-a: at ufs0: 99 requests, 1500 us on average from admission "
           "to completion, 20000 us at most\n")
    text = (A_START + B_START + bench_lines("b", "noisy_measure", 800, 806.1, 6561.9)
            + bench_lines("a", "noisy_load", 10337, 2503.9, 9122.8) + ctl)
    r = bench_noisy.parse_boot(0, text, 100, neighbour=True)
    assert r["b_ctl_line"].startswith("ufs0:vm-b: at ufs0: 5001 requests, 812 us on average")
    assert r["a_ctl_line"].startswith("ufs0:vm-a: at ufs0: 99 requests, 1500 us")


@pytest.mark.parametrize("text", [
    # B started before A's load
    B_START + A_START + bench_lines("b", "noisy_measure", 800, 1, 2) + bench_lines("a", "noisy_load", 9, 1, 2),
    # B finished after A's load had ended
    A_START + B_START + bench_lines("a", "noisy_load", 9, 1, 2) + bench_lines("b", "noisy_measure", 800, 1, 2),
], ids=["b-starts-first", "b-ends-last"])
def test_parse_refuses_a_measurement_outside_the_load(text):
    r = bench_noisy.parse_boot(0, text, 100, neighbour=True)
    assert not r["overlap"] and "did not run entirely inside" in r["error"]


def test_parse_reports_missing_results_and_guest_failures():
    r = bench_noisy.parse_boot(None, A_START + B_START, 77, neighbour=True)
    assert r["error"] == "B reported no result (stopped after 77 s)"
    r = bench_noisy.parse_boot(0, "[b] KEEL-TEST: FAIL noisy: measure on /dev/vda\n", 77, neighbour=False)
    assert r["error"] == "[b] KEEL-TEST: FAIL noisy: measure on /dev/vda"
    # A's numbers are not B's
    r = bench_noisy.parse_boot(0, bench_lines("a", "noisy_measure", 1, 2, 3), 77, neighbour=False)
    assert r["error"].startswith("B reported no result")


@pytest.mark.parametrize("iops, p99, met", [(1000, 2999, True), (1000, 3001, False), (999, 100, False)])
def test_verdict_uses_both_targets(iops, p99, met):
    res = {"alone": {"b": {"iops": 2000, "p99": 1000}}, "neighbour": {"b": {"iops": iops, "p99": p99}}}
    bench_noisy.verdict(res)
    assert res["met"] is met and res["iops_ratio"] == iops / 2000 and res["p99_ratio"] == p99 / 1000


def test_short_noisy_row_runs_both_boots_overlapping(tmp_path):
    kit = (os.path.join(KIT, "Image"), os.path.join(KIT, "initramfs.cpio.gz"))
    for f in kit + (os.path.join(ROOT, "build", "qemu-virt", "keel.bin"),):
        if not os.path.exists(f):
            pytest.skip(f"{f} is missing: run `make all guests kit`")
    # A runs 30 s, so B's cap is 12 s: this checks the script and the overlap, not B's rate (the bench
    # row's target is judged by `make bench`, not here).
    res = bench_noisy.run(kit, str(tmp_path), "max,sve=off,sme=off", print, ops=400, secs=30, qd=32, pairs=1)
    assert res["error"] is None, res
    for phase in ("alone", "neighbour"):
        b = res[phase]["b"]
        assert b["ios"] == 400 and 0 < b["p50"] <= b["p99"] <= b["max"], res
    assert res["neighbour"]["overlap"]
    # keel's own count of B's requests (the neighbour boot ends cleanly; the alone one is stopped)
    assert int(res["neighbour"]["b_disk_line"].split()[2]) >= 400, res
    a = res["neighbour"]["a"]
    # QD32 keeps more than one request in flight: A's requests outnumber B's by far in its 30 s
    assert a["ios"] > 4 * 400 and a["secs"] >= 30 and a["p50"] <= a["p99"] <= a["max"], res
    # Little's law: the per-request times agree with the rates (mean latency = QD / IOPS); a latency
    # taken per batch or per run instead of per request would be far off
    # Beside B, A is held at the controller's share depth, so its latencies are skewed (requests wait
    # refused, then go quickly): the median sits below the mean Little's law gives, which in turn
    # cannot exceed the slowest request.
    mean_s = 32 / a["iops"]
    assert a["p50"] * 1e-6 < 3 * mean_s <= 3 * a["max"] * 1e-6 * 1.5, res
    for phase in ("alone", "neighbour"):
        b = res[phase]["b"]
        assert 0.1 < b["p50"] * 1e-6 * b["iops"] < 1.5, res
    assert "ufs0:" in res["neighbour"]["ufs_line"] and " 0 errors" in res["neighbour"]["ufs_line"], res
    assert not os.path.exists(tmp_path / "noisy.img")
    assert "met" in res and res["iops_ratio"] > 0


def fake_boots(monkeypatch, texts):
    """bench_noisy.run with canned console texts instead of QEMU, in order."""
    calls = []

    def boot(kit, image, log, neighbour, *args):
        calls.append(neighbour)
        return 0, texts[len(calls) - 1], 100

    monkeypatch.setattr(bench_noisy, "boot", boot)
    monkeypatch.setattr(bench_noisy, "make_disk", lambda path: open(path, "w").close())
    return calls


ALONE = B_START + bench_lines("b", "noisy_measure", 2000, 400.0, 800.0)
INSIDE = A_START + B_START + bench_lines("b", "noisy_measure", 1200, 500.0, 1600.0) \
    + bench_lines("a", "noisy_load", 9000, 3000.0, 9000.0)
OUTSIDE = B_START + A_START + bench_lines("b", "noisy_measure", 1200, 500.0, 1600.0) \
    + bench_lines("a", "noisy_load", 9000, 3000.0, 9000.0)


def test_run_retries_a_neighbour_boot_outside_the_load_once(monkeypatch, tmp_path):
    calls = fake_boots(monkeypatch, [ALONE, OUTSIDE, INSIDE])
    res = bench_noisy.run(None, str(tmp_path), "max", lambda s: None, pairs=1)
    assert calls == [False, True, True] and res["error"] is None and res["neighbour"]["attempt"] == 2
    assert res["iops_ratio"] == 0.6 and res["p99_ratio"] == 2.0 and res["met"]
    assert any("discarded" in line for line in bench_noisy.summary(res))
    assert not os.path.exists(tmp_path / "noisy.img")


def test_run_reports_not_measured_after_two_boots_outside_the_load(monkeypatch, tmp_path):
    calls = fake_boots(monkeypatch, [ALONE, OUTSIDE, OUTSIDE])
    res = bench_noisy.run(None, str(tmp_path), "max", lambda s: None, pairs=1)
    assert calls == [False, True, True] and "did not run entirely inside" in res["error"]
    assert "met" not in res and "FAILED" in bench_noisy.summary(res)[1]


def test_run_does_not_retry_other_failures(monkeypatch, tmp_path):
    calls = fake_boots(monkeypatch, ["[b] KEEL-TEST: FAIL noisy: no disk\n"])
    res = bench_noisy.run(None, str(tmp_path), "max", lambda s: None, pairs=1)
    assert calls == [False] and res["error"] == "pair 1: alone: [b] KEEL-TEST: FAIL noisy: no disk"


def native_lines(name, iops, p50, p99):
    return "".join(line[4:] + "\n" for line in bench_lines("x", name, iops, p50, p99).splitlines())


NATIVE_OK = ("KEEL-TEST: noisy start measure alone\n" + native_lines("noisy_native_alone", 1250, 666.0, 2540.0)
             + "KEEL-TEST: noisy start load\n" + native_lines("noisy_native_beside", 431, 2091.0, 5854.0)
             + native_lines("noisy_native_load", 11015, 2692.0, 7260.0))
NATIVE_LATE = ("KEEL-TEST: noisy start load\n" + native_lines("noisy_native_alone", 1250, 666.0, 2540.0)
               + native_lines("noisy_native_load", 11015, 2692.0, 7260.0)
               + native_lines("noisy_native_beside", 431, 2091.0, 5854.0))


@pytest.mark.parametrize("text, error", [(NATIVE_OK, None), (NATIVE_LATE, "did not end inside the load"),
                                         ("KEEL-TEST: FAIL noisy: no disk /dev/sda1 after 10 s\n", "FAIL"),
                                         (native_lines("noisy_native_alone", 1250, 666.0, 2540.0), "no result")])
def test_native_reference_boot(monkeypatch, tmp_path, text, error):
    """The reference without keel: one Linux driving both partitions; its ratio beside keel's in the row."""
    calls = fake_boots(monkeypatch, [ALONE, INSIDE])
    seen = {}

    def native_boot(disk, image, log, extra, timeout, smp=1, mem_mib=0):
        seen.update(disk=disk, extra=extra, smp=smp, mem=mem_mib, image=os.path.exists(image))
        return 0, text

    res = bench_noisy.run(None, str(tmp_path), "max", lambda s: None, native_boot=native_boot, pairs=1)
    assert calls == [False, True] and res["error"] is None
    assert seen["disk"] == "ufs" and seen["smp"] == 2 and seen["mem"] == 2 * bench_noisy.GUEST_MEM and seen["image"]
    assert "keel.noisy.role=native" in seen["extra"] and "keel.noisy.load_disk=/dev/sda1" in seen["extra"]
    n = res["native"]
    lines = "\n".join(bench_noisy.summary(res))
    if error is None:
        assert n["error"] is None and n["alone"]["iops"] == 1250 and n["beside"]["p99"] == 5854.0
        assert abs(n["iops_ratio"] - 431 / 1250) < 1e-9 and abs(n["p99_ratio"] - 5854.0 / 2540.0) < 1e-9
        assert "native beside / alone: IOPS 0.345, p99 2.30x (keel: IOPS 0.600, p99 2.00x)" in lines
    else:
        assert error in n["error"] and "native reference" in lines and "FAILED" in lines
    assert res["met"]  # the native reference never changes keel's verdict
    assert not os.path.exists(tmp_path / "noisy.img")


def test_run_takes_the_medians_of_several_pairs(monkeypatch, tmp_path):
    """B's alone rate varies between boots: the row's ratios are the medians of the pairs' ratios."""
    def pair(alone, beside, p99):
        return [B_START + bench_lines("b", "noisy_measure", alone, 400.0, 1000.0),
                A_START + B_START + bench_lines("b", "noisy_measure", beside, 500.0, p99)
                + bench_lines("a", "noisy_load", 9000, 3000.0, 9000.0)]
    calls = fake_boots(monkeypatch, pair(3000, 600, 4000.0) + pair(1000, 900, 1500.0) + pair(2000, 800, 2000.0))
    res = bench_noisy.run(None, str(tmp_path), "max", lambda s: None, pairs=3)
    assert calls == [False, True] * 3 and res["error"] is None
    assert [round(p["iops_ratio"], 2) for p in res["pairs"]] == [0.2, 0.9, 0.4]
    assert res["iops_ratio"] == 0.4 and res["p99_ratio"] == 2.0 and not res["met"]
    assert res["median_pair"] == 3 and res["alone"]["b"]["iops"] == 2000
    text = "\n".join(bench_noisy.summary(res))
    assert "median IOPS ratio, 3 of 3" in text and "ratio 0.90 / 1.50x" in text and "(medians of the pairs)" in text
