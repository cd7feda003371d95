"""What a volume's filesystem says about its space, the same way for FAT and NTFS.

Whole-image operations (info, check, resize, compact, convert, ramos plan) ask one question
of every volume - ``space(dev)`` - and get a ``Space``: how big the filesystem says it is,
what it uses, where its last used cluster ends, how small a resizer could make it, which byte
ranges are free, and whether its free space can be trusted at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import CorruptImage, DiskkitError
from .signatures import boot_record


@dataclass
class Space:
    type: str  # "ntfs", "fat12", "fat16", "fat32"
    size: int  # bytes the filesystem claims (NTFS: with the backup boot sector after it)
    cluster_size: int
    used_bytes: int
    free_bytes: int
    data_end: int  # where the last used cluster ends: cutting the volume below this loses data
    min_size: int  # the smallest size its data fits once a resizer moves it
    dirty: bool  # the volume's own dirty flag
    unclean: str | None  # why its free space must not be treated as free (NTFS: dirty, log ...)
    mft_bytes: int  # NTFS: the MFT's size (0 for FAT)
    free_ranges: Callable[[], Iterator[tuple[int, int]]]  # (offset, length) in the volume

    def to_dict(self) -> dict:
        return {"type": self.type, "size": self.size, "cluster_size": self.cluster_size,
                "used_bytes": self.used_bytes, "free_bytes": self.free_bytes,
                "data_end": self.data_end, "min_size": self.min_size, "dirty": self.dirty,
                "unclean": self.unclean}

    def trusted_free_ranges(self, where: str) -> Iterator[tuple[int, int]]:
        """``free_ranges()``, refused when the volume is not clean (see ``require_clean``)."""
        self.require_clean(where)
        return self.free_ranges()

    def require_clean(self, where: str) -> None:
        """CorruptImage (one line) when the free space cannot be trusted: Windows would replay
        its log or resume its hibernated session over clusters the bitmap calls free."""
        if self.unclean:
            raise CorruptImage(f"{where}: {self.type.upper()} {self.unclean}, so its free space "
                               "cannot be trusted; start Windows and shut it down fully "
                               "(shutdown /s /t 0, or turn Fast Startup off), or run chkdsk, "
                               "then try again")


def _ntfs_space(dev) -> Space:
    from .ntfs import NtfsVolume

    vol = NtfsVolume(dev)
    g = vol.geometry
    info = vol.info()
    data_end = vol.data_end()
    min_size = (info["used_clusters"] + 1) * g.cluster_size  # NtfsVolume.min_size's rule
    return Space("ntfs", g.size + g.sector_size, g.cluster_size, info["used_bytes"],
                 info["free_bytes"], data_end, min_size, info["dirty"], vol.unclean_reason(),
                 info["mft_bytes"], vol.free_ranges)


def _fat_space(dev) -> Space:
    from .fat import FatFS

    fs = FatFS(dev)  # read-only use: nothing to close
    layout, table = fs.layout, fs.fat
    cs = layout.cluster_size
    usage = fs.usage()
    last = table.free_map.rfind(0)  # entries 0 and 1 always count as used
    metadata_end = layout.first_data_sector * layout.sector_size
    data_end = layout.cluster_offset(last + 1) if last >= 2 else metadata_end

    def free_ranges() -> Iterator[tuple[int, int]]:
        for first, count in table.free_runs(2):
            start = layout.cluster_offset(first)
            length = min(count * cs, max(0, dev.size - start))  # a truncated volume's tail
            if length:
                yield start, length

    # FAT keeps no journal: the table is the only record of what is in use, so a dirty flag
    # (an interrupted write) leaves free clusters free; fsck.fat recovers nothing from them
    return Space(f"fat{layout.fat_type}", layout.size, cs, usage["used_bytes"],
                 usage["free_bytes"], data_end, data_end, fs.dirty, None, 0, free_ranges)


def space(dev) -> Space | None:
    """The ``Space`` of the FAT or NTFS filesystem on ``dev``; None when it holds neither.

    A recognised but unreadable filesystem raises its DiskkitError (CorruptImage ...).
    """
    head = dev.read_at(0, min(512, dev.size)) if dev.size else b""
    kind = boot_record(head)
    if kind == "ntfs":
        return _ntfs_space(dev)
    if kind == "fat":
        return _fat_space(dev)
    return None


def describe(dev) -> dict | None:
    """``space(dev)`` as a dict, or ``{"error": ...}`` when the filesystem cannot be read."""
    try:
        found = space(dev)
    except DiskkitError as exc:
        return {"error": str(exc)}
    return found.to_dict() if found else None
