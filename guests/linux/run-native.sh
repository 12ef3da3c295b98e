#!/usr/bin/env bash
# shellcheck disable=SC2054 # commas belong to QEMU option values
# Boots the Linux guest kit natively on QEMU (no hypervisor): the reference keel is compared to.
#   guests/linux/run-native.sh virtio|ufs|sd DISK [extra kernel cmdline ...]
# e.g. guests/linux/run-native.sh virtio build/t.img keel.test=blk
#
# keel.disk= is added for the disk type (virtio /dev/vda, ufs /dev/sda, sd /dev/mmcblk0) unless
# the extra cmdline sets it. Without keel.test= the guest boots the disk as its root (or a shell).
# QEMU resets (does not exit) on PSCI SYSTEM_RESET and exits 0 on SYSTEM_OFF.
# Non-interactive when stdin is not a terminal (a pipe on stdin is typed into the guest console;
# use </dev/null for none): QEMU runs in its own process group under a
# watchdog; the whole group is killed on timeout or when this script exits.
#
# Environment: KEEL_TIMEOUT seconds (default 180; 3600 when interactive), KEEL_KIT_DIR (build/kit),
#   KEEL_QEMU_ARGS extra QEMU arguments, KEEL_CACHE drive cache mode (default writeback),
#   KEEL_CPU (max), KEEL_SMP (2), KEEL_MEM (1G).
# Exit status: QEMU's (0 after a guest poweroff), 124 on timeout.
set -euo pipefail

usage() {
  echo "usage: $0 virtio|ufs|sd DISK [extra kernel cmdline ...]" >&2
  exit 2
}
[ $# -ge 2 ] || usage
type=$1 disk=$2
shift 2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KIT=${KEEL_KIT_DIR:-$HERE/../../build/kit}
[ -f "$KIT/Image" ] && [ -f "$KIT/initramfs.cpio.gz" ] || {
  echo "run-native: no kit in $KIT: run guests/linux/build-kit.sh" >&2
  exit 1
}
[ -f "$disk" ] || { echo "run-native: no disk image $disk (scripts/mkdisk.sh blank FILE 256)" >&2; exit 1; }

drive="if=none,id=d0,format=raw,file=$disk,cache=${KEEL_CACHE:-writeback}"
case $type in
virtio)
  dev=/dev/vda
  devargs=(-drive "$drive" -device virtio-blk-device,drive=d0)
  ;;
ufs)
  dev=/dev/sda
  devargs=(-drive "$drive" -device ufs,serial=keel-ufs,id=ufs0 -device ufs-lu,drive=d0,lun=0)
  ;;
sd)
  dev=/dev/mmcblk0
  size=$(stat -c %s "$disk")
  if [ $((size & (size - 1))) -ne 0 ]; then
    echo "run-native: sd-card needs a power-of-two image size ($disk is $size bytes)" >&2
    exit 1
  fi
  devargs=(-drive "$drive" -device sdhci-pci -device sd-card,drive=d0)
  ;;
*) usage ;;
esac

cmdline="console=ttyAMA0"
case " $* " in *" keel.disk="*) ;; *) cmdline="$cmdline keel.disk=$dev" ;; esac
[ $# -gt 0 ] && cmdline="$cmdline $*"

qemu=(qemu-system-aarch64 -M virt,gic-version=3 -cpu "${KEEL_CPU:-max}" -m "${KEEL_MEM:-1G}"
      -smp "${KEEL_SMP:-2}" -kernel "$KIT/Image" -initrd "$KIT/initramfs.cpio.gz"
      -append "$cmdline" -nic none "${devargs[@]}")
# shellcheck disable=SC2206
[ -n "${KEEL_QEMU_ARGS:-}" ] && qemu+=(${KEEL_QEMU_ARGS})
echo "run-native: ${qemu[*]}" >&2

if [ -t 0 ]; then
  # interactive: QEMU needs the terminal in the foreground (Ctrl-A x quits)
  exec timeout --foreground "${KEEL_TIMEOUT:-3600}" "${qemu[@]}" -nographic
fi

set -m # background jobs get their own process groups
# stdin (a pipe or /dev/null) feeds the guest console
"${qemu[@]}" -display none -monitor none -serial stdio <&0 &
qpid=$!
flag=$(mktemp)
cleanup() {
  kill -TERM -- -"$qpid" 2>/dev/null || true
  [ -n "${wpid:-}" ] && kill -TERM -- -"$wpid" 2>/dev/null || true
  rm -f "$flag"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
T=${KEEL_TIMEOUT:-180}
(
  sleep "$T"
  echo timeout >"$flag"
  kill -TERM -- -"$qpid" 2>/dev/null
  sleep 3
  kill -KILL -- -"$qpid" 2>/dev/null
) >/dev/null 2>&1 &
wpid=$!
disown "$wpid" # no job-status noise when it is killed
rc=0
wait "$qpid" || rc=$?
kill -TERM -- -"$wpid" 2>/dev/null || true
wpid=
if [ -s "$flag" ]; then
  echo "run-native: timeout after ${T}s, QEMU killed" >&2
  rc=124
fi
exit "$rc"
