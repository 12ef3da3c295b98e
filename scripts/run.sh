#!/usr/bin/env bash
# `make run`: boot keel on QEMU with a Linux guest whose disk is keel's virtio-blk.
#   GUEST_KERNEL, GUEST_INITRD, GUEST_CMDLINE: the guest (default: the kit in build/kit)
#   DISK: a raw disk image (default: build/disk/root.img, a copy of the kit's ext4 root filesystem)
#   STORAGE: ufs (default: the image is a UFS LU keel drives; writes reach the file), ram (loaded
#            into reserved RAM; writes are not kept), sd (SD card on sdhci-pci; power-of-two size)
#   GUEST_MEM: VM memory in MiB (default 256)
#   DISK_FAULTS: a fault plan for the UFS or SD disk (a QEMU blkdebug configuration file: errors
#        injected on chosen sectors; see README "Running")
#   GIC_VERSION: 3 (default) or 2: QEMU virt's interrupt controller (keel and its guests follow it)
#   FIRMWARE: uboot (Debian's qemu_arm64 U-Boot), edk2 (Debian's AAVMF_CODE.fd, then GRUB) or a
#        firmware image: the VM boots it from its CFI flash, as QEMU virt's -bios, and the firmware
#        loads Linux from the disk (GUEST_* unused). DISK default: build/disk/fw-<storage>.img, made
#        by scripts/mkfwdisk.sh (uboot, other images: extlinux.conf) or scripts/mkefidisk.sh (edk2:
#        ESP with GRUB), with the kit's Linux and root filesystem; STORAGE default sd (ufs works too:
#        U-Boot's 512-byte I/O on the 4 KiB LU is served by read-modify-write in keel);
#        GUEST_MEM default 512
#   PLATFORM: qemu-virt (default) or rpi4: QEMU raspi4b (boot DTB from the kit's bcm2711-rpi-4-b.dtb;
#        STORAGE sd (the default there) is the card on the Pi's Arasan controller, or ram)
#   VMS: a VM configuration file (devicetree source, see README "Several VMs"): boots its VMs
#        instead of the one GUEST_* VM. DISK and STORAGE still name the machine's disk; without
#        DISK, build/disk/<file name>.img is made (a GPT with the partitions the VMs name).
# Interactive on a terminal (quit QEMU with Ctrl-A x); otherwise returns when the guest powers off.
set -euo pipefail
export GIC_VERSION=${GIC_VERSION:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# relative paths are the caller's: keep them valid after the cd
case ${VMS:-/} in /*) ;; *) VMS=$(realpath -m --relative-to="$ROOT" "$VMS") ;; esac
case ${DISK:-/} in /*) ;; *) DISK=$(realpath -m --relative-to="$ROOT" "$DISK") ;; esac
case ${DISK_FAULTS:-/} in /*) ;; *) DISK_FAULTS=$(realpath -m "$DISK_FAULTS") ;; esac
cd "$ROOT"
machine=()
case ${PLATFORM:-qemu-virt} in
  qemu-virt) ;;
  rpi4)
    machine=(--machine raspi4b)
    [ -n "${VMS:-}" ] || STORAGE=${STORAGE:-sd}
    case ${STORAGE:-sd} in sd|ram) ;; *) echo "run.sh: PLATFORM=rpi4 has STORAGE=sd or ram, not $STORAGE" >&2; exit 1 ;; esac ;;
  *) echo "run.sh: PLATFORM=$PLATFORM: the launcher knows qemu-virt and rpi4" >&2; exit 1 ;;
esac
if [ -n "${VMS:-}" ]; then
  args=("${machine[@]}" --vms "$VMS")
  [ -n "${DISK:-}" ] && args+=(--disk "$DISK")
  [ -n "${STORAGE:-}" ] && args+=(--storage "$STORAGE")
  [ -n "${DISK_FAULTS:-}" ] && args+=(--disk-faults "$DISK_FAULTS")
  [ -n "${STAY_ON:-}" ] && args+=(--stay-on)
  [ -t 0 ] || args+=(--timeout "${RUN_TIMEOUT:-1800}")
  exec /usr/bin/python3 scripts/keel_qemu.py "${args[@]}"
fi
KIT=build/kit
if [ -n "${FIRMWARE:-}" ]; then
  mkdisk=scripts/mkfwdisk.sh
  case $FIRMWARE in
  uboot) FIRMWARE=/usr/lib/u-boot/qemu_arm64/u-boot.bin ;;
  edk2) FIRMWARE=/usr/share/AAVMF/AAVMF_CODE.fd mkdisk=scripts/mkefidisk.sh ;;
  esac
  STORAGE=${STORAGE:-sd}
  if [ -z "${DISK:-}" ]; then
    # Remade when the kit changes or the kernel arguments it holds would differ.
    DISK=build/disk/fw-$(basename "$mkdisk" .sh)-$STORAGE.img
    fwcmd=""
    [ -t 0 ] || fwcmd="keel.poweroff" # without a terminal nobody can type `poweroff`
    if [ ! -f "$DISK" ] || [ "$KIT/Image" -nt "$DISK" ] || [ "$KIT/rootfs.ext4" -nt "$DISK" ] ||
      [ "$(cat "$DISK.cmdline" 2>/dev/null)" != "$fwcmd" ]; then
      mkdir -p build/disk
      bs=512
      [ "$STORAGE" = ufs ] && bs=4096
      FW_CMDLINE=$fwcmd bash "$mkdisk" "$DISK" 128 "$bs"
      echo "$fwcmd" >"$DISK.cmdline"
    fi
  fi
  for f in "$FIRMWARE" "$DISK"; do
    [ -f "$f" ] || { echo "run.sh: $f not found" >&2; exit 1; }
  done
  args=(--firmware "$FIRMWARE" --mem "${GUEST_MEM:-512}" --disk "$DISK" --storage "$STORAGE")
  [ -n "${DISK_FAULTS:-}" ] && args+=(--disk-faults "$DISK_FAULTS")
  [ -n "${STAY_ON:-}" ] && args+=(--stay-on)
  [ -t 0 ] || args+=(--timeout "${RUN_TIMEOUT:-1800}")
  exec /usr/bin/python3 scripts/keel_qemu.py "${args[@]}"
fi
GUEST_KERNEL=${GUEST_KERNEL:-$KIT/Image}
GUEST_INITRD=${GUEST_INITRD:-$KIT/initramfs.cpio.gz}
if [ -z "${GUEST_CMDLINE:-}" ]; then
  GUEST_CMDLINE="console=ttyAMA0 keel.disk=/dev/vda"
  # Without a terminal nobody can type `poweroff`: the kit's root system stops by itself.
  [ -t 0 ] || GUEST_CMDLINE="$GUEST_CMDLINE keel.poweroff"
fi
STORAGE=${STORAGE:-ufs}
GUEST_MEM=${GUEST_MEM:-256}
if [ -z "${DISK:-}" ]; then
  # A private copy of the kit's root filesystem, refreshed when the kit changes.
  DISK=build/disk/root.img
  if [ ! -f "$DISK" ] || [ "$KIT/rootfs.ext4" -nt "$DISK" ]; then
    mkdir -p build/disk
    cp --sparse=always "$KIT/rootfs.ext4" "$DISK"
  fi
fi
for f in "$GUEST_KERNEL" "$DISK"; do
  [ -f "$f" ] || { echo "run.sh: $f not found" >&2; exit 1; }
done
args=("${machine[@]}" --kernel "$GUEST_KERNEL" --cmdline "$GUEST_CMDLINE" --mem "$GUEST_MEM" --disk "$DISK" --storage "$STORAGE")
[ -n "$GUEST_INITRD" ] && args+=(--initrd "$GUEST_INITRD")
[ -n "${DISK_FAULTS:-}" ] && args+=(--disk-faults "$DISK_FAULTS")
[ -n "${STAY_ON:-}" ] && args+=(--stay-on)
[ -t 0 ] || args+=(--timeout "${RUN_TIMEOUT:-1800}")
exec /usr/bin/python3 scripts/keel_qemu.py "${args[@]}"
