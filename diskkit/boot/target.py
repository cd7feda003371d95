"""What a boot chain must know about the VHD it boots, read from the real image.

Users of these chains used to read the Windows partition's offset off a hex editor; here it
comes from the partition table itself. ``choose_windows_partition`` is pure; ``read_facts``
is the I/O edge.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import NotFound, UsageError

ESP_GUID = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
MSR_GUID = "e3c9e316-0b5c-4db8-817d-f92df00215ae"
BASIC_DATA_GUID = "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7"
WINRE_GUID = "de94bba4-06d1-4d40-a16a-bfd50179d6ac"
MBR_ESP = 0xEF
MBR_NTFS = 0x07
MBR_EXTENDED = (0x05, 0x0F, 0x85)


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


def is_esp(kind: str, part) -> bool:
    if kind == "gpt":
        return (part.type_guid or "").lower() == ESP_GUID
    return part.type_code == MBR_ESP


def _is_basic_data(kind: str, part) -> bool:
    if kind == "gpt":
        return (part.type_guid or "").lower() == BASIC_DATA_GUID
    return part.type_code == MBR_NTFS


def _is_auxiliary(kind: str, part) -> bool:
    """ESP, MSR, recovery and extended-partition containers never hold Windows."""
    if kind == "gpt":
        return (part.type_guid or "").lower() in (ESP_GUID, MSR_GUID, WINRE_GUID)
    return part.type_code == MBR_ESP or part.type_code in MBR_EXTENDED


def choose_windows_partition(kind: str, partitions: list, override: int | None = None):
    """The Windows partition: ``override`` if given, else the largest basic-data (GPT) or
    NTFS-type (MBR) partition, else the largest partition that is not ESP/MSR/recovery."""
    if override is not None:
        for part in partitions:
            if part.index == override:
                return part
        raise NotFound(f"partition {override} does not exist "
                       f"(have {', '.join(str(p.index) for p in partitions) or 'none'})")
    candidates = [p for p in partitions if _is_basic_data(kind, p)] or \
        [p for p in partitions if not _is_auxiliary(kind, p)]
    if not candidates:
        raise NotFound("no partition that could hold Windows (only ESP/MSR/recovery); "
                       "use --part N to choose one")
    return max(candidates, key=lambda p: (p.size, -p.index))


def facts_from_table(image: str, container: str, disk_size: int, table,
                     override: int | None = None) -> VhdFacts:
    """Build the facts from an already-read partition table (pure)."""
    if table is None:
        raise NotFound(f"{image}: no partition table (a Windows VHD needs GPT or MBR)")
    win = choose_windows_partition(table.kind, table.partitions, override)
    esps = [p.index for p in table.partitions if is_esp(table.kind, p)]
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
