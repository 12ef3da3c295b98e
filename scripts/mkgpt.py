#!/usr/bin/python3
"""Write a GPT disk image with named partitions, for any logical block size.

sgdisk always writes 512-byte-sector GPTs into image files; QEMU's UFS LU has
4096-byte logical blocks, so its GPT must use 4096-byte LBAs. Standard library only.

usage: mkgpt.py FILE SIZE_MIB BLOCK_SIZE NAME:SIZE_MIB [NAME:SIZE_MIB ...]
       (SIZE_MIB 0 for the last partition: the rest of the disk; partitions are 1 MiB aligned)
Prints one line per partition: NAME FIRST_BYTE SIZE_BYTES.
"""
import os
import struct
import sys
import uuid
import zlib

LINUX_DATA = uuid.UUID("0fc63daf-8483-4772-8e79-3d69d8477de4")
ENTRIES = 128
ENTRY_SIZE = 128


def build(path, size_mib, bs, parts):
    size = size_mib << 20
    nblocks = size // bs
    array_blocks = ENTRIES * ENTRY_SIZE // bs
    first_usable = 2 + array_blocks
    last_usable = nblocks - 2 - array_blocks
    align = (1 << 20) // bs
    entries = b""
    layout = []
    lba = max(align, first_usable)
    for i, (name, mib) in enumerate(parts):
        n = (mib << 20) // bs if mib else last_usable + 1 - lba
        last = lba + n - 1
        if n <= 0 or last > last_usable:
            raise SystemExit(f"mkgpt: partition {name} does not fit")
        entries += struct.pack("<16s16sQQQ72s", LINUX_DATA.bytes_le, uuid.uuid4().bytes_le, lba, last, 0,
                               name.encode("utf-16-le").ljust(72, b"\0"))
        layout.append((name, lba * bs, n * bs))
        lba = (last + 1 + align - 1) // align * align
    entries = entries.ljust(ENTRIES * ENTRY_SIZE, b"\0")
    entries_crc = zlib.crc32(entries)
    disk_guid = uuid.uuid4().bytes_le

    def header(my_lba, alt_lba, array_lba):
        h = struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x10000, 92, 0, 0, my_lba, alt_lba, first_usable,
                        last_usable, disk_guid, array_lba, ENTRIES, ENTRY_SIZE, entries_crc)
        h = h[:16] + struct.pack("<I", zlib.crc32(h)) + h[20:]
        return h.ljust(bs, b"\0")

    # Protective MBR: one 0xEE partition covering the disk (in blocks of bs).
    mbr = bytearray(bs)
    mbr[446:462] = struct.pack("<B3sB3sII", 0, b"\0\x02\0", 0xEE, b"\xff\xff\xff", 1, min(nblocks - 1, 0xffffffff))
    mbr[510:512] = b"\x55\xaa"
    with open(path, "wb") as f:
        f.truncate(size)
        f.seek(0)
        f.write(mbr)
        f.write(header(1, nblocks - 1, 2))
        f.write(entries)
        f.seek((nblocks - 1 - array_blocks) * bs)
        f.write(entries)
        f.write(header(nblocks - 1, 1, nblocks - 1 - array_blocks))
    return layout


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    path, size_mib, bs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    parts = []
    for spec in sys.argv[4:]:
        name, mib = spec.rsplit(":", 1)
        parts.append((name, int(mib)))
    for name, off, size in build(path, size_mib, bs, parts):
        print(name, off, size)


if __name__ == "__main__":
    main()
