#!/usr/bin/env bash
# Disk for an EDK2 firmware VM (issue 15): EDK2 starts GRUB from the EFI system partition, GRUB starts
# the kit's Linux from the ext4 partition, whose root filesystem it is.
#   scripts/mkefidisk.sh FILE [SIZE_MIB [BLOCK_SIZE]]   (default 128 MiB, 512-byte blocks; a UFS LU: 4096)
# MBR: partition 1 (type ef, 32 MiB) is the ESP, FAT, holding /EFI/BOOT/BOOTAA64.EFI (Debian's monolithic
# GRUB, grubaa64.efi from grub-efi-arm64-bin: $GRUB_EFI, else build/fw/grub, fetched by scripts/setup.sh)
# and /EFI/debian/grub.cfg (that GRUB's prefix); partition 2 (83, the rest) is ext4 (label keel-root)
# with the kit's root filesystem plus /boot/Image and /boot/initramfs.cpio.gz; Linux's root is /dev/vda2.
# grub.cfg prints "keel-grub: menu" and boots its one entry after 1 s. Extra kernel arguments:
# $FW_CMDLINE. The image is replaced if it exists.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ $# -ge 1 ] || { sed -n '2,11p' "$0" >&2; exit 2; }
out=$1 mib=${2:-128} bs=${3:-512}
kit=${KIT:-$ROOT/build/kit}
grub=${GRUB_EFI:-$ROOT/build/fw/grub/usr/lib/grub/arm64-efi/monolithic/grubaa64.efi}
for f in "$kit/Image" "$kit/initramfs.cpio.gz" "$kit/rootfs" "$grub"; do
  [ -e "$f" ] || { echo "mkefidisk: $f is missing: run 'make kit' and scripts/setup.sh" >&2; exit 1; }
done
esp_mib=32
stage=$(mktemp -d)
trap 'rm -rf "$stage" "$stage.fs" "$stage.esp"' EXIT
cat >"$stage.cfg" <<CONF
echo "keel-grub: menu"
set timeout=1
set default=0
search --no-floppy --label keel-root --set=root
menuentry "keel: the kit's Linux" {
  echo "keel-grub: loading Linux"
  linux /boot/Image console=ttyAMA0 root=/dev/vda2 ${FW_CMDLINE:-}
  initrd /boot/initramfs.cpio.gz
}
CONF
mkfs.vfat -C -S "$bs" -n KEEL-ESP "$stage.esp" $((esp_mib * 1024)) >/dev/null
mmd -i "$stage.esp" ::/EFI ::/EFI/BOOT ::/EFI/debian
mcopy -i "$stage.esp" "$grub" ::/EFI/BOOT/BOOTAA64.EFI
mcopy -i "$stage.esp" "$stage.cfg" ::/EFI/debian/grub.cfg
rm -f "$stage.cfg"
cp -a "$kit/rootfs/." "$stage/"
mkdir -p "$stage/boot"
cp "$kit/Image" "$kit/initramfs.cpio.gz" "$stage/boot/"
KEEL_ROOTFS_DIR=$stage bash "$ROOT/scripts/mkdisk.sh" root "$stage.fs" $((mib - esp_mib - 1)) >/dev/null
rm -f "$out"
truncate -s "${mib}M" "$out"
layout=$(/usr/bin/python3 "$ROOT/scripts/mkmbr.py" "$out" "$mib" "$bs" ef:$esp_mib 83:0)
read -r _ esp_off _ < <(sed -n 1p <<<"$layout")
read -r _ fs_off _ < <(sed -n 2p <<<"$layout")
dd if="$stage.esp" of="$out" bs=1M seek=$((esp_off >> 20)) conv=notrunc,sparse status=none
dd if="$stage.fs" of="$out" bs=1M seek=$((fs_off >> 20)) conv=notrunc,sparse status=none
echo "mkefidisk: made $out ($mib MiB; 1: ESP with GRUB, 2: ext4 with the kit's Linux and root filesystem)"
