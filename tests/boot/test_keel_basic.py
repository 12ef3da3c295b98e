"""keel boots at EL2 and runs the bare-metal guest at EL1 in a stage-2 sandbox."""
import re

from conftest import GUEST_BIN, keel_qemu


def basic_vm(**kw):
    return keel_qemu.VmSpec("bm", GUEST_BIN, cmdline=kw.pop("cmdline", "test=basic"), mem_mib=64, **kw)


def test_guest_runs_timer_uart_fp_and_powers_off(keel):
    r = keel([basic_vm()], timeout=60)
    out = r.out
    assert "keel: keel starting at EL2" in out
    assert re.search(r"boot to first guest entry: \d+ us", out), out
    assert "[bm] GUEST: hello from EL1" in out
    assert "[bm] GUEST: CurrentEL=1" in out
    m = re.search(r"\[bm\] GUEST: timer ticks=(\d+)", out)
    assert m and int(m.group(1)) >= 10, out
    assert "[bm] GUEST: fp ok" in out, out
    assert "[bm] GUEST: PASS" in out, out
    assert "GUEST: FAIL" not in out, out
    assert "VM bm: PSCI SYSTEM_OFF" in out
    # Exits by kind add up to the VM's exits; the guest's UART output is MMIO, its power-off an HVC.
    total = int(re.search(r"VM bm: (\d+) vCPU exits", out).group(1))
    kinds = [int(x) for x in re.search(r"VM bm: exits by kind: (\d+) MMIO, (\d+) interrupt, (\d+) WFI/WFE, "
                                       r"(\d+) HVC/SMC, (\d+) sysreg, (\d+) other", out).groups()]
    assert sum(kinds) == total and kinds[0] > 0 and kinds[3] > 0, (kinds, total)
    # The timed exits (one in 16) by kind add up to the timed exits of the VM line.
    timed = int(re.search(r"VM bm: .*\((\d+) exits timed\)", out).group(1))
    per_kind = re.search(r"VM bm: keel time per exit by kind \(timed exits\): MMIO [0-9.]+ us \((\d+)\), interrupt "
                         r"[0-9.]+ us \((\d+)\), WFI/WFE [0-9.]+ us \((\d+)\), HVC/SMC [0-9.]+ us \((\d+)\), sysreg "
                         r"[0-9.]+ us \((\d+)\), other [0-9.]+ us \((\d+)\)", out)
    assert per_kind and sum(int(x) for x in per_kind.groups()) == timed and timed > 0, out
    assert "powering the machine off" in out
    assert r.rc == 0, out


def test_escape_is_refused_and_keel_keeps_running(keel):
    r = keel([basic_vm()], timeout=60)
    out = r.out
    refused = r.lines("[bm] GUEST: escape refused")
    assert len(refused) == 4, out
    # keel logs each refused access with the IPA, and the guest saw a data abort.
    assert len(re.findall(r"VM bm: (store|load) at IPA 0x[0-9a-f]+ is outside its memory", out)) >= 4, out
    for line in refused:
        esr = int(re.search(r"esr=0x([0-9a-f]+)", line).group(1), 16)
        assert (esr >> 26) in (0x24, 0x25), line
    assert "[bm] GUEST: ldp abort ok" in out, out
    assert "no instruction syndrome (ISV=0" in out, out
    assert "PANIC" not in out
    assert "[bm] GUEST: PASS" in out and r.rc == 0


def test_psci_emulation(keel):
    r = keel([basic_vm(cmdline="test=psci")], timeout=60)
    assert "[bm] GUEST: psci version=0x10001" in r.out, r.out
    assert "[bm] GUEST: PASS" in r.out and r.rc == 0, r.out


def test_keel_refuses_to_run_below_el2():
    import subprocess
    from conftest import KEEL_BIN
    p = subprocess.run(["timeout", "10", "qemu-system-aarch64", "-M", "virt,gic-version=3", "-cpu", "max",
                        "-m", "256M", "-nographic", "-nic", "none", "-kernel", KEEL_BIN],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       start_new_session=True)
    assert "must be entered at EL2, but was entered at EL1" in p.stdout, p.stdout


def test_bad_config_names_node_and_property(keel, tmp_path):
    # Two VMs need two CPUs; give QEMU one so the second VM's `cpus` is refused.
    vms = [basic_vm(), keel_qemu.VmSpec("bm2", GUEST_BIN, cmdline="test=basic", mem_mib=64)]
    r = keel(vms, timeout=30, smp=1, until=r"PANIC.*\n")
    assert re.search(r"PANIC: VM configuration: /chosen/vm@1: cpus:", r.out), r.out


def test_two_vms_on_two_cpus(keel):
    vms = [basic_vm(), keel_qemu.VmSpec("bm2", GUEST_BIN, cmdline="test=basic", mem_mib=64)]
    r = keel(vms, timeout=60)
    out = r.out
    assert "CPU 1 online" in out, out
    for name in ("bm", "bm2"):
        assert f"[{name}] GUEST: PASS" in out, out
        assert f"VM {name}: PSCI SYSTEM_OFF" in out, out
        assert len(re.findall(rf"\[{name}\] GUEST: escape refused", out)) == 4, out
    # Two RAM partitions, disjoint.
    ram = re.findall(r"VM (\w+): 1 vCPU\(s\) on pCPU (\d)\.\., RAM 0x([0-9a-f]+) bytes at PA 0x([0-9a-f]+)", out)
    assert len(ram) == 2 and {p for _, p, _, _ in ram} == {"0", "1"}, out
    (_, _, s0, p0), (_, _, s1, p1) = ram
    a0, a1 = int(p0, 16), int(p1, 16)
    assert a0 + int(s0, 16) <= a1 or a1 + int(s1, 16) <= a0
    assert "GUEST: FAIL" not in out and r.rc == 0


def test_console_input_reaches_the_first_vm(keel):
    """Typed on keel's console (QEMU's stdin), read by the guest through its emulated PL011."""
    vms = [basic_vm(cmdline="test=console"), keel_qemu.VmSpec("bm2", GUEST_BIN, cmdline="test=basic",
                                                             mem_mib=64)]
    r = keel(vms, timeout=60, send=[(r"\[bm\] GUEST: console ready", "keel typed this\r")])
    out = r.out
    assert "[bm] GUEST: console got 'keel typed this'" in out, out
    assert "[bm] GUEST: PASS" in out and "[bm2] GUEST: PASS" in out, out
    assert r.rc == 0, out


def assert_gic_abuse_refused_or_ignored(out, name):
    """The bare-metal guest's gic_abuse=1 probes (guests/baremetal/basic_test.c): six wrong accesses to
    the GIC's areas, each refused with a data abort or ignored, keel logs them, and SGIs still work."""
    m = re.search(rf"\[{name}\] GUEST: gic abuse: (\d+) refused, (\d+) ignored", out)
    assert m and int(m.group(1)) + int(m.group(2)) == 6, out
    assert int(m.group(1)) >= 3, out  # ldp/stp carry no syndrome: they cannot be emulated
    assert f"[{name}] GUEST: sgi after gic abuse taken" in out, out
    assert f"[{name}] GUEST: PASS" in out and "GUEST: FAIL" not in out and "PANIC" not in out, out


def test_gic_abuse_is_refused_or_ignored(keel):
    r = keel([basic_vm(cmdline="test=basic gic_abuse=1")], timeout=60)
    assert_gic_abuse_refused_or_ignored(r.out, "bm")
    assert r.rc == 0, r.out
