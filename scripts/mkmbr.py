#!/usr/bin/python3
"""Write an MBR (DOS) partition table into a disk image, as a Raspberry Pi's SD card has.

Entries count logical blocks of BLOCK_SIZE bytes (as Linux and keel read them). Standard library only.

usage: mkmbr.py FILE SIZE_MIB BLOCK_SIZE TYPE:SIZE_MIB[:active] [TYPE:SIZE_MIB[:active] ...]
       TYPE in hex (0c: FAT32 LBA, 83: Linux); SIZE_MIB 0 for the last: the rest of the disk;
       up to four primary partitions, 1 MiB aligned. The file is created or resized to SIZE_MIB;
       only block 0 is written.
Prints one line per partition: NUMBER FIRST_BYTE SIZE_BYTES.
"""
import struct
import sys


def build(path, size_mib, bs, parts):
    if not 1 <= len(parts) <= 4:
        raise SystemExit("mkmbr: one to four partitions")
    size = size_mib << 20
    nblocks = size // bs
    align = (1 << 20) // bs
    table = b""
    layout = []
    lba = align
    for i, (ptype, mib, active) in enumerate(parts):
        n = (mib << 20) // bs if mib else nblocks - lba
        if n <= 0 or lba + n > nblocks or lba + n > 0xFFFFFFFF:
            raise SystemExit(f"mkmbr: partition {i + 1} does not fit")
        # CHS fields are the LBA-only marker values (0xfe 0xff 0xff), as modern tools write.
        table += struct.pack("<B3sB3sII", 0x80 if active else 0, b"\xfe\xff\xff", ptype, b"\xfe\xff\xff",
                             lba, n)
        layout.append((i + 1, lba * bs, n * bs))
        lba = (lba + n + align - 1) // align * align
    with open(path, "r+b" if _exists(path) else "wb") as f:
        f.truncate(size)
        f.seek(0)
        b0 = bytearray(f.read(bs).ljust(bs, b"\0"))
        b0[446:510] = table.ljust(64, b"\0")
        b0[510:512] = b"\x55\xaa"
        f.seek(0)
        f.write(b0)
    return layout


def _exists(path):
    try:
        open(path, "rb").close()
        return True
    except OSError:
        return False


def main(argv):
    if len(argv) < 5:
        raise SystemExit(__doc__)
    parts = []
    for spec in argv[4:]:
        f = spec.split(":")
        if len(f) not in (2, 3) or (len(f) == 3 and f[2] != "active"):
            raise SystemExit(f"mkmbr: bad partition {spec!r} (TYPE:SIZE_MIB[:active])")
        parts.append((int(f[0], 16), int(f[1]), len(f) == 3))
    for num, off, size in build(argv[1], int(argv[2]), int(argv[3]), parts):
        print(num, off, size)


if __name__ == "__main__":
    main(sys.argv)
