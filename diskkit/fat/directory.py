"""Directory entries: the 32-byte short entry, FAT timestamps, and parsing a directory's bytes.

Directories are parsed with ``struct`` rather than construct: a put of thousands of files
parses and builds tens of thousands of entries, and construct is slow per item.
"""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass, field

from . import names

ATTR_READ_ONLY, ATTR_HIDDEN, ATTR_SYSTEM = 0x01, 0x02, 0x04
ATTR_VOLUME_ID, ATTR_DIRECTORY, ATTR_ARCHIVE = 0x08, 0x10, 0x20
SLOT = 32
MAX_DIR_SLOTS = 65536  # fatgen103: a directory holds at most 65,536 entries (2 MiB)
DELETED = 0xE5

SHORT_ENTRY = struct.Struct("<11sBBBHHHHHHHI")
# name, attr, nt_flags, ctime_tenth, ctime, cdate, adate, cluster_hi, wtime, wdate, cluster_lo, size


def fat_datetime(ts: float) -> tuple[int, int, int]:
    """``(date, time, tenths)`` of a POSIX time, in UTC, clamped to FAT's 1980..2107 range."""
    t = time.gmtime(max(315532800, min(int(ts), 4354819198)))
    date = ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    tm = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    return date, tm, (t.tm_sec % 2) * 100


def from_fat_datetime(date: int, tm: int = 0, tenths: int = 0) -> float | None:
    """POSIX time (UTC) of a FAT date/time, or None when the date is unset or invalid."""
    year, month, day = 1980 + (date >> 9), (date >> 5) & 0x0F, date & 0x1F
    hour, minute, sec = tm >> 11, (tm >> 5) & 0x3F, (tm & 0x1F) * 2
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and sec < 60):
        return None
    import calendar

    return calendar.timegm((year, month, day, hour, minute, sec, 0, 0, 0)) + min(tenths, 199) / 100


def fixed_epoch() -> float | None:
    """``SOURCE_DATE_EPOCH`` as a number, when set: every timestamp we write is then that."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None or not value.strip():
        return None
    try:
        return float(int(value))
    except ValueError:
        from ..errors import UsageError

        raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is not an integer") from None


def timestamp(host_mtime: float | None = None) -> float:
    """The time to record: SOURCE_DATE_EPOCH, else the host file's, else now."""
    epoch = fixed_epoch()
    if epoch is not None:
        return epoch
    return time.time() if host_mtime is None else host_mtime


@dataclass
class Entry:
    """One file or directory as a directory lists it."""

    name: str  # long name, or the short name with lowercase flags applied
    raw11: bytes
    attr: int
    nt_flags: int
    cluster: int
    size: int
    cdate: int = 0
    ctime: int = 0
    ctime_tenth: int = 0
    adate: int = 0
    wdate: int = 0
    wtime: int = 0
    slot: int = 0  # index of the short entry in its directory
    first_slot: int = 0  # index of the first LFN slot (== slot without LFN)
    has_lfn: bool = False

    @property
    def is_dir(self) -> bool:
        return bool(self.attr & ATTR_DIRECTORY)

    @property
    def short_name(self) -> str:
        return names.short_display(self.raw11)

    @property
    def mtime(self) -> float | None:
        return from_fat_datetime(self.wdate, self.wtime)

    @property
    def created(self) -> float | None:
        return from_fat_datetime(self.cdate, self.ctime, self.ctime_tenth)

    def pack(self) -> bytes:
        return SHORT_ENTRY.pack(self.raw11, self.attr, self.nt_flags, self.ctime_tenth, self.ctime,
                                self.cdate, self.adate, self.cluster >> 16, self.wtime, self.wdate,
                                self.cluster & 0xFFFF, self.size)

    def stamp(self, ts: float) -> None:
        date, tm, tenth = fat_datetime(ts)
        self.cdate, self.ctime, self.ctime_tenth = date, tm, tenth
        self.wdate, self.wtime, self.adate = date, tm, date


def unpack_short(slot: bytes, index: int, name: str | None = None, first_slot: int | None = None,
                 fat32: bool = True) -> Entry:
    (raw11, attr, nt, tenth, ctime, cdate, adate, hi, wtime, wdate, lo, size) = SHORT_ENTRY.unpack(slot)
    cluster = (hi << 16 | lo) if fat32 else lo
    return Entry(name or names.decode_short(raw11, nt), raw11, attr, nt, cluster, size, cdate, ctime,
                 tenth, adate, wdate, wtime, index, index if first_slot is None else first_slot,
                 name is not None)


@dataclass
class Listing:
    """A parsed directory: its entries, its volume label, and anything odd found on the way."""

    entries: list[Entry] = field(default_factory=list)
    label: Entry | None = None
    problems: list[str] = field(default_factory=list)
    orphans: list[int] = field(default_factory=list)  # LFN slots that belong to no entry
    end: int = 0  # index of the first never-used (0x00) slot, or the slot count
    deleted: int = 0  # deleted slots before ``end``


def parse_directory(data: bytes | bytearray, fat32: bool = True) -> Listing:
    """Decode every live entry of a directory's bytes, joining LFN slots to their short entry."""
    out = Listing()
    count = len(data) // SLOT
    pending: list[bytes] = []  # LFN pieces in slot order (sequence N first)
    expect = checksum = lfn_start = 0
    view = memoryview(data)

    def orphan(first: int, n: int, why: str) -> None:
        out.problems.append(f"slot {first}: {why}")
        out.orphans.extend(range(first, first + n))

    for i in range(count):
        first = data[i * SLOT]
        if first == 0 or first == DELETED:
            if pending:
                orphan(lfn_start, len(pending), "long name without its short entry")
                pending = []
            if first == 0:
                out.end = i
                return out
            out.deleted += 1
            continue
        slot = bytes(view[i * SLOT:(i + 1) * SLOT])
        attr = slot[11]
        if attr & 0x3F == names.ATTR_LFN:
            order, csum, piece = names.lfn_piece(slot)
            seq = order & 0x1F
            if order & names.LFN_LAST and 1 <= seq <= 20:
                if pending:
                    orphan(lfn_start, len(pending), "long name without its short entry")
                pending, expect, checksum, lfn_start = [piece], seq - 1, csum, i
            elif pending and order == expect and csum == checksum:
                pending.append(piece)
                expect -= 1
            else:
                if pending:
                    orphan(lfn_start, len(pending), "long name with missing pieces")
                    pending = []
                orphan(i, 1, "orphaned long-name entry")
            continue
        long_name = None
        first_slot = i
        if pending:
            if expect == 0 and names.lfn_checksum(slot[:11]) == checksum:
                long_name = names.join_lfn(pending[::-1])
                first_slot = lfn_start
            else:
                why = "bad checksum" if expect == 0 else "missing pieces"
                orphan(lfn_start, len(pending), f"long name with {why} before "
                       f"{names.short_display(slot[:11])!r}")
            pending = []
        entry = unpack_short(slot, i, long_name, first_slot, fat32)
        if attr & ATTR_VOLUME_ID and not attr & ATTR_DIRECTORY:
            out.label = entry
            continue
        out.entries.append(entry)
    out.end = count
    if pending:
        orphan(lfn_start, len(pending), "long name without its short entry")
    return out


def dot_entries(own: int, parent: int, ts: float) -> bytes:
    """The ``.`` and ``..`` entries that open every subdirectory (parent 0 means the root)."""
    dot = Entry("", b".          ", ATTR_DIRECTORY, 0, own, 0)
    dotdot = Entry("", b"..         ", ATTR_DIRECTORY, 0, parent, 0)
    dot.stamp(ts)
    dotdot.stamp(ts)
    return dot.pack() + dotdot.pack()
