#!/usr/bin/env bash
# Extract libfdt's sources from Debian's linux-source-6.1 package (dtc 1.6.1)
# so keel builds it with its own freestanding flags (no stack protector, no SIMD).
set -euo pipefail
dest=${1:?destination}
tarball=$(ls /usr/src/linux-source-6.1*.tar.xz 2>/dev/null | head -n1)
[ -n "$tarball" ] || { echo "get-libfdt.sh: linux-source-6.1 is not installed (run scripts/setup.sh)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xJf "$tarball" -C "$tmp" --wildcards '*/scripts/dtc/libfdt/*'
mkdir -p "$dest"
cp "$tmp"/*/scripts/dtc/libfdt/*.[ch] "$dest"/
echo "libfdt sources in $dest"
