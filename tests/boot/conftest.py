"""Shared helpers for boot tests: run keel under QEMU with VMs, collect output."""
import os
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import keel_qemu  # noqa: E402

GUEST_BIN = os.path.join(ROOT, "guests", "baremetal", "build", "guest.bin")
KEEL_BIN = os.path.join(ROOT, "build", "qemu-virt", "keel.bin")
LOG_DIR = os.path.join(ROOT, "build", "test-logs")


class KeelRun:
    def __init__(self, rc, out):
        self.rc = rc
        self.out = out

    def lines(self, prefix=""):
        return [l for l in self.out.splitlines() if prefix in l]


@pytest.fixture
def keel(request):
    """keel(vms, timeout=60, **build_kwargs) -> KeelRun; the console log is kept in build/test-logs."""
    for f in (KEEL_BIN, GUEST_BIN):
        if not os.path.exists(f):
            pytest.fail(f"{f} is missing: run `make all guests` first")
    os.makedirs(LOG_DIR, exist_ok=True)

    def run(vms, timeout=60, until=None, send=(), **kw):
        with tempfile.TemporaryDirectory() as tmp:
            argv = keel_qemu.build(vms, tmp, **kw)
            log = os.path.join(LOG_DIR, request.node.name + ".log")
            rc, out = keel_qemu.run(argv, timeout, log, until=until, send=send)
        return KeelRun(rc, out)

    return run
