"""MBR: the four primary entries, the extended/logical chain (read), CHS, protective MBRs.

The on-disk MBR is always the first 512 bytes of LBA 0, whatever the logical sector size;
partition positions count logical sectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from construct import Array, Bytes, Int8ul, Int32ul, Struct

from ..errors import Unsupported, UsageError
from ..report import Report
from ..signatures import boot_record
from . import types
from .model import Partition

ENTRY = Struct(
    "status" / Int8ul,
    "chs_first" / Bytes(3),
    "type" / Int8ul,
    "chs_last" / Bytes(3),
    "first_lba" / Int32ul,
    "sectors" / Int32ul,
)
SECTOR = Struct(
    "boot_code" / Bytes(440),
    "disk_signature" / Int32ul,
    "reserved" / Bytes(2),
    "entries" / Array(4, ENTRY),
    "boot_signature" / Bytes(2),
)
BOOT_SIGNATURE = b"\x55\xaa"
MAX_LBA32 = 0xFFFFFFFF
MAX_LOGICALS = 128  # far beyond any real chain: a longer one is a loop or hostile
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
        return self.type_code != 0 and self.sectors != 0

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
    s = SECTOR.parse(raw[:512])
    entries = [Entry(e.status, e.type, e.first_lba, e.sectors, e.chs_first, e.chs_last)
               for e in s.entries]
    return Sector(s.boot_code, s.disk_signature, s.reserved, entries)


def looks_like_boot_record(raw: bytes, sector: Sector) -> bool:
    """A filesystem boot sector (FAT/NTFS/exFAT/BitLocker on a whole disk), not a partition
    table. Like blkid: a volume boot record by its signature (``signatures.boot_record``);
    a FAT one only when its entries are empty or nonsense (MBR boot code can look like a BPB).
    """
    kind = boot_record(raw)
    if kind is None:
        return False
    return (kind != "fat" or not any(e.used for e in sector.entries)
            or any(e.status not in (0, 0x80) for e in sector.entries))


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
class MbrTable:
    """A DOS partition table as read (primaries by slot, logicals from the EBR chain)."""

    sector_size: int
    disk_lbas: int
    disk_signature: int
    sector: Sector  # LBA 0 as read, so boot code and the reserved bytes survive edits
    primaries: list[Partition | None] = field(default_factory=lambda: [None] * 4)
    logicals: list[Partition] = field(default_factory=list)
    findings: list[tuple[str, str, str]] = field(default_factory=list)  # (severity, where, msg)
    kind: str = "mbr"

    @property
    def partitions(self) -> list[Partition]:
        return [p for p in self.primaries if p] + list(self.logicals)

    @property
    def disk_size(self) -> int:
        return self.disk_lbas * self.sector_size

    @property
    def first_usable_lba(self) -> int:
        return 1

    @property
    def last_usable_lba(self) -> int:
        return min(self.disk_lbas - 1, MAX_LBA32)

    def used_runs(self) -> list[tuple[int, int]]:
        """Space taken by primaries and the whole extended partition (logicals live inside)."""
        return [(p.first_lba, p.last_lba) for p in self.primaries if p and p.sectors]

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
    """Read LBA 0 and any logical chain; None when LBA 0 carries no MBR signature."""
    disk_lbas = dev.size // sector_size
    if disk_lbas < 1:
        return None
    raw = dev.read_at(0, min(sector_size, dev.size))
    sector = parse_sector(raw)
    if sector is None or looks_like_boot_record(raw, sector):
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
            else:
                table.findings.append(("error", f"mbr entry {slot + 1}",
                                       "a second extended partition (only one is allowed)"))
    if extended is not None:
        _load_logicals(dev, table, extended)
    return table


def _load_logicals(dev, table: MbrTable, extended: Partition) -> None:
    """Follow the EBR chain inside ``extended``, stopping at loops and out-of-range links."""
    ss = table.sector_size
    ebr = extended.first_lba
    seen = set()
    while True:
        where = f"extended boot record at LBA {ebr}"
        if ebr in seen:
            table.findings.append(("error", where, "the logical partition chain loops"))
            return
        if len(seen) >= MAX_LOGICALS:
            table.findings.append(("error", where, f"more than {MAX_LOGICALS} logical partitions"))
            return
        if not extended.first_lba <= ebr <= extended.last_lba or ebr >= table.disk_lbas:
            table.findings.append(("error", where, "link points outside the extended partition"))
            return
        seen.add(ebr)
        sector = parse_sector(dev.read_at(ebr * ss, ss))
        if sector is None:
            if ebr != extended.first_lba:
                table.findings.append(("error", where, "missing 0x55AA signature"))
            return  # an extended partition without logicals has an empty first EBR
        first, link = sector.entries[0], sector.entries[1]
        if first.used:
            table.logicals.append(_partition(5 + len(table.logicals), first, ebr, ss, True))
        if not (link.used and link.type_code in types.MBR_EXTENDED_CODES):
            return
        ebr = extended.first_lba + link.first_lba


def verify(dev, table: MbrTable, report: Report) -> None:
    """MBR checks: ranges, overlaps, boot flags, CHS agreeing with LBA, alignment."""
    for severity, where, message in table.findings:
        getattr(report, severity)(where, message)
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
    parts = [p for p in table.partitions if not p.is_extended]
    extended = next((p for p in table.primaries if p and p.is_extended), None)
    for part in table.partitions:
        where = f"partition {part.index}"
        if part.last_lba >= table.disk_lbas:
            report.error(where, f"ends at LBA {part.last_lba}, beyond the disk's last LBA "
                                f"{table.disk_lbas - 1}")
        if part.first_lba == 0:
            report.error(where, "starts at LBA 0, over the MBR itself")
        if part.logical and extended and part.last_lba > extended.last_lba:
            report.error(where, "logical partition ends outside its extended partition")
        if part.start % 4096:
            report.warning(where, f"starts at byte {part.start}, not 4 KiB aligned")
    outer = [p for p in table.primaries if p]
    _report_overlaps(report, outer)
    _report_overlaps(report, [p for p in parts if p.logical])


def _report_overlaps(report: Report, parts: list[Partition]) -> None:
    ordered = sorted(parts, key=lambda p: p.first_lba)
    for a, b in zip(ordered, ordered[1:]):
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


def check_editable(table: MbrTable, index: int) -> None:
    if index >= 5:
        raise Unsupported(f"partition {index} is a logical partition; diskkit edits only the "
                          "four primary MBR entries")
    part = table.primaries[index - 1] if 1 <= index <= 4 else None
    if part is not None and part.is_extended:
        raise Unsupported(f"partition {index} is the extended partition; diskkit does not edit "
                          "extended/logical layouts")


def validate_type(type_code: int) -> None:
    if type_code in types.MBR_EXTENDED_CODES:
        raise Unsupported("creating extended partitions is not supported (up to four primaries)")
    if type_code == types.MBR_PROTECTIVE:
        raise UsageError("0xEE is the GPT protective type; use 'part init --gpt' for GPT")
