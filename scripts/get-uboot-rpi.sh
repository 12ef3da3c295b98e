#!/usr/bin/env bash
# Fetches Debian's U-Boot for the Raspberry Pi (u-boot-rpi:arm64) with `apt-get download` (the
# package is never installed: this host is not arm64) and unpacks it under build/u-boot-rpi/:
#   build/u-boot-rpi/usr/lib/u-boot/rpi_arm64/u-boot.bin   (Pi 3 and Pi 4, 64-bit)
#   build/u-boot-rpi/usr/lib/u-boot/rpi_4/u-boot.bin
# Idempotent: does nothing when the unpacked u-boot.bin is present; the .deb is cached in
# build/u-boot-rpi/debs/ so offline reruns work. Exit status 1 when it cannot be had.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
OUT=${KEEL_UBOOT_RPI_DIR:-$ROOT/build/u-boot-rpi}
DEBS=$OUT/debs
BIN=$OUT/usr/lib/u-boot/rpi_arm64/u-boot.bin

log() { echo "get-uboot-rpi: $*" >&2; }
[ -s "$BIN" ] && exit 0
mkdir -p "$DEBS"
deb=$(ls "$DEBS"/u-boot-rpi_*_arm64.deb 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$deb" ]; then
  log "downloading u-boot-rpi:arm64"
  if ! (cd "$DEBS" && apt-get download -q -o APT::Sandbox::User=root u-boot-rpi:arm64 >&2); then
    if [ "$(id -u)" -eq 0 ]; then
      log "apt-get update (package lists missing or stale)"
      apt-get update -q >&2 && (cd "$DEBS" && apt-get download -q -o APT::Sandbox::User=root u-boot-rpi:arm64 >&2) || true
    fi
  fi
  deb=$(ls "$DEBS"/u-boot-rpi_*_arm64.deb 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$deb" ] || { log "cannot download u-boot-rpi:arm64 (is arm64 an apt architecture? scripts/setup.sh adds it)"; exit 1; }
fi
dpkg-deb -x "$deb" "$OUT"
[ -s "$BIN" ] || { log "$(basename "$deb") has no usr/lib/u-boot/rpi_arm64/u-boot.bin"; exit 1; }
log "unpacked $(basename "$deb") into $OUT"
