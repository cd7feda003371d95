"""MBR: the four primary entries, the extended/logical chain, CHS, protective MBRs.

The on-disk MBR is always the first 512 bytes of LBA 0, whatever the logical sector size;
partition positions count logical sectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import CorruptImage, NotFound, Unsupported, UsageError
from ..report import Problem, Report
from ..signatures import boot_record
from ..structs import Layout
from . import types
from .model import Partition, Table, place

ENTRY = Layout(
    "<",
    ("status", "B"),
    ("chs_first", "3s"),
    ("type", "B"),
    ("chs_last", "3s"),
    ("first_lba", "I"),
    ("sectors", "I"),
)
SECTOR = Layout(
    "<",
    ("boot_code", "440s"),
    ("disk_signature", "I"),
    ("reserved", "2s"),
    ("entries", ENTRY, 4),
    ("boot_signature", "2s"),
)
BOOT_SIGNATURE = b"\x55\xaa"
MAX_LBA32 = 0xFFFFFFFF
MAX_LOGICALS = 128  # far beyond any real chain: a longer one is a loop or hostile
LINK_TYPE = 0x05  # an EBR's link to the next EBR (its range counts from the extended start)
HEADS, SECTORS_PER_TRACK = 255, 63


def chs(lba: int) -> bytes:
    """LBA -> the 3 CHS bytes tools write (255 heads, 63 sectors; capped at 1023/254/63)."""
    cylinder = lba // (HEADS * SECTORS_PER_TRACK)
    if cylinder > 1023:
        cylinder, head, sector = 1023, 254, 63
    else:
        head = (lba // SECTORS_PER_TRACK) % HEADS
        sector = lba % SECTORS_PER_TRACK + 1
    return bytes([head, sector | (cylinder >> 2 & 0xC0), cylinder & 0xFF])


def decode_chs(raw: bytes) -> tuple[int, int, int]:
    head, sector, cyl = raw
    return (cyl | (sector & 0xC0) << 2, head, sector & 0x3F)


@dataclass
class Entry:
    """One 16-byte entry as stored (kept raw so verify can judge CHS and flags)."""

    status: int = 0
    type_code: int = 0
    first_lba: int = 0
    sectors: int = 0
    chs_first: bytes = b"\0\0\0"
    chs_last: bytes = b"\0\0\0"

    @property
    def used(self) -> bool:
        """An entry describes a partition when it has a size (as the kernel and sfdisk read it;
        a type of 0x00 with a size is a partition of type 0)."""
        return self.sectors != 0

    @classmethod
    def make(cls, type_code: int, first_lba: int, sectors: int, bootable: bool = False) -> "Entry":
        return cls(0x80 if bootable else 0, type_code, first_lba, sectors, chs(first_lba),
                   chs(first_lba + sectors - 1))


@dataclass
class Sector:
    """A parsed MBR/EBR sector."""

    boot_code: bytes
    disk_signature: int
    reserved: bytes
    entries: list[Entry]

    def build(self) -> bytes:
        return SECTOR.build(dict(
            boot_code=self.boot_code, disk_signature=self.disk_signature, reserved=self.reserved,
            entries=[dict(status=e.status, chs_first=e.chs_first, type=e.type_code,
                          chs_last=e.chs_last, first_lba=e.first_lba, sectors=e.sectors)
                     for e in self.entries],
            boot_signature=BOOT_SIGNATURE))


def parse_sector(raw: bytes) -> Sector | None:
    """The first 512 bytes of a sector -> ``Sector``, or None without the 0x55AA signature."""
    if len(raw) < 512 or raw[510:512] != BOOT_SIGNATURE:
        return None
    return read_sector(raw)


def read_sector(raw: bytes) -> Sector:
    """Parse a sector's MBR layout whatever its signature (sfdisk reads unsigned EBRs)."""
    s = SECTOR.parse(raw[:510].ljust(510, b"\0") + BOOT_SIGNATURE)
    entries = [Entry(e["status"], e["type"], e["first_lba"], e["sectors"], e["chs_first"],
                     e["chs_last"]) for e in s["entries"]]
    return Sector(s["boot_code"], s["disk_signature"], s["reserved"], entries)


# What ``signatures.boot_record`` names, as LBA 0 of a whole-disk volume is shown
VOLUME_NAMES = {"ntfs": "NTFS", "exfat": "exFAT", "BitLocker": "BitLocker", "ReFS": "ReFS",
                "hpfs": "HPFS", "jfs": "JFS"}


def not_a_table(raw: bytes, sector: Sector, disk_lbas: int) -> str | None:
    """Why LBA 0 (with its 0x55AA) holds no partition table, or None when it does.

    As blkid decides: a valid FAT boot sector is a whole-disk filesystem (mformat and
    mkfs.fat --mbr=y fake an entry over the whole disk from LBA 0), and a boot indicator other
    than 0x00/0x80 is not a partition entry (the kernel's rule too). Beyond blkid: the boot
    record of another filesystem (NTFS, exFAT, BitLocker, HPFS ...) whose "entries" are
    empty (blkid -p: that filesystem, no PTTYPE) or impossible (starting at LBA 0 or ending
    past the disk) is that filesystem, not a table;
    and boot code that kept an old FAT BPB over a sane entry (from LBA 1 on, inside the disk)
    is still a table, as the Linux kernel reads it: data is never hidden behind a guess.
    """
    if any(e.type_code == types.MBR_PROTECTIVE for e in sector.entries):
        return None  # GPT's protective MBR (with or without a readable GPT)
    flags = [e.status for e in sector.entries if e.status not in (0x00, 0x80)]
    insane = [e for e in sector.entries
              if e.used and (e.first_lba == 0 or e.first_lba + e.sectors > disk_lbas)]
    sane = [e for e in sector.entries if e.used and e not in insane]
    kind = boot_record(raw)
    if kind == "fat" and not (sane and not flags):
        return "a FAT boot sector (a filesystem on the whole disk)"
    if kind in VOLUME_NAMES and (flags or insane or not sane):
        return f"the boot record of a whole-disk {VOLUME_NAMES[kind]} volume"
    if flags:
        return (f"a boot record with boot indicator 0x{flags[0]:02x} (not 0x00 or 0x80): no "
                "partition entries, as blkid and the Linux kernel read it")
    return None


def why_no_table(dev) -> str | None:
    """What LBA 0 holds instead of a partition table, when it carries 0x55AA (else None)."""
    raw = dev.read_at(0, min(512, dev.size))
    sector = parse_sector(raw)
    return not_a_table(raw, sector, dev.size // 512) if sector else None


def empty_sector(disk_signature: int = 0) -> Sector:
    return Sector(bytes(440), disk_signature, bytes(2), [Entry() for _ in range(4)])


def protective_entry(disk_lbas: int) -> Entry:
    """The 0xEE entry of a GPT disk: from LBA 1 over min(disk - 1, 0xFFFFFFFF) sectors."""
    entry = Entry.make(types.MBR_PROTECTIVE, 1, min(disk_lbas - 1, MAX_LBA32))
    entry.chs_first = bytes([0, 2, 0])
    return entry


def is_protective(sector: Sector | None) -> bool:
    return sector is not None and any(e.type_code == types.MBR_PROTECTIVE for e in sector.entries)


@dataclass
class MbrTable(Table):
    """A DOS partition table as read (primaries by slot, logicals from the EBR chain)."""

    sector_size: int
    disk_lbas: int
    disk_signature: int
    sector: Sector  # LBA 0 as read, so boot code and the reserved bytes survive edits
    primaries: list[Partition | None] = field(default_factory=lambda: [None] * 4)
    logicals: list[Partition] = field(default_factory=list)
    ebrs: list[tuple[int, bool]] = field(default_factory=list)  # (LBA, holds a logical) in order
    findings: list[Problem] = field(default_factory=list)
    kind: str = "mbr"
    max_sectors: int = MAX_LBA32

    @property
    def partitions(self) -> list[Partition]:
        return [p for p in self.primaries if p] + list(self.logicals)

    @property
    def extended(self) -> Partition | None:
        """The extended partition whose chain was read (the first one, as sfdisk reads it)."""
        return next((p for p in self.primaries if p and p.is_extended), None)

    @property
    def first_usable_lba(self) -> int:
        return 1

    @property
    def last_usable_lba(self) -> int:
        return min(self.disk_lbas - 1, MAX_LBA32)

    def used_runs(self) -> list[tuple[int, int]]:
        """Space taken by primaries and the whole extended partition (logicals live inside)."""
        return [(p.first_lba, p.last_lba) for p in self.primaries if p and p.sectors]

    def free_indexes(self) -> list[int]:
        return [i for i in range(1, 5) if self.primaries[i - 1] is None]

    def new_partition(self, index, first, last, type, name, guid, attributes, bootable):
        if name or guid or attributes:
            raise UsageError("MBR partitions have no name, GUID or attributes")
        code = types.mbr_type_code(type)
        validate_type(code, self)
        part = Partition(index, first, last, self.sector_size, type_code=code, bootable=bootable)
        self.primaries[index - 1] = part
        return part

    def change(self, part, name, type, attributes, guid, bootable):
        self.check_editable(part.index)
        if name is not None or attributes is not None or guid is not None:
            raise UsageError("MBR partitions have no name, GUID or attributes")
        if type is not None:
            code = types.mbr_type_code(type)
            validate_type(code)
            part.type_code = code
        if bootable is not None:
            part.bootable = bootable

    def remove(self, index: int) -> None:
        self.check_editable(index)
        self.primaries[index - 1] = None

    def check_editable(self, index: int) -> None:
        if index >= 5:
            raise Unsupported(f"partition {index} is a logical partition; diskkit edits only "
                              "the four primary MBR entries")
        part = self.primaries[index - 1] if 1 <= index <= 4 else None
        if part is not None and part.is_extended:
            raise Unsupported(f"partition {index} is the extended partition; diskkit does not "
                              "edit extended/logical layouts")

    def refuse_edits(self) -> str | None:
        if is_protective(self.sector):
            return ("protective MBR but no GPT header; recreate the table with "
                    "'diskkit part init --gpt --force'")
        return None

    def last_usable_for(self, disk_size: int) -> int:
        return min(disk_size // self.sector_size - 1, MAX_LBA32)

    def fit_disk(self, dev, disk_lbas: int) -> str | None:
        self.disk_lbas = disk_lbas  # nothing of an MBR sits at the end of the disk
        return None

    def repairs(self, dev) -> list[str]:
        report = Report(dev.name)
        self.verify(dev, report)
        if report.errors:
            raise Unsupported(f"{dev.name}: MBR problems cannot be repaired automatically: "
                              f"{report.errors[0]}")
        return []

    def write(self, dev, entries: bool = True) -> None:
        write(dev, self)

    def verify(self, dev, report: Report) -> None:
        verify(dev, self, report)

    @property
    def headline(self) -> str:
        return f"MBR, disk signature 0x{self.disk_signature:08x}"

    def to_dict(self) -> dict:
        return {"table": "mbr", "disk_signature": f"0x{self.disk_signature:08x}",
                "sector_size": self.sector_size, "disk_size": self.disk_size,
                "first_usable_lba": self.first_usable_lba, "last_usable_lba": self.last_usable_lba}


def _partition(index: int, entry: Entry, base: int, sector_size: int, logical=False) -> Partition:
    first = base + entry.first_lba
    return Partition(index=index, first_lba=first, last_lba=first + entry.sectors - 1,
                     sector_size=sector_size, type_code=entry.type_code,
                     bootable=entry.status == 0x80, logical=logical)


def load(dev, sector_size: int) -> MbrTable | None:
    """Read LBA 0 and any logical chain; None when LBA 0 holds no partition table (no 0x55AA,
    or a filesystem's boot sector: see ``not_a_table``)."""
    disk_lbas = dev.size // sector_size
    if disk_lbas < 1:
        return None
    raw = dev.read_at(0, min(sector_size, dev.size))
    sector = parse_sector(raw)
    if sector is None or not_a_table(raw, sector, disk_lbas):
        return None
    table = MbrTable(sector_size, disk_lbas, sector.disk_signature, sector)
    extended = None
    for slot, entry in enumerate(sector.entries):
        if not entry.used:
            continue
        part = _partition(slot + 1, entry, 0, sector_size)
        table.primaries[slot] = part
        if entry.type_code in types.MBR_EXTENDED_CODES:
            if extended is None:
                extended = part
            else:  # sfdisk warns and ignores it too
                table.note("warning", f"mbr entry {slot + 1}", "a second extended partition "
                           "(only the first one's logical partitions are read)")
    if extended is not None:
        _load_logicals(dev, table, extended)
    return table


def _load_logicals(dev, table: MbrTable, extended: Partition) -> None:
    """Follow the EBR chain inside ``extended`` as sfdisk does, stopping at loops and links
    that leave the extended partition.

    In each EBR the data entry is the first non-extended entry with a type and the link the
    first extended one, in any slot (some tools put the link first). Data entries without a
    size are skipped, the others numbered 5, 6, ... in chain order, as sfdisk numbers them.
    """
    ss = table.sector_size
    ebr = extended.first_lba
    if ebr == 0:
        return  # the entry points at the MBR itself (verify reports it); sfdisk reads nothing
    seen = set()
    while True:
        where = f"extended boot record at LBA {ebr}"
        if ebr in seen:
            table.note("error", where, "the logical partition chain loops")
            return
        if len(seen) >= MAX_LOGICALS:
            table.note("error", where, f"more than {MAX_LOGICALS} logical partitions")
            return
        if not extended.first_lba <= ebr <= extended.last_lba or ebr >= table.disk_lbas:
            table.note("error", where, "link points outside the extended partition")
            return
        seen.add(ebr)
        raw = dev.read_at(ebr * ss, min(ss, dev.size - ebr * ss))
        if raw[510:512] != BOOT_SIGNATURE:
            if not any(raw[446:510]):
                if ebr != extended.first_lba:
                    table.note("warning", where, "empty and without the 0x55AA signature")
                return  # an extended partition without logicals: its first EBR may be blank
            table.note("warning", where, "no 0x55AA signature (sfdisk reads its entries anyway; "
                                         "the kernel and blkid stop here)")
        entries = read_sector(raw).entries
        links = [e for e in entries if e.type_code in types.MBR_EXTENDED_CODES]
        datas = [e for e in entries if e.type_code and e.type_code not in types.MBR_EXTENDED_CODES]
        if len(datas) > 1:
            table.note("warning", where, f"{len(datas)} data entries: only the first is a "
                       "partition to sfdisk (the kernel and blkid list the others too)")
        if len(links) > 1:
            table.note("warning", where, "more than one link entry: the first is followed")
        if links and not links[0].sectors:
            table.note("warning", where, "link entry of size 0: sfdisk follows it, the Linux "
                                         "kernel ends the chain here (it does not see the "
                                         "logical partitions after it)")
        # no typed data entry: sfdisk takes the first entry that is not the link
        data = datas[0] if datas else next(e for e in entries if not links or e is not links[0])
        table.ebrs.append((ebr, data.used))
        if data.used:
            number = 5 + len(table.logicals)
            if not data.type_code:
                table.note("error", f"partition {number}", "logical partition of type 0x00 "
                                                           "(empty) with a size")
            table.logicals.append(_partition(number, data, ebr, ss, True))
        if not links:
            return
        ebr = extended.first_lba + links[0].first_lba


def verify(dev, table: MbrTable, report: Report) -> None:
    """What ``sfdisk --verify`` calls errors (overlaps, logical partitions outside the extended
    one, empty logical entries, partitions past the disk), plus warnings for CHS values that
    disagree with the LBAs, unaligned starts, partitions over LBA 0 and odd boot flags."""
    report.problems.extend(table.findings)
    for slot, entry in enumerate(table.sector.entries):
        where = f"mbr entry {slot + 1}"
        if entry.status not in (0x00, 0x80):
            report.error(where, f"boot flag is 0x{entry.status:02x} (must be 0x00 or 0x80)",
                         446 + 16 * slot)
        if not entry.used:
            continue
        if entry.type_code == types.MBR_PROTECTIVE:
            report.error(where, "protective 0xEE entry but no valid GPT on the disk")
        for label, raw, lba in (("start", entry.chs_first, entry.first_lba),
                                ("end", entry.chs_last, entry.first_lba + entry.sectors - 1)):
            if raw != chs(lba) and decode_chs(raw)[0] < 1023 and decode_chs(chs(lba))[0] < 1023:
                c, h, s = decode_chs(raw)
                report.warning(where, f"CHS {label} {c}/{h}/{s} does not match LBA {lba} "
                                      "(255 heads, 63 sectors)")
    if table.disk_lbas > MAX_LBA32 + 1:
        report.warning("mbr", f"the disk has {table.disk_lbas} sectors; MBR reaches only the "
                              f"first {MAX_LBA32 + 1} (use GPT)")
    if sum(1 for p in table.primaries if p and p.bootable) > 1:
        report.warning("mbr", "more than one partition is marked bootable")
    extended = next((p for p in table.primaries if p and p.is_extended), None)
    for part in table.partitions:
        where = f"partition {part.index}"
        if part.last_lba >= table.disk_lbas:
            report.error(where, f"ends at LBA {part.last_lba}, beyond the disk's last LBA "
                                f"{table.disk_lbas - 1}")
        if part.first_lba == 0:  # legal to sfdisk and the kernel, but its data holds the table
            report.warning(where, "starts at LBA 0, over the MBR itself")
        if part.logical and extended and not (
                extended.first_lba <= part.first_lba and part.last_lba <= extended.last_lba):
            report.error(where, f"logical partition not entirely inside extended partition "
                                f"{extended.index}")
        if part.start % 4096:
            report.warning(where, f"starts at byte {part.start}, not 4 KiB aligned")
    data = [p for p in table.partitions if not p.is_extended]
    _report_overlaps(report, data)  # as sfdisk: every data partition against every other
    # sfdisk leaves the extended partition out; a primary over it holds the EBR chain's sectors
    _report_overlaps(report, [p for p in table.primaries if p], skip=data)


def _report_overlaps(report: Report, parts: list[Partition], skip=()) -> None:
    """Neighbours (by start) that overlap; pairs wholly within ``skip`` were reported before."""
    ordered = sorted(parts, key=lambda p: p.first_lba)
    for a, b in zip(ordered, ordered[1:]):
        if a in skip and b in skip:
            continue
        if b.first_lba <= a.last_lba:
            report.error(f"partition {b.index}", f"overlaps partition {a.index} "
                                                 f"(LBA {b.first_lba} <= {a.last_lba})")


def build_sector(table: MbrTable) -> bytes:
    """LBA 0 for ``table``: its primaries re-encoded, boot code and reserved bytes kept."""
    entries = []
    for slot, part in enumerate(table.primaries):
        if part is None:
            entries.append(Entry())
            continue
        if part.first_lba > MAX_LBA32 or part.sectors > MAX_LBA32:
            raise Unsupported(f"partition {part.index}: MBR cannot address beyond 2 TiB sectors "
                              "(use GPT)")
        old = table.sector.entries[slot]
        if (old.used and old.type_code == part.type_code and old.first_lba == part.first_lba
                and old.sectors == part.sectors and (old.status == 0x80) == part.bootable):
            entries.append(old)  # unchanged: keep its bytes (CHS as the original tool wrote)
        else:
            entries.append(Entry.make(part.type_code, part.first_lba, part.sectors, part.bootable))
    sector = Sector(table.sector.boot_code, table.disk_signature, table.sector.reserved, entries)
    return sector.build()


def write(dev, table: MbrTable) -> None:
    """One 512-byte write: atomic on every real disk and host filesystem. Logical partitions
    live in EBRs, which are never rewritten."""
    dev.write_at(0, build_sector(table))
    dev.flush()


def _ebr(entry: Entry, link: Entry | None = None) -> Sector:
    return Sector(bytes(440), 0, bytes(2), [entry, link or Entry(), Entry(), Entry()])


def _relative(type_code: int, first: int, sectors: int, base: int, bootable=False) -> Entry:
    """An EBR entry: CHS of the absolute position, LBA counted from ``base``."""
    entry = Entry.make(type_code, first, sectors, bootable)
    entry.first_lba = first - base
    return entry


def add_logical(dev, table: MbrTable, type_code: int, sectors: int | None, align: int,
                start: int | None = None, bootable: bool = False) -> Partition:
    """Append a logical partition at the end of the extended partition's chain.

    Its EBR goes in the first free sector after the last logical (or reuses an empty first
    EBR); the partition starts at the first ``align``-ed LBA after it. The new EBR is written
    first and the previous EBR's link (one sector) last, so an interruption leaves the old
    chain. Positions in LBAs; ``table`` gains the partition.
    """
    extended = table.extended
    if extended is None:
        raise NotFound("no extended partition to hold a logical one: add one first with type "
                       "'extended'")
    validate_type(type_code)
    damaged = [p.message for p in table.findings if p.severity == "error"
               and p.where.startswith("extended boot record")]
    if damaged:
        raise CorruptImage(f"the logical partition chain is damaged ({damaged[0]}); diskkit "
                           "does not add to it")
    if len(table.logicals) >= MAX_LOGICALS:
        raise Unsupported(f"diskkit writes at most {MAX_LOGICALS} logical partitions")
    ss = table.sector_size
    last_ebr, holds = table.ebrs[-1] if table.ebrs else (extended.first_lba, False)
    ebr = table.logicals[-1].last_lba + 1 if holds else last_ebr
    gap = [(ebr + 1, extended.last_lba)] if ebr < extended.last_lba else []
    first, last = place(gap, sectors, align, start)
    part = Partition(5 + len(table.logicals), first, last, ss, type_code=type_code,
                     bootable=bootable, logical=True)
    dev.write_at(ebr * ss, _ebr(_relative(type_code, first, part.sectors, ebr, bootable)).build())
    if holds:
        previous = read_sector(dev.read_at(last_ebr * ss, ss))
        previous.entries[1] = _relative(LINK_TYPE, ebr, last - ebr + 1, extended.first_lba)
        dev.write_at(last_ebr * ss, previous.build())
        table.ebrs.append((ebr, True))
    else:
        table.ebrs[-1:] = [(ebr, True)]
    dev.flush()
    table.logicals.append(part)
    return part


def validate_type(type_code: int, table: MbrTable | None = None) -> None:
    """Refuse types no new entry may have; an extended type only for a new primary of
    ``table`` while it has none."""
    if type_code in types.MBR_EXTENDED_CODES:
        if table is None:
            raise Unsupported("an extended partition can only be added as a new primary "
                              "partition, not made by changing a type or inside another")
        if table.extended is not None:
            raise Unsupported(f"an MBR holds one extended partition; this disk has one "
                              f"(partition {table.extended.index})")
    if type_code == types.MBR_PROTECTIVE:
        raise UsageError("0xEE is the GPT protective type; use 'part init --gpt' for GPT")
