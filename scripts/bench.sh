#!/usr/bin/env bash
# `make bench`: Linux storage benchmarks, keel versus native QEMU, side by side (see scripts/bench.py):
#   (1) Linux under keel on virtio-blk backed by UFS   (2) the same Linux natively on the UFS controller
#   (3) natively on QEMU's virtio-blk-device            (4) under keel backed by SD   (5) natively on SD
#   and, for reference, keel's virtio-blk on a RAM disk (the trap/virtio path with no device behind it);
#   then the noisy-neighbour row: two Linux VMs on two GPT partitions of one UFS disk, VM B's 4k QD1
#   random reads alone and beside VM A's 4k QD32 random reads (scripts/bench_noisy.py); and the fio
#   rows: Debian's fio in the guest, keel-UFS against native-UFS, 3 boots each (scripts/bench_fio.py).
# Expects `make all guests kit` to have run (the Makefile target does it). Raw logs: build/bench/.
# Environment: BENCH_MIB, BENCH_OPS, BENCH_SD_MIB, BENCH_SD_OPS, BENCH_RUNS, BENCH_ONLY,
#   BENCH_TIMEOUT_SCALE, BENCH_NOISY_OPS, BENCH_NOISY_SECS, BENCH_NOISY_QD, BENCH_FIO (0: no fio rows),
#   BENCH_FIO_BOOTS, BENCH_FIO_SECS, BENCH_FIO_SMP2 (see scripts/bench.py, scripts/bench_noisy.py,
#   scripts/bench_fio.py). BENCH_ONLY=noisy runs just the noisy-neighbour row, BENCH_ONLY=fio the fio rows.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in qemu-system-aarch64 fdtput; do
  command -v "$t" >/dev/null || { echo "bench: $t not found (run scripts/setup.sh)" >&2; exit 1; }
done
# PLATFORM=rpi4 (`make bench PLATFORM=rpi4`): keel-SD against native Linux on QEMU raspi4b instead
# (scripts/bench_rpi4.py; BENCH_RUNS, BENCH_RPI4_MIB, BENCH_RPI4_OPS, BENCH_TIMEOUT_SCALE).
if [ "${PLATFORM:-qemu-virt}" = rpi4 ]; then
  exec /usr/bin/python3 scripts/bench_rpi4.py "$@"
fi
exec /usr/bin/python3 scripts/bench.py "$@"
