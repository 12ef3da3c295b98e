#!/usr/bin/env bash
# Idempotent: installs every Debian package keel builds, tests and runs with.
# Safe to run repeatedly; does nothing when everything is present.
# The backports archive URI is read from the machine's own apt sources: no
# archive host name is written here.
set -euo pipefail

PKGS=(
  make gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu picolibc-aarch64-linux-gnu
  linux-source-6.1 xz-utils
  device-tree-compiler u-boot-qemu u-boot-tools
  python3-pytest python3-matplotlib libcmocka-dev clang libclang-rt-14-dev llvm clang-format
  dosfstools mtools e2fsprogs cpio kmod gdisk
  qemu-efi-aarch64
)
BPO_PKGS=(qemu-system-arm)
# arm64 guest packages are downloaded (not installed) by guests/linux/build-kit.sh; GRUB for EDK2
# guests (grub-efi-arm64-bin:arm64, its monolithic grubaa64.efi) by fetch_grub below, into build/fw.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GRUB_DIR=$ROOT/build/fw/grub
GRUB_EFI=$GRUB_DIR/usr/lib/grub/arm64-efi/monolithic/grubaa64.efi

# Download (no install) and unpack grub-efi-arm64-bin:arm64 once; needs the arm64 architecture.
fetch_grub() {
  [ -s "$GRUB_EFI" ] && return 0
  local debs=$ROOT/build/fw/debs deb
  mkdir -p "$debs"
  deb=$(ls "$debs"/grub-efi-arm64-bin_*_arm64.deb 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$deb" ]; then
    (cd "$debs" && apt-get download -q grub-efi-arm64-bin:arm64 >&2) ||
      { apt-get update -q >&2 && (cd "$debs" && apt-get download -q grub-efi-arm64-bin:arm64 >&2); } ||
      { echo "setup.sh: cannot download grub-efi-arm64-bin:arm64" >&2; return 1; }
    deb=$(ls "$debs"/grub-efi-arm64-bin_*_arm64.deb | sort -V | tail -1)
  fi
  rm -rf "$GRUB_DIR"
  dpkg -x "$deb" "$GRUB_DIR"
  [ -s "$GRUB_EFI" ] || { echo "setup.sh: $deb has no monolithic grubaa64.efi" >&2; return 1; }
  echo "setup.sh: GRUB for EDK2 guests in $GRUB_EFI"
}

# Debian's U-Boot for the Raspberry Pi (u-boot-rpi:arm64), downloaded and unpacked under
# build/u-boot-rpi/ by scripts/get-uboot-rpi.sh (never installed: this host is not arm64), for
# `make sdimage` and tests/boot/test_rpi4_uboot.py. Not fatal: that test skips without it.
uboot_rpi() {
  bash "$(dirname "$0")/get-uboot-rpi.sh" ||
    echo "setup.sh: warning: no u-boot-rpi:arm64: make sdimage and test_rpi4_uboot.py cannot run" >&2
}

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing packages and not root; run: sudo $0" >&2
    exit 1
  fi
}

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
qemu_ok=0
if command -v qemu-system-aarch64 >/dev/null 2>&1; then
  v=$(qemu-system-aarch64 --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
  [ "${v:-0}" -ge 10 ] && qemu_ok=1
fi
arm64_ok=0
dpkg --print-foreign-architectures | grep -qx arm64 && arm64_ok=1

if [ ${#missing[@]} -eq 0 ] && [ $qemu_ok -eq 1 ] && [ $arm64_ok -eq 1 ]; then
  fetch_grub
  uboot_rpi
  exit 0
fi
need_root
export DEBIAN_FRONTEND=noninteractive

# bookworm-backports, from the URI the machine already uses for bookworm.
bpo=/etc/apt/sources.list.d/keel-backports.sources
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/{u=$2} /^Suites:/{ for(i=2;i<=NF;i++) if ($i=="bookworm") {print u; exit} }' \
          /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || { echo "setup.sh: cannot find the bookworm archive URI in apt sources" >&2; exit 1; }
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" > "$bpo"
fi
[ $arm64_ok -eq 1 ] || dpkg --add-architecture arm64

apt-get update -q
apt-get install -y -q --no-install-recommends "${PKGS[@]}"
apt-get install -y -q --no-install-recommends -t bookworm-backports "${BPO_PKGS[@]}"
fetch_grub
uboot_rpi
echo "setup.sh: all packages present"
