"""VM stop/reset under keel: vCPUs racing to reset their VM never reach a panic."""
import re

from conftest import GUEST_BIN, keel_qemu

ROUNDS = 20


def test_both_vcpus_reset_at_once(keel):
    vm = keel_qemu.VmSpec("bm", GUEST_BIN, cmdline="test=reset-race", mem_mib=64, cpus=2)
    r = keel([vm], timeout=120)
    out = r.out
    assert "PANIC" not in out, out[-4000:]
    assert f"[bm] GUEST: reset race: {ROUNDS} rounds survived" in out, out[-4000:]
    assert "[bm] GUEST: PASS" in out and r.rc == 0, out[-4000:]
    # (the PSCI log line is rate-limited per VM; the VM's own counter is not)
    resets = [int(n) for n in re.findall(r"VM bm: \d+ vCPU exits, (\d+) resets", out)]
    assert resets and resets[-1] >= ROUNDS, out[-4000:]
    assert len(re.findall(r"VM bm: devices quiesced in \d+ us", out)) == ROUNDS, out[-4000:]
    races = [int(n) for n in re.findall(r"VM bm: \d+ vCPU exits, \d+ resets \((\d+) stop requests", out)]
    print(f"stop requests that found the VM already stopping: {races[-1] if races else '?'}")
