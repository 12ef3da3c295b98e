"""Shared helpers for boot tests: run keel under QEMU with VMs, collect output."""
import hashlib
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
KIT = os.path.join(ROOT, "build", "kit")  # the Linux guest kit (`make kit`)
IMAGE = os.path.join(KIT, "Image")
INITRD = os.path.join(KIT, "initramfs.cpio.gz")


def require_kit():
    """Fail (not skip: `make test` builds it) when the Linux guest kit is missing."""
    if not (os.path.exists(IMAGE) and os.path.exists(INITRD)):
        pytest.fail("the Linux guest kit is missing: run `make kit`")


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


def image_sha256(path, off, size):
    """SHA-256 (hex) of size bytes of an image at off: whether a range of a disk image changed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(off)
        left = size
        while left:
            chunk = f.read(min(left, 1 << 20))
            assert chunk, "image shorter than the range asked for"
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


SAMPLE_S = 0.25  # run_timed's sampling period


def run_timed(argv, timeout, log_path=None, react=None, quiet_timeout=None, sample=None):
    """Run QEMU; return (exit code or None if stopped, [(t, line)]) where t is the host's monotonic
    arrival time of each console line (a clock common to every VM and keel). react(t, line) is called
    for each line; a string it returns is typed on QEMU's standard input (the first VM's console),
    True stops QEMU. quiet_timeout: stop QEMU after that many seconds without any output.
    sample(t, pid): called every SAMPLE_S seconds while QEMU (process pid) runs, on the same clock."""
    import signal
    import subprocess
    import time
    lines, partial = [], ""
    logf = open(log_path, "w") if log_path else None
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    last_output = time.monotonic()
    next_sample = 0.0
    rc = None
    try:
        os.set_blocking(proc.stdout.fileno(), False)
        while True:
            chunk = proc.stdout.read()
            now = time.monotonic()
            if sample and now >= next_sample:
                sample(now, proc.pid)
                next_sample = now + SAMPLE_S
            if chunk:
                last_output = now
                text = chunk.decode("utf-8", "replace").replace("\r", "")
                if logf:
                    logf.write(text)
                    logf.flush()
                partial += text
                *done, partial = partial.split("\n")
                for line in done:
                    lines.append((now, line))
                    reply = react(now, line) if react else None
                    if reply is True:
                        deadline = now
                    elif reply:
                        proc.stdin.write(reply.encode())
                        proc.stdin.flush()
            if proc.poll() is not None:
                rest = proc.stdout.read()
                if rest:
                    partial += rest.decode("utf-8", "replace").replace("\r", "")
                rc = proc.returncode
                break
            if now > deadline or (quiet_timeout and now - last_output > quiet_timeout):
                break
            if not chunk:
                time.sleep(0.01)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if logf:
            logf.close()
    for line in partial.split("\n"):
        if line:
            lines.append((time.monotonic(), line))
    return rc, lines
