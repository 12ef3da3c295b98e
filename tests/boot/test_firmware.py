"""Firmware guests (issue 15): Debian's U-Boot (qemu_arm64 u-boot.bin, as-is) boots in a VM from keel's
emulated CFI flash at IPA 0, probes it with CFI queries and keeps its environment in the writable
bank across a VM reset. Hostile flash sequences are tested in tests/unit/test_flash_cfi.c and fuzzed."""
import os
import re

from conftest import keel_qemu  # noqa: F401  (sys.path for scripts/)
from keel_qemu import VmSpec

UBOOT = "/usr/lib/u-boot/qemu_arm64/u-boot.bin"


def test_uboot_from_cfi_flash_env_survives_reset(keel):
    # Through U-Boot's own CFI driver (its mw/md use writeback addressing, which keel does not emulate).
    # Commands stay short: the emulated PL011's receive FIFO holds 64 characters.
    send = [
        ("Hit any key to stop autoboot", " "),
        (r"=> ", "flinfo\r"),
        (r"(?s)flinfo.*=> ", "setenv keeltest hello-flash\r"),
        (r"(?s)hello-flash.*=> ", "saveenv\r"),  # erase + buffered program of the variable bank
        (r"(?s)saveenv.*\[fw\] OK", "reset\r"),  # PSCI SYSTEM_RESET: the VM starts over
        (r"(?s)saveenv.*Hit any key to stop autoboot", " "),
        (r"(?s)saveenv.*Hit any key to stop autoboot.*=> ", "printenv keeltest\r"),
    ]
    r = keel([VmSpec("fw", firmware=UBOOT, mem_mib=256)], timeout=150, until=r"(?m)^\[fw\] keeltest=",
             send=send)
    out = r.out
    assert "[fw] U-Boot 2023.01" in out, out
    assert "[fw] Flash: 64 MiB" in out, out
    assert re.search(r"VM fw: first console output \d+ us after its start", out), out
    # U-Boot's probe takes each bank as one x16 part (QEMU's model answers it the same way).
    assert out.count("CFI conformant flash (16 x 16)  Size: 32 MB in 256 Sectors") == 2, out
    after = out.split("=> saveenv", 1)[1]
    assert "[fw] OK" in after, out
    assert "[fw] Loading Environment from Flash... OK" in after, out
    assert "[fw] keeltest=hello-flash" in after, out
    # saveenv erased and programmed the variable bank with no CFI error; the code bank was untouched.
    assert re.search(r"flash1: [1-9]\d* programs, [1-9]\d* block erases, \d+ trapped reads, 0 guest errors", out), out
    assert re.search(r"flash0: 0 programs, 0 block erases, \d+ trapped reads, 0 guest errors", out), out
    assert "PANIC" not in out, out
