#!/usr/bin/env bash
# `make run`: boot keel on QEMU with a Linux guest whose disk is keel's virtio-blk.
#   GUEST_KERNEL, GUEST_INITRD, GUEST_CMDLINE: the guest (default: the kit in build/kit)
#   DISK: a raw disk image (default: build/disk/root.img, an ext4 root made on first use)
#   STORAGE: ram (the image is loaded into reserved RAM; writes are not kept), later ufs, sd
#   GUEST_MEM: VM memory in MiB (default 256)
# Interactive on a terminal (quit QEMU with Ctrl-A x); otherwise returns when the guest powers off.
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=build/kit
GUEST_KERNEL=${GUEST_KERNEL:-$KIT/Image}
GUEST_INITRD=${GUEST_INITRD:-$KIT/initramfs.cpio.gz}
GUEST_CMDLINE=${GUEST_CMDLINE:-console=ttyAMA0 keel.disk=/dev/vda}
STORAGE=${STORAGE:-ram}
GUEST_MEM=${GUEST_MEM:-256}
if [ -z "${DISK:-}" ]; then
  DISK=build/disk/root.img
  if [ ! -f "$DISK" ]; then
    mkdir -p build/disk
    bash scripts/mkdisk.sh root "$DISK" 128
  fi
fi
for f in "$GUEST_KERNEL" "$DISK"; do
  [ -f "$f" ] || { echo "run.sh: $f not found" >&2; exit 1; }
done
args=(--kernel "$GUEST_KERNEL" --cmdline "$GUEST_CMDLINE" --mem "$GUEST_MEM" --disk "$DISK" --storage "$STORAGE")
[ -n "$GUEST_INITRD" ] && args+=(--initrd "$GUEST_INITRD")
[ -t 0 ] || args+=(--timeout "${RUN_TIMEOUT:-1800}")
exec /usr/bin/python3 scripts/keel_qemu.py "${args[@]}"
