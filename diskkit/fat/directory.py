"""Directory entries: the 32-byte short entry, FAT timestamps, and parsing a directory's bytes.

The short entry is a ctypes structure rather than a construct one: a put of thousands of files
parses and builds tens of thousands of entries, and construct is slow per item. ``Directory``
is the editor of one directory: its bytes cached, its names indexed, its slots reused.
"""

from __future__ import annotations

import ctypes
import functools
import time

from ..errors import AlreadyExists, CorruptImage, NoSpace, UsageError
from ..reproducible import source_date_epoch
from . import names
from .table import cluster_runs

ATTR_READ_ONLY, ATTR_HIDDEN, ATTR_SYSTEM = 0x01, 0x02, 0x04
ATTR_VOLUME_ID, ATTR_DIRECTORY, ATTR_ARCHIVE = 0x08, 0x10, 0x20
SLOT = 32
MAX_DIR_SLOTS = 65536  # fatgen103: a directory holds at most 65,536 entries (2 MiB)
DELETED = 0xE5
DOT, DOTDOT = b".          ", b"..         "
# first byte of a slot -> 0 if the slot is free (never used or deleted), else 1
_FREE_SLOT = bytes(0 if b in (0, DELETED) else 1 for b in range(256))

def fat_datetime(ts: float) -> tuple[int, int, int]:
    """``(date, time, tenths)`` of a POSIX time, in UTC, clamped to FAT's 1980..2107 range."""
    return _fat_datetime(max(315532800, min(int(ts), 4354819198)))


@functools.lru_cache(maxsize=256)  # a copy of many files stamps most with a few seconds
def _fat_datetime(seconds: int) -> tuple[int, int, int]:
    t = time.gmtime(seconds)
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


FROM_ENVIRONMENT = object()  # ``timestamp``'s default: read SOURCE_DATE_EPOCH now


def timestamp(host_mtime: float | None = None, epoch=FROM_ENVIRONMENT) -> float:
    """The time to record: SOURCE_DATE_EPOCH, else the host file's, else now. ``epoch`` is
    SOURCE_DATE_EPOCH as the caller read it already (None: unset), for a copy of thousands of
    files that asks for each."""
    if epoch is FROM_ENVIRONMENT:
        epoch = source_date_epoch()
    if epoch is not None:
        return float(epoch)
    return time.time() if host_mtime is None else host_mtime


MAX_FILE_SIZE = 0xFFFFFFFF  # the short entry's 32-bit size field: 4 GiB - 1 byte


def check_file_size(size: int, what: str = "file") -> None:
    """UsageError, naming the limit and the ways out, when a file of ``size`` bytes cannot be
    stored on FAT. Callers check before they write anything."""
    if size > MAX_FILE_SIZE:
        from ..units import format_size

        raise UsageError(f"{what}: {format_size(size)} ({size:,} bytes) is larger than the "
                         f"largest file FAT can hold (4 GiB - 1 byte, {MAX_FILE_SIZE:,} bytes): "
                         "put it on an NTFS or exFAT partition instead, or split it into "
                         "smaller files (e.g. split -b 4000M)")


class ShortEntry(ctypes.LittleEndianStructure):
    """The 32-byte short directory entry (fatgen103 section 6); ``bytes(entry)`` is its disk form."""

    _pack_ = 1
    _fields_ = [
        ("raw_name", ctypes.c_ubyte * 11),  # 8.3, space padded; a leading 0x05 stands for 0xE5
        ("attr", ctypes.c_uint8),
        ("nt_flags", ctypes.c_uint8),  # Windows NT: lowercase base (0x08) / extension (0x10)
        ("ctime_tenth", ctypes.c_uint8),
        ("ctime", ctypes.c_uint16),
        ("cdate", ctypes.c_uint16),
        ("adate", ctypes.c_uint16),
        ("cluster_hi", ctypes.c_uint16),  # FAT32 only
        ("wtime", ctypes.c_uint16),
        ("wdate", ctypes.c_uint16),
        ("cluster_lo", ctypes.c_uint16),
        ("size", ctypes.c_uint32),
    ]


class Entry(ShortEntry):
    """One file or directory as a directory lists it: its short entry, name and position."""

    name = ""  # long name, or the short name with lowercase flags applied
    short_name = ""  # the 8.3 name as stored, decoded in the volume's code page
    slot = 0  # index of the short entry in its directory
    first_slot = 0  # index of the first LFN slot (== slot without LFN)
    has_lfn = False

    def __init__(self, name: str = "", raw11: bytes = b" " * 11, attr: int = 0, cluster: int = 0,
                 size: int = 0, nt_flags: int = 0):
        super().__init__(attr=attr, nt_flags=nt_flags, size=size)
        self.name, self.raw11, self.cluster = name, raw11, cluster

    @property
    def raw11(self) -> bytes:
        return bytes(self.raw_name)

    @raw11.setter
    def raw11(self, value: bytes) -> None:
        self.raw_name[:] = value

    @property
    def cluster(self) -> int:
        return self.cluster_hi << 16 | self.cluster_lo

    @cluster.setter
    def cluster(self, value: int) -> None:
        self.cluster_hi, self.cluster_lo = value >> 16, value & 0xFFFF

    @property
    def is_dir(self) -> bool:
        return bool(self.attr & ATTR_DIRECTORY)

    @property
    def mtime(self) -> float | None:
        return from_fat_datetime(self.wdate, self.wtime)

    @property
    def created(self) -> float | None:
        return from_fat_datetime(self.cdate, self.ctime, self.ctime_tenth)

    def copy(self) -> "Entry":
        """A new entry with the same fields (name and position not included)."""
        return Entry.from_buffer_copy(self)

    def pack(self) -> bytes:
        return bytes(self)

    def stamp(self, ts: float) -> None:
        date, tm, tenth = fat_datetime(ts)
        self.cdate, self.ctime, self.ctime_tenth = date, tm, tenth
        self.wdate, self.wtime, self.adate = date, tm, date


def unpack_short(data, offset: int, index: int, name: str | None = None,
                 first_slot: int | None = None, fat32: bool = True,
                 codec: str = names.DEFAULT_CODEPAGE) -> Entry:
    """The short entry at ``offset`` of ``data``, as slot ``index`` of its directory."""
    entry = Entry.from_buffer_copy(data, offset)
    if not fat32:
        entry.cluster_hi = 0  # FAT12/16 keep other things there (OS/2 extended attributes)
    raw11 = entry.raw11
    entry.short_name = names.short_display(raw11, codec)
    entry.name = name or names.decode_short(raw11, entry.nt_flags, codec)
    entry.slot = index
    entry.first_slot = index if first_slot is None else first_slot
    entry.has_lfn = name is not None
    return entry


class Listing:
    """A parsed directory: its entries, its volume label, and anything odd found on the way.
    (A plain class: every FAT command parses directories, and importing dataclasses is a few
    milliseconds of a short command's start-up.)"""

    __slots__ = ("entries", "label", "problems", "orphans", "end", "deleted")

    def __init__(self):
        self.entries: list[Entry] = []
        self.label: Entry | None = None
        self.problems: list[str] = []
        self.orphans: list[int] = []  # LFN slots that belong to no entry
        self.end = 0  # index of the first never-used (0x00) slot, or the slot count
        self.deleted = 0  # deleted slots before ``end``


def parse_directory(data: bytes | bytearray, fat32: bool = True,
                    codec: str = names.DEFAULT_CODEPAGE) -> Listing:
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
                why = "orphaned long-name entry"
                if pending:
                    if order == expect:  # in sequence, but its checksum differs
                        why = "long name whose pieces carry different checksums"
                        orphan(lfn_start, len(pending) + 1, why)
                        pending = []
                        continue
                    orphan(lfn_start, len(pending), "long name with missing pieces")
                    pending = []
                orphan(i, 1, why)
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
                       f"{names.short_display(slot[:11], codec)!r}")
            pending = []
        entry = unpack_short(data, i * SLOT, i, long_name, first_slot, fat32, codec)
        if attr & ATTR_VOLUME_ID and not attr & ATTR_DIRECTORY:
            if out.label is None:  # the first one counts, as for blkid and Windows
                out.label = entry
            continue
        out.entries.append(entry)
    out.end = count
    if pending:
        orphan(lfn_start, len(pending), "long name without its short entry")
    return out


def dot_entries(own: int, parent: int, ts: float) -> bytes:
    """The ``.`` and ``..`` entries that open every subdirectory (parent 0 means the root)."""
    dot = Entry("", DOT, ATTR_DIRECTORY, own)
    dotdot = Entry("", DOTDOT, ATTR_DIRECTORY, parent)
    dot.stamp(ts)
    dotdot.stamp(ts)
    return dot.pack() + dotdot.pack()


class Directory:
    """One directory cached in memory: its bytes, where they live, and a case-folded index."""

    def __init__(self, fs, first_cluster: int, path: str, data: bytes | None = None):
        """Read from the device, or (``data``) a directory just made: its one cluster's bytes."""
        self.fs = fs
        self.first = first_cluster
        self.path = path
        layout = fs.layout
        if data is not None:
            self.clusters = [first_cluster]
            self.data = bytearray(data)
        elif first_cluster == 0 and layout.fat_type != 32:
            self.clusters = None
            self.data = bytearray(fs.dev.read_at(layout.root_dir_offset, layout.root_entries * SLOT))
        else:
            self.clusters = []
            max_clusters = -(-MAX_DIR_SLOTS * SLOT // layout.cluster_size)
            for cluster in fs.fat.chain_lazy(first_cluster, f"directory {path}"):
                self.clusters.append(cluster)
                if len(self.clusters) > max_clusters:
                    raise CorruptImage(f"directory {path}: longer than the 65,536 entries FAT allows")
            if not self.clusters:
                raise CorruptImage(f"directory {path}: has no clusters")
            self.data = bytearray()
            for first, count in cluster_runs(self.clusters):
                self.data += fs.dev.read_at(layout.cluster_offset(first), count * layout.cluster_size)
        listing = parse_directory(self.data, layout.fat32, fs.codepage)
        self.problems = listing.problems
        self.orphans = listing.orphans
        self.label = listing.label
        self.end = listing.end
        self.deleted = listing.deleted
        self.by_slot: dict[int, Entry] = {}
        self.index: dict[str, Entry] = {}
        self.shorts: set[bytes] = set()
        self.dots: list[Entry] = []
        for entry in listing.entries:
            if entry.raw11 in (DOT, DOTDOT):
                self.dots.append(entry)
                continue
            self._register(entry)
        if self.label is not None:
            self.shorts.add(self.label.raw11)
        self.dirty: set[int] = set()  # sectors of ``data`` edited but not yet written

    # -- index --------------------------------------------------------------------------
    def _register(self, entry: Entry, raw11: bytes | None = None) -> None:
        self.by_slot[entry.slot] = entry
        self.shorts.add(raw11 or entry.raw11)
        key, short_key = names.fold(entry.name), names.fold(entry.short_name)
        self.index.setdefault(key, entry)
        if short_key != key:
            self.index.setdefault(short_key, entry)

    def _unregister(self, entry: Entry) -> None:
        del self.by_slot[entry.slot]
        self.shorts.discard(entry.raw11)
        for key in {names.fold(entry.name), names.fold(entry.short_name)}:
            if self.index.get(key) is entry:
                del self.index[key]

    def lookup(self, name: str) -> Entry | None:
        return self.index.get(names.fold(name))

    def entries(self) -> list[Entry]:
        """Live entries in directory order (without ``.``, ``..`` and the volume label)."""
        return [self.by_slot[k] for k in sorted(self.by_slot)]

    # -- slots --------------------------------------------------------------------------
    def _slot_count(self) -> int:
        return len(self.data) // SLOT

    def _write_slots(self, index: int, blob: bytes) -> None:
        """Store ``blob`` at slot ``index`` in the cache; ``flush`` puts it on the device."""
        start = index * SLOT
        self.data[start:start + len(blob)] = blob
        ss = self.fs.layout.sector_size
        self.dirty.update(range(start // ss, (start + len(blob) - 1) // ss + 1))
        self.fs.directory_changed(self)

    def flush(self) -> None:
        """Write the changed sectors, in ascending order, one write per contiguous stretch."""
        if not self.dirty:
            return
        ss = self.fs.layout.sector_size
        pieces = []  # (device offset, start in data, end in data)
        for sector in sorted(self.dirty):
            lo = sector * ss
            at = self._device_offset(lo)
            if pieces and pieces[-1][0] + pieces[-1][2] - pieces[-1][1] == at and pieces[-1][2] == lo:
                pieces[-1] = (pieces[-1][0], pieces[-1][1], lo + ss)
            else:
                pieces.append((at, lo, lo + ss))
        for at, lo, hi in pieces:
            self.fs.dev.write_at(at, self.data[lo:hi])
        self.dirty.clear()

    def _device_offset(self, pos: int) -> int:
        """Where byte ``pos`` of the directory lives on the device."""
        layout = self.fs.layout
        if self.clusters is None:
            return layout.root_dir_offset + pos
        cs = layout.cluster_size
        return layout.cluster_offset(self.clusters[pos // cs]) + pos % cs

    def _find_free(self, count: int) -> int:
        """Index of ``count`` consecutive free slots, growing the directory if needed."""
        while True:
            total = self._slot_count()
            if self.deleted == 0:
                pos = self.end
            else:
                firsts = bytes(self.data[0:self.end * SLOT:SLOT]).translate(_FREE_SLOT)
                pos = (firsts + bytes(total - self.end)).find(bytes(count))
            if 0 <= pos and pos + count <= total:
                return pos
            self._grow()

    def _grow(self) -> None:
        layout = self.fs.layout
        if self.clusters is None:
            raise NoSpace(f"root directory is full ({layout.root_entries} entries)")
        if len(self.data) + layout.cluster_size > MAX_DIR_SLOTS * SLOT:
            raise NoSpace(f"directory {self.path} is full (65,536 entries)")
        ((cluster, _),) = self.fs.allocate(1, after=self.clusters[-1])
        # zeros on the device before the FAT links the cluster into the directory (written,
        # not punched: a hole punch costs a filesystem a journal commit, 10-20 ms on ext4)
        self.fs.stage(cluster, bytes(layout.cluster_size))
        self.clusters.append(cluster)
        self.data += bytes(layout.cluster_size)

    def add(self, name: str, template: Entry) -> Entry:
        """Create an entry called ``name`` with ``template``'s attributes, cluster, size, times."""
        names.check_long_name(name)
        if self.lookup(name) is not None:
            raise AlreadyExists(f"{self.fs.join(self.path, name)}: already exists")
        raw11, nt_flags, need_lfn = names.short_name_for(name, self.shorts, self.fs.codepage)
        entry = template.copy()
        entry.name, entry.raw11, entry.nt_flags = name, raw11, nt_flags
        entry.short_name = names.short_display(raw11, self.fs.codepage)
        blob = (names.lfn_entries(name, raw11) if need_lfn else b"") + entry.pack()
        count = len(blob) // SLOT
        pos = self._find_free(count)
        reused = max(0, min(pos + count, self.end) - pos)
        self._write_slots(pos, blob)
        self.deleted -= reused
        self.end = max(self.end, pos + count)
        entry.first_slot, entry.slot, entry.has_lfn = pos, pos + count - 1, need_lfn
        self._register(entry, raw11)
        return entry

    def rename_in_place(self, entry: Entry, name: str) -> bool:
        """Give ``entry`` a new name in the slots it already has (one write); False if it
        needs more slots than it has."""
        names.check_long_name(name)
        taken = self.shorts - {entry.raw11}
        raw11, nt_flags, need_lfn = names.short_name_for(name, taken, self.fs.codepage)
        blob = (names.lfn_entries(name, raw11) if need_lfn else b"")
        old_count = entry.slot + 1 - entry.first_slot
        new_count = len(blob) // SLOT + 1
        if new_count > old_count:
            return False
        self._unregister(entry)
        entry.name, entry.raw11, entry.nt_flags, entry.has_lfn = name, raw11, nt_flags, need_lfn
        entry.short_name = names.short_display(raw11, self.fs.codepage)
        entry.slot = entry.first_slot + new_count - 1
        self._write_slots(entry.first_slot, blob + entry.pack()
                          + bytes([DELETED] + [0] * (SLOT - 1)) * (old_count - new_count))
        self.deleted += old_count - new_count
        self._register(entry)
        return True

    def update(self, entry: Entry) -> None:
        """Rewrite ``entry``'s short slot (cluster, size, times changed)."""
        self._write_slots(entry.slot, entry.pack())

    def delete(self, entry: Entry) -> bytes:
        """Mark the entry's LFN and short slots deleted; returns their old bytes."""
        saved = bytes(self.data[entry.first_slot * SLOT:(entry.slot + 1) * SLOT])
        for i in range(entry.first_slot, entry.slot + 1):
            self._write_slots(i, bytes([DELETED]))
        self.deleted += entry.slot + 1 - entry.first_slot
        self._unregister(entry)
        return saved

    def restore(self, entry: Entry, saved: bytes) -> None:
        """Undo ``delete`` (when the operation that needed it failed)."""
        self._write_slots(entry.first_slot, saved)
        self.deleted -= entry.slot + 1 - entry.first_slot
        self._register(entry)

    def drop_orphans(self) -> int:
        """Mark long-name slots that belong to no entry deleted; how many there were."""
        for slot in self.orphans:
            self._write_slots(slot, bytes([DELETED]))
        self.deleted += len(self.orphans)
        count, self.orphans = len(self.orphans), []
        return count

    def slot_offset(self, index: int) -> int:
        """Device byte offset of slot ``index``."""
        return self._device_offset(index * SLOT)

    def set_parent(self, parent_cluster: int) -> None:
        """Point ``..`` at a new parent (after a directory moved)."""
        for entry in self.dots:
            if entry.raw11 == DOTDOT:
                entry.cluster = parent_cluster
                self.update(entry)
