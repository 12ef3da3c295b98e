"""The CPU a guest sees: keel hides the features whose state it does not save (arch/id_regs.h).

QEMU's `max` CPU, with its defaults, has SVE and SME. keel saves only the 128-bit V registers, traps
SVE and SME and answers the guest's ID-register reads (HCR_EL2.TID3) with both absent, so a Linux
guest boots without them instead of faulting on its first SVE access (EC 0x19)."""
import re

from conftest import IMAGE, INITRD, keel_qemu, require_kit


def test_linux_on_a_cpu_with_sve_and_sme_boots_without_them(keel):
    require_kit()
    vm = keel_qemu.VmSpec("a", IMAGE, initrd=INITRD, cmdline="console=ttyAMA0 keel.test=kaslr", mem_mib=256)
    r = keel([vm], timeout=120, cpu="max", until=r"unhandled exception class")
    out = r.out
    # The CPU has both (keel read them from its own ID registers) ...
    assert "keel: guests do not see SVE SME:" in out, out[:4000]
    guest = "\n".join(l for l in out.splitlines() if l.startswith("[a] "))
    # ... the guest ran to its end without them ...
    assert "KEEL-TEST: PASS" in guest, guest[-3000:]
    assert "VM a: PSCI SYSTEM_OFF" in out, out[-3000:]
    # ... and never met the trap (Linux sets ZCR_EL1 up at boot when it sees SVE: EC 0x19).
    assert not re.search(r"unhandled exception class|trapped system register access", out), out[-3000:]
    assert not re.search(r"\bSVE: |\bSME: ", guest), guest[:4000]
    assert "Kernel panic" not in out and "PANIC" not in out and "Oops" not in guest
