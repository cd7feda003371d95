"""Partition tables (GPT and MBR) on any BlockDevice: read, create, edit, verify, repair.

Every edit reads the table, changes the in-memory model, writes it in a crash-safe order
(GPT: backup first, primary header last), then re-reads and verifies what landed on disk.
Sizes and offsets in this API are bytes; the table's logical sector size turns them into LBAs.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..blockdev import BlockDevice, SliceDevice
from ..errors import AlreadyExists, CorruptImage, NoSpace, NotFound, UsageError
from ..report import Report
from ..units import MiB, parse_size
from . import gpt, mbr, types
from .gpt import GptTable
from .mbr import MbrTable
from .model import Partition, Table, free_gaps, new_disk_signature, new_guid, place

__all__ = ["Partition", "Table", "GptTable", "MbrTable", "read_table", "partition_device",
           "volumes", "Volume", "init_gpt",
           "init_mbr", "add_partition", "delete_partition", "set_partition",
           "resize_partition", "verify", "repair", "fit_to_disk", "cut_partitions",
           "last_usable_for", "describe",
           "types"]

SECTOR_SIZES = (512, 4096)
DEFAULT_ALIGN = MiB


def _sector_sizes(dev: BlockDevice, sector_size: int | None) -> list[int]:
    if sector_size is not None:
        if sector_size not in SECTOR_SIZES:
            raise UsageError(f"sector size must be 512 or 4096, not {sector_size}")
        return [sector_size]
    first = dev.sector_size if dev.sector_size in SECTOR_SIZES else 512
    return [first] + [s for s in SECTOR_SIZES if s != first]


def read_table(dev: BlockDevice, sector_size: int | None = None) -> Table | None:
    """The disk's partition table, or None. GPT is tried at each sector size (the device's
    own first), then MBR. A GPT with no valid copy raises CorruptImage."""
    error = None
    for ss in _sector_sizes(dev, sector_size):
        try:
            table = gpt.load(dev, ss)
        except CorruptImage as exc:
            error = error or exc
            continue
        if table is not None:
            return table
    if error is not None:
        raise error
    return mbr.load(dev, sector_size or dev.sector_size)


def _require_table(dev: BlockDevice, sector_size: int | None = None) -> Table:
    table = read_table(dev, sector_size)
    if table is None:
        raise NotFound(f"{dev.name}: no partition table (create one with 'diskkit part init')")
    return table


def _editable(dev: BlockDevice, sector_size: int | None = None) -> Table:
    if not dev.writable:
        raise UsageError(f"{dev.name}: opened read-only")
    table = _require_table(dev, sector_size)
    refusal = table.refuse_edits()
    if refusal:
        raise CorruptImage(f"{dev.name}: {refusal}")
    return table


def partition_device(dev: BlockDevice, n: int, owns_parent: bool = False) -> SliceDevice:
    """Partition ``n`` (1-based) as a BlockDevice of its own (closing it closes ``dev`` too
    when ``owns_parent``)."""
    part = _require_table(dev).find(n)
    if part.sectors == 0:
        raise CorruptImage(f"{dev.name}: partition {n} is empty (first LBA after last LBA)")
    return SliceDevice(dev, part.start, part.size, name=f"{dev.name} partition {n}",
                       owns_parent=owns_parent)


@dataclass
class Volume:
    """A place a filesystem can be: the whole disk, or one data partition of its table."""

    partition: Partition | None  # None: the whole disk (no partition table)
    device: BlockDevice | None  # None: the partition is empty or runs past the disk's end

    @property
    def index(self) -> int | None:
        return self.partition.index if self.partition is not None else None

    @property
    def where(self) -> str:
        return "whole disk" if self.partition is None else f"partition {self.partition.index}"


def volumes(dev: BlockDevice, table=None) -> list[Volume]:
    """Every volume of ``dev``: the whole disk if it has no partition table, else each data
    partition (extended-partition containers are not volumes) in table order.

    ``table`` is the table already read from ``dev`` (read here when not given); a damaged
    table raises CorruptImage. A partition that is empty or runs past the end of the disk is
    listed with ``device`` None, so callers can report it and go on with the others.
    """
    table = table if table is not None else read_table(dev)
    if table is None:
        return [Volume(None, dev)]
    out = []
    for p in table.partitions:
        if p.is_extended:
            continue
        inside = p.sectors and p.start + p.size <= dev.size
        out.append(Volume(p, SliceDevice(dev, p.start, p.size, name=f"{dev.name} partition "
                                         f"{p.index}") if inside else None))
    return out


def _commit(dev: BlockDevice, table: Table, entries: bool = True) -> None:
    """Write ``table``, re-read it and refuse to return quietly if the disk disagrees.

    ``entries=False``: only the table's layout changed, its entries on disk stay as they are.
    """
    table.write(dev, entries)
    fresh = read_table(dev, table.sector_size)
    wanted = [p.to_dict() for p in table.partitions]
    got = [p.to_dict() for p in fresh.partitions] if fresh is not None else None
    if fresh is None or fresh.kind != table.kind or got != wanted:
        raise CorruptImage(f"{dev.name}: re-reading the partition table after writing it gave "
                           "a different table")
    # judged for the disk it was laid out for: a shrink writes it before the container shrinks
    fresh.disk_lbas = table.disk_lbas
    wrong = fresh.written_wrong(dev)
    if wrong is not None:
        raise CorruptImage(f"{dev.name}: after writing: {wrong}")


def _wipe_gpt_signatures(dev: BlockDevice, old) -> None:
    """Zero every GPT header a new table would leave behind (other sector size, old backup)."""
    spots = {ss for ss in SECTOR_SIZES} | {dev.size - ss for ss in SECTOR_SIZES}
    if isinstance(old, GptTable):
        spots.add(old.backup_lba * old.sector_size)
    for offset in sorted(spots):
        if 0 < offset <= dev.size - 512 and dev.read_at(offset, 8) == gpt.SIGNATURE:
            dev.write_at(offset, bytes(512))


def _prepare_init(dev: BlockDevice, force: bool):
    if not dev.writable:
        raise UsageError(f"{dev.name}: opened read-only")
    try:
        old = read_table(dev)
    except CorruptImage:
        if not force:
            raise AlreadyExists(f"{dev.name}: holds a damaged GPT; use --force to replace it, "
                                "or 'diskkit part repair'") from None
        old = None
    if not force:
        if old is not None:
            raise AlreadyExists(f"{dev.name}: already has a {old.kind.upper()} partition table "
                                "(use --force to replace it)")
        if dev.size >= 512 and dev.read_at(510, 2) == mbr.BOOT_SIGNATURE:
            raise AlreadyExists(f"{dev.name}: LBA 0 holds a boot sector (a filesystem on the "
                                "whole disk?); use --force to replace it")
    _wipe_gpt_signatures(dev, old)
    return old


def init_gpt(dev: BlockDevice, sector_size: int | None = None, disk_guid: str | None = None,
             entry_count: int = gpt.ENTRY_COUNT, force: bool = False) -> GptTable:
    """Write an empty GPT (and a fresh protective MBR) over the whole device."""
    ss = _sector_sizes(dev, sector_size)[0]
    if not gpt.ENTRY_COUNT <= entry_count or entry_count * gpt.ENTRY_SIZE > gpt.MAX_ENTRY_BYTES:
        raise UsageError(f"entry count {entry_count} out of range: the UEFI spec reserves at "
                         f"least {gpt.ENTRY_COUNT} entries, diskkit at most "
                         f"{gpt.MAX_ENTRY_BYTES // gpt.ENTRY_SIZE}")
    guid = types.normalize_guid(disk_guid) if disk_guid else new_guid("disk", dev.size, ss)
    table = GptTable.fresh(dev.size // ss, ss, guid, entry_count)
    _prepare_init(dev, force)
    pmbr = mbr.Sector(bytes(440), 0, bytes(2),
                      [mbr.protective_entry(table.disk_lbas)] + [mbr.Entry() for _ in range(3)])
    dev.write_at(0, pmbr.build())
    _commit(dev, table)
    return table


def init_mbr(dev: BlockDevice, sector_size: int | None = None,
             disk_signature: int | None = None, force: bool = False) -> MbrTable:
    """Write an empty MBR (no boot code) with a new disk signature."""
    ss = sector_size or dev.sector_size
    _sector_sizes(dev, ss)
    if dev.size < 2 * ss:
        raise UsageError(f"{dev.name}: too small for a partition table")
    signature = new_disk_signature(dev.size) if disk_signature is None else disk_signature
    if not 0 <= signature <= 0xFFFFFFFF:
        raise UsageError("MBR disk signature must fit in 32 bits")
    _prepare_init(dev, force)
    table = MbrTable(ss, dev.size // ss, signature, mbr.empty_sector(signature))
    _commit(dev, table)
    return table


def _to_lbas(value: int | str, ss: int, what: str) -> int:
    n = parse_size(value, ss) if isinstance(value, str) else value
    if n <= 0 or n % ss:
        raise UsageError(f"{what} {n} bytes is not a positive multiple of the {ss}-byte sector")
    return n // ss


def _size_lbas(size, ss: int) -> int | None:
    """``None``/``"rest"`` -> None (fill the gap); bytes rounded up to whole sectors."""
    if size is None or (isinstance(size, str) and size.strip().lower() in ("rest", "max")):
        return None
    n = parse_size(size, ss) if isinstance(size, str) else size
    if n <= 0:
        raise UsageError(f"partition size must be positive, not {n}")
    return -(-n // ss)


def add_partition(dev: BlockDevice, type: str, size: int | str | None = None,
                  name: str | None = None, start: int | str | None = None,
                  align: int = DEFAULT_ALIGN, guid: str | None = None,
                  attributes: int | str = 0, bootable: bool = False,
                  index: int | None = None, logical: bool = False) -> Partition:
    """Add a partition of ``size`` bytes (``"rest"``/None: the largest free gap).

    Placed at ``start`` (bytes) or at the first ``align``-aligned spot that fits; GPT gets a
    new unique GUID and, without ``name``, the type's display name (as gdisk does). MBR:
    type ``extended`` adds the extended partition, ``logical`` appends a logical partition
    after the last one inside it.
    """
    table = _editable(dev)
    ss = table.sector_size
    if align <= 0 or align % ss:
        raise UsageError(f"alignment {align} is not a multiple of the {ss}-byte sector")
    sectors = _size_lbas(size, ss)
    start_lba = None if start is None else _to_lbas(start, ss, "start")
    if logical:
        if table.kind != "mbr":
            raise UsageError("logical partitions exist only in MBR tables")
        if index is not None:
            raise UsageError("logical partitions are numbered in chain order (from 5)")
        if name or guid or attributes:
            raise UsageError("MBR partitions have no name, GUID or attributes")
        part = mbr.add_logical(dev, table, types.mbr_type_code(type), sectors, align // ss,
                               start_lba, bootable)
        _commit(dev, table)
        return part
    index = _pick_index(index, table)
    first, last = place(table.gaps(), sectors, align // ss, start_lba)
    if table.max_sectors is not None and last - first + 1 > table.max_sectors:
        raise UsageError(f"an {table.kind.upper()} partition holds at most {table.max_sectors} "
                         "sectors (use GPT)")
    part = table.new_partition(index, first, last, type, name, guid, attributes, bootable)
    if part.is_extended:
        dev.write_at(first * ss, bytes(ss))  # an empty chain, whatever the space held
    _commit(dev, table)
    return part


def _pick_index(index: int | None, table: Table) -> int:
    free = table.free_indexes()
    if index is None:
        if not free:
            raise AlreadyExists("all partition entries are in use")
        return free[0]
    if index not in free:
        raise AlreadyExists(f"partition entry {index} is in use or outside the table")
    return index


def delete_partition(dev: BlockDevice, n: int) -> Partition:
    """Remove partition ``n`` from the table (its data stays on disk)."""
    table = _editable(dev)
    part = table.find(n)
    table.remove(n)
    _commit(dev, table)
    return part


def set_partition(dev: BlockDevice, n: int, name: str | None = None, type: str | None = None,
                  attributes: int | str | None = None, guid: str | None = None,
                  bootable: bool | None = None) -> Partition:
    """Change name, type, attributes (``hidden,+read-only`` forms), GUID, or MBR boot flag."""
    table = _editable(dev)
    part = table.find(n)
    table.change(part, name, type, attributes, guid, bootable)
    _commit(dev, table)
    return part


def resize_partition(dev: BlockDevice, n: int, size: int | str | None = None,
                     grow: bool = False) -> Partition:
    """Set partition ``n`` to ``size`` bytes, or with ``grow`` to the end of the free space
    after it. The start never moves and it never runs over another partition."""
    if (size is None) == (not grow):
        raise UsageError("give either a new size or grow, not both or neither")
    table = _editable(dev)
    part = table.find(n)
    table.check_editable(n)
    others = [(p.first_lba, p.last_lba) for p in table.partitions
              if p.index != n and not p.logical]
    gap = next((g for g in free_gaps(others, table.first_usable_lba, table.last_usable_lba)
                if g[0] <= part.first_lba <= g[1]), None)
    if gap is None:
        raise CorruptImage(f"partition {n} starts outside the usable range")
    if grow:
        last = gap[1]
    else:
        last = part.first_lba + _size_lbas(size, table.sector_size) - 1
        if last > gap[1]:
            room = (gap[1] - part.first_lba + 1) * table.sector_size
            raise NoSpace(f"partition {n} can grow to at most {room} bytes here")
    if table.max_sectors is not None and last - part.first_lba + 1 > table.max_sectors:
        last = part.first_lba + table.max_sectors - 1
    part.last_lba = last
    _commit(dev, table)
    return part


def last_usable_for(table: Table, disk_size: int) -> int:
    """The last LBA a partition may use once the disk is ``disk_size`` bytes."""
    return table.last_usable_for(disk_size)


def cut_partitions(table: Table, disk_size: int) -> list[Partition]:
    """Partitions that would not fit on a disk of ``disk_size`` bytes."""
    limit = table.last_usable_for(disk_size)
    return [p for p in table.partitions if p.last_lba > limit]


def fit_to_disk(dev: BlockDevice, disk_size: int | None = None, cut: bool = False) -> list[str]:
    """Lay the table out for a disk of ``disk_size`` bytes (default: the device's size).

    GPT: backup header in the new last LBA, usable range up to it, protective MBR span
    updated; with entries unchanged the primary array is never rewritten, so the primary copy
    stays valid throughout. Partitions past the new end make it refuse, or with ``cut`` they
    are shortened (or dropped when they start past it). Returns what changed.
    """
    table = _editable(dev)
    ss = table.sector_size
    size = dev.size if disk_size is None else disk_size
    if size > dev.size:
        raise UsageError(f"{dev.name}: cannot lay out a table for {size} bytes on a "
                         f"{dev.size}-byte device (grow the container first)")
    changes = []
    limit = table.last_usable_for(size)
    for p in cut_partitions(table, size):
        if not cut:
            raise NoSpace(f"partition {p.index} ends at byte {p.start + p.size - 1}, past the "
                          f"new end of the usable space (byte {(limit + 1) * ss - 1})")
        table.check_editable(p.index)
        if p.first_lba > limit:
            changes.append(f"dropped partition {p.index} (it starts past the new end)")
            table.remove(p.index)
        else:
            changes.append(f"cut partition {p.index} to end at LBA {limit}")
            p.last_lba = limit
    entries = bool(changes) or not table.entries_intact
    moved = table.fit_disk(dev, size // ss)
    if moved or changes:
        _commit(dev, table, entries=entries)
    if moved:
        changes.append(moved)
    return changes


def verify(dev: BlockDevice, sector_size: int | None = None) -> Report:
    """Check the table like ``sgdisk -v``: headers, CRCs, copies agreeing, backup at the end,
    ranges, overlaps, protective MBR, alignment. Never raises for a damaged table."""
    report = Report(f"{dev.name}: partition table")
    try:
        table = read_table(dev, sector_size)
    except CorruptImage as exc:
        report.error("partition table", str(exc))
        return report
    report.facts["table"] = table.kind if table else None
    if table is None:
        instead = mbr.why_no_table(dev)
        report.warning("partition table", f"none: LBA 0 holds {instead}" if instead else
                       "none found (no GPT header, no MBR signature)")
        return report
    report.facts["sector_size"] = table.sector_size
    report.facts["partitions"] = len(table.partitions)
    table.verify(dev, report)
    return report


def repair(dev: BlockDevice, sector_size: int | None = None) -> list[str]:
    """Rebuild a damaged GPT copy from the good one, move the backup to the end of a grown
    disk and fix the protective MBR. Returns what changed (empty: nothing to do)."""
    table = _editable(dev, sector_size)
    changes = table.repairs(dev)
    if changes:
        _commit(dev, table)
    return changes


def describe(table: Table) -> dict:
    """``part show --json``: the table, its partitions and the free gaps, all in bytes too."""
    ss = table.sector_size
    data = table.to_dict()
    data["partitions"] = [p.to_dict() for p in table.partitions]
    data["free"] = [{"start": a * ss, "end": (b + 1) * ss - 1, "size": (b - a + 1) * ss,
                     "first_lba": a, "last_lba": b} for a, b in table.gaps()]
    return data
