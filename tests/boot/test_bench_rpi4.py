"""`make bench PLATFORM=rpi4` (scripts/bench_rpi4.py): its log parsing, medians, ratios and counters on
canned logs (in the formats of real runs), and the native DTB fix-ups (no QEMU run: a real run is
`make bench PLATFORM=rpi4`, ~10 min)."""
import glob
import os
import re
import subprocess

import pytest

from conftest import ROOT
import bench_rpi4


def bench_text(vals, prefix=""):
    units = {"seq_write_1m": "MB/s", "seq_read_1m": "MB/s", "rand_read_4k": "IOPS", "rand_write_4k": "IOPS"}
    out = f"{prefix}KEEL-TEST: step bench on /dev/vda with kbench: 1 runs, 4 MiB sequential, 200 random ops [t=28.50]\n"
    for k, v in vals.items():
        out += f"{prefix}KEEL-BENCH {k} {v} {units[k]}\n{prefix}KEEL-BENCH {k}_median {v} {units[k]}\n"
    return out + f"{prefix}KEEL-TEST: bench done\n"


KEEL_COUNTERS = (
    "[   40.1] keel: sd0: 3 requests, 9 commands, 1536 bytes; 0 errors, 0 retries, 0 timeouts, 0 resets; 0 segments "
    "split, 0 SDMA fallbacks, 0 refused (no DMA can express them), 0 cancelled, 0 lost\n"
    "[   40.1] keel: sd0: 2 requests through the data port (no DMA), 0 refused outside the DMA window\n"
    "[   74.9] keel: VM linux: disk linux/vda: 49 requests, 1134592 bytes read, 1130496 bytes written, 49 notify "
    "traps, 49 interrupts, 0 errors; bytes copied by keel: 0 (data path: 0); vCPU exits per request: 664.67\n"
    "[   74.9] keel: sd0: 49 requests, 86 commands, 2265088 bytes; 0 errors, 0 retries, 0 timeouts, 0 resets; "
    "0 segments split, 3 SDMA fallbacks, 0 refused (no DMA can express them), 0 cancelled, 0 lost\n"
    "[   74.9] keel: sd0: 47 requests through the data port (no DMA), 0 refused outside the DMA window\n")
NATIVE = {"seq_write_1m": 2.6, "seq_read_1m": 2.2, "rand_read_4k": 195, "rand_write_4k": 393}
KEEL = {"seq_write_1m": 2.5, "seq_read_1m": 1.2, "rand_read_4k": 190, "rand_write_4k": 60}


def test_parse_keel_boot_takes_values_and_the_last_counters():
    b = bench_rpi4.parse_boot("keel", 0, bench_text(KEEL, "[linux] ") + KEEL_COUNTERS)
    assert b["error"] is None
    assert b["values"] == KEEL  # the guest's per-run lines, not its _median lines
    c = b["counters"]
    assert c["bytes_copied"] == 0 and c["requests"] == 49 and c["bytes_written"] == 1130496
    assert c["sd"]["sd0"] == {"requests": 49, "bytes": 2265088, "errors": 0, "sdma_fallbacks": 3, "data_port": 47,
                              "window_refused": 0}


def test_parse_native_boot_that_halts_after_the_marker():
    b = bench_rpi4.parse_boot("native", None, bench_text(NATIVE) + "reboot: Power off not available\n")
    assert b["error"] is None and b["values"] == NATIVE and b["counters"] is None


@pytest.mark.parametrize("text,why", [
    (bench_text(KEEL).replace("KEEL-TEST: bench done\n", ""), "timeout"),
    (bench_text(KEEL) + "KEEL-TEST: FAIL bench rand_read_4k run 1\n", "KEEL-TEST: FAIL bench rand_read_4k run 1"),
    ("\n".join(l for l in bench_text(KEEL).splitlines() if "rand_write_4k" not in l) + "\n", "missing figures"),
])
def test_parse_reports_unfinished_boots(text, why):
    b = bench_rpi4.parse_boot("keel", None, text + "[ 9.0] keel: PANIC: something\n")
    assert b["error"].startswith(why) and b["error"].endswith("PANIC: something")


def test_medians_skip_failed_boots():
    ok = [bench_rpi4.parse_boot("native", 0, bench_text(dict(NATIVE, seq_write_1m=v))) for v in (1.0, 3.0, 2.0)]
    bad = bench_rpi4.parse_boot("native", None, "KEEL-TEST: FAIL no disk\n")
    assert bench_rpi4.medians(ok + [bad])["seq_write_1m"] == 2.0
    assert bench_rpi4.medians([bad]) is None


def summary_of(native_boots, keel_boots):
    rows = {"native-rpi4": {"boots": native_boots}, "keel-rpi4": {"boots": keel_boots}}
    for r in rows.values():
        r["median"] = bench_rpi4.medians(r["boots"])
    return "\n".join(bench_rpi4.summary({"rows": rows}))


def test_summary_ratios_verdicts_and_counters():
    s = summary_of([bench_rpi4.parse_boot("native", 0, bench_text(NATIVE))],
                   [bench_rpi4.parse_boot("keel", 0, bench_text(KEEL) + KEEL_COUNTERS)])
    for line in (r"seq write 1M\s+0\.962\s+target >= 0\.95\s+met$", r"seq read 1M\s+0\.545\s+target >= 0\.95\s+MISSED$",
                 r"4k QD1 rand read\s+0\.974\s+target >= 0\.90\s+met$",
                 r"4k QD1 rand write\s+0\.153\s+target >= 0\.90\s+MISSED$"):
        assert re.search(line, s, re.M), (line, s)
    assert "bytes copied by keel: 0" in s
    assert "sd0: 49 requests, 0 errors, 3 SDMA fallbacks, 47 requests through the data port" in s


def test_summary_without_a_keel_figure_says_so():
    s = summary_of([bench_rpi4.parse_boot("native", 0, bench_text(NATIVE))],
                   [bench_rpi4.parse_boot("keel", None, "[ 9.0] keel: PANIC: x\n")])
    assert "keel: virtio-blk <- SD (data port)" in s and "no figures (timeout; PANIC: x)" in s
    assert "n/a (a row has no figures)" in s and "met" not in s


def fdtget(dtb, *args):
    return subprocess.run(["fdtget", dtb] + list(args), capture_output=True, text=True)


def test_native_dtb_switches_off_what_qemu_does_not_model(tmp_path):
    if not glob.glob(os.path.join(ROOT, "build", "kit", "debs", "linux-image-*arm64*.deb")):
        pytest.fail("no kernel package in build/kit/debs: run `make kit`")
    dtb = bench_rpi4.native_dtb(str(tmp_path))
    for node in bench_rpi4.UNMODELLED:
        assert fdtget(dtb, f"/soc/{node}", "status").stdout.strip() == "disabled", node
    assert fdtget(dtb, bench_rpi4.ARASAN, "mmc-pwrseq").returncode != 0  # removed
    assert fdtget(dtb, bench_rpi4.ARASAN, "status").stdout.strip() == "okay"  # the card's controller stays
    assert fdtget(dtb, "/aliases", "mmc0").stdout.strip() == bench_rpi4.ARASAN
