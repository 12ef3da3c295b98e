#!/usr/bin/env bash
# Creates disk images for keel guests and tests.
set -euo pipefail

usage() {
  cat >&2 <<'EOF'
usage: scripts/mkdisk.sh blank FILE SIZE_MIB
           sparse, all-zero image (e.g. the scratch disk for keel.test=blk)
       scripts/mkdisk.sh root FILE SIZE_MIB
           ext4 (-b 4096, label keel-root) populated with mke2fs -d from $KEEL_ROOTFS_DIR
           (default build/kit/rootfs, made by guests/linux/build-kit.sh): busybox, /sbin/init,
           /etc/inittab; boots to a banner and a shell
       scripts/mkdisk.sh gpt FILE SIZE_MIB NAME:SIZE_MIB [NAME:SIZE_MIB ...]
           GPT (sgdisk) with named Linux-data partitions in order, 1 MiB aligned;
           SIZE_MIB 0 for the last one means "the rest of the disk"
Notes: the image is replaced if it exists. sd-card (QEMU) needs a power-of-two size;
QEMU's UFS LU uses 4096-byte blocks, hence -b 4096.
EOF
  exit 2
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ $# -ge 3 ] || usage
cmd=$1 file=$2 mib=$3
shift 3
case $mib in '' | *[!0-9]*) echo "mkdisk: SIZE_MIB must be a number" >&2; usage ;; esac
[ "$mib" -gt 0 ] || { echo "mkdisk: SIZE_MIB must be > 0" >&2; exit 2; }

blank() {
  mkdir -p "$(dirname "$file")"
  rm -f "$file"
  truncate -s "${mib}M" "$file"
}

case $cmd in
blank)
  [ $# -eq 0 ] || usage
  blank
  ;;
root)
  [ $# -eq 0 ] || usage
  src=${KEEL_ROOTFS_DIR:-$ROOT/build/kit/rootfs}
  [ -x "$src/bin/busybox" ] || { echo "mkdisk: $src has no bin/busybox: run guests/linux/build-kit.sh" >&2; exit 1; }
  blank
  # files keep the owners they have in $src (the kit builds it as root); -F: regular file
  mke2fs -q -F -t ext4 -b 4096 -L keel-root -d "$src" "$file" >/dev/null
  ;;
gpt)
  [ $# -ge 1 ] || usage
  command -v sgdisk >/dev/null || { echo "mkdisk: sgdisk missing (apt-get install gdisk)" >&2; exit 1; }
  blank
  args=()
  n=0
  for p in "$@"; do
    name=${p%%:*} size=${p#*:}
    [ -n "$name" ] && [ "$name" != "$p" ] || { echo "mkdisk: bad partition '$p' (NAME:SIZE_MIB)" >&2; exit 2; }
    case $size in '' | *[!0-9]*) echo "mkdisk: bad size in '$p'" >&2; exit 2 ;; esac
    n=$((n + 1))
    if [ "$size" -eq 0 ]; then end=0; else end="+${size}M"; fi
    args+=(-n "$n:0:$end" -t "$n:8300" -c "$n:$name")
  done
  sgdisk -a 2048 -o "${args[@]}" "$file" >/dev/null
  sgdisk -p "$file" >&2
  ;;
*) usage ;;
esac
echo "$file"
