#!/usr/bin/python3
"""Boot keel on QEMU virt (or raspi4b, --machine raspi4b) with one or more VMs.

Builds the boot DTB keel reads (QEMU's own DTB, dumped with dumpdtb, or on raspi4b the
kernel package's bcm2711-rpi-4-b.dtb; plus one /chosen/vm@N node per VM in the style of
Xen's dom0less bindings), places the VM images in RAM with `-device loader`, and runs QEMU. Used by `make run`,
the pytest boot tests and `make bench`. Standard library only.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QEMU = "qemu-system-aarch64"
CONSOLE_ESC = "\x1d"  # Ctrl-]: keel's console escape (Ctrl-] k its command line, Ctrl-] N input to VM N)
RAM_BASE = 0x40000000
MODULE_BASE = 0x50000000  # above keel (0x40200000) and QEMU's DTB (0x48000000)
ALIGN = 0x200000
# raspi4b: RAM from 0 (2 GiB in QEMU 10), keel at 0x200000, QEMU's DTB at 0x8000000; VM images from
# 256 MiB, below the 1 GiB the BCM2711's DMA window reaches.
PI_RAM_MIB = 2048
PI_MODULE_BASE = 0x10000000
PI_MODULE_END = 0x40000000


def align_up(x, a=ALIGN):
    return (x + a - 1) & ~(a - 1)


class VmSpec:
    def __init__(self, name, kernel=None, initrd=None, cmdline="", mem_mib=256, cpus=1, disks=None, mem_range=None,
                 node=None, firmware=None):
        self.name = name
        self.kernel = kernel
        # firmware image (e.g. U-Boot's qemu_arm64 u-boot.bin): booted from the VM's CFI flash at IPA 0,
        # as QEMU virt's -bios; kernel and initrd must then be None (the firmware loads them)
        self.firmware = firmware
        self.initrd = initrd
        self.cmdline = cmdline
        self.mem_mib = mem_mib
        self.cpus = cpus
        # each disk: dict(backend="ram"|"ufs"|"sd", image=path (ram), read_only=bool,
        #                 partition=str (GPT name / MBR number), allow_boot_partition=bool,
        #                 serial=str, io_poll_us=int, irq_coalesce_us=int, mmio_shadow=0|1, dt_name=str)
        self.disks = disks or []
        # (base, size) in bytes: fixed VM memory ("memory-range"); mem_mib is then size >> 20
        self.mem_range = mem_range
        # DT node name under /chosen (default vm@<index>); a disk's is disk["dt_name"] (default disk@<index>)
        self.node = node


def disk_file(image, faults=None):
    """The -drive file= of the machine's disk: the image, or with a fault plan (a QEMU blkdebug
    configuration: [inject-error] / [set-state] sections) QEMU's blkdebug driver between the raw
    format and the image, so the plan's errors reach the emulated controller."""
    if not faults:
        return image
    faults, image = os.path.abspath(faults), os.path.abspath(image)
    for what, path in (("fault plan", faults), ("disk image", image)):
        if not os.path.isfile(path):
            raise ValueError(f"{what} {path}: no such file")
        if ":" in path or "," in path:
            raise ValueError(f"{what} {path}: QEMU's blkdebug: syntax cannot take ':' or ',' in a path")
    return f"blkdebug:{faults}:{image}"


def storage_devices(storage, image, faults=None, machine="virt"):
    """QEMU options for the machine's physical disk: a UFS LU or an SD card (ram: none).
    faults: a blkdebug fault plan for that disk (see disk_file); not for ram."""
    if faults and storage not in ("ufs", "sd"):
        raise ValueError(f"a fault plan needs a UFS or SD disk, not {storage}")
    file = disk_file(image, faults)
    if storage == "ufs":
        return ["-drive", f"if=none,id=ufs0,file={file},format=raw",
                "-device", "ufs,serial=keel", "-device", "ufs-lu,drive=ufs0,lun=0"]
    if storage == "sd" and machine == "raspi4b":  # the card on the Arasan controller (bus 0x7e300000)
        return ["-drive", f"if=sd,file={file},format=raw"]
    if storage == "sd":
        return ["-drive", f"if=none,id=sd0,file={file},format=raw",
                "-device", "sdhci-pci", "-device", "sd-card,drive=sd0"]
    return []


def pi_dtb(out_dir):
    """The kernel package's bcm2711-rpi-4-b.dtb (from the kit's debs, as a real Pi's firmware would
    pass it), extracted into out_dir."""
    import glob
    debs = sorted(glob.glob(os.path.join(os.environ.get("KIT", os.path.join(ROOT, "build", "kit")), "debs",
                                         "linux-image-*arm64*.deb")))
    if not debs:
        raise RuntimeError("no kernel package in build/kit/debs: run `make kit`")
    tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", debs[0]], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", out_dir, "--wildcards", "*bcm2711-rpi-4-b.dtb"], input=tar, check=True)
    found = glob.glob(os.path.join(out_dir, "usr/lib/linux-image-*/broadcom/bcm2711-rpi-4-b.dtb"))
    if not found:
        raise RuntimeError(f"{debs[0]}: no broadcom/bcm2711-rpi-4-b.dtb")
    return found[0]


def pi_firmware_seeds(dtb):
    """Fill /chosen/kaslr-seed (8 bytes) and rng-seed (64 bytes) from the host's RNG, as the Pi's
    firmware does from its hardware RNG (QEMU's raspi4b adds none to the DTB it is given): keel's boot
    entropy, and a native guest's own seeds."""
    k = os.urandom(8)
    fdtput(dtb, "-t", "x", "/chosen", "kaslr-seed", f"{int.from_bytes(k[:4], 'big') | 1:x}",
           f"{int.from_bytes(k[4:], 'big'):x}")  # never all zero: Linux and keel ignore a zero seed
    fdtput(dtb, "-t", "bx", "/chosen", "rng-seed", *[f"{b:02x}" for b in os.urandom(64)])


def machine_args(mem_mib, smp, cpu, storage_devs, gic_version=None):
    """QEMU's machine options. gic_version: 3 or 2 (default: $GIC_VERSION, else 3); keel takes the
    GIC version from the DT QEMU writes, and gives its guests the same."""
    gic_version = int(gic_version or os.environ.get("GIC_VERSION") or 3)
    if gic_version not in (2, 3):
        raise RuntimeError(f"GIC_VERSION={gic_version}: keel drives GICv3 and GICv2 only")
    args = [
        "-M", f"virt,virtualization=on,gic-version={gic_version}",
        "-cpu", cpu, "-m", f"{mem_mib}M", "-smp", str(smp),
        "-nographic", "-nic", "none", "-no-reboot",
        "-name", "keel,debug-threads=on",  # QEMU's threads named (CPU n/TCG, worker): for top -H
    ]
    return args + storage_devs


def run_checked(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout}")
    return r.stdout


def fdtput(dtb, *args):
    run_checked(["fdtput", dtb] + [str(a) for a in args])


def cells64(v):
    return [hex(v >> 32), hex(v & 0xffffffff)]


def build(vms, workdir, mem_mib=2048, smp=None, cpu="max,sve=off,sme=off", storage_devs=(), gic_version=None,
          stay_on=False, machine="virt"):
    """Return (qemu argv, placement log) for keel + vms. machine: "virt" or "raspi4b" (QEMU's
    Raspberry Pi 4B: 4 CPUs, 2 GiB; mem_mib, smp, cpu and gic_version do not apply; keel from
    build/rpi4, `make PLATFORM=rpi4`)."""
    dtb = os.path.join(workdir, "keel-boot.dtb")
    if machine == "raspi4b":
        margs = ["-M", "raspi4b", "-display", "none", "-serial", "mon:stdio", "-serial", "null",
                 "-no-reboot"] + list(storage_devs)
        shutil.copyfile(pi_dtb(workdir), dtb)
        fdtput(dtb, "-t", "s", "/chosen", "stdout-path", "serial0:115200n8")  # the PL011: QEMU's first -serial
        pi_firmware_seeds(dtb)
        addr, ram_end = PI_MODULE_BASE, PI_MODULE_END
        mem_mib = PI_MODULE_END >> 20
    elif machine == "virt":
        smp = smp or max(1, sum(v.cpus for v in vms))
        margs = machine_args(mem_mib, smp, cpu, list(storage_devs), gic_version)
        run_checked([QEMU] + margs[:-0 or None] + ["-machine", f"dumpdtb={dtb}"])
        addr = MODULE_BASE
        ram_end = RAM_BASE + mem_mib * 1024 * 1024
    else:
        raise ValueError(f"machine {machine}: keel_qemu knows virt and raspi4b")
    loaders = []

    def place(path):
        nonlocal addr
        size = os.path.getsize(path)
        base = addr
        addr = align_up(addr + size)
        if addr > ram_end:
            raise RuntimeError(f"{path}: does not fit in {mem_mib} MiB of RAM")
        loaders.extend(["-device", f"loader,file={path},addr={hex(base)},force-raw=on"])
        return base, size

    def vm_node(i):
        return "/chosen/" + (getattr(vms[i], "node", None) or f"vm@{i}")

    def disk_node(i, d):
        return vm_node(i) + "/" + (vms[i].disks[d].get("dt_name") or f"disk@{d}")

    if stay_on:  # keel stays at its console when every VM is off (core/config.h)
        fdtput(dtb, "-t", "s", "/chosen", "keel,stay-on", "")
    # fdtput -c inserts a node before its siblings: create in reverse so vm@0 comes first.
    for i in reversed(range(len(vms))):
        fdtput(dtb, "-c", vm_node(i))
        for d in reversed(range(len(vms[i].disks))):
            fdtput(dtb, "-c", disk_node(i, d))
    for i, vm in enumerate(vms):
        node = vm_node(i)
        fdtput(dtb, "-t", "s", node, "compatible", "keel,vm")
        fdtput(dtb, "-t", "s", node, "vm-name", vm.name)
        fdtput(dtb, "-t", "x", node, "#address-cells", 2)
        fdtput(dtb, "-t", "x", node, "#size-cells", 2)
        fdtput(dtb, "-t", "x", node, "cpus", vm.cpus)
        if vm.mem_range:
            fdtput(dtb, "-t", "x", node, "memory-range", *(cells64(vm.mem_range[0]) + cells64(vm.mem_range[1])))
        else:
            fdtput(dtb, "-t", "x", node, "memory", *cells64(vm.mem_mib * 1024 * 1024))
        if vm.cmdline:
            fdtput(dtb, "-t", "s", node, "bootargs", vm.cmdline)
        if vm.firmware:
            base, size = place(vm.firmware)
            fdtput(dtb, "-c", node + "/firmware")
            fdtput(dtb, "-t", "s", node + "/firmware", "compatible", "keel,firmware")
            fdtput(dtb, "-t", "x", node + "/firmware", "reg", *(cells64(base) + cells64(size)))
        if vm.kernel:
            base, size = place(vm.kernel)
            fdtput(dtb, "-c", node + "/kernel")
            fdtput(dtb, "-t", "s", node + "/kernel", "compatible", "multiboot,kernel")
            fdtput(dtb, "-t", "x", node + "/kernel", "reg", *(cells64(base) + cells64(size)))
        if vm.initrd:
            base, size = place(vm.initrd)
            fdtput(dtb, "-c", node + "/ramdisk")
            fdtput(dtb, "-t", "s", node + "/ramdisk", "compatible", "multiboot,ramdisk")
            fdtput(dtb, "-t", "x", node + "/ramdisk", "reg", *(cells64(base) + cells64(size)))
        for d, disk in enumerate(vm.disks):
            dn = disk_node(i, d)
            fdtput(dtb, "-t", "s", dn, "compatible", "keel,disk")
            fdtput(dtb, "-t", "s", dn, "backend", disk["backend"])
            if disk["backend"] == "ram":
                base, size = place(disk["image"])
                fdtput(dtb, "-t", "x", dn, "reg", *(cells64(base) + cells64(size)))
            if disk.get("read_only"):
                fdtput(dtb, "-t", "s", dn, "read-only", "")
            if disk.get("partition"):
                fdtput(dtb, "-t", "s", dn, "partition", disk["partition"])
            if disk.get("allow_boot_partition"):
                fdtput(dtb, "-t", "s", dn, "allow-boot-partition", "")
            if disk.get("serial"):
                fdtput(dtb, "-t", "s", dn, "serial", disk["serial"])
            if disk.get("io_poll_us") is not None:
                fdtput(dtb, "-t", "u", dn, "io-poll-us", disk["io_poll_us"])
            if disk.get("irq_coalesce_us") is not None:
                fdtput(dtb, "-t", "u", dn, "irq-coalesce-us", disk["irq_coalesce_us"])
            if disk.get("mmio_shadow") is not None:
                fdtput(dtb, "-t", "u", dn, "mmio-shadow", disk["mmio_shadow"])
    keel = os.path.join(ROOT, "build", "rpi4" if machine == "raspi4b" else "qemu-virt", "keel.bin")
    argv = [QEMU] + margs + ["-kernel", keel, "-dtb", dtb] + loaders
    return argv


def run(argv, timeout, log_path=None, interactive=False, until=None, send=()):
    """Run QEMU; return (exit code or None on timeout/until, output text).

    until: a regex; QEMU is stopped as soon as the output matches it (for hangs by design, e.g. panic).
    send: (regex, text) pairs: once the output matches regex, text is typed on QEMU's standard input
    (the console), each pair once, in order.
    The patterns are searched only when output arrived (this loop shares the host's CPUs with the QEMU
    it watches); write lookahead-only patterns with \\A, or re.search retries them at every offset.
    """
    import re
    if interactive:
        return subprocess.call(argv), ""
    out = []
    pending = list(send)
    logf = open(log_path, "w") if log_path else None
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE if pending else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    rc = None
    typed = False
    try:
        os.set_blocking(proc.stdout.fileno(), False)
        while True:
            chunk = proc.stdout.read()
            fresh = bool(chunk)
            if chunk:
                text = chunk.decode("utf-8", "replace")
                out.append(text)
                if logf:
                    logf.write(text)
                    logf.flush()
                if os.environ.get("KEEL_ECHO"):
                    sys.stdout.write(text)
                    sys.stdout.flush()
            if fresh or typed:  # after typing, the next pattern may already match
                whole = "".join(out)
                typed = False
                if until and re.search(until, whole):
                    break
                if pending and re.search(pending[0][0], whole):
                    proc.stdin.write(pending.pop(0)[1].encode())
                    proc.stdin.flush()
                    typed = True
            if proc.poll() is not None:
                rest = proc.stdout.read()
                if rest:
                    out.append(rest.decode("utf-8", "replace"))
                rc = proc.returncode
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if logf:
            logf.close()
    return rc, "".join(out).replace("\r", "")


def load_vms_file(path, variables=None):
    """The VMs of a configuration file (see scripts/vms_config.py); raises vms_config.ConfigError."""
    import vms_config
    return vms_config.load(path, VmSpec, variables)


def vms_machine_disk(path, vms, storage=None, disk=None, size_mib=256, disk_dir=None):
    """(storage, image) for the machine's physical disk in a VMS file run.

    storage (STORAGE=) defaults to the one backend the VMs use besides "ram"; a VM disk on another
    backend is an error naming its node. disk (DISK=) defaults to build/disk/<file name>.img, made
    if missing (or if it lacks a partition the VMs name): a GPT with the partitions the VMs name,
    in order, sharing size_mib, or a blank disk when a VM takes the whole disk.
    """
    import vms_config
    used = [(d["backend"], d.get("node", "?")) for vm in vms for d in vm.disks if d["backend"] != "ram"]
    if storage is None:
        storage = used[0][0] if used else "ram"
    for backend, node in used:
        if backend != storage:
            raise vms_config.ConfigError(f"{path}: {node}: backend: \"{backend}\" but the machine's disk is "
                                         f"{storage} (STORAGE={storage})")
    if storage == "ram":
        return storage, disk
    parts = vms_config.partitions(vms, storage)
    bs = 4096 if storage == "ufs" else 512
    if disk:
        if not os.path.isfile(disk):
            raise vms_config.ConfigError(f"{path}: DISK={disk}: no such file")
        vms_config.check_partitions_on(path, vms, storage, disk, bs)
        return storage, disk
    disk = os.path.join(disk_dir or os.path.join(ROOT, "build", "disk"),
                        os.path.splitext(os.path.basename(path))[0] + ".img")
    if os.path.exists(disk) and (parts is None or set(parts) <= set(vms_config.gpt_partition_names(disk, bs))):
        return storage, disk
    if os.path.exists(disk):
        print(f"keel_qemu: {disk} lacks a partition the VMs name: making it again", flush=True)
    os.makedirs(os.path.dirname(disk), exist_ok=True)
    if parts:
        each = (size_mib - 2) // len(parts)
        specs = [f"{n}:{each}" for n in parts[:-1]] + [f"{parts[-1]}:0"]
        out = run_checked([sys.executable, os.path.join(ROOT, "scripts", "mkgpt.py"), disk, str(size_mib), str(bs)]
                          + specs)
        print(f"keel_qemu: made {disk}: GPT, {bs}-byte blocks, partitions (name offset size):\n{out}", end="",
              flush=True)
    else:
        with open(disk, "wb") as f:
            f.truncate(size_mib << 20)
        print(f"keel_qemu: made {disk}: {size_mib} MiB, blank", flush=True)
    return storage, disk


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vms", help="VM configuration file (devicetree source, see README)")
    ap.add_argument("--kernel")
    ap.add_argument("--firmware", help="boot the VM through this firmware image from its CFI flash (no --kernel)")
    ap.add_argument("--initrd")
    ap.add_argument("--cmdline", default="")
    ap.add_argument("--mem", type=int, default=256, help="VM memory in MiB")
    ap.add_argument("--disk", help="raw disk image")
    ap.add_argument("--storage", choices=["ram", "ufs", "sd"],
                    help="the disk's kind (default: ram; with --vms, the VMs' backend)")
    ap.add_argument("--disk-faults", metavar="RULES",
                    help="QEMU blkdebug fault plan for the UFS or SD disk (errors injected on chosen sectors)")
    ap.add_argument("--stay-on", action="store_true",
                    help="keel stays at its console when every VM is off (/chosen keel,stay-on)")
    ap.add_argument("--machine-mem", type=int, default=2048)
    ap.add_argument("--timeout", type=float, default=0, help="seconds; 0 = none (interactive)")
    ap.add_argument("--log")
    ap.add_argument("--gic-version", type=int, choices=[2, 3],
                    help="QEMU virt's GIC (default: $GIC_VERSION, else 3)")
    ap.add_argument("--machine", choices=["virt", "raspi4b"], default="virt",
                    help="QEMU machine: virt, or raspi4b (keel from `make PLATFORM=rpi4`; SD card on the "
                         "Arasan controller)")
    a = ap.parse_args()
    import vms_config
    if a.vms:
        try:
            vms = load_vms_file(a.vms)
            storage, image = vms_machine_disk(a.vms, vms, a.storage, a.disk)
        except vms_config.ConfigError as e:
            sys.exit(f"keel_qemu: {e}")
        if a.disk_faults and not image:
            sys.exit("keel_qemu: --disk-faults needs a UFS or SD disk")
        try:
            devs = storage_devices(storage, image, a.disk_faults, a.machine) if image else []
        except ValueError as e:
            sys.exit(f"keel_qemu: --disk-faults: {e}")
    else:
        if not a.kernel and not a.firmware:
            ap.error("--kernel, --firmware or --vms is required")
        storage = a.storage or "ram"
        disks, devs = [], []
        if a.disk_faults and not (a.disk and storage in ("ufs", "sd")):
            sys.exit("keel_qemu: --disk-faults needs --disk with --storage ufs or sd")
        if a.disk:
            disks.append({"backend": storage, "image": a.disk})
            try:
                devs = storage_devices(storage, a.disk, a.disk_faults, a.machine)
            except ValueError as e:
                sys.exit(f"keel_qemu: --disk-faults: {e}")
        vms = [VmSpec("linux", a.kernel, a.initrd, a.cmdline, a.mem, 1, disks, firmware=a.firmware)]
    with tempfile.TemporaryDirectory() as tmp:
        stay_on = a.stay_on or (a.vms is not None and vms_config.stay_on(a.vms))
        argv = build(vms, tmp, mem_mib=a.machine_mem, storage_devs=devs, gic_version=a.gic_version,
                     stay_on=stay_on, machine=a.machine)
        interactive = sys.stdin.isatty() and not a.timeout
        if interactive:
            print("keel: QEMU console; quit with Ctrl-A x", flush=True)
            sys.exit(subprocess.call(argv))
        os.environ["KEEL_ECHO"] = "1"
        rc, _ = run(argv, a.timeout or 3600, a.log)
        sys.exit(1 if rc is None else rc)


if __name__ == "__main__":
    main()
