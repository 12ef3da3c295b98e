"""scripts/insn_prof.py's arithmetic on made-up plugin counts, and the plugin itself on a short real boot."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import insn_prof  # noqa: E402

SYMS = [(0x1000, "vcpu_run"), (0x1400, "pump"), (0x2000, "memcpy")]


def counts(other, blocks):
    return "other %d\n" % other + "".join(f"{s:x} {n} {r}\n" for s, n, r in blocks)


def test_counts_per_request_are_the_long_run_less_the_short_one():
    short = {"counts": insn_prof.parse_counts(counts(1000, [(0x1000, 10, 5), (0x1404, 4, 10)])), "requests": 10}
    # 90 more requests: the guest ran 9000 more instructions; keel's vcpu_run block (10 instructions)
    # 90 more runs and its pump block (4) 405 more: 900 and 1620 instructions
    long = {"counts": insn_prof.parse_counts(counts(10000, [(0x1000, 10, 95), (0x1404, 4, 415), (0x2010, 3, 0)])),
            "requests": 100}
    r = insn_prof.per_request(short, long, SYMS)
    assert r["requests"] == 90
    assert r["guest"] == 100.0
    assert r["keel"] == (900 + 1620) / 90
    assert dict(r["functions"]) == {"pump": 18.0, "vcpu_run": 10.0}
    assert r["functions"][0][0] == "pump"  # most first
    # a long run with no more requests than the short one measures nothing
    assert insn_prof.per_request(long, long, SYMS) is None


def test_block_before_every_symbol_and_markdown():
    c = insn_prof.by_function([(0x800, 2, 3), (0x2004, 1, 7)], SYMS)
    assert c == {"?": 6, "memcpy": 7}
    res = {"read-1m-qd32": {"native": {"guest": 200.0, "keel": 0.0, "functions": []},
                            "keel": {"guest": 210.0, "keel": 15.0, "functions": [("pump", 9.0)]},
                            "iops": {"native": 1000.0, "keel": 900.0}}}
    md = "\n".join(insn_prof.markdown(res))
    assert "| read-1m-qd32 | 200 | 210 | 1.050 | 15 | 1000 / 900 |" in md
    assert "in read-1m-qd32, by function: pump 9" in md


def test_keel_text_holds_its_entry():
    elf = os.path.join(ROOT, "build", "qemu-virt", "keel.elf")
    if not os.path.exists(elf):
        pytest.skip("build/qemu-virt/keel.elf is missing: run `make`")
    lo, hi = insn_prof.keel_text(elf)
    start = dict((n, a) for a, n in insn_prof.functions(elf))["_start"]
    assert lo <= start < hi and hi - lo < (1 << 20)


def test_plugin_counts_a_real_boot(tmp_path):
    """The bare-metal guest under keel with the plugin: keel's blocks are counted in its text, the guest's
    instructions apart, and keel's symbols name them."""
    from conftest import GUEST_BIN, keel_qemu
    elf = os.path.join(ROOT, "build", "qemu-virt", "keel.elf")
    if not os.path.exists(GUEST_BIN) or not os.path.exists(elf):
        pytest.skip("run `make all guests`")
    subprocess.run(["make", "-s", "-C", ROOT, "build/host/insn_plugin.so"], check=True)
    lo, hi = insn_prof.keel_text(elf)
    out = tmp_path / "counts"
    vm = keel_qemu.VmSpec("bm", GUEST_BIN, cmdline="test=basic", mem_mib=64)
    argv = keel_qemu.build([vm], str(tmp_path), storage_devs=[
        "-plugin", f"{insn_prof.PLUGIN},lo={lo:#x},hi={hi:#x},out={out}"])
    rc, text = keel_qemu.run(argv, 120, str(tmp_path / "log"))
    assert "[bm] GUEST: PASS" in text, text[-3000:]
    other, blocks = insn_prof.parse_counts(out.read_text())
    assert other > 0 and blocks
    assert all(lo <= s < hi for s, _n, _r in blocks)
    f = insn_prof.by_function(blocks, insn_prof.functions(elf))
    assert f["vcpu_run"] > 0 and f["_start"] > 0, f.most_common(10)
