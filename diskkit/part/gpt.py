"""GPT (UEFI spec chapter 5): headers, entry arrays, CRCs, loading with fallback, ordered writes.

Loading never trusts a number before checking it against the disk: a header's entry count and
size are bounded by the disk and by ``MAX_ENTRY_BYTES`` before anything is allocated.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from types import SimpleNamespace

from ..errors import CorruptImage, NoSpace, UsageError
from ..guid import guid_bytes, guid_text
from ..report import Problem, Report
from ..structs import Layout
from . import mbr, types
from .model import Partition, Table, new_guid

HEADER = Layout(
    "<",
    ("signature", "8s"),
    ("revision", "I"),
    ("header_size", "I"),
    ("header_crc", "I"),
    ("reserved", "I"),
    ("my_lba", "Q"),
    ("alternate_lba", "Q"),
    ("first_usable_lba", "Q"),
    ("last_usable_lba", "Q"),
    ("disk_guid", "16s"),
    ("entries_lba", "Q"),
    ("entry_count", "I"),
    ("entry_size", "I"),
    ("entries_crc", "I"),
)
ENTRY = Layout(
    "<",
    ("type_guid", "16s"),
    ("guid", "16s"),
    ("first_lba", "Q"),
    ("last_lba", "Q"),
    ("attributes", "Q"),
    ("name", "72s"),
)
SIGNATURE = b"EFI PART"
REVISION = 0x00010000
HEADER_SIZE = HEADER.size  # 92
ENTRY_SIZE = 128
ENTRY_COUNT = 128
NAME_UNITS = 36
MAX_ENTRY_BYTES = 16 * 1024 * 1024  # 131072 entries of 128 bytes: far beyond any real table
_ZERO_GUID = bytes(16)


def decode_name(raw: bytes) -> str:
    units = bytes(raw)
    for i in range(0, len(units), 2):
        if units[i:i + 2] == b"\0\0":
            units = units[:i]
            break
    return units.decode("utf-16-le", "replace")


def encode_name(name: str) -> bytes:
    raw = name.encode("utf-16-le", "surrogatepass")
    if len(raw) > 2 * NAME_UNITS:
        raise UsageError(f"partition name {name!r} is longer than {NAME_UNITS} UTF-16 units")
    if "\0" in name:
        raise UsageError("partition name must not contain NUL characters")
    return raw.ljust(2 * NAME_UNITS, b"\0")


@dataclass
class Header:
    """A parsed, validated GPT header."""

    my_lba: int
    alternate_lba: int
    first_usable_lba: int
    last_usable_lba: int
    disk_guid: str
    entries_lba: int
    entry_count: int
    entry_size: int
    entries_crc: int

    def entry_sectors(self, sector_size: int) -> int:
        return -(-self.entry_count * self.entry_size // sector_size)

    def build(self, sector_size: int) -> bytes:
        """The header block: 92 bytes with both CRCs filled, zero-padded to the sector."""
        fields = dict(signature=SIGNATURE, revision=REVISION, header_size=HEADER_SIZE,
                      header_crc=0, reserved=0, my_lba=self.my_lba,
                      alternate_lba=self.alternate_lba, first_usable_lba=self.first_usable_lba,
                      last_usable_lba=self.last_usable_lba,
                      disk_guid=guid_bytes(self.disk_guid), entries_lba=self.entries_lba,
                      entry_count=self.entry_count, entry_size=self.entry_size,
                      entries_crc=self.entries_crc)
        raw = HEADER.build(fields)
        fields["header_crc"] = zlib.crc32(raw)
        return HEADER.build(fields).ljust(sector_size, b"\0")


def parse_header(block: bytes, lba: int, disk_lbas: int, sector_size: int) -> Header:
    """Validate one header block read at ``lba``; CorruptImage says what is wrong."""
    if block[:8] != SIGNATURE:
        raise CorruptImage("no 'EFI PART' signature")
    raw = SimpleNamespace(**HEADER.parse(block))
    if not HEADER_SIZE <= raw.header_size <= sector_size:
        raise CorruptImage(f"header size {raw.header_size} outside {HEADER_SIZE}..{sector_size}")
    covered = bytearray(block[:raw.header_size])
    covered[16:20] = bytes(4)
    if zlib.crc32(covered) != raw.header_crc:
        raise CorruptImage("header CRC32 mismatch")
    if raw.my_lba != lba:
        raise CorruptImage(f"header says it lives at LBA {raw.my_lba}, found at LBA {lba}")
    if raw.entry_size < ENTRY_SIZE or raw.entry_size % 8:
        raise CorruptImage(f"entry size {raw.entry_size} (must be a multiple of 8, >= 128)")
    if not 1 <= raw.entry_count or raw.entry_count * raw.entry_size > MAX_ENTRY_BYTES:
        raise CorruptImage(f"entry array of {raw.entry_count} x {raw.entry_size} bytes is "
                           f"empty or larger than {MAX_ENTRY_BYTES} bytes")
    header = Header(raw.my_lba, raw.alternate_lba, raw.first_usable_lba, raw.last_usable_lba,
                    guid_text(raw.disk_guid), raw.entries_lba, raw.entry_count,
                    raw.entry_size, raw.entries_crc)
    entries_end = header.entries_lba + header.entry_sectors(sector_size)  # exclusive
    if header.entries_lba < 2 or entries_end > disk_lbas:
        raise CorruptImage(f"entry array at LBA {header.entries_lba} lies outside the disk")
    if not header.first_usable_lba <= header.last_usable_lba < disk_lbas:
        raise CorruptImage(f"usable range LBA {header.first_usable_lba}..{header.last_usable_lba}"
                           f" is empty or beyond the disk ({disk_lbas} sectors)")
    if header.first_usable_lba < 2 or (header.entries_lba <= header.last_usable_lba
                                       and entries_end > header.first_usable_lba):
        raise CorruptImage("entry array overlaps the usable range")
    if header.first_usable_lba <= lba <= header.last_usable_lba:
        raise CorruptImage(f"header at LBA {lba} lies inside its own usable range")
    return header


def parse_entries(raw: bytes, header: Header, sector_size: int) -> dict[int, Partition]:
    """Used entries of an array, by 1-based index (entries past 128 bytes are ignored)."""
    parts = {}
    size = header.entry_size
    for slot in range(header.entry_count):
        chunk = raw[slot * size:slot * size + ENTRY_SIZE]
        if chunk[:16] == _ZERO_GUID:
            continue
        e = SimpleNamespace(**ENTRY.parse(chunk))
        parts[slot + 1] = Partition(
            index=slot + 1, first_lba=e.first_lba, last_lba=e.last_lba, sector_size=sector_size,
            type_guid=guid_text(e.type_guid), guid=guid_text(e.guid),
            name=decode_name(e.name), attributes=e.attributes)
    return parts


def build_entries(parts: dict[int, Partition], count: int, size: int) -> bytes:
    out = bytearray(count * size)
    for index, p in parts.items():
        if not 1 <= index <= count:
            raise NoSpace(f"partition {index}: the table has only {count} entries")
        out[(index - 1) * size:(index - 1) * size + ENTRY_SIZE] = ENTRY.build(dict(
            type_guid=guid_bytes(p.type_guid), guid=guid_bytes(p.guid),
            first_lba=p.first_lba, last_lba=p.last_lba, attributes=p.attributes,
            name=encode_name(p.name)))
    return bytes(out)


@dataclass
class GptTable(Table):
    """A GPT as the program sees it: one layout, the partitions, and what loading found."""

    sector_size: int
    disk_lbas: int
    disk_guid: str
    first_usable_lba: int
    last_usable_lba: int
    backup_lba: int
    backup_entries_lba: int
    entries_lba: int = 2
    entry_count: int = ENTRY_COUNT
    entry_size: int = ENTRY_SIZE
    slots: dict[int, Partition] = field(default_factory=dict)
    source: str = "new"  # "primary", "backup" or "new"
    findings: list[Problem] = field(default_factory=list)
    kind: str = "gpt"

    @classmethod
    def fresh(cls, disk_lbas: int, sector_size: int, disk_guid: str,
              entry_count: int = ENTRY_COUNT) -> "GptTable":
        """An empty table laid out as sgdisk does: backup header in the last LBA."""
        sectors = -(-entry_count * ENTRY_SIZE // sector_size)
        table = cls(sector_size, disk_lbas, disk_guid, 2 + sectors, 0, 0, 0, 2, entry_count)
        table.place_backup(disk_lbas)
        if table.first_usable_lba > table.last_usable_lba:
            raise NoSpace(f"a {disk_lbas}-sector disk is too small for a GPT")
        return table

    @property
    def partitions(self) -> list[Partition]:
        return [self.slots[i] for i in sorted(self.slots)]

    @property
    def entry_sectors(self) -> int:
        return -(-self.entry_count * self.entry_size // self.sector_size)

    def used_runs(self) -> list[tuple[int, int]]:
        return [(p.first_lba, p.last_lba) for p in self.partitions]

    def free_indexes(self) -> list[int]:
        return [i for i in range(1, self.entry_count + 1) if i not in self.slots]

    def new_partition(self, index, first, last, type, name, guid, attributes, bootable):
        if bootable:
            raise UsageError("GPT has no boot flag; use the attribute legacy-bios-bootable")
        type_guid = types.gpt_type_guid(type)
        if name is None:  # as gdisk does: a known type names the partition
            name = types.gpt_type_name(type_guid) if types.gpt_type_alias(type_guid) else ""
        part = Partition(index, first, last, self.sector_size, type_guid=type_guid,
                         guid=types.normalize_guid(guid) if guid else
                         new_guid("part", self.disk_guid, index, first),
                         name=name, attributes=_attributes(attributes, 0))
        encode_name(part.name)
        self.slots[index] = part
        return part

    def change(self, part, name, type, attributes, guid, bootable):
        if bootable is not None:
            raise UsageError("GPT has no boot flag; use the attribute legacy-bios-bootable")
        if name is not None:
            encode_name(name)
            part.name = name
        if type is not None:
            part.type_guid = types.gpt_type_guid(type)
        if attributes is not None:
            part.attributes = _attributes(attributes, part.attributes)
        if guid is not None:
            part.guid = types.normalize_guid(guid)

    def remove(self, index: int) -> None:
        del self.slots[index]

    def last_usable_for(self, disk_size: int) -> int:
        return disk_size // self.sector_size - 1 - self.entry_sectors - 1

    def fit_disk(self, dev, disk_lbas: int) -> str | None:
        if (self.backup_lba == disk_lbas - 1 and self.disk_lbas == disk_lbas
                and not self.findings and protective_sector(dev, self) is None):
            return None
        old = self.backup_lba
        self.place_backup(disk_lbas)
        return (f"moved the backup GPT from LBA {old} to LBA {self.backup_lba}; usable space "
                f"now ends at LBA {self.last_usable_lba}")

    def repairs(self, dev) -> list[str]:
        changes = []
        wheres = {p.where for p in self.findings}
        if self.source == "backup":
            changes.append("rebuilt the primary GPT (header and entries) from the backup copy")
        elif "gpt backup header" in wheres:
            changes.append("rebuilt the backup GPT from the primary copy")
        elif any(w == "gpt headers" or w.endswith("header") for w in wheres):
            changes.append("rewrote both GPT copies from the primary so they agree")
        if self.backup_lba != self.disk_lbas - 1:
            changes.append(f"moved the backup GPT from LBA {self.backup_lba} to the last LBA "
                           f"{self.disk_lbas - 1}")
            self.place_backup(self.disk_lbas)
        if protective_sector(dev, self) is not None:
            changes.append("set the protective MBR to cover "
                           f"{min(self.disk_lbas - 1, mbr.MAX_LBA32)} sectors")
        return changes

    @property
    def entries_intact(self) -> bool:
        return self.source == "primary" and not self.findings

    def write(self, dev, entries: bool = True) -> None:
        write(dev, self, primary_entries=entries)

    def verify(self, dev, report: Report) -> None:
        verify(dev, self, report)

    def written_wrong(self, dev) -> Problem | None:
        report = Report(dev.name)
        verify(dev, self, report)
        return report.errors[0] if report.errors else None

    def place_backup(self, disk_lbas: int) -> None:
        """Put the backup header in the last LBA of a ``disk_lbas`` disk, its entries before it,
        and extend the usable range up to them."""
        self.disk_lbas = disk_lbas
        self.backup_lba = disk_lbas - 1
        self.backup_entries_lba = self.backup_lba - self.entry_sectors
        self.last_usable_lba = self.backup_entries_lba - 1

    def headers(self, entries_crc: int) -> tuple[Header, Header]:
        common = (self.first_usable_lba, self.last_usable_lba, self.disk_guid)
        tail = (self.entry_count, self.entry_size, entries_crc)
        primary = Header(1, self.backup_lba, *common, self.entries_lba, *tail)
        backup = Header(self.backup_lba, 1, *common, self.backup_entries_lba, *tail)
        return primary, backup

    @property
    def headline(self) -> str:
        return f"GPT, disk GUID {self.disk_guid}"

    @property
    def notes(self) -> list[str]:
        if self.source == "backup":
            return ["primary GPT is damaged; showing the backup ('part repair' fixes it)"]
        return []

    def to_dict(self) -> dict:
        return {"table": "gpt", "disk_guid": self.disk_guid, "sector_size": self.sector_size,
                "disk_size": self.disk_size, "first_usable_lba": self.first_usable_lba,
                "last_usable_lba": self.last_usable_lba, "backup_lba": self.backup_lba,
                "entry_count": self.entry_count, "entry_size": self.entry_size,
                "loaded_from": self.source}


def _attributes(value: int | str, current: int) -> int:
    return types.parse_attributes(value, current) if isinstance(value, str) else value


def _read_copy(dev, lba: int, disk_lbas: int, ss: int) -> tuple[Header, bytes]:
    """Header at ``lba`` and its entry array, both CRC-checked."""
    if not 1 <= lba < disk_lbas:
        raise CorruptImage(f"LBA {lba} is outside the disk")
    header = parse_header(dev.read_at(lba * ss, ss), lba, disk_lbas, ss)
    raw = dev.read_at(header.entries_lba * ss, header.entry_count * header.entry_size)
    if zlib.crc32(raw) != header.entries_crc:
        raise CorruptImage(f"entry array CRC32 mismatch (array at LBA {header.entries_lba})")
    return header, raw


def has_signature(dev, ss: int) -> bool:
    return dev.size >= 2 * ss and dev.read_at(ss, 8) == SIGNATURE


def load(dev, ss: int) -> GptTable | None:
    """Read the GPT from the primary copy, falling back to the backup.

    None when neither copy carries a signature. CorruptImage when something claims to be a
    GPT but no copy is valid. Findings (a bad copy, copies disagreeing) go to ``findings``.
    """
    disk_lbas = dev.size // ss
    if disk_lbas < 3:
        return None
    findings: list[Problem] = []
    primary = backup = None
    try:
        primary = _read_copy(dev, 1, disk_lbas, ss)
    except CorruptImage as exc:
        primary_error = str(exc)
    candidates = [disk_lbas - 1]
    if primary and primary[0].alternate_lba != disk_lbas - 1:
        candidates.insert(0, primary[0].alternate_lba)
    backup_error = None
    for lba in candidates:
        try:
            backup = _read_copy(dev, lba, disk_lbas, ss)
            break
        except CorruptImage as exc:
            backup_error = backup_error or f"at LBA {lba}: {exc}"
    if primary is None and backup is None:
        signed = has_signature(dev, ss) or dev.read_at((disk_lbas - 1) * ss, 8) == SIGNATURE
        if not signed:
            return None
        raise CorruptImage(f"{dev.name}: no valid GPT: primary header {primary_error}; "
                           f"backup header {backup_error}")
    if primary is None:
        findings.append(Problem("gpt primary header", f"at LBA 1: {primary_error}"))
    if backup is None:
        findings.append(Problem("gpt backup header", backup_error))
    chosen, source = (primary, "primary") if primary else (backup, "backup")
    header, raw = chosen
    table = GptTable(ss, disk_lbas, header.disk_guid, header.first_usable_lba,
                     header.last_usable_lba, backup_lba=0, backup_entries_lba=0,
                     entry_count=header.entry_count, entry_size=header.entry_size,
                     slots=parse_entries(raw, header, ss), source=source, findings=findings)
    if primary:
        table.entries_lba = primary[0].entries_lba
    if backup:
        table.backup_lba, table.backup_entries_lba = backup[0].my_lba, backup[0].entries_lba
    else:
        table.backup_lba = header.alternate_lba
        table.backup_entries_lba = header.alternate_lba - table.entry_sectors
    if primary and backup:
        _compare_copies(table, primary[0], backup[0])
    return table


def _compare_copies(table: GptTable, primary: Header, backup: Header) -> None:
    for name in ("disk_guid", "first_usable_lba", "last_usable_lba", "entry_count",
                 "entry_size", "entries_crc"):
        a, b = getattr(primary, name), getattr(backup, name)
        if a != b:
            table.note("error", "gpt headers", f"primary and backup disagree on {name}: {a} vs {b}")
    if primary.alternate_lba != backup.my_lba:
        table.note("error", "gpt primary header",
                   f"points to a backup at LBA {primary.alternate_lba}, but the backup is at LBA "
                   f"{backup.my_lba}")
    if backup.alternate_lba != 1:
        table.note("error", "gpt backup header",
                   f"points to a primary at LBA {backup.alternate_lba}")


def validate_layout(table: GptTable) -> None:
    """Refuse to write a table whose structures overlap or leave the disk."""
    t = table
    checks = [
        (t.entries_lba >= 2 and t.entries_lba + t.entry_sectors <= t.first_usable_lba,
         "primary entry array overlaps the usable range"),
        (t.first_usable_lba <= t.last_usable_lba < t.backup_entries_lba,
         "usable range runs into the backup entry array"),
        (t.backup_entries_lba + t.entry_sectors <= t.backup_lba < t.disk_lbas,
         f"backup header LBA {t.backup_lba} does not fit the {t.disk_lbas}-sector disk"),
    ]
    for ok, message in checks:
        if not ok:
            raise CorruptImage(f"GPT layout: {message}; run 'diskkit part repair'")
    for p in t.partitions:
        if not t.first_usable_lba <= p.first_lba <= p.last_lba <= t.last_usable_lba:
            raise NoSpace(f"partition {p.index} (LBA {p.first_lba}..{p.last_lba}) is outside "
                          f"the usable range {t.first_usable_lba}..{t.last_usable_lba}")
    ordered = sorted(t.partitions, key=lambda p: p.first_lba)
    for a, b in zip(ordered, ordered[1:]):
        if b.first_lba <= a.last_lba:
            raise NoSpace(f"partition {b.index} would overlap partition {a.index}")


def protective_sector(dev, table: GptTable) -> bytes | None:
    """LBA 0 bytes to write, or None when the current one is already right (hybrid MBRs and
    their boot code are left alone)."""
    current = dev.read_at(0, 512)
    sector = mbr.parse_sector(current)
    wanted = mbr.protective_entry(table.disk_lbas)
    if sector is not None and mbr.is_protective(sector):
        used = [e for e in sector.entries if e.used]
        if len(used) > 1:
            return None  # hybrid MBR: somebody's deliberate layout
        slot = next(i for i, e in enumerate(sector.entries) if e.type_code == types.MBR_PROTECTIVE)
        if (sector.entries[slot].first_lba == 1
                and sector.entries[slot].sectors in (wanted.sectors, mbr.MAX_LBA32)):
            return None  # 0xFFFFFFFF: "the whole disk", as Windows writes it
        sector.entries[slot] = wanted
    else:
        boot_code = sector.boot_code if sector else bytes(440)
        sector = mbr.Sector(boot_code, 0, bytes(2), [wanted] + [mbr.Entry() for _ in range(3)])
    return sector.build()


def write(dev, table: GptTable, primary_entries: bool = True) -> None:
    """Write both copies: backup entries, backup header, protective MBR, primary entries, and
    the primary header last, so an interruption leaves at least one valid GPT.

    ``primary_entries=False`` (relocating the backup, entries unchanged) skips rewriting the
    primary array, so the primary copy stays valid throughout.
    """
    validate_layout(table)
    ss = table.sector_size
    entries = build_entries(table.slots, table.entry_count, table.entry_size)
    primary, backup = table.headers(zlib.crc32(entries))
    dev.write_at(table.backup_entries_lba * ss, entries)
    dev.write_at(table.backup_lba * ss, backup.build(ss))
    dev.flush()
    pmbr = protective_sector(dev, table)
    if pmbr is not None:
        dev.write_at(0, pmbr)
    if primary_entries:
        dev.write_at(table.entries_lba * ss, entries)
    dev.flush()
    dev.write_at(ss, primary.build(ss))
    dev.flush()


def verify(dev, table: GptTable, report: Report) -> None:
    """sgdisk -v style checks on a loaded table (header problems come from loading)."""
    report.problems.extend(table.findings)
    ss = table.sector_size
    if table.backup_lba != table.disk_lbas - 1:  # sgdisk -v counts it as a problem too
        report.error("gpt backup header",
                     f"at LBA {table.backup_lba}, not at the disk's last LBA "
                     f"{table.disk_lbas - 1} (disk grew? 'diskkit part repair' moves it)",
                     table.backup_lba * ss)
    if table.entry_count * table.entry_size < ENTRY_COUNT * ENTRY_SIZE:
        report.warning("gpt entry array", f"{table.entry_count * table.entry_size} bytes, less "
                                          f"than the {ENTRY_COUNT * ENTRY_SIZE} the UEFI spec "
                                          "requires")
    _verify_protective(dev, table, report)
    seen_guids = {}
    for p in table.partitions:
        where = f"partition {p.index}"
        if p.first_lba > p.last_lba:
            report.error(where, f"first LBA {p.first_lba} is after last LBA {p.last_lba}")
        elif not (table.first_usable_lba <= p.first_lba and p.last_lba <= table.last_usable_lba):
            report.error(where, f"LBA {p.first_lba}..{p.last_lba} is outside the usable range "
                                f"{table.first_usable_lba}..{table.last_usable_lba}")
        if p.guid == types.EMPTY_GUID:
            report.error(where, "unique partition GUID is all zero")
        elif p.guid in seen_guids:
            report.error(where, f"same unique GUID as partition {seen_guids[p.guid]}")
        seen_guids.setdefault(p.guid, p.index)
        if p.start % 4096:
            report.warning(where, f"starts at byte {p.start}, not 4 KiB aligned")
    ordered = sorted(table.partitions, key=lambda p: p.first_lba)
    for a, b in zip(ordered, ordered[1:]):
        if b.first_lba <= a.last_lba:
            report.error(f"partition {b.index}", f"overlaps partition {a.index} "
                                                 f"(LBA {b.first_lba} <= {a.last_lba})")


def _verify_protective(dev, table: GptTable, report: Report) -> None:
    sector = mbr.parse_sector(dev.read_at(0, 512))
    if sector is None:
        report.error("protective mbr", "missing (no 0x55AA signature in LBA 0)", 510)
        return
    slots = [i for i, e in enumerate(sector.entries) if e.type_code == types.MBR_PROTECTIVE]
    if not slots:
        report.error("protective mbr", "no 0xEE entry: the disk looks like an MBR disk to "
                                       "BIOS tools", 446)
        return
    entry = sector.entries[slots[0]]
    wanted = min(table.disk_lbas - 1, mbr.MAX_LBA32)
    hybrid = sum(1 for e in sector.entries if e.used) > 1
    # sgdisk -v, blkid and the kernel accept any 0xEE span; Windows always writes 0xFFFFFFFF
    if entry.first_lba != 1:
        report.warning("protective mbr", f"0xEE entry starts at LBA {entry.first_lba}, not 1")
    elif not hybrid and entry.sectors not in (wanted, mbr.MAX_LBA32):
        beyond = entry.first_lba + entry.sectors > table.disk_lbas
        report.warning("protective mbr", f"0xEE entry covers {entry.sectors} sectors, "
                       + (f"beyond the disk ({table.disk_lbas} sectors)" if beyond else
                          f"not {wanted} (disk grew? 'diskkit part repair' fixes it)"))
    if hybrid:
        report.warning("protective mbr", "hybrid MBR (other entries next to 0xEE)")
