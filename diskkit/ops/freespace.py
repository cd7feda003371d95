"""The free clusters of every filesystem inside an image, for copies that skip them.

``free_space(dev)`` walks the image's volumes once (``part.volumes``) and asks each FAT or
NTFS filesystem for its free clusters (``filesystems.space``), as disk byte ranges. An NTFS
that is not clean (dirty, a $LogFile with transactions Windows has not applied, a hibernated
Windows) is refused with CorruptImage: Windows would replay or resume state over clusters its
bitmap calls free. A volume is left out - its free space copied like data - when its
filesystem cannot be read, claims more than its partition holds, or overlaps another volume.

``WithoutFree`` is a read-only view of the disk where those ranges read as zeros and are not
allocated, so the ordinary streaming copy neither reads nor writes them: dynamic outputs
allocate no block that only free clusters touch, raw outputs get holes - what Hyper-V's
``Optimize-VHD -Mode Full`` does, and what a byte copy (qemu-img) cannot.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from ..blockdev import BlockDevice, fill_zero
from ..errors import DiskkitError


@dataclass
class FreeSpace:
    ranges: list[tuple[int, int]] = field(default_factory=list)  # (disk offset, length), sorted
    volumes: list[dict] = field(default_factory=list)  # per volume: where, type, free bytes
    skipped: list[str] = field(default_factory=list)  # volumes copied whole, and why

    @property
    def total(self) -> int:
        return sum(length for _, length in self.ranges)

    def to_dict(self) -> dict:
        return {"free_bytes": self.total, "volumes": self.volumes, "skipped": self.skipped}


def _overlapping(found) -> set[int]:
    """Indexes (into ``found``) of volumes whose byte ranges overlap another's."""
    spans = sorted((v.device.disk_offset, v.device.disk_offset + v.device.size, i)
                   for i, v in enumerate(found) if v.device is not None)
    bad, reach, owner = set(), -1, None
    for start, end, i in spans:
        if start < reach:
            bad |= {i, owner}
        if end > reach:
            reach, owner = end, i
    return bad


def free_space(dev: BlockDevice) -> FreeSpace:
    """The free clusters of every FAT and NTFS volume on ``dev``, as disk ranges.

    Raises CorruptImage when an NTFS is not clean (``Space.require_clean``).
    """
    from .. import part
    from ..filesystems import space

    out = FreeSpace()
    try:
        found = part.volumes(dev)
    except DiskkitError as exc:
        out.skipped.append(f"partition table unreadable ({exc}): nothing skipped")
        return out
    overlapping = _overlapping(found)
    for i, volume in enumerate(found):
        if volume.device is None:
            continue
        try:
            fs = space(volume.device)
        except DiskkitError as exc:
            out.skipped.append(f"{volume.where}: filesystem unreadable, copied whole ({exc})")
            continue
        if fs is None:
            continue
        fs.require_clean(f"{dev.name}: {volume.where}")
        if fs.size > volume.device.size:
            out.skipped.append(f"{volume.where}: {fs.type} claims more than its partition; "
                               "copied whole")
            continue
        if i in overlapping:
            out.skipped.append(f"{volume.where}: overlaps another partition; copied whole")
            continue
        base = volume.device.disk_offset - dev.disk_offset
        ranges = [(base + start, length) for start, length in fs.free_ranges()]
        out.ranges += ranges
        out.volumes.append({"volume": volume.where, "type": fs.type,
                            "free_bytes": sum(n for _, n in ranges)})
    out.ranges.sort()
    return out


class WithoutFree(BlockDevice):
    """Read-only view of ``dev`` in which ``ranges`` (sorted, disjoint) read as zeros and are
    not allocated."""

    container = "view"  # not raw: a reflink clone (copy_device) would share the free bytes

    def __init__(self, dev: BlockDevice, ranges: list[tuple[int, int]]):
        self.dev = dev
        self.ranges = ranges
        self.size = dev.size
        self.sector_size = dev.sector_size
        self.name = dev.name
        self.block_size = getattr(dev, "block_size", 0)

    def _holes(self, offset: int, end: int):
        """The free ranges overlapping ``[offset, end)``, clipped to it."""
        i = max(0, bisect_right(self.ranges, (offset, float("inf"))) - 1)
        while i < len(self.ranges) and self.ranges[i][0] < end:
            start, length = self.ranges[i]
            lo, hi = max(start, offset), min(start + length, end)
            if lo < hi:
                yield lo, hi
            i += 1

    def _read(self, offset, length):
        buf = bytearray(self.dev.read_at(offset, length))
        for lo, hi in self._holes(offset, offset + length):
            buf[lo - offset:hi - offset] = bytes(hi - lo)
        return bytes(buf)

    def read_into(self, offset, view):
        self.dev.read_into(offset, view)
        for lo, hi in self._holes(offset, offset + len(view)):
            fill_zero(view[lo - offset:hi - offset])

    def allocated_ranges(self):
        holes = iter(self.ranges)
        hole = next(holes, None)
        for start, length in self.dev.allocated_ranges():
            pos, end = start, start + length
            while pos < end:
                while hole is not None and hole[0] + hole[1] <= pos:
                    hole = next(holes, None)
                if hole is None or hole[0] >= end:
                    yield pos, end - pos
                    break
                if hole[0] > pos:
                    yield pos, hole[0] - pos
                pos = hole[0] + hole[1]
