#!/usr/bin/env bash
# Disk for a firmware VM (issue 15): U-Boot's distro boot finds /extlinux/extlinux.conf on it and starts
# the kit's Linux, whose root filesystem is the same disk.
#   scripts/mkfwdisk.sh FILE [SIZE_MIB [BLOCK_SIZE]]   (default 128 MiB, 512-byte blocks; a UFS LU: 4096)
# The disk has an MBR with one active Linux partition from 1 MiB (U-Boot's distro boot scans
# partitions; with BLOCK_SIZE above 512 a hybrid MBR, see below: U-Boot boots from virtio 0:2), ext4 (-b 4096) holding the kit's root filesystem (build/kit/rootfs, or $KIT/rootfs) plus
# /boot/Image, /boot/initramfs.cpio.gz and /extlinux/extlinux.conf; Linux's root is /dev/vda1. Extra
# kernel arguments: $FW_CMDLINE. Debian packages only (the kit's); the image is replaced if it exists.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ $# -ge 1 ] || { sed -n '2,7p' "$0" >&2; exit 2; }
out=$1 mib=${2:-128} bs=${3:-512}
kit=${KIT:-$ROOT/build/kit}
for f in "$kit/Image" "$kit/initramfs.cpio.gz" "$kit/rootfs"; do
  [ -e "$f" ] || { echo "mkfwdisk: $f is missing: run 'make kit'" >&2; exit 1; }
done
stage=$(mktemp -d)
trap 'rm -rf "$stage" "$stage.fs"' EXIT
cp -a "$kit/rootfs/." "$stage/"
mkdir -p "$stage/boot" "$stage/extlinux"
cp "$kit/Image" "$kit/initramfs.cpio.gz" "$stage/boot/"
# No fdt line: U-Boot hands Linux the DTB keel gave the VM (its own control DTB).
cat >"$stage/extlinux/extlinux.conf" <<CONF
default keel
label keel
  kernel /boot/Image
  initrd /boot/initramfs.cpio.gz
  append console=ttyAMA0 root=/dev/vda1 ${FW_CMDLINE:-}
CONF
KEEL_ROOTFS_DIR=$stage bash "$ROOT/scripts/mkdisk.sh" root "$stage.fs" $((mib - 1)) >/dev/null
rm -f "$out"
truncate -s "${mib}M" "$out"
if [ "$bs" = 512 ]; then
  /usr/bin/python3 "$ROOT/scripts/mkmbr.py" "$out" "$mib" "$bs" 83:0:active >/dev/null
else
  # Larger blocks (a 4 KiB UFS LU): Linux takes VIRTIO_BLK_F_BLK_SIZE and counts MBR entries in those
  # blocks, U-Boot does not and counts 512-byte sectors. A hybrid MBR serves both: entry 1 (Linux's
  # /dev/vda1) in blocks, entry 2, active (U-Boot's virtio 0:2), the same bytes in 512-byte sectors.
  # Linux sees entry 2 beyond the disk's end and truncates it; nothing uses it there.
  /usr/bin/python3 "$ROOT/scripts/mkmbr.py" "$out" "$mib" "$bs" 83:0 >/dev/null
  /usr/bin/python3 - "$out" "$mib" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(446 + 16)
    f.write(struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff", 2048,
                        (int(sys.argv[2]) - 1) * 2048))
PY
fi
dd if="$stage.fs" of="$out" bs=1M seek=1 conv=notrunc,sparse status=none
rm -f "$stage.fs"
echo "mkfwdisk: made $out ($mib MiB, partition 1: extlinux.conf, kit Image + initramfs, root filesystem)"
