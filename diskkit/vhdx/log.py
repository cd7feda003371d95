"""The VHDX log (MS-VHDX 2.3): entries, the search for the active sequence, replay, building.

The log is a ring buffer of 4 KiB sectors. An entry is one or more descriptor sectors (a
64-byte header, then 32-byte descriptors) followed by one data sector per data descriptor;
a data sector keeps bytes 8..4092 of its update and the descriptor keeps the first 8 and the
last 4. Everything here is pure: the log is read through a ``read(offset, length)`` callable.

Replay follows the spec's procedure (2.3.3): scan from every candidate tail for runs of
valid entries with consecutive sequence numbers, keep the newest run whose head entry's
tail lies inside it, and apply its descriptors in order from that tail entry to the head.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from construct import Bytes, Const, Int32ul, Int64ul, Struct
from google_crc32c import extend as _crc_extend

from .structures import ALIGN, checksum

SECTOR = 4096
DESCRIPTORS_FIRST, DESCRIPTORS_NEXT = 126, 128  # per descriptor sector

ENTRY_HEADER = Struct(
    "signature" / Const(b"loge"),
    "checksum" / Int32ul,
    "entry_length" / Int32ul,
    "tail" / Int32ul,
    "sequence_number" / Int64ul,
    "descriptor_count" / Int32ul,
    "reserved" / Int32ul,
    "log_guid" / Bytes(16),
    "flushed_file_offset" / Int64ul,
    "last_file_offset" / Int64ul,
)
ZERO_DESCRIPTOR = Struct(
    "signature" / Const(b"zero"),
    "reserved" / Int32ul,
    "zero_length" / Int64ul,
    "file_offset" / Int64ul,
    "sequence_number" / Int64ul,
)
DATA_DESCRIPTOR = Struct(
    "signature" / Const(b"desc"),
    "trailing_bytes" / Bytes(4),
    "leading_bytes" / Bytes(8),
    "file_offset" / Int64ul,
    "sequence_number" / Int64ul,
)
DATA_SECTOR = Struct(
    "signature" / Const(b"data"),
    "sequence_high" / Int32ul,
    "data" / Bytes(4084),
    "sequence_low" / Int32ul,
)


def descriptor_sectors(count: int) -> int:
    """Sectors holding the header and ``count`` descriptors (never zero)."""
    return -(-(count + 2) // DESCRIPTORS_NEXT)


@dataclass(frozen=True)
class Write:
    """One replayed update: ``length`` bytes at ``file_offset``; ``data`` None means zeros."""

    file_offset: int
    length: int
    data: bytes | None = None


@dataclass
class Entry:
    position: int  # byte offset within the log
    length: int
    sequence_number: int
    tail: int
    flushed_file_offset: int
    last_file_offset: int
    writes: list


class LogView:
    """Sectors of a log region of ``length`` bytes at ``offset``, wrapping at its end.

    Single sectors come from a cached 1 MiB window, so scanning a log costs one read per
    megabyte rather than one per sector.
    """

    WINDOW = 256 * SECTOR

    def __init__(self, read, offset: int, length: int):
        self.read, self.offset, self.length = read, offset, length
        self._window_at, self._window = -1, b""

    def sector(self, position: int) -> bytes:
        position %= self.length
        start = position - position % self.WINDOW
        if start != self._window_at:
            self._window = self.read(self.offset + start, min(self.WINDOW, self.length - start))
            self._window_at = start
        return self._window[position - start:position - start + SECTOR]


def parse_entry(view: LogView, position: int, log_guid: bytes) -> Entry | None:
    """The valid entry starting at ``position``, or None (every field and the CRC checked).

    Sectors are read and judged one at a time, so a damaged entry claiming a huge length
    costs no more than the sectors up to its first bad one.
    """
    first = view.sector(position)
    if first[:4] != b"loge":
        return None
    head = ENTRY_HEADER.parse(first)
    seq, length, count = head.sequence_number, head.entry_length, head.descriptor_count
    if (not length or length % SECTOR or length > view.length or head.tail % SECTOR
            or head.tail >= view.length or not seq or head.log_guid != log_guid):
        return None
    desc_sectors = descriptor_sectors(count)
    if desc_sectors * SECTOR > length:
        return None
    pieces, descriptors = [first], []
    for k in range(desc_sectors):
        sector = first if k == 0 else view.sector(position + k * SECTOR)
        if k:
            pieces.append(sector)
        skip = 64 if k == 0 else 0
        for i in range(min(count - len(descriptors), (SECTOR - skip) // 32)):
            desc = _descriptor(sector[skip + 32 * i:skip + 32 * i + 32], seq)
            if desc is None:
                return None
            descriptors.append(desc)
    data_count = sum(1 for d in descriptors if d[0] == b"desc")
    if (desc_sectors + data_count) * SECTOR != length:
        return None
    writes, at = [], position + desc_sectors * SECTOR
    for kind, file_offset, size, leading, trailing in descriptors:
        if kind == b"zero":
            writes.append(Write(file_offset, size))
            continue
        sector = view.sector(at)
        if sector[:4] != b"data":
            return None
        data = DATA_SECTOR.parse(sector)
        if (data.sequence_high << 32 | data.sequence_low) != seq:
            return None
        pieces.append(sector)
        writes.append(Write(file_offset, SECTOR, leading + data.data + trailing))
        at += SECTOR
    if _entry_checksum(pieces) != head.checksum:
        return None
    return Entry(position, length, seq, head.tail, head.flushed_file_offset,
                 head.last_file_offset, writes)


def _descriptor(raw: bytes, seq: int):
    """``(kind, file_offset, length, leading, trailing)`` of a valid descriptor, else None."""
    kind = raw[:4]
    if kind == b"zero":
        d = ZERO_DESCRIPTOR.parse(raw)
        if d.zero_length % SECTOR:
            return None
        out = (kind, d.file_offset, d.zero_length, b"", b"")
    elif kind == b"desc":
        d = DATA_DESCRIPTOR.parse(raw)
        out = (kind, d.file_offset, SECTOR, d.leading_bytes, d.trailing_bytes)
    else:
        return None
    if d.sequence_number != seq or d.file_offset % SECTOR:
        return None
    return out


def _entry_checksum(pieces: list[bytes]) -> int:
    first = pieces[0]
    crc = _crc_extend(0, first[:4] + bytes(4) + first[8:])
    for piece in pieces[1:]:
        crc = _crc_extend(crc, piece)
    return crc


def active_sequence(view: LogView, log_guid: bytes) -> list[Entry]:
    """The newest valid, complete sequence, from its tail entry to its head; [] if none."""
    entries: dict[int, Entry | None] = {}

    def entry_at(pos: int) -> Entry | None:
        if pos not in entries:
            entries[pos] = parse_entry(view, pos, log_guid)
        return entries[pos]

    best: list[Entry] = []
    tail = old_tail = 0
    while True:
        run: list[Entry] = []
        head = tail
        while len(run) * SECTOR < view.length:  # a run can hold at most every sector once
            entry = entry_at(head)
            if entry is None or (run and entry.sequence_number != run[-1].sequence_number + 1):
                break
            run.append(entry)
            head = (head + entry.length) % view.length
        starts = [e.position for e in run]
        valid = bool(run) and run[-1].tail in starts
        if valid and (not best or run[-1].sequence_number > best[-1].sequence_number):
            best = run[starts.index(run[-1].tail):]
        tail = head if valid else (tail + SECTOR) % view.length
        if tail <= old_tail:
            return best
        old_tail = tail


def plan_writes(sequence: list[Entry]) -> list[Write]:
    return [w for entry in sequence for w in entry.writes]


def entry_size(updates: list[tuple[int, bytes]]) -> int:
    """Bytes ``build_entry`` makes of ``updates``."""
    data = sum(1 for _, sector in updates if bytes(sector).strip(b"\0"))
    return (descriptor_sectors(len(updates)) + data) * SECTOR


def build_entry(sequence_number: int, position: int, log_guid: bytes, flushed_file_offset: int,
                last_file_offset: int, updates: list[tuple[int, bytes]]) -> bytes:
    """An entry (tail = itself) writing each ``(file_offset, 4 KiB)`` update; all-zero
    sectors become zero descriptors, which need no data sector."""
    descriptors, data = [], []
    high, low = sequence_number >> 32, sequence_number & 0xFFFFFFFF
    for file_offset, sector in updates:
        sector = bytes(sector)
        if not sector.strip(b"\0"):
            descriptors.append(ZERO_DESCRIPTOR.build({
                "reserved": 0, "zero_length": SECTOR, "file_offset": file_offset,
                "sequence_number": sequence_number}))
            continue
        descriptors.append(DATA_DESCRIPTOR.build({
            "trailing_bytes": sector[-4:], "leading_bytes": sector[:8],
            "file_offset": file_offset, "sequence_number": sequence_number}))
        data.append(DATA_SECTOR.build({"sequence_high": high, "data": sector[8:-4],
                                       "sequence_low": low}))
    desc_bytes = descriptor_sectors(len(descriptors)) * SECTOR
    length = desc_bytes + SECTOR * len(data)
    header = ENTRY_HEADER.build({
        "checksum": 0, "entry_length": length, "tail": position,
        "sequence_number": sequence_number, "descriptor_count": len(descriptors),
        "reserved": 0, "log_guid": log_guid,
        "flushed_file_offset": flushed_file_offset // ALIGN * ALIGN,
        "last_file_offset": -(-last_file_offset // ALIGN) * ALIGN})
    raw = (header + b"".join(descriptors)).ljust(desc_bytes, b"\0") + b"".join(data)
    return raw[:4] + checksum(raw).to_bytes(4, "little") + raw[8:]


class Overlay:
    """What the file reads like once ``writes`` are applied, kept in memory (a read-only
    open must not write, and must not read stale metadata either). Disjoint intervals."""

    def __init__(self, writes: list[Write]):
        self.starts: list[int] = []
        self.spans: list[tuple[int, int, bytes | None]] = []  # (start, end, data or zeros)
        for w in writes:
            self._put(w.file_offset, w.file_offset + w.length, w.data)

    def _put(self, start: int, end: int, data: bytes | None) -> None:
        i = bisect.bisect_right(self.starts, start)
        if i and self.spans[i - 1][1] > start:
            i -= 1
        kept = []
        j = i
        while j < len(self.spans) and self.spans[j][0] < end:
            lo, hi, old = self.spans[j]
            if lo < start:
                kept.append((lo, start, old and old[:start - lo]))
            if hi > end:
                kept.append((end, hi, old and old[end - lo:]))
            j += 1
        new = sorted(kept + [(start, end, data)])
        self.spans[i:j] = new
        self.starts[i:j] = [s[0] for s in new]

    @property
    def end(self) -> int:
        return self.spans[-1][1] if self.spans else 0

    def apply(self, offset: int, buf: bytearray) -> None:
        """Lay the replayed writes over ``buf``, which holds the file's bytes at ``offset``."""
        end = offset + len(buf)
        i = max(bisect.bisect_right(self.starts, offset) - 1, 0)
        while i < len(self.spans) and self.spans[i][0] < end:
            lo, hi, data = self.spans[i]
            a, b = max(lo, offset), min(hi, end)
            if a < b:
                buf[a - offset:b - offset] = data[a - lo:b - lo] if data else bytes(b - a)
            i += 1
