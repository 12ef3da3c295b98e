"""Read a VM configuration file (`make run VMS=file`) into keel_qemu.VmSpec objects.

The file is devicetree source whose /chosen/vm@N nodes are keel's usual VM
configuration (core/config.h), except that `kernel` and `ramdisk` carry
`file = "path";` instead of `reg` (the launcher loads the file and writes
`reg`), and a RAM disk names its image with `file` too. dtc parses the
source; a small reader walks the resulting DTB. Relative paths resolve
against the file's directory; ${ROOT} (the keel tree) and ${KIT} (the Linux
guest kit, build/kit, or $KIT) may start a path. Every error names the file,
the node and the property. Standard library only.
"""
import os
import re
import struct
import subprocess
import tempfile

FDT_MAGIC = 0xD00DFEED
FDT_BEGIN_NODE, FDT_END_NODE, FDT_PROP, FDT_NOP, FDT_END = 1, 2, 3, 4, 9
BACKENDS = ("ram", "ufs", "sd")

VM_PROPS = {"compatible", "vm-name", "#address-cells", "#size-cells", "cpus", "memory", "memory-range",
            "bootargs"}
MODULE_PROPS = {"compatible", "file"}
DISK_PROPS = {"compatible", "backend", "partition", "allow-boot-partition", "read-only", "serial", "io-poll-us",
              "irq-coalesce-us", "mmio-shadow", "file"}
MODULES = {"kernel": "multiboot,kernel", "ramdisk": "multiboot,ramdisk"}


class ConfigError(Exception):
    """A configuration file error; str() is 'FILE: NODE: PROPERTY: what'."""


class Node:
    def __init__(self, name, path):
        self.name = name
        self.path = path
        self.props = {}  # name -> bytes, in file order
        self.children = []


def parse_dtb(blob):
    """The node tree of a flattened devicetree (version 17)."""
    magic, _, off_struct, off_strings = struct.unpack_from(">IIII", blob, 0)
    if magic != FDT_MAGIC:
        raise ValueError("not a DTB")
    pos, stack, root = off_struct, [], None

    def cstr(off):
        return blob[off:blob.index(b"\0", off)].decode()

    while True:
        (tok,) = struct.unpack_from(">I", blob, pos)
        pos += 4
        if tok == FDT_BEGIN_NODE:
            name = cstr(pos)
            pos = (pos + len(name) + 1 + 3) & ~3
            parent = stack[-1] if stack else None
            path = "/" if parent is None else (parent.path.rstrip("/") + "/" + name)
            node = Node(name, path)
            if parent is None:
                root = node
            else:
                parent.children.append(node)
            stack.append(node)
        elif tok == FDT_END_NODE:
            stack.pop()
        elif tok == FDT_PROP:
            length, nameoff = struct.unpack_from(">II", blob, pos)
            pos += 8
            stack[-1].props[cstr(off_strings + nameoff)] = blob[pos:pos + length]
            pos = (pos + length + 3) & ~3
        elif tok == FDT_NOP:
            continue
        elif tok == FDT_END:
            return root
        else:
            raise ValueError(f"bad DTB token {tok}")


class Reader:
    def __init__(self, path, variables):
        self.path = path
        self.dir = os.path.dirname(os.path.abspath(path))
        self.variables = variables

    def fail(self, node, prop, what):
        where = f"{node.path}: {prop}: " if prop else f"{node.path}: "
        raise ConfigError(f"{self.path}: {where}{what}")

    def string(self, node, prop, default=None):
        v = node.props.get(prop)
        if v is None:
            return default
        if not v.endswith(b"\0") or b"\0" in v[:-1]:
            self.fail(node, prop, 'expected one string ("...")')
        try:
            return v[:-1].decode()
        except UnicodeDecodeError:
            self.fail(node, prop, "not UTF-8 text")

    def cells(self, node, prop):
        v = node.props[prop]
        if len(v) == 0 or len(v) % 4:
            self.fail(node, prop, "expected cells (<...>)")
        return list(struct.unpack(f">{len(v) // 4}I", v))

    def number(self, node, prop, ncells, default=None):
        """A value of ncells cells (ncells None: 1 or 2 cells)."""
        if prop not in node.props:
            return default
        c = self.cells(node, prop)
        if (ncells is None and len(c) not in (1, 2)) or (ncells is not None and len(c) != ncells):
            self.fail(node, prop, f"expected {ncells or '1 or 2'} cell(s), got {len(c)}")
        v = 0
        for x in c:
            v = (v << 32) | x
        return v

    def check_props(self, node, allowed):
        for prop in node.props:
            if prop not in allowed:
                extra = ' (give file = "path"; the launcher writes reg)' if prop == "reg" else ""
                self.fail(node, prop, f"unknown property{extra}; allowed: {', '.join(sorted(allowed))}")

    def check_compatible(self, node, want):
        c = self.string(node, "compatible")
        if c is not None and c != want:
            self.fail(node, "compatible", f'"{c}", expected "{want}"')

    def file(self, node, prop="file"):
        raw = self.string(node, prop)
        if raw is None:
            self.fail(node, prop, 'missing (file = "path";)')
        if raw == "":
            self.fail(node, prop, "empty path")

        def var(m):
            name = m.group(1) or m.group(2)
            if name not in self.variables:
                self.fail(node, prop, f"unknown variable ${{{name}}} in \"{raw}\" "
                                      f"(known: {', '.join('${%s}' % k for k in sorted(self.variables))})")
            return self.variables[name]

        path = re.sub(r"\$\{(\w+)\}|\$(\w+)", var, raw)
        path = os.path.normpath(os.path.join(self.dir, os.path.expanduser(path)))
        if not os.path.isfile(path):
            self.fail(node, prop, f'"{raw}" not found (looked for {path})')
        return path


def default_variables():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return {"ROOT": root, "KIT": os.environ.get("KIT") or os.path.join(root, "build", "kit")}


def compile_dts(path):
    """dtc the source into a DTB (bytes); dtc's own message names file and line."""
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: no such file")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "vms.dtb")
        r = subprocess.run(["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", out, path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise ConfigError(f"{path}: not valid devicetree source (dtc):\n{r.stdout.strip()}")
        with open(out, "rb") as f:
            return f.read()


def read_vm(rd, node, spec_cls):
    rd.check_props(node, VM_PROPS)
    rd.check_compatible(node, "keel,vm")
    name = rd.string(node, "vm-name", node.name)
    if not name or len(name) > 31:
        rd.fail(node, "vm-name", "1 to 31 characters")
    cpus = rd.number(node, "cpus", 1, 1)
    sc = rd.number(node, "#size-cells", 1, None)
    ac = rd.number(node, "#address-cells", 1, None)
    mem_range = None
    if "memory-range" in node.props:
        c = rd.cells(node, "memory-range")
        a, s = ac or 2, sc or 2
        if len(c) != a + s:
            rd.fail(node, "memory-range", f"expected <base size> in {a}+{s} cells")
        base = size = 0
        for x in c[:a]:
            base = (base << 32) | x
        for x in c[a:]:
            size = (size << 32) | x
        mem_range = (base, size)
        mem = size
    elif "memory" in node.props:
        mem = rd.number(node, "memory", sc, None)
    else:
        rd.fail(node, "memory", "missing (memory = <size>; or memory-range = <base size>;)")
    if mem == 0 or mem % (1 << 20):
        rd.fail(node, "memory-range" if mem_range else "memory", f"size {mem:#x} is not a whole number of MiB")
    vm = spec_cls(name, None, cmdline=rd.string(node, "bootargs", ""), mem_mib=mem >> 20, cpus=cpus,
                  disks=[], mem_range=mem_range, node=node.name)
    for child in node.children:
        base = child.name.split("@")[0]
        if base in MODULES:
            rd.check_props(child, MODULE_PROPS)
            rd.check_compatible(child, MODULES[base])
            if (vm.kernel if base == "kernel" else vm.initrd) is not None:
                rd.fail(child, None, f"a second {base} node")
            if base == "kernel":
                vm.kernel = rd.file(child)
            else:
                vm.initrd = rd.file(child)
        elif base == "disk":
            vm.disks.append(read_disk(rd, child))
        else:
            rd.fail(child, None, "unknown node (kernel, ramdisk or disk@N)")
    if vm.kernel is None:
        rd.fail(node, "kernel", 'missing (a child node kernel { file = "Image"; };)')
    return vm


def read_disk(rd, node):
    rd.check_props(node, DISK_PROPS)
    rd.check_compatible(node, "keel,disk")
    backend = rd.string(node, "backend")
    if backend is None:
        rd.fail(node, "backend", f"missing ({', '.join(BACKENDS)})")
    if backend not in BACKENDS:
        rd.fail(node, "backend", f'unknown "{backend}" ({", ".join(BACKENDS)})')
    disk = {"backend": backend, "node": node.path, "dt_name": node.name}
    if backend == "ram":
        disk["image"] = rd.file(node)
    elif "file" in node.props:
        rd.fail(node, "file", f'only a "ram" disk has an image file; a {backend} disk is on the machine\'s '
                              "disk (DISK=, STORAGE=)")
    part = rd.string(node, "partition")
    if part is not None:
        if backend == "ram":
            rd.fail(node, "partition", "a ram disk is served whole")
        if not part or len(part) > 36 or not all(32 <= ord(ch) < 127 for ch in part):
            rd.fail(node, "partition", f'"{part}": a GPT partition name of 1 to 36 printable ASCII characters '
                                       '(or an MBR partition number 1 to 4)')
        disk["partition"] = part
    if "allow-boot-partition" in node.props:
        if node.props["allow-boot-partition"]:
            rd.fail(node, "allow-boot-partition", "takes no value")
        if part is None:
            rd.fail(node, "allow-boot-partition", "only with partition (an MBR disk's boot partition)")
        disk["allow_boot_partition"] = True
    if "read-only" in node.props:
        if node.props["read-only"]:
            rd.fail(node, "read-only", "takes no value")
        disk["read_only"] = True
    serial = rd.string(node, "serial")
    if serial is not None:
        if len(serial) > 20:
            rd.fail(node, "serial", "at most 20 characters")
        disk["serial"] = serial
    poll = rd.number(node, "io-poll-us", 1, None)
    if poll is not None:
        disk["io_poll_us"] = poll
    coalesce = rd.number(node, "irq-coalesce-us", 1, None)
    if coalesce is not None:
        disk["irq_coalesce_us"] = coalesce
    shadow = rd.number(node, "mmio-shadow", 1, None)
    if shadow is not None:
        disk["mmio_shadow"] = shadow
    return disk


def load(path, spec_cls, variables=None):
    """Parse the configuration file at path; return a list of spec_cls (VmSpec) in file order."""
    blob = compile_dts(path)
    rd = Reader(path, variables if variables is not None else default_variables())
    root = parse_dtb(blob)
    rd.check_props(root, {"#address-cells", "#size-cells"})
    chosen = None
    for child in root.children:
        if child.name != "chosen":
            rd.fail(child, None, "unknown node (a configuration file holds /chosen/vm@N nodes only)")
        chosen = child
    if chosen is None or not chosen.children:
        raise ConfigError(f"{path}: /chosen: no vm@N nodes")
    rd.check_props(chosen, {"keel,stay-on"})
    vms = []
    for child in chosen.children:
        if not re.fullmatch(r"vm@[0-9a-f]+", child.name):
            rd.fail(child, None, "unknown node (vm@N)")
        vms.append(read_vm(rd, child, spec_cls))
    names = [v.name for v in vms]
    for i, n in enumerate(names):
        if n in names[:i]:
            rd.fail(chosen.children[i], "vm-name", f'"{n}" is used twice')
    check_assign_once(path, vms)
    return vms


def stay_on(path):
    """True when the file's /chosen says keel,stay-on (keel stays at its console when every VM is off)."""
    root = parse_dtb(compile_dts(path))
    return any(c.name == "chosen" and "keel,stay-on" in c.props for c in root.children)


def check_assign_once(path, vms):
    """A backend's whole disk, or one of its partitions, goes to one disk node (as keel checks too)."""
    seen = []  # (backend, partition or "", node)
    for vm in vms:
        for d in vm.disks:
            if d["backend"] == "ram":
                continue  # the launcher places RAM-disk images itself: they never overlap
            b, p, node = d["backend"], d.get("partition", ""), d["node"]
            for sb, sp, snode in seen:
                if sb != b or (p and sp and p != sp):
                    continue
                if p and sp:
                    what = f'partition "{p}" is already given to {snode}'
                elif p:
                    what = f'partition "{p}" is inside the whole disk given to {snode}'
                elif sp:
                    what = f'(whole disk) contains partition "{sp}" given to {snode}'
                else:
                    what = f"(whole disk) is already given to {snode}"
                raise ConfigError(f'{path}: {node}: backend "{b}" {what}')
            seen.append((b, p, node))


def check_partitions_on(path, vms, backend, image, block_size):
    """Every partition the VMs name on backend is in image's table: GPT names, or MBR numbers."""
    mbr = mbr_partition_numbers(image)
    have = mbr if mbr is not None else gpt_partition_names(image, block_size)
    kind = "MBR" if mbr is not None else "GPT"
    for vm in vms:
        for d in vm.disks:
            p = d.get("partition")
            if d["backend"] == backend and p and p not in have:
                found = f"its {kind} has: {', '.join(have)}" if have else f"no GPT with {block_size}-byte blocks"
                raise ConfigError(f'{path}: {d["node"]}: partition: "{p}" is not on {image} ({found})')


def mbr_partition_numbers(image):
    """The used primary partition numbers ("1".."4") of image's MBR, or None when it has no MBR or a
    protective one (a GPT disk), as keel decides (drivers/storage/mbr.c)."""
    try:
        with open(image, "rb") as f:
            b0 = f.read(512)
    except OSError:
        return None
    if len(b0) < 512 or b0[510:512] != b"\x55\xaa":
        return None
    entries = [struct.unpack_from("<B3xB3xII", b0, 446 + 16 * i) for i in range(4)]
    if any(e[1] == 0xEE for e in entries):
        return None
    return [str(i + 1) for i, e in enumerate(entries) if e[1] != 0 and e[3] != 0]


def partitions(vms, backend):
    """Partition names the VMs give on backend, in order; None if one takes the whole disk."""
    names = []
    for vm in vms:
        for d in vm.disks:
            if d["backend"] != backend:
                continue
            if not d.get("partition"):
                return None
            if d["partition"] not in names:
                names.append(d["partition"])
    return names


def gpt_partition_names(image, block_size):
    """The partition names of the GPT on image (empty if there is none)."""
    try:
        with open(image, "rb") as f:
            f.seek(block_size)
            hdr = f.read(92)
            if len(hdr) < 92 or hdr[:8] != b"EFI PART":
                return []
            array_lba, count, esize = struct.unpack_from("<QII", hdr, 72)
            f.seek(array_lba * block_size)
            data = f.read(min(count, 256) * esize)
    except OSError:
        return []
    names = []
    for i in range(len(data) // esize):
        e = data[i * esize:(i + 1) * esize]
        if e[:16] != b"\0" * 16:
            names.append(e[56:128].decode("utf-16-le", "replace").rstrip("\0"))
    return names
