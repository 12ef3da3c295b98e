"""Each VM boot gets its own /chosen/kaslr-seed and rng-seed from keel's boot entropy (core/entropy.h).

On cortex-a72 (the Raspberry Pi 4's core: no RNDR) the DT's seed is a Linux guest's only source for
KASLR, so without keel's seed the guest says "KASLR disabled due to lack of seed"."""
import re

from conftest import keel_qemu, IMAGE, INITRD, require_kit


def test_two_vms_get_kaslr_seeds_of_their_own(keel):
    require_kit()
    vms = [keel_qemu.VmSpec(name, IMAGE, initrd=INITRD, cmdline="console=ttyAMA0 keel.test=kaslr", mem_mib=256)
           for name in ("a", "b")]
    r = keel(vms, timeout=300, cpu="cortex-a72")
    out = r.out
    assert re.search(r"keel: boot entropy: DT rng-seed DT kaslr-seed;", out), out[:4000]
    texts = {}
    for name in ("a", "b"):
        mine = "\n".join(l for l in out.splitlines() if l.startswith(f"[{name}] "))
        assert "KASLR enabled" in mine and "KASLR disabled" not in mine, mine[-3000:]
        m = re.search(r"KEEL-TEST: kaslr text=([0-9a-f]{16}) seed-prop=8 bytes", mine)
        assert m, mine[-3000:]
        texts[name] = int(m.group(1), 16)
        assert f"VM {name}: PSCI SYSTEM_OFF" in out, out[-3000:]
    # Two seeds, two layouts (the same seed would place both kernels alike).
    assert texts["a"] != texts["b"], texts
    assert "KEEL-TEST: FAIL" not in out and "PANIC" not in out and "Kernel panic" not in out
