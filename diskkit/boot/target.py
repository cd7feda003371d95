"""What a boot chain must know about the VHD it boots, read from the real image.

Users of these chains used to read the Windows partition's offset off a hex editor; here it
comes from the partition table itself. ``choose_windows_partition`` is pure; ``read_facts``
is the I/O edge.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import NotFound, UsageError
from ..part import types

@dataclass(frozen=True)
class VhdFacts:
    """The figures every chain renderer needs; all byte values are offsets in the disk."""

    image: str
    container: str                # raw | fixed | dynamic
    disk_size: int                # virtual disk size
    table: str                    # gpt | mbr
    disk_guid: str | None         # GPT disk GUID (None on MBR)
    windows_index: int            # 1-based partition number
    windows_offset: int           # byte offset of the Windows partition in the disk
    windows_size: int
    windows_guid: str | None      # unique partition GUID (GPT)
    esp_index: int | None         # the VHD's own ESP, which SVBus chains boot from

    def to_dict(self) -> dict:
        return asdict(self)


def choose_windows_partition(partitions: list, override: int | None = None):
    """The Windows partition: ``override`` if given, else the largest basic-data (GPT) or
    NTFS-type (MBR) partition, else the largest partition that is not ESP/MSR/recovery."""
    if override is not None:
        for part in partitions:
            if part.index == override:
                return part
        raise NotFound(f"partition {override} does not exist "
                       f"(have {', '.join(str(p.index) for p in partitions) or 'none'})")
    candidates = [p for p in partitions if types.is_basic_data(p)] or \
        [p for p in partitions if not types.is_auxiliary(p)]
    if not candidates:
        raise NotFound("no partition that could hold Windows (only ESP/MSR/recovery); "
                       "use --part N to choose one")
    return max(candidates, key=lambda p: (p.size, -p.index))


def facts_from_table(image: str, container: str, disk_size: int, table,
                     override: int | None = None) -> VhdFacts:
    """Build the facts from an already-read partition table (pure)."""
    if table is None:
        raise NotFound(f"{image}: no partition table (a Windows VHD needs GPT or MBR)")
    win = choose_windows_partition(table.partitions, override)
    esps = [p.index for p in table.partitions if types.is_esp(p)]
    return VhdFacts(
        image=image, container=container, disk_size=disk_size, table=table.kind,
        disk_guid=getattr(table, "disk_guid", None) if table.kind == "gpt" else None,
        windows_index=win.index, windows_offset=win.start, windows_size=win.size,
        windows_guid=getattr(win, "guid", None) if table.kind == "gpt" else None,
        esp_index=esps[0] if esps else None,
    )


def read_facts(image: str, part: int | None = None, allow_device: bool = False) -> VhdFacts:
    """Open ``image`` (raw, fixed or dynamic VHD) and derive the facts from its table."""
    from ..image import open_image
    from ..part import read_table

    if part is not None and part < 1:
        raise UsageError(f"--part {part}: partitions are numbered from 1")
    dev = open_image(image, writable=False, allow_device=allow_device)
    try:
        table = read_table(dev)
        return facts_from_table(image, getattr(dev, "container", "raw"), dev.size, table, part)
    finally:
        dev.close()
