"""The keel console (issue 13): input focus between VMs, the command line, and stop/start of a VM."""
import re

from conftest import GUEST_BIN, keel_qemu

ESC = keel_qemu.CONSOLE_ESC


def console_vm(name):
    return keel_qemu.VmSpec(name, GUEST_BIN, cmdline="test=console", mem_mib=64)


def test_focus_commands_stop_and_start(keel):
    """Three VMs wait for a line each. The host types to a (first focus), opens the keel console, lists
    the VMs, stops and starts c, gives c and then b their lines. Every VM must get exactly its line."""
    send = [
        (r"\[a\] GUEST: console ready", "hello-a\r"),
        (r"\[a\] GUEST: console got 'hello-a'", ESC + "k"),
        (r"keel: keel console", "vms\r"),
        (r"keel: vm 2 c: running", "bogus\r"),
        (r"unknown command \"bogus\"", "stop c\r"),
        (r"VM c: powered off", "log\r"),
        (r"keel> log[\s\S]*VM c: stop from the keel console", "vms\r"),
        (r"keel: vm 2 c: off", "start c\r"),
        (r"start from the keel console[\s\S]*\[c\] GUEST: console ready", ESC + "2"),
        (r"console input goes to VM c", "again-c\r"),
        (r"\[c\] GUEST: console got 'again-c'", ESC + "1"),
        (r"console input goes to VM b", "hello-b\r"),
    ]
    r = keel([console_vm("a"), console_vm("b"), console_vm("c")], timeout=120, send=send)
    out = r.out
    assert "[a] GUEST: console got 'hello-a'" in out, out
    assert "[b] GUEST: console got 'hello-b'" in out, out
    assert "[c] GUEST: console got 'again-c'" in out, out
    # Nothing typed for one VM reached another, and the keel console's keys reached no VM.
    assert len(re.findall(r"GUEST: console got", out)) == 3, out
    # vms listed all three, running, with their vCPU placement; a is marked as off after its PASS.
    listing = out.split("keel> vms", 1)[1]
    for i, name in enumerate("abc"):
        assert re.search(rf"keel: vm {i} {name}: \w+, vCPUs 0->CPU{i}, 64 MiB", listing), listing[:2000]
    assert "keel: VM c: stop requested" in out and "VM c: stop from the keel console" in out
    # The log command replayed earlier log lines (the stop line appears twice).
    assert out.count("VM c: stop from the keel console") == 2, out
    # c booted twice (first run stopped while it waited, second run got its line), then all powered off.
    assert out.count("[c] GUEST: console ready") == 2, out
    assert "GUEST: FAIL" not in out, out
    assert out.count("GUEST: PASS") == 3, out
    assert "powering the machine off" in out and r.rc == 0, out[-3000:]


def test_crashed_vm_is_reported_and_can_be_started_again(keel):
    """A guest that cannot take an exception (VBAR_EL1 outside its memory, then an abort): keel calls
    the VM crashed and turns it off, the other VM runs on, vms says so, and start boots it again."""
    vms = [keel_qemu.VmSpec("crash", GUEST_BIN, cmdline="test=crash", mem_mib=64), console_vm("waiter")]
    send = [
        (r"VM crash: crashed", ESC + "k"),
        (r"keel: keel console", "vms\r"),
        (r"keel: vm 0 crash: crashed", "start crash\r"),
        (r"VM crash: crashed[\s\S]*VM crash: crashed", ESC + "1"),
        (r"console input goes to VM waiter", "still-here\r"),
        # keel,stay-on: with every VM off keel stays at its console, and vms still answers.
        (r"keel stays at its console", ESC + "k"),
        (r"keel stays at its console[\s\S]*keel: keel console", "vms\r"),
    ]
    r = keel(vms, timeout=120, send=send, stay_on=True, until=r"keel: vm 1 waiter: off")
    out = r.out
    assert out.count("VM crash: crashed: vCPU 0 cannot take an exception (its vector at 0x30000200") == 2, out
    assert out.count("[crash] GUEST: crash: VBAR_EL1") == 2, out  # it ran again after start
    assert "[crash] GUEST: FAIL" not in out and "[crash] GUEST: PASS" not in out, out
    assert "keel: vm 1 waiter: running" in out, out
    assert "[waiter] GUEST: console got 'still-here'" in out and "[waiter] GUEST: PASS" in out, out
    assert "all VMs are off; keel stays at its console" in out and "powering the machine off" not in out, out
    assert "keel: vm 0 crash: crashed" in out.split("keel stays at its console")[1], out[-3000:]
