#!/usr/bin/env bash
# Builds the Linux guest kit from Debian arm64 packages (downloaded, never installed):
#   build/kit/Image               uncompressed arm64 kernel Image (the .deb's vmlinuz)
#   build/kit/initramfs.cpio.gz   busybox + modules + e2fsprogs + guests/linux/init
#   build/kit/initramfs-fio.cpio.gz  the same + Debian's fio and its libraries (a second cpio
#                                 archive appended: the kernel unpacks both; `make bench`'s fio rows)
#   build/kit/rootfs.ext4         small ext4 root disk (busybox, guests/linux/rootfs/)
#   build/kit/kit.env             what was built (kernel version, module list)
# Idempotent: .debs are cached in build/kit/debs/, extraction is stamped, and nothing is rebuilt
# when every output is newer than every input. Offline reruns use the cached .debs.
#
# Environment:
#   KEEL_KIT_DIR          output directory (default: build/kit)
#   KEEL_KERNEL_SUITE     suite the kernel comes from (default: bookworm-backports)
#   KEEL_KERNEL_SERIES    kernel series (default: 6.12)
#   KEEL_KERNEL_PKG       force a kernel package, e.g. linux-image-6.12.95+deb12-arm64-unsigned
#   KEEL_KO_XZ=1          keep modules as .ko.xz (busybox insmod loads them) instead of plain .ko
#   KEEL_KIT_FORCE=1      rebuild even when outputs are up to date
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KIT=${KEEL_KIT_DIR:-$ROOT/build/kit}
DEBS=$KIT/debs
X=$KIT/extract
SUITE=${KEEL_KERNEL_SUITE:-bookworm-backports}
SERIES=${KEEL_KERNEL_SERIES:-6.12}
ROOTFS_MIB=64

# Modules the guest needs, by name (- and _ are equivalent). Built-in or absent ones are skipped;
# dependencies (modules.dep) and pre-softdeps (modules.softdep) are added in load order.
MODULES=(
  virtio_mmio virtio_blk
  crc16 crc32c_generic libcrc32c mbcache jbd2 ext4
  mmc_core mmc_block sdhci cqhci sdhci-pci
  sdhci-pltfm sdhci-iproc
  scsi_common scsi_mod sd_mod ufshcd-core ufshcd-pci
)

log() { echo "build-kit: $*" >&2; }
die() { echo "build-kit: error: $*" >&2; exit 1; }
t0=$(date +%s.%N)

mkdir -p "$DEBS" "$X"
APT_OPTS=(-q -o APT::Sandbox::User=root)
apt_updated=0
apt_update_once() {
  [ $apt_updated -eq 0 ] || return 1
  apt_updated=1
  [ "$(id -u)" -eq 0 ] || { log "apt lists look stale and not root: run 'sudo apt-get update'"; return 1; }
  log "apt-get update (package lists missing or stale)"
  apt-get update -q >&2 || return 1
}

# e2fsprogs and the packages holding the libraries it needs; the NEEDED walk below fails loudly
# if a library is missing from these
E2PKGS=(e2fsprogs libc6 libext2fs2 libcom-err2 libblkid1 libuuid1 libss2)

# fio (the fio rows of `make bench`) and the packages holding the libraries its NEEDED closure asks
# for. Debian's fio links every I/O engine's library (rados, rbd, gluster, rdma, pmem, nbd) and is
# BIND_NOW, so the dynamic loader needs all of them even though the guest only uses libaio; the walk
# below fails loudly if one is missing from this list.
FIOPKGS=(fio libaio1 libnuma1 zlib1g libgfapi0 libgfrpc0 libgfxdr0 libglusterfs0 libnbd0 libibverbs1
  librdmacm1 libnl-3-200 libnl-route-3-200 librados2 librbd1 libpmem1 libpmemblk1 libndctl6 libdaxctl1
  libkmod2 libudev1 libcryptsetup12 libargon2-1 libdevmapper1.02.1 libjson-c5 libselinux1 libpcre2-8-0
  libboost-iostreams1.74.0 libboost-thread1.74.0 libfmt9 libstdc++6 libgcc-s1 libssl3 libbz2-1.0
  liblzma5 libzstd1 libxml2 libicu72 libacl1 libtirpc3 libgssapi-krb5-2 libkrb5-3 libk5crypto3
  libkrb5support0 libkeyutils1 libcom-err2 libgnutls30 libgmp10 libhogweed6 libnettle8 libidn2-0
  libunistring2 libp11-kit0 libffi8 libtasn1-6 libuuid1 libblkid1 libc6)

# One pass over apt's lists (each apt-cache call costs ~1 s): sets KPKG/KVERSION (newest
# linux-image-$SERIES.N+debX-arm64-unsigned in $SUITE for arm64) and CAND[pkg] (candidates).
declare -A CAND
KPKG="" KVERSION=""
apt_query() {
  local names q
  names=$(apt-cache pkgnames "linux-image-$SERIES." 2>/dev/null |
          grep -E "^linux-image-${SERIES//./\\.}\.[0-9]+\+[a-z0-9.]+-arm64-unsigned$" || true)
  [ -z "${KEEL_KERNEL_PKG:-}" ] || names=$KEEL_KERNEL_PKG
  q=$(for n in $names "${E2PKGS[@]}" "${FIOPKGS[@]}" busybox-static; do echo "$n:arm64"; done)
  # shellcheck disable=SC2086
  apt-cache policy $q 2>/dev/null | awk -v suite=" $SUITE/" -v force="${KEEL_KERNEL_PKG:-}" '
    /^[^ ].*:$/ { pkg = $0; sub(/:$/, "", pkg); sub(/:arm64$/, "", pkg); ver = ""; next }
    /^  Candidate:/ { if ($2 != "(none)") print "cand", pkg, $2; next }
    /^ (\*\*\*|   ) [^ ]+ -?[0-9]+$/ { ver = ($1 == "***") ? $2 : $1; next }
    /^        / && ver != "" && pkg ~ /^linux-image-/ && $0 ~ / arm64 Packages/ &&
      (force != "" || index($0, suite)) { print "kernel", pkg, ver }'
}
parse_query() {
  local kind p v
  CAND=() KPKG="" KVERSION=""
  while read -r kind p v; do
    case $kind in
    cand) CAND[$p]=$v ;;
    kernel)
      if [ -z "$KVERSION" ] || dpkg --compare-versions "$v" gt "$KVERSION"; then KPKG=$p KVERSION=$v; fi ;;
    esac
  done <<<"$1"
}
q=$(apt_query)
parse_query "$q"
if [ -z "$KVERSION" ] || [ -z "${CAND[busybox-static]:-}" ]; then
  if apt_update_once; then q=$(apt_query); parse_query "$q"; fi
fi

# fetch PKG [VERSION] -> prints the path of the cached .deb, downloading it when missing
fetch() {
  local pkg=$1 ver=${2:-${CAND[$1]:-}} f
  if [ -n "$ver" ]; then
    f="$DEBS/${pkg}_${ver//:/%3a}_arm64.deb"
    if [ ! -s "$f" ]; then
      log "downloading $pkg:arm64=$ver"
      if ! (cd "$DEBS" && apt-get download "${APT_OPTS[@]}" "$pkg:arm64=$ver" >&2); then
        apt_update_once && (cd "$DEBS" && apt-get download "${APT_OPTS[@]}" "$pkg:arm64=$ver" >&2) || true
      fi
    fi
    [ -s "$f" ] && { echo "$f"; return; }
  fi
  # offline fallback: newest cached version
  f=$(ls "$DEBS/${pkg}"_*_arm64.deb 2>/dev/null | sort -V | tail -1)
  [ -n "$f" ] || die "cannot download $pkg:arm64 and no cached copy in $DEBS"
  log "using cached $(basename "$f")"
  echo "$f"
}

if [ -z "$KVERSION" ]; then
  f=$(ls "$DEBS"/linux-image-"$SERIES".*-arm64-unsigned_*_arm64.deb 2>/dev/null | sort -V | tail -1)
  [ -n "$f" ] || die "no linux-image-$SERIES.*-arm64-unsigned for arm64 in $SUITE (run scripts/setup.sh)"
  log "apt has no kernel in $SUITE; using cached $(basename "$f")"
  KPKG=$(basename "$f" | cut -d_ -f1)
  KVERSION=$(basename "$f" | cut -d_ -f2 | sed 's/%3a/:/')
fi

# extract DEB into DIR once (stamped by the .deb's name)
extract() {
  local deb=$1 dir=$2
  shift 2
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$(basename "$deb")" ]; then return; fi
  rm -rf "$dir"
  mkdir -p "$dir"
  log "extracting $(basename "$deb")"
  if [ $# -gt 0 ]; then
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" --wildcards "$@"
  else
    dpkg-deb -x "$deb" "$dir"
  fi
  basename "$deb" >"$dir/.stamp"
}

# ---- 1. packages --------------------------------------------------------------------------------
KDEB=$(fetch "$KPKG" "$KVERSION")
BBDEB=$(fetch busybox-static)
E2DEBS=()
for p in "${E2PKGS[@]}"; do E2DEBS+=("$(fetch "$p")"); done
FIODEBS=()
for p in "${FIOPKGS[@]}"; do FIODEBS+=("$(fetch "$p")"); done

# ---- 2. up to date? ----------------------------------------------------------------------------
OUTS=("$KIT/Image" "$KIT/initramfs.cpio.gz" "$KIT/initramfs-fio.cpio.gz" "$KIT/rootfs.ext4")
INS=("$KDEB" "$BBDEB" "${E2DEBS[@]}" "${FIODEBS[@]}" "$HERE/build-kit.sh" "$HERE/init" "$HERE/kbench.c" "$ROOT/scripts/mkdisk.sh" "$HERE"/rootfs/etc/*)
while IFS= read -r -d '' f; do INS+=("$f"); done < <(find "$HERE/rootfs" -print0) # dirs too: adding/removing files changes their mtime
uptodate=1
if [ "${KEEL_KIT_FORCE:-0}" = 1 ]; then uptodate=0; fi
for o in "${OUTS[@]}"; do
  [ -e "$o" ] || { uptodate=0; break; }
  for i in "${INS[@]}"; do [ "$i" -nt "$o" ] && { uptodate=0; break 2; }; done
done
if [ $uptodate -eq 1 ]; then
  log "up to date ($KPKG $KVERSION)"
  exit 0
fi

# ---- 3. extract ---------------------------------------------------------------------------------
KX=$X/kernel
extract "$KDEB" "$KX" './boot/*' './lib/modules/*'
KVER=$(ls "$KX/lib/modules" | head -1)
[ -n "$KVER" ] || die "no lib/modules in $KDEB"
KM=$KX/lib/modules/$KVER
if [ ! -s "$KM/modules.dep" ] || [ "$KX/.stamp" -nt "$KM/modules.dep" ]; then
  log "depmod -b (full tree, once)"
  depmod -b "$KX" -F "$KX/boot/System.map-$KVER" "$KVER"
fi
extract "$BBDEB" "$X/busybox"
E2X=$X/e2fs
if [ ! -f "$E2X/.stamp" ] || [ "$(cat "$E2X/.stamp")" != "$(for d in "${E2DEBS[@]}"; do basename "$d"; done)" ]; then
  rm -rf "$E2X"; mkdir -p "$E2X"
  for d in "${E2DEBS[@]}"; do dpkg-deb -x "$d" "$E2X"; done
  for d in "${E2DEBS[@]}"; do basename "$d"; done >"$E2X/.stamp"
fi

# ---- 4. Image -----------------------------------------------------------------------------------
VMLINUZ=$KX/boot/vmlinuz-$KVER
# arm64 Image header: magic "ARM\x64" at offset 56
[ "$(dd if="$VMLINUZ" bs=1 skip=56 count=4 2>/dev/null | od -An -c | tr -d ' ')" = 'ARMd' ] ||
  die "$VMLINUZ is not an uncompressed arm64 Image"
cp "$VMLINUZ" "$KIT/Image.tmp" && mv "$KIT/Image.tmp" "$KIT/Image"

# ---- 5. module load order -----------------------------------------------------------------------
declare -A DEP_OF PATH_OF SOFT_OF ALIAS_OF BUILTIN SEEN
while IFS= read -r line; do
  p=${line%%:*}; b=${p##*/}; b=${b%%.ko*}; n=${b//-/_}
  PATH_OF[$n]=$p; DEP_OF[$n]=${line#*:}
done <"$KM/modules.dep"
while read -r p; do b=${p##*/}; b=${b%%.ko*}; BUILTIN[${b//-/_}]=1; done <"$KM/modules.builtin"
while read -r kw m pre rest; do
  [ "$kw" = softdep ] && [ "$pre" = "pre:" ] || continue
  SOFT_OF[${m//-/_}]+=" ${rest%%post:*}"
done < <(grep '^softdep' "$KM/modules.softdep" 2>/dev/null || true)
while read -r kw a m; do
  ALIAS_OF[${a//-/_}]=${m//-/_}
done < <(grep -E '^alias [A-Za-z0-9_-]+ [A-Za-z0-9_-]+$' "$KM/modules.alias")
ORDER=()
resolve() {
  local n=${1//-/_} d
  [ -z "${SEEN[$n]:-}" ] || return 0
  SEEN[$n]=1
  [ -z "${BUILTIN[$n]:-}" ] || { log "  $n: built in"; return 0; }
  if [ -z "${PATH_OF[$n]:-}" ]; then
    if [ -n "${ALIAS_OF[$n]:-}" ]; then resolve "${ALIAS_OF[$n]}"; return 0; fi
    log "  $n: not in this kernel, skipped"; return 0
  fi
  for d in ${SOFT_OF[$n]:-}; do resolve "$d"; done
  # modules.dep lists dependencies so that the last one must be loaded first
  local deps i
  read -r -a deps <<<"${DEP_OF[$n]}"
  for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
    d=${deps[$i]##*/}; resolve "${d%%.ko*}"
  done
  ORDER+=("${PATH_OF[$n]}")
}
for m in "${MODULES[@]}"; do resolve "$m"; done

# ---- 6. initramfs tree --------------------------------------------------------------------------
# busybox applet names: the packed, NUL-separated applet_names[] table ("[\0[[\0acpid\0...")
applets() {
  python3 - "$1" <<'EOF'
import sys
data = open(sys.argv[1], 'rb').read()
i = data.find(b'[\0[[\0')
if i < 0:
    sys.exit(1)
names = data[i:data.find(b'\0\0', i)].split(b'\0')
for n in names:
    print(n.decode())
EOF
}
BB=$X/busybox/bin/busybox
[ -x "$BB" ] || die "no busybox in $BBDEB"
APPLETS=$(applets "$BB") || die "cannot find the applet table in busybox"
for a in sh mount insmod switch_root sha256sum dd reboot poweroff cttyhack setsid cmp stat tee head blockdev; do
  grep -qx "$a" <<<"$APPLETS" || die "busybox lacks applet $a"
done

# populate DIR with busybox and its applet links (all in /bin; /sbin/init for the kernel)
populate_busybox() {
  local d=$1 a
  mkdir -p "$d"/{bin,sbin,etc,proc,sys,dev,tmp,mnt,root,run,usr/bin,usr/sbin}
  cp "$BB" "$d/bin/busybox"
  for a in $APPLETS; do [ "$a" = busybox ] || ln -sf busybox "$d/bin/$a"; done
  ln -sf ../bin/busybox "$d/sbin/init"
  ln -sf /proc/mounts "$d/etc/mtab"
  chmod 1777 "$d/tmp"
}

IR=$KIT/initramfs.d
rm -rf "$IR"
populate_busybox "$IR"
install -m 0755 "$HERE/init" "$IR/init"
# the kernel opens /dev/console for init before devtmpfs exists (init also recovers without it)
if [ "$(id -u)" -eq 0 ]; then
  mknod -m 600 "$IR/dev/console" c 5 1
  mknod -m 666 "$IR/dev/null" c 1 3
fi

# modules
MD=$IR/lib/modules/$KVER
mkdir -p "$MD"
: >"$MD/keel-load.list"
for p in "${ORDER[@]}"; do
  mkdir -p "$MD/$(dirname "$p")"
  if [ "${KEEL_KO_XZ:-0}" = 1 ] || [ "${p%.xz}" = "$p" ]; then
    cp "$KM/$p" "$MD/$p"; q=$p
  else
    q=${p%.xz}; xz -dc "$KM/$p" >"$MD/$q"
  fi
  echo "$q" >>"$MD/keel-load.list"
done
cp "$KM/modules.builtin" "$KM/modules.order" "$MD/"
cp "$KM/modules.builtin.modinfo" "$MD/" 2>/dev/null || true
depmod -b "$IR" -F "$KX/boot/System.map-$KVER" "$KVER"

# e2fsprogs and exactly the shared libraries it needs (NEEDED closure, from the same .debs)
E2BINS=(mke2fs e2fsck)
mkdir -p "$IR/lib/aarch64-linux-gnu" "$IR/etc"
for b in "${E2BINS[@]}"; do install -m 0755 "$E2X/sbin/$b" "$IR/sbin/$b"; done
for l in mkfs.ext2 mkfs.ext3 mkfs.ext4; do rm -f "$IR/bin/$l"; ln -sf mke2fs "$IR/sbin/$l"; done
for l in fsck.ext2 fsck.ext3 fsck.ext4; do rm -f "$IR/bin/$l"; ln -sf e2fsck "$IR/sbin/$l"; done
rm -f "$IR/bin/mke2fs" "$IR/bin/e2fsck"
cp "$E2X/etc/mke2fs.conf" "$IR/etc/"
# findlib ROOT SONAME: the library's path in an extracted package tree (ceph/: librados's RUNPATH)
findlib() {
  local d
  for d in lib/aarch64-linux-gnu usr/lib/aarch64-linux-gnu usr/lib/aarch64-linux-gnu/ceph lib usr/lib; do
    [ -e "$1/$d/$2" ] && { echo "$1/$d/$2"; return 0; }
  done
  return 1
}
# copy_closure ROOT DEST PKGS BIN...: copy the NEEDED closure of BIN... from the extracted tree ROOT
# into DEST (a lib/aarch64-linux-gnu), skipping libraries already copied (HAVE); appends to LIBS
declare -A HAVE
LIBS=()
copy_closure() {
  local root=$1 dest=$2 pkgs=$3 f so src
  shift 3
  local todo=("$@")
  while [ ${#todo[@]} -gt 0 ]; do
    f=${todo[0]}; todo=("${todo[@]:1}")
    for so in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      [ -z "${HAVE[$so]:-}" ] || continue
      HAVE[$so]=1
      src=$(findlib "$root" "$so") || die "$(basename "$f") needs $so, not found in: $pkgs"
      cp -L "$src" "$dest/$so"
      LIBS+=("$so")
      todo+=("$dest/$so")
    done
  done
}
interp=$(readelf -l "$IR/sbin/mke2fs" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
[ "$interp" = /lib/ld-linux-aarch64.so.1 ] || die "unexpected ELF interpreter '$interp'"
copy_closure "$E2X" "$IR/lib/aarch64-linux-gnu" "${E2PKGS[*]}" "$IR/sbin/mke2fs" "$IR/sbin/e2fsck"
ld=$(findlib "$E2X" ld-linux-aarch64.so.1) || die "no ld-linux-aarch64.so.1 in libc6"
cp -L "$ld" "$IR/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1"
ln -sf aarch64-linux-gnu/ld-linux-aarch64.so.1 "$IR/lib/ld-linux-aarch64.so.1"

# kbench (O_DIRECT QD1 benchmark, freestanding C; keel.test=bench falls back to dd without it)
CROSS=${CROSS:-aarch64-linux-gnu-}
if command -v "${CROSS}gcc" >/dev/null; then
  "${CROSS}gcc" -Os -Wall -Wextra -Werror -static -nostdlib -ffreestanding -fno-pie -no-pie \
    -fno-stack-protector -mgeneral-regs-only -fno-asynchronous-unwind-tables -Wl,--build-id=none -s \
    -o "$IR/bin/kbench" "$HERE/kbench.c"
else
  log "no ${CROSS}gcc: kbench left out (bench uses dd)"
fi

cat >"$IR/etc/keel-kit" <<EOF
KEEL_KIT_KERNEL=$KVER
KEEL_KIT_KERNEL_PKG=$KPKG=$KVERSION
EOF

# ---- 7. cpio ------------------------------------------------------------------------------------
(cd "$IR" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
   cpio --null -o -H newc --owner=0:0 --reproducible --quiet) | gzip -9n >"$KIT/initramfs.cpio.gz.tmp"
mv "$KIT/initramfs.cpio.gz.tmp" "$KIT/initramfs.cpio.gz"

# ---- 7b. fio initramfs --------------------------------------------------------------------------
# /usr/bin/fio and the part of its NEEDED closure the base initramfs lacks, as a second archive
# appended to the base one (the kernel unpacks concatenated archives in order). The ~80 MB of
# libraries take a while to compress: the archive is kept while its .debs and the base's libraries
# are unchanged.
BASELIBS=("${LIBS[@]}")
FX=$X/fio
FIO_STAMP=$( (for d in "${FIODEBS[@]}"; do basename "$d"; done; echo "base: ${LIBS[*]}"))
if [ ! -f "$FX/.stamp" ] || [ "$(cat "$FX/.stamp")" != "$FIO_STAMP" ] || [ ! -s "$KIT/fio-overlay.cpio.gz" ]; then
  rm -rf "$FX" "$KIT/fio.d"; mkdir -p "$FX"
  for d in "${FIODEBS[@]}"; do dpkg-deb -x "$d" "$FX"; done
  FD=$KIT/fio.d
  mkdir -p "$FD/usr/bin" "$FD/lib/aarch64-linux-gnu"
  install -m 0755 "$FX/usr/bin/fio" "$FD/usr/bin/fio"
  nbase=${#LIBS[@]}
  copy_closure "$FX" "$FD/lib/aarch64-linux-gnu" "${FIOPKGS[*]}" "$FD/usr/bin/fio"
  echo "${LIBS[*]:$nbase}" >"$FD/.libs"
  log "fio: $(du -sh "$FD" | cut -f1) with libraries: ${LIBS[*]:$nbase}"
  (cd "$FD" && find . -mindepth 1 ! -name .libs -print0 | LC_ALL=C sort -z |
     cpio --null -o -H newc --owner=0:0 --reproducible --quiet) | gzip -6n >"$KIT/fio-overlay.cpio.gz.tmp"
  mv "$KIT/fio-overlay.cpio.gz.tmp" "$KIT/fio-overlay.cpio.gz"
  echo "$FIO_STAMP" >"$FX/.stamp"
fi
FIOLIBS=$(cat "$KIT/fio.d/.libs")
cat "$KIT/initramfs.cpio.gz" "$KIT/fio-overlay.cpio.gz" >"$KIT/initramfs-fio.cpio.gz.tmp"
mv "$KIT/initramfs-fio.cpio.gz.tmp" "$KIT/initramfs-fio.cpio.gz"

# ---- 8. root disk -------------------------------------------------------------------------------
RF=$KIT/rootfs
rm -rf "$RF"
populate_busybox "$RF"
cp -a "$HERE/rootfs/." "$RF/"
cp "$IR/etc/keel-kit" "$RF/etc/keel-kit"
KEEL_ROOTFS_DIR=$RF bash "$ROOT/scripts/mkdisk.sh" root "$KIT/rootfs.ext4.tmp" "$ROOTFS_MIB" >/dev/null
mv "$KIT/rootfs.ext4.tmp" "$KIT/rootfs.ext4"

cat >"$KIT/kit.env" <<EOF
KEEL_KIT_KERNEL=$KVER
KEEL_KIT_KERNEL_PKG=$KPKG=$KVERSION
KEEL_KIT_MODULES="$(sed 's#.*/##; s/\.ko.*//' "$MD/keel-load.list" | tr '\n' ' ')"
KEEL_KIT_LIBS="${BASELIBS[*]}"
KEEL_KIT_FIO_LIBS="$FIOLIBS"
EOF
t1=$(date +%s.%N)
log "kernel $KVER ($KPKG $KVERSION)"
log "modules: $(sed 's#.*/##; s/\.ko.*//' "$MD/keel-load.list" | tr '\n' ' ')"
log "libs: ${BASELIBS[*]}"
log "fio libs (initramfs-fio only): $FIOLIBS"
log "$(du -h "$KIT/Image" | cut -f1) Image, $(du -h "$KIT/initramfs.cpio.gz" | cut -f1) initramfs, $(du -h "$KIT/initramfs-fio.cpio.gz" | cut -f1) with fio, built in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
