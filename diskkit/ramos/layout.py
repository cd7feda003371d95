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
from ..part.types import BASIC_DATA_GUID, ESP_GUID, MSR_GUID
from ..errors import CorruptImage, UsageError
from ..fileio import atomic_output
from ..i18n import tr
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
        offset, size = tr("offset"), tr("size")
        rows = [f"  {p.index}  {p.role:<8} {offset} {p.start:>12} ({format_size(p.start)})  "
                f"{size} {format_size(p.size):>10}  {p.filesystem or '-'}" for p in self.partitions]
        return "\n".join([tr("{table} layout for {chain}:", table=self.table.upper(),
                             chain=self.chain), *rows])


def nearest_valid_size(size: int) -> str:
    """What the user probably meant by a size that is not whole MiB, as a size to type."""
    if size < MiB:
        return tr("did you mean {n}G? A size without a unit is bytes", n=size)
    for factor, unit in ((10**12, "T"), (10**9, "G"), (10**6, "M")):
        if size % factor == 0:  # a decimal unit (4GB): the binary one is what the tools expect
            return tr("did you mean {n}{unit} ({n} binary {unit}iB)?", n=size // factor,
                      unit=unit)
    mib = max(1, round(size / MiB))
    return tr("the nearest valid size is {n}M", n=mib)


def layout_for(chain: str, disk_size: int) -> Layout:
    """The partitions ``ramos init`` creates for ``chain`` on a disk of ``disk_size`` bytes."""
    table = ramos_chain(chain).vhd_table
    if disk_size % ALIGN:
        raise UsageError(tr("VHD size {size} bytes is not a whole number of MiB (Hyper-V, Azure "
                            "and the loaders want 1 MiB multiples): {hint}", size=disk_size,
                            hint=nearest_valid_size(disk_size)))
    if disk_size > MAX_VHD:
        raise UsageError(tr("VHD size {size} is above the VHD format's 2040 GiB",
                            size=format_size(disk_size)))
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
        raise UsageError(tr("VHD size {size} is too small for the {chain} layout (at least "
                            "{least})", size=format_size(disk_size), chain=chain,
                            least=format_size(-(-smallest // ALIGN) * ALIGN)))
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
        raise UsageError(tr("{path}: ramos init makes a VHD, not a VHDX (the RAM loaders read "
                            "VHD files only); name it .vhd", path=path))
    if ext != ".vhd":
        return [tr("{path}: the image is a fixed VHD; Windows (Disk Management, diskpart) "
                   "attaches it only under a .vhd name", path=path)]
    return []


def size_warnings(layout: Layout) -> list[str]:
    """A layout that fits but leaves no room for a Windows worth booting."""
    win = layout.windows
    if win.size >= MIN_SANE_WINDOWS:
        return []
    smallest = win.start + MIN_SANE_WINDOWS + (layout.disk_size - win.end)
    return [tr("the Windows partition is only {size}: even a trimmed Windows (LTSC, Compact OS, "
               "re-captured) needs about {need}; with the {chain} layout that is a VHD of at "
               "least {least} (fine for a test image)", size=format_size(win.size),
               need=format_size(MIN_SANE_WINDOWS), chain=layout.chain,
               least=f"{-(-smallest // ALIGN)}M")]


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
    """What the user does after ``ramos init``, in order, naming the tools they know."""
    win = layout.windows
    name = os.path.basename(path)
    steps = []
    if not ntfs:
        steps.append(tr("the Windows partition is not formatted yet: the deploy script formats "
                        "it (diskpart format), or install ntfs-3g and rerun init"))
    svbus = " --svbus DIR" if ramos_chain(layout.chain).needs_svbus else ""
    steps += [
        tr("apply Windows (what WinNTSetup or DISM++ 'restore' do): on Windows `diskkit ramos "
           "script deploy --vhd D:\\ramos\\{name} --wim install.wim --index N --chain {chain}"
           "{svbus} --out deploy.cmd`, then run deploy.cmd as administrator", name=name,
           chain=layout.chain, svbus=svbus)
        + (tr("; on Linux `... --run` applies the WIM with wimapply") if ntfs else ""),
        tr("tune it in a VM, or install from your PE there: `diskkit vm qemu {path} --iso PE.iso` "
           "or `diskkit vm virtualbox {path}`", path=path),
        tr("boot loader config: `diskkit boot config --chain {chain} --vhd {path} --vhd-path "
           "/ramos/{name}`, then `diskkit esp build` and `diskkit boot entry` (the UEFI entry "
           "BOOTICE or DiskGenius would add)", chain=layout.chain, path=path, name=name),
        tr("the Windows partition starts at byte {offset}: the offset ntloader (imgofs) and "
           "bootmgr (ramdiskimageoffset) need", offset=win.start),
    ]
    return steps
