"""The partition layout inside a RAMOS VHD, per boot chain, and ``ramos init`` which builds it.

SVBus chains (grub2-map, grub4efi) and native VHD boot start ``\\EFI\\BOOT\\BOOTX64.EFI`` from
an ESP *inside* the VHD, so the VHD is GPT: ESP (FAT32, 100 MiB), MSR (16 MiB), Windows
(the rest) -- the layout ``bcdboot /f UEFI`` expects. Microsoft's ramdisk chains (ntloader,
bootmgr-ramdisk) hand one partition to ramdisk.sys at a byte offset and boot with the loader
on the machine's own ESP, so the VHD is MBR with a single active NTFS partition at 1 MiB (the
BIOS VM used for tuning boots it with ``bcdboot /s V: /f ALL``).

``layout_for`` is pure arithmetic, shared by ``ramos plan`` and ``ramos init`` so the offsets
both print are the same numbers; ``init`` writes them with the partition and FAT layers.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from ..boot.chains import ramos_chain
from ..boot.target import BASIC_DATA_GUID, ESP_GUID, MSR_GUID
from ..errors import CorruptImage, UsageError
from ..fileio import atomic_output
from ..units import GiB, MiB, format_size

ALIGN = MiB
ESP_SIZE = 100 * MiB
MSR_SIZE = 16 * MiB
MIN_WINDOWS = 16 * MiB  # what mkntfs and the layout need: smaller is refused
MIN_SANE_WINDOWS = 3 * GiB  # a trimmed Windows 10/11 after Compact OS: smaller only warns
MAX_VHD = 2040 * GiB  # the VHD format's limit
GPT_BACKUP = 33 * 512  # backup entry array (32 sectors) + header at the end of the disk
ESP_CLUSTER = 512  # 100 MiB / 512 B ~ 200k clusters: FAT32 stays above 65,525 (OVMF insists)



@dataclass(frozen=True)
class PartSpec:
    index: int  # 1-based, as diskpart's "select partition N"
    role: str  # esp | msr | windows
    start: int  # bytes from the start of the disk
    size: int
    type: str  # GPT type GUID, or "0x07" on MBR
    name: str  # GPT partition name ("" on MBR)
    filesystem: str | None  # fat32 | ntfs | None (MSR)

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True)
class Layout:
    chain: str
    disk_size: int
    table: str  # gpt | mbr
    partitions: tuple[PartSpec, ...]

    @property
    def windows(self) -> PartSpec:
        return next(p for p in self.partitions if p.role == "windows")

    @property
    def esp(self) -> PartSpec | None:
        return next((p for p in self.partitions if p.role == "esp"), None)

    def to_dict(self) -> dict:
        return {"chain": self.chain, "disk_size": self.disk_size, "table": self.table,
                "windows_offset": self.windows.start,
                "partitions": [asdict(p) for p in self.partitions]}

    def to_text(self) -> str:
        rows = [f"  {p.index}  {p.role:<8} offset {p.start:>12} ({format_size(p.start)})  "
                f"size {format_size(p.size):>10}  {p.filesystem or '-'}" for p in self.partitions]
        return "\n".join([f"{self.table.upper()} layout for {self.chain}:", *rows])


def layout_for(chain: str, disk_size: int) -> Layout:
    """The partitions ``ramos init`` creates for ``chain`` on a disk of ``disk_size`` bytes."""
    table = ramos_chain(chain).vhd_table
    if disk_size % ALIGN:
        raise UsageError(f"VHD size {disk_size} is not a whole number of MiB "
                         "(Hyper-V, Azure and the loaders want 1 MiB multiples)")
    if disk_size > MAX_VHD:
        raise UsageError(f"VHD size {format_size(disk_size)} is above the VHD format's 2040 GiB")
    if table == "mbr":
        end = disk_size
        parts = [PartSpec(1, "windows", ALIGN, end - ALIGN, "0x07", "", "ntfs")]
    else:
        end = (disk_size - GPT_BACKUP) // ALIGN * ALIGN
        win_start = ALIGN + ESP_SIZE + MSR_SIZE
        parts = [PartSpec(1, "esp", ALIGN, ESP_SIZE, ESP_GUID, "EFI system partition", "fat32"),
                 PartSpec(2, "msr", ALIGN + ESP_SIZE, MSR_SIZE, MSR_GUID,
                          "Microsoft reserved partition", None),
                 PartSpec(3, "windows", win_start, end - win_start, BASIC_DATA_GUID,
                          "Basic data partition", "ntfs")]
    if parts[-1].size < MIN_WINDOWS:
        smallest = parts[-1].start + MIN_WINDOWS + (disk_size - end)
        raise UsageError(f"VHD size {format_size(disk_size)} is too small for the {chain} layout "
                         f"(at least {format_size(-(-smallest // ALIGN) * ALIGN)})")
    return Layout(chain, disk_size, table, tuple(parts))


def _partition(dev, spec: PartSpec, table: str):
    from ..part import add_partition

    if table == "mbr":
        return add_partition(dev, "ntfs", spec.size, start=spec.start, bootable=True)
    return add_partition(dev, spec.role, spec.size, name=spec.name, start=spec.start)  # role = type alias


def write_layout(dev, layout: Layout) -> None:
    """Partition ``dev`` and format its ESP; check the result against the plan's offsets."""
    from ..fat import mkfs
    from ..part import init_gpt, init_mbr, partition_device, read_table

    (init_mbr if layout.table == "mbr" else init_gpt)(dev)
    for spec in layout.partitions:
        _partition(dev, spec, layout.table)
    table = read_table(dev)
    got = [(p.index, p.start, p.size) for p in table.partitions]
    want = [(p.index, p.start, p.size) for p in layout.partitions]
    if table.kind != layout.table or got != want:
        raise CorruptImage(f"{dev.name}: partitions came out as {got}, planned {want}")
    if layout.esp:
        mkfs(partition_device(dev, layout.esp.index), fat_type=32, label="SYSTEM",
             cluster_size=ESP_CLUSTER)


def check_image_name(path: str) -> list[str]:
    """Refuse a name that promises another format; warnings for a name Windows will not attach."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".vhdx":
        raise UsageError(f"{path}: ramos init makes a VHD, not a VHDX (the RAM loaders read VHD "
                         "files only); name it .vhd")
    if ext != ".vhd":
        return [f"{path}: the image is a fixed VHD; Windows (Disk Management, diskpart) attaches "
                "it only under a .vhd name"]
    return []


def size_warnings(layout: Layout) -> list[str]:
    """A layout that fits but leaves no room for a Windows worth booting."""
    win = layout.windows
    if win.size >= MIN_SANE_WINDOWS:
        return []
    smallest = win.start + MIN_SANE_WINDOWS + (layout.disk_size - win.end)
    return [f"the Windows partition is only {format_size(win.size)}: even a trimmed Windows "
            f"(LTSC, Compact OS, re-captured) needs about {format_size(MIN_SANE_WINDOWS)}; "
            f"with the {layout.chain} layout that is a VHD of at least "
            f"{format_size(-(-smallest // ALIGN) * ALIGN)} (fine for a test image)"]


def init(path: str, size: int, chain: str, preallocate: bool | None = None, force: bool = False,
         format_ntfs: bool | None = None) -> dict:
    """Create the fixed VHD for ``chain``: partitions, FAT32 ESP, NTFS when mkntfs exists.

    Built under a temporary name and renamed at the end, so a failure leaves nothing behind.
    ``format_ntfs`` None means "if mkntfs is installed".
    """
    from .. import vhd
    from . import linux

    layout = layout_for(chain, size)
    warnings = check_image_name(path) + size_warnings(layout)
    if format_ntfs is None:
        format_ntfs = linux.tool("mkntfs") is not None
    win = layout.windows
    with atomic_output(path, force) as tmp:
        with vhd.new_image(tmp, size, "fixed", preallocate=preallocate, name=path) as dev:
            write_layout(dev, layout)
        ntfs = linux.mkntfs(tmp, win.start, win.size) if format_ntfs else None
    return {"image": path, "layout": layout.to_dict(), "ntfs_formatted": bool(ntfs),
            "mkntfs": ntfs, "warnings": warnings,
            "next_steps": next_steps(path, layout, bool(ntfs))}


def next_steps(path: str, layout: Layout, ntfs: bool) -> list[str]:
    """What the user does after ``ramos init``, in order."""
    win = layout.windows
    steps = []
    if not ntfs:
        steps.append("the Windows partition is not formatted yet: the deploy script formats it "
                     "(diskpart format), or install ntfs-3g and rerun init")
    steps += [
        f"apply Windows: on Windows `diskkit ramos script deploy --vhd D:\\ramos\\"
        f"{os.path.basename(path)} --wim install.wim --index N --chain {layout.chain}"
        + (" --svbus DIR" if ramos_chain(layout.chain).needs_svbus else "") + " --out deploy.cmd`, "
        "then run deploy.cmd as administrator"
        + ("; on Linux `... --run` applies the WIM with wimapply" if ntfs else ""),
        f"tune it in a VM: `diskkit vm qemu {path}` or `diskkit vm virtualbox {path}`",
        f"boot loader config: `diskkit boot config --chain {layout.chain} --vhd {path} "
        "--vhd-path /ramos/" + os.path.basename(path) + "`",
        f"the Windows partition starts at byte {win.start}: the offset ntloader (imgofs) and "
        "bootmgr (ramdiskimageoffset) need",
    ]
    return steps
