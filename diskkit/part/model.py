"""What GPT and MBR share: the partition record, the table interface, free-space arithmetic
and new GUIDs.

All positions here are in logical blocks (LBAs) of the table's sector size; byte offsets are
derived, so a table read with 4096-byte sectors reports true byte positions.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import NoSpace, NotFound, UsageError
from ..report import Problem, Report
from ..reproducible import unique_uuid
from . import types


@dataclass
class Partition:
    """One partition: GPT entry or MBR entry (primary, extended container or logical)."""

    index: int  # 1-based: GPT entry slot + 1; MBR slot 1-4, logicals from 5
    first_lba: int
    last_lba: int
    sector_size: int
    type_guid: str | None = None  # GPT
    type_code: int | None = None  # MBR
    guid: str | None = None  # GPT unique partition GUID
    name: str = ""  # GPT name
    attributes: int = 0  # GPT attribute bits
    bootable: bool = False  # MBR boot flag
    logical: bool = False  # MBR logical partition (inside the extended one)

    @property
    def start(self) -> int:
        return self.first_lba * self.sector_size

    @property
    def size(self) -> int:
        return max(0, self.last_lba - self.first_lba + 1) * self.sector_size

    @property
    def sectors(self) -> int:
        return max(0, self.last_lba - self.first_lba + 1)

    @property
    def type_name(self) -> str:
        if self.type_guid is not None:
            return types.gpt_type_name(self.type_guid)
        return types.mbr_type_name(self.type_code or 0)

    @property
    def type_alias(self) -> str | None:
        if self.type_guid is not None:
            return types.gpt_type_alias(self.type_guid)
        return types.mbr_type_alias(self.type_code or 0)

    @property
    def is_extended(self) -> bool:
        return self.type_code in types.MBR_EXTENDED_CODES and not self.logical

    def to_dict(self) -> dict:
        data = {"index": self.index, "start": self.start, "end": self.start + self.size - 1,
                "size": self.size, "first_lba": self.first_lba, "last_lba": self.last_lba,
                "type": self.type_alias, "type_name": self.type_name}
        if self.type_guid is not None:
            data.update(type_guid=self.type_guid, guid=self.guid, name=self.name,
                        attributes=self.attributes,
                        attribute_names=types.attribute_names(self.attributes))
        else:
            data.update(type_code=self.type_code, type_hex=f"0x{self.type_code or 0:02x}",
                        bootable=self.bootable, logical=self.logical)
        return data


class Table:
    """The face every partition table shows ``diskkit.part``: GPT and MBR implement it, so the
    operations there never ask which kind they hold. Positions are LBAs of ``sector_size``.

    Subclasses are dataclasses with ``kind``, ``sector_size``, ``disk_lbas``, ``findings`` (the
    ``Problem``s found while reading: a bad GPT copy, a looping EBR chain ...), ``partitions``
    (in entry order) and ``first_usable_lba``/``last_usable_lba``.
    """

    kind: str
    sector_size: int
    disk_lbas: int
    findings: list[Problem]
    max_sectors: int | None = None  # the longest partition an entry can hold (None: no limit)

    # -- what each kind provides ---------------------------------------------------------------
    def used_runs(self) -> list[tuple[int, int]]:
        """LBA runs new partitions must not overlap."""
        raise NotImplementedError

    def free_indexes(self) -> list[int]:
        """Entry numbers a new partition may take, lowest first."""
        raise NotImplementedError

    def new_partition(self, index: int, first: int, last: int, type: str, name: str | None,
                      guid: str | None, attributes: int | str, bootable: bool) -> Partition:
        """Validate and record a new partition in entry ``index``."""
        raise NotImplementedError

    def change(self, part: Partition, name: str | None, type: str | None,
               attributes: int | str | None, guid: str | None, bootable: bool | None) -> None:
        """Change what ``set_partition`` may change (``None``: leave it)."""
        raise NotImplementedError

    def remove(self, index: int) -> None:
        raise NotImplementedError

    def check_editable(self, index: int) -> None:
        """Raise when partition ``index`` cannot be edited in this table."""

    def refuse_edits(self) -> str | None:
        """Why no edit may touch this table at all, or None."""
        return None

    def last_usable_for(self, disk_size: int) -> int:
        """The last LBA a partition may use once the disk is ``disk_size`` bytes."""
        raise NotImplementedError

    def fit_disk(self, dev, disk_lbas: int) -> str | None:
        """Lay the table's own structures out for a ``disk_lbas`` disk; what moved, or None."""
        raise NotImplementedError

    def repairs(self, dev) -> list[str]:
        """Put right what ``verify`` finds that can be rebuilt; what will change on commit."""
        raise NotImplementedError

    @property
    def entries_intact(self) -> bool:
        """True when the on-disk entries need no rewrite for a layout-only change."""
        return True

    def write(self, dev, entries: bool = True) -> None:
        raise NotImplementedError

    def verify(self, dev, report: Report) -> None:
        raise NotImplementedError

    def written_wrong(self, dev) -> Problem | None:
        """Right after a write, re-read: what makes the write a failure, or None. A GPT is
        whole or nothing, so any error of ``verify``; by default nothing (an MBR edit rewrites
        LBA 0 only and cannot mend damage elsewhere, such as a broken logical chain)."""
        return None

    def to_dict(self) -> dict:
        raise NotImplementedError

    @property
    def headline(self) -> str:
        """What ``part show`` says first: the kind and the disk's identity."""
        raise NotImplementedError

    @property
    def notes(self) -> list[str]:
        """What ``part show`` adds about how the table was read (a copy it fell back to ...)."""
        return []

    # -- shared --------------------------------------------------------------------------------
    @property
    def disk_size(self) -> int:
        return self.disk_lbas * self.sector_size

    def find(self, index: int) -> Partition:
        for part in self.partitions:
            if part.index == index:
                return part
        raise NotFound(f"no partition {index} (have: "
                       f"{', '.join(str(p.index) for p in self.partitions) or 'none'})")

    def gaps(self) -> list[tuple[int, int]]:
        """Unused LBA runs of the usable range."""
        return free_gaps(self.used_runs(), self.first_usable_lba, self.last_usable_lba)

    def note(self, severity: str, where: str, message: str, offset: int | None = None) -> None:
        """Record something found while reading the table."""
        self.findings.append(Problem(where, message, offset, severity))


def free_gaps(used: list[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    """Unused ``(first, last)`` LBA runs of ``[lo, hi]`` around the ``used`` runs."""
    gaps = []
    pos = lo
    for first, last in sorted(used):
        if first > pos:
            gaps.append((pos, min(first - 1, hi)))
        pos = max(pos, last + 1)
        if pos > hi:
            break
    if pos <= hi:
        gaps.append((pos, hi))
    return [g for g in gaps if g[0] <= g[1]]


def align_up(lba: int, align: int) -> int:
    return -(-lba // align) * align if align > 1 else lba


def place(gaps: list[tuple[int, int]], sectors: int | None, align: int,
          start: int | None = None) -> tuple[int, int]:
    """Choose ``(first, last)`` for a new partition.

    ``start`` given: it must lie in a gap (the size then must fit from there). Otherwise the
    first gap where an aligned start fits ``sectors``; ``sectors=None`` takes the largest gap.
    """
    if start is not None:
        for first, last in gaps:
            if first <= start <= last:
                end = last if sectors is None else start + sectors - 1
                if end > last:
                    raise NoSpace(f"{sectors} sectors do not fit at LBA {start}: only "
                                  f"{last - start + 1} free there")
                return start, end
        raise UsageError(f"start LBA {start} is not in free space")
    candidates = []
    for first, last in gaps:
        aligned = align_up(first, align)
        if aligned > last:
            continue
        room = last - aligned + 1
        if sectors is None:
            candidates.append((room, aligned, last))
        elif room >= sectors:
            return aligned, aligned + sectors - 1
    if sectors is None and candidates:
        room, aligned, last = max(candidates, key=lambda c: (c[0], -c[1]))
        return aligned, last
    need = "any space" if sectors is None else f"{sectors} sectors"
    biggest = max((last - align_up(first, align) + 1 for first, last in gaps), default=0)
    raise NoSpace(f"no free gap holds {need} (largest aligned gap: {max(biggest, 0)} sectors)")


def new_guid(*context) -> str:
    """A random GUID, or with ``SOURCE_DATE_EPOCH`` set one derived from it and ``context``
    (so reproducible builds get identical images)."""
    return unique_uuid(*context)


def new_disk_signature(*context) -> int:
    """Random non-zero 32-bit MBR disk signature (deterministic under ``SOURCE_DATE_EPOCH``)."""
    value = int(new_guid("mbr-signature", *context).replace("-", ""), 16) & 0xFFFFFFFF
    return value or 1
