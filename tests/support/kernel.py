"""The Linux kernel as an oracle: Debian's kernel booted in QEMU with a tiny initramfs says
what it sees on a disk image.

``initramfs(folder)`` builds one initramfs (Debian's static busybox, the kernel's virtio_blk
and ntfs3 modules from ``support.debian``, and an /init shell script); ``kernel_view(image,
fmt, ...)`` boots it with the image as a read-only virtio disk and returns the kernel's
partitions of that disk (from /sys/block/vda) and, with ``ntfs_part``, every file of that
partition as ntfs3 mounts it: ``{path: (size, sha256)}`` and its directories.

KVM when /dev/kvm opens and runs this kernel, else QEMU emulates the CPU (TCG: a boot takes
about 4 s of one core). A /dev/kvm that opens may still not run a stock kernel (a PVM host
stops its decompressor with "emulation failure" and QEMU would wait forever; with ``-cpu max``
QEMU aborts on an MSR it cannot set): the first such boot falls back to TCG, and so do the
rest of the session's.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field

import pytest

from support import debian, need_tool

TIMEOUT = 240  # seconds; a TCG boot takes about 4 on an idle core

# /init: each line the test reads starts with "dk:"; the request comes on the kernel command
# line: dk.disks=N (wait for N disks), dk.ntfs=dk0/2,dk1/ (list the NTFS of partition 2 of
# disk dk0 and the one on the whole disk dk1)
INIT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin /proc /sys /mnt
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for module in $(cat /modules/order); do
    insmod /modules/$module.ko || echo "dk:error insmod $module"
done
for word in $(cat /proc/cmdline); do
    case "$word" in dk.ntfs=*) ntfs="${word#dk.ntfs=}";; dk.disks=*) disks="${word#dk.disks=}";; esac
done
i=0
while [ "$(ls -d /sys/block/vd* 2>/dev/null | wc -l)" -lt "$disks" ] && [ $i -lt 100 ]; do
    sleep 0.1; i=$((i+1))
done
echo "dk:begin"
for disk in /sys/block/vd*; do
    d=$(cat $disk/serial)
    eval "dev_$d=${disk##*/}"
    echo "dk:disk $d $(cat $disk/size)"
    for p in $disk/vd*; do
        [ -e "$p/partition" ] && echo "dk:part $d $(cat $p/partition) $(cat $p/start) $(cat $p/size)"
    done
    while read -r major minor blocks name; do
        n=${name#${disk##*/}}
        case "$name" in ${disk##*/}*) echo "dk:proc $d ${n:-0} $blocks";; esac
    done </proc/partitions
done
for volume in $(echo "$ntfs" | tr , ' '); do
    d=${volume%%/*}
    eval "device=/dev/\${dev_$d}${volume#*/}"
    if mount -t ntfs3 -o ro "$device" /mnt; then
        echo "dk:mounted $d $(grep ' /mnt ' /proc/mounts)"
        cd /mnt
        find . -mindepth 1 -type d | while IFS= read -r f; do echo "dk:dir $d ${f#.}"; done
        find . -type f | while IFS= read -r f; do
            sum=$(sha256sum "$f")
            echo "dk:file $d $(stat -c %s "$f") ${sum%% *} ${f#.}"
        done
        cd /
        umount /mnt
    else
        echo "dk:error mount $device"
    fi
done
echo "dk:end"
poweroff -f
"""


def newc(entries: list[tuple[str, int, bytes, int]]) -> bytes:
    """A cpio "newc" archive (what the kernel unpacks as initramfs): (name, mode, data, rdev)."""
    out = bytearray()
    for ino, (name, mode, data, rdev) in enumerate([*entries, ("TRAILER!!!", 0, b"", 0)], 1):
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev >> 8, rdev & 0xFF,
                  len(name) + 1, 0]
        out += b"070701" + "".join(f"{f:08x}" for f in fields).encode() + name.encode() + b"\0"
        out += bytes(-len(out) % 4) + data
        out += bytes(-len(out) % 4)
    return bytes(out)


def initramfs(folder) -> str:
    """The initramfs every kernel-oracle boot uses, written into ``folder``; skips when
    qemu-system-x86_64, busybox-static or the Debian kernel is unavailable."""
    need_tool("qemu-system-x86_64")
    with open(need_tool("busybox"), "rb") as fh:
        busybox = fh.read()
    if b"/ld-linux" in busybox[:4096]:  # a dynamic busybox has no C library in the initramfs
        pytest.skip("busybox-static is not installed (see .ci/run's apt-get line)")
    modules = debian.kernel_modules()
    entries = [("dev", 0o40755, b"", 0), ("dev/console", 0o20600, b"", 0x0501),
               ("bin", 0o40755, b"", 0), ("bin/busybox", 0o100755, busybox, 0),
               ("modules", 0o40755, b"", 0),
               ("modules/order", 0o100644,
                "".join(os.path.basename(m)[:-3] + "\n" for m in modules).encode(), 0)]
    for path in modules:
        with open(path, "rb") as fh:
            entries.append((f"modules/{os.path.basename(path)}", 0o100644, fh.read(), 0))
    entries.append(("init", 0o100755, INIT.encode(), 0))
    out = os.path.join(folder, "initramfs.cpio")
    with open(out, "wb") as fh:
        fh.write(newc(entries))
    return out


@dataclass
class KernelView:
    """What the kernel printed. For each disk (0: the image, 1.. the ``others``): ``sectors``
    its size, ``disks`` its partitions {number: (start, size)} in 512-byte sectors, ``proc``
    {number (0: the disk): 1 KiB blocks} from /proc/partitions, and of its NTFS ntfs3 mounted:
    ``volumes`` (the /proc/mounts line, directories, {path: (size, sha256)}); ``parts``,
    ``mounted``, ``dirs`` and ``files`` are those of the image; ``log`` the serial output."""
    log: str
    sectors: dict[int, int] = field(default_factory=dict)
    disks: dict[int, dict[int, tuple[int, int]]] = field(default_factory=dict)
    proc: dict[int, dict[int, int]] = field(default_factory=dict)
    volumes: dict[int, tuple[str, set[str], dict[str, tuple[int, str]]]] = field(
        default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def parts(self) -> dict[int, tuple[int, int]]:
        return self.disks.get(0, {})

    @property
    def mounted(self) -> str:
        return self.volumes.get(0, ("", set(), {}))[0]

    @property
    def dirs(self) -> set[str]:
        return self.volumes.get(0, ("", set(), {}))[1]

    @property
    def files(self) -> dict[str, tuple[int, str]]:
        return self.volumes.get(0, ("", set(), {}))[2]


def _parse(log: str) -> KernelView:
    view = KernelView(log)
    lines = [line.rstrip("\r") for line in log.split("\n")]
    if "dk:begin" not in lines or "dk:end" not in lines:
        raise AssertionError(f"the kernel's /init did not finish:\n{log[-3000:]}")
    for line in lines[lines.index("dk:begin"):lines.index("dk:end")]:
        kind, _, rest = line.partition(" ")
        if kind == "dk:disk":
            disk, sectors = rest.split()
            view.sectors[int(disk[2:])] = int(sectors)
        elif kind == "dk:part":
            disk, number, start, size = rest.split()
            view.disks.setdefault(int(disk[2:]), {})[int(number)] = (int(start), int(size))
        elif kind == "dk:proc":
            disk, number, blocks = rest.split()
            view.proc.setdefault(int(disk[2:]), {})[int(number)] = int(blocks)
        elif kind == "dk:mounted":
            disk, mount = rest.split(" ", 1)
            view.volumes[int(disk[2:])] = (mount, set(), {})
        elif kind == "dk:dir":
            disk, path = rest.split(" ", 1)
            view.volumes[int(disk[2:])][1].add(path)
        elif kind == "dk:file":
            disk, size, digest, path = rest.split(" ", 3)
            view.volumes[int(disk[2:])][2][path] = (int(size), digest)
        elif kind == "dk:error":
            view.errors.append(rest)
    return view



_KVM_WORKS = [os.access("/dev/kvm", os.R_OK | os.W_OK)]  # until a boot shows otherwise


def _boot(accel: list[str], cmd: list[str], serial: str) -> bool:
    """Run QEMU until the guest powers off; False when KVM cannot run this kernel: QEMU
    stopped at once, or it reports "KVM internal error" (a PVM host's "emulation failure"
    in the kernel's decompressor), where it would otherwise wait until the timeout."""
    errors = serial + ".stderr"
    with open(errors, "wb") as err:
        proc = subprocess.Popen([cmd[0], *accel, *cmd[1:]], stdout=subprocess.DEVNULL,
                                stderr=err)
    deadline = time.monotonic() + TIMEOUT
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            with open(errors, "rb") as err:
                if accel[1] == "kvm" and b"KVM internal error" in err.read():
                    return False
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    with open(serial, "rb") as fh:
        return accel[1] != "kvm" or b"dk:begin" in fh.read()


def disk_args(disks: list[tuple[str, str]]) -> list[str]:
    """QEMU's arguments for read-only virtio disks (path, format) with serials dk0, dk1, ..."""
    args = []
    for n, (path, fmt) in enumerate(disks):
        args += ["-drive", f"file={path},format={fmt},if=none,readonly=on,id=d{n}",
                 "-device", f"virtio-blk-pci,drive=d{n},serial=dk{n}"]
    return args


def kernel_view(initrd: str, image: str, fmt: str = "raw", ntfs_part: int | None = None,
                workdir: str | None = None, others: tuple = ()) -> KernelView:
    """Boot the kernel with ``image`` (QEMU format ``fmt``; list the NTFS of partition
    ``ntfs_part``, 0 for the whole disk) and ``others`` (raw image paths, or (path, format,
    ntfs_part)) as read-only virtio disks with serial numbers dk0, dk1, ..."""
    disks = [(image, fmt, ntfs_part),
             *((other, "raw", None) if isinstance(other, str) else other for other in others)]
    ntfs = ",".join(f"dk{n}/{part or ''}" for n, (_, _, part) in enumerate(disks)
                    if part is not None)
    append = (f"console=ttyS0 panic=-1 quiet loglevel=3 dk.disks={len(disks)}"
              + (f" dk.ntfs={ntfs}" if ntfs else ""))
    serial = os.path.join(workdir or os.path.dirname(image), "kernel-serial.log")
    cmd = ["qemu-system-x86_64", "-m", "512", "-smp", "1", "-display", "none",
           "-monitor", "none", "-serial", f"file:{serial}", "-no-reboot", "-net", "none",
           "-kernel", debian.kernel(), "-initrd", initrd, "-append", append,
           *disk_args([(path, form) for path, form, _ in disks])]
    if os.path.exists(serial):
        os.unlink(serial)
    if not (_KVM_WORKS[0] and _boot(["-accel", "kvm", "-cpu", "max"], cmd, serial)):
        _KVM_WORKS[0] = False
        _boot(["-accel", "tcg"], cmd, serial)
    with open(serial, "rb") as fh:
        return _parse(fh.read().decode("utf-8", "replace"))
